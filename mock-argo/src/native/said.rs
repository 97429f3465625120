//! What the mock says and counts: the `echo_request` reply, `max_tokens` and stop sequences, token
//! counts.

use serde_json::{json, Map, Value};

use crate::tools::Dialect;
use crate::MockRequest;

/// The headers `echo_request` reports (`null` when absent).
const ECHOED_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "accept",
    "accept-encoding",
    "content-type",
    "user-agent",
];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stop {
    End,
    ToolUse,
    MaxTokens,
    Sequence(String),
}

/// The request as the mock received it: `{"method", "path", "headers": {name: value or null},
/// "body": <the JSON body>}`.
pub(super) fn echo(request: &MockRequest, body: &Value) -> String {
    let headers: Map<String, Value> = ECHOED_HEADERS
        .iter()
        .map(|name| {
            let value = request.header(name).map_or(Value::Null, |v| json!(v));
            (name.to_string(), value)
        })
        .collect();
    json!({"method": request.method, "path": request.path, "headers": headers, "body": body})
        .to_string()
}

/// Cuts the text at the first stop sequence (OpenAI `stop`, Anthropic `stop_sequences`), then
/// at the token limit (`max_completion_tokens` or `max_tokens`).
pub(super) fn limit(dialect: Dialect, body: &Value, text: String) -> (String, Stop) {
    let stops: Vec<&str> = match (dialect, &body["stop"]) {
        (Dialect::OpenAi, Value::String(stop)) => vec![stop.as_str()],
        (Dialect::OpenAi, Value::Array(stops)) => stops.iter().filter_map(Value::as_str).collect(),
        (Dialect::Anthropic, _) => body["stop_sequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
        _ => Vec::new(),
    };
    let first = stops
        .into_iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.find(stop).map(|at| (at, stop)))
        .min_by_key(|(at, _)| *at);
    let (mut text, mut stop) = match first {
        Some((at, sequence)) => (text[..at].to_string(), Stop::Sequence(sequence.into())),
        None => (text, Stop::End),
    };
    let max = match dialect {
        Dialect::OpenAi => body
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| body.get("max_tokens").and_then(Value::as_u64)),
        Dialect::Anthropic => body.get("max_tokens").and_then(Value::as_u64),
    };
    if let Some(cut) = max.and_then(|max| truncate_tokens(&text, max)) {
        text = cut;
        stop = Stop::MaxTokens;
    }
    (text, stop)
}

/// The mock's token count: a quarter of each word's characters, rounded up (deterministic and
/// close enough to BPE for tests; the real counts come from the models).
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace()
        .map(|word| (word.chars().count() as u64).div_ceil(4))
        .sum()
}

/// The longest prefix of `text` within `limit` tokens, if the whole text is over it.
pub(super) fn truncate_tokens(text: &str, limit: u64) -> Option<String> {
    let mut used = 0;
    let mut word_start = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let start = *word_start.get_or_insert(at);
        let ends = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if !ends {
            continue;
        }
        word_start = None;
        let end = chars.peek().map_or(text.len(), |(next, _)| *next);
        let word = &text[start..end];
        let cost = (word.chars().count() as u64).div_ceil(4);
        if used + cost > limit {
            let room = ((limit - used) * 4) as usize;
            let cut = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
            return Some(text[..start + cut].trim_end().to_string());
        }
        used += cost;
    }
    None
}

/// Tokens of every string in the conversation (`system`, `messages`, `tools`), but roles and
/// types.
pub(super) fn input_tokens(body: &Value) -> u64 {
    (string_tokens(&body["system"])
        + string_tokens(&body["messages"])
        + string_tokens(&body["tools"]))
    .max(1)
}

/// Tokens of every string in `value`, but the values of `role` and `type`.
pub(super) fn string_tokens(value: &Value) -> u64 {
    match value {
        Value::String(text) => count_tokens(text),
        Value::Array(items) => items.iter().map(string_tokens).sum(),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| *key != "role" && *key != "type")
            .map(|(_, value)| string_tokens(value))
            .sum(),
        _ => 0,
    }
}
