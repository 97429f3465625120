use super::answer::*;
use super::relay::*;
use super::request::*;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::client::openai_responses;
use crate::error::{ApiError, ErrorCode};
use crate::fixtures::{self, split};
use crate::hub::Usage;
use crate::models::{Family, Kind, ModelSpec, Sampling};
use crate::notice;
use crate::openai::ResponseMeta;
use crate::tools::namespaces::Namespaces;
use crate::translate::StreamTranslation;

fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "resp-gw123".into(),
        created: 1_700_000_000,
        model: "gpt-5".into(),
    }
}

fn gpt5() -> ModelSpec {
    ModelSpec {
        reasoning: true,
        sampling: Sampling::None,
        ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
    }
}

fn gpt4o() -> ModelSpec {
    ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat)
}

/// A Codex turn, with what the translation would lose.
fn codex_turn() -> Value {
    json!({
        "model": "gpt-5", "instructions": "You are Codex.", "store": false, "stream": true,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
            {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done"}
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
            {"type": "custom", "name": "apply_patch", "description": "Patch files",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "web_search", "external_web_access": false},
            {"type": "tool_search", "execution": "client", "description": "Find deferred tools",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}
        ],
        "tool_choice": "auto", "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        "prompt_cache_key": "abc", "temperature": 0.5,
        "user": "mallory", "safety_identifier": "mallory", "metadata": {"user_id": "mallory", "k": "v"}
    })
}

fn argo_request(body: &Value, model: &ModelSpec) -> Result<Value, ApiError> {
    let text = body.to_string();
    let request = read_request(text.as_bytes())?;
    let argo = request.request_body(model, "alice")?.0;
    Ok(serde_json::from_slice(&argo).unwrap())
}

#[test]
fn a_codex_turn_reaches_argo_as_sent_but_for_model_user_and_the_tables_rules() {
    let body = codex_turn();
    let argo = argo_request(&body, &gpt5()).unwrap();
    let mut expected = body.clone();
    let object = expected.as_object_mut().unwrap();
    object.insert("model".into(), json!("gpt5"));
    object.insert("user".into(), json!("alice"));
    object.insert("metadata".into(), json!({"user_id": "alice", "k": "v"}));
    object.remove("safety_identifier");
    object.remove("temperature");
    object["tools"].as_array_mut().unwrap().truncate(2);
    assert_eq!(argo, expected, "web_search and tool_search left out");
    let argo = argo_request(&body, &gpt4o()).unwrap();
    assert_eq!(argo["temperature"], 0.5, "gpt-4o takes sampling");
    assert!(argo.get("reasoning").is_none(), "nor reasoning");
}

#[test]
fn escaped_spellings_of_identity_fields_never_reach_argo() {
    let text = r#"{"model":"gpt-5","input":"hi","us\u0065r":"mallory","safety_\u0069dentifier":"m","metadata":{"user_\u0069d":"mallory"}}"#;
    let request = read_request(text.as_bytes()).unwrap();
    let argo = String::from_utf8(request.request_body(&gpt5(), "alice").unwrap().0).unwrap();
    assert!(
        !argo.contains("mallory") && !argo.contains("safety"),
        "{argo}"
    );
    let argo: Value = serde_json::from_str(&argo).unwrap();
    assert_eq!(argo["user"], "alice");
}

#[test]
fn the_token_limit_is_capped_unless_streamed() {
    let capped = ModelSpec {
        max_tokens_cap: Some(1000),
        ..gpt4o()
    };
    let body = json!({"model": "gpt-4o", "input": "hi", "max_output_tokens": 5000});
    assert_eq!(
        argo_request(&body, &capped).unwrap()["max_output_tokens"],
        1000
    );
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    assert_eq!(
        argo_request(&streamed, &capped).unwrap()["max_output_tokens"],
        5000
    );
}

#[test]
fn what_the_translation_refuses_is_refused_alike() {
    for (body, param) in [
        (json!({"model": "gpt-5"}), "input"),
        (json!({"model": "gpt-5", "input": []}), "input"),
        (json!({"model": "gpt-5", "input": 3}), "input"),
        (
            json!({"model": "gpt-5", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "store": true}),
            "store",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "temperature": 3}),
            "temperature",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]}),
            "tools[0].tools[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "tools": []}]}),
            "tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": 3}]}),
            "tools[0].tools",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}]}),
            "tools[0].tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [
                {"type": "function", "name": "a"},
                {"type": "namespace", "name": "n", "tools": [{"type": "function", "name": "a"}, {"type": "custom", "name": "a"}]}
            ]}),
            "tools[1].tools[1].name",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "local_shell"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "file_search"}]}),
            "tools[1].type",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"name": "f"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [1]}),
            "tools[0]",
        ),
    ] {
        let refused = argo_request(&body, &gpt5()).unwrap_err();
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.param.as_deref(), Some(param), "{body}");
        let text = body.to_string();
        let hub = openai_responses::read_request(text.as_bytes()).err();
        assert_eq!(hub.map(|hub| hub.message), Some(refused.message), "{body}");
    }
    assert_eq!(read_request(b"{").unwrap_err().status, 400);
    assert_eq!(
        read_request(b"{\"input\":\"x\"}")
            .unwrap_err()
            .param
            .as_deref(),
        Some("model")
    );
}

#[test]
fn gpt_models_pass_through_unless_a_custom_tool_is_too_long_for_argo() {
    let body = |length: usize| {
        json!({"model": "gpt-5", "input": "x", "tools": [{"type": "custom", "name": "t", "description": "é".repeat(length)}]})
        .to_string()
    };
    let short = body(MAX_CUSTOM_TOOL_DESCRIPTION);
    assert!(read_request(short.as_bytes())
        .unwrap()
        .passes_through(&gpt5()));
    let long = body(MAX_CUSTOM_TOOL_DESCRIPTION + 1);
    assert!(!read_request(long.as_bytes())
        .unwrap()
        .passes_through(&gpt5()));
    let grouped = |length: usize| {
        json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [
            {"type": "custom", "name": "t", "description": "é".repeat(length)}]}]})
        .to_string()
    };
    let short = grouped(MAX_CUSTOM_TOOL_DESCRIPTION);
    assert!(read_request(short.as_bytes())
        .unwrap()
        .passes_through(&gpt5()));
    let long = grouped(MAX_CUSTOM_TOOL_DESCRIPTION + 1);
    assert!(
        !read_request(long.as_bytes())
            .unwrap()
            .passes_through(&gpt5()),
        "in a namespace too"
    );
    let o3 = ModelSpec::new("o3", "gpto3", Family::Openai, Kind::Chat);
    assert!(serves(&o3) && serves(&gpt4o()));
    for other in [
        fixtures::claude(),
        ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat),
        ModelSpec::new(
            "text-embedding-3-small",
            "v3small",
            Family::Openai,
            Kind::Embedding,
        ),
    ] {
        assert!(!serves(&other), "{}", other.name);
    }
}

const ANSWER: &str = r#"{"id":"resp_argo1","object":"response","created_at":1779381799,"status":"completed","instructions":"INSTRUCTIONS","model":"gpt-5-2025-08-07","output":[{"id":"rs_a","type":"reasoning","summary":[{"type":"summary_text","text":"Thinking."}],"encrypted_content":"gAAAA"},{"id":"msg_a","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}],"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":null},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":27}}"#;

#[test]
fn answers_come_back_under_the_gateways_id_and_the_clients_model() {
    let (body, usage) = relay_answer(ANSWER.as_bytes(), &meta(), &Namespaces::default()).unwrap();
    let mut expected: Value = serde_json::from_str(ANSWER).unwrap();
    expected["id"] = json!("resp-gw123");
    expected["model"] = json!("gpt-5");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 20,
            output_tokens: 7,
            cached_input_tokens: None
        })
    );
    let failed = r#"{"id":"resp_1","status":"failed","model":"gpt-5","output":[],"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#;
    assert_eq!(
        relay_answer(failed.as_bytes(), &meta(), &Namespaces::default())
            .unwrap_err()
            .status,
        429
    );
    let plain = r#"{"error":{"message":"The server had an error","type":"server_error"}}"#;
    assert_eq!(
        relay_answer(plain.as_bytes(), &meta(), &Namespaces::default())
            .unwrap_err()
            .status,
        502
    );
    assert_eq!(
        relay_answer(b"[1]", &meta(), &Namespaces::default())
            .unwrap_err()
            .status,
        502
    );
    assert_eq!(
        relay_answer(br#"{"id":"x"}"#, &meta(), &Namespaces::default())
            .unwrap_err()
            .status,
        502
    );
}

#[test]
fn the_notice_is_a_403_even_after_long_instructions() {
    let long = ANSWER
        .replace("INSTRUCTIONS", &"i".repeat(notice::SEARCHED_BYTES * 2))
        .replace("Hello", fixtures::NOTICE);
    let error = relay_answer(long.as_bytes(), &meta(), &Namespaces::default()).unwrap_err();
    assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
    let error =
        relay_answer(fixtures::NOTICE.as_bytes(), &meta(), &Namespaces::default()).unwrap_err();
    assert_eq!(error.status, 403, "a notice outside any JSON too");
}

fn event(name: &str, mut data: Value, sequence: u64) -> String {
    data["type"] = json!(name);
    data["sequence_number"] = json!(sequence);
    format!("event: {name}\ndata: {data}\n\n")
}

fn response_object(status: &str, usage: Value) -> Value {
    json!({"id": "resp_argo1", "object": "response", "created_at": 1779381799, "status": status,
        "model": "gpt-5-2025-08-07", "output": [], "usage": usage, "instructions": "Be brief"})
}

/// Argo's stream of a reasoning summary, text (with escapes and an emoji) and a custom
/// tool call.
fn argo_stream(text: &[&str]) -> String {
    let mut events = vec![
        (
            "response.created",
            json!({"response": response_object("in_progress", Value::Null)}),
        ),
        (
            "response.in_progress",
            json!({"response": response_object("in_progress", Value::Null)}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": "rs_a", "type": "reasoning", "summary": []}}),
        ),
        (
            "response.reasoning_summary_text.delta",
            json!({"item_id": "rs_a", "output_index": 0, "summary_index": 0, "delta": "Hmm."}),
        ),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": {"id": "rs_a", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Hmm."}], "encrypted_content": "gAAAA"}}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 1, "item": {"id": "msg_a", "type": "message", "role": "assistant", "content": []}}),
        ),
    ];
    for piece in text {
        events.push((
            "response.output_text.delta",
            json!({"item_id": "msg_a", "output_index": 1, "content_index": 0, "delta": piece}),
        ));
    }
    events.extend([
        ("response.output_item.added", json!({"output_index": 2, "item": {"id": "ctc_a", "type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": ""}})),
        ("response.custom_tool_call_input.delta", json!({"item_id": "ctc_a", "output_index": 2, "delta": "*** Begin"})),
        ("response.completed", json!({"response": response_object("completed",
            json!({"input_tokens": 175, "input_tokens_details": {"cached_tokens": 128}, "output_tokens": 16, "total_tokens": 191}))})),
    ]);
    events
        .into_iter()
        .enumerate()
        .map(|(sequence, (name, data))| event(name, data, sequence as u64))
        .collect()
}

/// Argo's stream of `text` alone, as the notice comes.
fn text_stream(text: &[&str]) -> String {
    argo_stream(text)
        .split_inclusive("\n\n")
        .filter(|event| !event.contains("rs_a") && !event.contains("ctc_a"))
        .collect()
}

fn parse_events(sse: &[u8]) -> Vec<(String, Value)> {
    std::str::from_utf8(sse)
        .unwrap()
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            (
                name.strip_prefix("event: ").unwrap().to_string(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

fn relayed(pieces: &[&[u8]]) -> (Vec<u8>, StreamTranslation) {
    let mut translation = stream(&meta(), Namespaces::default());
    (fixtures::relay(&mut translation, pieces), translation)
}

const TEXT: [&str; 3] = ["Pong! ", "😊 ", "\"quoted\"\n"];

#[test]
fn the_stream_is_relayed_under_the_gateways_identity() {
    let argo = argo_stream(&TEXT);
    let (out, mut translation) = relayed(&[argo.as_bytes()]);
    let sent = parse_events(&out);
    let argos = parse_events(argo.as_bytes());
    assert_eq!(sent.len(), argos.len());
    for ((name, event), (argo_name, argo_event)) in sent.iter().zip(&argos) {
        assert_eq!(name, argo_name);
        let mut expected = argo_event.clone();
        if expected.get("response").is_some() {
            expected["response"]["id"] = json!("resp-gw123");
            expected["response"]["model"] = json!("gpt-5");
        }
        assert_eq!(event, &expected, "everything else is Argo's");
    }
    assert_eq!(
        translation.usage(),
        Usage {
            input_tokens: 175,
            output_tokens: 16,
            cached_input_tokens: Some(128)
        }
    );
    assert!(translation.usage_reported() && translation.failure().is_none());
}

#[test]
fn the_opening_is_held_until_it_cannot_be_the_notice() {
    let argo = text_stream(&["**", "Summary**"]);
    let without_reasoning: Vec<&str> = argo.split_inclusive("\n\n").collect();
    let mut translation = stream(&meta(), Namespaces::default());
    let mut out = translation.start();
    for event in &without_reasoning[..4] {
        translation.feed_into(&mut out, event.as_bytes()).unwrap();
    }
    assert!(
        out.is_empty() && !translation.decided(),
        "`**` could open the notice"
    );
    translation
        .feed_into(&mut out, without_reasoning[4].as_bytes())
        .unwrap();
    assert!(translation.decided());
    assert_eq!(parse_events(&out).len(), 5);
}

#[test]
fn the_notice_is_an_error_and_nothing_of_it_is_sent() {
    let (head, tail) = fixtures::NOTICE.split_at(20);
    let argo = text_stream(&[head, tail, "\n\nHello"]);
    let mut translation = stream(&meta(), Namespaces::default());
    let mut out = translation.start();
    let error = translation
        .feed_into(&mut out, argo.as_bytes())
        .unwrap_err();
    assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
    assert!(out.is_empty());
    assert!(translation.finish().unwrap().is_empty());
    let mut plain = stream(&meta(), Namespaces::default());
    let error = plain
        .feed_into(&mut Vec::new(), fixtures::NOTICE.as_bytes())
        .unwrap_err();
    assert_eq!(
        error.status, 403,
        "a notice outside any event is caught too"
    );
}

#[test]
fn errors_in_the_stream_replace_it_or_end_it_as_the_translation_does() {
    let error = event(
        "error",
        json!({"code": "rate_limit_exceeded", "message": "Too many requests", "param": null}),
        2,
    );
    let argo = argo_stream(&TEXT);
    let events: Vec<&str> = argo.split_inclusive("\n\n").collect();
    let mut early = stream(&meta(), Namespaces::default());
    let mut out = early.start();
    early.feed_into(&mut out, events[0].as_bytes()).unwrap();
    let refused = early.feed_into(&mut out, error.as_bytes()).unwrap_err();
    assert_eq!((refused.status, out.len()), (429, 0));
    for late_error in [
        error.clone(),
        event(
            "response.failed",
            json!({"response": {"id": "resp_argo1", "status": "failed", "model": "gpt-5",
            "error": {"code": "server_error", "message": "boom"}}}),
            9,
        ),
    ] {
        let mut late = stream(&meta(), Namespaces::default());
        let mut out = late.start();
        for event in &events[..8] {
            late.feed_into(&mut out, event.as_bytes()).unwrap();
        }
        late.feed_into(&mut out, late_error.as_bytes()).unwrap();
        late.feed_into(&mut out, events[8].as_bytes()).unwrap();
        out.extend(late.finish().unwrap());
        let sent = parse_events(&out);
        let names: Vec<&str> = sent.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names[names.len() - 2..],
            ["error", "response.failed"],
            "{names:?}"
        );
        assert_eq!(names.len(), 10);
        let sequences: Vec<u64> = sent
            .iter()
            .map(|(_, event)| event["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(
            sequences,
            (0..10).collect::<Vec<_>>(),
            "numbered on from Argo's"
        );
        let failed = &sent[9].1["response"];
        assert_eq!(
            (failed["id"].as_str(), failed["status"].as_str()),
            (Some("resp-gw123"), Some("failed"))
        );
        assert!(late.failure().is_some());
    }
    let mut cut = stream(&meta(), Namespaces::default());
    let mut out = cut.start();
    for event in &events[..8] {
        cut.feed_into(&mut out, event.as_bytes()).unwrap();
    }
    out.extend(cut.finish().unwrap());
    let sent = parse_events(&out);
    assert_eq!(
        sent[sent.len() - 2].1["code"],
        "upstream_truncated",
        "a stream cut short ends with an error"
    );
}

fn relayed_whole(pieces: &[&[u8]]) -> Vec<u8> {
    relayed(pieces).0
}

#[test]
fn the_stream_relays_alike_split_at_every_byte() {
    let argo = argo_stream(&TEXT);
    let stream = argo.as_bytes();
    let whole = relayed_whole(&[stream]);
    for at in 0..=stream.len() {
        assert_eq!(
            relayed_whole(&[&stream[..at], &stream[at..]]),
            whole,
            "split at {at}"
        );
    }
}

/// A Codex turn whose tools group sub-agent tools in a namespace (one name shared with a
/// plain function), and whose history holds a call of one of them.
fn namespaced_turn() -> Value {
    json!({
        "model": "gpt-5", "store": false, "stream": true,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Delegate"}]},
            {"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "{\"agent_id\":\"a1\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_2", "output": "closed"}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "spawn_agent", "description": "Spawn.", "strict": false, "parameters": {"type": "object"}},
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}}
            ]},
            {"type": "web_search", "external_web_access": true}
        ],
        "tool_choice": {"type": "function", "name": "close_agent", "namespace": "multi_agent_v1"},
        "include": ["reasoning.encrypted_content"]
    })
}

#[test]
fn namespaces_reach_argo_flat_and_history_calls_by_the_name_offered() {
    let body = namespaced_turn().to_string();
    let request = read_request(body.as_bytes()).unwrap();
    let (argo, namespaces) = request.request_body(&gpt5(), "alice").unwrap();
    let argo: Value = serde_json::from_slice(&argo).unwrap();
    assert_eq!(
        argo["tools"],
        json!([
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
            {"type": "function", "name": "spawn_agent", "description": "Spawn.", "strict": false, "parameters": {"type": "object"}},
            {"type": "function", "name": "multi_agent_v1__close_agent", "parameters": {"type": "object"}}
        ])
    );
    let input = argo["input"].as_array().unwrap();
    assert_eq!(
        input[1],
        json!({"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "arguments": "{}"})
    );
    assert_eq!(input[3]["name"], "multi_agent_v1__close_agent");
    assert!(input[3].get("namespace").is_none());
    assert_eq!(
        input[0],
        namespaced_turn()["input"][0],
        "other items as sent"
    );
    assert_eq!(
        argo["tool_choice"],
        json!({"type": "function", "name": "multi_agent_v1__close_agent"})
    );
    assert_eq!(argo["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        namespaces.origin("spawn_agent").unwrap().namespace,
        "multi_agent_v1"
    );
    assert_eq!(
        namespaces
            .origin("multi_agent_v1__close_agent")
            .unwrap()
            .name,
        "close_agent"
    );
    assert!(namespaces.origin("close_agent").is_none());
    // Without namespaces the tools go as written, byte for byte.
    let plain =
        json!({"model": "gpt-5", "input": "x", "tools": [{"type": "function", "name": "f"}]});
    let text = plain.to_string();
    let (argo, namespaces) = read_request(text.as_bytes())
        .unwrap()
        .request_body(&gpt5(), "alice")
        .unwrap();
    assert!(namespaces.is_empty());
    let argo = String::from_utf8(argo).unwrap();
    assert!(
        argo.contains(r#""tools":[{"name":"f","type":"function"}]"#),
        "{argo}"
    );
}

fn namespaced() -> Namespaces {
    let body = namespaced_turn().to_string();
    read_request(body.as_bytes())
        .unwrap()
        .request_body(&gpt5(), "alice")
        .unwrap()
        .1
}

/// Argo's calls of the tools [`namespaced_turn`] offers, as output items.
fn argo_calls() -> [Value; 3] {
    [
        json!({"id": "fc_1", "type": "function_call", "status": "completed", "arguments": "{\"message\":\"hi\"}", "call_id": "call_1", "name": "spawn_agent"}),
        json!({"id": "fc_2", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_2", "name": "multi_agent_v1__close_agent"}),
        json!({"id": "fc_3", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_3", "name": "close_agent"}),
    ]
}

/// [`argo_calls`] as the client gets them.
fn client_calls() -> Value {
    let [mut spawn, mut close, plain] = argo_calls();
    spawn["namespace"] = json!("multi_agent_v1");
    close["name"] = json!("close_agent");
    close["namespace"] = json!("multi_agent_v1");
    json!([spawn, close, plain])
}

#[test]
fn answers_give_calls_of_namespaced_tools_back_with_their_namespace() {
    let mut answer: Value = serde_json::from_str(ANSWER).unwrap();
    answer["output"] = json!(argo_calls());
    let (body, _) = relay_answer(answer.to_string().as_bytes(), &meta(), &namespaced()).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["output"], client_calls());
    assert_eq!(body["id"], "resp-gw123");
    let text = String::from_utf8(
        relay_answer(answer.to_string().as_bytes(), &meta(), &namespaced())
            .unwrap()
            .0,
    )
    .unwrap();
    assert!(
        text.contains(r#""name":"spawn_agent","namespace":"multi_agent_v1""#),
        "the namespace right after the name: {text}"
    );
}

/// Argo's stream of the calls of [`argo_calls`]: each added, its arguments, done; then the
/// completed response holding them.
fn namespaced_stream() -> String {
    let mut events = vec![(
        "response.created",
        json!({"response": response_object("in_progress", Value::Null)}),
    )];
    for (index, call) in argo_calls().into_iter().enumerate() {
        let mut added = call.clone();
        added["arguments"] = json!("");
        added["status"] = json!("in_progress");
        events.push((
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        ));
        events.push((
            "response.function_call_arguments.delta",
            json!({"item_id": call["id"], "output_index": index, "delta": call["arguments"]}),
        ));
        events.push((
            "response.function_call_arguments.done",
            json!({"item_id": call["id"], "output_index": index, "name": call["name"], "arguments": call["arguments"]}),
        ));
        events.push((
            "response.output_item.done",
            json!({"output_index": index, "item": call}),
        ));
    }
    let mut completed =
        response_object("completed", json!({"input_tokens": 10, "output_tokens": 3}));
    completed["output"] = json!(argo_calls());
    events.push(("response.completed", json!({"response": completed})));
    events
        .into_iter()
        .enumerate()
        .map(|(sequence, (name, data))| event(name, data, sequence as u64))
        .collect()
}

fn relayed_namespaced(pieces: &[&[u8]]) -> Vec<u8> {
    let mut translation = stream(&meta(), namespaced());
    fixtures::relay(&mut translation, pieces)
}

#[test]
fn streamed_calls_of_namespaced_tools_come_back_with_their_namespace() {
    let argo = namespaced_stream();
    let sent = parse_events(&relayed_namespaced(&[argo.as_bytes()]));
    let expected = client_calls();
    let items = |kind: &str| -> Vec<Value> {
        sent.iter()
            .filter(|(name, _)| name == kind)
            .map(|(_, event)| event["item"].clone())
            .collect()
    };
    assert_eq!(Value::Array(items("response.output_item.done")), expected);
    for (added, expected) in items("response.output_item.added")
        .iter()
        .zip(expected.as_array().unwrap())
    {
        assert_eq!(
            (&added["name"], &added["namespace"]),
            (&expected["name"], &expected["namespace"])
        );
        assert_eq!(added["status"], "in_progress");
    }
    let names: Vec<&Value> = sent
        .iter()
        .filter(|(name, _)| name == "response.function_call_arguments.done")
        .map(|(_, event)| &event["name"])
        .collect();
    assert_eq!(
        names,
        [
            &json!("spawn_agent"),
            &json!("close_agent"),
            &json!("close_agent")
        ]
    );
    let (_, completed) = sent.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["output"], expected);
    assert_eq!(completed["response"]["id"], "resp-gw123");
    // Split anywhere, the relay says the same.
    let stream = argo.as_bytes();
    let whole = relayed_namespaced(&[stream]);
    for at in 0..=stream.len() {
        assert_eq!(
            relayed_namespaced(&[&stream[..at], &stream[at..]]),
            whole,
            "split at {at}"
        );
    }
}

proptest! {
    #[test]
    fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let argo = argo_stream(&TEXT);
        let stream = argo.as_bytes();
        prop_assert_eq!(relayed_whole(&split(stream, &cuts)), relayed_whole(&[stream]));
    }

    #[test]
    fn namespaced_calls_relay_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let argo = namespaced_stream();
        let stream = argo.as_bytes();
        prop_assert_eq!(relayed_namespaced(&split(stream, &cuts)), relayed_namespaced(&[stream]));
    }

    #[test]
    fn a_notice_is_caught_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let (head, tail) = fixtures::NOTICE.split_at(20);
        let argo = text_stream(&[head, tail]);
        let mut translation = stream(&meta(), Namespaces::default());
        let mut out = translation.start();
        let mut refused = None;
        for piece in split(argo.as_bytes(), &cuts) {
            if let Err(error) = translation.feed_into(&mut out, piece) {
                refused = Some(error);
                break;
            }
        }
        prop_assert!(out.is_empty());
        prop_assert_eq!(refused.map(|error| error.status), Some(403));
    }
}
