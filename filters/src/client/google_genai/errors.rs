//! Google's error envelope.

use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// Google's error envelope: `{"error": {"code", "message", "status", "details"}}`, with an
/// `ErrorInfo` (the gateway's code as `reason`), a `BadRequest` naming the field when there is
/// one, and a `RetryInfo` for a known retry delay (Gemini CLI waits that long).
pub fn error_json(error: &ApiError) -> Vec<u8> {
    let reason = error
        .code
        .map_or(error.kind, ErrorCode::as_str)
        .to_ascii_uppercase();
    let mut details = vec![json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "argo-bridge",
    })];
    if let Some(param) = &error.param {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": param, "description": error.message}],
        }));
    }
    if let Some(delay) = error
        .retry_after
        .as_deref()
        .and_then(|delay| delay.trim().parse::<f64>().ok())
    {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{delay}s"),
        }));
    }
    json!({"error": {
        "code": error.status,
        "message": error.message,
        "status": rpc_status(error.status),
        "details": details,
    }})
    .to_string()
    .into_bytes()
}

/// The `google.rpc.Code` name Google pairs with an HTTP status.
fn rpc_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}
