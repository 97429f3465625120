//! Token usage estimation. Argo returns no usage, so the gateway estimates it the same way for
//! every model: about four ASCII bytes per token, one token per non-ASCII character.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// Per-message framing overhead in OpenAI's chat format.
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens that prime the assistant's reply.
pub const REPLY_PRIMING_TOKENS: u64 = 3;

pub fn estimate_tokens(text: &str) -> u64 {
    let mut counter = TokenCounter::default();
    counter.add(text);
    counter.tokens()
}

/// Incremental counter for streamed output, where text arrives in pieces.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokenCounter {
    ascii_bytes: u64,
    other_chars: u64,
}

impl TokenCounter {
    /// One pass over the bytes, no UTF-8 decoding: in valid UTF-8 every non-ASCII character has
    /// exactly one lead byte (`0b11xx_xxxx`), so counting bytes counts characters.
    pub fn add(&mut self, text: &str) {
        let (mut ascii, mut leads) = (0u64, 0u64);
        for &byte in text.as_bytes() {
            ascii += u64::from(byte < 0x80);
            leads += u64::from(byte >= 0xc0);
        }
        self.ascii_bytes += ascii;
        self.other_chars += leads;
    }

    pub fn tokens(&self) -> u64 {
        self.ascii_bytes.div_ceil(4) + self.other_chars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_text_and_count_non_ascii_heavier() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("日本語"), 3);
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
    fn counter_matches_one_shot_estimate_across_pieces() {
        let text = "Hello, wörld! 日本語 is fine.";
        let mut counter = TokenCounter::default();
        for piece in ["Hello, w", "örld! 日", "本語 is fine."] {
            counter.add(piece);
        }
        assert_eq!(counter.tokens(), estimate_tokens(text));
    }
}
