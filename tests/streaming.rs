//! Black-box streaming tests: raw SSE over sockets against the gateway and a paced mock Argo.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// An open SSE response read event by event.
struct EventStream {
    reader: BufReader<TcpStream>,
    status: u16,
    headers: Vec<(String, String)>,
    buffered: String,
}

impl EventStream {
    fn open(port: u16, path: &str, body: &Value) -> EventStream {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let body = body.to_string();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        EventStream {
            reader,
            status,
            headers,
            buffered: String::new(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next `data:` payload; `None` when the chunked body ended.
    fn next_event(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffered.find("\n\n") {
                let event: String = self.buffered.drain(..end + 2).collect();
                return Some(
                    event
                        .trim_end()
                        .strip_prefix("data: ")
                        .expect("data line")
                        .to_string(),
                );
            }
            let chunk = read_chunk(&mut self.reader)?;
            self.buffered
                .push_str(std::str::from_utf8(&chunk).expect("chunks hold whole UTF-8 events"));
        }
    }

    fn all_events(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.next_event()).collect()
    }

    /// Reads until the first event with non-empty content and returns that content.
    fn first_content(&mut self) -> String {
        while let Some(event) = self.next_event() {
            if let Some(content) = serde_json::from_str::<Value>(&event).ok().and_then(|e| {
                e["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            }) {
                if !content.is_empty() {
                    return content;
                }
            }
        }
        panic!("stream ended without content");
    }
}

fn chat_stream_body(model: &str, directive: &str, include_usage: bool) -> Value {
    let mut body = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": format!("hi #mock {directive}")}]});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn parse(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn mock_stats(stack: &Stack) -> Value {
    request(stack.mock_port, "GET", "/__mock/stats", &[], b"").json()
}

#[test]
fn chat_stream_has_openai_event_shape() {
    let stack = Stack::start();
    let mut stream = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body(
            "gpt-4o",
            r#"{"reply":"Streaming works fine.","fragment_bytes":5,"fragment_delay_ms":1}"#,
            false,
        ),
    );
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.header("transfer-encoding"), Some("chunked"));
    assert!(stream.header("content-length").is_none());
    let events = stream.all_events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&events);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(content_of(&chunks), "Streaming works fine.");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(
            (&chunk["id"], &chunk["created"], &chunk["model"]),
            (&chunks[0]["id"], &chunks[0]["created"], &json!("gpt-4o"))
        );
    }
}

#[test]
fn include_usage_ends_with_a_usage_chunk() {
    let stack = Stack::start();
    let events = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body(
            "claude-sonnet-4.5",
            r#"{"reply":"twelve chars","fragment_delay_ms":0}"#,
            true,
        ),
    )
    .all_events();
    let chunks = parse(&events);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 3);
    assert!(usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn utf8_split_across_fragments_arrives_intact() {
    let stack = Stack::start();
    let text = "héllo wörld, 世界 🎉!";
    let directive = json!({"reply": text, "fragment_bytes": 1, "fragment_delay_ms": 0}).to_string();
    let events = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", &directive, false),
    )
    .all_events();
    let chunks = parse(&events);
    assert_eq!(content_of(&chunks), text);
    // One-byte fragments that hold no whole character send no event: only the role chunk is empty.
    let empty = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["content"] == json!(""))
        .count();
    assert_eq!(empty, 1);
}

#[test]
fn each_fragment_reaches_the_client_before_the_next_is_sent() {
    let stack = Stack::start();
    let directive = r#"{"fragments":["first ","second"],"fragment_delay_ms":4000}"#;
    let mut stream = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", directive, false),
    );
    assert_eq!(stream.first_content(), "first ");
    // The mock pauses 4 s before the second fragment: the client already holds the first.
    assert_eq!(mock_stats(&stack)["fragments_sent"], 1);
}

#[test]
fn client_disconnect_drops_the_upstream_stream() {
    let stack = Stack::start();
    let directive =
        json!({"reply": "x".repeat(400), "fragment_bytes": 1, "fragment_delay_ms": 50}).to_string();
    let mut stream = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", &directive, false),
    );
    stream.first_content();
    drop(stream);
    // A full stream would take 20 s; the mock must see the abort long before.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = mock_stats(&stack);
        if stats["streams_aborted"] == 1 {
            assert!(stats["fragments_sent"].as_u64().unwrap() < 400);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "upstream stream still running: {stats}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And the gateway still serves.
    let events = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", r#"{"reply":"ok","fragment_delay_ms":0}"#, false),
    )
    .all_events();
    assert_eq!(content_of(&parse(&events)), "ok");
}

#[test]
fn errors_before_the_first_byte_are_plain_openai_errors() {
    let stack = Stack::start();
    let failed = stack.post(
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", r#"{"status":503}"#, false).to_string(),
    );
    assert_eq!(failed.header("content-type"), Some("application/json"));
    failed.expect_error(502);
    let limited = stack.post(
        "/v1/chat/completions",
        &chat_stream_body("gpt-4o", r#"{"status":429,"retry_after":"4"}"#, false).to_string(),
    );
    assert_eq!(limited.header("retry-after"), Some("4"));
    limited.expect_error(429);
}

#[test]
fn cut_off_after_start_ends_with_an_error_event() {
    let stack = Stack::start();
    let mut stream = EventStream::open(
        stack.gateway_port,
        "/v1/chat/completions",
        &chat_stream_body(
            "gpt-4o",
            r#"{"reply":"abcdefgh","fragment_bytes":2,"fragment_delay_ms":0,"cut_after":2}"#,
            false,
        ),
    );
    let events = stream.all_events();
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "upstream_error");
    assert!(last["error"]["message"].as_str().unwrap().contains("Argo"));
    assert_eq!(content_of(&parse(&events[..events.len() - 1])), "abcd");
}

#[test]
fn requests_with_tools_get_a_synthesized_stream() {
    let stack = Stack::start();
    let response = json!({"content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]});
    let mut body = chat_stream_body("gpt-4o", &json!({"response": response}).to_string(), true);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let events = EventStream::open(stack.gateway_port, "/v1/chat/completions", &body).all_events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&events);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], "call_1");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{\"city\":\"Paris\"}");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn legacy_completions_stream_text_completion_chunks() {
    let stack = Stack::start();
    let body = json!({"model": "gpt-4o", "stream": true, "prompt": "Say something"});
    let events = EventStream::open(stack.gateway_port, "/v1/completions", &body).all_events();
    let chunks = parse(&events);
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(
        text,
        "Hello from mock Argo (gpt4o). You said: Say something"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[test]
fn keepalive_connection_serves_a_request_after_a_stream() {
    let stack = Stack::start();
    let mut socket = TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    for round in 0..2 {
        let body = chat_stream_body(
            "gpt-4o",
            &format!(r#"{{"reply":"round {round}","fragment_delay_ms":0}}"#),
            false,
        )
        .to_string();
        let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        socket.write_all(head.as_bytes()).unwrap();
        socket.write_all(body.as_bytes()).unwrap();
        let response = read_response(&mut reader);
        assert_eq!(response.status, 200);
        assert!(
            response.text().contains(&format!("round {round}")),
            "{}",
            response.text()
        );
        assert!(response.text().ends_with("data: [DONE]\n\n"));
    }
}
