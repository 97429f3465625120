//! `/v1/responses` for GPT models goes to Argo's own `/v1/responses` (argo-api.md §C: served
//! natively for every `gpt*` model, with the bearer username), with the least rewriting:
//! what a translation into chat would lose reaches Argo intact, the username rules hold, Argo's
//! notice is a 403, errors inside the stream reach the client, and the answer comes back under
//! the gateway's id and the client's model. Claude and Gemini keep the translation (Argo
//! answers them with a 500 there). Black-box over sockets against the mock Argo.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const UNREGISTERED_TOKEN: &str = "test-token-carol";

fn native_stack() -> Stack {
    let tokens = format!("{TOKEN}={USER},{UNREGISTERED_TOKEN}=unregistered-carol");
    Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[
            ("ARGO_BRIDGE_UPSTREAM_API", "native"),
            ("ARGO_BRIDGE_TOKENS", &tokens),
        ],
    )
}

fn mock_stats(stack: &Stack) -> Value {
    request(stack.mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

/// The requests Argo got on `/v1/responses` and on `/v1/chat/completions`.
fn upstream_calls(stack: &Stack) -> (u64, u64) {
    let endpoints = &mock_stats(stack)["endpoints"];
    (
        endpoints["responses"].as_u64().unwrap(),
        endpoints["chat_completions"].as_u64().unwrap(),
    )
}

/// A Codex-like turn with what a translation into chat loses: `include`, a reasoning summary,
/// a custom tool with its grammar, a reasoning item with Argo's opaque content, a JSON schema
/// text format, and identity fields the gateway must override.
fn codex_turn(directive: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-5", "instructions": "You are Codex.", "store": false, "stream": stream,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("fix it #mock {directive}")}]}
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}},
            {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /(.|\\n)+/"}},
            {"type": "web_search", "external_web_access": false}
        ],
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "text": {"format": {"type": "json_schema", "name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "prompt_cache_key": "thread-1",
        "user": "mallory", "safety_identifier": "mallory",
        "metadata": {"user_id": "mallory", "session": "s1"}
    })
}

/// What the gateway must have sent for [`codex_turn`]: the same body but for the Argo model
/// id, the gateway's user, no safety identifier and no web search tool (as translated).
fn assert_sent_as_written(sent: &Value, turn: &Value) {
    let mut expected = turn.clone();
    let object = expected.as_object_mut().unwrap();
    object.insert("model".into(), json!("gpt5"));
    object.insert("user".into(), json!(USER));
    object.insert("metadata".into(), json!({"user_id": USER, "session": "s1"}));
    object.remove("safety_identifier");
    object["tools"].as_array_mut().unwrap().pop();
    assert_eq!(sent, &expected);
}

fn echo() -> String {
    json!({"echo_request": true, "fragment_bytes": 4096}).to_string()
}

#[test]
fn a_gpt_turn_reaches_argos_responses_with_all_it_carries() {
    let stack = native_stack();
    let turn = codex_turn(&echo(), false);
    let response = stack.post("/v1/responses", &turn.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    let echoed: Value =
        serde_json::from_str(answer["output"][0]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["path"], "/argoapi/v1/responses");
    assert_eq!(
        echoed["headers"]["authorization"],
        format!("Bearer {USER}"),
        "Argo's Responses takes the bearer username"
    );
    assert_sent_as_written(&echoed["body"], &turn);
    assert_eq!(upstream_calls(&stack), (1, 0), "not translated into chat");
    // Argo's answer, under the gateway's id and the client's model.
    assert!(
        answer["id"].as_str().unwrap().starts_with("resp-"),
        "{answer}"
    );
    assert_eq!(answer["model"], "gpt-5");
    assert!(
        answer["output"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_mock"),
        "the items are Argo's: {answer}"
    );
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(name, _)| name == "response.output_text.delta")
        .map(|(_, event)| event["delta"].as_str().unwrap())
        .collect()
}

#[test]
fn a_streamed_gpt_turn_is_relayed_event_by_event() {
    let stack = native_stack();
    let turn = codex_turn(&echo(), true);
    let response = stack.post("/v1/responses", &turn.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = sse_events(&response.text());
    let echoed: Value = serde_json::from_str(&streamed_text(&events)).unwrap();
    assert_eq!(echoed["path"], "/argoapi/v1/responses");
    assert_eq!(echoed["headers"]["accept"], "text/event-stream");
    assert_sent_as_written(&echoed["body"], &turn);
    assert_eq!(upstream_calls(&stack), (1, 0));
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"response.created"));
    assert_eq!(names.last(), Some(&"response.completed"));
    for (index, (name, event)) in events.iter().enumerate() {
        assert_eq!(event["type"], name.as_str());
        assert_eq!(event["sequence_number"], index, "Argo's numbering");
        if let Some(response) = event.get("response") {
            assert!(response["id"].as_str().unwrap().starts_with("resp-"));
            assert_eq!(response["model"], "gpt-5", "{name}");
        }
    }
    let usage = &events.last().unwrap().1["response"]["usage"];
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    // Argo's usage is what the gateway counts.
    for (direction, count) in [
        ("prompt", &usage["input_tokens"]),
        ("completion", &usage["output_tokens"]),
    ] {
        let line = |metrics: &str| {
            metrics.lines().any(|line| {
                line.starts_with("argo_bridge_tokens_total")
                    && line.contains(r#"model="gpt-5""#)
                    && line.contains(&format!(r#"direction="{direction}""#))
                    && line.ends_with(&format!(" {count}"))
            })
        };
        wait_until(Duration::from_secs(5), "the usage counted", || {
            line(&request(stack.gateway_port, "GET", "/metrics", &[], b"").text()).then_some(())
        });
    }
}

#[test]
fn the_clients_user_never_overrides_the_gateways() {
    let stack = native_stack();
    for spelling in [r#""user""#, r#""us\u0065r""#] {
        let body = format!(
            r#"{{"model":"gpt-4o","input":"hi #mock {{\"echo_request\":true,\"fragment_bytes\":4096}}",{spelling}:"mallory","metadata":{{"user_id":"mallory"}}}}"#
        );
        let response = stack.post("/v1/responses", &body);
        assert_eq!(response.status, 200, "{}", response.text());
        let text = response.json()["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!text.contains("mallory"), "{text}");
        let echoed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(echoed["body"]["user"], USER);
        assert_eq!(echoed["body"]["metadata"]["user_id"], USER);
    }
    assert_eq!(upstream_calls(&stack), (2, 0));
}

#[test]
fn argos_notice_is_a_403_streamed_or_not() {
    let stack = native_stack();
    for stream in [false, true] {
        let body = json!({"model": "gpt-4o", "input": "hi", "stream": stream});
        let auth = format!("Bearer {UNREGISTERED_TOKEN}");
        let response = request(
            stack.gateway_port,
            "POST",
            "/v1/responses",
            &[("Authorization", &auth)],
            body.to_string().as_bytes(),
        );
        let error = response.expect_error(403);
        assert_eq!(error["code"], "upstream_user_not_registered");
        assert!(!response.text().contains("NOTICE"), "{}", response.text());
    }
    assert_eq!(upstream_calls(&stack), (2, 0));
}

#[test]
fn errors_inside_the_stream_reach_the_client() {
    let stack = native_stack();
    let directive = json!({"reply": "Hello there", "stream_error": "The model failed"});
    let body = json!({"model": "gpt-4o", "stream": true, "input": format!("hi #mock {directive}")});
    let response = stack.post("/v1/responses", &body.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    let events = sse_events(&response.text());
    assert_eq!(streamed_text(&events), "Hello there");
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names[names.len() - 2..],
        ["error", "response.failed"],
        "{names:?}"
    );
    let failed = &events.last().unwrap().1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["model"], "gpt-4o");
    let sequence: Vec<u64> = events
        .iter()
        .map(|(_, event)| event["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(sequence, (0..events.len() as u64).collect::<Vec<_>>());
    assert!(
        events.iter().any(|(_, event)| event["item_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_mock"))),
        "Argo's own events"
    );
    // Before anything was sent, Argo's error is the response.
    let directive = json!({"status": 429});
    let body = json!({"model": "gpt-4o", "stream": true, "input": format!("hi #mock {directive}")});
    stack
        .post("/v1/responses", &body.to_string())
        .expect_error(429);
    assert_eq!(upstream_calls(&stack), (2, 0));
}

#[test]
fn what_argo_would_refuse_or_not_serve_keeps_todays_answer() {
    let stack = native_stack();
    // Argo refuses custom tools described in over 4,096 characters; the translation offers
    // them as functions, which Argo takes.
    let long = json!({"model": "gpt-5", "input": "hi", "tools": [
        {"type": "custom", "name": "apply_patch", "description": "d".repeat(5000)}]});
    let response = stack.post("/v1/responses", &long.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(upstream_calls(&stack), (0, 1));
    // A namespace grouping what cannot be served (namespaces themselves go flat, issue 25:
    // tests/codex_tools.rs) and stored state are refused as the translation refuses them.
    let namespace = json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "namespace", "name": "mcp", "tools": [{"type": "file_search"}]}]});
    let error = stack
        .post("/v1/responses", &namespace.to_string())
        .expect_error(400);
    assert_eq!(error["param"], "tools[0].tools[0].type");
    let chained = json!({"model": "gpt-5", "input": "hi", "previous_response_id": "resp_1"});
    let error = stack
        .post("/v1/responses", &chained.to_string())
        .expect_error(400);
    assert_eq!(error["param"], "previous_response_id");
    assert_eq!(upstream_calls(&stack), (0, 1));
}

#[test]
fn claude_and_gemini_keep_the_translation() {
    let stack = native_stack();
    for model in ["claude-sonnet-4.5", "gemini-2.5-pro"] {
        let body = json!({"model": model, "input": "Hello", "stream": true});
        let response = stack.post("/v1/responses", &body.to_string());
        assert_eq!(response.status, 200, "{model}: {}", response.text());
        assert!(streamed_text(&sse_events(&response.text())).contains("You said: Hello"));
    }
    let endpoints = &mock_stats(&stack)["endpoints"];
    assert_eq!(endpoints["responses"], 0);
    assert_eq!(
        (&endpoints["messages"], &endpoints["chat_completions"]),
        (&json!(1), &json!(1))
    );
}

/// A parameter Argo refuses on `/v1/responses` for a model only its live list has is left out
/// and learned, as on chat: the client's first request answers 200 after one retry, later ones
/// are one call each.
#[test]
fn a_parameter_argo_refuses_is_left_out_and_learned_as_on_chat() {
    let (_mock, mock_port) = start_mock(&["--fragment-delay-ms", "0"]);
    let admin_token = "admin-token-responses";
    let (_gateway, port, admin) = start_gateway_with_admin(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_UPSTREAM_API", "native"),
            ("ARGO_BRIDGE_ADMIN_TOKEN", admin_token),
        ],
    );
    let hook = json!({"add": [{"id": "GPT 7", "internal_id": "gpt7", "refuses": ["top_p"]}]});
    change_mock_models(mock_port, &hook);
    let refreshed = refresh_models(admin, admin_token);
    assert_eq!(refreshed["failed"], json!([]), "{refreshed}");
    let responses = || {
        request(mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json()["endpoints"]
            ["responses"]
            .as_u64()
            .unwrap()
    };
    let asked = json!({"model": "gpt-7", "input": format!("hi #mock {}", echo()),
        "top_p": 0.5, "temperature": 0.25});
    for calls in [2, 3] {
        let response = post_as_alice(port, "/v1/responses", &asked.to_string());
        assert_eq!(response.status, 200, "{}", response.text());
        let text = response.json()["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        let echoed: Value = serde_json::from_str(&text).unwrap();
        assert!(echoed["body"].get("top_p").is_none(), "{echoed}");
        assert_eq!(echoed["body"]["temperature"], 0.25);
        assert_eq!(responses(), calls, "refused then retried, then learned");
    }
}
