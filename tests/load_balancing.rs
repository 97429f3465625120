//! Several gateways behind a real nginx running `deploy/nginx.conf` (replica addresses mapped
//! to loopback): one replica is killed under load and no client request fails.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// nginx as the load balancer in front of the gateways on `replicas`: the process and the port
/// it listens on.
fn start_nginx(replicas: &[u16], dir: &TempDir) -> (Process, u16) {
    // One process: killing it on drop leaves no orphaned worker behind.
    let globals = format!(
        "daemon off; master_process off; pid {};",
        dir.path("nginx.pid").display()
    );
    let conf = dir.path("nginx.conf");
    start_on_free_port(|lb_port| {
        std::fs::write(&conf, nginx_conf_on_loopback(replicas, lb_port)).unwrap();
        let mut command = Command::new(tool("nginx"));
        command
            .args(["-e", "stderr", "-c"])
            .arg(&conf)
            .args(["-g", &globals])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    })
}

fn chat_requests_served(port: u16) -> u64 {
    let metrics = request(port, "GET", "/metrics", &[], b"").text();
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("argo_bridge_requests_total{client=\"openai\",endpoint=\"chat\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn nginx_loses_no_request_when_a_replica_is_killed_under_load() {
    let (_mock, mock_port) = start_mock(&[]);
    let mut replicas: Vec<(Process, u16)> = (0..3)
        .map(|_| start_gateway(&argo_base(mock_port), &[]))
        .collect();
    let ports: Vec<u16> = replicas.iter().map(|(_, port)| *port).collect();
    let dir = TempDir::new("nginx");
    let (_nginx, lb_port) = start_nginx(&ports, &dir);

    let traffic = Traffic::start(lb_port, 4);
    wait_until(Duration::from_secs(15), "every replica to serve", || {
        ports
            .iter()
            .all(|port| chat_requests_served(*port) > 0)
            .then_some(())
    });
    let (victim, _) = &mut replicas[1];
    victim.signal("KILL");
    victim
        .wait_exit(Duration::from_secs(10))
        .expect("the killed replica is gone");
    traffic.wait_for_more(100);
    let outcomes = traffic.finish();

    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:?}",
        failures.len(),
        outcomes.len()
    );
    let survivors = chat_requests_served(ports[0]) + chat_requests_served(ports[2]);
    assert!(survivors > 0);
}
