//! `/ready` tells whether this instance can reach Argo: it turns 503 when the mock Argo is
//! killed and 200 again when it is back on the same port, on the API and the admin port alike,
//! while `/health` stays 200 throughout. The probes send no prompt.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const INTERVAL_MS: u64 = 200;

struct Instance {
    port: u16,
    admin_port: u16,
    _gateway: Process,
}

fn start(argo: &str) -> Instance {
    let interval = INTERVAL_MS.to_string();
    let (gateway, port, admin_port) = start_gateway_with_admin(
        argo,
        &[
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", interval.as_str()),
            ("ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS", "500"),
        ],
    );
    Instance {
        port,
        admin_port,
        _gateway: gateway,
    }
}

fn ready(port: u16) -> (u16, Value) {
    let answer = request(port, "GET", "/ready", &[], b"");
    (answer.status, answer.json())
}

/// Waits until both ports' `/ready` answer `status`, and returns how long that took and the
/// API port's body.
fn wait_ready(instance: &Instance, status: u16) -> (Duration, Value) {
    let started = Instant::now();
    let body = wait_until(Duration::from_secs(10), &format!("/ready {status}"), || {
        let (api, body) = ready(instance.port);
        let (admin, _) = ready(instance.admin_port);
        (api == status && admin == status).then_some(body)
    });
    (started.elapsed(), body)
}

fn health(port: u16) -> u16 {
    request(port, "GET", "/health", &[], b"").status
}

#[test]
fn ready_turns_when_argo_goes_away_and_comes_back() {
    let (mock, mock_port) = start_mock(&[]);
    let instance = start(&argo_base(mock_port));
    let (_, body) = wait_ready(&instance, 200);
    assert_eq!(body["status"], "ready");
    for env in ["prod", "dev", "test"] {
        assert_eq!(body["environments"][env], "up", "{body}");
    }
    let up = metrics_containing(
        instance.admin_port,
        r#"argo_bridge_upstream_up{env="prod"} 1"#,
    );
    assert!(up.contains(r#"argo_bridge_upstream_up{env="dev"} 1"#));
    // The probes asked for the model list only: nothing with a prompt reached Argo.
    let stats = request(mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json();
    assert!(stats["endpoints"]["models"].as_u64() > Some(0), "{stats}");
    let prompts: u64 = [
        "chat",
        "streamchat",
        "embed",
        "chat_completions",
        "messages",
        "embeddings",
    ]
    .iter()
    .map(|endpoint| stats["endpoints"][endpoint].as_u64().unwrap_or(0))
    .sum();
    assert_eq!(prompts, 0, "{stats}");

    drop(mock);
    let (took, body) = wait_ready(&instance, 503);
    assert!(
        took < Duration::from_millis(10 * INTERVAL_MS + 2_000),
        "noticed after {took:?}"
    );
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert_eq!(body["environments"]["prod"], "down", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("prod"), "names what is down: {message}");
    assert!(!message.contains("127.0.0.1"), "no addresses: {message}");
    assert_eq!(health(instance.port), 200, "liveness is not readiness");
    assert_eq!(health(instance.admin_port), 200);
    metrics_containing(
        instance.admin_port,
        r#"argo_bridge_upstream_up{env="prod"} 0"#,
    );

    let _mock = start_mock_on(mock_port, &[]);
    let (took, body) = wait_ready(&instance, 200);
    assert!(took < Duration::from_secs(5), "back after {took:?}");
    assert_eq!(body["environments"]["test"], "up", "{body}");
    metrics_containing(
        instance.admin_port,
        r#"argo_bridge_upstream_up{env="prod"} 1"#,
    );
}

#[test]
fn an_instance_that_never_reached_argo_is_not_ready_but_alive() {
    // Nothing listens on the discard port.
    let instance = start("http://127.0.0.1:9/argoapi");
    let (_, body) = wait_ready(&instance, 503);
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert_eq!(health(instance.port), 200);
}

#[test]
fn one_environment_that_answers_is_enough() {
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port) = start_gateway(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "200"),
            ("ARGO_BRIDGE_ARGO_TEST_URL", "http://127.0.0.1:9/argoapi"),
        ],
    );
    let body = wait_until(Duration::from_secs(10), "test down, the rest up", || {
        let (status, body) = ready(port);
        (status == 200 && body["environments"]["test"] == "down").then_some(body)
    });
    assert_eq!(body["environments"]["prod"], "up", "{body}");
    metrics_containing(port, r#"argo_bridge_upstream_up{env="test"} 0"#);
}

#[test]
fn a_503_from_argo_is_down_and_the_next_good_answer_is_up() {
    let (_mock, mock_port) = start_mock(&[]);
    let instance = start(&argo_base(mock_port));
    wait_ready(&instance, 200);
    let hook = |fail: bool| {
        let body = serde_json::json!({ "fail": fail }).to_string();
        let answer = request(
            mock_port,
            "POST",
            "/argoapi/__mock/models",
            &[],
            body.as_bytes(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
    };
    // What a proxy says when the Argo behind it is gone.
    hook(true);
    let (_, body) = wait_ready(&instance, 503);
    assert_eq!(body["environments"]["dev"], "down", "{body}");
    hook(false);
    wait_ready(&instance, 200);
}
