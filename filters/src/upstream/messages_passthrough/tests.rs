use super::collect::*;
use super::relay::*;
use super::request::*;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};
use crate::fixtures::{self, claude, meta, split, ANTHROPIC_STREAM};
use crate::hub::Usage;
use crate::models::{ModelSpec, Thinking};
use crate::sse::SseParser;
use crate::translate::StreamTranslation;

fn budget_only() -> ModelSpec {
    ModelSpec {
        thinking: Thinking::Budget,
        ..claude()
    }
}

fn adaptive_only() -> ModelSpec {
    ModelSpec {
        thinking: Thinking::Adaptive,
        sampling: crate::models::Sampling::None,
        ..claude()
    }
}

fn rewritten(body: &Value, model: &ModelSpec) -> Value {
    let body = body.to_string();
    let request = read_request(body.as_bytes()).unwrap();
    serde_json::from_slice(&request.request_body(model, "alice").unwrap()).unwrap()
}

fn hi() -> Value {
    json!([{"role": "user", "content": "hi"}])
}

#[test]
fn identity_model_and_stream_are_the_gateways_and_the_rest_passes_as_written() {
    let client = json!({"model": "claude-sonnet-4.6", "max_tokens": 1000, "stream": false,
        "user": "mallory", "metadata": {"user_id": "mallory", "tag": 1}, "safety_identifier": "m",
        "system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
             "cache_control": {"type": "ephemeral"}, "citations": {"enabled": true}},
            {"type": "text", "text": "summarize"}]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EncRypted"},
                {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "go on"}],
        "stop_sequences": ["END"], "tools": [{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
        "service_tier": "auto", "container": null});
    let body = rewritten(&client, &claude());
    let mut expected = client.clone();
    for (key, value) in [
        ("model", json!("claudesonnet46")),
        ("user", json!("alice")),
        ("metadata", json!({"user_id": "alice", "tag": 1})),
        ("stream", json!(true)),
    ] {
        expected[key] = value;
    }
    expected
        .as_object_mut()
        .unwrap()
        .remove("safety_identifier");
    assert_eq!(body, expected);
    // Escaped spellings of the identity are found as JSON means them.
    let escaped = r#"{"model":"claude-sonnet-4.6","max_tokens":10,"messages":[{"role":"user","content":"x"}],"us\u0065r":"mallory","m\u0065tadata":{"user_id":"mallory"}}"#;
    let request = read_request(escaped.as_bytes()).unwrap();
    let text = String::from_utf8(request.request_body(&claude(), "alice").unwrap()).unwrap();
    assert!(!text.contains("mallory"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["metadata"], json!({"user_id": "alice"}));
    let twice = r#"{"model":"a","m\u006fdel":"b","max_tokens":1,"messages":[]}"#;
    assert_eq!(read_request(twice.as_bytes()).unwrap_err().status, 400);
}

#[test]
fn anthropics_required_fields_are_refused_here_in_its_words() {
    for (body, param) in [
        (json!({"model": "m", "messages": hi()}), "max_tokens"),
        (json!({"max_tokens": 1, "messages": hi()}), "model"),
        (json!({"model": "m", "max_tokens": 1}), "messages"),
        (
            json!({"model": "m", "max_tokens": -1, "messages": hi()}),
            "max_tokens",
        ),
    ] {
        let error = read_request(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (error.status, error.param.as_deref()),
            (400, Some(param)),
            "{body}"
        );
    }
    let counted = json!({"model": "m", "messages": hi()}).to_string();
    assert!(read_count_tokens_request(counted.as_bytes()).is_ok());
}

#[test]
fn sampling_and_top_k_follow_the_table() {
    let asked = json!({"model": "m", "max_tokens": 100, "messages": hi(),
        "temperature": 0.3, "top_p": 0.5, "top_k": 40});
    let body = rewritten(&asked, &claude());
    assert_eq!(
        (
            body["temperature"].as_f64(),
            body.get("top_p"),
            body.get("top_k")
        ),
        (Some(0.3), None, None),
        "one of temperature and top_p; top_k only where the row says"
    );
    let with_top_k = ModelSpec {
        top_k: true,
        sampling: crate::models::Sampling::Any,
        ..claude()
    };
    let body = rewritten(&asked, &with_top_k);
    assert_eq!(
        (body["top_p"].as_f64(), body["top_k"].as_u64()),
        (Some(0.5), Some(40))
    );
    let body = rewritten(&asked, &adaptive_only());
    assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
    let mut thinking = asked.clone();
    thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
    thinking["max_tokens"] = json!(4000);
    let body = rewritten(&thinking, &with_top_k);
    assert!(
        body.get("temperature").is_none()
            && body.get("top_p").is_none()
            && body.get("top_k").is_none(),
        "Anthropic takes only the default sampling with thinking: {body}"
    );
}

fn thinking_sent(thinking: Value, max_tokens: u64, model: &ModelSpec) -> Option<Value> {
    let asked = json!({"model": "m", "max_tokens": max_tokens, "messages": hi(),
        "thinking": thinking, "output_config": {"effort": "low"}});
    rewritten(&asked, model).get("thinking").cloned()
}

#[test]
fn thinking_is_fitted_to_what_the_model_takes() {
    let enabled = json!({"type": "enabled", "budget_tokens": 2000});
    let adaptive = json!({"type": "adaptive"});
    assert_eq!(
        thinking_sent(enabled.clone(), 4000, &budget_only()),
        Some(enabled.clone())
    );
    assert_eq!(
        thinking_sent(enabled.clone(), 4000, &claude()),
        Some(enabled.clone())
    );
    assert_eq!(
        thinking_sent(enabled.clone(), 2000, &budget_only()),
        Some(json!({"type": "enabled", "budget_tokens": 1999})),
        "the budget stays below max_tokens"
    );
    assert_eq!(
        thinking_sent(enabled.clone(), 1024, &budget_only()),
        None,
        "no budget fits"
    );
    assert_eq!(
        thinking_sent(enabled.clone(), 4000, &adaptive_only()),
        Some(adaptive.clone())
    );
    assert_eq!(
        thinking_sent(adaptive.clone(), 4000, &claude()),
        Some(adaptive.clone())
    );
    assert_eq!(
        thinking_sent(adaptive.clone(), 8000, &budget_only()),
        Some(json!({"type": "enabled", "budget_tokens": 4000})),
        "a budget from the effort"
    );
    let none = ModelSpec {
        thinking: Thinking::None,
        ..claude()
    };
    assert_eq!(thinking_sent(enabled.clone(), 4000, &none), None);
    assert_eq!(thinking_sent(adaptive, 4000, &none), None);
    let disabled = json!({"type": "disabled"});
    assert_eq!(thinking_sent(disabled.clone(), 4000, &none), Some(disabled));
}

#[test]
fn an_effort_the_model_does_not_take_is_left_out() {
    let config = |config: Value, thinking: Option<Value>, model: &ModelSpec| {
        let mut asked =
            json!({"model": "m", "max_tokens": 8000, "messages": hi(), "output_config": config});
        if let Some(thinking) = thinking {
            asked["thinking"] = thinking;
        }
        rewritten(&asked, model).get("output_config").cloned()
    };
    let high = json!({"effort": "high"});
    assert_eq!(
        config(high.clone(), None, &budget_only()),
        Some(high.clone())
    );
    assert_eq!(config(json!({"effort": "max"}), None, &claude()), None);
    assert_eq!(
        config(
            json!({"effort": "max", "format": {"type": "json_schema"}}),
            None,
            &claude()
        ),
        Some(json!({"format": {"type": "json_schema"}}))
    );
    let enabled = json!({"type": "enabled", "budget_tokens": 2000});
    assert_eq!(
        config(high.clone(), Some(enabled.clone()), &budget_only()),
        None,
        "no effort beside a budget"
    );
    assert_eq!(config(high.clone(), Some(enabled), &claude()), Some(high));
}

#[test]
fn thinking_blocks_argo_refuses_are_dropped_from_history() {
    let thinking = |block: Value| {
        json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [block, {"type": "text", "text": "answer"}]},
            {"role": "user", "content": [{"type": "thinking", "thinking": "", "signature": "user's own"}]}]})
    };
    let signed = json!({"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"});
    for (block, kept) in [
        (signed.clone(), true),
        (json!({"type": "redacted_thinking", "data": "x"}), true),
        (
            json!({"type": "thinking", "thinking": "", "signature": "c2ln"}),
            false,
        ),
        (
            json!({"type": "thinking", "thinking": " \n", "signature": "c2ln"}),
            false,
        ),
        (json!({"type": "thinking", "signature": "c2ln"}), false),
        (
            json!({"type": "thinking", "thinking": null, "signature": "c2ln"}),
            false,
        ),
        (json!({"type": "thinking", "thinking": "unsigned"}), false),
        (
            json!({"type": "thinking", "thinking": "unsigned", "signature": ""}),
            false,
        ),
        (json!({"t\u{79}pe": "thinking", "thinking": "x"}), false),
    ] {
        let body = rewritten(&thinking(block.clone()), &claude());
        let content = &body["messages"][1]["content"];
        assert_eq!(content[0] == block, kept, "{block}: {content}");
        assert_eq!(content.as_array().unwrap().len(), if kept { 2 } else { 1 });
        assert_eq!(
            body["messages"][2]["content"][0]["signature"], "user's own",
            "only assistant turns are repaired"
        );
    }
    let escaped = r#"{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"t\u0068inking","thinking":""},{"type":"text","text":"a"}]}]}"#;
    let request = read_request(escaped.as_bytes()).unwrap();
    let body: Value =
        serde_json::from_slice(&request.request_body(&claude(), "alice").unwrap()).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "text", "text": "a"}])
    );
    let only_thinking = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "unsigned"}]},
        {"role": "user", "content": "again"}]});
    let body = rewritten(&only_thinking, &claude());
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]),
        "an assistant turn left empty goes"
    );
}

#[test]
fn count_tokens_gets_only_what_it_takes() {
    let client = json!({"model": "claude-sonnet-4.6", "max_tokens": 10, "stream": true,
        "temperature": 0.5, "metadata": {"user_id": "mallory"}, "user": "mallory",
        "system": "s", "messages": hi(), "tools": [{"name": "f", "input_schema": {}}],
        "thinking": {"type": "adaptive"}, "stop_sequences": ["x"], "cache_control": {"type": "ephemeral"}});
    let client = client.to_string();
    let request = read_count_tokens_request(client.as_bytes()).unwrap();
    let body: Value =
        serde_json::from_slice(&request.count_tokens_body(&claude(), "alice").unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"model": "claudesonnet46", "user": "alice", "system": "s", "messages": hi(),
            "tools": [{"name": "f", "input_schema": {}}], "thinking": {"type": "adaptive"},
            "cache_control": {"type": "ephemeral"}})
    );
}

fn relay(pieces: &[&[u8]]) -> (Vec<u8>, StreamTranslation) {
    let mut translation = stream(&meta());
    (fixtures::relay(&mut translation, pieces), translation)
}

/// Each event of an Anthropic stream: its name and data.
fn events(sse: &[u8]) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut parser = SseParser::default();
    let mut push = |name: &[u8], data: &[u8]| {
        let name = String::from_utf8(name.to_vec()).unwrap();
        events.push((name, serde_json::from_slice(data).unwrap()));
    };
    parser.feed(sse, &mut push);
    parser.finish(&mut push);
    events
}

#[test]
fn the_stream_is_relayed_as_argo_sent_it_under_the_gateways_identity() {
    let (out, mut translation) = relay(&[ANTHROPIC_STREAM.as_bytes()]);
    let relayed = events(&out);
    let argo = events(ANTHROPIC_STREAM.as_bytes());
    assert_eq!(relayed.len(), argo.len());
    let mut expected = argo[0].clone();
    expected.1["message"]["id"] = json!("chatcmpl-gw123");
    expected.1["message"]["model"] = json!("claude-sonnet-4.6");
    assert_eq!(relayed[0], expected);
    assert_eq!(relayed[1..], argo[1..], "the rest as Argo sent it");
    assert!(translation.usage_reported() && translation.failure().is_none());
    let usage = translation.usage();
    assert_eq!(
        (usage.input_tokens, usage.cached_input_tokens),
        (572, Some(100)),
        "cache reads count in the prompt"
    );
}

#[test]
fn the_stream_relays_alike_split_at_every_byte() {
    let stream = ANTHROPIC_STREAM.as_bytes();
    let whole = relay(&[stream]).0;
    for at in 0..=stream.len() {
        assert_eq!(
            relay(&[&stream[..at], &stream[at..]]).0,
            whole,
            "split at {at}"
        );
    }
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn text_delta(text: &str) -> String {
    event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
    )
}

fn opening() -> String {
    event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "model": "claudesonnet46", "content": [], "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": null, "output_tokens": 1,
        "cache_read_input_tokens": null}}}),
    ) + &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    )
}

#[test]
fn the_notice_is_a_403_and_nothing_of_it_is_sent() {
    let (head, tail) = fixtures::NOTICE.split_at(20);
    let mut translation = stream(&meta());
    let mut out = translation.start();
    translation
        .feed_into(&mut out, opening().as_bytes())
        .unwrap();
    translation
        .feed_into(&mut out, text_delta(head).as_bytes())
        .unwrap();
    let error = translation
        .feed_into(&mut out, text_delta(tail).as_bytes())
        .unwrap_err();
    assert_eq!(
        (error.status, error.code),
        (403, Some(ErrorCode::UpstreamUserNotRegistered))
    );
    assert!(out.is_empty());
}

#[test]
fn errors_inside_the_stream_reach_the_client_as_errors() {
    let overloaded = event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let mut early = stream(&meta());
    let early_error = early
        .feed_into(&mut Vec::new(), (opening() + &overloaded).as_bytes())
        .unwrap_err();
    assert_eq!(early_error.status, 503);
    let mut late = stream(&meta());
    let mut out = Vec::new();
    late.feed_into(&mut out, (opening() + &text_delta("Hello")).as_bytes())
        .unwrap();
    late.feed_into(&mut out, overloaded.as_bytes()).unwrap();
    late.feed_into(&mut out, text_delta("ignored").as_bytes())
        .unwrap();
    out.extend(late.finish().unwrap());
    let relayed = events(&out);
    let last = relayed.last().unwrap();
    assert_eq!(
        (last.0.as_str(), &last.1["error"]["type"]),
        ("error", &json!("overloaded_error"))
    );
    assert!(!String::from_utf8_lossy(&out).contains("ignored"));
    assert!(late.failure().is_some());
    let mut cut = stream(&meta());
    let mut out = Vec::new();
    cut.feed_into(&mut out, (opening() + &text_delta("Hello")).as_bytes())
        .unwrap();
    out.extend(cut.finish().unwrap());
    assert_eq!(
        events(&out).last().unwrap().0,
        "error",
        "a stream cut short ends in an error"
    );
    assert_eq!(
        cut.failure().unwrap().code,
        Some(ErrorCode::UpstreamTruncated)
    );
}

#[test]
fn usage_nulls_and_a_missing_input_count_are_tolerated() {
    let ending = event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ) + &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
            "stop_sequence": null}, "usage": {"output_tokens": 7, "cache_creation_input_tokens": null}}),
    );
    let whole = opening() + &text_delta("Hi") + &ending;
    let (out, mut translation) = relay(&[whole.as_bytes()]);
    assert_eq!(
        events(&out).last().unwrap().0,
        "message_stop",
        "the end Argo left out is added"
    );
    assert_eq!(
        translation.usage(),
        Usage {
            input_tokens: 0,
            output_tokens: 7,
            cached_input_tokens: None
        }
    );
}

/// The stream with a redacted block, a citation and a stop sequence, as Argo might send it.
fn rich_stream() -> String {
    let start = |index: u64, block: Value| {
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let delta = |index: u64, delta: Value| {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let stop = |index: u64| {
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        )
    };
    [
        event("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "claudesonnet45", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 30000, "cache_creation": {"ephemeral_5m_input_tokens": 2000}, "output_tokens": 1}}})),
        start(0, json!({"type": "redacted_thinking", "data": "EncRypted"})),
        stop(0),
        start(1, json!({"type": "thinking", "thinking": "", "signature": ""})),
        delta(1, json!({"type": "thinking_delta", "thinking": "Hmm, "})),
        delta(1, json!({"type": "thinking_delta", "thinking": "PDF."})),
        delta(1, json!({"type": "signature_delta", "signature": "c2ln"})),
        stop(1),
        event("ping", json!({"type": "ping"})),
        start(2, json!({"type": "text", "text": ""})),
        delta(2, json!({"type": "citations_delta", "citation": {"type": "page_location", "cited_text": "x", "start_page_number": 1}})),
        delta(2, json!({"type": "text_delta", "text": "It says \"x\" "})),
        delta(2, json!({"type": "text_delta", "text": "😊"})),
        stop(2),
        start(3, json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})),
        delta(3, json!({"type": "input_json_delta", "partial_json": "{\"a\": "})),
        delta(3, json!({"type": "input_json_delta", "partial_json": "[1]}"})),
        stop(3),
        event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "stop_sequence",
            "stop_sequence": "END"}, "usage": {"output_tokens": 42, "cache_read_input_tokens": null}})),
        event("message_stop", json!({"type": "message_stop"})),
    ]
    .concat()
}

fn collected(pieces: &[&[u8]]) -> Result<(Vec<u8>, Usage), ApiError> {
    let mut collector = MessageCollector::default();
    for piece in pieces {
        collector.feed(piece);
    }
    collector.finish(&meta())
}

#[test]
fn one_answer_keeps_every_block_and_field_argo_sent() {
    let stream = rich_stream();
    let (json, usage) = collected(&[stream.as_bytes()]).unwrap();
    let message: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        message,
        json!({"id": "chatcmpl-gw123", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4.6", "content": [
                {"type": "redacted_thinking", "data": "EncRypted"},
                {"type": "thinking", "thinking": "Hmm, PDF.", "signature": "c2ln"},
                {"type": "text", "text": "It says \"x\" 😊", "citations": [
                    {"type": "page_location", "cited_text": "x", "start_page_number": 1}]},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1]}}],
            "stop_reason": "stop_sequence", "stop_sequence": "END",
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 30000, "cache_creation": {"ephemeral_5m_input_tokens": 2000},
                "output_tokens": 42}})
    );
    assert_eq!(
        usage,
        Usage {
            input_tokens: 32_010,
            output_tokens: 42,
            cached_input_tokens: Some(30_000)
        }
    );
}

#[test]
fn one_answer_fails_as_the_stream_did() {
    let overloaded = event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
    );
    let error = collected(&[(opening() + &text_delta("Hi") + &overloaded).as_bytes()]).unwrap_err();
    assert_eq!(error.code, Some(ErrorCode::UpstreamOverloaded));
    let cut = collected(&[(opening() + &text_delta("Hi")).as_bytes()]).unwrap_err();
    assert_eq!(cut.code, Some(ErrorCode::UpstreamTruncated));
    let end = event("message_stop", json!({"type": "message_stop"}));
    let notice = opening()
        + &text_delta(&fixtures::NOTICE[..30])
        + &text_delta(&fixtures::NOTICE[30..])
        + &end;
    assert_eq!(collected(&[notice.as_bytes()]).unwrap_err().status, 403);
    let bad_input = opening().replace(
        "\"text\",\"text\":\"\"",
        "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}",
    ) + &event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
    ) + &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ) + &end;
    assert_eq!(collected(&[bad_input.as_bytes()]).unwrap_err().status, 502);
}

proptest! {
    #[test]
    fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = rich_stream();
        let stream = stream.as_bytes();
        prop_assert_eq!(relay(&split(stream, &cuts)).0, relay(&[stream]).0);
    }

    #[test]
    fn one_answer_collects_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = rich_stream();
        let stream = stream.as_bytes();
        prop_assert_eq!(
            collected(&split(stream, &cuts)).map(|(json, _)| json).ok(),
            collected(&[stream]).map(|(json, _)| json).ok()
        );
    }
}
