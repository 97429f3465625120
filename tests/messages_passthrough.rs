//! Issue 24, failures 4, 7 and 8: an Anthropic client talking to Claude through the gateway
//! gets Argo's `/v1/messages` with the least rewriting (`cache_control`, PDF documents,
//! `redacted_thinking`, `stop_sequence` and cache usage pass; one answer is Argo's stream
//! collected), its count from Argo's `/v1/messages/count_tokens` (the estimate only when Argo
//! fails), budgeted thinking where the model takes it, and history's thinking blocks repaired
//! as Argo requires (argo-api.md §C). Over sockets, against the mock, on the native upstream.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};

const NATIVE: (&str, &str) = ("ARGO_BRIDGE_UPSTREAM_API", "native");

fn native_stack() -> Stack {
    Stack::start_with(&[], &[NATIVE])
}

/// A POST as alice with Anthropic's headers, as Claude Code sends it.
fn anthropic_post(port: u16, path: &str, body: &Value) -> Response {
    request(
        port,
        "POST",
        path,
        &[("x-api-key", TOKEN), ("anthropic-version", "2023-06-01")],
        body.to_string().as_bytes(),
    )
}

fn messages(stack: &Stack, body: &Value) -> Value {
    let response = anthropic_post(stack.gateway_port, "/v1/messages?beta=true", body);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// The request Argo received, from the answer to a message whose directive is
/// `#mock {"echo_request": true}`.
fn echoed(answer: &Value) -> Value {
    let text: String = answer["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter(|block| block["type"] == "text")
        .filter_map(|block| block["text"].as_str())
        .collect();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn echo(text: &str) -> String {
    format!("{text} #mock {{\"echo_request\": true}}")
}

fn mock_stats(stack: &Stack) -> Value {
    request(stack.mock_port, "GET", "/__mock/stats", &[], b"").json()
}

/// Claude Code marks its long system prompt, tools and history for prompt caching on every
/// turn; the hub dropped every `cache_control`, so it never got a cache hit. Its requests
/// (`POST /v1/messages?beta=true`) now reach Argo with each one where it was, and nothing the
/// client sends changes who the user is.
#[test]
fn cache_control_reaches_argo_where_claude_code_put_it() {
    let stack = native_stack();
    let ephemeral = json!({"type": "ephemeral"});
    let answer = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 16000,
            "user": "mallory", "metadata": {"user_id": "mallory"},
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": ephemeral}],
            "tools": [{"name": "Read", "input_schema": {"type": "object"}, "cache_control": ephemeral}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": echo("Read the file."), "cache_control": ephemeral}]}]}),
    );
    let argo = echoed(&answer);
    assert_eq!(argo["path"], "/argoapi/v1/messages");
    let body = &argo["body"];
    assert_eq!(body["system"][0]["cache_control"], ephemeral, "{body}");
    assert_eq!(body["tools"][0]["cache_control"], ephemeral, "{body}");
    assert_eq!(
        body["messages"][0]["content"][0]["cache_control"], ephemeral,
        "{body}"
    );
    assert_eq!(
        (
            &body["model"],
            &body["user"],
            &body["metadata"],
            &body["stream"]
        ),
        (
            &json!("claudesonnet45"),
            &json!(USER),
            &json!({"user_id": USER}),
            &json!(true)
        )
    );
    assert_eq!(answer["model"], "claude-sonnet-4.5");
}

/// The hub refused PDF documents (it cannot carry them); Argo takes Anthropic's documents.
#[test]
fn a_pdf_document_reaches_argo() {
    let stack = native_stack();
    let pdf = json!({"type": "document", "title": "paper",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQKJcfsj6IK"},
        "citations": {"enabled": true}});
    let answer = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 16000, "messages": [
            {"role": "user", "content": [pdf.clone(), {"type": "text", "text": echo("Summarize.")}]}]}),
    );
    assert_eq!(echoed(&answer)["body"]["messages"][0]["content"][0], pdf);
}

/// `redacted_thinking` comes back to the client, in one answer and in a stream, and goes to
/// Argo again in the history (the hub dropped it both ways).
#[test]
fn redacted_thinking_round_trips() {
    let stack = native_stack();
    let asked = |stream: bool| {
        json!({"model": "claude-sonnet-4.5", "max_tokens": 1000, "stream": stream, "messages": [
            {"role": "user", "content": "Think. #mock {\"redacted_thinking\": \"EncRypted==\", \"reply\": \"Done.\"}"}]})
    };
    let answer = messages(&stack, &asked(false));
    let redacted = json!({"type": "redacted_thinking", "data": "EncRypted=="});
    assert_eq!(answer["content"][0], redacted, "{answer}");
    let streamed = anthropic_post(stack.gateway_port, "/v1/messages", &asked(true));
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    let started: Vec<Value> = sse_events(&streamed.text())
        .into_iter()
        .filter(|(name, _)| name == "content_block_start")
        .map(|(_, data)| data["content_block"].clone())
        .collect();
    assert_eq!(started[0], redacted, "{started:?}");
    let again = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 16000, "messages": [
            {"role": "user", "content": "Think."},
            {"role": "assistant", "content": [redacted.clone(), {"type": "text", "text": "Done."}]},
            {"role": "user", "content": echo("And now?")}]}),
    );
    assert_eq!(
        echoed(&again)["body"]["messages"][1]["content"][0],
        redacted
    );
}

/// Which stop sequence ended the answer: the hub always said none.
#[test]
fn the_stop_sequence_that_matched_is_in_the_answer() {
    let stack = native_stack();
    let asked = |stream: bool| {
        json!({"model": "claude-sonnet-4.5", "max_tokens": 1000, "stream": stream,
            "stop_sequences": ["never", "mock"], "messages": [{"role": "user", "content": "Hello"}]})
    };
    let answer = messages(&stack, &asked(false));
    assert_eq!(
        (&answer["stop_reason"], &answer["stop_sequence"]),
        (&json!("stop_sequence"), &json!("mock")),
        "{answer}"
    );
    let streamed = anthropic_post(stack.gateway_port, "/v1/messages", &asked(true)).text();
    let delta = sse_events(&streamed)
        .into_iter()
        .find(|(name, _)| name == "message_delta")
        .expect("a message_delta");
    assert_eq!(delta.1["delta"]["stop_sequence"], "mock", "{streamed}");
}

/// Argo refuses unstreamed Claude, so the gateway streams and collects Argo's stream into the
/// one Message the client asked for: with every usage field Argo sent (the hub rewrote usage
/// in its own four fields), under the gateway's id and the client's model.
#[test]
fn one_answer_is_argos_stream_collected_with_its_cache_usage() {
    let stack = native_stack();
    let answer = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 1000, "messages": [
            {"role": "user", "content": "Hello #mock {\"cache_read_tokens\": 30000, \"reply\": \"Hi there.\"}"}]}),
    );
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["model"], "claude-sonnet-4.5");
    assert!(answer["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("msg")));
    assert!(!answer["id"].as_str().unwrap().contains("mock"), "{answer}");
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "Hi there."}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    let usage = &answer["usage"];
    assert_eq!(usage["cache_read_input_tokens"], 30000, "{usage}");
    assert!(
        usage["cache_creation"].is_object(),
        "Argo's own usage fields pass: {usage}"
    );
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    let stats = mock_stats(&stack);
    assert_eq!(
        stats["streams_started"], 1,
        "Argo was asked for a stream: {stats}"
    );
    // argo-api.md §C: usage with nulls, without input_tokens.
    let odd = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 1000, "messages": [{"role": "user",
            "content": "Hello #mock {\"usage_nulls\": true, \"omit_input_tokens\": true, \"reply\": \"Hi.\"}"}]}),
    );
    assert_eq!(odd["content"][0]["text"], "Hi.");
    assert!(odd["usage"]["cache_read_input_tokens"].is_null(), "{odd}");
    assert!(odd["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

/// A stream keeps Argo's events, under the gateway's id and the client's model; an error
/// inside Argo's 200 stream reaches the client as Anthropic's `error` event; Argo's notice to
/// an unregistered user is the 403 of every other path.
#[test]
fn the_stream_is_argos_with_errors_and_the_notice_as_errors() {
    let (_mock, mock_port) = start_mock(&[]);
    let tokens = format!("{TOKEN}={USER},test-token-nobody=unregistered-nobody");
    let (_gateway, port) = start_gateway(
        &argo_base(mock_port),
        &[NATIVE, ("ARGO_BRIDGE_TOKENS", tokens.as_str())],
    );
    let asked = |text: &str| {
        json!({"model": "claude-sonnet-4.5", "max_tokens": 1000, "stream": true,
            "messages": [{"role": "user", "content": text}]})
    };
    let streamed = anthropic_post(port, "/v1/messages", &asked("Hello"));
    assert_eq!(streamed.status, 200);
    let relayed = sse_events(&streamed.text());
    let start = &relayed[0];
    assert_eq!(start.0, "message_start");
    assert_eq!(start.1["message"]["model"], "claude-sonnet-4.5");
    assert!(!start.1["message"]["id"].as_str().unwrap().contains("mock"));
    assert!(
        start.1["message"]["usage"]["cache_creation"].is_object(),
        "Argo's events as it sent them: {start:?}"
    );
    assert!(
        relayed.iter().any(|(name, _)| name == "ping"),
        "Argo's pings pass"
    );
    assert_eq!(relayed.last().unwrap().0, "message_stop");
    let failing = anthropic_post(
        port,
        "/v1/messages",
        &asked("Hello #mock {\"stream_error\": \"Overloaded\"}"),
    );
    let last = sse_events(&failing.text()).pop().unwrap();
    assert_eq!(last.0, "error");
    assert_eq!(last.1["error"]["type"], "overloaded_error");
    let notice = request(
        port,
        "POST",
        "/v1/messages",
        &[("x-api-key", "test-token-nobody")],
        asked("Hello").to_string().as_bytes(),
    );
    assert_eq!(notice.status, 403, "{}", notice.text());
    assert_eq!(notice.json()["error"]["type"], "permission_error");
    assert!(!notice.text().contains("NOTICE"));
}

/// count_tokens for Claude was always the gateway's estimate; Argo serves it.
#[test]
fn count_tokens_is_argos_count() {
    let stack = native_stack();
    let body = json!({"model": "claude-sonnet-4.5", "system": "Be terse.",
        "messages": [{"role": "user", "content": "How many tokens is this prompt, please?"}]});
    let counted = anthropic_post(stack.gateway_port, "/v1/messages/count_tokens", &body);
    assert_eq!(counted.status, 200, "{}", counted.text());
    let stats = mock_stats(&stack);
    assert_eq!(stats["endpoints"]["count_tokens"], 1, "{stats}");
    // The mock counts a token per word-ish piece; the gateway's estimate counts bytes.
    let at_argo = anthropic_post(
        stack.mock_port,
        "/argoapi/v1/messages/count_tokens",
        &json!({"model": "claudesonnet45", "system": "Be terse.",
            "messages": [{"role": "user", "content": "How many tokens is this prompt, please?"}]}),
    );
    assert_eq!(counted.json(), at_argo.json());
}

/// Argo's count is replaced by the estimate only when Argo fails: it does not serve the model
/// (404), or cannot be reached; a request Argo refuses stays refused.
#[test]
fn count_tokens_falls_back_to_the_estimate_only_when_argo_fails() {
    let stack = native_stack();
    let body = json!({"model": "claude-sonnet-4.5",
        "messages": [{"role": "user", "content": "How many tokens is this prompt, please?"}]});
    let remove = json!({"remove": ["claudesonnet45"]}).to_string();
    let removed = request(
        stack.mock_port,
        "POST",
        "/__mock/models",
        &[],
        remove.as_bytes(),
    );
    assert_eq!(removed.status, 200);
    let counted = anthropic_post(stack.gateway_port, "/v1/messages/count_tokens", &body);
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert!(counted.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        mock_stats(&stack)["endpoints"]["count_tokens"],
        1,
        "Argo was asked, and answered 404"
    );
    let refused = anthropic_post(
        stack.gateway_port,
        "/v1/messages/count_tokens",
        &json!({"model": "claude-opus-4.5", "messages": []}),
    );
    assert_eq!(refused.status, 400, "Argo's 400 stays: {}", refused.text());
    assert_eq!(mock_stats(&stack)["endpoints"]["count_tokens"], 2);
    let closed = ClosedPort::new();
    let (_gateway, port) = start_gateway(
        &argo_base(closed.port()),
        &[NATIVE, ("ARGO_BRIDGE_RETRIES", "0")],
    );
    let counted = anthropic_post(port, "/v1/messages/count_tokens", &body);
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert!(counted.json()["input_tokens"].as_u64().unwrap() > 0);
}

/// Budgeted thinking (`enabled` with `budget_tokens`) reaches Argo for Sonnet 4.5, which takes
/// it (argo-api.md §C), from an Anthropic client as written and from an OpenAI client's
/// `reasoning_effort` as a budget below `max_tokens`; the hub sent none.
#[test]
fn budgeted_thinking_reaches_argo_on_sonnet_45() {
    let stack = native_stack();
    let thinking = json!({"type": "enabled", "budget_tokens": 2048});
    let answer = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 16000, "thinking": thinking,
            "messages": [{"role": "user", "content": echo("Think hard.")}]}),
    );
    assert_eq!(echoed(&answer)["body"]["thinking"], thinking);
    assert_eq!(answer["content"][0]["type"], "thinking", "{answer}");
    let chat = stack.post(
        "/v1/chat/completions",
        &json!({"model": "claude-sonnet-4.5", "reasoning_effort": "low", "max_tokens": 8000,
            "messages": [{"role": "user", "content": echo("Think a little.")}]})
        .to_string(),
    );
    let argo = echoed_argo_request(&chat);
    assert_eq!(
        argo["body"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 4000}),
        "{argo}"
    );
    // Opus 4.7 takes adaptive thinking only: a client's budget becomes adaptive.
    let answer = messages(
        &stack,
        &json!({"model": "claude-opus-4.7", "max_tokens": 16000, "thinking": thinking,
            "messages": [{"role": "user", "content": echo("Think hard.")}]}),
    );
    assert_eq!(
        echoed(&answer)["body"]["thinking"],
        json!({"type": "adaptive"})
    );
}

/// Thinking blocks in history that Argo refuses (empty, or unsigned: Argo does not sign
/// blocks) are dropped, on the pass-through and on the hub's Anthropic spoke (a Responses
/// client's reasoning item with no summary became an empty signed block, and Argo said 400).
#[test]
fn history_thinking_blocks_are_repaired_as_argo_requires() {
    let stack = native_stack();
    let answer = messages(
        &stack,
        &json!({"model": "claude-sonnet-4.5", "max_tokens": 16000, "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "", "signature": "c2ln"},
                {"type": "thinking", "thinking": "unsigned"},
                {"type": "thinking", "thinking": "kept", "signature": "c2ln"},
                {"type": "text", "text": "Hello."}]},
            {"role": "user", "content": echo("Again.")}]}),
    );
    assert_eq!(
        echoed(&answer)["body"]["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "kept", "signature": "c2ln"},
            {"type": "text", "text": "Hello."}])
    );
    let responses = stack.post(
        "/v1/responses",
        &json!({"model": "claude-sonnet-4.5", "input": [
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "summary": [], "encrypted_content": "c2ln"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again."}]})
        .to_string(),
    );
    assert_eq!(responses.status, 200, "{}", responses.text());
}
