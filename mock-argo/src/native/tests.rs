use super::embeddings::*;
use super::said::*;
use super::turn::SIGNATURE;

use std::time::Duration;

use serde_json::{json, Value};

use crate::rules;
use crate::sse::{self, Step};
use crate::{Answer, MockArgo, MockOptions, MockRequest};

pub(super) fn mock() -> MockArgo {
    MockArgo::new(MockOptions {
        fragment_delay: Duration::from_millis(5),
        fragment_bytes: 4,
    })
}

pub(super) fn request(path: &str, headers: &[(&str, &str)], body: &Value) -> MockRequest {
    MockRequest {
        method: "POST".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        body: body.to_string().into_bytes(),
    }
}

const CHAT: &str = "/argoapi/v1/chat/completions";
pub(super) const MESSAGES: &str = "/argoapi/v1/messages";
const EMBEDDINGS: &str = "/argoapi/v1/embeddings";

fn openai(user: &str, body: Value) -> MockRequest {
    request(CHAT, &[("authorization", &format!("Bearer {user}"))], &body)
}

fn anthropic(user: &str, body: Value) -> MockRequest {
    request(
        MESSAGES,
        &[("x-api-key", user), ("anthropic-version", "2023-06-01")],
        &body,
    )
}

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "user": "alice", "messages": [{"role": "user", "content": text}]})
}

/// Streamed: Argo answers every unstreamed Claude call with a 500 (argo-api.md §C).
fn claude_body(model: &str, text: &str) -> Value {
    json!({"model": model, "user": "alice", "max_tokens": 1000, "metadata": {"user_id": "alice"},
        "stream": true, "messages": [{"role": "user", "content": text}]})
}

/// A Claude answer as a client sees it: a JSON answer as it is, a stream put together into
/// the message it carries.
pub(super) fn message_of(answer: Answer) -> (u16, Value) {
    if matches!(answer, Answer::Json { .. }) {
        return json_of(answer);
    }
    let (_, _, events) = stream_of(answer);
    let mut message = Value::Null;
    let append = |block: &mut Value, field: &str, piece: &Value| {
        let joined = format!(
            "{}{}",
            block[field].as_str().unwrap_or(""),
            piece.as_str().unwrap()
        );
        block[field] = json!(joined);
    };
    for (name, event) in events {
        match name.as_deref() {
            Some("message_start") => message = event["message"].clone(),
            Some("content_block_start") => message["content"]
                .as_array_mut()
                .unwrap()
                .push(event["content_block"].clone()),
            Some("content_block_delta") => {
                let block = &mut message["content"][event["index"].as_u64().unwrap() as usize];
                let delta = &event["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => append(block, "text", &delta["text"]),
                    "thinking_delta" => append(block, "thinking", &delta["thinking"]),
                    "signature_delta" => block["signature"] = delta["signature"].clone(),
                    "input_json_delta" => append(block, "partial_json", &delta["partial_json"]),
                    other => panic!("unexpected delta {other}"),
                }
            }
            Some("content_block_stop") => {
                let block = &mut message["content"][event["index"].as_u64().unwrap() as usize];
                if let Some(json) = block.as_object_mut().unwrap().remove("partial_json") {
                    block["input"] = serde_json::from_str(json.as_str().unwrap()).unwrap();
                }
            }
            Some("message_delta") => {
                message["stop_reason"] = event["delta"]["stop_reason"].clone();
                message["stop_sequence"] = event["delta"]["stop_sequence"].clone();
                message["usage"]["output_tokens"] = event["usage"]["output_tokens"].clone();
            }
            _ => {}
        }
    }
    (200, message)
}

pub(super) fn json_of(answer: Answer) -> (u16, Value) {
    match answer {
        Answer::Json { status, body, .. } => (status, serde_json::from_slice(&body).unwrap()),
        other => panic!("expected JSON, got {other:?}"),
    }
}

/// The stream's events: name (Anthropic) and `data:` payload, parsed unless `[DONE]`.
pub(super) type Events = Vec<(Option<String>, Value)>;

pub(super) fn stream_of(answer: Answer) -> (Vec<Step>, Duration, Events) {
    let Answer::Sse { steps, pause, .. } = answer else {
        panic!("expected a stream, got {answer:?}")
    };
    let events = sse::payloads(&steps)
        .into_iter()
        .map(|(name, data)| {
            let value = if data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(&data).unwrap()
            };
            (name, value)
        })
        .collect();
    (steps, pause, events)
}

fn openai_text(events: &[(Option<String>, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, e)| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

fn anthropic_deltas(events: &[(Option<String>, Value)], kind: &str, field: &str) -> String {
    events
        .iter()
        .filter(|(_, e)| e["delta"]["type"] == kind)
        .filter_map(|(_, e)| e["delta"][field].as_str())
        .collect()
}

fn directive(text: &str, directive: Value) -> String {
    format!("{text} #mock {directive}")
}

#[test]
fn chat_completions_needs_the_bearer_username() {
    let mock = mock();
    let body = chat_body("gpt4o", "hi");
    let (status, json) = message_of(mock.respond(&request(CHAT, &[], &body)).0);
    assert_eq!(status, 401);
    assert_eq!(json["error"]["code"], "invalid_api_key");
    for field in ["message", "type", "code"] {
        assert!(json["error"][field].is_string(), "{json}");
    }
    let (status, json) = message_of(mock.respond(&openai("bob", body.clone())).0);
    assert_eq!(status, 400);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`user`"));
    let (status, json) = message_of(mock.respond(&openai("alice", body)).0);
    assert_eq!(status, 200, "{json}");
    let mut without_user = chat_body("gpt4o", "hi");
    without_user.as_object_mut().unwrap().remove("user");
    assert_eq!(
        message_of(mock.respond(&openai("alice", without_user)).0).0,
        500,
        "argo-api.md §C (argo-shim): chat without a valid user is a 500"
    );
    let (status, json) = message_of(mock.respond(&openai("alice", chat_body("gpt4", "hi"))).0);
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    assert_eq!(
        message_of(mock.respond(&openai("alice", chat_body("v3small", "hi"))).0).0,
        400
    );
    let (status, json) = message_of(
        mock.respond(&openai("alice", json!({"model": "gpt4o", "user": "alice"})))
            .0,
    );
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("missing_required_parameter"))
    );
}

#[test]
fn chat_completions_answers_a_chat_completion_with_usage() {
    let (status, json) = json_of(
        mock()
            .respond(&openai("alice", chat_body("gpt5", "hi there")))
            .0,
    );
    assert_eq!(status, 200);
    assert_eq!(json["object"], "chat.completion");
    assert!(json["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(json["model"], "gpt-5-2025-08-07");
    let choice = &json["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Hello from mock Argo (gpt5). You said: hi there"
    );
    assert_eq!(choice["message"]["tool_calls"], Value::Null);
    let usage = &json["usage"];
    assert_eq!(usage["prompt_tokens"], 3);
    assert_eq!(
        usage["completion_tokens"],
        count_tokens("Hello from mock Argo (gpt5). You said: hi there")
    );
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    // The probe's refusals, in Argo's OpenAI envelope.
    let mut hot = chat_body("gpt5", "hi");
    hot["temperature"] = json!(0.5);
    let (status, json) = message_of(mock().respond(&openai("alice", hot)).0);
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (400, Some("BadRequestError"))
    );
}

#[test]
fn chat_completions_streams_openai_chunks() {
    let mut body = chat_body(
        "gpt4o",
        &directive(
            "x",
            json!({"reply": "héllo world", "fragment_bytes": 3, "fragment_delay_ms": 7}),
        ),
    );
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (steps, pause, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
    assert_eq!(pause, Duration::from_millis(7));
    let paced = steps.iter().filter(|s| matches!(s, Step::Paced(_))).count();
    assert_eq!(paced, sse::split("héllo world", 3).len());
    assert_eq!(events[0].1["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(events[0].1["object"], "chat.completion.chunk");
    assert_eq!(events[0].1["usage"], Value::Null);
    assert_eq!(openai_text(&events), "héllo world");
    assert_eq!(events[1].1["choices"][0]["delta"]["content"], "hé");
    let n = events.len();
    assert_eq!(events[n - 3].1["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[n - 2].1["choices"], json!([]));
    assert_eq!(events[n - 2].1["usage"]["completion_tokens"], 4);
    assert_eq!(events[n - 1].1, "[DONE]");
    // Without include_usage: no usage chunk, no `usage` field.
    body.as_object_mut().unwrap().remove("stream_options");
    let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
    assert!(events.iter().all(|(_, e)| e.get("usage").is_none()));
    assert_eq!(
        events[events.len() - 2].1["choices"][0]["finish_reason"],
        "stop"
    );
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

const WEATHER: &str = r#"What is the weather in Paris? #mock {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}"#;

#[test]
fn chat_completions_plays_the_weather_tool_loop() {
    for model in ["gpt4o", "gemini25pro"] {
        let mut body = chat_body(model, WEATHER);
        body["tools"] = weather_tools();
        let (_, json) = message_of(mock().respond(&openai("alice", body.clone())).0);
        let choice = &json["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["id"], "call_mock_1");
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
        // Streamed: the call's start, then its argument fragments.
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
        let first = &events[0].1["choices"][0]["delta"];
        assert_eq!(first["role"], "assistant");
        assert_eq!(
            first["tool_calls"][0],
            json!({"index": 0, "id": "call_mock_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}})
        );
        let arguments: String = events
            .iter()
            .filter_map(|(_, e)| e.pointer("/choices/0/delta/tool_calls/0/function/arguments"))
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(arguments, r#"{"city":"Paris"}"#);
        assert!(events
            .iter()
            .skip(1)
            .all(|(_, e)| e.pointer("/choices/0/delta/tool_calls/0/id").is_none()));
        assert_eq!(
            events[events.len() - 2].1["choices"][0]["finish_reason"],
            "tool_calls"
        );
        // The second turn carries the result and gets it quoted.
        body["messages"] = json!([{"role": "user", "content": WEATHER},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_mock_1", "content": "18C and sunny"}]);
        let (_, _, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(openai_text(&events), "The tool said: 18C and sunny");
        assert_eq!(
            events[events.len() - 2].1["choices"][0]["finish_reason"],
            "stop"
        );
        body["stream"] = json!(false);
        let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
        assert_eq!(
            json["choices"][0]["message"]["content"],
            "The tool said: 18C and sunny"
        );
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
    }
    // Claude on the OpenAI endpoint leaks the call into its text.
    let mut body = chat_body("claudesonnet45", WEATHER);
    body["tools"] = weather_tools();
    let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
    assert!(json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("'name': 'get_weather', 'type': 'tool_use'"));
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(json["model"], "claude-sonnet-4-5-20250929");
}

#[test]
fn messages_needs_the_anthropic_headers_and_max_tokens() {
    let mock = mock();
    let body = claude_body("claudesonnet45", "hi");
    let check = |request: MockRequest, status: u16, kind: &str| {
        let (got, json) = message_of(mock.respond(&request).0);
        assert_eq!(got, status, "{json}");
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], kind, "{json}");
        json["error"]["message"].as_str().unwrap().to_string()
    };
    check(
        request(MESSAGES, &[("anthropic-version", "2023-06-01")], &body),
        401,
        "authentication_error",
    );
    check(
        request(MESSAGES, &[("x-api-key", "alice")], &body),
        400,
        "invalid_request_error",
    );
    check(
        request(
            MESSAGES,
            &[("x-api-key", "alice"), ("anthropic-version", "latest")],
            &body,
        ),
        400,
        "invalid_request_error",
    );
    check(
        request(
            MESSAGES,
            &[
                ("authorization", "Bearer alice"),
                ("anthropic-version", "2023-06-01"),
            ],
            &body,
        ),
        401,
        "authentication_error",
    );
    let mut other = body.clone();
    other["metadata"]["user_id"] = json!("bob");
    assert!(
        check(anthropic("alice", other), 400, "invalid_request_error").contains("metadata.user_id")
    );
    check(anthropic("bob", body.clone()), 400, "invalid_request_error");
    let mut unbounded = body.clone();
    unbounded.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(
        message_of(mock.respond(&anthropic("alice", unbounded)).0).1,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens is required"}})
    );
    check(
        anthropic("alice", claude_body("gpt4o", "hi")),
        400,
        "invalid_request_error",
    );
    check(
        anthropic("alice", claude_body("claudesonnet4", "hi")),
        404,
        "not_found_error",
    );
    // argo-api.md §C (argo-proxy 3.2.1 / ChemGraph issue 150): every unstreamed call is a 500.
    let mut long = body.clone();
    long["max_tokens"] = json!(21_001);
    long["stream"] = json!(false);
    assert_eq!(
        message_of(mock.respond(&anthropic("alice", long.clone())).0),
        rules::streaming_required()
    );
    long["max_tokens"] = json!(10);
    assert_eq!(
        message_of(mock.respond(&anthropic("alice", long.clone())).0).0,
        500
    );
    long["max_tokens"] = json!(21_001);
    long["stream"] = json!(true);
    assert!(matches!(
        mock.respond(&anthropic("alice", long)).0,
        Answer::Sse { .. }
    ));
    let mut both = body;
    both["temperature"] = json!(0.5);
    both["top_p"] = json!(0.9);
    assert!(
        check(anthropic("alice", both), 400, "invalid_request_error")
            .contains("cannot both be specified")
    );
}

#[test]
fn messages_answers_an_anthropic_message() {
    let (status, json) = message_of(
        mock()
            .respond(&anthropic("alice", claude_body("claudeopus47", "ping")))
            .0,
    );
    assert_eq!(status, 200);
    assert!(json["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(json["type"], "message");
    assert_eq!(json["role"], "assistant");
    assert_eq!(json["model"], "claude-opus-4-7");
    assert_eq!(json["stop_reason"], "end_turn");
    assert_eq!(
        json["content"],
        json!([{"type": "text", "text": "Hello from mock Argo (claudeopus47). You said: ping"}])
    );
    let usage = &json["usage"];
    assert_eq!(usage["input_tokens"], 1);
    assert_eq!(usage["cache_read_input_tokens"], 0);
    assert_eq!(usage["cache_creation_input_tokens"], 0);
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    // max_tokens and stop sequences stop it early.
    let mut short = claude_body(
        "claudehaiku45",
        &directive("x", json!({"reply": "one two three four"})),
    );
    short["max_tokens"] = json!(2);
    let (_, json) = message_of(mock().respond(&anthropic("alice", short.clone())).0);
    assert_eq!(
        (
            json["stop_reason"].as_str(),
            json["content"][0]["text"].as_str()
        ),
        (Some("max_tokens"), Some("one two"))
    );
    assert!(json["stop_sequence"].is_null());
    short["max_tokens"] = json!(100);
    short["stop_sequences"] = json!(["four", " three"]);
    let (_, json) = message_of(mock().respond(&anthropic("alice", short)).0);
    assert_eq!(json["stop_reason"], "stop_sequence");
    assert_eq!(json["stop_sequence"], " three");
    assert_eq!(json["content"][0]["text"], "one two");
}

#[test]
fn messages_thinks_when_asked() {
    let mut body = claude_body("claudesonnet46", "ping");
    body["thinking"] = json!({"type": "adaptive"});
    let (_, json) = message_of(mock().respond(&anthropic("alice", body)).0);
    assert_eq!(json["content"][0]["type"], "thinking");
    assert_eq!(json["content"][0]["signature"], SIGNATURE);
    assert_eq!(json["content"][1]["type"], "text");
    let mut body = claude_body("claudeopus47", "ping");
    body["thinking"] = json!({"type": "adaptive"});
    let (_, json) = message_of(mock().respond(&anthropic("alice", body)).0);
    assert_eq!(json["content"][0]["type"], "text");
    let mut body = claude_body(
        "claudehaiku45",
        &directive("x", json!({"thinking": "Let me see.", "reply": "Done."})),
    );
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(
        anthropic_deltas(&events, "thinking_delta", "thinking"),
        "Let me see."
    );
    assert_eq!(
        anthropic_deltas(&events, "signature_delta", "signature"),
        SIGNATURE
    );
    assert_eq!(anthropic_deltas(&events, "text_delta", "text"), "Done.");
    let gpt = chat_body("gpt4o", &directive("x", json!({"thinking": "no"})));
    assert_eq!(message_of(mock().respond(&openai("alice", gpt)).0).0, 400);
}

#[test]
fn messages_send_a_redacted_thinking_block_when_asked() {
    let body = claude_body(
        "claudesonnet45",
        &directive(
            "x",
            json!({"redacted_thinking": "EncRypted", "reply": "Done."}),
        ),
    );
    let redacted = json!({"type": "redacted_thinking", "data": "EncRypted"});
    let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
    assert_eq!(json["content"][0], redacted);
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", streamed)).0);
    assert_eq!(events[1].1["content_block"], redacted);
    assert_eq!(events[3].1["type"], "content_block_stop");
    assert_eq!(anthropic_deltas(&events, "text_delta", "text"), "Done.");
}

#[test]
fn messages_streams_anthropic_events() {
    let mut body = claude_body(
        "claudesonnet45",
        &directive("x", json!({"reply": "Hello world", "fragment_bytes": 5})),
    );
    body["stream"] = json!(true);
    let (steps, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
    let names: Vec<&str> = events
        .iter()
        .map(|(name, _)| name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_deref().unwrap());
    }
    let start = &events[0].1["message"];
    assert_eq!(
        (start["role"].as_str(), start["content"].clone()),
        (Some("assistant"), json!([]))
    );
    assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 1);
    assert_eq!(
        anthropic_deltas(&events, "text_delta", "text"),
        "Hello world"
    );
    assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7].1["usage"]["output_tokens"], 4);
    assert_eq!(
        steps.iter().filter(|s| matches!(s, Step::Paced(_))).count(),
        3
    );
}

#[test]
fn messages_plays_the_weather_tool_loop() {
    let tools = json!([{"name": "get_weather", "description": "Current weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut body = claude_body("claudesonnet45", WEATHER);
    body["tools"] = tools;
    let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
    assert_eq!(json["stop_reason"], "tool_use");
    assert_eq!(
        json["content"],
        json!([{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body.clone())).0);
    let start = events
        .iter()
        .find(|(name, _)| name.as_deref() == Some("content_block_start"))
        .unwrap();
    assert_eq!(
        start.1["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
    );
    assert_eq!(
        anthropic_deltas(&events, "input_json_delta", "partial_json"),
        r#"{"city":"Paris"}"#
    );
    let delta = events
        .iter()
        .find(|(name, _)| name.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    body["messages"] = json!([{"role": "user", "content": WEATHER},
        {"role": "assistant", "content": json["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1",
            "content": [{"type": "text", "text": "18C and sunny"}]}]}]);
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body.clone())).0);
    assert_eq!(
        anthropic_deltas(&events, "text_delta", "text"),
        "The tool said: 18C and sunny"
    );
    let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
    assert_eq!(json["content"][0]["text"], "The tool said: 18C and sunny");
    assert_eq!(json["stop_reason"], "end_turn");
    body["stream"] = json!(false);
    assert_eq!(
        message_of(mock().respond(&anthropic("alice", body)).0),
        rules::streaming_required()
    );
}

#[test]
fn stream_directives_cut_repeat_fail_and_ping() {
    let mut body = claude_body(
        "claudesonnet45",
        &directive(
            "x",
            json!({"reply": "abcdefgh", "stream_error": "Overloaded"}),
        ),
    );
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
    let (name, last) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    assert_eq!(
        *last,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert!(events
        .iter()
        .all(|(name, _)| name.as_deref() != Some("message_stop")));
    let mut body = chat_body(
        "gpt4o",
        &directive(
            "x",
            json!({"reply": "abcdefgh", "stream_error": "boom", "pings": true}),
        ),
    );
    body["stream"] = json!(true);
    let (steps, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
    assert_eq!(events.last().unwrap().1["error"]["message"], "boom");
    assert!(events.iter().all(|(_, e)| *e != json!("[DONE]")));
    let pings = steps
        .iter()
        .filter(|s| s.bytes().starts_with(b": ping"))
        .count();
    assert_eq!(pings, 2);
    let mut body = chat_body(
        "gpt4o",
        &directive(
            "x",
            json!({"reply": "ab", "then_forever": "z", "cut_after": 5}),
        ),
    );
    body["stream"] = json!(true);
    let Answer::Sse {
        steps, cut_after, ..
    } = mock().respond(&openai("alice", body)).0
    else {
        panic!("expected a stream")
    };
    assert_eq!(cut_after, Some(5));
    assert!(
        matches!(steps.last(), Some(Step::Forever(bytes)) if String::from_utf8_lossy(bytes).contains("\"delta\":{\"content\":\"z\"}"))
    );
    let mut body = claude_body(
        "claudesonnet45",
        &directive("x", json!({"then_forever": "z", "pings": true})),
    );
    body["stream"] = json!(true);
    let Answer::Sse { steps, .. } = mock().respond(&anthropic("alice", body)).0 else {
        panic!("expected a stream")
    };
    assert!(
        matches!(steps.last(), Some(Step::Forever(bytes)) if String::from_utf8_lossy(bytes).contains("text_delta"))
    );
}

#[test]
fn scripted_failures_wear_the_dialect_envelope() {
    let body = claude_body(
        "claudesonnet45",
        &directive("x", json!({"status": 529, "retry_after": "2"})),
    );
    let (answer, _) = mock().respond(&anthropic("alice", body));
    assert!(matches!(&answer, Answer::Json { status: 529, retry_after: Some(r), .. } if r == "2"));
    assert_eq!(json_of(answer).1["error"]["type"], "overloaded_error");
    let body = chat_body(
        "gpt4o",
        &directive("x", json!({"status": 503, "delay_ms": 30})),
    );
    let (answer, delay) = mock().respond(&openai("alice", body));
    assert_eq!(delay, Duration::from_millis(30));
    assert_eq!(
        json_of(answer),
        (
            503,
            json!({"error": {"message": "mock failure", "type": "server_error", "code": "mock_failure"}})
        )
    );
    let body = chat_body("gpt4o", &directive("x", json!({"truncate": true})));
    assert!(matches!(
        mock().respond(&openai("alice", body)).0,
        Answer::Faulty { .. }
    ));
    let body = chat_body("gpt4o", &directive("x", json!({"response": {"odd": 1}})));
    assert_eq!(
        message_of(mock().respond(&openai("alice", body)).0),
        (200, json!({"odd": 1}))
    );
    let body = chat_body("gpt4o", "x #mock {\"nope\": 1}");
    assert_eq!(message_of(mock().respond(&openai("alice", body)).0).0, 400);
}

#[test]
fn echo_shows_the_request_with_its_auth_headers() {
    let body = claude_body(
        "claudesonnet45",
        &directive("x", json!({"echo_request": true})),
    );
    let mut request = anthropic("alice", body.clone());
    request
        .headers
        .push(("accept".into(), "text/event-stream".into()));
    let (_, json) = message_of(mock().respond(&request).0);
    let echoed: Value = serde_json::from_str(json["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["path"], MESSAGES);
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["body"], body);
    assert_eq!(echoed["headers"]["x-api-key"], "alice");
    assert_eq!(echoed["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(echoed["headers"]["accept"], "text/event-stream");
    assert_eq!(echoed["headers"]["authorization"], Value::Null);
    let body = chat_body(
        "gpt4o",
        &directive("x", json!({"echo_request": true, "fragment_bytes": 4096})),
    );
    let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
    let echoed: Value =
        serde_json::from_str(json["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["headers"]["authorization"], "Bearer alice");
    assert_eq!(echoed["body"]["user"], "alice");
}

#[test]
fn unregistered_users_get_the_notice_with_status_200() {
    let mock = mock();
    let user = "unregistered-carol";
    let mut body = chat_body("gpt4o", "hi");
    body["user"] = json!(user);
    let (status, json) = message_of(mock.respond(&openai(user, body.clone())).0);
    assert_eq!(status, 200);
    assert_eq!(json["choices"][0]["message"]["content"], rules::AUTH_NOTICE);
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock.respond(&openai(user, body)).0);
    assert!(openai_text(&events).starts_with(rules::AUTH_NOTICE));
    let first = events[1].1["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap();
    assert!(rules::AUTH_NOTICE.starts_with(first));
    let mut body = claude_body("claudeopus46", "hi");
    body["stream"] = json!(false);
    body["user"] = json!(user);
    body["metadata"]["user_id"] = json!(user);
    let (status, json) = message_of(mock.respond(&anthropic(user, body.clone())).0);
    assert_eq!(
        (status, json["content"][0]["text"].as_str()),
        (200, Some(rules::AUTH_NOTICE))
    );
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock.respond(&anthropic(user, body)).0);
    assert!(anthropic_deltas(&events, "text_delta", "text").starts_with(rules::AUTH_NOTICE));
    let embed = request(
        EMBEDDINGS,
        &[("authorization", "Bearer unregistered-x")],
        &json!({"model": "v3small", "input": "a"}),
    );
    let (status, json) = message_of(mock.respond(&embed).0);
    assert_eq!(status, 200);
    assert!(json.to_string().contains("AUTHENTICATION NOTICE FROM ARGO"));
}

#[test]
fn embeddings_answer_in_openai_shape() {
    let mock = mock();
    let embed = |body: Value| {
        json_of(
            mock.respond(&request(
                EMBEDDINGS,
                &[("authorization", "Bearer alice")],
                &body,
            ))
            .0,
        )
    };
    let (status, json) =
        embed(json!({"model": "v3small", "input": ["a", "b", "a"], "user": "alice"}));
    assert_eq!(status, 200);
    assert_eq!(json["object"], "list");
    assert_eq!(json["model"], "v3small");
    let data = json["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[1]["object"], "embedding");
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 1536);
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(
        json["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    // The resource embed's vectors, so both endpoints agree.
    let mut resource = String::new();
    crate::resource::push_vector(&mut resource, "a", 1536);
    assert_eq!(
        data[0]["embedding"],
        serde_json::from_str::<Value>(&resource).unwrap()
    );
    let (_, json) = embed(
        json!({"model": "v3large", "input": "a", "dimensions": 256, "encoding_format": "base64"}),
    );
    let encoded = json["data"][0]["embedding"].as_str().unwrap();
    assert_eq!(encoded.len(), (256 * 4usize).div_ceil(3) * 4);
    assert!(encoded.ends_with('='));
    assert_eq!(base64_encode(b"Man"), "TWFu");
    assert_eq!(base64_encode(b"Ma"), "TWE=");
    assert_eq!(base64_encode(b"M"), "TQ==");
    assert_eq!(embed(json!({"model": "gpt4o", "input": "a"})).0, 400);
    assert_eq!(embed(json!({"model": "nope", "input": "a"})).0, 404);
    assert_eq!(
        embed(json!({"model": "ada002", "input": "a", "dimensions": 8})).0,
        400
    );
    assert_eq!(embed(json!({"model": "v3small", "input": []})).0, 400);
    assert_eq!(
        embed(json!({"model": "v3small", "input": "a #mock {\"status\": 429}"})).0,
        429
    );
    let anonymous = request(EMBEDDINGS, &[], &json!({"model": "v3small", "input": "a"}));
    assert_eq!(message_of(mock.respond(&anonymous).0).0, 401);
}

#[test]
fn models_list_hooks_and_stats() {
    let mock = mock();
    let get = |path: &str| {
        let mut request = request(path, &[], &json!({}));
        request.method = "GET".into();
        request.body.clear();
        message_of(mock.respond(&request).0)
    };
    let (status, json) = get("/argoapi/v1/models");
    assert_eq!(status, 200);
    assert!(json["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["internal_id"] == "claudeopus47"));
    let (_, old) = get("/argoapi-old/v1/models");
    assert!(old["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "claudeopus47" && m["model_name"] == "Claude Opus 4.7"));
    assert_eq!(
        json_of(
            mock.respond(&request("/argoapi/v1/models", &[], &json!({})))
                .0
        )
        .0,
        405
    );
    mock.models.hook(br#"{"add": ["newmodel"]}"#);
    assert_eq!(
        json_of(
            mock.respond(&openai("alice", chat_body("newmodel", "hi")))
                .0
        )
        .0,
        200
    );
    mock.models.hook(br#"{"fail": true}"#);
    assert_eq!(get("/argoapi/v1/models").0, 503);
    let stats: Value = serde_json::from_slice(&mock.stats.to_json()).unwrap();
    assert_eq!(stats["endpoints"]["models"], 4);
    assert_eq!(stats["endpoints"]["chat_completions"], 1);
    assert_eq!(
        stats["requests"], 1,
        "model-list reads are not calls of a model"
    );
}

/// argo-api.md §C (live lists of Aug and Sep 2026, argo-proxy 3.2.1-3.3.0; the legacy route's
/// shape from argo-anywhere's `openapi.json`): 37 models, the same entries on both routes.
#[test]
fn the_live_list_has_the_37_models_of_section_c_on_both_routes() {
    let mock = mock();
    let mut lists = Vec::new();
    for path in ["/argoapi/v1/models", "/argoapi/api/v1/models/"] {
        let mut get = request(path, &[], &json!({}));
        get.method = "GET".into();
        let (status, json) = json_of(mock.respond(&get).0);
        assert_eq!(status, 200, "{path}");
        let data = json["data"].as_array().unwrap().clone();
        assert_eq!(data.len(), 37, "{path}");
        for entry in &data {
            let mut keys: Vec<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, ["created", "id", "internal_id", "object", "owned_by"]);
        }
        lists.push(data);
    }
    assert_eq!(lists[0], lists[1]);
    for new in [
        "gpt54mini",
        "gpt56sol",
        "gpt56terra",
        "gpt56luna",
        "claudeopus48",
        "claudesonnet5",
        "claudeopus5",
    ] {
        assert!(lists[0].iter().any(|m| m["internal_id"] == new), "{new}");
        let (status, _) = message_of(mock.respond(&openai("alice", chat_body(new, "hi"))).0);
        assert_eq!(status, 200, "{new}");
    }
    let mut hot = claude_body("claudesonnet5", "hi");
    hot["temperature"] = json!(0.5);
    let (status, json) = message_of(mock.respond(&anthropic("alice", hot)).0);
    assert_eq!(status, 400);
    assert_eq!(json["type"], "error");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`temperature` is deprecated for this model"));
}

/// argo-api.md §C (strong: argo-proxy 3.2.1-3.3.0, argo-shim): the misleading refusal of a
/// `developer` message, naming its index.
#[test]
fn a_developer_message_gets_the_misleading_tool_calls_refusal() {
    for model in ["gpt5", "gemini25flash", "gpt4o"] {
        let mut body = chat_body(model, "hi");
        body["messages"] = json!([{"role": "system", "content": "s"},
            {"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]);
        let (status, json) = json_of(mock().respond(&openai("alice", body)).0);
        assert_eq!(status, 400, "{model}");
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown parameter: 'messages[1].tool_calls'."));
    }
}

/// argo-api.md §C (live, argo-shim): chat without a valid `user` is HTTP 500.
#[test]
fn chat_without_a_valid_user_is_a_500() {
    for user in [Value::Null, json!(""), json!(7)] {
        let mut body = chat_body("gpt4o", "hi");
        match user {
            Value::Null => {
                body.as_object_mut().unwrap().remove("user");
            }
            other => body["user"] = other,
        }
        let (status, json) = json_of(mock().respond(&openai("alice", body)).0);
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (500, Some("internal_error")),
            "{json}"
        );
    }
}

/// argo-api.md §C (live, APEXA): Gemini takes native tools and fails on parallel calls in
/// its history.
#[test]
fn gemini_takes_native_tools_and_fails_on_parallel_calls() {
    let tools =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
    let mut body = chat_body("gemini25pro", WEATHER);
    body["tools"] = tools;
    let (_, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
    assert_eq!(
        json["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}});
    let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "18C"});
    let user = json!({"role": "user", "content": WEATHER});
    let one_at_a_time = json!([user,
        {"role": "assistant", "content": null, "tool_calls": [call("a")]}, result("a"),
        {"role": "assistant", "content": null, "tool_calls": [call("b")]}, result("b")]);
    body["messages"] = one_at_a_time;
    let (status, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
    assert_eq!(
        (status, json["choices"][0]["message"]["content"].as_str()),
        (200, Some("The tool said: 18C"))
    );
    for parallel in [
        json!([user, {"role": "assistant", "content": null, "tool_calls": [call("a"), call("b")]}, result("a")]),
        json!([user, {"role": "assistant", "content": null, "tool_calls": [call("a")]}, result("a"), result("b")]),
    ] {
        body["messages"] = parallel;
        let (status, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(status, 500);
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("number of function response parts != number of function call parts"));
        let mut gpt = body.clone();
        gpt["model"] = json!("gpt4o");
        assert_eq!(json_of(mock().respond(&openai("alice", gpt)).0).0, 200);
    }
}

/// argo-api.md §C (strong): errors inside a 200 stream, Vertex's 429 for Gemini; wrapped
/// 400s as Anthropic error events. (medium): null usage details, Claude SSE without
/// `input_tokens`.
#[test]
fn errors_inside_streams_and_odd_usage_are_scriptable() {
    let mut body = chat_body(
        "gemini25flash",
        &directive(
            "x",
            json!({"reply": "ab", "stream_error": "Resource exhausted"}),
        ),
    );
    body["stream"] = json!(true);
    let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
    assert_eq!(
        events.last().unwrap().1,
        json!({"error": {"message": "Resource exhausted", "type": "RESOURCE_EXHAUSTED", "code": 429, "status": "RESOURCE_EXHAUSTED"}})
    );
    let body = claude_body(
        "claudesonnet45",
        &directive(
            "x",
            json!({"stream_error": "bad", "stream_error_type": "invalid_request_error"}),
        ),
    );
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
    assert_eq!(
        events.last().unwrap().1["error"]["type"],
        "invalid_request_error"
    );
    let mut body = chat_body("gpt4o", &directive("x", json!({"usage_nulls": true})));
    let (_, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
    assert_eq!(
        json["usage"]["prompt_tokens_details"]["cached_tokens"],
        Value::Null
    );
    assert_eq!(
        json["usage"]["completion_tokens_details"]["reasoning_tokens"],
        Value::Null
    );
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
    let usage = &events[events.len() - 2].1["usage"];
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], Value::Null);
    let body = claude_body(
        "claudesonnet45",
        &directive("x", json!({"omit_input_tokens": true, "usage_nulls": true})),
    );
    let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
    let usage = &events[0].1["message"]["usage"];
    assert!(usage.get("input_tokens").is_none(), "{usage}");
    assert_eq!(usage["cache_read_input_tokens"], Value::Null);
}

/// argo-api.md §C (argo-proxy issue 144): tests read the `User-Agent` Argo saw.
#[test]
fn the_stats_keep_the_user_agents_argo_saw() {
    let mock = mock();
    let stats = || -> Value { serde_json::from_slice(&mock.stats.to_json()).unwrap() };
    assert_eq!(stats()["last_user_agent"], Value::Null);
    let mut asked = openai(
        "alice",
        chat_body("gpt4o", &directive("x", json!({"echo_request": true}))),
    );
    asked
        .headers
        .push(("user-agent".into(), "argo-bridge/1 (codex)".into()));
    let (_, json) = json_of(mock.respond(&asked).0);
    let echoed: Value =
        serde_json::from_str(json["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["headers"]["user-agent"], "argo-bridge/1 (codex)");
    mock.respond(&openai("alice", chat_body("gpt4o", "hi")));
    assert_eq!(stats()["user_agents"], json!(["argo-bridge/1 (codex)", ""]));
    assert_eq!(stats()["last_user_agent"], "");
    for n in 0..70 {
        let mut asked = openai("alice", chat_body("gpt4o", "hi"));
        asked.headers.push(("user-agent".into(), format!("ua{n}")));
        mock.respond(&asked);
    }
    let kept = stats()["user_agents"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 64);
    assert_eq!(kept.last().unwrap(), "ua69");
    assert_eq!(stats()["last_user_agent"], "ua69");
}

#[test]
fn tokens_are_counted_and_cut_by_words() {
    assert_eq!(count_tokens("Hello from mock"), 2 + 1 + 1);
    assert_eq!(truncate_tokens("one two three", 4), None);
    assert_eq!(
        truncate_tokens("one two three", 3).as_deref(),
        Some("one two thre")
    );
    assert_eq!(
        truncate_tokens("one two three", 2).as_deref(),
        Some("one two")
    );
    assert_eq!(
        truncate_tokens("  abcdefghij rest", 2).as_deref(),
        Some("  abcdefgh")
    );
    assert_eq!(truncate_tokens("abc", 0).as_deref(), Some(""));
    assert_eq!(truncate_tokens("héllo wörld", 1).as_deref(), Some("héll"));
}
