//! The second round of attacks on the gateway's edge (issue 23): the admin port, Argo's model
//! list, the number of open connections, a stalled Redis and oversized or odd request heads.
//! Each test runs the attack against the real binary while a victim makes ordinary requests,
//! and bounds the victim's latency; each failed against the code before its fix.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use socket2::{Domain, Socket, Type};

const ADMIN_TOKEN: &str = "admin-secret-0123";

/// A victim's ordinary request must be answered within this, whatever the attack does: the
/// attacks held requests for 30 s or forever. Generous for a busy 2-core machine.
const VICTIM_BOUND: Duration = Duration::from_secs(3);

/// One chat as the victim (the test user): it must succeed within [`VICTIM_BOUND`]; how long
/// it took.
fn victim_chat(port: u16) -> Duration {
    let started = Instant::now();
    let answer = post_hello(port);
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "the victim's chat: {}", answer.text());
    assert!(took < VICTIM_BOUND, "the victim's chat took {took:?}");
    took
}

/// A connection to the gateway on 127.0.0.1:`port` from the loopback address `from`
/// (127.0.0.2 and the like are loopback too): another client address.
fn connect_from(from: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into(),
        Duration::from_secs(5),
    )?;
    let stream = TcpStream::from(socket);
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn attacker(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + n)
}

/// What the gateway did with a connection it was holding: the status it answered, 0 when it
/// closed the connection without a word, `None` while it still holds it (no answer within
/// `wait`).
fn fate(stream: &TcpStream, wait: Duration) -> Option<u16> {
    stream
        .set_read_timeout(Some(wait.max(Duration::from_millis(10))))
        .unwrap();
    let mut first = [0u8; 12];
    let mut read = 0;
    while read < first.len() {
        match (&*stream).read(&mut first[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => break,
        }
    }
    let line = String::from_utf8_lossy(&first[..read]).to_string();
    Some(
        line.split_whitespace()
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or(0),
    )
}

fn mock_stats(port: u16) -> Value {
    request(port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

fn model_list_reads(mock_port: u16) -> u64 {
    mock_stats(mock_port)["endpoints"]["models"]
        .as_u64()
        .unwrap()
}

fn mock_hook(mock_port: u16, hook: Value) {
    let answer = request(
        mock_port,
        "POST",
        "/argoapi/__mock/models",
        &[],
        hook.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
}

fn refresh(admin: u16, authorization: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| vec![("Authorization", value)])
        .unwrap_or_default();
    request(admin, "POST", "/models/refresh", &headers, b"")
}

/// The value of one metric line (`name{labels}`), 0 when absent.
fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Attack 5a: `POST /models/refresh` on the admin port needed no token, and each call read every
/// environment's model list from Argo (2,692 refreshes a second). Now a mutating admin call
/// needs `admin.token` (refused outright while none is set), and refreshes are coalesced: one
/// at a time, at most one per `upstream.model_refresh_min_interval_ms`, callers that wait share
/// the next one.
#[test]
fn admin_refreshes_need_the_admin_token_and_are_coalesced() {
    let (_mock, mock_port) = start_mock(&[]);
    let argo = argo_base(mock_port);
    let (_open, _, open_admin) =
        start_gateway_with_admin(&argo, &[("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "0")]);
    let refused = refresh(open_admin, None);
    let error = refused.expect_error(403);
    assert!(
        error["message"].as_str().unwrap().contains("admin.token"),
        "{error}"
    );

    let (_gateway, port, admin) = start_gateway_with_admin(
        &argo,
        &[
            ("ARGO_BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "0"),
            ("ARGO_BRIDGE_MODEL_REFRESH_MIN_INTERVAL_MS", "1000"),
        ],
    );
    let api_token = format!("Bearer {TOKEN}");
    for wrong in [
        None,
        Some("Bearer admin-secret-0124"),
        Some(api_token.as_str()),
    ] {
        let answer = refresh(admin, wrong);
        answer.expect_error(401);
        assert!(!answer.text().contains(ADMIN_TOKEN));
    }
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let first = refresh(admin, Some(&bearer));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["failed"], json!([]));

    // Eight clients refresh as fast as they can for 3 s while the victim chats.
    let before = model_list_reads(mock_port);
    let started = Instant::now();
    let flood = Duration::from_secs(3);
    let attackers: Vec<_> = (0..8)
        .map(|_| {
            let bearer = bearer.clone();
            std::thread::spawn(move || {
                let mut answered = 0;
                while started.elapsed() < flood {
                    let answer = refresh(admin, Some(&bearer));
                    assert_eq!(answer.status, 200, "{}", answer.text());
                    assert!(answer.json()["models"].as_u64() > Some(0));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let mut victim = Vec::new();
    while started.elapsed() < flood {
        victim.push(victim_chat(port));
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered: u32 = attackers.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed().as_secs_f64();
    let reads = model_list_reads(mock_port) - before;
    // Three environments, one refresh a second, and the one that was waiting at the end.
    let most = 3 * (elapsed.ceil() as u64 + 2);
    assert!(
        reads <= most,
        "{reads} model-list reads for {answered} refreshes in {elapsed:.1} s (most {most})"
    );
    assert!(answered >= 8, "every caller got answers: {answered}");
    eprintln!(
        "admin refresh flood: {answered} refreshes answered, {reads} model-list reads in \
         {elapsed:.1} s; victim: {} chats, slowest {:?}",
        victim.len(),
        victim.iter().max()
    );
}

/// Attack 5b: the admin listener had no head deadline and no connection caps: 500 slow
/// connections stayed open for 70 s, and 1,300 made the API's users time out and admin
/// `/ready` hang. Now it has the API's front door: the head deadline, the per-address cap and
/// a global cap of its own (`admin.max_connections`).
#[test]
fn the_admin_port_has_the_front_doors_deadline_and_caps() {
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port, admin) = start_gateway_with_admin(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_REQUEST_HEAD_TIMEOUT_MS", "1500"),
            ("ARGO_BRIDGE_ADMIN_MAX_CONNECTIONS", "40"),
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "200"),
        ],
    );
    wait_until(Duration::from_secs(10), "admin /ready 200", || {
        (request(admin, "GET", "/ready", &[], b"").status == 200).then_some(())
    });
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..120)
        .filter_map(|n| {
            let stream = connect_from(attacker(n % 3), admin).ok()?;
            (&stream)
                .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n")
                .ok()?;
            Some(stream)
        })
        .collect();
    // While they are held, the victim's probe and chat are answered.
    let probe = Instant::now();
    assert_eq!(request(admin, "GET", "/ready", &[], b"").status, 200);
    assert!(
        probe.elapsed() < VICTIM_BOUND,
        "admin /ready took {:?}",
        probe.elapsed()
    );
    victim_chat(port);
    // Every slow connection is answered (503 over the cap, 408 at the deadline) or closed, by
    // the deadline and a margin.
    let fates: Vec<Option<u16>> = slow
        .iter()
        .map(|stream| {
            fate(
                stream,
                Duration::from_secs(8).saturating_sub(started.elapsed()),
            )
        })
        .collect();
    let held = fates.iter().filter(|fate| fate.is_none()).count();
    let timed_out = fates.iter().filter(|fate| **fate == Some(408)).count();
    let over_cap = fates.iter().filter(|fate| **fate == Some(503)).count();
    eprintln!(
        "admin slowloris: {} connections, {timed_out} cut at the head deadline, {over_cap} \
         refused over the cap, {held} still held after {:?}",
        slow.len(),
        started.elapsed()
    );
    assert_eq!(held, 0, "slow admin connections still held: {fates:?}");
    assert!(timed_out > 0 && over_cap > 0, "{fates:?}");
    assert!(
        timed_out <= 40,
        "more connections than admin.max_connections: {timed_out}"
    );
    assert_eq!(request(admin, "GET", "/ready", &[], b"").status, 200);
}

/// Attack 6: a huge model list (8,000 models cost 14.8 s of CPU a refresh, 100,000 never
/// finished), one that never comes and one that drips must not pin a core, slow the API or
/// fail `/ready` while chat works. The list's size is capped (`upstream.max_model_list_bytes`),
/// the merge runs off the request threads, and the readiness probe is judged on Argo's answer
/// head, not on the list.
#[test]
fn huge_hanging_or_dripping_model_lists_leave_the_api_and_ready_alone() {
    let (_mock, mock_port) = start_mock(&[]);
    // About 2.2 MB of list.
    mock_hook(mock_port, json!({"bulk": 20_000}));
    let (gateway, port, admin) = start_gateway_with_admin(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_MODEL_REFRESH_INTERVAL_S", "1"),
            ("ARGO_BRIDGE_MAX_MODEL_LIST_BYTES", "1048576"),
            ("ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS", "300"),
            ("ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS", "1000"),
        ],
    );
    wait_until(Duration::from_secs(10), "/ready 200", || {
        (request(admin, "GET", "/ready", &[], b"").status == 200).then_some(())
    });
    let cpu_before = cpu_seconds(gateway.id());
    let started = Instant::now();
    let during = |phase: &str, seconds: u64| {
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut slowest = Duration::ZERO;
        while Instant::now() < until {
            slowest = slowest.max(victim_chat(port));
            let ready = request(admin, "GET", "/ready", &[], b"");
            assert_eq!(ready.status, 200, "{phase}: /ready {}", ready.text());
            let models = request(
                port,
                "GET",
                "/v1/models",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                b"",
            );
            assert_eq!(models.status, 200, "{phase}: {}", models.text());
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("{phase} model list: victim's slowest chat {slowest:?}");
    };
    during("huge", 5);
    let cpu = cpu_seconds(gateway.id()) - cpu_before;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("huge model list: gateway CPU {cpu:.2} s in {elapsed:.1} s");
    assert!(
        cpu < elapsed * 0.5,
        "the huge list costs the gateway {cpu:.2} s of CPU in {elapsed:.1} s"
    );
    let metrics = request(admin, "GET", "/metrics", &[], b"").text();
    assert!(
        metric(
            &metrics,
            r#"argo_bridge_model_refresh_failures_total{env="prod"}"#
        ) >= 1.0,
        "the oversized list is refused and counted"
    );

    mock_hook(mock_port, json!({"bulk": 0, "delay_ms": 60_000}));
    during("hanging", 4);
    let ready = request(admin, "GET", "/ready", &[], b"").json();
    assert_eq!(ready["environments"]["prod"], "slow", "{ready}");

    mock_hook(mock_port, json!({"delay_ms": 0, "drip_ms": 20}));
    during("dripping", 4);
}

/// Attack 7: the per-address cap held, but five addresses exhausted an 1,100-descriptor
/// limit and nobody else got in. Now the gateway caps its connections in all
/// (`limits.max_connections`) below the descriptor limit, and once three quarters of them are
/// open an address that holds a sixteenth of them gets no more: a victim still gets in.
#[test]
fn a_global_connection_cap_keeps_room_for_a_victim() {
    let (_mock, mock_port) = start_mock(&[]);
    let (gateway, port) = start_gateway(
        &argo_base(mock_port),
        &[("ARGO_BRIDGE_MAX_CONNECTIONS", "120")],
    );
    // The descriptor limit an operator might run with, lowered on the running process.
    let lowered = Command::new("prlimit")
        .args(["--pid", &gateway.id().to_string(), "--nofile=300:300"])
        .stderr(Stdio::inherit())
        .status()
        .expect("run prlimit (util-linux)");
    assert!(lowered.success());
    victim_chat(port);

    let started = Instant::now();
    let mut held = Vec::new();
    let mut failed_connects = 0;
    for n in 0..350 {
        match connect_from(attacker((n % 5) as u8), port) {
            Ok(stream) => held.push(stream),
            Err(_) => failed_connects += 1,
        }
    }
    let mut victim = Vec::new();
    for _ in 0..5 {
        victim.push(victim_chat(port));
    }
    std::thread::sleep(Duration::from_millis(300));
    let fates: Vec<Option<u16>> = held
        .iter()
        .map(|stream| fate(stream, Duration::from_millis(10)))
        .collect();
    let still_open = fates.iter().filter(|fate| fate.is_none()).count();
    let refused = fates.iter().filter(|fate| **fate == Some(503)).count();
    let metrics = request(port, "GET", "/metrics", &[], b"").text();
    eprintln!(
        "connection flood: {} connections from 5 addresses ({failed_connects} failed to \
         connect), {still_open} held, {refused} refused with 503 in {:?}; victim's chats {victim:?}",
        held.len(),
        started.elapsed()
    );
    assert!(
        still_open <= 120,
        "{still_open} connections over the cap of 120"
    );
    assert!(refused > 0);
    assert!(
        metric(
            &metrics,
            r#"argo_bridge_refused_connections_total{reason="connection_cap"}"#
        ) >= refused as f64
    );
    let open = metric(&metrics, r#"argo_bridge_connections_open{listener="api"}"#);
    assert!(
        open >= still_open as f64 && open <= 120.0,
        "{open} connections open"
    );
}

/// Attack (Redis): with Redis accepting but not answering, every request waited
/// `limits.redis_timeout_ms` for it. Now three timeouts in a row trip a breaker: the requests
/// that follow are judged locally at once, and Redis is asked again after
/// `limits.redis_backoff_ms`.
#[test]
fn a_stalled_redis_slows_three_requests_not_every_request() {
    let dir = TempDir::new("stalled-redis");
    let socket = dir.path("redis.sock");
    let redis = Process::spawn(
        Command::new(tool("redis-server"))
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_until(Duration::from_secs(10), "redis' socket", || {
        socket.exists().then_some(())
    });
    let (_mock, mock_port) = start_mock(&[]);
    let url = format!("unix://{}", socket.display());
    let (_gateway, port) = start_gateway(
        &argo_base(mock_port),
        &[
            ("ARGO_BRIDGE_REDIS_URL", url.as_str()),
            ("ARGO_BRIDGE_RATE_LIMIT_RPM", "6000"),
            ("ARGO_BRIDGE_REDIS_TIMEOUT_MS", "1000"),
            ("ARGO_BRIDGE_REDIS_BACKOFF_MS", "5000"),
        ],
    );
    let fallbacks = |port: u16| {
        let metrics = request(port, "GET", "/metrics", &[], b"").text();
        metrics
            .lines()
            .filter(|line| line.starts_with("argo_bridge_limit_backend_fallbacks_total"))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    wait_until(Duration::from_secs(10), "a check judged by Redis", || {
        victim_chat(port);
        (fallbacks(port) == 0.0).then_some(())
    });

    redis.signal("STOP");
    let started = Instant::now();
    let victim: Vec<Duration> = (0..12).map(|_| victim_chat(port)).collect();
    let total = started.elapsed();
    redis.signal("CONT");
    let slow = victim
        .iter()
        .filter(|took| **took >= Duration::from_millis(500))
        .count();
    eprintln!("stalled Redis: 12 chats in {total:?}: {victim:?}");
    assert!(
        slow <= 3 && total < Duration::from_secs(7),
        "{slow} of 12 chats waited for the stalled Redis, {total:?} in all"
    );
    let metrics = request(port, "GET", "/metrics", &[], b"").text();
    assert!(metric(&metrics, "argo_bridge_limit_backend_trips_total") >= 1.0);
    assert!(
        metric(
            &metrics,
            r#"argo_bridge_limit_backend_fallbacks_total{reason="breaker_open"}"#
        ) >= 9.0
    );
}

/// Heads a little over the limit passed (up to 127 KiB against 64 KiB), and two malformed kinds
/// got an empty 400 from Pingora. Now the head limit holds to the byte (431 with a body), and
/// an absolute-form target and HTTP/1.0 with Transfer-Encoding get the error envelope.
#[test]
fn request_heads_are_held_to_their_limit_and_odd_ones_get_an_envelope() {
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port) = start_gateway(&argo_base(mock_port), &[]);
    let limit = 64 * 1024;
    let head_of = |length: usize| {
        let start = format!(
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX-Pad: "
        );
        let pad = length - start.len() - 4;
        format!("{start}{}\r\n\r\n", "a".repeat(pad))
    };
    let send = |raw: &[u8]| {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = (&stream).write_all(raw);
        read_response(&mut BufReader::new(&stream))
    };
    assert_eq!(
        send(head_of(limit).as_bytes()).status,
        200,
        "a head of exactly the limit"
    );
    for length in [limit + 1, limit + 4 * 1024, 120 * 1024] {
        let answer = send(head_of(length).as_bytes());
        let error = answer.expect_error(431);
        assert_eq!(error["code"], "request_header_fields_too_large");
        assert!(
            error["message"].as_str().unwrap().contains("65536"),
            "{error}"
        );
    }
    let absolute = send(b"GET http://127.0.0.1/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let error = absolute.expect_error(400);
    assert!(
        error["message"].as_str().unwrap().contains("path"),
        "{error}"
    );
    let http_1_0 = send(
        b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    let error = http_1_0.expect_error(400);
    assert!(
        error["message"].as_str().unwrap().contains("HTTP/1.0"),
        "{error}"
    );
    victim_chat(port);
}
