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

    fn choice_event(&self, out: &mut Vec<u8>, delta: &str, finish_reason: Option<&str>) {
        let finish = finish_reason
            .map(json_string)
            .unwrap_or_else(|| "null".into());
        self.event(
            out,
            format!("\"system_fingerprint\":null,\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{}}}", self.usage_null()),
        );
    }

    fn completion_event(&self, out: &mut Vec<u8>, text: &str, finish_reason: Option<&str>) {
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
    use serde_json::Value;

    use super::*;
    use crate::fixtures::relay;
    use crate::translate::StreamTranslation;
    use crate::upstream::resource::TextDecoder;
    use crate::usage::Tokenizer;

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "chatcmpl-abc".into(),
            created: 1700000000,
            model: "gpt-4o".into(),
        }
    }

    /// Parses SSE text into its `data:` payloads.
    fn events(sse: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(sse).expect("SSE is UTF-8");
        assert!(
            text.is_empty() || text.ends_with("\n\n"),
            "events end with a blank line: {text:?}"
        );
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("data line").to_string())
            .collect()
    }

    fn json(event: &str) -> Value {
        serde_json::from_str(event).unwrap_or_else(|e| panic!("{e}: {event}"))
    }

    /// Argo's `streamchat` text into `kind`'s events, with a prompt of 10 tokens.
    fn resource_stream(kind: StreamKind, include_usage: bool) -> StreamTranslation {
        StreamTranslation::new(
            TextDecoder::new(),
            SseEncoder::new(kind, &meta(), include_usage),
        )
        .counting(|| 10, Tokenizer::Estimate)
    }

    #[test]
    fn chat_events_have_openai_shape_and_stable_identity() {
        let sse = relay(
            &mut resource_stream(StreamKind::Chat, false),
            &[b"Hel", b"lo"],
        );
        let events = events(&sse);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| json(e)).collect();
        assert_eq!(chunks.len(), 4);
        for chunk in &chunks {
            assert_eq!(
                (chunk["id"].as_str(), chunk["object"].as_str()),
                (Some("chatcmpl-abc"), Some("chat.completion.chunk"))
            );
            assert_eq!(
                (chunk["created"].as_u64(), chunk["model"].as_str()),
                (Some(1700000000), Some("gpt-4o"))
            );
            assert!(chunk.get("usage").is_none());
        }
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            serde_json::json!({"role":"assistant","content":""})
        );
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "lo");
        assert!(chunks[2]["choices"][0]["finish_reason"].is_null());
        assert_eq!(chunks[3]["choices"][0]["delta"], serde_json::json!({}));
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn prerendered_text_events_equal_the_general_event_rendering() {
        let text = "say \"hi\"\n\t🎉 </script>";
        for include_usage in [false, true] {
            let chat = SseEncoder::new(StreamKind::Chat, &meta(), include_usage);
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            chat.text(&mut fast, text);
            chat.choice_event(
                &mut general,
                &format!("{{\"content\":{}}}", json_string(text)),
                None,
            );
            assert_eq!(String::from_utf8(fast), String::from_utf8(general));
            let completion = SseEncoder::new(StreamKind::Completion, &meta(), include_usage);
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            completion.text(&mut fast, text);
            completion.completion_event(&mut general, text, None);
            assert_eq!(String::from_utf8(fast), String::from_utf8(general));
        }
    }

    #[test]
    fn include_usage_adds_a_final_usage_event_with_empty_choices() {
        let sse = relay(&mut resource_stream(StreamKind::Chat, true), &[b"abcdefgh"]);
        let events = events(&sse);
        let usage_event = json(&events[events.len() - 2]);
        assert_eq!(usage_event["choices"], serde_json::json!([]));
        assert_eq!(
            usage_event["usage"],
            serde_json::json!({"prompt_tokens":10,"completion_tokens":2,"total_tokens":12})
        );
        assert!(json(&events[1])["usage"].is_null());
    }

    #[test]
    fn invalid_and_truncated_utf8_become_replacement_characters() {
        let mut joiner = Utf8Joiner::default();
        assert_eq!(joiner.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(joiner.push(b"c\xe4\xb8"), "c");
        assert_eq!(joiner.finish(), "\u{fffd}");
    }

    #[test]
    fn completion_stream_uses_text_completion_objects() {
        let sse = relay(
            &mut resource_stream(StreamKind::Completion, false),
            &[b"Hi"],
        );
        let events = events(&sse);
        assert_eq!(events.len(), 3, "no role event for completions: {events:?}");
        let first = json(&events[0]);
        assert_eq!(
            (
                first["object"].as_str(),
                first["choices"][0]["text"].as_str()
            ),
            (Some("text_completion"), Some("Hi"))
        );
        assert_eq!(json(&events[1])["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn errors_after_start_are_one_error_event() {
        let mut stream = resource_stream(StreamKind::Chat, false);
        let mut sse = stream.start();
        stream.feed_into(&mut sse, b"partial").unwrap();
        sse.extend(stream.fail(&ApiError::bad_gateway("Argo cut the stream")));
        let events = events(&sse);
        let error = json(events.last().unwrap());
        assert_eq!(error["error"]["message"], "Argo cut the stream");
        assert_eq!(error["error"]["type"], "upstream_error");
        assert!(!events.iter().any(|e| e == "[DONE]"));
    }

    #[test]
    fn tool_call_deltas_carry_index_id_name_then_arguments() {
        let mut encoder = SseEncoder::new(StreamKind::Chat, &meta(), false);
        let mut out = Vec::new();
        let start = Event::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "get_weather".into(),
        };
        let arguments = Event::ToolCallArguments {
            index: 0,
            fragment: "{\"city\":\"Paris\"}".into(),
        };
        for event in [start, arguments] {
            Encoder::event(&mut encoder, &mut out, &event);
        }
        let events = events(&out);
        let opening = &json(&events[0])["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            (opening["index"].as_u64(), opening["id"].as_str()),
            (Some(0), Some("call_1"))
        );
        assert_eq!(opening["function"]["name"], "get_weather");
        assert_eq!(
            json(&events[1])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
    }
}
