//! The mock Argo's native endpoints over a real socket: SSE on the wire, the model-list hooks,
//! and the stats a test reads to see Argo's side of a stream.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{read_chunk, read_head, request, start_mock, wait_until, Response};
use serde_json::{json, Value};

fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    request(port, "POST", path, headers, body.to_string().as_bytes())
}

fn stats(port: u16) -> Value {
    request(port, "GET", "/__mock/stats", &[], b"").json()
}

/// The `(event name, data)` pairs of an SSE body.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = Some(rest.to_string());
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data.push_str(rest);
                }
            }
            (name, data)
        })
        .collect()
}

#[test]
fn chat_completions_stream_sse_on_the_wire() {
    let (_mock, port) = start_mock(&[]);
    let body = json!({"model": "gpt4o", "user": "alice", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "x #mock {\"reply\": \"Hello, world\", \"fragment_bytes\": 5, \"fragment_delay_ms\": 1}"}]});
    let response = post(
        port,
        "/argoapi/v1/chat/completions",
        &[
            ("Authorization", "Bearer alice"),
            ("Accept", "text/event-stream"),
        ],
        &body,
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = sse_events(&response.text());
    assert_eq!(events.last().map(|(_, data)| data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content")?.as_str())
        .collect();
    assert_eq!(text, "Hello, world");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let stats = stats(port);
    assert_eq!(stats["streams_completed"], 1);
    assert_eq!(stats["endpoints"]["chat_completions"], 1);
    assert_eq!(stats["fragments_sent"], 3);
}

#[test]
fn messages_stream_anthropic_events_on_the_wire() {
    let (_mock, port) = start_mock(&[]);
    let body = json!({"model": "claudesonnet45", "max_tokens": 100, "stream": true,
        "metadata": {"user_id": "alice"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x #mock {\"reply\": \"Hi there\", \"fragment_delay_ms\": 1}"}]}]});
    let headers = [("x-api-key", "alice"), ("anthropic-version", "2023-06-01")];
    let response = post(port, "/argoapi/v1/messages", &headers, &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let events = sse_events(&response.text());
    let names: Vec<&str> = events
        .iter()
        .map(|(name, _)| name.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"ping"));
    let text: String = events
        .iter()
        .filter_map(|(_, data)| serde_json::from_str::<Value>(data).ok())
        .filter(|event| event["delta"]["type"] == "text_delta")
        .filter_map(|event| event["delta"]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(text, "Hi there");
    let refused = post(port, "/argoapi/v1/messages", &headers[..1], &body);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
}

/// A stream the client leaves mid-way is counted as aborted, so tests can see that the
/// gateway let go of Argo when its own client went away.
#[test]
fn a_client_leaving_mid_stream_is_counted_as_aborted() {
    let (_mock, port) = start_mock(&[]);
    let body = json!({"model": "gpt4o", "user": "alice", "stream": true,
        "messages": [{"role": "user", "content": "x #mock {\"reply\": \"ab\", \"then_forever\": \"z\", \"fragment_delay_ms\": 5}"}]})
    .to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let head = format!(
        "POST /argoapi/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, _) = read_head(&mut reader);
    assert_eq!(status, 200);
    for _ in 0..6 {
        assert!(read_chunk(&mut reader).is_some());
    }
    drop(reader);
    let stats = wait_until(Duration::from_secs(10), "the stream to be aborted", || {
        let stats = stats(port);
        (stats["streams_aborted"] == 1).then_some(stats)
    });
    assert_eq!(stats["streams_started"], 1);
    assert_eq!(stats["streams_completed"], 0);
}

#[test]
fn cut_after_ends_the_stream_without_its_end() {
    let (_mock, port) = start_mock(&[]);
    let body = json!({"model": "claudehaiku45", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "x #mock {\"reply\": \"abcdefghijkl\", \"fragment_bytes\": 2, \"cut_after\": 2, \"fragment_delay_ms\": 1}"}]});
    let response = post(
        port,
        "/argoapi/v1/messages",
        &[("x-api-key", "alice"), ("anthropic-version", "2023-06-01")],
        &body,
    );
    let text = response.text();
    assert!(text.contains("\"text\":\"cd\""), "{text}");
    assert!(!text.contains("\"text\":\"ef\"") && !text.contains("message_stop"));
    let stats = wait_until(Duration::from_secs(10), "the cut to be counted", || {
        let stats = stats(port);
        (stats["streams_aborted"] == 1).then_some(stats)
    });
    assert_eq!(stats["fragments_sent"], 2);
}

#[test]
fn the_model_list_serves_both_shapes_and_obeys_its_hooks() {
    let (_mock, port) = start_mock(&[]);
    let list = |path: &str| request(port, "GET", path, &[], b"");
    let current = list("/argoapi/v1/models").json();
    assert!(current["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "GPT-4o" && m["internal_id"] == "gpt4o"));
    let old = list("/argoapi-old/v1/models").json();
    assert!(old["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| *m == json!({"id": "gpt4o", "model_name": "GPT-4o"})));
    let hook = |body: Value| post(port, "/__mock/models", &[], &body);
    assert_eq!(hook(json!({"add": ["gpt99"]})).status, 200);
    let current = list("/argoapi/v1/models").json();
    assert!(current["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["internal_id"] == "gpt99"));
    let chat =
        json!({"model": "gpt99", "user": "alice", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post(
        port,
        "/argoapi/v1/chat/completions",
        &[("Authorization", "Bearer alice")],
        &chat,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    hook(json!({"fail": true}));
    assert_eq!(list("/argoapi/v1/models").status, 503);
    hook(json!({"fail": false}));
    assert_eq!(list("/argoapi/v1/models").status, 200);
    assert_eq!(stats(port)["endpoints"]["models"], 5);
}

/// argo-api.md §C (live, argo-proxy probe of 2026-09-27): `/v1/responses` streams OpenAI's
/// Responses events for GPT models, with the username as bearer token only; Claude gets 500.
#[test]
fn responses_stream_on_the_wire_for_gpt_only() {
    let (_mock, port) = start_mock(&[]);
    let body = json!({"model": "gpt5", "user": "alice", "stream": true,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "x #mock {\"reply\": \"Hi there\", \"fragment_delay_ms\": 1}"}]}]});
    let bearer = [
        ("Authorization", "Bearer alice"),
        ("User-Agent", "argo-bridge/9 (codex_cli_rs/0.1)"),
    ];
    let response = post(port, "/argoapi/v1/responses", &bearer, &body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = sse_events(&response.text());
    let names: Vec<&str> = events
        .iter()
        .map(|(name, _)| name.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(names.first(), Some(&"response.created"));
    assert_eq!(names.last(), Some(&"response.completed"));
    let text: String = events
        .iter()
        .filter(|(name, _)| name.as_deref() == Some("response.output_text.delta"))
        .map(|(_, data)| {
            serde_json::from_str::<Value>(data).unwrap()["delta"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "Hi there");
    let completed: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert!(
        completed["response"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    let key_only = post(
        port,
        "/argoapi/v1/responses",
        &[("x-api-key", "alice")],
        &body,
    );
    assert_eq!(key_only.status, 401);
    let mut claude = body.clone();
    claude["model"] = json!("claudesonnet45");
    assert_eq!(
        post(port, "/argoapi/v1/responses", &bearer, &claude).status,
        500
    );
    let stats = stats(port);
    assert_eq!(stats["endpoints"]["responses"], 3);
    assert_eq!(stats["user_agents"][0], "argo-bridge/9 (codex_cli_rs/0.1)");
    assert_eq!(stats["last_user_agent"], "argo-bridge/9 (codex_cli_rs/0.1)");
}

/// argo-api.md §C: every unstreamed Claude call is a 500 (argo-proxy 3.2.1 / ChemGraph issue
/// 150); count_tokens answers `{"input_tokens"}` (route only, no recorded body); the legacy
/// model list has the 37 models in the current shape.
#[test]
fn claude_unstreamed_is_a_500_and_count_tokens_and_the_legacy_list_answer() {
    let (_mock, port) = start_mock(&[]);
    let headers = [("x-api-key", "alice"), ("anthropic-version", "2023-06-01")];
    let body = json!({"model": "claudesonnet5", "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello there"}]});
    let refused = post(port, "/argoapi/v1/messages", &headers, &body);
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.json(),
        json!({"error": {"message": "Streaming is required for operations that may take longer than 10 minutes. ...",
            "type": "ValueError", "code": "internal_error"}})
    );
    let counted = post(port, "/argoapi/v1/messages/count_tokens", &headers, &body);
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert_eq!(counted.json(), json!({"input_tokens": 2 + 2}));
    let legacy = request(port, "GET", "/argoapi/api/v1/models/", &[], b"").json();
    let data = legacy["data"].as_array().unwrap();
    assert_eq!(data.len(), 37);
    assert!(data
        .iter()
        .any(|m| m["internal_id"] == "claudesonnet5" && m["object"] == "model"));
    let stats = stats(port);
    assert_eq!(stats["endpoints"]["count_tokens"], 1);
    assert_eq!(stats["endpoints"]["messages"], 1);
}
