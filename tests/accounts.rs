//! Accounts: keys issued with `argo-bridge keys`, kept in a store (SQLite here), authenticate
//! on a running gateway without a restart, and stop within the refresh bound once revoked.
// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// How often the gateways under test read the keys again.
const REFRESH_MS: u64 = 300;
/// The bound the README states for a revocation to reach every instance: the refresh interval,
/// plus slack for a busy test machine.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

const ADMIN_TOKEN: &str = "admin-secret-1";

/// `/admin/keys...` on a gateway's admin port with the admin token.
fn admin(gateway: &AccountsGateway, method: &str, path: &str, body: &Value) -> Response {
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    let body = match body {
        Value::Null => Vec::new(),
        body => body.to_string().into_bytes(),
    };
    request(
        gateway.admin,
        method,
        path,
        &[("Authorization", &authorization)],
        &body,
    )
}

/// Where a gateway or command finds its store.
#[derive(Clone, Copy)]
enum StoreAt<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

impl StoreAt<'_> {
    fn apply(self, command: &mut Command) {
        match self {
            StoreAt::Sqlite(path) => command.env("ARGO_BRIDGE_ACCOUNTS_PATH", path),
            StoreAt::Postgres(url) => command.env("ARGO_BRIDGE_DATABASE_URL", url),
        };
    }
}

/// `argo-bridge keys ...` against the store at `db`: its output, asserted successful.
fn keys<'a>(db: impl Into<StoreAt<'a>>, args: &[&str]) -> Output {
    let output = keys_command(db, args);
    assert!(output.status.success(), "keys {args:?}: {output:?}");
    output
}

fn keys_command<'a>(db: impl Into<StoreAt<'a>>, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .current_dir(repo_root())
        .arg("keys")
        .args(args)
        .env("RUST_LOG", "error");
    db.into().apply(&mut command);
    command.output().unwrap()
}

impl<'a> From<&'a std::path::PathBuf> for StoreAt<'a> {
    fn from(path: &'a std::path::PathBuf) -> Self {
        StoreAt::Sqlite(path)
    }
}

impl<'a> From<&'a String> for StoreAt<'a> {
    fn from(url: &'a String) -> Self {
        StoreAt::Postgres(url)
    }
}

/// A new key for `user`: (key, id).
fn create_key<'a>(db: impl Into<StoreAt<'a>>, user: &str) -> (String, String) {
    let output = keys(db, &["create", "--user", user, "--format", "json"]);
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["key_info"]["id"].as_str().unwrap().to_string();
    (key, id)
}

struct AccountsGateway {
    port: u16,
    admin: u16,
    log: std::path::PathBuf,
    _gateway: Process,
    _mock: Process,
}

fn start<'a>(dir: &TempDir, db: impl Into<StoreAt<'a>>) -> AccountsGateway {
    start_named(dir, db, "gateway")
}

fn start_named<'a>(dir: &TempDir, db: impl Into<StoreAt<'a>>, name: &str) -> AccountsGateway {
    let (mock, mock_port) = start_mock(&[]);
    let log = dir.path(&format!("{name}.log"));
    let mut command = gateway_command(
        &argo_base(mock_port),
        &[
            (
                "ARGO_BRIDGE_ACCOUNTS_REFRESH_INTERVAL_MS",
                &REFRESH_MS.to_string(),
            ),
            ("RUST_LOG", "info"),
        ],
    );
    command.env("ARGO_BRIDGE_ADMIN_LISTEN", "127.0.0.1:0");
    command.env("ARGO_BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN);
    db.into().apply(&mut command);
    log_to(&mut command, &log);
    let (gateway, ports) = spawn_gateway(&mut command);
    AccountsGateway {
        port: ports.listen(),
        admin: ports.admin(),
        log,
        _gateway: gateway,
        _mock: mock,
    }
}

/// A chat as the holder of `key` whose answer is the Argo request the mock received.
fn chat_as(port: u16, key: &str) -> Response {
    let body = json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi #mock {\"echo_request\":true}"}],
    });
    post_chat(port, key, &body)
}

fn post_chat(port: u16, key: &str, body: &Value) -> Response {
    request(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {key}"))],
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_key_issued_on_the_command_line_works_at_once_and_stops_within_the_bound_once_revoked() {
    let dir = TempDir::new("accounts-sqlite");
    let db = dir.path("accounts.db");
    // The store is created with its schema by the first command.
    let (early_key, _) = create_key(&db, "carol");
    let gateway = start(&dir, &db);
    let (key, id) = create_key(&db, "alice");
    let started = Instant::now();
    let echoed = wait_until(REVOCATION_BOUND, "the new key to work", || {
        let answer = chat_as(gateway.port, &key);
        (answer.status == 200).then(|| echoed_argo_request(&answer))
    });
    assert_eq!(echoed["user"], "alice", "Argo sees the key's user");
    assert!(started.elapsed() < REVOCATION_BOUND);
    assert_eq!(
        echoed_argo_request(&chat_as(gateway.port, &early_key))["user"],
        "carol"
    );
    // The configured tokens authenticate beside the keys.
    assert_eq!(chat_as(gateway.port, TOKEN).status, 200);

    let listed: Value =
        serde_json::from_slice(&keys(&db, &["list", "--user", "alice", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert!(
        !listed.to_string().contains(&key),
        "a listing never shows a key"
    );

    keys(&db, &["revoke", &id]);
    let revoked = Instant::now();
    let refused = wait_until(REVOCATION_BOUND, "the revoked key to be refused", || {
        let answer = chat_as(gateway.port, &key);
        (answer.status == 401).then_some(answer)
    });
    let took = revoked.elapsed();
    assert!(took < REVOCATION_BOUND, "refused after {took:?}");
    let error = refused.expect_error(401);
    assert!(
        error["message"].as_str().unwrap().contains("revoked"),
        "{error}"
    );
    assert_eq!(
        chat_as(gateway.port, &early_key).status,
        200,
        "other keys keep working"
    );

    // A revoked key is refused in every client format's own envelope.
    let anthropic = request(
        gateway.port,
        "POST",
        "/v1/messages",
        &[("x-api-key", &key)],
        json!({"model": "claude-sonnet-4", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(anthropic.status, 401);
    assert_eq!(anthropic.json()["type"], "error", "Anthropic's envelope");
    assert_eq!(anthropic.json()["error"]["type"], "authentication_error");
    let google = request(
        gateway.port,
        "POST",
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[("x-goog-api-key", &key)],
        json!({"contents": [{"parts": [{"text": "hi"}]}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(google.status, 401);
    assert_eq!(
        google.json()["error"]["status"],
        "UNAUTHENTICATED",
        "Google's envelope"
    );

    // No key ever reaches the log.
    let log = std::fs::read_to_string(&gateway.log).unwrap();
    for secret in [&key, &early_key] {
        assert!(!log.contains(secret.as_str()), "a key in the log");
    }
    assert!(log.contains("accounts store reached"), "{log}");
}

#[test]
fn malformed_and_unknown_keys_are_refused_and_never_echoed() {
    let dir = TempDir::new("accounts-bad-keys");
    let db = dir.path("accounts.db");
    let (good, _) = create_key(&db, "alice");
    let gateway = start(&dir, &db);
    wait_until(REVOCATION_BOUND, "the key to work", || {
        (chat_as(gateway.port, &good).status == 200).then_some(())
    });
    let unknown = format!("abk-{}", "A".repeat(32));
    let truncated = &good[..good.len() - 1];
    let longer = format!("{good}x");
    let quoted = format!("{}'\"", &good[..good.len() - 2]);
    for bad in [
        unknown.as_str(),
        truncated,
        &longer,
        &quoted,
        "abk-",
        "abk-%00%0a",
    ] {
        let answer = chat_as(gateway.port, bad);
        let error = answer.expect_error(401);
        assert!(!error.to_string().contains(bad), "{bad:?} echoed: {error}");
    }
    let log = std::fs::read_to_string(&gateway.log).unwrap();
    assert!(!log.contains(&good[4..]), "a key in the log");
}

#[test]
fn keys_create_refuses_bad_users_and_names_and_stores_them_as_data() {
    let dir = TempDir::new("accounts-bad-input");
    let db = dir.path("accounts.db");
    let long_user = "u".repeat(65);
    let long_name = "n".repeat(65);
    for args in [
        &["create", "--user", ""][..],
        &["create", "--user", &long_user],
        &["create", "--user", "alice'; DROP TABLE keys; --"],
        &["create", "--user", "alice", "--name", &long_name],
        &["create", "--user", "alice", "--expires", "soon"],
        &["revoke", "key_doesnotexist"],
    ] {
        let output = keys_command(&db, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
    // SQL in a key's name is only text.
    let name = "laptop'); DELETE FROM keys; --";
    keys(&db, &["create", "--user", "alice", "--name", name]);
    keys(&db, &["create", "--user", "bob"]);
    let listed: Value =
        serde_json::from_slice(&keys(&db, &["list", "--format", "json"]).stdout).unwrap();
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&name), "{listed}");
}

#[test]
fn a_store_that_cannot_be_reached_leaves_the_configured_tokens_serving() {
    let dir = TempDir::new("accounts-down");
    // A file under a file cannot be opened: the store is down from the start.
    std::fs::write(dir.path("not-a-folder"), b"").unwrap();
    let db = dir.path("not-a-folder").join("accounts.db");
    let (mock, mock_port) = start_mock(&[]);
    let mut command = gateway_command(&argo_base(mock_port), &[]);
    command.env("ARGO_BRIDGE_ACCOUNTS_PATH", &db);
    command.env("ARGO_BRIDGE_ADMIN_LISTEN", "127.0.0.1:0");
    let (_gateway, ports) = spawn_gateway(&mut command);
    assert_eq!(chat_as(ports.listen(), TOKEN).status, 200);
    let unknown = format!("abk-{}", "B".repeat(32));
    assert_eq!(chat_as(ports.listen(), &unknown).status, 401);
    let ready = request(ports.admin(), "GET", "/ready", &[], b"").json();
    assert_eq!(ready["accounts"], "unreachable", "{ready}");
    let metrics = request(ports.admin(), "GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains("argo_bridge_accounts_store_up 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("argo_bridge_accounts_store_errors_total"),
        "{metrics}"
    );
    drop(mock);
}

/// `/ready`'s word on the accounts store.
fn store_state(gateway: &AccountsGateway) -> String {
    let ready = request(gateway.admin, "GET", "/ready", &[], b"").json();
    ready["accounts"].as_str().unwrap_or_default().to_string()
}

#[test]
fn two_gateways_on_one_postgresql_share_keys_and_revocations() {
    let postgres = common::postgres::Postgres::start("accounts-pg");
    let url = postgres.url();
    let dir = TempDir::new("accounts-pg-gateways");
    let (key, id) = create_key(&url, "alice");
    let gateways = [
        start_named(&dir, &url, "one"),
        start_named(&dir, &url, "two"),
    ];
    for gateway in &gateways {
        let echoed = wait_until(REVOCATION_BOUND, "the key to work on each gateway", || {
            let answer = chat_as(gateway.port, &key);
            (answer.status == 200).then(|| echoed_argo_request(&answer))
        });
        assert_eq!(echoed["user"], "alice");
        assert_eq!(store_state(gateway), "reachable");
    }
    // The schema was made once, by the first command: sqlx's record says each migration ran
    // once, though three processes started on the store.
    assert_eq!(
        postgres
            .query("SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations"),
        "1,2"
    );
    assert!(
        !postgres.query("SELECT hash FROM keys").contains(&key),
        "only a hash is stored"
    );

    // The store goes down: the keys in memory keep serving, and each gateway says so.
    postgres.stop();
    for gateway in &gateways {
        wait_until(REVOCATION_BOUND, "the store to be seen down", || {
            (store_state(gateway) == "unreachable").then_some(())
        });
        assert_eq!(
            chat_as(gateway.port, &key).status,
            200,
            "the last keys read serve"
        );
        assert_eq!(chat_as(gateway.port, TOKEN).status, 200);
    }
    postgres.restart();
    for gateway in &gateways {
        wait_until(Duration::from_secs(15), "the store to be seen back", || {
            (store_state(gateway) == "reachable").then_some(())
        });
    }

    keys(&url, &["revoke", &id]);
    let revoked = Instant::now();
    for gateway in &gateways {
        wait_until(
            REVOCATION_BOUND,
            "the revoked key to be refused on each gateway",
            || (chat_as(gateway.port, &key).status == 401).then_some(()),
        );
    }
    assert!(
        revoked.elapsed() < REVOCATION_BOUND,
        "{:?}",
        revoked.elapsed()
    );

    // A key issued on one gateway's admin port works on the other; revoked on the other, it
    // is refused by the first.
    let created = admin(
        &gateways[0],
        "POST",
        "/admin/keys",
        &json!({"user": "dave", "name": "ci"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let admin_key = created["key"].as_str().unwrap().to_string();
    let admin_id = created["key_info"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        chat_as(gateways[0].port, &admin_key).status,
        200,
        "at once where it was made"
    );
    wait_until(
        REVOCATION_BOUND,
        "the key to work on the other gateway",
        || (chat_as(gateways[1].port, &admin_key).status == 200).then_some(()),
    );
    let revoked = admin(
        &gateways[1],
        "DELETE",
        &format!("/admin/keys/{admin_id}"),
        &Value::Null,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(
        chat_as(gateways[1].port, &admin_key).status,
        401,
        "at once where it was revoked"
    );
    wait_until(
        REVOCATION_BOUND,
        "the revocation to reach the first gateway",
        || (chat_as(gateways[0].port, &admin_key).status == 401).then_some(()),
    );

    for gateway in &gateways {
        let log = std::fs::read_to_string(&gateway.log).unwrap();
        assert!(
            !log.contains(&key) && !log.contains(&admin_key),
            "a key in the log"
        );
        assert!(log.contains("the last keys read keep serving"), "{log}");
    }
}

#[test]
fn the_admin_port_issues_lists_and_revokes_keys_with_the_admin_token_only() {
    let dir = TempDir::new("accounts-admin");
    let db = dir.path("accounts.db");
    let gateway = start(&dir, &db);
    let no_token = request(gateway.admin, "GET", "/admin/keys", &[], b"");
    assert_eq!(no_token.status, 401);
    let wrong = request(
        gateway.admin,
        "POST",
        "/admin/keys",
        &[("Authorization", "Bearer admin-secret-2")],
        br#"{"user": "alice"}"#,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        request(
            gateway.port,
            "GET",
            "/admin/keys",
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            b""
        )
        .status,
        404,
        "not on the API port"
    );
    for bad in [
        json!({"user": "a b"}),
        json!({"user": "alice", "expires": "forever"}),
        json!({"user": "alice", "role": "admin"}),
        json!({"name": "no user"}),
    ] {
        let answer = admin(&gateway, "POST", "/admin/keys", &bad);
        assert_eq!(
            answer.expect_error(400)["type"],
            "invalid_request_error",
            "{bad}"
        );
    }
    let created = admin(
        &gateway,
        "POST",
        "/admin/keys",
        &json!({"user": "erin", "expires": "1h"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let key = created["key"].as_str().unwrap();
    let id = created["key_info"]["id"].as_str().unwrap();
    assert_eq!(
        echoed_argo_request(&chat_as(gateway.port, key))["user"],
        "erin"
    );
    let listed = admin(&gateway, "GET", "/admin/keys?user=erin", &Value::Null).json();
    assert_eq!(listed["keys"][0]["id"], id);
    assert!(listed["keys"][0]["expires_at"].as_i64().is_some());
    assert!(
        !listed.to_string().contains(key),
        "a listing never shows a key"
    );
    assert_eq!(
        admin(
            &gateway,
            "DELETE",
            &format!("/admin/keys/{id}"),
            &Value::Null
        )
        .status,
        200
    );
    assert_eq!(chat_as(gateway.port, key).status, 401);
    let again = admin(
        &gateway,
        "DELETE",
        &format!("/admin/keys/{id}"),
        &Value::Null,
    );
    assert!(again.expect_error(404)["message"]
        .as_str()
        .unwrap()
        .contains("No such key"));
    // The command line sees what the admin port did.
    let listed: Value =
        serde_json::from_slice(&keys(&db, &["list", "--format", "json"]).stdout).unwrap();
    assert!(
        listed["keys"][0]["revoked_at"].as_i64().is_some(),
        "{listed}"
    );
    let log = std::fs::read_to_string(&gateway.log).unwrap();
    assert!(!log.contains(key), "a key in the log");
}

/// `argo-bridge usage --by BY --format json` on the store: its lines by group.
fn usage_by<'a>(db: impl Into<StoreAt<'a>>, by: &str) -> std::collections::BTreeMap<String, Value> {
    let output = keys_like(
        db,
        &["usage", "--since", "1d", "--by", by, "--format", "json"],
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| (line["group"].as_str().unwrap().to_string(), line.clone()))
        .collect()
}

/// `argo-bridge ARGS` against the store (not under `keys`), asserted successful.
fn keys_like<'a>(db: impl Into<StoreAt<'a>>, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .current_dir(repo_root())
        .args(args)
        .env("RUST_LOG", "error");
    db.into().apply(&mut command);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

fn stream_as(port: u16, key: &str) -> Response {
    let body = json!({
        "model": "gpt-4o",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "count these words please"}],
    });
    post_chat(port, key, &body)
}

#[test]
fn the_ledger_counts_each_answered_request_and_sigterm_loses_none() {
    let dir = TempDir::new("accounts-ledger");
    let db = dir.path("accounts.db");
    let (key, id) = create_key(&db, "alice");
    let (mock, mock_port) = start_mock(&[]);
    let mut command = gateway_command(
        &argo_base(mock_port),
        // Longer than the test: only the shutdown's last write can put the totals in the store.
        &[("ARGO_BRIDGE_LEDGER_FLUSH_INTERVAL_MS", "600000")],
    );
    command.env("ARGO_BRIDGE_ACCOUNTS_PATH", &db);
    command.env(
        "ARGO_BRIDGE_ACCOUNTS_REFRESH_INTERVAL_MS",
        REFRESH_MS.to_string(),
    );
    let (mut gateway, ports) = spawn_gateway(&mut command);
    let port = ports.listen();
    wait_until(REVOCATION_BOUND, "the key to work", || {
        (chat_as(port, &key).status == 200).then_some(())
    });
    let mut prompt_tokens = 0;
    for _ in 0..4 {
        let streamed = stream_as(port, &key);
        assert_eq!(streamed.status, 200);
        let usage = streamed
            .text()
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find_map(|event| event["usage"]["prompt_tokens"].as_u64());
        prompt_tokens += usage.expect("the stream reports its usage");
    }
    assert_eq!(
        chat_as(port, TOKEN).status,
        200,
        "a configured token's request"
    );
    let refused = chat_as(port, &format!("abk-{}", "C".repeat(32)));
    assert_eq!(refused.status, 401);

    gateway.signal("TERM");
    let status = gateway.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|status| status.success()), "{status:?}");
    drop(mock);

    let by_user = usage_by(&db, "user");
    // The first chats waited for the key; every one that was answered is counted.
    let alice = &by_user["alice"];
    assert!(alice["requests"].as_i64().unwrap() >= 5, "{by_user:?}");
    // The streams' tokens, and the whole answers' on top of them.
    assert!(
        alice["prompt_tokens"].as_i64().unwrap() > prompt_tokens as i64,
        "{by_user:?}"
    );
    assert!(
        alice["completion_tokens"].as_i64().unwrap() > 0,
        "{by_user:?}"
    );
    assert_eq!(by_user.len(), 1, "the 401 is nobody's: {by_user:?}");
    let by_model = usage_by(&db, "model");
    assert_eq!(
        by_model["gpt-4o"]["requests"], alice["requests"],
        "{by_model:?}"
    );
    let listed: Value =
        serde_json::from_slice(&keys(&db, &["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert!(
        listed["keys"][0]["last_used_at"].as_i64().is_some(),
        "{listed}"
    );
    let csv = keys_like(&db, &["usage", "--by", "day", "--format", "csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.starts_with("day,requests,prompt_tokens,completion_tokens,cached_tokens\n"),
        "{csv}"
    );
}

/// The ledger's request count for `user` in the store, read with the command line.
fn requests_of<'a>(db: impl Into<StoreAt<'a>>, user: &str) -> i64 {
    usage_by(db, "user")
        .get(user)
        .and_then(|line| line["requests"].as_i64())
        .unwrap_or(0)
}

#[test]
fn two_gateways_write_one_ledger_through_a_store_outage_and_a_kill_without_double_counting() {
    let postgres = common::postgres::Postgres::start("accounts-pg-ledger");
    let url = postgres.url();
    let dir = TempDir::new("accounts-pg-ledger-gateways");
    let (key, _) = create_key(&url, "frank");
    let (mock, mock_port) = start_mock(&[]);
    let start = |name: &str| {
        let mut command = gateway_command(
            &argo_base(mock_port),
            &[
                ("ARGO_BRIDGE_LEDGER_FLUSH_INTERVAL_MS", "200"),
                ("ARGO_BRIDGE_ACCOUNTS_REFRESH_INTERVAL_MS", "200"),
                ("RUST_LOG", "info"),
            ],
        );
        command.env("ARGO_BRIDGE_DATABASE_URL", &url);
        log_to(&mut command, &dir.path(&format!("{name}.log")));
        spawn_gateway(&mut command)
    };
    let (mut one, one_ports) = start("one");
    let (mut two, two_ports) = start("two");
    let ports = [one_ports.listen(), two_ports.listen()];
    for port in ports {
        wait_until(REVOCATION_BOUND, "the key to work", || {
            (chat_as(port, &key).status == 200).then_some(())
        });
    }
    // One answered request each so far; three more each.
    for port in ports {
        for _ in 0..3 {
            assert_eq!(chat_as(port, &key).status, 200);
        }
    }
    wait_until(
        Duration::from_secs(15),
        "both gateways' totals written",
        || (requests_of(&url, "frank") == 8).then_some(()),
    );

    // With the store down the requests are still served and counted in memory...
    postgres.stop();
    for port in ports {
        for _ in 0..2 {
            assert_eq!(chat_as(port, &key).status, 200);
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    postgres.restart();
    // ...and written once it is back.
    wait_until(
        Duration::from_secs(20),
        "the totals held in memory written",
        || (requests_of(&url, "frank") == 12).then_some(()),
    );

    // Killed outright after its last write, neither gateway loses or repeats a request.
    std::thread::sleep(Duration::from_millis(600));
    one.signal("KILL");
    two.signal("KILL");
    one.wait_exit(Duration::from_secs(10));
    two.wait_exit(Duration::from_secs(10));
    drop(mock);
    assert_eq!(requests_of(&url, "frank"), 12);
    let batches: i64 = postgres
        .query("SELECT count(*) FROM ledger_batches")
        .parse()
        .unwrap();
    assert!(batches >= 3, "{batches} batches");
    for name in ["one", "two"] {
        let log = std::fs::read_to_string(dir.path(&format!("{name}.log"))).unwrap();
        assert!(log.contains("usage totals are kept"), "{name}: {log}");
        assert!(log.contains("usage ledger written again"), "{name}: {log}");
        assert!(!log.contains(&key), "a key in the log");
    }
}
