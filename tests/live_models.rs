//! Argo's live model list as the source of truth (issue 24), black-box over sockets against the
//! mock Argo: a gateway started while Argo is unreachable reads the list as soon as Argo answers
//! (retried with backoff, and at once when `/ready`'s probe sees Argo again) and `/ready` says
//! whether it was read; a model only the live list knows gets the parameter rules of its family
//! and version from `model_rules`, so that Argo does not refuse what the client sent.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The shipped configuration without the rows of `argo_ids`: models only the live list knows.
fn config_without(dir: &TempDir, argo_ids: &[&str]) -> String {
    let shipped = std::fs::read_to_string(repo_root().join("conf/argo-bridge.yaml")).unwrap();
    let kept: Vec<&str> = shipped
        .lines()
        .filter(|line| {
            !argo_ids
                .iter()
                .any(|id| line.contains(&format!("argo_id: {id},")))
        })
        .collect();
    assert_eq!(
        shipped.lines().count() - kept.len(),
        argo_ids.len(),
        "one row each"
    );
    let path = dir.path("argo-bridge.yaml");
    std::fs::write(&path, kept.join("\n")).unwrap();
    path.to_string_lossy().into_owned()
}

/// A gateway on the native API with `config`, every environment at `argo`, an admin port, and
/// probes every `probe_ms`.
fn gateway(config: &str, argo: &str, probe_ms: &str) -> (Process, u16, u16) {
    start_gateway_with_admin(
        argo,
        &[
            ("ARGO_BRIDGE_CONFIG", config),
            ("ARGO_BRIDGE_UPSTREAM_API", "native"),
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", probe_ms),
        ],
    )
}

fn chat(port: u16, model: &str, extra: Value) -> Response {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(object), Value::Object(extra)) = (body.as_object_mut(), extra) {
        object.extend(extra);
    }
    post_as_alice(port, "/v1/chat/completions", &body.to_string())
}

fn ready(admin: u16) -> Value {
    request(admin, "GET", "/ready", &[], b"").json()
}

/// Argo down when the gateway starts (nothing listens on its port), up `down_for` later on the
/// same port: how long after Argo came up `claude-opus-4.8`, a model only the live list knows,
/// answered, and `/ready` then.
fn live_model_after_outage(down_for: Duration, probe_ms: &str) -> (Duration, Value) {
    let dir = TempDir::new("live-outage");
    let config = config_without(&dir, &["claudeopus48"]);
    let closed = ClosedPort::new();
    let mock_port = closed.port();
    let (_gateway, port, admin) = gateway(&config, &argo_base(mock_port), probe_ms);
    std::thread::sleep(down_for);
    assert_eq!(chat(port, "claude-opus-4.8", json!({})).status, 404);
    let before = ready(admin);
    assert_eq!(before["model_lists"]["prod"], "not read", "{before}");
    assert_eq!(before["models"], 36, "the table alone: {before}");

    drop(closed);
    let _mock = start_mock_on(mock_port, &["--fragment-delay-ms", "0"]);
    let up = Instant::now();
    wait_until(Duration::from_secs(20), "claude-opus-4.8 to answer", || {
        (chat(port, "claude-opus-4.8", json!({})).status == 200).then_some(())
    });
    let took = up.elapsed();
    let after = wait_until(Duration::from_secs(10), "ready, every list read", || {
        let body = ready(admin);
        let read = json!({"prod": "read", "dev": "read", "test": "read"});
        (body["status"] == "ready" && body["model_lists"] == read).then_some(body)
    });
    metrics_containing(admin, r#"argo_bridge_model_list_read{env="prod"} 1"#);
    (took, after)
}

/// Issue 24, failure 1: with every environment down for 3 s at start, the shipped table was
/// served for 10 minutes (`model_refresh_interval_s`), a model only the live list knows was a
/// 404 all that time, and `/ready` said ready with the table's count. Now a failed read is
/// tried again 1 s later, then twice as long each time: the model answers within seconds.
#[test]
fn a_gateway_started_while_argo_is_down_reads_the_live_list_once_argo_answers() {
    let (took, ready) = live_model_after_outage(Duration::from_secs(3), "5000");
    eprintln!("down 3 s at start: the live-only model answered {took:?} after Argo came up");
    assert!(took < Duration::from_secs(8), "answered after {took:?}");
    assert_eq!(ready["models"], 37, "the table and the live list: {ready}");
}

/// After a longer outage the backoff has grown (reads at about 0, 2, 4 and 8 s, the next at
/// 16 s), but the readiness probe sees Argo answer again and the list is read at once.
#[test]
fn the_list_is_read_as_soon_as_readiness_sees_argo_again() {
    let (took, ready) = live_model_after_outage(Duration::from_secs(10), "300");
    eprintln!("down 10 s at start: the live-only model answered {took:?} after Argo came up");
    assert!(
        took < Duration::from_secs(4),
        "answered after {took:?}: the backoff's next read, not the probe's"
    );
    assert_eq!(ready["environments"]["prod"], "up", "{ready}");
}

/// Issue 24, failure 2: a model the live list brings in without a table row got no parameter
/// rules, so a client's `temperature` reached Claude Sonnet 5 and GPT-5.6, and Argo answered
/// 400 (argo-api.md §C; the mock refuses as Argo does). Now `model_rules` give it the rules of
/// its family and version: sampling dropped, reasoning for GPT-5.6, adaptive thinking for
/// Claude.
#[test]
fn a_model_no_row_knows_gets_the_rules_of_its_family_and_version() {
    let dir = TempDir::new("live-rules");
    let config = config_without(&dir, &["claudesonnet5", "gpt56sol"]);
    let (_mock, mock_port) = start_mock(&["--fragment-delay-ms", "0"]);
    let (_gateway, port, admin) = gateway(&config, &argo_base(mock_port), "5000");
    wait_until(Duration::from_secs(10), "the live lists read", || {
        (ready(admin)["model_lists"]["prod"] == "read").then_some(())
    });
    let sampling = json!({"temperature": 0.5, "top_p": 0.9, "max_tokens": 50});
    let sonnet = chat(port, "claude-sonnet-5", sampling.clone());
    assert_eq!(sonnet.status, 200, "{}", sonnet.text());
    let sol = chat(port, "gpt-5.6-sol", sampling.clone());
    assert_eq!(sol.status, 200, "{}", sol.text());

    // What reached Argo: no sampling; adaptive thinking for Claude.
    let mut echo = sampling;
    // Room for the echoed request: the mock's answer holds to the limit.
    echo["max_tokens"] = json!(4000);
    echo["messages"] = json!([{"role": "user", "content": "hi #mock {\"echo_request\":true}"}]);
    let sent = echoed_argo_request(&chat(port, "gpt-5.6-sol", echo.clone()));
    let body = &sent["body"];
    assert!(
        body.get("temperature").is_none() && body.get("top_p").is_none(),
        "{sent}"
    );
    echo["reasoning_effort"] = json!("high");
    let sent = echoed_argo_request(&chat(port, "claude-sonnet-5", echo));
    assert_eq!(sent["path"], "/argoapi/v1/messages", "{sent}");
    let body = &sent["body"];
    assert!(
        body.get("temperature").is_none() && body.get("top_p").is_none(),
        "{sent}"
    );
    assert_eq!(body["thinking"], json!({"type": "adaptive"}), "{sent}");
    // Claude Sonnet 4.6 has its row: one of the two reaches Argo.
    let older = chat(
        port,
        "claude-sonnet-4.6",
        json!({"temperature": 0.5, "top_p": 0.9}),
    );
    assert_eq!(older.status, 200, "{}", older.text());
}
