//! One client (or one faulty network) must not hurt every other user of the shared gateway:
//! each test reproduces an attack against the real binary and checks it no longer works.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Generous bound for what must happen "soon": the attacks held things for minutes or forever.
const SOON: Duration = Duration::from_secs(10);

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(SOON * 3)).ok();
    stream.set_nodelay(true).ok();
    stream
}

/// Reads one whole response (the connection may close after it).
fn response_on(stream: &TcpStream) -> Response {
    read_response(&mut BufReader::new(stream))
}

/// Writes a whole POST as the test user on `stream`.
fn send_post(stream: &TcpStream, path: &str, body: &str) {
    let head = post_head(path, body.len(), "");
    (&*stream)
        .write_all(format!("{head}{body}").as_bytes())
        .unwrap();
}

fn mock_stats(port: u16) -> Value {
    request(port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

fn post_head(path: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
}

struct Gateway {
    port: u16,
    mock_port: u16,
    process: Process,
    _mock: Process,
}

fn gateway_with(env: &[(&str, &str)]) -> Gateway {
    let (mock, mock_port) = start_mock(&[]);
    let (process, port) = start_gateway(&argo_base(mock_port), env);
    Gateway {
        port,
        mock_port,
        process,
        _mock: mock,
    }
}

/// Attack 1: A never-ending tool block from a prompt-mode model is released as text once it passes the
/// cap (it used to be held and re-scanned on every fragment, pinning a core), other users are
/// served meanwhile, and the work stops when the client leaves.
#[test]
fn an_endless_tool_block_is_released_as_text_and_stops_when_the_client_leaves() {
    let gateway = gateway_with(&[("ARGO_BRIDGE_MAX_TOOL_BLOCK_BYTES", "65536")]);
    let directive = json!({
        "fragments": ["Checking. <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \""],
        "then_forever": "x".repeat(64),
        "fragment_delay_ms": 0,
    });
    let body = json!({
        "model": "gemini-2.5-pro",
        "stream": true,
        "messages": [{"role": "user", "content": format!("weather? #mock {directive}")}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    })
    .to_string();
    let stream = connect(gateway.port);
    send_post(&stream, "/v1/chat/completions", &body);
    let mut reader = BufReader::new(&stream);
    let (status, _) = read_head(&mut reader);
    assert_eq!(status, 200);
    let mut content = String::new();
    while content.len() < 1_000_000 {
        let chunk = read_chunk(&mut reader).expect("the stream goes on");
        for line in String::from_utf8_lossy(&chunk).lines() {
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            if let Some(text) = event["choices"][0]["delta"]["content"].as_str() {
                content.push_str(text);
            }
        }
    }
    assert!(
        content.starts_with("Checking. <tool_call>{\"name\""),
        "{}",
        &content[..80]
    );
    assert!(
        content[80..].bytes().all(|b| b == b'x'),
        "the block is released whole, in order"
    );
    assert_eq!(
        post_hello(gateway.port).status,
        200,
        "other users are served meanwhile"
    );
    drop(reader);
    drop(stream);
    wait_until(SOON, "the mock to see its endless stream dropped", || {
        (mock_stats(gateway.mock_port)["streams_aborted"] == 1).then_some(())
    });
    let before = cpu_seconds(gateway.process.id());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_seconds(gateway.process.id()) - before;
    assert!(
        spent < 0.5,
        "the gateway still works for a gone client: {spent} s CPU in 2 s"
    );
}

/// Attack 3: A list of prompts is capped, every further Argo call spends the user's rate, and the calls
/// stop when the client leaves.
#[test]
fn completions_prompts_are_capped_charged_and_stop_with_the_client() {
    let gateway = gateway_with(&[
        ("ARGO_BRIDGE_RATE_LIMIT_RPM", "6"),
        ("ARGO_BRIDGE_RATE_LIMIT_BURST", "6"),
        ("ARGO_BRIDGE_MAX_PROMPTS_PER_REQUEST", "8"),
    ]);
    let completions = |prompts: Vec<String>| {
        let body = json!({"model": "gpt-4o", "prompt": prompts}).to_string();
        post_as_alice(gateway.port, "/v1/completions", &body)
    };
    // Each admitted request spends one token of the 6 (refilled one per 10 s).
    let many = completions(vec!["hi".to_string(); 9]);
    assert_eq!(many.expect_error(400)["code"], "too_many_prompts");
    let over_rate = completions(vec!["hi".to_string(); 8]);
    assert_eq!(over_rate.expect_error(429)["code"], "rate_limit_exceeded");
    assert_eq!(
        mock_stats(gateway.mock_port)["requests"],
        0,
        "refused before any call"
    );
    let four = completions(vec!["hi".to_string(); 4]);
    assert_eq!(four.status, 200, "{}", four.text());
    assert_eq!(four.json()["choices"].as_array().unwrap().len(), 4);
    assert_eq!(mock_stats(gateway.mock_port)["requests"], 4);
    assert_eq!(
        post_hello(gateway.port).expect_error(429)["code"],
        "rate_limit_exceeded"
    );

    let unlimited = gateway_with(&[]);
    let slow = vec![r#"slow #mock {"delay_ms":400}"#.to_string(); 16];
    let body = json!({"model": "gpt-4o", "prompt": slow}).to_string();
    let stream = connect(unlimited.port);
    send_post(&stream, "/v1/completions", &body);
    std::thread::sleep(Duration::from_millis(900));
    drop(stream);
    std::thread::sleep(Duration::from_millis(600));
    let after_leaving = mock_stats(unlimited.mock_port)["requests"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let later = mock_stats(unlimited.mock_port)["requests"]
        .as_u64()
        .unwrap();
    assert!(
        after_leaving <= 4,
        "{after_leaving} calls for a client gone after 0.9 s"
    );
    assert_eq!(later, after_leaving, "calls went on after the client left");
}

/// Attack 4: A request head must arrive whole, in time and within its size; connections that never
/// authenticate are capped per client address, and the address behind a trusted balancer is
/// the one it reports.
#[test]
fn slow_or_huge_heads_are_cut_off() {
    let gateway = gateway_with(&[("ARGO_BRIDGE_REQUEST_HEAD_TIMEOUT_MS", "1500")]);
    let dribbling = connect(gateway.port);
    let started = Instant::now();
    let head = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut refused = None;
    for byte in head
        .iter()
        .chain(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter())
    {
        if (&dribbling).write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_millis(2500) {
            refused = Some(response_on(&dribbling));
            break;
        }
    }
    let refused = refused.unwrap_or_else(|| response_on(&dribbling));
    assert_eq!(refused.expect_error(408)["code"], "request_timeout");
    assert!(started.elapsed() < SOON);

    let silent = connect(gateway.port);
    assert_eq!(
        response_on(&silent).expect_error(408)["code"],
        "request_timeout"
    );

    let huge = connect(gateway.port);
    let mut head = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 100 * 1024));
    let _ = (&huge).write_all(&head);
    let answer = response_on(&huge);
    assert_eq!(
        answer.expect_error(431)["code"],
        "request_header_fields_too_large"
    );
}

#[test]
fn unauthenticated_connections_are_capped_per_client_address() {
    let gateway = gateway_with(&[("ARGO_BRIDGE_MAX_UNAUTHENTICATED_CONNECTIONS", "3")]);
    let idle: Vec<TcpStream> = (0..3).map(|_| connect(gateway.port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = response_on(&connect(gateway.port));
    assert_eq!(refused.expect_error(429)["code"], "too_many_connections");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // A connection that authenticates no longer counts.
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    send_post(&idle[0], "/v1/chat/completions", &body);
    assert_eq!(response_on(&idle[0]).status, 200);
    assert_eq!(post_hello(gateway.port).status, 200);
    drop(idle);

    let behind_balancer = gateway_with(&[
        ("ARGO_BRIDGE_MAX_UNAUTHENTICATED_CONNECTIONS", "2"),
        ("ARGO_BRIDGE_TRUSTED_PROXIES", "127.0.0.0/8"),
    ]);
    let balancer: Vec<TcpStream> = (0..5).map(|_| connect(behind_balancer.port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    for stream in &balancer {
        let head = post_head(
            "/v1/chat/completions",
            body.len(),
            "X-Forwarded-For: 192.0.2.9\r\n",
        );
        (&*stream)
            .write_all(format!("{head}{body}").as_bytes())
            .unwrap();
        assert_eq!(
            response_on(stream).status,
            200,
            "the balancer itself is not capped"
        );
    }

    let proxied = gateway_with(&[
        ("ARGO_BRIDGE_MAX_UNAUTHENTICATED_CONNECTIONS", "2"),
        ("ARGO_BRIDGE_TRUSTED_PROXIES", "127.0.0.1"),
        ("ARGO_BRIDGE_PROXY_PROTOCOL", "true"),
    ]);
    let from = |client: &str| {
        let stream = connect(proxied.port);
        (&stream)
            .write_all(format!("PROXY TCP4 {client} 127.0.0.1 40000 8080\r\n").as_bytes())
            .unwrap();
        stream
    };
    let _first = from("192.0.2.1");
    let second = from("192.0.2.1");
    std::thread::sleep(Duration::from_millis(200));
    let third = from("192.0.2.1");
    assert_eq!(
        response_on(&third).expect_error(429)["code"],
        "too_many_connections"
    );
    let other = from("192.0.2.2");
    send_post(&other, "/v1/chat/completions", &body);
    assert_eq!(
        response_on(&other).status,
        200,
        "another client has its own count"
    );
    send_post(&second, "/v1/chat/completions", &body);
    assert_eq!(response_on(&second).status, 200);
}

/// Attack 5: A body has a total deadline, and bodies held at once share a budget: past it, 503 at
/// once, and small requests that fit still pass.
#[test]
fn slow_bodies_have_a_deadline_and_share_a_budget() {
    let gateway = gateway_with(&[
        ("ARGO_BRIDGE_CLIENT_BODY_TOTAL_TIMEOUT_MS", "1500"),
        ("ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES", "6000000"),
    ]);
    let slow = connect(gateway.port);
    (&slow)
        .write_all(post_head("/v1/chat/completions", 1000, "").as_bytes())
        .unwrap();
    let started = Instant::now();
    let writer = slow.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..100 {
            if (&writer).write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(
        response_on(&slow).expect_error(408)["code"],
        "request_timeout"
    );
    assert!(started.elapsed() < SOON);

    let holding = connect(gateway.port);
    (&holding)
        .write_all(post_head("/v1/chat/completions", 4 * 1024 * 1024, "").as_bytes())
        .unwrap();
    (&holding).write_all(&[b' '; 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let over = connect(gateway.port);
    (&over)
        .write_all(post_head("/v1/chat/completions", 3 * 1024 * 1024, "").as_bytes())
        .unwrap();
    let refused = response_on(&over);
    assert_eq!(refused.expect_error(503)["code"], "server_busy");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        post_hello(gateway.port).status,
        200,
        "a request that fits is served"
    );
    drop(holding);
}

/// Attack 6: Nothing a client sends is echoed or logged at length.
#[test]
fn client_values_are_bounded_in_answers_and_logs() {
    let gateway = LoggedGateway::start("flood", "info");
    let (port, log) = (gateway.port, &gateway.log);
    let method = "FLOOD".repeat(12_000);
    let answer = request(port, &method, "/v1/chat/completions", &[], b"");
    let error = answer.expect_error(405);
    assert!(answer.body.len() < 1024, "{} bytes", answer.body.len());
    assert!(!error["message"].as_str().unwrap().contains("FLOODFLOOD"));
    let huge = "X".repeat(2 * 1024 * 1024);
    let answer = request(port, &huge, "/v1/chat/completions", &[], b"");
    assert!(answer.body.len() < 1024);
    metrics_containing(port, "status=\"405\"");
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.len() < 16 * 1024, "{} bytes of log", text.len());
    assert!(!text.contains("FLOODFLOOD") && !text.contains("XXXX"));
    assert!(text.contains("method=OTHER"), "{text}");
}

/// Attack 7: A client that leaves while Argo has not answered yet is noticed at once, for buffered
/// answers and for streams.
#[test]
fn a_client_leaving_before_argo_answers_is_noticed() {
    let gateway = gateway_with(&[]);
    for stream in [false, true] {
        let body = json!({
            "model": "gpt-4o",
            "stream": stream,
            "messages": [{"role": "user", "content": "slow #mock {\"delay_ms\":30000}"}],
        })
        .to_string();
        let client = connect(gateway.port);
        send_post(&client, "/v1/chat/completions", &body);
        std::thread::sleep(Duration::from_millis(300));
        drop(client);
    }
    let metrics = metrics_containing(gateway.port, "status=\"499\"} 2");
    assert!(metrics.contains(
        "argo_bridge_requests_total{client=\"openai\",endpoint=\"chat\",model=\"gpt-4o\",status=\"499\"} 2"
    ));
}

/// Attack 9: A listener that cannot bind fails the start, naming the address, instead of leaving a
/// process whose health checks pass while the API is never served.
#[test]
fn a_taken_port_fails_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let admin = free_port();
    let mut command = gateway_command("http://127.0.0.1:9/argoapi", &[]);
    command
        .env("ARGO_BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("ARGO_BRIDGE_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let output = wait_output(child);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(
        TcpStream::connect(("127.0.0.1", admin)).is_err(),
        "no zombie admin listener"
    );
}

fn wait_output(child: std::process::Child) -> std::process::Output {
    let (sender, receiver) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    receiver
        .recv_timeout(SOON)
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the gateway did not exit")
        })
        .unwrap()
}

/// Errors the HTTP layer answers carry the OpenAI envelope too.
#[test]
fn malformed_requests_get_the_error_envelope() {
    let gateway = gateway_with(&[]);
    let chat = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
    let cases: Vec<(String, u16)> = vec![
        (format!("{chat}Content-Length: 12x\r\n\r\n"), 400),
        (
            format!("{chat}Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400,
        ),
        (format!("{chat}Transfer-Encoding: gzip\r\n\r\n"), 400),
        (
            format!("{chat}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            400,
        ),
        (format!("{chat}Host: y\r\n\r\n"), 400),
        (format!("{chat}X-Folded: a\r\n b\r\n\r\n"), 400),
        (format!("{chat}X-Nul: a\0b\r\n\r\n"), 400),
        (
            format!(
                "{chat}{}\r\n",
                (0..200)
                    .map(|i| format!("X-{i}: v\r\n"))
                    .collect::<String>()
            ),
            431,
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000)),
            414,
        ),
        (
            "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n".to_string(),
            405,
        ),
    ];
    for (head, status) in cases {
        let stream = connect(gateway.port);
        (&stream).write_all(head.as_bytes()).unwrap();
        let answer = response_on(&stream);
        answer.expect_error(status);
    }
}

/// `Expect: 100-continue` gets its interim answer at once, so clients do not wait to send.
#[test]
fn expect_continue_is_answered() {
    let gateway = gateway_with(&[]);
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let stream = connect(gateway.port);
    (&stream)
        .write_all(
            post_head(
                "/v1/chat/completions",
                body.len(),
                "Expect: 100-continue\r\n",
            )
            .as_bytes(),
        )
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line:?}");
    reader.read_line(&mut line).unwrap();
    (&stream).write_all(body.as_bytes()).unwrap();
    assert_eq!(read_response(&mut reader).status, 200);
}

/// HTTP/1.0 without keep-alive is answered without `Connection: keep-alive` and closed.
#[test]
fn http_1_0_connections_close_after_the_answer() {
    let gateway = gateway_with(&[]);
    let stream = connect(gateway.port);
    (&stream)
        .write_all(
            format!("GET /v1/models HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut raw = Vec::new();
    (&stream)
        .read_to_end(&mut raw)
        .expect("the gateway closes the connection");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("connection: keep-alive"),
        "{text}"
    );
}

/// A client that half-closes its side still gets a stream with a proper end.
#[test]
fn a_half_closed_client_gets_a_stream_that_ends() {
    let gateway = gateway_with(&[]);
    let body = json!({
        "model": "gpt-4o",
        "stream": true,
        "messages": [{"role": "user", "content": "x #mock {\"reply\":\"one two three four\",\"fragment_bytes\":4,\"fragment_delay_ms\":300}"}],
    })
    .to_string();
    let stream = connect(gateway.port);
    send_post(&stream, "/v1/chat/completions", &body);
    stream.shutdown(Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    let _ = (&stream).read_to_end(&mut raw);
    let answer = read_response(&mut BufReader::new(&raw[..]));
    if answer.header("content-type") == Some("text/event-stream") {
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.ends_with("0\r\n\r\n"),
            "the chunked body ends properly: {text}"
        );
        assert!(
            text.contains("data: [DONE]") || text.contains("\"error\""),
            "the stream ends with [DONE] or an error event: {text}"
        );
    } else {
        // The client closed its side before the stream began: a whole error answer.
        assert_eq!(answer.expect_error(499)["code"], "client_closed");
    }
}

/// Compressed bodies are refused plainly, not misread as invalid JSON.
#[test]
fn compressed_bodies_are_refused_with_415() {
    let gateway = gateway_with(&[]);
    let answer = request(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Encoding", "gzip"),
        ],
        b"\x1f\x8b\x08\x00",
    );
    assert_eq!(answer.expect_error(415)["param"], "Content-Encoding");
}

/// The access log never blocks a worker thread: with stderr a pipe nobody reads (it fills at
/// 64 KiB), requests are still answered.
#[test]
fn a_stalled_log_reader_does_not_stall_requests() {
    let (_mock, mock_port) = start_mock(&[]);
    let mut command = gateway_command(&argo_base(mock_port), &[]);
    command.env("RUST_LOG", "info").stderr(Stdio::piped());
    let (mut gateway, ports) = spawn_gateway(&mut command);
    let _unread_stderr = gateway.take_stderr();
    let port = ports.listen();
    let stream = connect(port);
    stream.set_read_timeout(Some(SOON)).unwrap();
    let mut reader = BufReader::new(&stream);
    for _ in 0..2_000 {
        (&stream)
            .write_all(
                format!(
                    "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        assert_eq!(read_response(&mut reader).status, 200);
    }
}

/// Attack 8: Argo's internals (hosts, addresses, stack traces) in a 5xx stay in the operator's
/// log, with the request id; the client gets a message it can act on. Argo's 4xx validation
/// messages still reach the user, scrubbed of addresses.
#[test]
fn upstream_internals_stay_in_the_operators_log() {
    let gateway = LoggedGateway::start("internals", "warn");
    let (port, log) = (gateway.port, &gateway.log);
    let internals = "upstream connect error to 10.2.3.4:8443 (argo-worker-7.inside.anl.gov): Traceback (most recent call last):\n  File \"/app/server.py\", line 12";
    let directive = json!({"status": 500, "body": internals}).to_string();
    let answer = post_as_alice(
        port,
        "/v1/chat/completions",
        &chat_with_directive("gpt-4o", &directive),
    );
    let error = answer.expect_error(502);
    assert_eq!(error["code"], "upstream_bad_status");
    for secret in [
        "10.2.3.4",
        "argo-worker-7",
        "inside.anl.gov",
        "Traceback",
        "/app/server.py",
    ] {
        assert!(
            !answer.text().contains(secret),
            "the client sees {secret}: {}",
            answer.text()
        );
    }
    let request_id = answer.header("x-request-id").unwrap().to_string();
    let logged = wait_until(SOON, "the failure in the log", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .find(|line| line.contains(&request_id))
            .map(str::to_string)
    });
    assert!(
        logged.contains("WARN") && logged.contains("10.2.3.4:8443"),
        "{logged}"
    );
    assert!(
        logged.contains("upstream_bad_status") && logged.contains("prod"),
        "{logged}"
    );

    let rejected = json!({"status": 400, "body": "{\"error\":\"max_tokens must be <= 21000 (see http://10.9.9.9/docs)\"}"}).to_string();
    let answer = post_as_alice(
        port,
        "/v1/chat/completions",
        &chat_with_directive("gpt-4o", &rejected),
    );
    let message = answer.expect_error(400)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("max_tokens must be <= 21000"), "{message}");
    assert!(!message.contains("10.9.9.9"), "{message}");
}
