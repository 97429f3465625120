//! Argo's refusals of a parameter, read so that the call can be made again without it: Argo
//! changes faster than any table, and a model new in its live list may refuse what a client
//! sends (`temperature` on Claude Sonnet 5, argo-api.md §C). A 400 means nothing was generated,
//! so the call is safe to repeat once. Only a top-level member of Argo's request is ever left
//! out, and never one a client needs for a correct answer ([`KEPT`]).
//!
//! The texts are Argo's as recorded (argo-api.md A and C; the mock's `rules.rs` holds them):
//! - Anthropic's envelope on `/v1/messages`, the upstream's message inside Argo's:
//!   `{"type": "error", "error": {"message": "Error code: 400 - {... 'message': '`temperature`
//!   is deprecated for this model.'}"}}`;
//! - OpenAI's on `/v1/chat/completions`: `{"error": {"message": "Error code: 400 - {'error':
//!   {'message': \"Unsupported value: 'temperature' does not support 0.5 with this model. Only
//!   the default (1) value is supported.\", 'param': 'temperature', ...}}"}}`, or "Unsupported
//!   parameter: 'top_p' is not supported with this model.", or "Unknown parameter: 'X'.".

use serde::Deserialize;

use super::passthrough::{key_name, walk_object};

/// Top-level members never left out, whatever Argo says of them: who asks and of which model,
/// the conversation, its tools, its token limit and how the answer comes back. Without them
/// the answer would be wrong, not merely less tuned.
pub const KEPT: &[&str] = &[
    "model",
    "user",
    "messages",
    "input",
    "prompt",
    "system",
    "instructions",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream",
    "stream_options",
    "metadata",
    "response_format",
    "text",
    "stop",
    "stop_sequences",
    "n",
];

/// The request parameters OpenAI's and Anthropic's APIs define that a model may refuse: only
/// these are remembered for the model. A name outside them (one a client made up, which Argo
/// may call an "Unknown parameter") is left out of that call only, so that clients cannot fill
/// the learned rules with names of their own.
pub const REMEMBERED: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "reasoning",
    "verbosity",
    "parallel_tool_calls",
    "service_tier",
    "store",
    "prediction",
    "modalities",
    "audio",
    "web_search_options",
    "prompt_cache_key",
    "safety_identifier",
    "truncation",
    "include",
    "thinking",
    "output_config",
    "context_management",
];

/// Longest parameter name read from a refusal.
const MAX_NAME_BYTES: usize = 64;

/// What Argo refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The top-level member to leave out.
    pub parameter: String,
    /// The model refuses the parameter itself (or any value but its default), and it is one
    /// of [`REMEMBERED`], so every later call may leave it out; else only this call leaves it
    /// out (another client's value may be one the model takes, or the name was the client's
    /// own invention).
    pub always: bool,
}

#[derive(Deserialize)]
struct Envelope {
    error: Inner,
}

#[derive(Deserialize)]
struct Inner {
    message: String,
}

/// The parameter a 400 body of Argo's refuses, when it names one that may be left out: a
/// plain top-level name (not `messages[0].tool_calls`) outside [`KEPT`].
pub fn refused_parameter(body: &[u8]) -> Option<Refused> {
    let message = serde_json::from_slice::<Envelope>(body).ok()?.error.message;
    let (parameter, always) = if let Some(name) = between(&message, "`", "` is deprecated") {
        (name, true)
    } else if let Some(name) = between(&message, "Unsupported parameter: '", "'") {
        (name, true)
    } else if let Some(name) = between(&message, "Unknown parameter: '", "'") {
        (name, true)
    } else if let Some(name) = between(&message, "Unsupported value: '", "'") {
        (name, message.contains("Only the default"))
    } else {
        return None;
    };
    let plain = !parameter.is_empty()
        && parameter.len() <= MAX_NAME_BYTES
        && parameter
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    (plain && !KEPT.contains(&parameter)).then(|| Refused {
        parameter: parameter.to_string(),
        always: always && REMEMBERED.contains(&parameter),
    })
}

/// The text between the first `open` and the next `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)?;
    Some(&text[start..start + end])
}

/// The JSON object `body` without its top-level members named in `names` (keys compared as JSON
/// means them, escapes decoded); `None` when it has none of them, or is no object. One pass
/// over the body; the rest is copied as written.
pub fn without_members(body: &[u8], names: &[impl AsRef<str>]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    out.push(b'{');
    let (mut dropped, mut valid) = (false, true);
    let walked = walk_object(body, |key, value| {
        let Some(name) = key_name(key) else {
            valid = false;
            return;
        };
        if names
            .iter()
            .any(|drop| drop.as_ref().as_bytes() == name.as_ref())
        {
            dropped = true;
            return;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key);
        out.extend_from_slice(b"\":");
        out.extend_from_slice(&body[value]);
    });
    out.push(b'}');
    (walked && valid && dropped).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn refused(message: &str) -> Option<Refused> {
        refused_parameter(
            json!({"error": {"message": message}})
                .to_string()
                .as_bytes(),
        )
    }

    fn always(parameter: &str) -> Option<Refused> {
        Some(Refused {
            parameter: parameter.into(),
            always: true,
        })
    }

    #[test]
    fn argos_refusals_name_the_parameter() {
        // Anthropic's envelope, as the probe recorded it on /v1/messages.
        let anthropic = json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', 'message': '`temperature` is deprecated for this model.'}, 'request_id': 'req_1'}"}});
        assert_eq!(
            refused_parameter(anthropic.to_string().as_bytes()),
            always("temperature")
        );
        assert_eq!(
            refused("Error code: 400 - {'error': {'message': \"Unsupported value: 'temperature' does not support 0.5 with this model. Only the default (1) value is supported.\", 'param': 'temperature'}}"),
            always("temperature")
        );
        assert_eq!(
            refused("Error code: 400 - {'error': {'message': 'Unsupported parameter: 'top_p' is not supported with this model.'}}"),
            always("top_p")
        );
        assert_eq!(refused("Unknown parameter: 'seed'."), always("seed"));
        assert_eq!(
            refused("Unknown parameter: 'made_up_1'."),
            Some(Refused {
                parameter: "made_up_1".into(),
                always: false
            }),
            "left out of that call, never remembered"
        );
        assert_eq!(
            refused(
                "Unsupported value: 'reasoning_effort' does not support 'xhigh' with this model."
            ),
            Some(Refused {
                parameter: "reasoning_effort".into(),
                always: false
            })
        );
    }

    #[test]
    fn nothing_a_client_needs_and_nothing_nested_is_ever_refused_away() {
        for message in [
            "Unknown parameter: 'messages[0].tool_calls'.",
            "`max_tokens` is deprecated for this model.",
            "Unsupported parameter: 'tools' is not supported with this model.",
            "Unknown parameter: 'stream_options'.",
            "Unknown parameter: 'Top P'.",
            "Unknown parameter: ''.",
            "`temperature` and `top_p` cannot both be specified for this model.",
            "max_tokens is required",
        ] {
            assert_eq!(refused(message), None, "{message}");
        }
        let long = format!("Unknown parameter: '{}'.", "a".repeat(65));
        assert_eq!(refused(&long), None);
        assert_eq!(refused_parameter(b"not json"), None);
        assert_eq!(refused_parameter(br#"{"error": "plain"}"#), None);
    }

    #[test]
    fn members_are_left_out_at_the_top_level_only() {
        let body = br#"{"model":"m","top_p":0.5,"messages":[{"top_p":1}],"t\u006fp_p":2,"seed":7}"#;
        let out = without_members(body, &["top_p"]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"model": "m", "messages": [{"top_p": 1}], "seed": 7})
        );
        assert_eq!(without_members(body, &["temperature"]), None);
        assert_eq!(without_members(b"[1]", &["top_p"]), None);
        let both = without_members(body, &["seed", "top_p"]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&both).unwrap(),
            json!({"model": "m", "messages": [{"top_p": 1}]})
        );
    }
}
