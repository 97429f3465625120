//! CORS in a real browser: a notebook page served from another origin calls the gateway with
//! `fetch` in headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium;
//! `.ci/install` installs them). The allowed origin gets its answers, buffered and streamed; a
//! refused origin's fetch fails with a TypeError, and its request never gets past the preflight.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Chat calls Argo saw, over every chat endpoint.
fn chat_calls_at_argo(mock_port: u16) -> u64 {
    let stats = request(mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json();
    ["chat", "streamchat", "chat_completions", "messages"]
        .iter()
        .map(|endpoint| stats["endpoints"][endpoint].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn a_notebook_page_on_an_allowed_origin_calls_the_gateway_and_others_cannot() {
    // Held for the page server, which binds them beside these reservations.
    let (allowed, refused) = (ClosedPort::new(), ClosedPort::new());
    let (allowed_port, refused_port) = (allowed.port(), refused.port());
    let _reserved = (allowed, refused);
    let allowed = format!("http://127.0.0.1:{allowed_port}");
    let refused = format!("http://127.0.0.1:{refused_port}");
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_CORS_ORIGINS", allowed.as_str())]);
    let gateway = format!("http://127.0.0.1:{}", stack.gateway_port);
    let script = repo_root().join("tests/browser/cors_fetch.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([gateway.as_str(), TOKEN])
        .args([allowed_port.to_string(), refused_port.to_string()])
        .output()
        .expect("python3 must be installed (see .ci/install)");
    assert!(
        output.status.success(),
        "the browser could not be driven (run `bash .ci/install`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&output.stdout));
    });
    eprintln!("Chromium {}", results["browser"]);

    let page = &results[allowed.as_str()];
    let plain = &page["plain"];
    assert_eq!(plain["ok"], true, "buffered fetch from {allowed}: {page}");
    assert_eq!(plain["status"], 200, "{page}");
    let content = plain["content"].as_str().unwrap_or_default();
    assert!(content.contains("Hello from a notebook"), "{page}");
    // Headers the page may read: exposed by the gateway.
    assert!(
        plain["requestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("req-")),
        "{page}"
    );
    assert!(plain["overheadMs"].as_str().is_some(), "{page}");

    let streamed = &page["streamed"];
    assert_eq!(
        streamed["ok"], true,
        "streamed fetch from {allowed}: {page}"
    );
    assert_eq!(streamed["status"], 200, "{page}");
    assert_eq!(streamed["contentType"], "text/event-stream", "{page}");
    assert_eq!(
        streamed["done"], true,
        "the stream ends with [DONE]: {page}"
    );
    let deltas: Vec<&str> = streamed["deltas"]
        .as_array()
        .map(|deltas| deltas.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(deltas.len() > 1, "several deltas: {page}");
    assert_eq!(deltas.concat(), content, "{page}");
    assert!(streamed["requestId"].as_str().is_some(), "{page}");
    // Errors carry the CORS headers too: the page reads why, not an opaque network error.
    let wrong = &page["wrongToken"];
    assert_eq!(wrong["ok"], true, "{page}");
    assert_eq!(wrong["status"], 401, "{page}");
    assert_eq!(wrong["error"]["code"], "invalid_api_key", "{page}");

    let page = &results[refused.as_str()];
    for call in ["plain", "streamed", "wrongToken"] {
        let outcome = &page[call];
        assert_eq!(outcome["ok"], false, "{call} fetch from {refused}: {page}");
        assert_eq!(outcome["error"], "TypeError", "{call}: {page}");
    }
    let console = page["console"].to_string();
    assert!(console.contains("CORS"), "the browser says why: {console}");

    // The refused origin's requests ended at their preflights: Argo saw the allowed two only,
    // and the gateway answered two chats and refused three preflights (the refused origin's
    // wrong-token call is preflighted like the others).
    assert_eq!(chat_calls_at_argo(stack.mock_port), 2);
    let metrics = metrics_containing(
        stack.gateway_port,
        r#"argo_bridge_requests_total{client="openai",endpoint="chat",model="",status="403"} 3"#,
    );
    let answered: u64 = metrics
        .lines()
        .filter(|line| {
            line.starts_with("argo_bridge_requests_total{client=\"openai\",endpoint=\"chat\"")
        })
        .filter(|line| line.contains("status=\"200\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(answered, 2, "{metrics}");
}
