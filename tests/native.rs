//! Argo's native endpoints, black-box over sockets against the mock Argo: Claude over
//! `/v1/messages`, the other chat models over `/v1/chat/completions`, embeddings over
//! `/v1/embeddings`, each with its own auth header and the lab username; the model table's
//! parameter rules; live SSE translation; Argo's notice; the live model list.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn native_stack() -> Stack {
    Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[("ARGO_BRIDGE_UPSTREAM_API", "native")],
    )
}

fn mock_stats(stack: &Stack) -> Value {
    request(stack.mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

/// What the mock received, from its `echo_request` answer: method, path, headers, body.
fn echoed(stack: &Stack, request: Value) -> Value {
    echoed_argo_request(&stack.post("/v1/chat/completions", &request.to_string()))
}

fn echo_request(model: &str, extra: Value) -> Value {
    let mut request = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi #mock {\"echo_request\":true}"}],
        "user": "mallory",
    });
    if let (Some(object), Value::Object(extra)) = (request.as_object_mut(), extra) {
        object.extend(extra);
    }
    request
}

/// The `data:` payloads of an SSE body.
fn sse_payloads(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

fn stream(stack: &Stack, request: Value) -> (Response, Vec<String>) {
    let response = stack.post("/v1/chat/completions", &request.to_string());
    let payloads = sse_payloads(&response.text());
    (response, payloads)
}

#[test]
fn claude_goes_to_messages_as_the_mapped_user_with_anthropic_headers() {
    let stack = native_stack();
    let argo = echoed(&stack, echo_request("claude-sonnet-4.5", json!({})));
    assert_eq!(argo["path"], "/argoapi/v1/messages");
    assert_eq!(argo["headers"]["x-api-key"], USER);
    assert_eq!(argo["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(argo["headers"]["accept"], "text/event-stream");
    assert_eq!(argo["headers"]["authorization"], Value::Null);
    let body = &argo["body"];
    assert_eq!(body["model"], "claudesonnet45");
    assert_eq!(
        (&body["user"], &body["metadata"]["user_id"]),
        (&json!(USER), &json!(USER))
    );
    assert_eq!(body["stream"], true, "Claude is always streamed upstream");
    assert_eq!(
        body["max_tokens"], 16384,
        "the table's default: Argo requires one"
    );
}

#[test]
fn other_models_go_to_chat_completions_with_every_field_the_client_sent() {
    let stack = native_stack();
    let extra = json!({"seed": 7, "response_format": {"type": "json_object"}, "logprobs": true,
        "top_logprobs": 2, "n": 1, "reasoning_effort": "low", "frequency_penalty": 0.5});
    let argo = echoed(&stack, echo_request("gpt-4o", extra.clone()));
    assert_eq!(argo["path"], "/argoapi/v1/chat/completions");
    assert_eq!(argo["headers"]["authorization"], format!("Bearer {USER}"));
    assert_eq!(argo["headers"]["x-api-key"], Value::Null);
    let body = &argo["body"];
    assert_eq!(
        (&body["model"], &body["user"]),
        (&json!("gpt4o"), &json!(USER))
    );
    for (field, value) in extra.as_object().unwrap() {
        assert_eq!(&body[field], value, "{field} reaches Argo");
    }
}

#[test]
fn the_model_tables_parameter_rules_are_applied_before_argo_sees_them() {
    let stack = native_stack();
    let both = json!({"temperature": 0.3, "top_p": 0.9});
    let opus = echoed(&stack, echo_request("claude-opus-4.7", both.clone()))["body"].clone();
    assert!(
        opus.get("temperature").is_none() && opus.get("top_p").is_none(),
        "{opus}"
    );
    let sonnet = echoed(&stack, echo_request("claude-sonnet-4.5", both.clone()))["body"].clone();
    assert_eq!(
        (sonnet["temperature"].as_f64(), sonnet.get("top_p")),
        (Some(0.3), None)
    );
    let gpt5 = echoed(&stack, echo_request("gpt-5", both))["body"].clone();
    assert!(
        gpt5.get("temperature").is_none() && gpt5.get("top_p").is_none(),
        "{gpt5}"
    );
    let effort = json!({"reasoning_effort": "high"});
    let adaptive = echoed(&stack, echo_request("claude-opus-4.6", effort))["body"].clone();
    assert_eq!(adaptive["output_config"]["effort"], "high");
    assert_eq!(adaptive["thinking"], json!({"type": "adaptive"}));
    // Each of these would be a 400 from Argo (the mock answers as it does): all succeed.
    for model in ["claude-opus-4.7", "claude-sonnet-4.5", "gpt-5"] {
        let body = json!({"model": model, "temperature": 0.3, "top_p": 0.9,
            "messages": [{"role": "user", "content": "hi"}]});
        let answer = stack.post("/v1/chat/completions", &body.to_string());
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
    }
}

#[test]
fn claude_streams_become_openai_chunks_with_live_tool_calls_and_usage() {
    let stack = native_stack();
    let request = json!({
        "model": "claude-sonnet-4.5", "stream": true, "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "messages": [{"role": "user", "content": "Weather in Paris? #mock {\"tool_call\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},\"fragment_bytes\":4}"}],
    });
    let (response, payloads) = stream(&stack, request);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|payload| serde_json::from_str(payload).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(calls.len() > 2, "the call arrives in pieces: {calls:?}");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_")));
    let arguments: String = calls
        .iter()
        .filter_map(|call| call["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(chunks
        .iter()
        .any(|chunk| chunk["choices"][0]["finish_reason"] == "tool_calls"));
    let usage = &chunks.last().unwrap()["usage"];
    assert!(
        usage["prompt_tokens"].as_u64().unwrap() > 0
            && usage["completion_tokens"].as_u64().unwrap() > 0
    );
    for chunk in &chunks {
        assert_eq!(chunk["model"], "claude-sonnet-4.5");
    }
}

#[test]
fn openai_streams_are_relayed_with_the_clients_model_and_usage_only_when_asked() {
    let stack = native_stack();
    for include_usage in [false, true] {
        let request = json!({"model": "gpt-4o", "stream": true,
            "stream_options": {"include_usage": include_usage},
            "messages": [{"role": "user", "content": "hello #mock {\"reply\":\"one two three\"}"}]});
        let (_, payloads) = stream(&stack, request);
        assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = payloads[..payloads.len() - 1]
            .iter()
            .map(|payload| serde_json::from_str(payload).unwrap())
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "one two three");
        let ids: std::collections::HashSet<&str> = chunks
            .iter()
            .filter_map(|chunk| chunk["id"].as_str())
            .collect();
        assert_eq!(ids.len(), 1);
        assert!(ids
            .iter()
            .all(|id| id.starts_with("chatcmpl-") && !id.contains("mock")));
        assert!(chunks.iter().all(|chunk| chunk["model"] == "gpt-4o"));
        let usage_chunks = chunks
            .iter()
            .filter(|chunk| chunk["usage"].is_object())
            .count();
        assert_eq!(
            usage_chunks,
            usize::from(include_usage),
            "include_usage {include_usage}"
        );
    }
}

#[test]
fn claude_answers_wanted_whole_are_streamed_upstream_and_collected() {
    let stack = native_stack();
    // Above 21,000 tokens Argo refuses Claude without streaming (the mock too).
    let body = json!({"model": "claude-opus-4.5", "max_tokens": 30000,
        "messages": [{"role": "user", "content": "hi #mock {\"reply\":\"whole answer\",\"thinking\":\"hmm\"}"}]});
    let answer = stack.post("/v1/chat/completions", &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["choices"][0]["message"]["content"], "whole answer");
    assert_eq!(json["choices"][0]["message"]["reasoning_content"], "hmm");
    assert!(json["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn an_unregistered_user_gets_403_on_every_native_path() {
    let stack = Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[
            ("ARGO_BRIDGE_UPSTREAM_API", "native"),
            ("ARGO_BRIDGE_TOKENS", &format!("{TOKEN}=unregistered-ann")),
        ],
    );
    for model in ["gpt-4o", "claude-sonnet-4.5", "gemini-2.5-flash"] {
        for streaming in [false, true] {
            let body = json!({"model": model, "stream": streaming,
                "messages": [{"role": "user", "content": "hi"}]});
            let answer = stack.post("/v1/chat/completions", &body.to_string());
            let error = answer.expect_error(403);
            assert_eq!(
                error["code"], "upstream_user_not_registered",
                "{model} stream {streaming}"
            );
            assert!(!answer.text().contains("AUTHENTICATION NOTICE"));
        }
    }
    metrics_containing(
        stack.gateway_port,
        r#"argo_bridge_upstream_errors_total{kind="upstream_user_not_registered"} 6"#,
    );
}

#[test]
fn an_error_mid_stream_is_an_error_event_after_the_text() {
    let stack = native_stack();
    for model in ["gpt-4o", "claude-sonnet-4.5"] {
        let body = json!({"model": model, "stream": true, "messages": [{"role": "user",
            "content": "hi #mock {\"reply\":\"partial\",\"stream_error\":\"overloaded\"}"}]});
        let (response, payloads) = stream(&stack, body);
        assert_eq!(response.status, 200);
        let last: Value = serde_json::from_str(payloads.last().unwrap()).unwrap();
        assert!(
            last["error"]["message"].is_string(),
            "{model}: {payloads:?}"
        );
        assert!(payloads.iter().any(|payload| payload.contains("partial")));
        assert!(!payloads.iter().any(|payload| payload == "[DONE]"));
    }
}

#[test]
fn a_client_leaving_mid_stream_drops_the_argo_stream() {
    let stack = native_stack();
    for (model, aborted) in [("gpt-4o", 1), ("claude-sonnet-4.5", 2)] {
        let body = json!({"model": model, "stream": true, "messages": [{"role": "user",
            "content": "hi #mock {\"reply\":\"start\",\"then_forever\":\"more \",\"fragment_delay_ms\":5}"}]})
        .to_string();
        let mut client = TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
        write!(client, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let mut line = String::new();
        while !line.contains("more") {
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
        drop(reader);
        drop(client);
        wait_until(
            Duration::from_secs(5),
            "the mock to see its stream dropped",
            || (mock_stats(&stack)["streams_aborted"] == aborted).then_some(()),
        );
    }
}

#[test]
fn embeddings_go_to_the_native_endpoint() {
    let stack = native_stack();
    let texts: Vec<String> = (0..20).map(|n| format!("text {n}")).collect();
    let body = json!({"model": "text-embedding-3-small", "input": texts});
    let answer = stack.post("/v1/embeddings", &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["data"].as_array().unwrap().len(), 20);
    assert_eq!(json["data"][19]["index"], 19);
    assert_eq!(json["model"], "text-embedding-3-small");
    assert_eq!(
        mock_stats(&stack)["endpoints"]["embeddings"],
        2,
        "two batches of at most 16"
    );
}

#[test]
fn the_live_model_list_adds_argos_new_models_and_survives_failures() {
    let (_mock, mock_port) = start_mock(&["--fragment-delay-ms", "0"]);
    let (_gateway, port, admin) = start_gateway_with_admin(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_UPSTREAM_API", "native"),
            ("ARGO_BRIDGE_ADMIN_TOKEN", "admin-token-native"),
        ],
    );
    let refresh = || refresh_models(admin, "admin-token-native");
    let hook = |change: Value| change_mock_models(mock_port, &change);
    let listed = |port: u16| -> Vec<String> {
        let models = request(
            port,
            "GET",
            "/v1/models",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        )
        .json();
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!listed(port).contains(&"claude-opus-4.9".to_string()));
    hook(json!({"add": [{"id": "Claude Opus 4.9", "internal_id": "claudeopus49"}]}));
    let refreshed = refresh();
    assert_eq!(refreshed["failed"], json!([]));
    assert!(listed(port).contains(&"claude-opus-4.9".to_string()));
    let body = json!({"model": "claude-opus-4.9", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_as_alice(port, "/v1/chat/completions", &body.to_string());
    assert_eq!(
        answer.status,
        200,
        "a new Claude model routes to /v1/messages: {}",
        answer.text()
    );
    assert!(answer.text().contains("claudeopus49"));
    // A failed read keeps the last list and is counted.
    hook(json!({"fail": true}));
    let refreshed = refresh();
    assert_eq!(refreshed["failed"].as_array().unwrap().len(), 3);
    assert!(listed(port).contains(&"claude-opus-4.9".to_string()));
    let metrics = metrics_containing(admin, "argo_bridge_model_refresh_failures_total");
    assert!(
        metrics.contains(r#"argo_bridge_model_refresh_failures_total{env="prod"} 1"#),
        "{metrics}"
    );
}

#[test]
fn the_older_model_list_shape_is_read_too() {
    let (_mock, mock_port) = start_mock(&[]);
    request(
        mock_port,
        "POST",
        "/argoapi-old/__mock/models",
        &[],
        br#"{"add":["gpt99"]}"#,
    );
    let old = format!("http://127.0.0.1:{mock_port}/argoapi-old");
    let (_gateway, port) = start_gateway(&old, &[("ARGO_BRIDGE_UPSTREAM_API", "native")]);
    let auth = format!("Bearer {TOKEN}");
    wait_until(Duration::from_secs(10), "gpt99 to be listed", || {
        let models = request(port, "GET", "/v1/models", &[("Authorization", &auth)], b"").json();
        let data = models["data"].as_array()?.clone();
        data.iter()
            .any(|model| model["id"] == "gpt99")
            .then_some(())
    });
}

/// The answers' texts of a `text_completion`, in order.
fn completion_texts(answer: &Response) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["object"], "text_completion");
    json["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|choice| choice["text"].as_str().unwrap().to_string())
        .collect()
}

/// The mock's count of calls to the resource `chat` and `streamchat` and the native
/// `/v1/chat/completions` and `/v1/messages`.
fn chat_calls(stack: &Stack) -> [u64; 4] {
    let endpoints = &mock_stats(stack)["endpoints"];
    ["chat", "streamchat", "chat_completions", "messages"]
        .map(|endpoint| endpoints[endpoint].as_u64().unwrap())
}

/// The text of a streamed `text_completion`.
fn streamed_completion(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let chunks: Vec<Value> = sse_payloads(&response.text())
        .iter()
        .filter(|payload| *payload != "[DONE]")
        .map(|payload| serde_json::from_str(payload).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|chunk| chunk["object"] == "text_completion"));
    chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["text"].as_str())
        .collect()
}

#[test]
fn completions_of_a_native_row_go_to_argos_native_endpoints() {
    let stack = native_stack();
    let gpt = r#"{"model":"gpt-4o","prompt":["Say A","Say B"],"max_tokens":20}"#;
    let texts = completion_texts(&stack.post("/v1/completions", gpt));
    assert_eq!(texts.len(), 2);
    assert!(
        texts[0].ends_with("Say A") && texts[1].ends_with("Say B"),
        "{texts:?}"
    );
    let claude = r#"{"model":"claude-sonnet-4.5","prompt":["Say C","Say D","Say E"]}"#;
    let texts = completion_texts(&stack.post("/v1/completions", claude));
    assert_eq!(texts.len(), 3);
    assert!(texts[2].ends_with("Say E"), "{texts:?}");
    let stream = json!({"model": "gpt-4o", "stream": true, "prompt": "Say F"});
    let text = streamed_completion(&stack.post("/v1/completions", &stream.to_string()));
    assert!(text.ends_with("Say F"), "{text}");
    assert_eq!(
        chat_calls(&stack),
        [0, 0, 3, 3],
        "one native call per prompt, none to the resource API"
    );
}

#[test]
fn completions_of_a_resource_row_still_go_to_the_resource_api() {
    let stack = Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[("ARGO_BRIDGE_UPSTREAM_API", "resource")],
    );
    let body = r#"{"model":"gpt-4o","prompt":["Say A","Say B"]}"#;
    let texts = completion_texts(&stack.post("/v1/completions", body));
    assert_eq!(
        texts,
        [
            "Hello from mock Argo (gpt4o). You said: Say A",
            "Hello from mock Argo (gpt4o). You said: Say B"
        ]
    );
    let stream = json!({"model": "claude-sonnet-4.5", "stream": true, "prompt": "Say C"});
    let text = streamed_completion(&stack.post("/v1/completions", &stream.to_string()));
    assert_eq!(
        text,
        "Hello from mock Argo (claudesonnet45). You said: Say C"
    );
    assert_eq!(
        chat_calls(&stack),
        [2, 1, 0, 0],
        "none to the native endpoints"
    );
}
