//! Soak: a bounded loopback run of 200,000 mixed requests (chat, streaming chat, embeddings)
//! over keep-alive connections. Every request must succeed, and the gateway's memory and open
//! connections must level off instead of growing with the request count.
//!
//! `ARGO_BRIDGE_SOAK_REQUESTS` changes the count (CI uses the default).

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 8;

fn request_count() -> usize {
    std::env::var("ARGO_BRIDGE_SOAK_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

/// The request mix: mostly chat, some streams and embeddings.
fn body_for(index: usize) -> (&'static str, String) {
    match index % 10 {
        0 => ("/v1/chat/completions", r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"stream #mock {\"fragment_bytes\":8,\"fragment_delay_ms\":0}"}]}"#.to_string()),
        1 => ("/v1/embeddings", r#"{"model":"text-embedding-3-small","input":"soak","encoding_format":"base64"}"#.to_string()),
        _ => ("/v1/chat/completions", format!(r#"{{"model":"claude-sonnet-4.5","messages":[{{"role":"user","content":"request {index}"}}]}}"#)),
    }
}

fn gateway_vitals(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    (rss_kib, fds)
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_nodelay(true).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let reader = BufReader::new(socket.try_clone().unwrap());
    (socket, reader)
}

/// Runs `count` requests over `CLIENTS` keep-alive connections; returns failures.
fn drive(port: u16, first: usize, count: usize) -> usize {
    let next = AtomicUsize::new(first);
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let (mut socket, mut reader) = connect(port);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= first + count {
                        break;
                    }
                    let (path, body) = body_for(index);
                    // One write per request: a head and body in two writes would meet Nagle's
                    // algorithm and the server's delayed ACK.
                    let message = format!(
                        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let sent = socket.write_all(message.as_bytes());
                    let ok = sent.is_ok() && {
                        let response = read_response(&mut reader);
                        response.status == 200 && !response.body.is_empty()
                    };
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                        (socket, reader) = connect(port);
                    }
                }
            });
        }
    });
    failures.into_inner()
}

#[test]
fn two_hundred_thousand_mixed_requests_with_stable_memory_and_connections() {
    let (_mock, mock_port) = start_mock(&["--fragment-delay-ms", "0"]);
    let (gateway, port) = start_gateway(&format!("http://127.0.0.1:{mock_port}/argoapi"), &[]);
    let total = request_count();
    let warmup = total / 10;
    let started = Instant::now();
    let mut failures = drive(port, 0, warmup);
    let (warm_rss, warm_fds) = gateway_vitals(gateway.id());
    failures += drive(port, warmup, total - warmup);
    let (end_rss, end_fds) = gateway_vitals(gateway.id());
    let elapsed = started.elapsed();
    eprintln!(
        "soak: {total} requests in {:.1}s ({:.0}/s), {failures} failed; RSS {warm_rss} KiB after warm-up -> {end_rss} KiB; fds {warm_fds} -> {end_fds}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(failures, 0);
    assert!(
        warm_rss > 0 && end_rss < warm_rss + 32 * 1024,
        "RSS grew from {warm_rss} KiB to {end_rss} KiB"
    );
    assert!(
        end_fds <= warm_fds + 16,
        "open descriptors grew from {warm_fds} to {end_fds}"
    );
    let stats = request(mock_port, "GET", "/__mock/stats", &[], b"").json();
    assert_eq!(
        stats["requests"].as_u64(),
        Some(total as u64),
        "every request reached Argo exactly once"
    );
}
