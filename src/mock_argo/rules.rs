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
/// models were not probed).
const DEFAULT_SAMPLING_ONLY: &[&str] = &["gpt5", "gpt5mini", "gpt55"];

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
    if model == "claudeopus47" && temperature.is_some() {
        return Err(anthropic_error(
            "`temperature` is deprecated for this model.".into(),
        ));
    }
    if model == "claudeopus47" && has_top_p {
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
    let inner = format!("{{'type': 'error', 'error': {{'type': 'invalid_request_error', 'message': '{message}'}}, 'request_id': 'req_mock'}}");
    (
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": format!("Error code: 400 - {inner}")}}),
    )
}

/// OpenAI's envelope around the upstream message, as the probe recorded it.
fn openai_error(message: String, param: &str, code: &str) -> Refusal {
    let inner = format!("{{'error': {{'message': \"{message}\", 'type': 'invalid_request_error', 'param': '{param}', 'code': '{code}'}}}}");
    (
        400,
        json!({"error": {"message": format!("Error code: 400 - {inner}"),
            "type": "BadRequestError", "code": "internal_error"}}),
    )
}
