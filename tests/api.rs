//! Black-box tests of the non-streaming API over real sockets: gateway binary + mock Argo.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};

/// The request body the mock Argo received, as echoed back in the answer text.
fn argo_saw(stack: &Stack, request: Value) -> Value {
    echoed_argo_request(&stack.post("/v1/chat/completions", &request.to_string()))
}

#[test]
fn models_are_listed_and_looked_up_by_any_spelling() {
    let stack = Stack::start();
    let list = stack.get("/v1/models").json();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in [
        "gpt-4o",
        "claude-sonnet-4.5",
        "gemini-2.5-pro",
        "text-embedding-3-small",
        "o3",
        "claude-opus-4.5",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["object"] == "model" && m["created"].is_u64()));
    let claude = stack.get("/v1/models/argo:claude-4.5-opus").json();
    assert_eq!(
        (claude["id"].as_str(), claude["owned_by"].as_str()),
        (Some("claude-opus-4.5"), Some("anthropic"))
    );
    assert_eq!(stack.get("/v1/models/argo%3AGPT-4O").json()["id"], "gpt-4o");
    let missing = stack.get("/v1/models/gpt-99").expect_error(404);
    assert_eq!(missing["code"], "model_not_found");
    request(stack.gateway_port, "GET", "/v1/models", &[], b"").expect_error(401);
}

/// Claude Code sends `HEAD /` to its base URL at start; a 404 there reads as a broken gateway.
#[test]
fn the_base_url_answers_with_the_gateways_name() {
    let stack = Stack::start();
    let root = request(stack.gateway_port, "GET", "/", &[], b"");
    assert_eq!(root.status, 200);
    assert_eq!(root.json()["name"], "argo-bridge");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let (status, _) = common::read_head(&mut reader);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!((status, rest.len()), (200, 0), "HEAD answers a head only");
}

#[test]
fn health_ready_and_metrics_are_served_locally() {
    let stack = Stack::start();
    let health = request(stack.gateway_port, "GET", "/health", &[], b"");
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    // Ready once the first readiness probes have reached the mock Argo.
    let ready = wait_until(std::time::Duration::from_secs(10), "/ready", || {
        let ready = request(stack.gateway_port, "GET", "/ready", &[], b"");
        (ready.status == 200).then_some(ready)
    });
    assert_eq!(ready.json()["status"].as_str(), Some("ready"));
    stack.post(
        "/v1/chat/completions",
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    );
    let counted = r#"argo_bridge_requests_total{client="openai",endpoint="chat",model="gpt-4o",status="200"} 1"#;
    metrics_containing(stack.gateway_port, counted);
}

#[test]
fn chat_completion_is_translated_both_ways() {
    let stack = Stack::start();
    let body = json!({"model": "ARGO:GPT-4O", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]}]});
    let response = stack.post("/v1/chat/completions", &body.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let json = response.json();
    assert!(json["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], "ARGO:GPT-4O");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Hello from mock Argo (gpt4o). You said: Hello\nthere"
    );
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    let usage = &json["usage"];
    assert!(
        usage["prompt_tokens"].as_u64().unwrap() > 0
            && usage["completion_tokens"].as_u64().unwrap() > 0
    );
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
}

#[test]
fn response_heads_carry_each_header_once_the_length_and_the_request_id() {
    let stack = Stack::start();
    for stream in [false, true] {
        let body = json!({"model": "gpt-4o", "stream": stream,
            "messages": [{"role": "user", "content": "Hello"}]});
        let response = stack.post("/v1/chat/completions", &body.to_string());
        assert_eq!(response.status, 200, "{}", response.text());
        let mut names: Vec<String> = response
            .headers
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            count,
            "stream {stream}: {:?}",
            response.headers
        );
        assert!(response
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()));
        if stream {
            assert_eq!(response.header("content-type"), Some("text/event-stream"));
            assert_eq!(response.header("transfer-encoding"), Some("chunked"));
        } else {
            let length = response.header("content-length").map(str::parse::<usize>);
            assert_eq!(length, Some(Ok(response.body.len())));
        }
    }
}

#[test]
fn argo_receives_the_mapped_user_never_the_client_one() {
    let stack = Stack::start();
    let body = json!({"model": "gpt-4o", "user": "mallory", "temperature": 0.3, "max_completion_tokens": 64,
        "messages": [{"role": "developer", "content": "rules"}, {"role": "user", "content": "x #mock {\"echo_request\":true}"}]});
    let seen = argo_saw(&stack, body.clone());
    assert_eq!(seen["user"], USER);
    assert_eq!(seen["model"], "gpt4o");
    assert_eq!(
        seen["messages"][0],
        json!({"role": "system", "content": "rules"})
    );
    assert_eq!(
        (seen["max_tokens"].as_u64(), seen["temperature"].as_f64()),
        (Some(64), Some(0.3))
    );
    let as_bob = request(
        stack.gateway_port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer test-token-bob")],
        body.to_string().as_bytes(),
    );
    let echoed: Value = serde_json::from_str(
        as_bob.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(echoed["user"], "bob");
}

#[test]
fn reasoning_models_get_their_token_parameter() {
    let stack = Stack::start();
    let seen = argo_saw(
        &stack,
        json!({"model": "o3", "max_tokens": 99, "temperature": 0.5,
        "messages": [{"role": "user", "content": "#mock {\"echo_request\":true}"}]}),
    );
    assert_eq!(
        (
            seen["model"].as_str(),
            seen["max_completion_tokens"].as_u64()
        ),
        (Some("gpto3"), Some(99))
    );
    assert!(seen.get("max_tokens").is_none());
    // argo-proxy's probe of prod: the o-series takes temperature (and top_p) on Argo.
    assert_eq!(seen["temperature"], 0.5);
}

#[test]
fn small_and_large_bodies_work_and_the_limit_is_413() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_MAX_BODY_BYTES", "2000000")]);
    for size in [1024, 1024 * 1024] {
        let filler = "a".repeat(size);
        let seen = argo_saw(
            &stack,
            json!({"model": "gpt-4o", "messages": [
            {"role": "user", "content": filler}, {"role": "user", "content": "#mock {\"echo_request\":true}"}]}),
        );
        assert_eq!(
            seen["messages"][0]["content"].as_str().map(str::len),
            Some(size)
        );
    }
    let too_big = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "b".repeat(2_100_000)}]}).to_string();
    let error = stack
        .post("/v1/chat/completions", &too_big)
        .expect_error(413);
    assert_eq!(error["code"], "request_too_large");
}

#[test]
fn chunked_uploads_over_the_limit_are_413() {
    use std::io::{BufReader, Write};
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_MAX_BODY_BYTES", "10000")]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    for _ in 0..5 {
        let chunk = "c".repeat(4000);
        let _ = stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    read_response(&mut BufReader::new(stream)).expect_error(413);
}

#[test]
fn bad_requests_get_openai_errors_naming_the_field() {
    let stack = Stack::start();
    let cases: [(&str, u16, Value); 7] = [
        ("{\"model\": ", 400, json!("body")),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":7}]}"#,
            400,
            json!("messages[0].content"),
        ),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            400,
            json!("temperature"),
        ),
        (
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            400,
            json!("model"),
        ),
        (
            r#"{"model":"gpt-4o","messages":[]}"#,
            400,
            json!("messages"),
        ),
        (
            r#"{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}"#,
            404,
            json!("model"),
        ),
        (
            r#"{"model":"text-embedding-3-small","messages":[{"role":"user","content":"x"}]}"#,
            400,
            json!("model"),
        ),
    ];
    for (body, status, param) in cases {
        let error = stack
            .post("/v1/chat/completions", body)
            .expect_error(status);
        assert_eq!(error["param"], param, "{body}");
    }
    let unknown = stack.get("/v1/nothing-here").expect_error(404);
    assert_eq!(unknown["code"], "not_found");
    let wrong_method = stack.get("/v1/chat/completions").expect_error(405);
    assert_eq!(wrong_method["code"], "method_not_allowed");
    let unauthorized = request(
        stack.gateway_port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer wrong-token-123")],
        b"{}",
    );
    assert!(!unauthorized.text().contains("wrong-token-123"));
    unauthorized.expect_error(401);
}

#[test]
fn legacy_completions_return_one_choice_per_prompt() {
    let stack = Stack::start();
    let one = stack
        .post("/v1/completions", r#"{"model":"gpt-4o","prompt":"Say hi"}"#)
        .json();
    assert_eq!(one["object"], "text_completion");
    assert_eq!(
        one["choices"][0]["text"],
        "Hello from mock Argo (gpt4o). You said: Say hi"
    );
    let many = stack
        .post(
            "/v1/completions",
            r#"{"model":"claude-sonnet-4.5","prompt":["A","B"]}"#,
        )
        .json();
    let texts: Vec<&str> = many["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Hello from mock Argo (claudesonnet45). You said: A",
            "Hello from mock Argo (claudesonnet45). You said: B"
        ]
    );
    stack
        .post("/v1/completions", r#"{"model":"gpt-4o","prompt":[1,2]}"#)
        .expect_error(400);
}

#[test]
fn embeddings_as_floats_and_base64() {
    let stack = Stack::start();
    let floats = stack
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":["alpha","beta"]}"#,
        )
        .json();
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["model"], "text-embedding-3-small");
    let first: Vec<f32> = serde_json::from_value(floats["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(first.len(), 1536);
    assert_eq!(floats["data"][1]["index"], 1);
    assert!(floats["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let encoded = stack
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"alpha","encoding_format":"base64"}"#,
        )
        .json();
    let text = encoded["data"][0]["embedding"].as_str().unwrap();
    let bytes = decode_base64(text);
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(
        decoded, first,
        "base64 and float outputs must carry the same vector"
    );

    let short = stack
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-large","input":"x","dimensions":256}"#,
        )
        .json();
    assert_eq!(short["data"][0]["embedding"].as_array().unwrap().len(), 256);
    stack
        .post("/v1/embeddings", r#"{"model":"gpt-4o","input":"x"}"#)
        .expect_error(400);
}

fn decode_base64(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = alphabet
            .iter()
            .position(|a| *a == byte)
            .expect("base64 digit") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn upstream_failures_map_to_502_504_and_429() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_READ_TIMEOUT_MS", "400")]);
    let chat = |directive: &str| {
        stack.post(
            "/v1/chat/completions",
            &chat_with_directive("gpt-4o", directive),
        )
    };

    let error = chat(r#"{"status":500,"body":"internal kaboom"}"#).expect_error(502);
    assert!(error["message"].as_str().unwrap().contains("500"));
    let limited = chat(r#"{"status":429,"retry_after":"12","body":"{\"error\":\"too many\"}"}"#);
    assert_eq!(limited.header("retry-after"), Some("12"));
    assert_eq!(limited.expect_error(429)["type"], "rate_limit_error");
    chat(r#"{"status":400,"body":"{\"error\":\"context too long\"}"}"#).expect_error(400);
    chat(r#"{"status":200,"body":"this is not json"}"#).expect_error(502);
    let slow = chat(r#"{"delay_ms":3000}"#).expect_error(504);
    assert_eq!(slow["code"], "upstream_timeout");
    // The gateway keeps serving after all of that.
    assert_eq!(
        chat(r#"{"reply":"still here"}"#).json()["choices"][0]["message"]["content"],
        "still here"
    );
}

#[test]
fn unreachable_argo_is_502_without_leaking_its_address() {
    let closed_port = ClosedPort::new();
    let closed = closed_port.port();
    let (_gateway, port) = start_gateway(&format!("http://127.0.0.1:{closed}/argoapi"), &[]);
    let response = post_hello(port);
    let error = response.expect_error(502);
    assert!(
        !response.text().contains(&closed.to_string()),
        "{}",
        response.text()
    );
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("Could not connect to Argo"));
}
