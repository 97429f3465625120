//! Streaming translation into OpenAI's SSE format.
//!
//! [`SseEncoder`] renders events for one response (`chat.completion.chunk` or `text_completion`),
//! with the response's id, created and model fixed: it is the hub's [`Encoder`] for OpenAI
//! clients. [`Utf8Joiner`] repairs UTF-8 characters that Argo's fragment boundaries split.
//! [`TextStream`] translates Argo's `streamchat` text as a state machine fed byte chunks: each
//! call returns the SSE bytes to send now, never waiting for more input.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::hub::{self, Event, Finish};
use crate::openai::ResponseMeta;
use crate::tools::prompt::ToolScanner;
use crate::translate::{Encoder, StreamTranslation};
use crate::upstream::resource::TextDecoder;
use crate::usage::{Tokenizer, Usage};

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

    /// Bytes a text event adds around its (escaped) text.
    pub fn text_overhead(&self) -> usize {
        self.text_open.len() + self.text_close.len() + 2
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

    /// OpenAI-style `tool_calls` deltas for the `index`-th call of the answer: one event with
    /// index, id, type and name (arguments empty), then the arguments in fragments.
    pub fn tool_call(&self, out: &mut Vec<u8>, index: usize, call: &Value) {
        let function = &call["function"];
        self.tool_call_start(
            out,
            index,
            call["id"].as_str().unwrap_or_default(),
            function["name"].as_str().unwrap_or_default(),
        );
        let arguments = function["arguments"].as_str().unwrap_or("");
        self.tool_call_arguments(out, index, arguments);
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

    /// The closing events: an empty delta with `finish_reason`, the usage event if asked for,
    /// then `[DONE]`.
    pub fn finish(&self, out: &mut Vec<u8>, finish_reason: &str, usage: Usage) {
        self.close(out, finish_reason, &hub::Usage::from(usage));
    }

    /// [`Self::finish`] with the hub's usage (cached prompt tokens included when known).
    pub fn close(&self, out: &mut Vec<u8>, finish_reason: &str, usage: &hub::Usage) {
        match self.kind {
            StreamKind::Chat => self.choice_event(out, "{}", Some(finish_reason)),
            StreamKind::Completion => self.completion_event(out, "", Some(finish_reason)),
        }
        if self.include_usage {
            let usage =
                serde_json::to_string(&OpenAiUsage::from(usage)).unwrap_or_else(|_| "null".into());
            self.event(out, &format!("\"choices\":[],\"usage\":{usage}}}"));
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// An error after the stream started: one event with OpenAI's error envelope, which the
    /// SDKs raise as an exception. The stream ends after it.
    pub fn error(&self, out: &mut Vec<u8>, error: &ApiError) {
        error_event(out, error);
    }

    fn choice_event(&self, out: &mut Vec<u8>, delta: &str, finish_reason: Option<&str>) {
        let finish = finish_reason
            .map(json_string)
            .unwrap_or_else(|| "null".into());
        self.event(
            out,
            &format!("\"system_fingerprint\":null,\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{}}}", self.usage_null()),
        );
    }

    fn completion_event(&self, out: &mut Vec<u8>, text: &str, finish_reason: Option<&str>) {
        let finish = finish_reason
            .map(json_string)
            .unwrap_or_else(|| "null".into());
        self.event(
            out,
            &format!("\"choices\":[{{\"text\":{},\"index\":0,\"logprobs\":null,\"finish_reason\":{finish}}}]{}}}", json_string(text), self.usage_null()),
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

    fn event(&self, out: &mut Vec<u8>, tail: &str) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(tail.as_bytes());
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
            total_tokens: usage.input_tokens + usage.output_tokens,
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

/// Appends `text` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a str into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

pub(crate) fn json_string(text: &str) -> String {
    #[derive(Serialize)]
    struct Text<'a>(&'a str);
    serde_json::to_string(&Text(text)).unwrap_or_else(|_| "\"\"".into())
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

/// Argo `streamchat` bytes in, OpenAI SSE bytes out: Argo's resource text through the hub.
#[derive(Debug)]
pub struct TextStream {
    translation: StreamTranslation,
    encoder: SseEncoder,
    prompt_tokens: u64,
    tokenizer: Tokenizer,
}

impl TextStream {
    /// `tokenizer` counts the completion's tokens as they stream.
    pub fn new(encoder: SseEncoder, prompt_tokens: u64, tokenizer: Tokenizer) -> Self {
        let translation = Self::translation(TextDecoder::new(), &encoder, prompt_tokens, tokenizer);
        TextStream {
            translation,
            encoder,
            prompt_tokens,
            tokenizer,
        }
    }

    fn translation(
        decoder: TextDecoder,
        encoder: &SseEncoder,
        prompt_tokens: u64,
        tokenizer: Tokenizer,
    ) -> StreamTranslation {
        // The relay checks the opening for Argo's notice itself.
        StreamTranslation::new(decoder, encoder.clone())
            .counting(move || prompt_tokens, tokenizer)
            .unguarded()
    }

    /// A stream whose text may carry prompt-based tool calls.
    pub fn with_tool_scanner(mut self, scanner: ToolScanner) -> Self {
        self.translation = Self::translation(
            TextDecoder::with_tool_scanner(scanner),
            &self.encoder,
            self.prompt_tokens,
            self.tokenizer,
        );
        self
    }

    /// The opening event(s), sent as soon as Argo has accepted the request.
    pub fn start(&mut self) -> Vec<u8> {
        self.translation.start()
    }

    /// One upstream fragment; the events to send now (empty when the fragment held no whole
    /// character).
    pub fn feed(&mut self, fragment: &[u8]) -> Vec<u8> {
        let mut out = self.start();
        self.feed_into(&mut out, fragment);
        out
    }

    /// [`Self::feed`], appending to `out`: fragments that arrived together become one write.
    pub fn feed_into(&mut self, out: &mut Vec<u8>, fragment: &[u8]) {
        out.reserve(self.encoder.text_overhead() + fragment.len() + fragment.len() / 8);
        // Unguarded, with a decoder that reports no errors: nothing to refuse.
        let _ = self.translation.feed_into(out, fragment);
    }

    /// The upstream ended normally.
    pub fn finish(&mut self) -> Vec<u8> {
        self.translation.finish().unwrap_or_default()
    }

    /// The upstream failed after the stream started.
    pub fn fail(&mut self, error: &ApiError) -> Vec<u8> {
        self.translation.fail(error)
    }

    pub fn usage(&mut self) -> Usage {
        self.translation.usage().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn chat_stream(include_usage: bool) -> TextStream {
        TextStream::new(
            SseEncoder::new(StreamKind::Chat, &meta(), include_usage),
            10,
            Tokenizer::Estimate,
        )
    }

    #[test]
    fn chat_events_have_openai_shape_and_stable_identity() {
        let mut stream = chat_stream(false);
        let mut sse = stream.feed(b"Hel");
        sse.extend(stream.feed(b"lo"));
        sse.extend(stream.finish());
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
    fn fragments_fed_into_one_buffer_equal_separate_feeds() {
        let fragments: [&[u8]; 4] = [b"Hel", b"lo \xe4\xb8", b"\x96!", b""];
        let mut separate = chat_stream(false);
        let mut joined = chat_stream(false);
        let mut expected = Vec::new();
        let mut batched = Vec::new();
        for fragment in fragments {
            expected.extend(separate.feed(fragment));
            joined.feed_into(&mut batched, fragment);
        }
        assert_eq!(String::from_utf8(batched), String::from_utf8(expected));
        assert_eq!(joined.usage(), separate.usage());
    }

    #[test]
    fn include_usage_adds_a_final_usage_event_with_empty_choices() {
        let mut stream = chat_stream(true);
        let mut sse = stream.feed(b"abcdefgh");
        sse.extend(stream.finish());
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
    fn split_utf8_characters_arrive_whole_and_empty_fragments_send_nothing() {
        let text = "héllo, 世界! 🎉";
        for split in 1..4 {
            let mut stream = chat_stream(false);
            let mut received = String::new();
            for piece in text.as_bytes().chunks(split) {
                for event in events(&stream.feed(piece)) {
                    if let Some(content) = json(&event)["choices"][0]["delta"]["content"].as_str() {
                        received.push_str(content);
                    }
                }
            }
            assert_eq!(received, text, "split every {split} bytes");
        }
        let mut stream = chat_stream(false);
        stream.start();
        assert!(stream.feed(b"").is_empty());
        assert!(
            stream.feed(&[0xe4, 0xb8]).is_empty(),
            "half a character waits"
        );
        assert_eq!(
            json(&events(&stream.feed(&[0x96]))[0])["choices"][0]["delta"]["content"],
            "世"
        );
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
        let meta = ResponseMeta {
            id: "cmpl-1".into(),
            created: 5,
            model: "gpt-4o".into(),
        };
        let mut stream = TextStream::new(
            SseEncoder::new(StreamKind::Completion, &meta, false),
            1,
            Tokenizer::Estimate,
        );
        let mut sse = stream.start();
        sse.extend(stream.feed(b"Hi"));
        sse.extend(stream.finish());
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
        let mut stream = chat_stream(false);
        let mut sse = stream.feed(b"partial");
        sse.extend(stream.fail(&ApiError::bad_gateway("Argo cut the stream")));
        let events = events(&sse);
        let error = json(events.last().unwrap());
        assert_eq!(error["error"]["message"], "Argo cut the stream");
        assert_eq!(error["error"]["type"], "upstream_error");
        assert!(!events.iter().any(|e| e == "[DONE]"));
    }

    fn contents(sse: &[u8]) -> String {
        events(sse)
            .iter()
            .filter(|event| *event != "[DONE]")
            .filter_map(|event| {
                json(event)["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn a_runaway_tool_block_reaches_the_client_as_text_while_streaming() {
        let cap = 100;
        let scanner = ToolScanner::new(vec!["f".into()], "chatcmpl-abc").with_max_block_bytes(cap);
        let mut stream = chat_stream(false).with_tool_scanner(scanner);
        let text = format!("Hi <tool_call>{}", "y".repeat(1000));
        let mut before_finish = Vec::new();
        for fragment in text.as_bytes().chunks(7) {
            before_finish.extend(stream.feed(fragment));
        }
        let streamed = contents(&before_finish);
        assert!(
            streamed.len() + cap + 20 >= text.len(),
            "held back at most the cap and a tag: {} of {}",
            streamed.len(),
            text.len()
        );
        let mut sse = before_finish;
        sse.extend(stream.finish());
        assert_eq!(contents(&sse), text);
        assert!(events(&sse)
            .iter()
            .any(|event| event.contains(r#""finish_reason":"stop""#)));
    }

    #[test]
    fn tool_call_deltas_carry_index_id_name_then_arguments() {
        let encoder = SseEncoder::new(StreamKind::Chat, &meta(), false);
        let mut out = Vec::new();
        let calls = [
            serde_json::json!({"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}),
        ];
        encoder.tool_call(&mut out, 0, &calls[0]);
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

/// A whole stream built from a non-streaming answer, for requests Argo cannot stream (tools, or
/// models whose `streamchat` is unavailable): every client that asks for a stream gets one.
pub fn synthesize(encoder: &SseEncoder, reply: &crate::chat::Reply, usage: Usage) -> Vec<u8> {
    crate::translate::replay(&mut encoder.clone(), &reply.answer(), usage.into())
}

#[cfg(test)]
mod synthesize_tests {
    use super::*;
    use crate::chat::Reply;

    #[test]
    fn synthesized_stream_carries_text_tool_calls_and_finish_reason() {
        let meta = ResponseMeta {
            id: "chatcmpl-s".into(),
            created: 1,
            model: "gpt-4o".into(),
        };
        let encoder = SseEncoder::new(StreamKind::Chat, &meta, true);
        let reply = Reply {
            content: Some("Let me check.".into()),
            tool_calls: vec![
                serde_json::json!({"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}),
            ],
        };
        let sse = String::from_utf8(synthesize(&encoder, &reply, Usage::new(3, 4))).unwrap();
        let events: Vec<&str> = sse.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert!(events[0].contains(r#""role":"assistant""#));
        assert!(events[1].contains(r#""content":"Let me check.""#));
        assert!(events[2].contains(r#""id":"call_9""#));
        assert!(events
            .iter()
            .any(|e| e.contains(r#""finish_reason":"tool_calls""#)));
        assert!(events[events.len() - 2].contains(r#""total_tokens":7"#));
        assert_eq!(events[events.len() - 1], "data: [DONE]");
    }
}
