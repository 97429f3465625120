//! Runs the Node black-box suite (official `openai` SDK, node's test runner) against the
//! binary, once per upstream mode: Argo's native endpoints and its legacy resource endpoints.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

use std::process::Command;

fn node_suite_passes(upstream_api: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("node")
        .args(["--test", "tests/node/"])
        .current_dir(root)
        .env("ARGO_BRIDGE_BIN", env!("CARGO_BIN_EXE_argo-bridge"))
        .env("ARGO_BRIDGE_UPSTREAM_API", upstream_api)
        .status()
        .expect("node must be installed (see .ci/install)");
    assert!(
        status.success(),
        "the Node SDK suite failed against the {upstream_api} upstream (output above)"
    );
}

#[test]
fn official_node_sdk_suite_passes_over_native_endpoints() {
    node_suite_passes("native");
}

#[test]
fn official_node_sdk_suite_passes_over_resource_endpoints() {
    node_suite_passes("resource");
}
