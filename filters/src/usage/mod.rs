//! Token usage. Argo returns none, so the gateway counts it.
//!
//! OpenAI models are counted with OpenAI's own tokenizer (tiktoken's BPE tables, embedded in the
//! binary and counted by the `bpe-openai` crate, whose counts a test checks against tiktoken's): `o200k_base` for gpt-4o, gpt-4.1, the o-series and gpt-5, `cl100k_base` for the
//! embedding models, as argo-proxy maps them (`TIKTOKEN_ENCODING_PREFIX_MAPPING` in its
//! `models.py`). Claude and Gemini use tokenizers that are not public, so their usage is an
//! estimate: about four ASCII bytes per token, one token per non-ASCII character. (argo-proxy
//! counts those with `cl100k_base`, which is no closer to their real tokenizers.)
//!
//! Exact BPE still costs tens of µs per KB of text on one core, so a text longer than
//! [`EXACT_COUNT_BYTES`] is counted exactly over its first and last halves of that and scaled
//! by its length: a 4 MiB prompt then costs about 2 ms instead of 200 ms of a worker thread.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex, OnceLock};

use bpe_openai::Tokenizer as Bpe;
use serde::{Deserialize, Serialize};

use ascii_pieces::Pattern;

mod ascii_pieces;

/// Per-message framing overhead in OpenAI's chat format.
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens that prime the assistant's reply.
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// How a model's text is counted (the model table's `tokenizer` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// gpt-4o, gpt-4.1, o-series, gpt-5.
    O200kBase,
    /// The embedding models (and older GPT-4 / 3.5).
    Cl100kBase,
    /// The byte estimate, for models whose tokenizer is not public (Claude, Gemini).
    Estimate,
}

/// OpenAI's BPE tables counted by the `bpe-openai` crate, which gives tiktoken's counts (a unit
/// test compares them) without its backtracking pre-tokenizer, the larger part of tiktoken's
/// cost on short texts. Each is built on its first use, once, by the first thread that needs
/// it (others wait for it), then shared; a process that never counts with a table never
/// builds it (see [`Tokenizer::load`] for what one costs).
static O200K_BASE: Table = Table::new(bpe_openai::o200k_base);
static CL100K_BASE: Table = Table::new(bpe_openai::cl100k_base);

/// A BPE table and how to build it.
struct Table {
    built: OnceLock<&'static Bpe>,
    build: fn() -> &'static Bpe,
}

impl Table {
    const fn new(build: fn() -> &'static Bpe) -> Self {
        Table {
            built: OnceLock::new(),
            build,
        }
    }

    fn get(&self) -> &'static Bpe {
        self.built.get_or_init(self.build)
    }

    fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

impl Tokenizer {
    fn table(self) -> Option<&'static Table> {
        match self {
            Tokenizer::O200kBase => Some(&O200K_BASE),
            Tokenizer::Cl100kBase => Some(&CL100K_BASE),
            Tokenizer::Estimate => None,
        }
    }

    fn bpe(self) -> Option<&'static Bpe> {
        self.table().map(Table::get)
    }

    /// Whether counting needs no table built first: the table is there, or the tokenizer
    /// needs none ([`Tokenizer::Estimate`]). A caller that must not hold a thread other
    /// requests share for the build (see [`Tokenizer::load`]) calls `load` elsewhere first
    /// when this is `false`.
    pub fn is_ready(self) -> bool {
        self.table().is_none_or(Table::is_built)
    }

    /// Tokens in `text`. Special-token text (`<|endoftext|>`) counts as ordinary text.
    pub fn count(self, text: &str) -> u64 {
        match self.bpe() {
            Some(bpe) if text.len() <= EXACT_COUNT_BYTES => self.count_exactly(bpe, text),
            Some(bpe) => self.sampled_count(bpe, text),
            None => estimate_tokens(text),
        }
    }

    /// `bpe.count(text)`, piece by piece as its pre-tokenizer splits the text (ASCII text by
    /// our own, [`ascii_pieces`]), with the counts of short pieces remembered ([`PieceCounts`]). Both tables' tokenizers skip Unicode
    /// normalization, so splitting here is what `bpe.count` does (the tiktoken tests below
    /// would fail otherwise).
    fn count_exactly(self, bpe: &Bpe, text: &str) -> u64 {
        let pattern = match self {
            Tokenizer::Cl100kBase => Pattern::Cl100k,
            _ => Pattern::O200k,
        };
        PIECE_COUNTS.with_borrow_mut(|tables| {
            let counts = &mut tables[usize::from(pattern == Pattern::Cl100k)];
            if text.is_ascii() {
                ascii_pieces::pieces(pattern, text)
                    .map(|piece| counts.count(bpe, piece))
                    .sum()
            } else {
                bpe.split(text).map(|piece| counts.count(bpe, piece)).sum()
            }
        })
    }

    /// The tokens of the text's first and last `EXACT_COUNT_BYTES / 2`, scaled by its length.
    fn sampled_count(self, bpe: &Bpe, text: &str) -> u64 {
        let half = EXACT_COUNT_BYTES / 2;
        let mut head_end = half;
        while !text.is_char_boundary(head_end) {
            head_end -= 1;
        }
        let mut tail_start = text.len() - half;
        while !text.is_char_boundary(tail_start) {
            tail_start += 1;
        }
        let (head, tail) = (&text[..head_end], &text[tail_start..]);
        let tokens = u128::from(self.count_exactly(bpe, head) + self.count_exactly(bpe, tail));
        let sampled = (head.len() + tail.len()).max(1) as u128;
        u64::try_from(tokens * text.len() as u128 / sampled).unwrap_or(u64::MAX)
    }

    /// [`Tokenizer::count`] for text that recurs: prompts. Clients send the whole conversation
    /// (and their tool definitions) with every turn, so most of a prompt was counted on the
    /// turn before; counts of texts of [`RECURRING_MIN_BYTES`] or more are remembered, by a
    /// hash of the text, in a small table that newer texts overwrite.
    pub fn count_recurring(self, text: &str) -> u64 {
        if self.bpe().is_none() || text.len() < RECURRING_MIN_BYTES {
            return self.count(text);
        }
        let key = RECENT_COUNTS.key(self, text);
        let slot = RECENT_COUNTS.slot(key);
        if let Some(tokens) = slot.lock().ok().and_then(|seen| seen.tokens_for(key)) {
            return tokens;
        }
        let tokens = self.count(text);
        if let Ok(mut seen) = slot.lock() {
            *seen = Seen { key, tokens };
        }
        tokens
    }

    /// Builds the table now, if it is not built yet, and waits for it: once per process, about
    /// 50-90 ms of one core and 65 MiB for `o200k_base`, 20 ms and 32 MiB for `cl100k_base`
    /// (`tests/tokenizer_tables.rs` prints them). Counting builds a table it needs by itself;
    /// this is for a caller that would rather not do that on a thread other requests share.
    pub fn load(self) {
        self.bpe();
    }
}

/// Shorter texts are counted again each time: a lookup would save little.
pub const RECURRING_MIN_BYTES: usize = 64;

/// Remembered counts: one slot per hash value modulo the table size, the latest text wins.
struct RecentCounts {
    /// Keys per process, so that no client can aim texts at another's slot.
    hasher: RandomState,
    slots: Box<[Mutex<Seen>]>,
}

#[derive(Default, Clone, Copy)]
struct Seen {
    /// The text's hash with its low bit set, so that an empty slot (key 0) never matches.
    key: u64,
    tokens: u64,
}

impl Seen {
    fn tokens_for(&self, key: u64) -> Option<u64> {
        (self.key == key).then_some(self.tokens)
    }
}

const RECENT_COUNT_SLOTS: usize = 4096;

static RECENT_COUNTS: LazyLock<RecentCounts> = LazyLock::new(|| RecentCounts {
    hasher: RandomState::new(),
    slots: (0..RECENT_COUNT_SLOTS)
        .map(|_| Mutex::new(Seen::default()))
        .collect(),
});

impl RecentCounts {
    fn key(&self, tokenizer: Tokenizer, text: &str) -> u64 {
        self.hasher.hash_one((tokenizer as u8, text)) | 1
    }

    fn slot(&self, key: u64) -> &Mutex<Seen> {
        &self.slots[(key >> 1) as usize % self.slots.len()]
    }
}

/// Longest text counted token by token; longer ones are sampled
/// ([`Tokenizer::sampled_count`]).
pub const EXACT_COUNT_BYTES: usize = 32 * 1024;

/// Longest piece whose count is remembered: words, numbers, punctuation runs. Longer pieces
/// (long whitespace runs, base64) rarely recur.
const REMEMBERED_PIECE_BYTES: usize = 24;
/// Pieces remembered per table and thread (about 100 KiB).
const REMEMBERED_PIECES: usize = 4096;

thread_local! {
    /// One memory per table (`o200k_base`, `cl100k_base`) and worker thread: no lock.
    static PIECE_COUNTS: RefCell<[PieceCounts; 2]> = RefCell::default();
}

/// The token counts of pieces counted before. Text is mostly words that recur, and the BPE
/// costs two allocations and a search per piece (about 5% of the gateway's CPU in a profile
/// of short chats); a lookup costs a hash of a few bytes. One slot per hash value modulo the
/// table's size, the latest piece wins, nothing allocated after the table. The hasher is
/// seeded per process, so no client can aim pieces at one slot.
struct PieceCounts {
    hasher: foldhash::fast::RandomState,
    slots: Box<[Piece]>,
}

#[derive(Clone, Copy, Default)]
struct Piece {
    len: u8,
    tokens: u8,
    bytes: [u8; REMEMBERED_PIECE_BYTES],
}

impl Default for PieceCounts {
    fn default() -> Self {
        PieceCounts {
            hasher: foldhash::fast::RandomState::default(),
            slots: vec![Piece::default(); REMEMBERED_PIECES].into_boxed_slice(),
        }
    }
}

impl PieceCounts {
    fn count(&mut self, bpe: &Bpe, piece: &str) -> u64 {
        let bytes = piece.as_bytes();
        let len = match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= REMEMBERED_PIECE_BYTES => len,
            _ => return bpe.bpe.count(bytes) as u64,
        };
        let at = self.hasher.hash_one(bytes) as usize % self.slots.len();
        let slot = &mut self.slots[at];
        if slot.len == len && slot.bytes[..bytes.len()] == *bytes {
            return u64::from(slot.tokens);
        }
        let tokens = bpe.bpe.count(bytes);
        // A piece has at most one token per byte.
        if let Ok(tokens) = u8::try_from(tokens) {
            *slot = Piece {
                len,
                tokens,
                bytes: [0; REMEMBERED_PIECE_BYTES],
            };
            slot.bytes[..bytes.len()].copy_from_slice(bytes);
        }
        tokens as u64
    }
}

pub fn estimate_tokens(text: &str) -> u64 {
    let mut estimate = ByteEstimate::default();
    estimate.add(text);
    estimate.tokens()
}

/// Text held back by a streaming counter before it is counted whole anyway: a run this long
/// without a space (CJK text, base64) would otherwise grow without bound.
const MAX_HELD_BYTES: usize = 1024;

/// Incremental counter for streamed output, where text arrives in pieces. A BPE counter holds
/// back the text after the last space, since a word split across two fragments is fewer tokens
/// whole than its halves counted apart.
#[derive(Debug, Clone)]
pub struct TokenCounter {
    tokenizer: Tokenizer,
    counted: u64,
    held: String,
    /// How much of `held` has been searched for a word boundary: each byte is searched once,
    /// however small the fragments.
    searched: usize,
    estimate: ByteEstimate,
}

impl TokenCounter {
    pub fn new(tokenizer: Tokenizer) -> Self {
        TokenCounter {
            tokenizer,
            counted: 0,
            held: String::new(),
            searched: 0,
            estimate: ByteEstimate::default(),
        }
    }

    pub fn add(&mut self, text: &str) {
        if self.tokenizer.bpe().is_none() {
            self.estimate.add(text);
            return;
        }
        self.held.push_str(text);
        let cut = if self.held.len() > MAX_HELD_BYTES {
            self.held.len()
        } else {
            // The text searched before holds no boundary: it would have been cut there.
            word_boundary(&self.held, self.searched)
        };
        if cut > 0 {
            self.counted += self.tokenizer.count(&self.held[..cut]);
            self.held.drain(..cut);
        }
        self.searched = self.held.len();
    }

    pub fn tokens(&self) -> u64 {
        match self.tokenizer.bpe() {
            Some(_) => self.counted + self.tokenizer.count(&self.held),
            None => self.estimate.tokens(),
        }
    }
}

/// Where the last word of `text` starts, if after `from`: before its last space that follows a
/// non-space, where tiktoken's pre-tokenizer splits too (`" word"` is one piece). 0 when there
/// is none.
fn word_boundary(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    (from.max(1)..bytes.len())
        .rev()
        .find(|&at| bytes[at] == b' ' && !bytes[at - 1].is_ascii_whitespace())
        .unwrap_or(0)
}

/// The estimate: about four ASCII bytes per token, one token per non-ASCII character.
#[derive(Debug, Default, Clone, Copy)]
struct ByteEstimate {
    ascii_bytes: u64,
    other_chars: u64,
}

impl ByteEstimate {
    /// One pass over the bytes, no UTF-8 decoding: in valid UTF-8 every non-ASCII character has
    /// exactly one lead byte (`0b11xx_xxxx`), so counting bytes counts characters.
    fn add(&mut self, text: &str) {
        let (mut ascii, mut leads) = (0u64, 0u64);
        for &byte in text.as_bytes() {
            ascii += u64::from(byte < 0x80);
            leads += u64::from(byte >= 0xc0);
        }
        self.ascii_bytes += ascii;
        self.other_chars += leads;
    }

    fn tokens(&self) -> u64 {
        self.ascii_bytes.div_ceil(4) + self.other_chars
    }
}

#[cfg(test)]
mod tests {
    use super::ascii_pieces::tests::ascii_text;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn estimates_grow_with_text_and_count_non_ascii_heavier() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("日本語"), 3);
        assert_eq!(Tokenizer::Estimate.count("abcde"), 2);
    }

    #[test]
    fn byte_counting_matches_character_counting() {
        for text in [
            "",
            "plain ascii",
            "héllo wörld",
            "日本語",
            "🎉 mixed ✓ text ä",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}",
        ] {
            let ascii = text.chars().filter(char::is_ascii).count() as u64;
            let other = text.chars().filter(|c| !c.is_ascii()).count() as u64;
            assert_eq!(estimate_tokens(text), ascii.div_ceil(4) + other, "{text:?}");
        }
    }

    #[test]
    fn openai_tokenizers_count_real_tokens() {
        // The example in OpenAI's cookbook ("How to count tokens with tiktoken").
        assert_eq!(Tokenizer::Cl100kBase.count("tiktoken is great!"), 6);
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            assert_eq!(tokenizer.count(""), 0);
            assert_eq!(tokenizer.count("hello world"), 2, "{tokenizer:?}");
            assert!(
                tokenizer.count("<|endoftext|>") > 1,
                "special tokens are plain text"
            );
        }
        // o200k_base has a larger vocabulary: non-English text takes fewer tokens.
        let hindi = "नमस्ते, आप कैसे हैं? मैं ठीक हूँ, धन्यवाद।";
        assert!(Tokenizer::O200kBase.count(hindi) < Tokenizer::Cl100kBase.count(hindi));
    }

    #[test]
    fn streamed_counts_match_one_shot_counts_however_split() {
        let text = "The gateway translates requests, and answers; tokenization is exact. 日本語のテキストも。";
        for tokenizer in [
            Tokenizer::O200kBase,
            Tokenizer::Cl100kBase,
            Tokenizer::Estimate,
        ] {
            for size in [1, 3, 7, 64] {
                let mut counter = TokenCounter::new(tokenizer);
                let mut rest = text;
                while !rest.is_empty() {
                    let mut at = size.min(rest.len());
                    while !rest.is_char_boundary(at) {
                        at += 1;
                    }
                    counter.add(&rest[..at]);
                    rest = &rest[at..];
                }
                assert_eq!(
                    counter.tokens(),
                    tokenizer.count(text),
                    "{tokenizer:?} by {size}"
                );
            }
        }
    }

    static TIKTOKEN_O200K: LazyLock<tiktoken_rs::CoreBPE> =
        LazyLock::new(|| tiktoken_rs::o200k_base().unwrap());
    static TIKTOKEN_CL100K: LazyLock<tiktoken_rs::CoreBPE> =
        LazyLock::new(|| tiktoken_rs::cl100k_base().unwrap());

    /// tiktoken itself, the reference for exact counts.
    pub(super) fn tiktoken(tokenizer: Tokenizer) -> &'static tiktoken_rs::CoreBPE {
        match tokenizer {
            Tokenizer::O200kBase => &TIKTOKEN_O200K,
            _ => &TIKTOKEN_CL100K,
        }
    }

    proptest! {
        #[test]
        fn ascii_text_counts_as_tiktoken_counts_it(text in ascii_text()) {
            for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                prop_assert_eq!(
                    tokenizer.count(&text),
                    tiktoken(tokenizer).encode_ordinary(&text).len() as u64
                );
            }
        }
    }

    #[test]
    fn counts_equal_tiktokens() {
        let texts = [
            "a few words",
            "Hello, world!  Two  spaces, trailing space ",
            "numbers 1234567 and code `fn main() { println!(\"hi\"); }`\n\n\tindented",
            "Non-English: 日本語のテキスト, Ελληνικά, русский текст, emoji 🎉🎉",
            "it's they're we've I'll CAPITALS MiXeD\r\n\r\nlines   \n  ",
            "<|endoftext|> is ordinary text here",
        ];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let reference = tiktoken(tokenizer);
            for text in texts {
                assert_eq!(
                    tokenizer.count(text),
                    reference.encode_ordinary(text).len() as u64,
                    "{tokenizer:?}: {text:?}"
                );
            }
        }
    }

    #[test]
    fn remembered_pieces_count_as_tiktoken_counts_them() {
        // Far more distinct pieces than slots, each text counted three times: hits, misses and
        // overwritten slots must all give tiktoken's count.
        let texts: Vec<String> = (0..3 * REMEMBERED_PIECES)
            .map(|n| format!("word{n} w{n}x, {n}.{n}! ünï{n} 日本{n}  "))
            .collect();
        for _round in 0..3 {
            for text in texts.iter().step_by(97) {
                for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                    let expected = tiktoken(tokenizer).encode_ordinary(text).len() as u64;
                    assert_eq!(tokenizer.count(text), expected, "{tokenizer:?}: {text:?}");
                }
            }
            let long = texts[..600].concat();
            for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                let expected = tiktoken(tokenizer).encode_ordinary(&long).len() as u64;
                assert_eq!(tokenizer.count(&long), expected, "{tokenizer:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_counts_as_tiktoken_counts_it(text in "[ a-zA-Z0-9'.,;!?\\n\\r\\t日本語éß🎉-]{0,200}") {
            for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                proptest::prop_assert_eq!(
                    tokenizer.count(&text),
                    tiktoken(tokenizer).encode_ordinary(&text).len() as u64
                );
            }
        }
    }

    /// Long runs of one kind of text, ASCII (our pre-tokenizer) and not (the crate's): each
    /// becomes few, long pieces, or very many short ones.
    fn long_runs(length: usize) -> Vec<(&'static str, String)> {
        let cycle = |unit: &str| unit.repeat(length / unit.len());
        vec![
            ("digits", cycle("7")),
            ("letters", cycle("a")),
            ("mixed case", cycle("aB")),
            ("two letters", cycle("ab")),
            ("base64", cycle("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo")),
            ("spaces", cycle(" ")),
            ("newlines", cycle("\n")),
            ("spaces and newlines", cycle(" \n")),
            ("punctuation", cycle("!")),
            ("spaced punctuation", cycle(" !")),
            ("digits, then é", format!("{}é", cycle("7"))),
            ("é", cycle("é")),
            ("CJK", cycle("日本語")),
            ("ideographic spaces", cycle("\u{3000}")),
            ("spaces, then é", format!("{}é", cycle(" "))),
            ("CJK punctuation", cycle("！")),
            ("combining marks", cycle("a\u{301}")),
            ("emoji", cycle("🎉")),
        ]
    }

    #[test]
    fn long_runs_count_as_tiktoken_counts_them() {
        for (kind, text) in long_runs(6_000) {
            for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                assert_eq!(
                    tokenizer.count(&text),
                    tiktoken(tokenizer).encode_ordinary(&text).len() as u64,
                    "{tokenizer:?}: {kind}"
                );
            }
        }
    }

    /// The CPU a 4 MiB body of each long run costs, as texts of [`EXACT_COUNT_BYTES`] (each
    /// counted whole) and as one text (sampled); printed with `--nocapture`, not asserted.
    #[test]
    fn counting_long_runs_costs_time_in_proportion_to_their_length() {
        for (kind, text) in long_runs(EXACT_COUNT_BYTES) {
            for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
                tokenizer.count("warm up");
                let texts = 4 * 1024 * 1024 / text.len().max(1);
                let started = std::time::Instant::now();
                let tokens: u64 = (0..texts).map(|_| tokenizer.count(&text)).sum();
                let whole = text.repeat(texts);
                let sampled = std::time::Instant::now();
                let whole_tokens = tokenizer.count(&whole);
                println!(
                    "{kind:>20} {tokenizer:?}: 4 MiB as {texts} texts {:>7.1} ms ({tokens} tokens), as one text {:>5.1} ms ({whole_tokens} tokens)",
                    (sampled - started).as_secs_f64() * 1e3 - 0.0,
                    sampled.elapsed().as_secs_f64() * 1e3,
                );
            }
        }
    }

    #[test]
    fn long_texts_are_sampled_close_to_their_exact_count() {
        let text = "Tokenizers split words; numbers like 12345 and code `fn main() {}` too. \
                    Non-English: 日本語のテキスト, Ελληνικά, русский текст.\n"
            .repeat(2_000);
        assert!(text.len() > 4 * EXACT_COUNT_BYTES);
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let exact = tiktoken(tokenizer).encode_ordinary(&text).len() as f64;
            let counted = tokenizer.count(&text) as f64;
            assert!(
                (counted - exact).abs() / exact < 0.01,
                "{tokenizer:?}: {counted} vs {exact}"
            );
        }
    }

    #[test]
    fn recurring_texts_count_as_when_counted_afresh() {
        let texts: Vec<String> = (0..50)
            .map(|n| {
                format!(
                    "Message number {n} of a conversation sent again with every turn. 日本語 {n}"
                )
            })
            .collect();
        for _turn in 0..3 {
            for text in &texts {
                for tokenizer in [
                    Tokenizer::O200kBase,
                    Tokenizer::Cl100kBase,
                    Tokenizer::Estimate,
                ] {
                    assert_eq!(
                        tokenizer.count_recurring(text),
                        tokenizer.count(text),
                        "{text}"
                    );
                }
            }
        }
        assert_eq!(Tokenizer::O200kBase.count_recurring("short"), 1);
    }

    #[test]
    fn a_long_run_without_spaces_is_not_held_forever() {
        let mut counter = TokenCounter::new(Tokenizer::O200kBase);
        for _ in 0..100 {
            counter.add("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=");
        }
        assert!(counter.held.len() <= MAX_HELD_BYTES);
        assert!(counter.tokens() > 100);
    }
}
