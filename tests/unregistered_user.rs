//! Argo answers a username it does not know with HTTP 200 and a notice instead of an answer
//! (argo-proxy's `contains_argo_auth_warning`): the client gets a 403 that says what to do, on
//! every path, and nothing of the notice as content.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::json;

const NOTICE: &str =
    "⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO** ⚠️ The user is not registered.";

fn expect_unregistered(response: &Response) {
    let error = response.expect_error(403);
    assert_eq!(error["code"], "upstream_user_not_registered");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("Register with Argo"));
    assert!(!response.text().contains("NOTICE"));
}

#[test]
fn the_notice_becomes_a_403_on_every_path() {
    let stack = Stack::start();
    let reply = json!({"reply": NOTICE, "fragment_bytes": 4, "fragment_delay_ms": 1}).to_string();
    let chat = chat_with_directive("gpt-4o", &reply);
    expect_unregistered(&stack.post("/v1/chat/completions", &chat));

    let mut stream: serde_json::Value = serde_json::from_str(&chat).unwrap();
    stream["stream"] = json!(true);
    let streamed = stack.post("/v1/chat/completions", &stream.to_string());
    assert_ne!(streamed.header("content-type"), Some("text/event-stream"));
    expect_unregistered(&streamed);

    let completion = json!({"model": "gpt-4o", "prompt": format!("hi #mock {reply}")});
    expect_unregistered(&stack.post("/v1/completions", &completion.to_string()));

    let embed_directive = json!({"status": 200, "body": NOTICE}).to_string();
    let embedding =
        json!({"model": "text-embedding-3-small", "input": format!("x #mock {embed_directive}")});
    expect_unregistered(&stack.post("/v1/embeddings", &embedding.to_string()));

    metrics_containing(
        stack.gateway_port,
        "argo_bridge_upstream_errors_total{kind=\"upstream_user_not_registered\"} 4",
    );
}

#[test]
fn answers_that_only_start_alike_still_stream() {
    let stack = Stack::start();
    let reply =
        json!({"reply": "**Important: streams work", "fragment_bytes": 2, "fragment_delay_ms": 1});
    let mut body: serde_json::Value =
        serde_json::from_str(&chat_with_directive("gpt-4o", &reply.to_string())).unwrap();
    body["stream"] = json!(true);
    let streamed = stack.post("/v1/chat/completions", &body.to_string());
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let content: String = streamed
        .text()
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|event| {
            event["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "**Important: streams work");
}
