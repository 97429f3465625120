//! The crate's own `mock-argo` binary serves the mock alone, with the flags the gateway's
//! `argo-bridge mock-argo` takes.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_mock-argo");

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One HTTP/1.1 request on a fresh connection; the whole answer as text.
fn request(port: u16, head: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{head}\r\nHost: mock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn started(args: &[&str]) -> (Process, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BINARY)
        .args(["--listen", &listen])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    // A connect to a free ephemeral port can succeed on its own (the socket connected to
    // itself): only a connection whose two ends differ is the mock.
    let listening = || {
        TcpStream::connect(("127.0.0.1", port))
            .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
    };
    while !listening() {
        assert!(
            Instant::now() < deadline,
            "mock-argo did not listen on {listen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, port)
}

#[test]
fn the_binary_serves_argos_endpoints_and_the_stats_hook() {
    let (_mock, port) = started(&["--fragment-delay-ms", "0"]);
    let chat =
        r#"{"user": "alice", "model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]}"#;
    let answer = request(port, "POST /argoapi/api/v1/resource/chat/ HTTP/1.1", chat).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""response""#), "{answer}");
    let stats = request(port, "GET /argoapi/__mock/stats HTTP/1.1", "").unwrap();
    assert!(stats.starts_with("HTTP/1.1 200"), "{stats}");
    assert!(stats.contains(r#""requests":1"#), "{stats}");
}

#[test]
fn bad_flags_are_refused_with_the_reason() {
    for (args, reason) in [
        (vec![], "--listen <ADDR>"),
        (
            vec!["--listen", "127.0.0.1:0", "--fragment-bytes", "many"],
            "invalid value 'many' for '--fragment-bytes <BYTES>'",
        ),
        (vec!["stray"], "unexpected argument 'stray'"),
    ] {
        let output = Command::new(BINARY).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
}
