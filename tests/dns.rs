//! Argo's address is not frozen at start: the gateway resolves Argo's host name again while it
//! serves, uses every address the name has, avoids a dead one, and starts (and `check-config`
//! passes) while the name does not resolve.
//!
//! The names are ours: the gateway runs with nss_wrapper (Debian's `libnss-wrapper`, installed
//! by `.ci/install`) preloaded, which answers host lookups from a file the test writes and
//! rewrites; the mock Argos listen on 127.0.0.2 and 127.0.0.3, loopback addresses too.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const NAME: &str = "argo.test";

/// The hosts file the gateway's lookups read.
struct Names {
    dir: TempDir,
}

impl Names {
    fn new(label: &str) -> Names {
        let names = Names {
            dir: TempDir::new(label),
        };
        names.set(&[("127.0.0.9", "unrelated.test")]);
        names
    }

    /// Replaces the file whole (nss_wrapper reads it again when it changes).
    fn set(&self, entries: &[(&str, &str)]) {
        let text: String = entries
            .iter()
            .map(|(ip, name)| format!("{ip} {name}\n"))
            .collect();
        let next = self.dir.path("hosts.next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, self.file()).unwrap();
    }

    fn file(&self) -> PathBuf {
        self.dir.path("hosts")
    }
}

fn nss_wrapper() -> PathBuf {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|dir| PathBuf::from(dir).join("libnss_wrapper.so"))
    .find(|path| path.is_file())
    .expect("libnss-wrapper is not installed: run `bash .ci/install`")
}

/// A gateway whose every Argo environment is `http://{host}:{argo_port}/argoapi`, its lookups
/// answered from `names`, re-resolving every second.
fn gateway(names: &Names, host: &str, argo_port: u16, env: &[(&str, &str)]) -> (Process, u16) {
    let base = format!("http://{host}:{argo_port}/argoapi");
    let mut command = gateway_command(&base, env);
    command
        .env("LD_PRELOAD", nss_wrapper())
        .env("NSS_WRAPPER_HOSTS", names.file())
        .env("ARGO_BRIDGE_DNS_REFRESH_INTERVAL_S", "1")
        .env("ARGO_BRIDGE_MODEL_REFRESH_INTERVAL_S", "0");
    let (process, ports) = spawn_gateway(&mut command);
    (process, ports.listen())
}

/// Two mock Argos on one port, on 127.0.0.2 and 127.0.0.3.
fn two_mocks() -> (Process, Process, u16) {
    let (first, argo_port) = start_mock_at("127.0.0.2", 0, &[]);
    let (second, _) = start_mock_at("127.0.0.3", argo_port, &[]);
    (first, second, argo_port)
}

/// Requests the mock Argo on `ip` has served.
fn served(ip: &str, port: u16) -> u64 {
    request_at(ip, port, "GET", "/argoapi/__mock/stats", &[], b"").json()["requests"]
        .as_u64()
        .unwrap()
}

/// `argo_bridge_upstream_address_failures_total` of the prod environment.
fn address_failures(port: u16) -> u64 {
    let metrics = request(port, "GET", "/metrics", &[], b"").text();
    let prefix = "argo_bridge_upstream_address_failures_total{env=\"prod\"} ";
    let value = metrics.lines().find_map(|line| line.strip_prefix(prefix));
    value
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn hello_ok(port: u16) {
    let answer = post_hello(port);
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[test]
fn every_address_of_argos_name_serves_and_a_dead_one_is_avoided() {
    let (_first, second, argo_port) = two_mocks();
    let names = Names::new("dns-two");
    names.set(&[("127.0.0.2", NAME), ("127.0.0.3", NAME)]);
    let env = [
        ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "0"),
        ("ARGO_BRIDGE_ADDRESS_RETRY_AFTER_MS", "500"),
    ];
    let (_gateway, port) = gateway(&names, NAME, argo_port, &env);

    (0..6).for_each(|_| hello_ok(port));
    let (first_served, second_served) = (
        served("127.0.0.2", argo_port),
        served("127.0.0.3", argo_port),
    );
    assert_eq!(first_served + second_served, 6);
    assert!(
        first_served > 0 && second_served > 0,
        "one address unused: {first_served}, {second_served}"
    );

    drop(second);
    (0..6).for_each(|_| hello_ok(port));
    assert_eq!(served("127.0.0.2", argo_port), first_served + 6);
    assert!(address_failures(port) >= 1);

    let _second = start_mock_at("127.0.0.3", argo_port, &[]);
    wait_until(
        Duration::from_secs(10),
        "the address that came back to serve",
        || {
            hello_ok(port);
            (served("127.0.0.3", argo_port) > 0).then_some(())
        },
    );
}

#[test]
fn the_gateway_follows_argos_name_when_its_addresses_change() {
    let (old, _new, argo_port) = two_mocks();
    let names = Names::new("dns-move");
    names.set(&[("127.0.0.2", NAME)]);
    let env = [("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "0")];
    let (_gateway, port) = gateway(&names, NAME, argo_port, &env);
    (0..3).for_each(|_| hello_ok(port));
    assert_eq!(served("127.0.0.2", argo_port), 3);

    names.set(&[("127.0.0.3", NAME)]);
    wait_until(
        Duration::from_secs(10),
        "requests to the name's new address",
        || {
            hello_ok(port);
            (served("127.0.0.3", argo_port) > 0).then_some(())
        },
    );
    drop(old);
    (0..3).for_each(|_| hello_ok(port));
}

#[test]
fn a_host_that_resolves_only_later_is_served_once_it_does() {
    let (_argo, argo_port) = start_mock_at("127.0.0.2", 0, &[]);
    let names = Names::new("dns-late");
    let env = [
        ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "200"),
        ("ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS", "500"),
    ];
    let (_gateway, port) = gateway(&names, "late.test", argo_port, &env);

    let error = post_hello(port).expect_error(502);
    assert_eq!(error["code"], "upstream_unresolved");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("prod"), "{message}");
    assert!(
        !message.contains("late.test") && !message.contains("127.0.0"),
        "{message}"
    );
    wait_until(Duration::from_secs(5), "/ready to say 503", || {
        (request(port, "GET", "/ready", &[], b"").status == 503).then_some(())
    });

    names.set(&[("127.0.0.2", "late.test")]);
    wait_until(Duration::from_secs(10), "the late name to serve", || {
        (post_hello(port).status == 200).then_some(())
    });
    wait_until(Duration::from_secs(5), "/ready to say 200", || {
        (request(port, "GET", "/ready", &[], b"").status == 200).then_some(())
    });
}

#[test]
fn check_config_warns_about_a_host_that_does_not_resolve_and_passes() {
    let output = Command::new(binary())
        .arg("check-config")
        .current_dir(repo_root())
        .env(
            "ARGO_BRIDGE_ARGO_PROD_URL",
            "https://argo-bridge-test.invalid/argoapi",
        )
        .env("ARGO_BRIDGE_ARGO_DEV_URL", "http://127.0.0.1:9/argoapi")
        .env("ARGO_BRIDGE_ARGO_TEST_URL", "http://127.0.0.1:9/argoapi")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("configuration ok"), "{stdout}");
    assert!(
        stderr.contains("warning: upstream.environments.prod"),
        "{stderr}"
    );
    assert!(stderr.contains("argo-bridge-test.invalid"), "{stderr}");
    assert!(!stderr.contains("environments.dev"), "{stderr}");
}
