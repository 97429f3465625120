//! Runs the Python black-box suite (official `openai` SDK, pytest) against the binary cargo built.

use std::process::Command;

#[test]
fn official_python_sdk_suite_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python",
        ])
        .current_dir(root)
        .env("ARGO_BRIDGE_BIN", env!("CARGO_BIN_EXE_argo-bridge"))
        .status()
        .expect("python3 must be installed (see .ci/install)");
    assert!(
        status.success(),
        "the Python SDK suite failed (output above)"
    );
}
