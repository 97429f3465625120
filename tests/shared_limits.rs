//! Per-user limits shared through a real `redis-server` (installed by `.ci/install`): three
//! gateways behind one Redis give a user the limit of one, not three times it; with Redis
//! killed mid-run they fall back to their own limits without failing a request, count it and
//! log it once; with Redis back they share again. Concurrency slots are shared too, given back
//! when a request ends and freed by themselves when the instance holding them dies.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BOB_TOKEN: &str = "test-token-bob";
const CONNECTED: &str = "shared across instances through Redis";
const FELL_BACK: &str = "Redis cannot be used";
const BACK: &str = "Redis is back";

/// A throw-away `redis-server` on a loopback port: no persistence, killed on drop.
/// A Redis on a free port: the process and its port.
fn start_redis() -> (Process, u16) {
    start_on_free_port(redis_command)
}

/// A Redis again on `port`, where the gateways expect it.
fn start_redis_on(port: u16) -> Process {
    let redis = Process::spawn(&mut redis_command(port));
    wait_for_port(port);
    redis
}

fn redis_command(port: u16) -> Command {
    // `tool` fails with "`redis-server` is not installed: run `bash .ci/install`".
    let mut command = Command::new(tool("redis-server"));
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

struct Gateway {
    port: u16,
    log: PathBuf,
    process: Process,
}

/// `count` gateways in front of one mock Argo, sharing the Redis on `redis_port`, each logging
/// to a file in `dir`; returned once each has connected to Redis.
fn start_gateways(
    count: usize,
    mock_port: u16,
    redis_port: u16,
    limits: &[(&str, &str)],
    dir: &TempDir,
) -> Vec<Gateway> {
    let url = format!("redis://127.0.0.1:{redis_port}/0");
    let gateways: Vec<Gateway> = (0..count)
        .map(|index| {
            let log = dir.path(&format!("gateway-{index}.log"));
            let mut command = gateway_command(&argo_base(mock_port), limits);
            // These tests are about sharing, not Redis' latency: on a busy machine a check can
            // take longer than the default 50 ms, which would be judged locally.
            command
                .env("ARGO_BRIDGE_REDIS_URL", &url)
                .env("ARGO_BRIDGE_REDIS_TIMEOUT_MS", "1000")
                .env("RUST_LOG", "warn,argo_bridge::limits=info");
            log_to(&mut command, &log);
            let (process, ports) = spawn_gateway(&mut command);
            Gateway {
                port: ports.listen(),
                log,
                process,
            }
        })
        .collect();
    for gateway in &gateways {
        wait_for_log(&gateway.log, CONNECTED);
    }
    gateways
}

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn wait_for_log(path: &Path, needle: &str) {
    wait_until(Duration::from_secs(10), needle, || {
        log_text(path).contains(needle).then_some(())
    });
}

fn chat(port: u16, token: &str, directive: &str) -> Response {
    request(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {token}"))],
        chat_with_directive("gpt-4o", directive).as_bytes(),
    )
}

/// Sends `count` requests as `token` round-robin over the gateways; how many were admitted.
/// Every answer is a completion or the limits' 429 with its `Retry-After`, nothing else.
fn admitted_round_robin(gateways: &[Gateway], token: &str, count: usize) -> usize {
    let mut admitted = 0;
    for index in 0..count {
        let response = chat(gateways[index % gateways.len()].port, token, "{}");
        if response.status == 200 {
            admitted += 1;
            continue;
        }
        let error = response.expect_error(429);
        assert_eq!(error["code"], "rate_limit_exceeded");
        let retry_after: u64 = response
            .header("retry-after")
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("429 without a Retry-After: {:?}", response.headers));
        assert!(
            (1..=10).contains(&retry_after),
            "one token per 10 s at 6 per minute: {retry_after}"
        );
    }
    admitted
}

/// The gateway's `argo_bridge_limit_backend_fallbacks_total`, all reasons together.
fn fallbacks(port: u16) -> u64 {
    let metrics = metrics_containing(port, "argo_bridge_limit_backend_fallbacks_total");
    metrics
        .lines()
        .filter(|line| line.starts_with("argo_bridge_limit_backend_fallbacks_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn three_gateways_share_one_rate_limit_and_fall_back_when_redis_dies() {
    let (mut redis, redis_port) = start_redis();
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("shared-limits");
    // 6 requests in a burst, then one every 10 s: a run of the test refills about one.
    let limits = [
        ("ARGO_BRIDGE_RATE_LIMIT_RPM", "6"),
        ("ARGO_BRIDGE_RATE_LIMIT_BURST", "6"),
    ];
    let gateways = start_gateways(3, mock_port, redis_port, &limits, &dir);

    let shared = admitted_round_robin(&gateways, TOKEN, 30);
    assert!(
        (6..=7).contains(&shared),
        "three gateways sharing Redis admitted {shared} of alice's 30 requests: about one \
         gateway's 6, not three times that"
    );
    assert_eq!(
        admitted_round_robin(&gateways, BOB_TOKEN, 3),
        3,
        "bob has his own bucket"
    );
    for gateway in &gateways {
        assert_eq!(fallbacks(gateway.port), 0, "Redis answered every check");
    }

    redis.signal("KILL");
    redis
        .wait_exit(Duration::from_secs(10))
        .expect("redis-server is gone");
    let local = admitted_round_robin(&gateways, TOKEN, 30);
    assert!(
        (18..=21).contains(&local),
        "without Redis each gateway applies its own limit (6 each, 18 in all): {local}"
    );
    assert_eq!(admitted_round_robin(&gateways, BOB_TOKEN, 3), 3);
    // Log lines reach the file in batches, every 100 ms.
    for gateway in &gateways {
        wait_for_log(&gateway.log, FELL_BACK);
    }
    std::thread::sleep(Duration::from_millis(300));
    for gateway in &gateways {
        assert!(
            fallbacks(gateway.port) >= 11,
            "every check of this gateway (alice's 10, bob's 1) fell back"
        );
        let log = log_text(&gateway.log);
        assert_eq!(
            log.matches(FELL_BACK).count(),
            1,
            "the fallback is logged once per outage:\n{log}"
        );
        assert!(!log.contains("test-token"), "no token in the log:\n{log}");
        assert!(!log.contains("alice"), "no user in these log lines:\n{log}");
    }

    // Redis comes back (empty): the gateways reconnect by themselves and share again.
    let _redis = start_redis_on(redis_port);
    for gateway in &gateways {
        wait_for_log(&gateway.log, BACK);
    }
    let before: Vec<u64> = gateways.iter().map(|g| fallbacks(g.port)).collect();
    let again = admitted_round_robin(&gateways, TOKEN, 30);
    assert!((6..=7).contains(&again), "shared again: {again} admitted");
    let after: Vec<u64> = gateways.iter().map(|g| fallbacks(g.port)).collect();
    assert_eq!(before, after, "no fallback once Redis is back");
}

#[test]
fn concurrency_slots_are_shared_given_back_and_lapse_with_a_dead_instance() {
    let (_redis, redis_port) = start_redis();
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("shared-slots");
    let limits = [
        ("ARGO_BRIDGE_MAX_CONCURRENT_PER_USER", "1"),
        ("ARGO_BRIDGE_REDIS_SLOT_LEASE_MS", "2000"),
    ];
    let gateways = start_gateways(3, mock_port, redis_port, &limits, &dir);
    let (a, b, c) = (gateways[0].port, gateways[1].port, gateways[2].port);
    let busy = |port: u16| {
        let response = chat(port, TOKEN, "{}");
        match response.status {
            200 => false,
            _ => {
                let error = response.expect_error(429);
                assert!(
                    error["message"].as_str().unwrap().contains("in flight"),
                    "{error}"
                );
                assert_eq!(response.header("retry-after"), Some("1"));
                true
            }
        }
    };

    // One slow request on A holds alice's only slot on every gateway, past its lease time:
    // A renews the lease while the request runs.
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| admitted(|| chat(a, TOKEN, r#"{"delay_ms":4500}"#)));
        std::thread::sleep(Duration::from_millis(300));
        wait_until(
            Duration::from_secs(5),
            "the slow request to hold the slot",
            || busy(b).then_some(()),
        );
        assert_eq!(chat(c, BOB_TOKEN, "{}").status, 200, "bob is not held up");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(busy(c), "the lease outlived its 2 s because A renewed it");
        assert_eq!(slow.join().unwrap().status, 200);
    });
    // The slot is given back when the request ends, well before a lease (at least 1.3 s left)
    // would have lapsed.
    let ended = Instant::now();
    wait_until(Duration::from_secs(5), "the slot to be given back", || {
        (!busy(c)).then_some(())
    });
    assert!(
        ended.elapsed() < Duration::from_millis(1000),
        "given back, not lapsed: {:?}",
        ended.elapsed()
    );

    // A dies while holding the slot: it lapses within the lease time, it does not leak.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ =
                std::panic::catch_unwind(|| admitted(|| chat(a, TOKEN, r#"{"delay_ms":20000}"#)));
        });
        std::thread::sleep(Duration::from_millis(300));
        wait_until(
            Duration::from_secs(5),
            "the doomed request to hold the slot",
            || busy(b).then_some(()),
        );
        gateways[0].process.signal("KILL");
        let died = Instant::now();
        assert!(
            busy(b),
            "the dead instance's lease still counts for a moment"
        );
        wait_until(
            Duration::from_secs(6),
            "the dead instance's lease to lapse",
            || (!busy(b)).then_some(()),
        );
        assert!(
            died.elapsed() < Duration::from_secs(4),
            "{:?}",
            died.elapsed()
        );
    });
    for gateway in &gateways[1..] {
        assert_eq!(fallbacks(gateway.port), 0);
    }
}

/// `send` again while it is refused for alice's slot: the probes of the other gateways, which
/// take the slot for a moment each, may win it first on a loaded machine.
fn admitted(send: impl Fn() -> Response) -> Response {
    loop {
        let response = send();
        if response.status != 429 {
            return response;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
