//! Codex CLI's Responses tools through the gateway: the request Codex 0.171 sends (trimmed,
//! tests/fixtures/codex-0.171-request.json) groups its sub-agent tools in a `namespace`
//! (`multi_agent_v1`), which no upstream takes. The gateway offers them flat and gives the
//! model's calls back as Codex routes them, by name and namespace, streamed or not, for GPT on
//! Argo's own `/v1/responses`, and for GPT, Claude and Gemini through the translation (native
//! and resource APIs); the next turn, with the call and its output in `input`, is answered.
//! Black-box over sockets against the mock Argo.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};

const CODEX_REQUEST: &str = include_str!("fixtures/codex-0.171-request.json");

const SPAWN: &str =
    r#"#mock {"tool_call": {"name": "spawn_agent", "arguments": {"message": "Say hi"}}}"#;

fn stack(api: &str) -> Stack {
    Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[("ARGO_BRIDGE_UPSTREAM_API", api)],
    )
}

/// Codex's request for `model`, its task `task`.
fn codex_turn(model: &str, task: &str, stream: bool) -> Value {
    let mut turn: Value = serde_json::from_str(CODEX_REQUEST).unwrap();
    turn["model"] = json!(model);
    turn["stream"] = json!(stream);
    let input = turn["input"].as_array_mut().unwrap();
    let last = input.last_mut().unwrap();
    assert_eq!(last["content"][0]["text"], "TASK");
    last["content"][0]["text"] = json!(task);
    turn
}

/// The response a turn ended with: the JSON answer, or the stream's `response.completed`
/// (after checking that every call item the stream added and finished says its namespace as
/// that response does).
fn answered(stack: &Stack, turn: &Value) -> Value {
    let label = format!("{} (stream: {})", turn["model"], turn["stream"]);
    let response = stack.post("/v1/responses", &turn.to_string());
    assert_eq!(response.status, 200, "{label}: {}", response.text());
    if turn["stream"] != true {
        return response.json();
    }
    let events = sse_events(&response.text());
    let (last, completed) = events.last().unwrap();
    assert_eq!(last, "response.completed", "{label}: {events:?}");
    let calls = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|(name, event)| name == kind && event["item"]["type"] == "function_call")
            .map(|(_, event)| &event["item"])
            .collect()
    };
    let completed_calls: Vec<&Value> = completed["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "function_call")
        .collect();
    for kind in ["response.output_item.added", "response.output_item.done"] {
        let streamed = calls(kind);
        assert_eq!(streamed.len(), completed_calls.len(), "{label}: {kind}");
        for (streamed, completed) in streamed.iter().zip(&completed_calls) {
            assert_eq!(streamed["name"], completed["name"], "{label}: {kind}");
            assert_eq!(
                streamed["namespace"], completed["namespace"],
                "{label}: {kind}"
            );
        }
    }
    completed["response"].clone()
}

/// The one `function_call` of an answer.
fn the_call(response: &Value) -> Value {
    let calls: Vec<&Value> = response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "function_call")
        .collect();
    assert_eq!(calls.len(), 1, "{response}");
    calls[0].clone()
}

/// The answer's text.
fn text_of(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().unwrap())
        .filter_map(|part| part["text"].as_str())
        .collect()
}

/// Turn one asks for `spawn_agent` and gets it back as Codex routes it; turn two sends the call
/// back as Codex does (with its namespace) with its output, and is answered with text.
fn spawn_round_trip(stack: &Stack, model: &str, stream: bool) {
    let label = format!("{model} (stream: {stream})");
    let turn = codex_turn(model, &format!("Delegate {SPAWN}"), stream);
    let call = the_call(&answered(stack, &turn));
    assert_eq!(call["name"], "spawn_agent", "{label}: {call}");
    assert_eq!(call["namespace"], "multi_agent_v1", "{label}: {call}");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"message": "Say hi"}), "{label}");

    let mut next = turn.clone();
    let call_id = call["call_id"].as_str().unwrap();
    let input = next["input"].as_array_mut().unwrap();
    input.push(
        json!({"type": "function_call", "name": "spawn_agent", "namespace": "multi_agent_v1",
        "arguments": call["arguments"], "call_id": call_id}),
    );
    input.push(json!({"type": "function_call_output", "call_id": call_id,
        "output": "{\"agent_id\":\"agent-7\",\"nickname\":\"Franklin\"}"}));
    let answer = answered(stack, &next);
    assert!(
        text_of(&answer).contains("agent-7"),
        "{label}: the model read the call's output: {answer}"
    );
}

fn mock_stats(stack: &Stack) -> Value {
    request(stack.mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

#[test]
fn codex_sub_agent_calls_round_trip_on_the_native_api() {
    let stack = stack("native");
    for stream in [false, true] {
        spawn_round_trip(&stack, "gpt-5", stream);
    }
    let endpoints = &mock_stats(&stack)["endpoints"];
    assert_eq!(
        (&endpoints["responses"], &endpoints["chat_completions"]),
        (&json!(4), &json!(0)),
        "GPT passes through to Argo's /v1/responses"
    );
    for model in ["claude-sonnet-4.5", "gemini-2.5-pro"] {
        for stream in [false, true] {
            spawn_round_trip(&stack, model, stream);
        }
    }
}

#[test]
fn codex_sub_agent_calls_round_trip_on_the_resource_api() {
    let stack = stack("resource");
    for model in ["gpt-5", "claude-sonnet-4.5", "gemini-2.5-pro"] {
        for stream in [false, true] {
            spawn_round_trip(&stack, model, stream);
        }
    }
}

/// What Argo's `/v1/responses` gets for Codex's turn: the namespace's tools flat, web search
/// left out, everything else as Codex wrote it.
#[test]
fn argo_gets_codex_tools_flat() {
    let stack = stack("native");
    let echo = r#"#mock {"echo_request": true, "fragment_bytes": 65536}"#;
    let turn = codex_turn("gpt-5", &format!("Delegate {echo}"), false);
    let response = stack.post("/v1/responses", &turn.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    let echoed: Value = serde_json::from_str(&text_of(&response.json())).unwrap();
    assert_eq!(echoed["path"], "/argoapi/v1/responses");
    let sent = &echoed["body"];
    let names: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            assert_eq!(tool["type"], "function", "{tool}");
            tool["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "write_stdin",
            "request_user_input",
            "view_image",
            "close_agent",
            "resume_agent",
            "send_input",
            "spawn_agent",
            "wait_agent",
            "get_goal",
            "create_goal",
            "update_goal"
        ]
    );
    let namespace = turn["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["type"] == "namespace")
        .unwrap();
    assert_eq!(sent["tools"][7], namespace["tools"][3], "as Codex wrote it");
    for kept in [
        "include",
        "reasoning",
        "prompt_cache_key",
        "parallel_tool_calls",
        "input",
    ] {
        assert_eq!(sent[kept], turn[kept], "{kept}");
    }
}
