//! Upstream faults and hostile input: each gets a defined OpenAI error, a metric, no hang, and
//! the gateway keeps serving.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

fn metrics(stack: &Stack) -> String {
    request(stack.gateway_port, "GET", "/metrics", &[], b"").text()
}

fn assert_still_serving(stack: &Stack) {
    let answer = stack.post(
        "/v1/chat/completions",
        &chat_with_directive("gpt-4o", r#"{"reply":"alive"}"#),
    );
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "alive");
}

#[test]
fn connect_failures_are_retried_with_backoff_then_502() {
    let closed_port = ClosedPort::new();
    let closed = closed_port.port();
    let (_gateway, port) = start_gateway(&format!("http://127.0.0.1:{closed}/argoapi"), &[]);
    let error = post_hello(port).expect_error(502);
    assert_eq!(error["code"], "upstream_unreachable");
    let metrics = request(port, "GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains(r#"argo_bridge_upstream_retries_total{reason="connect"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"argo_bridge_upstream_errors_total{kind="upstream_unreachable"} 1"#),
        "{metrics}"
    );
}

#[test]
fn pooled_connections_to_a_restarted_argo_are_replaced_not_failed() {
    let (mock, mock_port) = start_mock(&[]);
    let (_gateway, port) = start_gateway(&argo_base(mock_port), &[]);
    for _ in 0..3 {
        assert_eq!(post_hello(port).status, 200);
    }
    // The gateway now holds idle pooled connections to a process that is gone.
    drop(mock);
    let _restarted = start_mock_on(mock_port, &[]);
    for attempt in 0..6 {
        let answer = post_hello(port);
        assert_eq!(answer.status, 200, "attempt {attempt}: {}", answer.text());
    }
}

#[test]
fn connect_timeout_is_504() {
    // A listener whose accept queue is full: further SYNs go unanswered.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let _queued: Vec<TcpStream> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let (_gateway, port) = start_gateway(
        &format!("http://{addr}/argoapi"),
        &[
            ("ARGO_BRIDGE_CONNECT_TIMEOUT_MS", "300"),
            ("ARGO_BRIDGE_RETRIES", "0"),
        ],
    );
    let error = post_hello(port).expect_error(504);
    assert_eq!(error["code"], "upstream_connect_timeout");
}

#[test]
fn broken_answers_are_502_and_slow_drips_504() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_TOTAL_TIMEOUT_MS", "600")]);
    let chat = |directive: &str| {
        stack.post(
            "/v1/chat/completions",
            &chat_with_directive("gpt-4o", directive),
        )
    };
    assert_eq!(
        chat(r#"{"reply":"cut short","truncate":true}"#).expect_error(502)["code"],
        "upstream_cut_off"
    );
    assert_eq!(
        chat(r#"{"status":200,"body":"{\"response\": [1, 2"}"#).expect_error(502)["code"],
        "upstream_invalid_answer"
    );
    assert_eq!(
        chat(r#"{"reply":"drip drip drip","drip_ms":100}"#).expect_error(504)["code"],
        "upstream_total_timeout"
    );
    assert_eq!(
        chat(r#"{"status":503,"body":"maintenance"}"#).expect_error(502)["code"],
        "upstream_bad_status"
    );
    let metrics = metrics(&stack);
    for kind in [
        "upstream_cut_off",
        "upstream_invalid_answer",
        "upstream_total_timeout",
        "upstream_bad_status",
    ] {
        assert!(
            metrics.contains(&format!(
                r#"argo_bridge_upstream_errors_total{{kind="{kind}"}} 1"#
            )),
            "{kind}: {metrics}"
        );
    }
    assert_still_serving(&stack);
}

#[test]
fn a_stream_that_stalls_ends_with_an_error_event() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_READ_TIMEOUT_MS", "500")]);
    let body = json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "#mock {\"fragments\":[\"a\",\"b\"],\"fragment_delay_ms\":3000}"}]});
    let response = stack.post("/v1/chat/completions", &body.to_string());
    assert_eq!(response.status, 200);
    let text = response.text();
    let last_event = text.trim_end().rsplit("\n\n").next().unwrap();
    let error: serde_json::Value =
        serde_json::from_str(last_event.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "upstream_timeout", "{text}");
    assert!(text.contains(r#""content":"a""#));
    assert_still_serving(&stack);
}

#[test]
fn hostile_bodies_get_4xx_and_the_gateway_keeps_serving() {
    let stack = Stack::start();
    let auth = format!("Bearer {TOKEN}");
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        request(
            stack.gateway_port,
            "POST",
            "/v1/chat/completions",
            &all,
            body,
        )
    };
    post(
        &[],
        b"{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}",
    )
    .expect_error(400);
    let nested = format!(
        "{{\"model\":\"gpt-4o\",\"messages\":{}{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    post(&[], nested.as_bytes()).expect_error(400);
    let form = post(
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"model=gpt-4o",
    )
    .expect_error(415);
    assert_eq!(form["code"], "unsupported_media_type");
    let huge_string = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "z".repeat(5 * 1024 * 1024)}]}).to_string();
    post(&[], huge_string.as_bytes()).expect_error(413);
    assert_eq!(
        request(
            stack.gateway_port,
            "DELETE",
            "/v1/models",
            &[("Authorization", &auth)],
            b""
        )
        .expect_error(405)["code"],
        "method_not_allowed"
    );
    assert_still_serving(&stack);
}

#[test]
fn requests_without_content_type_are_415() {
    let stack = Stack::start();
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let mut socket = TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(body.as_bytes()).unwrap();
    read_response(&mut BufReader::new(socket)).expect_error(415);
}

#[test]
fn slowloris_bodies_time_out_while_others_are_served() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_CLIENT_BODY_TIMEOUT_MS", "500")]);
    let mut slow = TcpStream::connect(("127.0.0.1", stack.gateway_port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":");
    slow.write_all(head.as_bytes()).unwrap();
    assert_still_serving(&stack);
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"));
}
