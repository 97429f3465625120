//! Runs the Node black-box suite (official `openai` SDK, node's test runner) against the binary.

use std::process::Command;

#[test]
fn official_node_sdk_suite_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("node")
        .args(["--test", "tests/node/"])
        .current_dir(root)
        .env("ARGO_BRIDGE_BIN", env!("CARGO_BIN_EXE_argo-bridge"))
        .status()
        .expect("node must be installed (see .ci/install)");
    assert!(status.success(), "the Node SDK suite failed (output above)");
}
