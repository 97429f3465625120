//! Attacks on the translation work the gateway does for every request (issue 23, second
//! round): bodies within the size limit whose reading or counting grew quadratically. Each
//! test runs attackers on every client format at once beside a victim making ordinary chat
//! requests, and asserts that the victim's requests keep succeeding within a stated bound.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The longest a victim's chat may take while the attack runs. Unfixed, one attack request
/// held a worker thread for 4 to 12 s of CPU (tools) or 7 s (digits), and the attackers kept
/// both of the gateway's workers busy, so that the victim waited past this or timed out.
const VICTIM_BOUND: Duration = Duration::from_secs(5);

/// How long the victim keeps asking while the attack runs.
const ATTACK_TIME: Duration = Duration::from_secs(8);

/// The largest body the gateway takes by default (`limits.max_body_bytes`, 4 MiB), less room
/// for the head of the JSON.
const BODY_BYTES: usize = 4 * 1024 * 1024 - 4096;

/// A JSON array of as many `entry(n)` as fit in `bytes`.
fn array_filling(bytes: usize, entry: impl Fn(usize) -> Value) -> (Vec<Value>, usize) {
    let mut entries = Vec::new();
    let mut size = 2;
    while size < bytes {
        let next = entry(entries.len());
        size += next.to_string().len() + 1;
        entries.push(next);
    }
    entries.pop();
    let count = entries.len();
    (entries, count)
}

/// One attacker: a thread posting `body(round)` to `path` until stopped; its statuses.
struct Attacker {
    name: &'static str,
    thread: JoinHandle<Vec<u16>>,
}

fn attacker(
    port: u16,
    stop: &Arc<AtomicBool>,
    name: &'static str,
    path: &'static str,
    body: impl Fn(usize) -> Vec<u8> + Send + 'static,
) -> Attacker {
    let stop = Arc::clone(stop);
    let thread = std::thread::spawn(move || {
        let auth = format!("Bearer {TOKEN}");
        let mut statuses = Vec::new();
        for round in 0.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let body = body(round);
            let sent = std::panic::catch_unwind(|| {
                request(port, "POST", path, &[("Authorization", &auth)], &body).status
            });
            // 0: no answer (the connection failed or timed out).
            statuses.push(sent.unwrap_or(0));
        }
        statuses
    });
    Attacker { name, thread }
}

/// Runs `attackers` for [`ATTACK_TIME`] beside a victim sending ordinary chats one after
/// another; asserts every chat succeeded within [`VICTIM_BOUND`] and each attacker got
/// `expected` answers. Prints the gateway's CPU per attack request.
fn victim_keeps_succeeding(
    gateway: &Process,
    port: u16,
    stop: &Arc<AtomicBool>,
    attackers: Vec<(Attacker, &[u16])>,
) {
    let cpu_before = cpu_seconds(gateway.id());
    // Let every attacker's first body reach the gateway.
    std::thread::sleep(Duration::from_millis(500));
    let mut victim = Vec::new();
    let started = Instant::now();
    while started.elapsed() < ATTACK_TIME {
        let sent = Instant::now();
        let outcome = send_one(port);
        victim.push((outcome, sent.elapsed()));
    }
    stop.store(true, Ordering::SeqCst);
    let slowest = victim.iter().map(|(_, took)| *took).max().unwrap();
    println!(
        "victim: {} chats, slowest {:.0} ms",
        victim.len(),
        slowest.as_secs_f64() * 1e3
    );
    for (outcome, took) in &victim {
        assert_eq!(outcome, &Ok(200), "a victim's chat failed: {victim:?}");
        assert!(
            *took <= VICTIM_BOUND,
            "a victim's chat took {took:?}: {victim:?}"
        );
    }
    assert!(victim.len() >= 5, "the victim got few answers: {victim:?}");
    let mut attacks = 0;
    for (attacker, expected) in attackers {
        let statuses = attacker.thread.join().unwrap();
        assert!(!statuses.is_empty(), "{} sent nothing", attacker.name);
        assert!(
            statuses.iter().all(|status| expected.contains(status)),
            "{}: {statuses:?}, expected {expected:?}",
            attacker.name
        );
        attacks += statuses.len();
    }
    let cpu = cpu_seconds(gateway.id()) - cpu_before;
    println!(
        "{attacks} attack requests, {cpu:.1} s of the gateway's CPU ({:.0} ms each)",
        cpu * 1e3 / attacks as f64,
    );
}

/// A body of each client format declaring as many tools as 4 MiB holds (about 95,000).
fn tools_body(format: &str, round: usize) -> Vec<u8> {
    let budget = BODY_BYTES - 512;
    let (tools, count) = match format {
        "chat" => array_filling(
            budget,
            |n| json!({"type": "function", "function": {"name": format!("t{n}")}}),
        ),
        "messages" | "count_tokens" => array_filling(
            budget,
            |n| json!({"name": format!("t{n}"), "input_schema": {}}),
        ),
        "responses" => array_filling(
            budget,
            |n| json!({"type": "function", "name": format!("t{n}")}),
        ),
        _ => array_filling(budget, |n| json!({"name": format!("t{n}")})),
    };
    // The last tool repeats the first one's name, so that every tool is read before the body
    // is refused (and nothing reaches Argo); counting (count_tokens) takes every tool.
    let rename = |mut tools: Vec<Value>, at: &[&str]| {
        if format != "count_tokens" {
            let last = tools.len() - 1;
            let mut slot = &mut tools[last];
            for key in at {
                slot = &mut slot[*key];
            }
            *slot = json!("t0");
        }
        tools
    };
    let text = format!("round {round}");
    let body = match format {
        "chat" => json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}],
            "tools": rename(tools, &["function", "name"])}),
        "messages" | "count_tokens" => json!({"model": "claude-sonnet-4.5", "max_tokens": 100,
            "messages": [{"role": "user", "content": text}], "tools": rename(tools, &["name"])}),
        "responses" => json!({"model": "gpt-4o", "input": text, "tools": rename(tools, &["name"])}),
        _ => json!({"contents": [{"role": "user", "parts": [{"text": text}]}],
            "tools": [{"functionDeclarations": rename(tools, &["name"])}]}),
    };
    let body = body.to_string().into_bytes();
    assert!(
        body.len() <= 4 * 1024 * 1024 && count > 85_000,
        "{format}: {count} tools, {} bytes",
        body.len()
    );
    body
}

/// Attack 1 of issue 23: about 95,000 tools in a 4 MiB body, on every client format at once.
/// Each tool's name was compared with every earlier one: 4 to 12 s of CPU per body.
#[test]
fn thousands_of_tools_on_every_format_leave_other_users_served() {
    let (_mock, mock_port) = start_mock(&[]);
    let (gateway, port) = start_gateway(&argo_base(mock_port), &[]);
    assert_eq!(send_one(port), Ok(200));
    let stop = Arc::new(AtomicBool::new(false));
    let formats: [(&str, &str, &[u16]); 5] = [
        ("chat", "/v1/chat/completions", &[400]),
        ("messages", "/v1/messages", &[400]),
        ("count_tokens", "/v1/messages/count_tokens", &[200]),
        ("responses", "/v1/responses", &[400]),
        (
            "generate",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &[400],
        ),
    ];
    let attackers = formats
        .into_iter()
        .map(|(format, path, expected)| {
            let body = tools_body(format, 0);
            let attacker = attacker(port, &stop, format, path, move |_| body.clone());
            (attacker, expected)
        })
        .collect();
    victim_keeps_succeeding(&gateway, port, &stop, attackers);
}

/// Messages of digits filling 4 MiB, each 32 KiB (the longest text counted whole) and each
/// unlike any other, so that no remembered count spares the work.
fn digit_messages(round: usize) -> Vec<Value> {
    let text = "7".repeat(32 * 1024 - 16);
    (0..(BODY_BYTES - 1024) / (32 * 1024 + 32))
        .map(|n| json!({"role": "user", "content": format!("{round:06}{n:06}{text}")}))
        .collect()
}

/// Attack 2 of issue 23: megabytes of digits to a GPT model, where the gateway counts the
/// prompt's tokens: a chat on Argo's resource API (which reports no usage), and the count-tokens
/// endpoints. A run of digits was rescanned for each three-digit piece: 7.5 s of CPU a body.
#[test]
fn megabytes_of_digits_to_count_leave_other_users_served() {
    let (_mock, mock_port) = start_mock(&[]);
    let (gateway, port) = start_gateway(
        &argo_base(mock_port),
        &[("ARGO_BRIDGE_UPSTREAM_API", "resource")],
    );
    assert_eq!(send_one(port), Ok(200));
    let stop = Arc::new(AtomicBool::new(false));
    let chat = |round: usize| {
        json!({"model": "gpt-4o", "messages": digit_messages(round)})
            .to_string()
            .into_bytes()
    };
    let count_tokens = |round: usize| {
        json!({"model": "gpt-4o", "messages": digit_messages(1_000 + round)})
            .to_string()
            .into_bytes()
    };
    let google = |round: usize| {
        let contents: Vec<Value> = digit_messages(2_000 + round)
            .into_iter()
            .map(|message| json!({"role": "user", "parts": [{"text": message["content"]}]}))
            .collect();
        json!({ "contents": contents }).to_string().into_bytes()
    };
    let attackers = vec![
        (
            attacker(port, &stop, "chat", "/v1/chat/completions", chat),
            &[200][..],
        ),
        (
            attacker(
                port,
                &stop,
                "chat, again",
                "/v1/chat/completions",
                move |round| chat(10_000 + round),
            ),
            &[200][..],
        ),
        (
            attacker(
                port,
                &stop,
                "count_tokens",
                "/v1/messages/count_tokens",
                count_tokens,
            ),
            &[200][..],
        ),
        (
            attacker(
                port,
                &stop,
                "countTokens",
                "/v1beta/models/gpt-4o:countTokens",
                google,
            ),
            &[200][..],
        ),
    ];
    victim_keeps_succeeding(&gateway, port, &stop, attackers);
}
