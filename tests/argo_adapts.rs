//! How the gateway keeps up with Argo as it is in late 2026 (argo-api.md §C), black-box over
//! sockets against the mock Argo on its native endpoints: `developer` messages sent as `system`,
//! the client program named in `User-Agent`, parameters Argo refuses learned from its 400s,
//! Gemini's tool calls sent one at a time.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

mod common;

use common::*;
use serde_json::{json, Value};

fn native_stack() -> Stack {
    Stack::start_with(
        &["--fragment-delay-ms", "0"],
        &[("ARGO_BRIDGE_UPSTREAM_API", "native")],
    )
}

fn mock_stats(mock_port: u16) -> Value {
    request(mock_port, "GET", "/argoapi/__mock/stats", &[], b"").json()
}

/// Requests the mock's `/v1/chat/completions` and `/v1/messages` have seen.
fn chat_calls(mock_port: u16) -> u64 {
    let endpoints = &mock_stats(mock_port)["endpoints"];
    endpoints["chat_completions"].as_u64().unwrap() + endpoints["messages"].as_u64().unwrap()
}

const ECHO: &str = "hi #mock {\"echo_request\":true}";

/// argo-api.md §C: Argo answers a `developer` message with a misleading 400 about
/// `messages[0].tool_calls`; Codex CLI sends its base prompt that way.
#[test]
fn a_developer_message_reaches_argo_as_system() {
    let stack = native_stack();
    // The OpenAI chat client on a GPT model: the pass-through.
    let chat = json!({"model": "gpt-4o", "messages": [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "name": "bob", "content": ECHO}]});
    let argo = echoed_argo_request(&stack.post("/v1/chat/completions", &chat.to_string()));
    assert_eq!(argo["path"], "/argoapi/v1/chat/completions");
    assert_eq!(
        argo["body"]["messages"],
        json!([{"role": "system", "content": "Answer in French."},
            {"role": "user", "content": ECHO}])
    );
    // Streamed too.
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let answer = stack.post("/v1/chat/completions", &streamed.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("data: [DONE]"), "{}", answer.text());
    // The Responses client on a Gemini model: the hub's native chat spoke.
    let responses = json!({"model": "gemini-2.5-flash", "input": [
        {"type": "message", "role": "developer", "content": "Answer in French."},
        {"type": "message", "role": "user", "content": ECHO}]});
    let answer = stack.post("/v1/responses", &responses.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.json()["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let argo: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(argo["body"]["model"], "gemini25flash");
    assert_eq!(argo["body"]["messages"][0]["role"], "system");
}

/// argo-api.md §C (argo-proxy issue 144): Argo's maintainer asks intermediaries to name
/// themselves and the originating client in `User-Agent`.
#[test]
fn the_user_agent_names_the_gateway_and_the_client_program() {
    let stack = native_stack();
    let own = concat!("argo-bridge/", env!("CARGO_PKG_VERSION"));
    let chat =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let as_client = |agent: Option<&str>| {
        let auth = format!("Bearer {TOKEN}");
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(agent.map(|agent| ("User-Agent", agent)));
        let answer = request(
            stack.gateway_port,
            "POST",
            "/v1/chat/completions",
            &headers,
            chat.as_bytes(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        mock_stats(stack.mock_port)["last_user_agent"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        as_client(Some("codex_cli_rs/0.50.0 (Mac OS 15.1; arm64) iTerm.app")),
        format!("{own} (codex_cli_rs/0.50.0 Mac OS 15.1; arm64 iTerm.app)")
    );
    assert_eq!(
        as_client(None),
        own,
        "no client part when the client sent none"
    );
    assert_eq!(as_client(Some("((()))")), own);
    let long = "x".repeat(5_000);
    assert_eq!(as_client(Some(&long)), format!("{own} ({})", &long[..256]));
    // The hub's calls name the client too: Anthropic's client on Claude.
    let messages = json!({"model": "claude-sonnet-4.5", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}]});
    let answer = request(
        stack.gateway_port,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", TOKEN),
            ("User-Agent", "claude-cli/2.1.0 (external, cli)"),
        ],
        messages.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        mock_stats(stack.mock_port)["last_user_agent"],
        format!("{own} (claude-cli/2.1.0 external, cli)")
    );
}

/// A gateway whose model list is read again on demand (admin port), and the mock's hook to
/// change Argo's list.
struct LiveStack {
    mock_port: u16,
    port: u16,
    admin: u16,
    _mock: Process,
    _gateway: Process,
}

impl LiveStack {
    fn start() -> LiveStack {
        let (mock, mock_port) = start_mock(&["--fragment-delay-ms", "0"]);
        let (gateway, port, admin) = start_gateway_with_admin(
            &argo_base(mock_port),
            &[
                ("ARGO_BRIDGE_UPSTREAM_API", "native"),
                ("ARGO_BRIDGE_ADMIN_TOKEN", "admin-token-adapts"),
            ],
        );
        LiveStack {
            mock_port,
            port,
            admin,
            _mock: mock,
            _gateway: gateway,
        }
    }

    /// Argo's list gains `models` (`{"id", "internal_id", "refuses"}`); the gateway reads it.
    fn add_models(&self, models: Value) {
        change_mock_models(self.mock_port, &json!({ "add": models }));
        let refreshed = refresh_models(self.admin, "admin-token-adapts");
        assert_eq!(refreshed["failed"], json!([]), "{refreshed}");
    }

    fn chat(&self, body: Value) -> Response {
        post_as_alice(self.port, "/v1/chat/completions", &body.to_string())
    }
}

/// A model only the live list has, whose rule neither the table nor `model_rules` has (Claude
/// Haiku 9 gets the `claude*` rule, which lets `temperature` alone through): the client's first
/// request answers 200, Argo saw it twice (the second time without the refused parameter), and every
/// later request is one call.
#[test]
fn a_parameter_argo_refuses_for_a_new_model_is_left_out_and_learned() {
    let live = LiveStack::start();
    live.add_models(json!([
        {"id": "GPT 7", "internal_id": "gpt7", "refuses": ["top_p"]},
        {"id": "Claude Haiku 9", "internal_id": "claudehaiku9", "refuses": ["temperature"]},
    ]));
    let before = chat_calls(live.mock_port);
    let asked = json!({"model": "gpt-7", "messages": [{"role": "user", "content": ECHO}],
        "top_p": 0.5, "temperature": 0.25, "seed": 3});
    let argo = echoed_argo_request(&live.chat(asked.clone()));
    assert_eq!(
        chat_calls(live.mock_port),
        before + 2,
        "refused, then called again"
    );
    let body = argo["body"].as_object().unwrap();
    assert!(!body.contains_key("top_p"), "{body:?}");
    assert_eq!(
        (&body["temperature"], &body["seed"]),
        (&json!(0.25), &json!(3))
    );
    let argo = echoed_argo_request(&live.chat(asked));
    assert_eq!(
        chat_calls(live.mock_port),
        before + 3,
        "learned: one call per request"
    );
    assert!(argo["body"].get("top_p").is_none());
    // A stream of Claude through the hub: Anthropic's envelope, refused at the head.
    let claude = json!({"model": "claude-haiku-9", "stream": true, "temperature": 0.5,
        "messages": [{"role": "user", "content": "hi"}]});
    let answer = live.chat(claude.clone());
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("data: [DONE]"), "{}", answer.text());
    assert_eq!(chat_calls(live.mock_port), before + 5);
    assert_eq!(live.chat(claude).status, 200);
    assert_eq!(chat_calls(live.mock_port), before + 6);
    let metrics = metrics_containing(live.admin, "argo_bridge_learned_rules_total");
    for line in [
        r#"argo_bridge_learned_rules_total{model="gpt7"} 1"#,
        r#"argo_bridge_learned_rules_total{model="claudehaiku9"} 1"#,
        r#"argo_bridge_refusal_retries_total{model="gpt7"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// The attack a victim would suffer from: a refusal that answers every retry with another
/// refusal must not make the gateway call Argo again and again, and nothing a client needs is
/// ever left out. Each request makes at most two calls; the victim, on a model with no rule,
/// one.
#[test]
fn a_refusal_costs_one_retry_at_most_and_never_drops_what_a_client_needs() {
    let live = LiveStack::start();
    live.add_models(json!([
        {"id": "GPT 8", "internal_id": "gpt8", "refuses": ["top_p", "seed", "frequency_penalty"]},
        {"id": "GPT 9", "internal_id": "gpt9", "refuses": ["max_tokens", "messages", "stream"]},
        {"id": "GPT 10", "internal_id": "gpt10", "refuses": ["made_up"]},
    ]));
    let before = chat_calls(live.mock_port);
    let greedy = json!({"model": "gpt-8", "messages": [{"role": "user", "content": "hi"}],
        "top_p": 0.5, "seed": 3, "frequency_penalty": 0.1});
    let refused = live.chat(greedy.clone());
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("seed"), "{}", refused.text());
    assert_eq!(chat_calls(live.mock_port), before + 2, "one retry, no more");
    // Each later request sends what was learned and retries once more: it converges.
    assert_eq!(live.chat(greedy.clone()).status, 400);
    assert_eq!(chat_calls(live.mock_port), before + 4);
    assert_eq!(live.chat(greedy.clone()).status, 200);
    assert_eq!(chat_calls(live.mock_port), before + 6);
    assert_eq!(live.chat(greedy).status, 200);
    assert_eq!(chat_calls(live.mock_port), before + 7);
    // Never dropped: the client's token limit.
    let limited = json!({"model": "gpt-9", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]});
    let answer = live.chat(limited);
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("max_tokens"), "{}", answer.text());
    assert_eq!(chat_calls(live.mock_port), before + 8, "no retry");
    // A name of the client's own invention is left out of its call, never remembered: clients
    // cannot fill the learned rules.
    let invented = json!({"model": "gpt-10", "made_up": 1,
        "messages": [{"role": "user", "content": "hi"}]});
    for calls in [10, 12] {
        assert_eq!(live.chat(invented.clone()).status, 200);
        assert_eq!(chat_calls(live.mock_port), before + calls);
    }
    // The victim, meanwhile, on a model with nothing learned: one call, answered.
    let victim = post_hello(live.port);
    assert_eq!(victim.status, 200, "{}", victim.text());
    assert_eq!(chat_calls(live.mock_port), before + 13);
    let metrics = metrics_containing(live.admin, "argo_bridge_learned_rules_total");
    assert!(
        metrics.contains(r#"argo_bridge_learned_rules_total{model="gpt8"} 3"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"argo_bridge_learned_rules_total{model="gpt10"}"#),
        "{metrics}"
    );
}

/// argo-api.md §C (live, APEXA): Gemini takes native OpenAI tools and fails on parallel calls
/// ("number of function response parts != number of function call parts"); the mock answers
/// such history with 500. Calls and results go one at a time.
#[test]
fn gemini_gets_native_tools_and_its_calls_one_at_a_time() {
    let stack = native_stack();
    let weather = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let call = |id: &str, city: &str| {
        json!({"id": id, "type": "function", "function": {"name": "get_weather",
            "arguments": json!({"city": city}).to_string()}})
    };
    let history = json!([
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [call("c1", "Paris"), call("c2", "Oslo")]},
        {"role": "tool", "tool_call_id": "c2", "content": "-3C"},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "user", "content": ECHO},
    ]);
    // The OpenAI chat client, and Anthropic's client through the hub.
    let chat = json!({"model": "gemini-2.5-flash", "tools": weather, "parallel_tool_calls": true,
        "messages": history});
    let argo = echoed_argo_request(&stack.post("/v1/chat/completions", &chat.to_string()));
    let body = &argo["body"];
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    let messages = body["messages"].as_array().unwrap();
    let shape: Vec<(String, Value, Value)> = messages
        .iter()
        .map(|m| {
            let ids: Vec<Value> = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|call| call["id"].clone())
                .collect();
            (
                m["role"].as_str().unwrap().to_string(),
                json!(ids),
                m["tool_call_id"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, Value, Value)> = vec![
        ("user".into(), json!([]), Value::Null),
        ("assistant".into(), json!(["c1"]), Value::Null),
        ("tool".into(), json!([]), json!("c1")),
        ("assistant".into(), json!(["c2"]), Value::Null),
        ("tool".into(), json!([]), json!("c2")),
        ("user".into(), json!([]), Value::Null),
    ];
    assert_eq!(shape, expected, "{messages:?}");
    assert_eq!(messages[1]["content"], "Checking both.");
    assert_eq!(messages[2]["content"], "18C");
    // A first turn with tools, on the pass-through: native tools, one call at a time.
    let first = json!({"model": "gemini-2.5-pro", "tools": weather,
        "messages": [{"role": "user", "content": ECHO}]});
    let argo = echoed_argo_request(&stack.post("/v1/chat/completions", &first.to_string()));
    assert_eq!(argo["body"]["parallel_tool_calls"], false);
    assert_eq!(argo["body"]["tools"], weather);
    // Anthropic's client with parallel tool_use blocks in its history, on Gemini.
    let anthropic = json!({"model": "gemini-2.5-flash", "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "-3C"},
                {"type": "text", "text": "Thanks"}]}]});
    let answer = request(
        stack.gateway_port,
        "POST",
        "/v1/messages",
        &[("x-api-key", TOKEN)],
        anthropic.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
}
