//! The pre-tokenizers of `o200k_base` and `cl100k_base` (the regular expressions that split a
//! text into the pieces the BPE then encodes one by one), written out by hand for ASCII text.
//! The `bpe-openai` crate runs them as regular expressions, which cost several hundred
//! instructions a piece, more than the rest of a count; for ASCII the classes are a few byte
//! ranges and each alternative a run or two. Other text goes to the crate's splitter. The
//! property tests below hold the pieces to the crate's, and the counts to tiktoken's.
//!
//! `o200k_base`, over ASCII (no `\p{Lt}`, `\p{Lm}`, `\p{Lo}` or `\p{M}` there):
//!
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}...]*[\p{Ll}...]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |[^\r\n\p{L}\p{N}]?[\p{Lu}...]+[\p{Ll}...]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! `cl100k_base`:
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//! | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```

/// Which table's pattern splits the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    O200k,
    Cl100k,
}

/// The pieces of `text`, which must be ASCII (the caller checks: other text is split by the
/// BPE crate).
pub fn pieces(pattern: Pattern, text: &str) -> impl Iterator<Item = &str> {
    debug_assert!(text.is_ascii());
    let mut at = 0;
    std::iter::from_fn(move || {
        if at == text.len() {
            return None;
        }
        let start = at;
        at = piece_end(pattern, text.as_bytes(), start);
        // ASCII: every byte is a character boundary.
        text.get(start..at)
    })
}

/// Where the piece starting at `at` ends: the first alternative of the pattern that matches
/// there, as long as it matches (the regular expressions are leftmost-first and greedy).
fn piece_end(pattern: Pattern, text: &[u8], at: usize) -> usize {
    let byte = text[at];
    let next = text.get(at + 1).copied();
    if pattern == Pattern::Cl100k {
        if let Some(end) = contraction_end(text, at) {
            return end;
        }
    }
    // Letters, after at most one byte that is none of a newline, a letter or a digit.
    let letters = if byte.is_ascii_alphabetic() {
        Some(at)
    } else if !matches!(byte, b'\r' | b'\n') && !byte.is_ascii_digit() {
        next.filter(u8::is_ascii_alphabetic).map(|_| at + 1)
    } else {
        None
    };
    if let Some(letters) = letters {
        return match pattern {
            // Upper case then lower case, and a contraction: the two letter alternatives
            // together take exactly this.
            Pattern::O200k => {
                let upper = run(text, letters, |byte| byte.is_ascii_uppercase());
                let lower = run(text, upper, |byte| byte.is_ascii_lowercase());
                contraction_end(text, lower).unwrap_or(lower)
            }
            Pattern::Cl100k => run(text, letters, |byte| byte.is_ascii_alphabetic()),
        };
    }
    if byte.is_ascii_digit() {
        // `\p{N}{1,3}`: the run is looked at no further than its third digit (scanning all of
        // it for each piece of three made counting a long run quadratic).
        let most = text.len().min(at + 3);
        return run(&text[..most], at, |byte| byte.is_ascii_digit());
    }
    // Punctuation (anything else that is not a space), after at most one space.
    let punctuation = if is_punctuation(byte) {
        Some(at)
    } else {
        (byte == b' ' && next.is_some_and(is_punctuation)).then_some(at + 1)
    };
    if let Some(punctuation) = punctuation {
        let end = run(text, punctuation, is_punctuation);
        return match pattern {
            Pattern::O200k => run(text, end, |byte| matches!(byte, b'\r' | b'\n' | b'/')),
            Pattern::Cl100k => run(text, end, |byte| matches!(byte, b'\r' | b'\n')),
        };
    }
    whitespace_end(text, at)
}

/// The three whitespace alternatives, for the run of white space starting at `at`.
fn whitespace_end(text: &[u8], at: usize) -> usize {
    let end = run(text, at, is_space);
    // `\s*[\r\n]+`: up to the run's last newline.
    if let Some(newline) = text[at..end]
        .iter()
        .rposition(|&byte| matches!(byte, b'\r' | b'\n'))
    {
        return at + newline + 1;
    }
    // `\s+(?!\S)`: the run but its last space, which goes with what follows; `\s+` otherwise.
    if end < text.len() && end - at >= 2 {
        end - 1
    } else {
        end
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `at`: where it ends.
fn contraction_end(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at) != Some(&b'\'') {
        return None;
    }
    let lower = |offset: usize| text.get(at + offset).map(u8::to_ascii_lowercase);
    match (lower(1)?, lower(2)) {
        (b's' | b't' | b'm' | b'd', _) => Some(at + 2),
        (b'r' | b'v', Some(b'e')) | (b'l', Some(b'l')) => Some(at + 3),
        _ => None,
    }
}

/// Where the run of bytes that are `class`, from `at`, ends.
fn run(text: &[u8], at: usize, class: impl Fn(u8) -> bool) -> usize {
    let end = text[at..]
        .iter()
        .position(|&byte| !class(byte))
        .map_or(text.len(), |offset| at + offset);
    #[cfg(test)]
    tests::examined(text.len().min(end + 1) - at);
    end
}

/// `\s` over ASCII: Unicode's White_Space, which (unlike `u8::is_ascii_whitespace`) has the
/// vertical tab.
fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `[^\s\p{L}\p{N}]` over ASCII.
fn is_punctuation(byte: u8) -> bool {
    !is_space(byte) && !byte.is_ascii_alphanumeric()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    thread_local! {
        /// Bytes [`run`] has looked at on this thread.
        static EXAMINED: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn examined(bytes: usize) {
        EXAMINED.with(|examined| examined.set(examined.get() + bytes));
    }

    /// The pieces of `text` and how many bytes splitting it looked at.
    fn pieces_examined(pattern: Pattern, text: &str) -> (Vec<&str>, usize) {
        let before = EXAMINED.with(Cell::get);
        let pieces = pieces(pattern, text).collect();
        (pieces, EXAMINED.with(Cell::get) - before)
    }

    /// Long runs of each class the pattern tells apart, and of their mixes.
    fn long_runs(length: usize) -> Vec<String> {
        let cycle = |unit: &str| unit.repeat(length / unit.len());
        vec![
            cycle("7"),
            cycle("a"),
            cycle("A"),
            cycle("aA"),
            cycle("Ab"),
            cycle(" "),
            cycle("\n"),
            cycle(" \n"),
            cycle("\r\n  "),
            cycle("!"),
            cycle(" !"),
            cycle("!/\n"),
            cycle("'s"),
            cycle("'"),
            cycle("1 "),
            cycle(" 1"),
            cycle("a1"),
            cycle("\t\x0b"),
            format!("x{}", " ".repeat(length)),
            format!("{}x", " ".repeat(length)),
        ]
    }

    #[test]
    fn long_runs_split_as_the_crate_splits_them_looking_at_each_byte_a_few_times() {
        for pattern in [Pattern::O200k, Pattern::Cl100k] {
            for text in long_runs(20_000) {
                let (pieces, examined) = pieces_examined(pattern, &text);
                assert_eq!(
                    pieces,
                    crate_pieces(pattern, &text),
                    "{pattern:?}: {:?}",
                    &text[..8]
                );
                // Each byte is looked at by the run it starts and, at most, by the run just
                // before (which ends at it): a rescan per piece would be quadratic.
                assert!(
                    examined <= 3 * text.len(),
                    "{pattern:?}: {:?}...: {examined} bytes looked at for {}",
                    &text[..8],
                    text.len()
                );
            }
        }
    }

    fn crate_pieces(pattern: Pattern, text: &str) -> Vec<&str> {
        let bpe = match pattern {
            Pattern::O200k => bpe_openai::o200k_base(),
            Pattern::Cl100k => bpe_openai::cl100k_base(),
        };
        bpe.split(text).collect()
    }

    #[test]
    fn pieces_are_the_crates_on_the_cases_of_each_alternative() {
        let texts = [
            "Tq00001 Tq00002 Tq00003 Tq00004 ",
            "HELLOworld HELLO hello Hello it's IT'S they're we've I'll you'd 'sgood 'hello",
            "$100 1234567 ((hello .hello ' .x a/b//\n/ ?!\r\n\r\n",
            "  two  spaces\t\ttabs \x0b\x0c\x1c\x7f end   ",
            "\n  x\n\n\t \n y   \r\n",
            "",
            " ",
            "'",
        ];
        for pattern in [Pattern::O200k, Pattern::Cl100k] {
            for text in texts {
                assert_eq!(
                    pieces(pattern, text).collect::<Vec<_>>(),
                    crate_pieces(pattern, text),
                    "{pattern:?}: {text:?}"
                );
            }
        }
    }

    /// ASCII text rich in the bytes the pattern tells apart: each class and the contractions'
    /// letters, in both cases.
    pub(crate) fn ascii_text() -> impl Strategy<Value = String> {
        let byte = prop_oneof![
            Just(b' '),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'\t'),
            Just(0x0b),
            Just(0x0c),
            Just(b'\''),
            Just(b'/'),
            Just(b'.'),
            prop::sample::select(b"sStTmMdDrReEvVlLqQ".to_vec()),
            b'0'..=b'9',
            0u8..0x80,
        ];
        prop::collection::vec(byte, 0..80)
            .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
    }

    proptest! {
        #[test]
        fn pieces_are_the_crates(text in ascii_text()) {
            for pattern in [Pattern::O200k, Pattern::Cl100k] {
                prop_assert_eq!(pieces(pattern, &text).collect::<Vec<_>>(), crate_pieces(pattern, &text));
            }
        }
    }
}
