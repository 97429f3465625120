//! `/metrics` stays off the public API port when the admin listener serves it, and a metrics
//! token (`ARGO_BRIDGE_METRICS_TOKEN`, or the original bridge's `METRICS_TOKEN`) makes it want
//! `Authorization: Bearer <token>` on whichever port serves it.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;

const SCRAPE_TOKEN: &str = "scrape-token-0123456789";

fn metrics(port: u16, authorization: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| vec![("Authorization", value)])
        .unwrap_or_default();
    request(port, "GET", "/metrics", &headers, b"")
}

fn is_prometheus_text(response: &Response) -> bool {
    response.status == 200
        && response
            .text()
            .contains("# TYPE argo_bridge_build_info gauge")
}

#[test]
fn with_an_admin_listener_the_api_port_has_no_metrics() {
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port, admin_port) = start_gateway_with_admin(&argo_base(mock_port), &[]);
    let error = metrics(port, None).expect_error(404);
    assert_eq!(error["type"], "invalid_request_error");
    // Not even for an API user.
    let alice = format!("Bearer {TOKEN}");
    metrics(port, Some(&alice)).expect_error(404);
    assert!(is_prometheus_text(&metrics(admin_port, None)));
    // Health stays on both ports.
    assert_eq!(request(port, "GET", "/health", &[], b"").status, 200);
}

#[test]
fn a_metrics_token_guards_the_api_port_without_an_admin_listener() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_METRICS_TOKEN", SCRAPE_TOKEN)]);
    let port = stack.gateway_port;
    metrics(port, None).expect_error(401);
    metrics(port, Some("Bearer wrong-token-0123456789")).expect_error(401);
    // An API token is not the metrics token.
    metrics(port, Some(&format!("Bearer {TOKEN}"))).expect_error(401);
    let refused = metrics(port, Some(&format!("Basic {SCRAPE_TOKEN}")));
    refused.expect_error(401);
    assert!(!refused.text().contains(SCRAPE_TOKEN));
    assert!(is_prometheus_text(&metrics(
        port,
        Some(&format!("Bearer {SCRAPE_TOKEN}"))
    )));
}

#[test]
fn the_original_bridges_metrics_token_guards_the_admin_port() {
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port, admin_port) =
        start_gateway_with_admin(&argo_base(mock_port), &[("METRICS_TOKEN", SCRAPE_TOKEN)]);
    metrics(admin_port, None).expect_error(401);
    metrics(admin_port, Some("Bearer nope-nope-nope")).expect_error(401);
    assert!(is_prometheus_text(&metrics(
        admin_port,
        Some(&format!("Bearer {SCRAPE_TOKEN}"))
    )));
    // Still off the API port, token or not.
    metrics(port, Some(&format!("Bearer {SCRAPE_TOKEN}"))).expect_error(404);
    // Probes need no token.
    assert_eq!(request(admin_port, "GET", "/health", &[], b"").status, 200);
}
