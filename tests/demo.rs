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
    let mut child = Command::new(binary())
        .args(["demo", "--port", "0", "--mock-port", "0"])
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _demo = Process::from_child(child);
    // Printed once the gateway and its mock listen, with the port the gateway got.
    let printed: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("Press Ctrl-C"))
        .collect();
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
    // A new user's first screen is clean: the start-up check of Argo runs once the built-in
    // mock listens, so it finds every endpoint reachable and warns about none.
    drop(_demo);
    let logged: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(
        logged.iter().all(|line| !line.contains("WARN")),
        "{logged:#?}"
    );
}

#[test]
fn help_is_printed_wherever_it_is_asked_for() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let output = Command::new(binary()).args(args).output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(
            printed.contains("Usage: argo-bridge"),
            "{args:?}: {printed}"
        );
        for command in ["run", "demo", "mock-argo", "check-config"] {
            assert!(
                printed.contains(&format!("  {command} ")),
                "{args:?}: {printed}"
            );
        }
    }
    for args in [
        &["run", "--help"][..],
        &["demo", "--help"],
        &["mock-argo", "--help"],
        &["help", "run"],
    ] {
        let output = Command::new(binary()).args(args).output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(
            printed.contains("Usage: argo-bridge"),
            "{args:?}: {printed}"
        );
        assert!(printed.contains("--ports-file"), "{args:?}: {printed}");
    }
    let run = Command::new(binary())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.contains("[env: ARGO_BRIDGE_PORT"), "{printed}");
    let version = Command::new(binary()).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("argo-bridge {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A bad option is refused with exit code 2 and a message that names it, before anything starts.
#[test]
fn a_bad_option_is_named() {
    for (args, named) in [
        (&["--port", "eighty"][..], "--port"),
        (&["check-config", "--prot", "1"], "--prot"),
        (&["demo", "--mock-port", "70000"], "--mock-port"),
    ] {
        let output = Command::new(binary()).args(args).output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains(named), "{args:?}: {said}");
    }
}

/// A mock that cannot bind its port ends at once with the reason: one that ran on without its
/// port once let a test count another test's requests.
#[test]
fn a_mock_on_a_taken_port_exits_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let mut child = Command::new(binary())
        .args(["mock-argo", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut mock = Process::from_child(child);
    let status = mock.wait_exit(std::time::Duration::from_secs(20));
    assert_eq!(status.and_then(|status| status.code()), Some(2));
    let said = std::io::read_to_string(stderr).unwrap();
    assert!(said.contains(&listen), "{said}");
}
