//! Black-box operations tests: the admin listener, `/metrics` scraped by a real Prometheus, the
//! overhead header and histogram, and the structured access log.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn post(port: u16, path: &str, body: &Value) -> Response {
    request(
        port,
        "POST",
        path,
        &[("Authorization", &bearer())],
        body.to_string().as_bytes(),
    )
}

fn get(port: u16, path: &str) -> Response {
    request(port, "GET", path, &[], b"")
}

fn chat(content: &str) -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]})
}

/// A Prometheus server from Debian's package, scraping `targets` every second.
struct Prometheus {
    port: u16,
    _process: Process,
    _dir: TempDir,
}

impl Prometheus {
    fn start(targets: &[String]) -> Prometheus {
        Self::start_with_token(targets, None)
    }

    /// Scraping with `Authorization: Bearer <token>` when one is given.
    fn start_with_token(targets: &[String], token: Option<&str>) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let authorization = token
            .map(|token| format!("    authorization:\n      credentials: '{token}'\n"))
            .unwrap_or_default();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: argo-bridge\n{authorization}    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.path("prometheus.yml"), config).unwrap();
        let (process, port) = start_on_free_port(|port| {
            let mut command = Command::new(tool("prometheus"));
            command
                .arg(format!(
                    "--config.file={}",
                    dir.path("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            command
        });
        Prometheus {
            port,
            _process: process,
            _dir: dir,
        }
    }

    /// The instant vector for `promql`, or `None` while Prometheus is not answering yet.
    fn query(&self, promql: &str) -> Option<Vec<Value>> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let response = get(self.port, &path);
        if response.status != 200 {
            return None;
        }
        let json = response.json();
        assert_eq!(json["status"], "success", "{json}");
        json["data"]["result"].as_array().cloned()
    }

    /// Waits until the single value of `promql` equals `expected`.
    fn wait_for_value(&self, promql: &str, expected: f64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = self.query(promql).and_then(|result| value_of(&result));
            if last == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: expected {expected}, last {last:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn value_of(result: &[Value]) -> Option<f64> {
    match result {
        [sample] => sample["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Mock Argo and a gateway with its admin listener on a port of its own.
struct GatewayWithAdmin {
    port: u16,
    admin_port: u16,
    _gateway: Process,
    _mock: Process,
}

impl GatewayWithAdmin {
    fn start() -> Self {
        let (mock, mock_port) = start_mock(&[]);
        let (gateway, port, admin_port) = start_gateway_with_admin(&argo_base(mock_port), &[]);
        // Ready once the first readiness probes have reached the mock Argo.
        wait_until(WAIT, "/ready", || {
            (get(admin_port, "/ready").status == 200).then_some(())
        });
        GatewayWithAdmin {
            port,
            admin_port,
            _gateway: gateway,
            _mock: mock,
        }
    }
}

#[test]
fn a_real_prometheus_scrapes_the_admin_listener() {
    let gateway = GatewayWithAdmin::start();
    let (port, admin_port) = (gateway.port, gateway.admin_port);
    let prometheus = Prometheus::start(&[format!("127.0.0.1:{admin_port}")]);
    for n in 0..3 {
        assert_eq!(
            post(port, "/v1/chat/completions", &chat(&format!("hi {n}"))).status,
            200
        );
    }
    let unknown = json!({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]});
    post(port, "/v1/chat/completions", &unknown).expect_error(404);

    prometheus.wait_for_value(
        r#"sum(argo_bridge_requests_total{endpoint="chat",model="gpt-4o",status="200"})"#,
        3.0,
    );
    prometheus.wait_for_value(
        r#"sum(argo_bridge_requests_total{endpoint="chat",status="404"})"#,
        1.0,
    );
    prometheus.wait_for_value(
        r#"sum(argo_bridge_overhead_seconds_count{endpoint="chat"})"#,
        4.0,
    );
    prometheus.wait_for_value(
        r#"sum(argo_bridge_upstream_duration_seconds_count{endpoint="chat"})"#,
        3.0,
    );
    let build = prometheus.query("argo_bridge_build_info").unwrap();
    assert_eq!(build[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(value_of(&build), Some(1.0));
    let completion_tokens = prometheus
        .query(r#"sum(argo_bridge_tokens_total{model="gpt-4o",direction="completion"})"#)
        .and_then(|result| value_of(&result));
    assert!(completion_tokens.is_some_and(|tokens| tokens > 0.0));
    let memory = prometheus
        .query("process_resident_memory_bytes")
        .and_then(|result| value_of(&result));
    assert!(memory.is_some_and(|bytes| bytes > 0.0));
}

#[test]
fn the_admin_listener_serves_only_metrics_health_and_ready() {
    let gateway = GatewayWithAdmin::start();
    let (port, admin_port) = (gateway.port, gateway.admin_port);

    let metrics = get(admin_port, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let text = metrics.text();
    let build_line = format!(
        "argo_bridge_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&build_line), "{text}");
    for name in [
        "# TYPE argo_bridge_in_flight_requests gauge",
        "# TYPE process_start_time_seconds gauge",
        "# TYPE process_open_fds gauge",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    assert_eq!(get(admin_port, "/health").json()["status"], "ok");
    assert_eq!(get(admin_port, "/ready").json()["status"], "ready");
    get(admin_port, "/v1/models").expect_error(404);
    post(admin_port, "/v1/chat/completions", &chat("hi")).expect_error(404);
    // The API listener keeps serving the probes, but not the metrics.
    get(port, "/metrics").expect_error(404);
    assert_eq!(get(port, "/ready").status, 200);
    assert_eq!(get(port, "/health").status, 200);
}

#[test]
fn a_real_prometheus_scrapes_with_the_metrics_token() {
    let token = "prometheus-scrape-token-42";
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, _port, admin_port) = start_gateway_with_admin(
        &argo_base(mock_port),
        &[("ARGO_BRIDGE_METRICS_TOKEN", token)],
    );
    get(admin_port, "/metrics").expect_error(401);
    let targets = [format!("127.0.0.1:{admin_port}")];
    let prometheus = Prometheus::start_with_token(&targets, Some(token));
    prometheus.wait_for_value("up", 1.0);
    let build = prometheus.query("argo_bridge_build_info").unwrap();
    assert_eq!(value_of(&build), Some(1.0));
    // Without the token the target is down.
    let refused = Prometheus::start(&targets);
    refused.wait_for_value("up", 0.0);
}

/// The access-log line for `request_id`, once it has been written.
fn access_line(log: &Path, request_id: &str) -> String {
    wait_until(WAIT, "the access-log line", || {
        let text = std::fs::read_to_string(log).ok()?;
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(request_id)).collect();
        assert!(lines.len() <= 1, "one line per request: {lines:?}");
        lines.first().map(|line| line.to_string())
    })
}

/// `key=value` fields of a text access-log line.
fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_string()
}

fn millis(line: &str, key: &str) -> f64 {
    field(line, key).parse().unwrap()
}

fn logged_gateway(mock_port: u16, log: &Path, env: &[(&str, &str)]) -> (Process, u16) {
    let mut command = gateway_command(&argo_base(mock_port), env);
    command.env("RUST_LOG", "info");
    log_to(&mut command, log);
    let (process, ports) = spawn_gateway(&mut command);
    (process, ports.listen())
}

#[test]
fn overhead_header_and_histogram_leave_out_the_wait_on_argo() {
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("overhead");
    let log = dir.path("gateway.log");
    let (_gateway, port) = logged_gateway(mock_port, &log, &[]);

    let slow = post(
        port,
        "/v1/chat/completions",
        &chat(r#"x #mock {"delay_ms":300}"#),
    );
    assert_eq!(slow.status, 200);
    let header: f64 = slow
        .header("x-argo-bridge-overhead-ms")
        .unwrap()
        .parse()
        .unwrap();
    let line = access_line(&log, slow.header("x-request-id").unwrap());
    assert_eq!(millis(&line, "overhead_ms"), header);
    assert!(millis(&line, "upstream_ms") >= 300.0, "{line}");
    // Overhead is frozen when the head is written, so it cannot exceed the total minus Argo.
    assert!(header <= millis(&line, "duration_ms") - millis(&line, "upstream_ms") + 0.001);

    let refused = request(port, "POST", "/v1/chat/completions", &[], b"{}");
    refused.expect_error(401);
    let header = refused.header("x-argo-bridge-overhead-ms").unwrap();
    assert!(header.parse::<f64>().is_ok_and(|ms| ms >= 0.0), "{header}");

    let mut stream_body = chat(r#"x #mock {"fragments":["a","b","c"],"fragment_delay_ms":150}"#);
    stream_body["stream"] = json!(true);
    let stream = post(port, "/v1/chat/completions", &stream_body);
    assert!(stream.text().ends_with("data: [DONE]\n\n"));
    let header: f64 = stream
        .header("x-argo-bridge-overhead-ms")
        .unwrap()
        .parse()
        .unwrap();
    let line = access_line(&log, stream.header("x-request-id").unwrap());
    assert_eq!(field(&line, "stream"), "complete");
    assert_eq!(millis(&line, "overhead_ms"), header);
    // The stream's pauses are Argo's time, not overhead.
    assert!(millis(&line, "upstream_ms") >= 300.0, "{line}");
    assert!(header <= millis(&line, "duration_ms") - 300.0);

    wait_until(WAIT, "three chat overhead observations", || {
        let metrics = get(port, "/metrics").text();
        metrics
            .contains("argo_bridge_overhead_seconds_count{endpoint=\"chat\"} 3")
            .then_some(())
    });
}

#[test]
fn each_request_gets_one_text_line_without_token_user_or_body() {
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("access-text");
    let log = dir.path("gateway.log");
    let (_gateway, port) = logged_gateway(mock_port, &log, &[]);

    let answered = post(
        port,
        "/v1/chat/completions",
        &chat("purple-elephant-secret"),
    );
    assert_eq!(answered.status, 200);
    let line = access_line(&log, answered.header("x-request-id").unwrap());
    for (key, value) in [
        ("method", "POST"),
        ("endpoint", "chat"),
        ("model", "gpt-4o"),
        ("status", "200"),
        ("stream", "-"),
    ] {
        assert_eq!(field(&line, key), value, "{line}");
    }
    for key in ["duration_ms", "upstream_ms", "overhead_ms"] {
        assert!(millis(&line, key) >= 0.0);
    }
    let missing = post(
        port,
        "/v1/embeddings",
        &json!({"model": "nope", "input": "x"}),
    );
    let line = access_line(&log, missing.header("x-request-id").unwrap());
    assert_eq!(field(&line, "status"), "404");
    assert_eq!(field(&line, "model"), "-");

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [TOKEN, USER, "purple-elephant-secret", "Bearer"] {
        assert!(!text.contains(secret), "the log shows {secret}: {text}");
    }
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let (_mock, mock_port) = start_mock(&[]);
    let dir = TempDir::new("access-json");
    let log = dir.path("gateway.log");
    let (_gateway, port) = logged_gateway(mock_port, &log, &[("ARGO_BRIDGE_LOG_FORMAT", "json")]);

    let mut body = chat(r#"secret-words #mock {"reply":"streamed","fragment_delay_ms":0}"#);
    body["stream"] = json!(true);
    let stream = post(port, "/v1/chat/completions", &body);
    assert_eq!(stream.status, 200);
    let line = access_line(&log, stream.header("x-request-id").unwrap());
    let record: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(record["target"], "access");
    assert_eq!(record["level"], "INFO");
    assert_eq!(record["endpoint"], "chat");
    assert_eq!(record["model"], "gpt-4o");
    assert_eq!(record["status"], 200);
    assert_eq!(record["stream"], "complete");
    for key in ["duration_ms", "upstream_ms", "overhead_ms"] {
        assert!(record[key].as_f64().is_some_and(|ms| ms >= 0.0), "{record}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            object["ts"].is_string() && object["level"].is_string(),
            "{line}"
        );
    }
    for secret in [TOKEN, USER, "secret-words"] {
        assert!(!text.contains(secret), "the log shows {secret}");
    }
}

#[test]
fn rust_log_sets_the_level_and_can_silence_the_access_log() {
    let gateway = LoggedGateway::start("access-off", "info,access=off");
    let (port, log) = (gateway.port, &gateway.log);
    let answered = post(port, "/v1/chat/completions", &chat("hi"));
    assert_eq!(answered.status, 200);
    // Wait for a later line than the request's: the metrics show the request was logged.
    wait_until(WAIT, "the request to be recorded", || {
        get(port, "/metrics")
            .text()
            .contains(
                "argo_bridge_requests_total{client=\"openai\",endpoint=\"chat\",model=\"gpt-4o\",status=\"200\"} 1",
            )
            .then_some(())
    });
    // Log lines are written in batches every 100 ms: give the request's line, were there one,
    // time to reach the file.
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("listening on"), "info lines stay: {text}");
    assert!(!text.contains(answered.header("x-request-id").unwrap()));
}
