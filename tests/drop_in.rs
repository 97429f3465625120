//! Users of the original Python bridge (`AdvancedPhotonSource/argo_bridge`) switch without
//! editing their clients: its paths, its default user (`--username`, for requests with no token
//! or the token `noop`), its command-line short forms and its start-up connection check.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

/// The user Argo received, as the mock echoes its request.
fn argo_user(response: &Response) -> String {
    echoed_argo_request(response)["user"]
        .as_str()
        .unwrap()
        .to_string()
}

fn echo_chat() -> String {
    chat_with_directive("gpt-4o", r#"{"echo_request":true}"#)
}

fn post_with(port: u16, path: &str, auth: Option<&str>, body: &str) -> Response {
    let headers: Vec<(&str, &str)> = auth.iter().map(|auth| ("Authorization", *auth)).collect();
    request(port, "POST", path, &headers, body.as_bytes())
}

#[test]
fn the_original_paths_keep_working() {
    let stack = Stack::start();
    let chat =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    for path in [
        "/chat/completions",
        "/api/chat/completions",
        "/v1/chat/completions",
    ] {
        assert_eq!(
            stack.post(path, &chat).json()["object"],
            "chat.completion",
            "{path}"
        );
    }
    let completion = json!({"model": "gpt-4o", "prompt": "hi"}).to_string();
    for path in ["/completions", "/v1/completions"] {
        assert_eq!(
            stack.post(path, &completion).json()["object"],
            "text_completion",
            "{path}"
        );
    }
    let embedding = json!({"model": "text-embedding-3-small", "input": "hi"}).to_string();
    for path in ["/embeddings", "/v1/embeddings"] {
        assert_eq!(
            stack.post(path, &embedding).json()["object"],
            "list",
            "{path}"
        );
    }
    for path in ["/models", "/v1/models"] {
        assert_eq!(stack.get(path).json()["object"], "list", "{path}");
    }
}

#[test]
fn an_opt_in_default_user_serves_requests_without_a_token() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_DEFAULT_USER", "labuser")]);
    let port = stack.gateway_port;
    assert_eq!(
        argo_user(&post_with(port, "/v1/chat/completions", None, &echo_chat())),
        "labuser"
    );
    assert_eq!(
        argo_user(&post_with(
            port,
            "/v1/chat/completions",
            Some("Bearer noop"),
            &echo_chat()
        )),
        "labuser"
    );
    let own = format!("Bearer {TOKEN}");
    assert_eq!(
        argo_user(&post_with(
            port,
            "/v1/chat/completions",
            Some(&own),
            &echo_chat()
        )),
        USER
    );
    post_with(
        port,
        "/v1/chat/completions",
        Some("Bearer not-a-token"),
        &echo_chat(),
    )
    .expect_error(401);

    let off = Stack::start();
    post_with(off.gateway_port, "/v1/chat/completions", None, &echo_chat()).expect_error(401);
    post_with(
        off.gateway_port,
        "/v1/chat/completions",
        Some("Bearer noop"),
        &echo_chat(),
    )
    .expect_error(401);
}

#[test]
fn run_takes_the_original_port_and_username_flags_and_checks_argo_at_start() {
    let (_mock, mock_port) = start_mock(&[]);
    let closed_port = ClosedPort::new();
    let closed = closed_port.port();
    let dir = TempDir::new("drop-in");
    let log = dir.path("gateway.log");
    let mut command = gateway_command(&argo_base(mock_port), &[]);
    command
        .args(["run", "--port", "0", "--username", "labuser"])
        .env("ARGO_BRIDGE_ARGO_DEV_URL", argo_base(closed))
        .env("RUST_LOG", "info");
    log_to(&mut command, &log);
    let (_gateway, ports) = spawn_gateway(&mut command);
    let port = ports.listen();
    assert_eq!(
        argo_user(&post_with(port, "/v1/chat/completions", None, &echo_chat())),
        "labuser"
    );
    let lines = wait_until(Duration::from_secs(10), "the connection check", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("some Argo environments are unreachable")
            .then_some(text)
    });
    let prod_chat = format!("Argo prod chat endpoint (http://127.0.0.1:{mock_port}/argoapi/api/v1/resource/chat/) reachable");
    assert!(lines.contains(&prod_chat), "{lines}");
    for endpoint in ["chat", "embed", "streamchat"] {
        assert!(
            lines.contains(&format!("Argo dev {endpoint} endpoint")),
            "{lines}"
        );
    }
    assert!(lines.contains("unreachable"), "{lines}");
    assert!(
        lines.contains("auth.default_user is set"),
        "the default user is announced: {lines}"
    );
    assert!(!lines.contains("labuser"), "{lines}");
    let usage = Command::new(binary())
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&usage.stdout).contains("--username <USER>"));
}
