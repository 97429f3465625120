//! OpenAI chat and completion chunks written from the resource API's text stream.

use serde_json::Value;

use crate::error::ApiError;
use crate::fixtures::relay;
use crate::hub::Event;
use crate::openai::ResponseMeta;
use crate::stream::*;
use crate::translate::{Encoder, StreamTranslation};
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
