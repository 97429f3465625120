//! Black-box tests of what real Argo does that our first idea of it did not: retired models,
//! the parameter rules Argo enforces, the tool-call shapes it really sends, conversations that
//! must end with a user turn, embed batches and unregistered users. The mock Argo refuses what
//! real Argo refuses (`mock-argo/src/rules.rs`), so a success here means the gateway adjusted
//! the request.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};

/// The request body the mock Argo received, as echoed back in the answer text.
fn argo_saw(stack: &Stack, request: Value) -> Value {
    echoed_argo_request(&stack.post("/v1/chat/completions", &request.to_string()))
}

const ECHO: &str = "#mock {\"echo_request\":true}";

#[test]
fn a_retired_model_is_404_naming_its_successors() {
    let stack = Stack::start();
    for (name, successors) in [
        ("gpt-4", ["gpt-4o", "gpt-4.1"]),
        ("gpt35", ["gpt-4.1-mini", "gpt-4o"]),
        (
            "claude-sonnet-4",
            ["claude-sonnet-4.5", "claude-sonnet-4.6"],
        ),
    ] {
        let response = stack.post(
            "/v1/chat/completions",
            &json!({"model": name, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
        );
        let error = response.expect_error(404);
        assert_eq!(error["code"], "model_not_found");
        let message = error["message"].as_str().unwrap();
        for successor in successors {
            assert!(message.contains(&format!("`{successor}`")), "{message}");
        }
    }
    let model = stack.get("/v1/models/gpt-4-turbo");
    assert!(model.expect_error(404)["message"]
        .as_str()
        .unwrap()
        .contains("`gpt-4o`"));
    let ids = stack.get("/v1/models").json()["data"].to_string();
    assert!(
        !ids.contains("\"gpt-4\"") && ids.contains("\"gpt-5.5\""),
        "{ids}"
    );
}

#[test]
fn names_the_original_bridge_accepted_still_route() {
    let stack = Stack::start();
    for (name, argo_id) in [
        ("gpt-4o-mini", "gpt4o"),
        ("o3mini", "gpto3mini"),
        ("gpt41nano", "gpt41nano"),
        ("claudesonnet45", "claudesonnet45"),
    ] {
        let seen = argo_saw(
            &stack,
            json!({"model": name, "messages": [{"role": "user", "content": ECHO}]}),
        );
        assert_eq!(seen["model"], argo_id, "{name}");
    }
    let embedding = stack.post("/v1/embeddings", r#"{"model":"ada002","input":"x"}"#);
    assert_eq!(embedding.status, 200, "{}", embedding.text());
}

#[test]
fn claude_parameters_are_adjusted_before_argo_can_refuse_them() {
    let stack = Stack::start();
    let seen = argo_saw(
        &stack,
        json!({"model": "claude-sonnet-4.5", "max_tokens": 50000, "temperature": 0.4, "top_p": 0.9,
            "messages": [{"role": "user", "content": ECHO}]}),
    );
    assert_eq!(seen["max_tokens"], 21000);
    assert_eq!(seen["temperature"], 0.4);
    assert!(seen.get("top_p").is_none());
    let opus47 = argo_saw(
        &stack,
        json!({"model": "claude-opus-4.7", "temperature": 0.4, "top_p": 0.9,
            "messages": [{"role": "user", "content": ECHO}]}),
    );
    assert!(opus47.get("temperature").is_none() && opus47.get("top_p").is_none());
    let gpt5 = argo_saw(
        &stack,
        json!({"model": "gpt-5", "temperature": 0.2, "top_p": 0.5,
            "messages": [{"role": "user", "content": ECHO}]}),
    );
    assert!(gpt5.get("temperature").is_none() && gpt5.get("top_p").is_none());
}

#[test]
fn a_streamed_claude_request_keeps_its_token_limit() {
    let stack = Stack::start();
    let body = json!({"model": "claude-sonnet-4.5", "max_tokens": 50000, "stream": true,
        "messages": [{"role": "user", "content": "#mock {\"echo_request\":true,\"fragment_delay_ms\":0,\"fragment_bytes\":4096}"}]});
    let response = stack.post("/v1/chat/completions", &body.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    let text: String = response
        .text()
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let seen: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(seen["max_tokens"], 50000, "streaming calls are not capped");
}

/// A weather-tool turn whose mock answer uses `shape`.
fn tool_turn(model: &str, shape: &str) -> String {
    let directive = format!(
        r#"#mock {{"tool_call":{{"name":"get_weather","arguments":{{"city":"Paris"}},"shape":"{shape}"}}}}"#
    );
    json!({"model": model,
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "parallel_tool_calls": false,
        "messages": [{"role": "user", "content": format!("Weather in Paris? {directive}")}]})
    .to_string()
}

#[test]
fn tool_call_shapes_argo_really_sends_come_back_as_openai_tool_calls() {
    let stack = Stack::start();
    for (model, shape) in [
        ("gemini-2.5-pro", "gemini"),
        ("claude-sonnet-4.5", "single_object"),
        ("gpt-4o", "single_object"),
        ("claude-sonnet-4.5", "leaked"),
    ] {
        let response = stack.post("/v1/chat/completions", &tool_turn(model, shape));
        assert_eq!(response.status, 200, "{model} {shape}: {}", response.text());
        let choice = &response.json()["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model} {shape}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
        assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
        let content = choice["message"]["content"].as_str().unwrap_or_default();
        assert!(!content.contains("toolu_"), "{model} {shape}: {content}");
    }
}

#[test]
fn argo_never_receives_parallel_tool_calls() {
    let stack = Stack::start();
    let body = json!({"model": "gpt-4o", "parallel_tool_calls": false,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "messages": [{"role": "user", "content": ECHO}]});
    let seen = argo_saw(&stack, body);
    assert_eq!(seen["tools"][0]["function"]["name"], "f");
    assert!(seen.get("parallel_tool_calls").is_none());
}

#[test]
fn a_conversation_ending_with_the_assistant_reaches_argo_ending_with_the_user() {
    let stack = Stack::start();
    for model in ["claude-haiku-4.5", "gemini-2.5-flash"] {
        let seen = argo_saw(
            &stack,
            json!({"model": model, "messages": [
                {"role": "user", "content": format!("Start a haiku. {ECHO}")},
                {"role": "assistant", "content": "Autumn moonlight"}]}),
        );
        let messages = seen["messages"].as_array().unwrap();
        assert_eq!(messages[messages.len() - 2]["content"], "Autumn moonlight");
        assert_eq!(
            messages.last().unwrap(),
            &json!({"role": "user", "content": "[continue]"}),
            "{model}"
        );
    }
}

#[test]
fn many_embedding_inputs_go_to_argo_in_batches() {
    let stack = Stack::start();
    let inputs: Vec<String> = (0..40).map(|i| format!("text {i}")).collect();
    let one_by_one: Vec<Value> = ["text 0", "text 17", "text 39"]
        .iter()
        .map(|text| {
            let body = json!({"model": "text-embedding-3-small", "input": text}).to_string();
            stack.post("/v1/embeddings", &body).json()["data"][0]["embedding"].clone()
        })
        .collect();
    let body = json!({"model": "text-embedding-3-small", "input": inputs}).to_string();
    let response = stack.post("/v1/embeddings", &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let data = response.json()["data"].clone();
    assert_eq!(data.as_array().unwrap().len(), 40);
    for (index, expected) in [0, 17, 39].into_iter().zip(&one_by_one) {
        assert_eq!(data[index]["index"], index);
        assert_eq!(
            &data[index]["embedding"], expected,
            "vector {index} in order"
        );
    }
}

/// The mock greets `unregistered*` usernames as real Argo greets unknown ones (HTTP 200 and
/// its notice in place of a reply, first in a stream); the gateway turns that into a 403.
#[test]
fn an_unregistered_user_gets_403_not_argos_notice() {
    let tokens = format!("{TOKEN}={USER},test-token-ghost=unregistered-ghost");
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_TOKENS", &tokens)]);
    let ghost = [("Authorization", "Bearer test-token-ghost")];
    for (path, body) in [
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        (
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"hi"}"#,
        ),
    ] {
        let response = request(stack.gateway_port, "POST", path, &ghost, body.as_bytes());
        let error = response.expect_error(403);
        assert_eq!(error["code"], "upstream_user_not_registered", "{body}");
        assert!(!response.text().contains("AUTHENTICATION NOTICE"));
    }
}
