//! Anthropic's error envelope (the stream's `error` event
//! is the encoder's `error_event`).

use serde_json::{json, Value};

use crate::error::ApiError;

/// Anthropic's error envelope, `{"type": "error", "error": {"type", "message"}}`, with the
/// error type Anthropic uses for the status (the status itself stays `error.status`).
pub fn error_json(error: &ApiError) -> Vec<u8> {
    error_body(error).to_string().into_bytes()
}

fn error_body(error: &ApiError) -> Value {
    json!({"type": "error", "error": error_object(error)})
}

pub(super) fn error_object(error: &ApiError) -> Value {
    json!({"type": error_type(error.status), "message": error.message})
}

/// Anthropic's error type for an HTTP status. Anthropic says `overloaded_error` with 529; the
/// gateway's overloaded upstream is a 503, which keeps its status and gets that type.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
