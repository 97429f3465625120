//! Graceful shutdown (SIGTERM) and Pingora's graceful upgrade (`run --upgrade` + SIGQUIT),
//! black-box against the real binary.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// SSE `data:` payloads' delta content, joined; and whether `[DONE]` ended the stream.
fn stream_content(sse: &str) -> (String, bool) {
    let payloads: Vec<&str> = sse
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .collect();
    let content = payloads
        .iter()
        .filter_map(|payload| serde_json::from_str::<Value>(payload).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    (content, payloads.last() == Some(&"[DONE]"))
}

fn chat_body(directive: &str, stream: bool) -> String {
    json!({"model": "gpt-4o", "stream": stream,
           "messages": [{"role": "user", "content": format!("hi #mock {directive}")}]})
    .to_string()
}

#[test]
fn sigterm_lets_an_open_stream_finish_refuses_new_connections_and_exits() {
    let (_mock, mock_port) = start_mock(&[]);
    let env = [("ARGO_BRIDGE_GRACE_PERIOD_S", "20")];
    let (mut gateway, ports) = spawn_gateway(&mut gateway_command(&argo_base(mock_port), &env));
    let port = ports.listen();

    // Six fragments, 400 ms apart: the stream is open for about two seconds.
    let body = chat_body(
        r#"{"fragments":["a","b","c","d","e","f"],"fragment_delay_ms":400}"#,
        true,
    );
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(body.as_bytes()).unwrap();
    let mut reader = BufReader::new(socket);
    let (status, _) = read_head(&mut reader);
    assert_eq!(status, 200);
    let mut sse = read_chunk(&mut reader).expect("the stream has started");

    gateway.signal("TERM");
    wait_until(
        Duration::from_secs(10),
        "new connections to be refused",
        || {
            TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        },
    );
    while let Some(chunk) = read_chunk(&mut reader) {
        sse.extend_from_slice(&chunk);
    }
    let (content, done) = stream_content(&String::from_utf8_lossy(&sse));
    assert_eq!(content, "abcdef");
    assert!(done, "the stream must end with [DONE]");
    let exit = gateway
        .wait_exit(Duration::from_secs(15))
        .expect("the gateway exits once drained");
    assert!(exit.success(), "{exit:?}");
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn graceful_upgrade_hands_the_listener_over_without_failed_requests() {
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("upgrade");
    let sock = dir.path("upgrade.sock");
    let pid_file = dir.path("argo-bridge.pid");
    let (sock_text, pid_text) = (sock.display().to_string(), pid_file.display().to_string());
    let env = [
        ("ARGO_BRIDGE_UPGRADE_SOCK", sock_text.as_str()),
        ("ARGO_BRIDGE_PID_FILE", pid_text.as_str()),
        ("ARGO_BRIDGE_GRACE_PERIOD_S", "10"),
    ];
    let argo = argo_base(mock_port);
    let (mut old, ports) = spawn_gateway(&mut gateway_command(&argo, &env));
    let port = ports.listen();
    // The new process asks for the very address the old one listens on: an upgrade hands the
    // listeners over by address.
    let listen = format!("127.0.0.1:{port}");
    assert_eq!(read_pid(&pid_file), Some(old.id()));

    let traffic = Traffic::start(port, 3);
    traffic.wait_for_more(10);
    let new = Process::spawn(
        gateway_command(&argo, &env)
            .env("ARGO_BRIDGE_LISTEN", &listen)
            .args(["run", "--upgrade"]),
    );
    // The new process waits on the upgrade socket for the listeners.
    wait_until(Duration::from_secs(5), "the upgrade socket", || {
        sock.exists().then_some(())
    });
    old.signal("QUIT");
    wait_until(
        Duration::from_secs(10),
        "the new process to take over",
        || (read_pid(&pid_file) == Some(new.id())).then_some(()),
    );
    let exit = old
        .wait_exit(Duration::from_secs(20))
        .expect("the old process exits after the hand-over");
    assert!(exit.success(), "{exit:?}");
    // Only the new process is left to answer.
    traffic.wait_for_more(10);
    let outcomes = traffic.finish();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed: {failures:?}",
        failures.len(),
        outcomes.len()
    );
    assert_eq!(send_one(port), Ok(200));
}
