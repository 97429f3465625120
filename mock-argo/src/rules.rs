//! What real Argo refuses, and how it says so, as far as the evidence goes: the parameter rules
//! from argo-proxy's probe of prod (`tools/argo_probe_out/argo_probe_raw.jsonl`, June 2026), the
//! non-streaming Claude limit argo-proxy works around, unregistered users, embed batch sizes.
//!
//! The probe spoke to Argo's native endpoints; the error bodies below are its recorded texts in
//! the native envelopes (Anthropic's for Claude, OpenAI's for the rest). How the resource
//! endpoints wrap the same refusals is not recorded.

use serde_json::{json, Value};

/// The Argo ids served today (argo-proxy's fallback table, June 2026). Retired ids such as
/// `gpt4` or `claudesonnet4` are not among them.
const CHAT_MODELS: &[&str] = &[
    "gpt4o",
    "gpto1",
    "gpto3",
    "gpto3mini",
    "gpto4mini",
    "gpt41",
    "gpt41mini",
    "gpt41nano",
    "gpt5",
    "gpt5mini",
    "gpt5nano",
    "gpt51",
    "gpt52",
    "gpt54",
    "gpt54nano",
    "gpt55",
    "gpt54mini",
    "gpt56sol",
    "gpt56terra",
    "gpt56luna",
    "gemini25pro",
    "gemini25flash",
    "gemini35flash",
    "gemini31flashlite",
    "claudeopus47",
    "claudeopus46",
    "claudeopus45",
    "claudeopus41",
    "claudesonnet46",
    "claudesonnet45",
    "claudehaiku45",
    "claudeopus48",
    "claudesonnet5",
    "claudeopus5",
];

/// Claude models that take no `temperature` and no `top_p` at all: opus47 (probe, June 2026);
/// claudesonnet5 (argo-api.md §C, live, argo-proxy 3.2.1), claudeopus48 and claudeopus5
/// (argo-api.md §C: argo-proxy's client code treats them as Sonnet 5).
const NO_SAMPLING: &[&str] = &[
    "claudeopus47",
    "claudeopus48",
    "claudesonnet5",
    "claudeopus5",
];

/// Claude models that take `temperature` or `top_p` but not both (probe).
const SAMPLING_XOR: &[&str] = &[
    "claudeopus46",
    "claudeopus45",
    "claudesonnet46",
    "claudesonnet45",
    "claudehaiku45",
];

/// Models that take only the default temperature (1) and no `top_p` (probe: the other GPT-5
/// models were not probed; GPT-5.6: argo-api.md §C, "very likely" from argo-proxy 3.2.1's client
/// code).
const DEFAULT_SAMPLING_ONLY: &[&str] = &[
    "gpt5",
    "gpt5mini",
    "gpt55",
    "gpt56sol",
    "gpt56terra",
    "gpt56luna",
];

/// Above this, Claude through non-streaming chat fails (argo-proxy's legacy
/// `CLAUDE_NON_STREAMING_MAX_TOKENS`).
pub const CLAUDE_NON_STREAMING_MAX_TOKENS: u64 = 21_000;

/// The original bridge sends embeddings 16 at a time (`BATCH_SIZE = 16`). Whether Argo refuses
/// more is not recorded anywhere: this limit is an assumption the mock holds the gateway to.
pub const MAX_EMBED_PROMPTS: usize = 16;

/// Usernames the mock treats as unknown to Argo.
pub const UNREGISTERED_PREFIX: &str = "unregistered";

/// Argo's answer to an unknown username: HTTP 200 with this text in place of a reply. The
/// first line is as argo-proxy's tests quote it (`dev_scripts/test_argo_auth_warning.py`); the
/// rest of the real notice is not recorded.
pub const AUTH_NOTICE: &str = "⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO** ⚠️\n\nThe username sent with this request is not registered with Argo. (Mock text: the rest of the real notice is not recorded.)";

pub fn is_unregistered(user: &str) -> bool {
    user.starts_with(UNREGISTERED_PREFIX)
}

pub fn is_chat_model(model: &str) -> bool {
    CHAT_MODELS.contains(&model)
}

/// An Argo refusal: status and body.
pub type Refusal = (u16, Value);

/// A chat model Argo does not serve. No recording shows real Argo's answer; the mock says 400
/// naming the model.
pub fn unknown_model(model: &str) -> Refusal {
    (
        400,
        json!({"error": format!("model `{model}` is not served by Argo")}),
    )
}

/// The parameter rules real Argo enforces on a chat request; `streaming` for `streamchat`.
pub fn check_parameters(model: &str, request: &Value, streaming: bool) -> Result<(), Refusal> {
    let temperature = request.get("temperature").and_then(Value::as_f64);
    let has_top_p = request.get("top_p").is_some_and(|top_p| !top_p.is_null());
    if model.starts_with("claude") {
        check_claude(model, request, temperature, has_top_p, streaming)
    } else if DEFAULT_SAMPLING_ONLY.contains(&model) {
        check_default_sampling(temperature, has_top_p)
    } else {
        Ok(())
    }
}

fn check_claude(
    model: &str,
    request: &Value,
    temperature: Option<f64>,
    has_top_p: bool,
    streaming: bool,
) -> Result<(), Refusal> {
    let max_tokens = request
        .get("max_tokens")
        .or_else(|| request.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    if !streaming && max_tokens.is_some_and(|limit| limit > CLAUDE_NON_STREAMING_MAX_TOKENS) {
        // No recorded text: argo-api.md says such requests fail ("streaming is required").
        return Err(anthropic_error(format!(
            "streaming is required for max_tokens above {CLAUDE_NON_STREAMING_MAX_TOKENS} (mock text)"
        )));
    }
    if NO_SAMPLING.contains(&model) && temperature.is_some() {
        return Err(anthropic_error(
            "`temperature` is deprecated for this model.".into(),
        ));
    }
    if NO_SAMPLING.contains(&model) && has_top_p {
        return Err(anthropic_error(
            "`top_p` is deprecated for this model.".into(),
        ));
    }
    if SAMPLING_XOR.contains(&model) && temperature.is_some() && has_top_p {
        return Err(anthropic_error(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
                .into(),
        ));
    }
    Ok(())
}

fn check_default_sampling(temperature: Option<f64>, has_top_p: bool) -> Result<(), Refusal> {
    if let Some(value) = temperature.filter(|value| *value != 1.0) {
        return Err(openai_error(format!(
            "Unsupported value: 'temperature' does not support {value:?} with this model. Only the default (1) value is supported.",
        ), "temperature", "unsupported_value"));
    }
    if has_top_p {
        return Err(openai_error(
            "Unsupported parameter: 'top_p' is not supported with this model.".into(),
            "top_p",
            "unsupported_parameter",
        ));
    }
    Ok(())
}

/// A model's refusal of a parameter it does not take, in Argo's recorded words: Anthropic's
/// "`X` is deprecated for this model." for Claude (probe, opus47; argo-api.md §C, sonnet5),
/// OpenAI's "Unsupported parameter: 'X' is not supported with this model." for the rest.
pub fn refuses_parameter(model: &str, param: &str) -> Refusal {
    if is_claude(model) {
        anthropic_error(format!("`{param}` is deprecated for this model."))
    } else {
        openai_error(
            format!("Unsupported parameter: '{param}' is not supported with this model."),
            param,
            "unsupported_parameter",
        )
    }
}

/// argo-api.md §C (live, argo-shim): chat without a valid `user` is HTTP 500 on
/// `/v1/chat/completions`. The words are the mock's.
pub fn check_chat_user(request: &Value) -> Result<(), Refusal> {
    match request.get("user").and_then(Value::as_str) {
        Some(user) if !user.trim().is_empty() => Ok(()),
        _ => Err(openai_plain(
            500,
            "Internal Server Error: the request has no valid `user` (mock text)",
            "internal_error",
            "internal_error",
        )),
    }
}

/// What Argo's chat endpoint refuses in the conversation itself (argo-api.md §C):
/// - a `developer` message: 400 with the misleading "Unknown parameter:
///   'messages[N].tool_calls'." (strong: argo-proxy 3.2.1-3.3.0, argo-shim), N its index;
/// - Gemini history with parallel tool calls (an assistant message with several `tool_calls`,
///   or several `tool` results in a row): "number of function response parts != number of
///   function call parts" (live: APEXA, 2026-09-28). No status is recorded: the mock says 500,
///   as Argo answers Gemini's other upstream failures (argo-api.md A, "Argo-side 500s").
pub fn check_chat_messages(model: &str, request: &Value) -> Result<(), Refusal> {
    let messages: Vec<&Value> = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if let Some(index) = messages.iter().position(|m| m["role"] == "developer") {
        let param = format!("messages[{index}].tool_calls");
        return Err(openai_error(
            format!("Unknown parameter: '{param}'."),
            &param,
            "unknown_parameter",
        ));
    }
    if model.starts_with("gemini") && has_parallel_tool_calls(&messages) {
        return Err(openai_plain(
            500,
            "Error code: 400 - [{'error': {'code': 400, 'message': 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn. (number of function response parts != number of function call parts)', 'status': 'INVALID_ARGUMENT'}}]",
            "internal_error",
            "internal_error",
        ));
    }
    Ok(())
}

fn has_parallel_tool_calls(messages: &[&Value]) -> bool {
    let many_calls = messages.iter().any(|m| {
        m["role"] == "assistant"
            && m["tool_calls"]
                .as_array()
                .is_some_and(|calls| calls.len() > 1)
    });
    let many_results = messages
        .windows(2)
        .any(|pair| pair[0]["role"] == "tool" && pair[1]["role"] == "tool");
    many_calls || many_results
}

/// Too many texts in one embed call.
pub fn check_embed_batch(prompts: usize) -> Result<(), Refusal> {
    if prompts > MAX_EMBED_PROMPTS {
        return Err((
            400,
            json!({"error": format!("at most {MAX_EMBED_PROMPTS} prompts per request, got {prompts} (mock limit)")}),
        ));
    }
    Ok(())
}

/// Anthropic's envelope around the upstream message, as the probe recorded it.
fn anthropic_error(message: String) -> Refusal {
    let message = python_str(&message);
    let inner = format!("{{'type': 'error', 'error': {{'type': 'invalid_request_error', 'message': {message}}}, 'request_id': 'req_mock'}}");
    (
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": format!("Error code: 400 - {inner}")}}),
    )
}

/// OpenAI's envelope around the upstream message, as the probe recorded it.
fn openai_error(message: String, param: &str, code: &str) -> Refusal {
    let message = python_str(&message);
    let inner = format!("{{'error': {{'message': {message}, 'type': 'invalid_request_error', 'param': '{param}', 'code': '{code}'}}}}");
    (
        400,
        json!({"error": {"message": format!("Error code: 400 - {inner}"),
            "type": "BadRequestError", "code": "internal_error"}}),
    )
}

/// A string as Python's `repr` writes it (how Argo quotes the upstream's message): in single
/// quotes, or in double quotes when it holds a single quote and no double quote.
fn python_str(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{}\"", text.replace('\\', "\\\\"))
    } else {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Claude models that take `thinking: {"type": "adaptive"}` (probe); the others know only
/// `disabled` and `enabled`. The models new since June take it too (argo-api.md §C).
const ADAPTIVE_THINKING: &[&str] = &[
    "claudeopus47",
    "claudeopus46",
    "claudesonnet46",
    "claudeopus48",
    "claudesonnet5",
    "claudeopus5",
];

/// Claude models that refuse `thinking: {"type": "enabled"}` and take `adaptive` only: opus47
/// (probe, June 2026); opus48 and opus5 (argo-api.md §C, medium: argo-proxy 3.2.1-3.3.0's
/// client code and release notes); sonnet5 like them (argo-api.md §C treats it as opus48).
/// The others take budgeted thinking below `max_tokens` (argo-api.md §C, medium).
const ADAPTIVE_ONLY: &[&str] = &[
    "claudeopus47",
    "claudeopus48",
    "claudesonnet5",
    "claudeopus5",
];

/// Argo's answer to every non-streaming Claude call on `/v1/messages` since about 2026-07-17:
/// the Anthropic Python SDK's guard inside Argo, as argo-api.md §C quotes it (argo-proxy
/// 3.2.1, ChemGraph issue 150; the tail of the sentence is elided in the record, so the mock
/// sends it elided too).
pub const STREAMING_REQUIRED: &str =
    "Streaming is required for operations that may take longer than 10 minutes. ...";

pub fn is_claude(model: &str) -> bool {
    model.starts_with("claude")
}

pub fn takes_adaptive_thinking(model: &str) -> bool {
    ADAPTIVE_THINKING.contains(&model)
}

pub fn is_adaptive_only(model: &str) -> bool {
    ADAPTIVE_ONLY.contains(&model)
}

/// The rules real Argo enforces on `POST /v1/messages` (probe, prod, June 2026): `max_tokens`
/// required, then (argo-api.md §C) HTTP 500 for any call that is not streamed, then the
/// sampling rules, `thinking`, `output_config.effort` and the thinking blocks of the history.
pub fn check_messages(model: &str, request: &Value, streaming: bool) -> Result<(), Refusal> {
    if request.get("max_tokens").is_none_or(Value::is_null) {
        // Recorded verbatim: Argo's own refusal, without the upstream wrapper.
        return Err(anthropic_plain(
            400,
            "invalid_request_error",
            "max_tokens is required",
        ));
    }
    if !streaming {
        return Err(streaming_required());
    }
    check_parameters(model, request, streaming)?;
    check_thinking(model, request)?;
    check_effort(model, request)?;
    check_thinking_history(request)
}

/// argo-api.md §C (argo-proxy 3.2.1 / ChemGraph issue 150): HTTP 500 in Argo's OpenAI-style
/// error body, even on `/v1/messages`.
pub fn streaming_required() -> Refusal {
    (
        500,
        json!({"error": {"message": STREAMING_REQUIRED, "type": "ValueError",
            "code": "internal_error"}}),
    )
}

fn check_thinking(model: &str, request: &Value) -> Result<(), Refusal> {
    let Some(thinking) = request.get("thinking").filter(|t| !t.is_null()) else {
        return Ok(());
    };
    let kind = thinking["type"].as_str().unwrap_or_default();
    let adaptive_model = takes_adaptive_thinking(model);
    let tags = if adaptive_model {
        "'adaptive', 'disabled', 'enabled'"
    } else {
        "'disabled', 'enabled'"
    };
    match kind {
        "disabled" => Ok(()),
        "adaptive" if adaptive_model => match thinking
            .as_object()
            .and_then(|fields| fields.keys().find(|key| *key != "type"))
        {
            // Recorded for `budget_tokens`.
            Some(extra) => Err(anthropic_error(format!(
                "thinking.adaptive.{extra}: Extra inputs are not permitted"
            ))),
            None => Ok(()),
        },
        // Recorded for opus47 (probe); the same words for the models like it.
        "enabled" if ADAPTIVE_ONLY.contains(&model) => Err(anthropic_error(
            "\"thinking.type.enabled\" is not supported for this model. Use \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking behavior.".into(),
        )),
        "enabled" => {
            let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
            let max_tokens = request.get("max_tokens").and_then(Value::as_u64);
            match (budget, max_tokens) {
                (None, _) => Err(anthropic_error(
                    "thinking.enabled.budget_tokens: Field required (mock text)".into(),
                )),
                // Recorded (probe, June 2026: `max_tokens: 64` with `budget_tokens: 1024`).
                (Some(budget), Some(max_tokens)) if max_tokens <= budget => Err(anthropic_error(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size".into(),
                )),
                // argo-api.md §C (medium: client authors' tests, no raw 200 recorded).
                _ => Ok(()),
            }
        }
        // Recorded for `adaptive` on models without it.
        _ => Err(anthropic_error(format!(
            "thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: {tags}"
        ))),
    }
}

/// Thinking blocks of earlier assistant turns (argo-api.md §C, medium: argo-proxy 3.2.1-3.3.0
/// and argo-shim): a block whose `thinking` text is empty or missing is refused, and so is one
/// without its `signature` (Argo does not sign blocks; history with missing signatures gave
/// 400). The words are the mock's, in Anthropic's field-path style.
fn check_thinking_history(request: &Value) -> Result<(), Refusal> {
    let messages = request["messages"].as_array().into_iter().flatten();
    for (turn, message) in messages.enumerate() {
        if message["role"] != "assistant" {
            continue;
        }
        let blocks = message["content"].as_array().into_iter().flatten();
        for (index, block) in blocks.enumerate() {
            if block["type"] != "thinking" {
                continue;
            }
            let at = format!("messages.{turn}.content.{index}.thinking");
            match block.get("thinking") {
                None | Some(Value::Null) => {
                    return Err(anthropic_error(format!("{at}.thinking: Field required")))
                }
                Some(Value::String(text)) if text.trim().is_empty() => {
                    return Err(anthropic_error(format!(
                        "{at}: each thinking block must contain non-empty thinking (mock text)"
                    )))
                }
                Some(_) => {}
            }
            if block.get("signature").is_none_or(Value::is_null) {
                return Err(anthropic_error(format!("{at}.signature: Field required")));
            }
        }
    }
    Ok(())
}

fn check_effort(model: &str, request: &Value) -> Result<(), Refusal> {
    let Some(effort) = request
        .pointer("/output_config/effort")
        .filter(|effort| !effort.is_null())
    else {
        return Ok(());
    };
    // Recorded: opus47 takes these five and says so (the models like it too); the other models
    // took low, medium, high, none and minimal (xhigh and max were not probed on them, so the
    // mock refuses them).
    let (levels, list) = if ADAPTIVE_ONLY.contains(&model) {
        (
            ["low", "medium", "high", "xhigh", "max"],
            "'low', 'medium', 'high', 'xhigh' or 'max'",
        )
    } else {
        (
            ["low", "medium", "high", "none", "minimal"],
            "'low', 'medium', 'high', 'none' or 'minimal'",
        )
    };
    if effort
        .as_str()
        .is_some_and(|effort| levels.contains(&effort))
    {
        Ok(())
    } else {
        Err(anthropic_error(format!(
            "output_config.effort: Input should be {list}"
        )))
    }
}

/// Anthropic's error body for refusals Argo makes itself (no upstream wrapper).
pub fn anthropic_plain(status: u16, kind: &str, message: &str) -> Refusal {
    (
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// OpenAI's error body, in the fields Argo's recorded ones have (`message`, `type`, `code`).
pub fn openai_plain(status: u16, message: &str, kind: &str, code: &str) -> Refusal {
    (
        status,
        json!({"error": {"message": message, "type": kind, "code": code}}),
    )
}

/// A refusal put in OpenAI's envelope, for Claude on `/v1/chat/completions` (how Argo words
/// Claude's refusals there is not recorded: the upstream message in Argo's OpenAI wrapper).
pub fn as_openai((status, body): Refusal) -> Refusal {
    match body.pointer("/error/message").and_then(Value::as_str) {
        Some(message) if body["type"] == "error" => (
            status,
            json!({"error": {"message": message, "type": "BadRequestError", "code": "internal_error"}}),
        ),
        _ => (status, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(model: &str, extra: Value) -> Option<String> {
        let mut request = json!({"model": model, "max_tokens": 64,
            "messages": [{"role": "user", "content": "ping"}]});
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        check_messages(model, &request, true)
            .err()
            .map(|(status, body)| {
                assert_eq!(status, 400);
                assert_eq!(body["type"], "error");
                body["error"]["message"].as_str().unwrap().to_string()
            })
    }

    /// The probe's variants, with their recorded outcome.
    #[test]
    fn messages_rules_follow_the_probe() {
        let adaptive = json!({"thinking": {"type": "adaptive"}});
        let with_budget = json!({"thinking": {"type": "adaptive", "budget_tokens": 1024}});
        let enabled = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
        let combo = json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}});
        for model in ["claudeopus47", "claudeopus46", "claudesonnet46"] {
            assert_eq!(refusal(model, adaptive.clone()), None, "{model}");
            assert_eq!(refusal(model, combo.clone()), None, "{model}");
            assert!(refusal(model, with_budget.clone())
                .unwrap()
                .contains("'thinking.adaptive.budget_tokens: Extra inputs are not permitted'"));
        }
        for model in [
            "claudeopus45",
            "claudeopus41",
            "claudesonnet45",
            "claudehaiku45",
        ] {
            let words = "Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'\"";
            assert!(
                refusal(model, adaptive.clone()).unwrap().contains(words),
                "{model}"
            );
            assert!(
                refusal(model, combo.clone()).unwrap().contains(words),
                "{model}"
            );
            for effort in ["low", "medium", "high", "none", "minimal"] {
                let extra = json!({"output_config": {"effort": effort}});
                assert_eq!(refusal(model, extra), None, "{model} {effort}");
            }
        }
        for model in [
            "claudeopus46",
            "claudeopus45",
            "claudesonnet45",
            "claudehaiku45",
        ] {
            assert!(refusal(model, enabled.clone())
                .unwrap()
                .contains("`max_tokens` must be greater than `thinking.budget_tokens`"));
        }
        assert!(refusal("claudeopus47", enabled)
            .unwrap()
            .contains("'\"thinking.type.enabled\" is not supported for this model."));
        for effort in ["none", "minimal"] {
            assert!(refusal("claudeopus47", json!({"output_config": {"effort": effort}}))
                .unwrap()
                .contains("\"output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'\""));
        }
        for effort in ["xhigh", "max"] {
            assert_eq!(
                refusal("claudeopus47", json!({"output_config": {"effort": effort}})),
                None
            );
        }
        for model in ["claudeopus47", "claudehaiku45"] {
            assert_eq!(
                refusal(model, json!({"thinking": {"type": "disabled"}})),
                None
            );
        }
        let request = json!({"model": "claudehaiku45", "messages": []});
        assert_eq!(
            check_messages("claudehaiku45", &request, true)
                .unwrap_err()
                .1,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens is required"}})
        );
    }

    /// argo-api.md §C (argo-proxy 3.2.1-3.3.0, medium): budgeted thinking below `max_tokens` on
    /// the models that take it, adaptive only on opus47/48, opus5 and sonnet5.
    #[test]
    fn budgeted_thinking_follows_section_c() {
        let below =
            json!({"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}});
        let at =
            json!({"max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 1024}});
        for model in [
            "claudehaiku45",
            "claudesonnet45",
            "claudeopus45",
            "claudeopus41",
            "claudeopus46",
            "claudesonnet46",
        ] {
            assert_eq!(refusal(model, below.clone()), None, "{model}");
            assert!(refusal(model, at.clone())
                .unwrap()
                .contains("`max_tokens` must be greater than `thinking.budget_tokens`"));
        }
        for model in [
            "claudeopus47",
            "claudeopus48",
            "claudeopus5",
            "claudesonnet5",
        ] {
            assert!(refusal(model, below.clone())
                .unwrap()
                .contains("\"thinking.type.enabled\" is not supported for this model."));
            assert_eq!(
                refusal(model, json!({"thinking": {"type": "adaptive"}})),
                None,
                "{model}"
            );
        }
    }

    /// argo-api.md §C (Sonnet 5 live, argo-proxy 3.2.1; opus48 and opus5 from client code;
    /// GPT-5.6 "very likely" like the gpt-5 family).
    #[test]
    fn the_new_models_refuse_sampling_parameters() {
        for model in ["claudesonnet5", "claudeopus48", "claudeopus5"] {
            assert!(refusal(model, json!({"temperature": 0.5}))
                .unwrap()
                .contains("`temperature` is deprecated for this model"));
            assert!(refusal(model, json!({"top_p": 0.5}))
                .unwrap()
                .contains("`top_p` is deprecated for this model"));
            assert_eq!(refusal(model, json!({})), None, "{model}");
        }
        for model in ["gpt56sol", "gpt56terra", "gpt56luna"] {
            let request = json!({"temperature": 0.2});
            let (status, body) = check_parameters(model, &request, false).unwrap_err();
            assert_eq!(status, 400);
            assert!(body.to_string().contains("does not support 0.2"), "{body}");
            assert!(check_parameters(model, &json!({"temperature": 1.0}), false).is_ok());
        }
        assert!(check_parameters("gpt54mini", &json!({"temperature": 0.2}), false).is_ok());
        assert!(is_chat_model("gpt54mini") && is_chat_model("claudeopus5"));
    }

    /// argo-api.md §C (argo-proxy 3.2.1 / ChemGraph issue 150): every non-streaming Claude call
    /// is HTTP 500, after Argo's own `max_tokens` check.
    #[test]
    fn unstreamed_messages_are_a_500() {
        let request = json!({"model": "claudehaiku45", "max_tokens": 64,
            "messages": [{"role": "user", "content": "ping"}]});
        assert_eq!(
            check_messages("claudehaiku45", &request, false).unwrap_err(),
            (
                500,
                json!({"error": {"message": "Streaming is required for operations that may take longer than 10 minutes. ...",
                    "type": "ValueError", "code": "internal_error"}})
            )
        );
        assert!(check_messages("claudehaiku45", &request, true).is_ok());
    }

    /// argo-api.md §C (medium: argo-proxy 3.2.1-3.3.0, argo-shim): thinking blocks in history
    /// need their text and a signature.
    #[test]
    fn thinking_blocks_in_history_need_text_and_signature() {
        let with_block = |block: Value| {
            json!({"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": [block, {"type": "text", "text": "a"}]},
                {"role": "user", "content": "again"}]})
        };
        let signed = json!({"type": "thinking", "thinking": "hm", "signature": "c2ln"});
        assert_eq!(refusal("claudesonnet45", with_block(signed)), None);
        for (block, words) in [
            (
                json!({"type": "thinking", "thinking": "", "signature": "c2ln"}),
                "messages.1.content.0.thinking: each thinking block must contain non-empty thinking",
            ),
            (
                json!({"type": "thinking", "signature": "c2ln"}),
                "messages.1.content.0.thinking.thinking: Field required",
            ),
            (
                json!({"type": "thinking", "thinking": "hm"}),
                "messages.1.content.0.thinking.signature: Field required",
            ),
        ] {
            let refused = refusal("claudesonnet45", with_block(block.clone()));
            assert!(refused.as_deref().unwrap_or("").contains(words), "{block}: {refused:?}");
        }
    }

    #[test]
    fn claude_refusals_can_wear_the_openai_envelope() {
        let (status, body) = as_openai(anthropic_error(
            "`top_p` is deprecated for this model.".into(),
        ));
        assert_eq!(status, 400);
        assert_eq!(body["error"]["type"], "BadRequestError");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`top_p` is deprecated"));
        assert_eq!(python_str("it's"), "\"it's\"");
        assert_eq!(python_str("say \"it's\""), "'say \"it\\'s\"'");
    }
}
