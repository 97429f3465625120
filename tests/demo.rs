//! Demo mode: `argo-bridge demo` prints a curl and a Python example; both must work as printed.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

#[test]
fn the_printed_curl_and_python_examples_work() {
    let (port, mock_port) = (free_port(), free_port());
    let mut child = Command::new(binary())
        .args([
            "demo",
            "--port",
            &port.to_string(),
            "--mock-port",
            &mock_port.to_string(),
        ])
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _demo = Process::from_child(child);
    let printed: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("Press Ctrl-C"))
        .collect();
    wait_for_port(port);
    let examples: Vec<String> = printed
        .split(|line| line.trim().is_empty())
        .map(|block| block.join("\n"))
        .filter(|block| block.starts_with("  curl") || block.starts_with("  python3"))
        .collect();
    assert_eq!(examples.len(), 2, "{printed:?}");
    for example in examples {
        let output = Command::new("sh").args(["-c", &example]).output().unwrap();
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{example}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            said.contains("Hello from mock Argo (gpt4o). You said: Hello!"),
            "{example}\n{said}"
        );
    }
}
