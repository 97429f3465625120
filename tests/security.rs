//! Security: per-user limits, CORS, TLS on the listener and verified TLS to Argo.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

fn chat_as(stack: &Stack, token: &str, directive: &str) -> Response {
    let body = chat_with_directive("gpt-4o", directive);
    request(
        stack.gateway_port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {token}"))],
        body.as_bytes(),
    )
}

#[test]
fn per_user_rate_limit_answers_429_with_retry_after() {
    let stack = Stack::start_with(
        &[],
        &[
            ("ARGO_BRIDGE_RATE_LIMIT_RPM", "6"),
            ("ARGO_BRIDGE_RATE_LIMIT_BURST", "2"),
        ],
    );
    for _ in 0..2 {
        assert_eq!(chat_as(&stack, TOKEN, r#"{"reply":"ok"}"#).status, 200);
    }
    let limited = chat_as(&stack, TOKEN, r#"{"reply":"ok"}"#);
    assert_eq!(
        limited.header("retry-after"),
        Some("10"),
        "one token per 10 s at 6 per minute"
    );
    assert_eq!(limited.expect_error(429)["code"], "rate_limit_exceeded");
    assert_eq!(
        chat_as(&stack, "test-token-bob", r#"{"reply":"ok"}"#).status,
        200,
        "bob has his own bucket"
    );
}

#[test]
fn per_user_concurrency_cap() {
    let stack = Stack::start_with(&[], &[("ARGO_BRIDGE_MAX_CONCURRENT_PER_USER", "1")]);
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| chat_as(&stack, TOKEN, r#"{"reply":"slow","delay_ms":1500}"#));
        std::thread::sleep(Duration::from_millis(400));
        let refused = chat_as(&stack, TOKEN, r#"{"reply":"second"}"#);
        assert_eq!(refused.expect_error(429)["code"], "rate_limit_exceeded");
        assert_eq!(
            chat_as(&stack, "test-token-bob", r#"{"reply":"bob"}"#).status,
            200
        );
        assert_eq!(slow.join().unwrap().status, 200);
    });
    assert_eq!(
        chat_as(&stack, TOKEN, r#"{"reply":"after"}"#).status,
        200,
        "the slot is free again"
    );
}

#[test]
fn cors_is_off_by_default_and_follows_the_allow_list() {
    let off = Stack::start();
    let with_origin = [
        ("Authorization", format!("Bearer {TOKEN}")),
        ("Origin", "https://app.example".to_string()),
    ];
    let headers: Vec<(&str, &str)> = with_origin.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(
        request(off.gateway_port, "GET", "/v1/models", &headers, b"")
            .header("access-control-allow-origin")
            .is_none()
    );
    request(
        off.gateway_port,
        "OPTIONS",
        "/v1/chat/completions",
        &[("Origin", "https://app.example")],
        b"",
    )
    .expect_error(403);

    let on = Stack::start_with(&[], &[("ARGO_BRIDGE_CORS_ORIGINS", "https://app.example")]);
    let listed = request(on.gateway_port, "GET", "/v1/models", &headers, b"");
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(listed.header("vary"), Some("Origin"));
    let preflight = request(
        on.gateway_port,
        "OPTIONS",
        "/v1/chat/completions",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let error = request(on.gateway_port, "GET", "/v1/models/none", &headers, b"");
    assert_eq!(
        error.header("access-control-allow-origin"),
        Some("https://app.example"),
        "errors carry CORS headers too"
    );
    let evil = request(
        on.gateway_port,
        "GET",
        "/v1/models",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Origin", "https://evil.example"),
        ],
        b"",
    );
    assert!(evil.header("access-control-allow-origin").is_none());
}

/// A throw-away CA and a `localhost` certificate it signed.
struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    fn create() -> TestPki {
        let dir = std::env::temp_dir().join(format!(
            "argo-bridge-pki-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed");
            assert!(status.success(), "openssl {args:?}");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=argo-bridge test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        TestPki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn curl(args: &[&str]) -> (i32, String) {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn tls_listener_serves_clients_that_trust_its_ca() {
    let pki = TestPki::create();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let (_mock, mock_port) = start_mock(&[]);
    let (_gateway, port) = start_gateway(
        &format!("http://127.0.0.1:{mock_port}/argoapi"),
        &[
            ("ARGO_BRIDGE_TLS_CERT", &cert),
            ("ARGO_BRIDGE_TLS_KEY", &key),
        ],
    );
    let url = format!("https://localhost:{port}/v1/chat/completions");
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "over TLS"}]})
        .to_string();
    let (code, answer) = curl(&[
        "--cacert",
        &pki.path("ca.pem"),
        &url,
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
    ]);
    assert_eq!(code, 0);
    assert!(answer.contains("You said: over TLS"), "{answer}");
    let (untrusted, _) = curl(&[&format!("https://localhost:{port}/health")]);
    assert_eq!(
        untrusted, 60,
        "curl must refuse a certificate from an unknown CA"
    );
}

#[test]
fn argo_over_tls_is_verified_against_the_configured_ca() {
    let pki = TestPki::create();
    let (_mock, mock_port) = start_mock(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
    ]);
    let base = format!("https://localhost:{mock_port}/argoapi");
    let (_trusting, port) = start_gateway(&base, &[("ARGO_BRIDGE_CA_FILE", &pki.path("ca.pem"))]);
    let answer = post_hello(port);
    assert_eq!(answer.status, 200, "{}", answer.text());

    let (_default_roots, port) = start_gateway(&base, &[("ARGO_BRIDGE_RETRIES", "0")]);
    let refused = post_hello(port);
    assert_eq!(refused.expect_error(502)["code"], "upstream_tls_error");
}

#[test]
fn a_missing_certificate_file_stops_the_gateway_naming_the_field() {
    let output = Command::new(binary())
        .arg("check-config")
        .current_dir(repo_root())
        .env("ARGO_BRIDGE_ARGO_PROD_URL", "http://127.0.0.1:9/argoapi")
        .env("ARGO_BRIDGE_ARGO_DEV_URL", "http://127.0.0.1:9/argoapi")
        .env("ARGO_BRIDGE_ARGO_TEST_URL", "http://127.0.0.1:9/argoapi")
        .env("ARGO_BRIDGE_TLS_CERT", "/nonexistent/cert.pem")
        .env("ARGO_BRIDGE_TLS_KEY", "/nonexistent/key.pem")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("tls.cert_file"), "{message}");
}
