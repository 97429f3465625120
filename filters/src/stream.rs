//! Streaming into OpenAI's SSE format.
//!
//! [`SseEncoder`] renders events for one response (`chat.completion.chunk` or `text_completion`),
//! with the response's id, created and model fixed: it is the hub's [`Encoder`] for OpenAI
//! clients, paired with an upstream's decoder in a [`crate::translate::StreamTranslation`].
//! [`Utf8Joiner`] repairs UTF-8 characters that Argo's fragment boundaries split.

use std::borrow::Cow;

use serde::Serialize;

use crate::error::ApiError;
use crate::hub::{self, Event, Finish};
use crate::openai::ResponseMeta;
use crate::translate::Encoder;

/// Which OpenAI object the stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Chat,
    Completion,
}

/// Renders SSE events. The JSON before the per-event part is rendered once per stream.
#[derive(Debug, Clone)]
pub struct SseEncoder {
    kind: StreamKind,
    /// `{"id":..,"object":..,"created":..,"model":..,` — shared by every event.
    head: String,
    include_usage: bool,
    /// A text event is `text_open`, the text as a JSON string, then `text_close`: both rendered
    /// once, so a streamed fragment costs one escape pass and no allocation of its own.
    text_open: String,
    text_close: String,
    /// As `text_open`, for `reasoning_content` deltas.
    reasoning_open: String,
}

impl SseEncoder {
    pub fn new(kind: StreamKind, meta: &ResponseMeta, include_usage: bool) -> Self {
        let object = match kind {
            StreamKind::Chat => "chat.completion.chunk",
            StreamKind::Completion => "text_completion",
        };
        let head = format!(
            "{{\"id\":{},\"object\":\"{object}\",\"created\":{},\"model\":{},",
            json_string(&meta.id),
            meta.created,
            json_string(&meta.model)
        );
        let usage_null = if include_usage { ",\"usage\":null" } else { "" };
        let delta_open = |field: &str| {
            format!("data: {head}\"system_fingerprint\":null,\"choices\":[{{\"index\":0,\"delta\":{{\"{field}\":")
        };
        let (text_open, text_close) = match kind {
            StreamKind::Chat => (
                delta_open("content"),
                format!("}},\"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}\n\n"),
            ),
            StreamKind::Completion => (
                format!("data: {head}\"choices\":[{{\"text\":"),
                format!(
                    ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}\n\n"
                ),
            ),
        };
        SseEncoder {
            kind,
            reasoning_open: delta_open("reasoning_content"),
            head,
            include_usage,
            text_open,
            text_close,
        }
    }

    /// The opening chat event: the assistant role with empty content, as OpenAI sends it.
    pub fn role(&self, out: &mut Vec<u8>) {
        if self.kind == StreamKind::Chat {
            self.choice_event(out, r#"{"role":"assistant","content":""}"#, None);
        }
    }

    pub fn text(&self, out: &mut Vec<u8>, text: &str) {
        self.prerendered(out, &self.text_open, text);
    }

    /// A `reasoning_content` delta (chat only), where OpenAI-compatible servers stream thinking.
    pub fn reasoning(&self, out: &mut Vec<u8>, text: &str) {
        if self.kind == StreamKind::Chat {
            self.prerendered(out, &self.reasoning_open, text);
        }
    }

    fn prerendered(&self, out: &mut Vec<u8>, open: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        out.reserve(open.len() + self.text_close.len() + 2 + text.len());
        out.extend_from_slice(open.as_bytes());
        push_json_string(out, text);
        out.extend_from_slice(self.text_close.as_bytes());
    }

    /// The event that opens the `index`-th call (chat only).
    pub fn tool_call_start(&self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        if self.kind != StreamKind::Chat {
            return;
        }
        let opening = serde_json::json!({"tool_calls": [{
            "index": index, "id": id, "type": "function",
            "function": {"name": name, "arguments": ""}}]});
        self.choice_event(out, &opening.to_string(), None);
    }

    /// Argument deltas of the `index`-th call, cut to about [`ARGUMENT_FRAGMENT_CHARS`].
    pub fn tool_call_arguments(&self, out: &mut Vec<u8>, index: usize, arguments: &str) {
        if self.kind != StreamKind::Chat {
            return;
        }
        for fragment in fragments(arguments, ARGUMENT_FRAGMENT_CHARS) {
            let delta = serde_json::json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]});
            self.choice_event(out, &delta.to_string(), None);
        }
    }

    /// The closing events: an empty delta with `finish_reason`, the usage event if asked for
    /// (cached prompt tokens included when known), then `[DONE]`.
    pub fn close(&self, out: &mut Vec<u8>, finish_reason: &str, usage: &hub::Usage) {
        match self.kind {
            StreamKind::Chat => self.choice_event(out, "{}", Some(finish_reason)),
            StreamKind::Completion => self.completion_event(out, "", Some(finish_reason)),
        }
        if self.include_usage {
            let mut tail = b"\"choices\":[],\"usage\":".to_vec();
            push_usage(&mut tail, usage);
            tail.push(b'}');
            self.event(out, &tail);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    pub(crate) fn choice_event(&self, out: &mut Vec<u8>, delta: &str, finish_reason: Option<&str>) {
        let finish = finish_reason
            .map(json_string)
            .unwrap_or_else(|| "null".into());
        self.event(
            out,
            format!("\"system_fingerprint\":null,\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{}}}", self.usage_null()),
        );
    }

    pub(crate) fn completion_event(
        &self,
        out: &mut Vec<u8>,
        text: &str,
        finish_reason: Option<&str>,
    ) {
        let finish = finish_reason
            .map(json_string)
            .unwrap_or_else(|| "null".into());
        self.event(
            out,
            format!("\"choices\":[{{\"text\":{},\"index\":0,\"logprobs\":null,\"finish_reason\":{finish}}}]{}}}", json_string(text), self.usage_null()),
        );
    }

    /// With `include_usage`, OpenAI puts `"usage": null` on every event but the last.
    fn usage_null(&self) -> &'static str {
        if self.include_usage {
            ",\"usage\":null"
        } else {
            ""
        }
    }

    fn event(&self, out: &mut Vec<u8>, tail: impl AsRef<[u8]>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(tail.as_ref());
        out.extend_from_slice(b"\n\n");
    }
}

impl Encoder for SseEncoder {
    fn start(&mut self, out: &mut Vec<u8>) {
        self.role(out);
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(text) => self.text(out, text),
            Event::ThinkingDelta(text) => self.reasoning(out, text),
            Event::ToolCallStart { index, id, name } => self.tool_call_start(out, *index, id, name),
            Event::ToolCallArguments { index, fragment } => {
                self.tool_call_arguments(out, *index, fragment)
            }
            Event::ThinkingSignature(_) | Event::Finish(_) | Event::Usage(_) | Event::Error(_) => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: hub::Usage) {
        self.close(out, finish.openai(), &usage);
    }

    /// One event with OpenAI's error envelope, which the SDKs raise as an exception.
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        error_event(out, error);
    }
}

/// OpenAI's `usage` object.
#[derive(Debug, Serialize)]
pub(crate) struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Serialize)]
struct PromptTokensDetails {
    cached_tokens: u64,
}

impl From<&hub::Usage> for OpenAiUsage {
    fn from(usage: &hub::Usage) -> Self {
        OpenAiUsage {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.input_tokens.saturating_add(usage.output_tokens),
            prompt_tokens_details: usage
                .cached_input_tokens
                .map(|cached_tokens| PromptTokensDetails { cached_tokens }),
        }
    }
}

/// OpenAI's error event: `data: {"error": {...}}`.
pub(crate) fn error_event(out: &mut Vec<u8>, error: &ApiError) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&error.to_json());
    out.extend_from_slice(b"\n\n");
}

/// Argument deltas are cut to about this many characters, as OpenAI streams them.
pub const ARGUMENT_FRAGMENT_CHARS: usize = 32;

fn fragments(text: &str, chars: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest
            .char_indices()
            .nth(chars)
            .map(|(at, _)| at)
            .unwrap_or(rest.len());
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// Appends `text` as a JSON string literal. Most texts need no escape: one pass that the
/// compiler vectorises finds out, and the text is copied whole; serde's escaper, byte by byte,
/// writes the rest.
pub(crate) fn push_json_string(out: &mut Vec<u8>, text: &str) {
    let needs_escape = text.bytes().fold(false, |found, byte| {
        found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    if needs_escape {
        // Serialising a str into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, text).is_err() {
            out.extend_from_slice(b"\"\"");
        }
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

pub(crate) fn json_string(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    push_json_string(&mut out, text);
    // JSON text written from a str is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends OpenAI's `usage` object: what [`OpenAiUsage`] serialises to, without serde's
/// run-time escaping of each key.
pub(crate) fn push_usage(out: &mut Vec<u8>, usage: &hub::Usage) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"prompt_tokens\":");
    out.extend_from_slice(number.format(usage.input_tokens).as_bytes());
    out.extend_from_slice(b",\"completion_tokens\":");
    out.extend_from_slice(number.format(usage.output_tokens).as_bytes());
    out.extend_from_slice(b",\"total_tokens\":");
    let total = usage.input_tokens.saturating_add(usage.output_tokens);
    out.extend_from_slice(number.format(total).as_bytes());
    if let Some(cached) = usage.cached_input_tokens {
        out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
        out.extend_from_slice(number.format(cached).as_bytes());
        out.push(b'}');
    }
    out.push(b'}');
}

/// Joins byte fragments into text without breaking characters split across fragments.
/// Invalid bytes become U+FFFD; an incomplete character waits for the next fragment.
#[derive(Debug, Default, Clone)]
pub struct Utf8Joiner {
    pending: Vec<u8>,
}
impl Utf8Joiner {
    /// The text completed by `bytes`, borrowed from them in the common case of a fragment of
    /// whole characters.
    pub fn push<'a>(&mut self, bytes: &'a [u8]) -> Cow<'a, str> {
        if self.pending.is_empty() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                return Cow::Borrowed(text);
            }
        }
        self.pending.extend_from_slice(bytes);
        let mut text = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match error.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        Cow::Owned(text)
    }

    /// At end of stream an incomplete character cannot complete any more.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn json_strings_are_serdes(text in "(?s).{0,40}|[\"\\\\\\x00-\\x1f a-z\u{80}-\u{10ffff}]{0,40}") {
            let mut out = Vec::new();
            push_json_string(&mut out, &text);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
            proptest::prop_assert_eq!(json_string(&text), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn usage_is_written_as_serde_writes_it(input in 0u64..1 << 40, output in 0u64..1 << 40, cached in proptest::option::of(0u64..1 << 40)) {
            let usage = hub::Usage { input_tokens: input, output_tokens: output, cached_input_tokens: cached };
            let mut out = Vec::new();
            push_usage(&mut out, &usage);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&OpenAiUsage::from(&usage)).unwrap());
        }
    }
}
