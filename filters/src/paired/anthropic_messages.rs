//! The Anthropic Messages spoke paired with the upstreams: its requests as Argo gets them,
//! Argo's streams as Messages streams.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::client::anthropic_messages::tests::{
    assistant, body, meta, named_events, read, user, Streamed,
};
use crate::client::anthropic_messages::*;
use crate::error::ApiError;
use crate::fixtures::{claude, relay, split, ANTHROPIC_STREAM, OPENAI_STREAM};
use crate::hub::Event;
use crate::models::ModelSpec;
use crate::translate::{Encoder, StreamTranslation};
use crate::upstream::{anthropic, openai_native};

/// A Claude Code turn: cached system blocks, thinking, a call and its result.
fn claude_code_request() -> Value {
    json!({"model": "claude-sonnet-4.6", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            user(json!([{"type": "text", "text": "Read main.rs"}])),
            assistant(json!([
                {"type": "thinking", "thinking": "Need the file.", "signature": "sig1"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "main.rs"}}])),
            user(json!([
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "fn main() {}"}]},
                {"type": "text", "text": "Explain it.", "cache_control": {"type": "ephemeral"}}]))],
        "tools": [{"name": "Read", "description": "Reads a file",
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}],
        "tool_choice": {"type": "auto"}, "temperature": 1, "stop_sequences": ["</done>"],
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
        "metadata": {"user_id": "mallory"}, "top_k": 5})
}
#[test]
fn top_k_reaches_argo_only_where_the_table_lets_it_and_never_with_thinking() {
    let sent = |request: Value, model: &ModelSpec| -> Value {
        let body = anthropic::request_body(&read(request), model, "alice", true).unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    let asked = body(json!({"top_k": 40}));
    let takes_it = ModelSpec {
        top_k: true,
        ..claude()
    };
    assert!(
        sent(asked.clone(), &claude()).get("top_k").is_none(),
        "off by default"
    );
    assert_eq!(sent(asked, &takes_it)["top_k"], 40);
    let thinking = sent(
        body(json!({"top_k": 40, "output_config": {"effort": "high"}})),
        &takes_it,
    );
    assert_eq!(thinking["thinking"]["type"], "adaptive");
    assert!(thinking.get("top_k").is_none());
    assert!(sent(body(json!({})), &takes_it).get("top_k").is_none());
}
#[test]
fn a_claude_request_reaches_argos_messages_endpoint_nearly_as_sent() {
    let conversation = read(claude_code_request());
    let sent: Value = serde_json::from_slice(
        &anthropic::request_body(&conversation, &claude(), "alice", true).unwrap(),
    )
    .unwrap();
    let request = claude_code_request();
    assert_eq!(
        sent,
        json!({"model": "claudesonnet46", "max_tokens": 32000, "stream": true,
            "system": "You are Claude Code.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Read main.rs"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Need the file.", "signature": "sig1"},
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "main.rs"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fn main() {}"},
                    {"type": "text", "text": "Explain it."}]}],
            "tools": request["tools"], "tool_choice": {"type": "auto"},
            "temperature": 1.0, "stop_sequences": ["</done>"],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
            "user": "alice", "metadata": {"user_id": "alice"}}),
        "cache_control is dropped; top_k stays in extra, kept from Argo by the model table (claude() does not take it)"
    );
}
#[test]
fn extra_fields_never_replace_the_gateways_identity_or_model() {
    let mut conversation = read(body(json!({"metadata": {"user_id": "mallory"}})));
    for (key, value) in [
        ("metadata", json!({"user_id": "mallory"})),
        ("user", json!("mallory")),
        ("model", json!("claudeopus47")),
        ("max_tokens", json!(1)),
    ] {
        conversation.extra.insert(key.into(), value);
    }
    let sent = anthropic::request_body(&conversation, &claude(), "alice", false).unwrap();
    let text = String::from_utf8(sent.clone()).unwrap();
    for key in [
        "\"metadata\":",
        "\"user\":",
        "\"model\":",
        "\"max_tokens\":",
    ] {
        assert_eq!(text.matches(key).count(), 1, "{key} once: {text}");
    }
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(
        (
            &sent["user"],
            &sent["metadata"],
            &sent["model"],
            &sent["max_tokens"]
        ),
        (
            &json!("alice"),
            &json!({"user_id": "alice"}),
            &json!("claudesonnet46"),
            &json!(1024)
        )
    );
}
#[test]
fn escaped_spellings_of_identity_fields_are_those_fields() {
    let raw = r#"{"model":"claude-sonnet-4.6","max_t\u006fkens":1024,"messages":[{"role":"user","content":"hi"}],
        "us\u0065r":"mallory","met\u0061data":{"us\u0065r_id":"mallory"},"s\u0061fety_identifier":"mallory"}"#;
    let (conversation, _) = read_request(raw.as_bytes()).unwrap();
    let sent = anthropic::request_body(&conversation, &claude(), "alice", false).unwrap();
    let text = String::from_utf8(sent).unwrap();
    assert!(!text.contains("mallory"), "{text}");
    assert!(
        text.contains(r#""user":"alice""#) && text.contains(r#""metadata":{"user_id":"alice"}"#)
    );
}
fn from_claude() -> StreamTranslation {
    StreamTranslation::new(anthropic::SseDecoder::new(), encoder(&meta()))
}
fn from_openai() -> StreamTranslation {
    StreamTranslation::new(openai_native::SseDecoder::new(), encoder(&meta()))
}
#[test]
fn claudes_stream_comes_back_as_claude_sent_it() {
    let out = relay(&mut from_claude(), &[ANTHROPIC_STREAM.as_bytes()]);
    let streamed = Streamed::of(&out);
    assert_eq!(
        streamed.message,
        json!({"id": "msg-gw123", "type": "message", "role": "assistant", "model": "claude-sonnet-4.6",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}})
    );
    assert_eq!(
        streamed.blocks,
        vec![
            json!({"type": "thinking", "thinking": "The user wants the weather.", "signature": "EvUBCl0IDRACGAIqQFpN"}),
            json!({"type": "text", "text": "Let me check \"Paris\" 🌦️ for you."}),
            json!({"type": "tool_use", "id": "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": "{\"city\": \"Paris\"}"}),
        ]
    );
    assert_eq!(streamed.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(
        streamed.usage,
        json!({"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 89}),
        "Argo's own usage, cache reads apart again"
    );
    let deltas = named_events(&out)
        .into_iter()
        .filter(|(name, _)| name == "content_block_delta")
        .count();
    assert_eq!(deltas, 6, "every delta streams as it came");
}
#[test]
fn an_openai_stream_becomes_a_messages_stream() {
    let streamed = Streamed::of(&relay(&mut from_openai(), &[OPENAI_STREAM.as_bytes()]));
    assert_eq!(
        streamed.blocks,
        vec![
            json!({"type": "text", "text": "Pong! 😊 \"quoted\""}),
            json!({"type": "tool_use", "id": "call_y0po4Ztyj41x7Led1gGoTCs1", "name": "get_weather", "input": "{\"city\":\"Paris\"}"}),
        ]
    );
    assert_eq!(streamed.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(
        streamed.usage,
        json!({"input_tokens": 47, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 128, "output_tokens": 16})
    );
}
#[test]
fn a_mid_stream_error_is_anthropics_error_event_and_ends_the_stream() {
    let mut encoder = encoder(&meta());
    let mut out = Vec::new();
    encoder.start(&mut out);
    encoder.event(&mut out, &Event::TextDelta("Hi".into()));
    encoder.error(&mut out, &ApiError::gateway_timeout("Argo went quiet"));
    let streamed = Streamed::of(&out);
    assert_eq!(
        streamed.error,
        Some(json!({"type": "timeout_error", "message": "Argo went quiet"}))
    );
    let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let cut = ANTHROPIC_STREAM.find("event: content_block_stop").unwrap();
    let stream = format!("{}{overloaded}", &ANTHROPIC_STREAM[..cut]);
    let streamed = Streamed::of(&relay(&mut from_claude(), &[stream.as_bytes()]));
    assert_eq!(streamed.error.unwrap()["type"], "overloaded_error");
    assert!(streamed.stop_reason.is_none());
}
proptest! {
    #[test]
    fn upstream_streams_translate_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        for (stream, make) in [(ANTHROPIC_STREAM, from_claude as fn() -> StreamTranslation), (OPENAI_STREAM, from_openai)] {
            let whole = relay(&mut make(), &[stream.as_bytes()]);
            prop_assert_eq!(&relay(&mut make(), &split(stream.as_bytes(), &cuts)), &whole);
            Streamed::of(&whole);
        }
    }
}
