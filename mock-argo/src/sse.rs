//! Server-sent events as Argo's native endpoints stream them: OpenAI's `data: {json}` lines
//! ending with `data: [DONE]`, Anthropic's `event: NAME` + `data: {json}` pairs.

use bytes::Bytes;
use serde_json::Value;

/// One piece of a stream as the mock writes it (each piece is one chunk on the wire).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Written right away.
    Now(Bytes),
    /// A content fragment: written after the stream's pause (except the first), counted by
    /// `cut_after` and by the stats' `fragments_sent`.
    Paced(Bytes),
    /// Written like `Paced`, over and over, until the client goes away.
    Forever(Bytes),
}

impl Step {
    #[cfg(test)]
    pub fn bytes(&self) -> &Bytes {
        match self {
            Step::Now(bytes) | Step::Paced(bytes) | Step::Forever(bytes) => bytes,
        }
    }
}

/// `data: {json}\n\n`.
pub fn data(json: &Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// `event: NAME\ndata: {json}\n\n`.
pub fn event(name: &str, json: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// The end of an OpenAI stream.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// An SSE comment line (`: text`), which clients ignore.
pub fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// Splits `text` into pieces of at most `size` bytes without cutting a UTF-8 character (a
/// character longer than `size` makes a piece of its own). Empty text gives no pieces.
pub fn split(text: &str, size: usize) -> Vec<String> {
    let size = size.max(1);
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        if !piece.is_empty() && piece.len() + c.len_utf8() > size {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push(c);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The `data:` payloads of a stream (test helper, also for the black-box tests' readers).
#[cfg(test)]
pub fn payloads(steps: &[Step]) -> Vec<(Option<String>, String)> {
    let text: String = steps
        .iter()
        .map(|step| String::from_utf8_lossy(step.bytes()).into_owned())
        .collect();
    text.split("\n\n")
        .filter(|block| !block.is_empty() && !block.starts_with(':'))
        .map(|block| {
            let mut name = None;
            let mut payload = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = Some(rest.to_string());
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    payload.push_str(rest);
                }
            }
            (name, payload)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_characters_whole() {
        assert_eq!(split("héllo", 2), ["h", "é", "ll", "o"]);
        assert_eq!(split("abc", 8), ["abc"]);
        assert_eq!(split("🏓ab", 1), ["🏓", "a", "b"]);
        assert!(split("", 4).is_empty());
        assert_eq!(split("abcd", 0), ["a", "b", "c", "d"]);
    }

    #[test]
    fn events_are_framed() {
        let json = serde_json::json!({"type": "ping"});
        assert_eq!(
            &event("ping", &json)[..],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        assert_eq!(&data(&json)[..], b"data: {\"type\":\"ping\"}\n\n");
        assert_eq!(&done()[..], b"data: [DONE]\n\n");
        assert_eq!(&comment("ping")[..], b": ping\n\n");
    }
}
