//! OpenAI's error envelope and a failed response's `code`.

use crate::error::ApiError;

/// The `code` of a failed response's `error`, from the codes OpenAI documents there: clients
/// such as Codex retry `rate_limit_exceeded` after a delay.
pub(super) fn failed_code(error: &ApiError) -> &'static str {
    match error.status {
        429 => "rate_limit_exceeded",
        _ => "server_error",
    }
}

/// OpenAI's error envelope, which the Responses API uses too.
pub fn error_json(error: &ApiError) -> Vec<u8> {
    error.to_json()
}
