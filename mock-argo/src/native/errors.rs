//! Refusals in each dialect's envelope, and the checks every native request passes first.

use std::time::Duration;

use serde_json::Value;

use crate::rules::{self, Refusal};
use crate::tools::Dialect;
use crate::{Answer, Directive, MockRequest};

use super::turn::Outcome;

pub(super) fn settle(outcome: Outcome) -> (Answer, Duration) {
    outcome.unwrap_or_else(|refusal| (json_answer(refusal), Duration::ZERO))
}

pub(super) fn json_answer((status, body): Refusal) -> Answer {
    Answer::Json {
        status,
        body: body.to_string().into_bytes(),
        retry_after: None,
    }
}

pub(super) fn error(dialect: Dialect, status: u16, message: String) -> Refusal {
    match dialect {
        Dialect::OpenAi => {
            rules::openai_plain(status, &message, "invalid_request_error", "invalid_request")
        }
        Dialect::Anthropic => rules::anthropic_plain(status, anthropic_kind(status), &message),
    }
}

pub(super) fn invalid(dialect: Dialect, message: String) -> Refusal {
    error(dialect, 400, message)
}

fn anthropic_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

pub(super) fn unauthenticated() -> Refusal {
    rules::openai_plain(
        401,
        "You didn't provide an API key: Argo takes `Authorization: Bearer <username>` (mock text)",
        "invalid_request_error",
        "invalid_api_key",
    )
}

/// A model Argo does not serve: OpenAI's and Anthropic's own answers (Argo's are not recorded).
pub(super) fn unknown_model(dialect: Dialect, model: &str) -> Refusal {
    match dialect {
        Dialect::OpenAi => rules::openai_plain(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            "model_not_found",
        ),
        Dialect::Anthropic => {
            rules::anthropic_plain(404, "not_found_error", &format!("model: {model}"))
        }
    }
}

/// A directive's `status`, with its `body` or a default error in the dialect's envelope.
pub(super) fn scripted_error(dialect: Dialect, status: u16, directive: &Directive) -> Answer {
    let body = match &directive.body {
        Some(body) => body.clone().into_bytes(),
        None => {
            let (_, body) = match dialect {
                Dialect::OpenAi => {
                    let (kind, code) = match status {
                        429 => ("rate_limit_error", "rate_limit_exceeded"),
                        500..=599 => ("server_error", "mock_failure"),
                        _ => ("invalid_request_error", "mock_failure"),
                    };
                    rules::openai_plain(status, "mock failure", kind, code)
                }
                Dialect::Anthropic => {
                    rules::anthropic_plain(status, anthropic_kind(status), "mock failure")
                }
            };
            body.to_string().into_bytes()
        }
    };
    Answer::Json {
        status,
        body,
        retry_after: directive.retry_after.clone(),
    }
}

pub(super) fn bearer(request: &MockRequest) -> Option<&str> {
    let (scheme, token) = request.header("authorization")?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(super) fn parse(dialect: Dialect, raw: &[u8]) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(body) if body.is_object() => Ok(body),
        Ok(_) => Err(invalid(dialect, "the body must be a JSON object".into())),
        Err(e) => Err(invalid(dialect, format!("invalid JSON: {e}"))),
    }
}

/// The body's `user` (and, for Anthropic, `metadata.user_id`) must be the header's username
/// when present: the mock's strictness (see the module doc).
pub(super) fn check_identity(
    dialect: Dialect,
    body: &Value,
    username: &str,
) -> Result<(), Refusal> {
    let fields: &[&str] = match dialect {
        Dialect::OpenAi => &["/user"],
        Dialect::Anthropic => &["/user", "/metadata/user_id"],
    };
    let header = match dialect {
        Dialect::OpenAi => "Authorization: Bearer",
        Dialect::Anthropic => "x-api-key",
    };
    for field in fields {
        match body.pointer(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(user)) if user == username => {}
            Some(other) => {
                return Err(invalid(
                    dialect,
                    format!(
                        "`{}` is {other}, not the username of the {header} header (mock check: they must match)",
                        field[1..].replace('/', ".")
                    ),
                ))
            }
        }
    }
    Ok(())
}

pub(super) fn required_model(dialect: Dialect, body: &Value) -> Result<&str, Refusal> {
    body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or_else(|| match dialect {
            Dialect::OpenAi => rules::openai_plain(
                400,
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                "missing_required_parameter",
            ),
            Dialect::Anthropic => invalid(dialect, "model: Field required".into()),
        })
}

pub(super) fn check_messages_field(dialect: Dialect, body: &Value) -> Result<(), Refusal> {
    if body["messages"].as_array().is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    Err(match dialect {
        Dialect::OpenAi => rules::openai_plain(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "missing_required_parameter",
        ),
        Dialect::Anthropic => invalid(dialect, "messages: Field required".into()),
    })
}
