//! OpenAI-format errors: `{"error": {"message", "type", "param", "code"}}` plus the HTTP status.

use serde::Serialize;

/// An error as the client sees it. Every failure the gateway reports goes through this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<String>,
    /// What went wrong, for the operator's log; never sent to the client. Boxed so that
    /// `Result<_, ApiError>` stays under clippy's `result_large_err` threshold (128 bytes).
    pub cause: Option<Box<String>>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
            cause: None,
        }
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(Box::new(cause.into()));
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 `invalid_request_error`, naming the offending field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", message).with_param(param)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "invalid_request_error", message).with_code("invalid_api_key")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "invalid_request_error", message).with_code("not_found")
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            format!(
                "The model `{}` does not exist or is not served by this gateway. GET /v1/models lists the available models.",
                truncate_for_message(model)
            ),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "invalid_request_error",
            format!(
                "Method {method} is not allowed on {}",
                truncate_for_message(path)
            ),
        )
        .with_code("method_not_allowed")
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            format!("Request body is larger than the gateway limit of {limit} bytes"),
        )
        .with_code("request_too_large")
    }

    /// The upstream answered, but not in a way the client can use (5xx, garbage, refused).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, "upstream_error", message).with_code("bad_gateway")
    }

    /// Argo answered 2xx, but with something the gateway cannot translate.
    pub fn invalid_answer(message: impl Into<String>) -> Self {
        Self::bad_gateway(message).with_code("upstream_invalid_answer")
    }

    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(504, "upstream_error", message).with_code("upstream_timeout")
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(429, "rate_limit_error", message).with_code("rate_limit_exceeded")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "server_error", message).with_code("internal_error")
    }

    pub fn to_json(&self) -> Vec<u8> {
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{\"error\":{}}".to_vec())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Client-supplied strings echoed in messages are cut short so an error never balloons.
pub fn truncate_for_message(text: &str) -> String {
    truncate_to(text, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_all_four_fields() {
        let json: serde_json::Value =
            serde_json::from_slice(&ApiError::invalid("messages", "bad").to_json()).unwrap();
        assert_eq!(json["error"]["message"], "bad");
        assert_eq!(json["error"]["type"], "invalid_request_error");
        assert_eq!(json["error"]["param"], "messages");
        assert!(json["error"]["code"].is_null());
    }

    #[test]
    fn long_model_names_are_truncated() {
        let err = ApiError::model_not_found(&"x".repeat(5000));
        assert!(err.message.len() < 300);
        assert_eq!(err.code, Some("model_not_found"));
    }
}

/// Maps a non-2xx Argo answer to what the client gets: 429 passes through, Argo refusing the
/// request itself (400/413/422) stays a client error, everything else is a bad gateway.
pub fn from_argo_status(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let detail = argo_error_detail(body);
    match status {
        429 => {
            let mut error = ApiError::rate_limited(match retry_after {
                Some(seconds) => {
                    format!("Argo is rate limiting requests; retry after {seconds} s. {detail}")
                }
                None => format!("Argo is rate limiting requests; retry shortly. {detail}"),
            });
            error.retry_after = retry_after.map(str::to_string);
            error.with_code("upstream_rate_limited")
        }
        400 | 413 | 422 => ApiError::new(
            400,
            "invalid_request_error",
            format!("Argo rejected the request: {detail}"),
        )
        .with_code("upstream_rejected"),
        504 => ApiError::gateway_timeout(format!("Argo timed out (504): {detail}")),
        _ => ApiError::bad_gateway(format!("Argo answered with status {status}: {detail}"))
            .with_code("upstream_bad_status"),
    }
}

/// A short, printable description from an Argo error body (JSON `error`/`detail`/`message`
/// or plain text).
fn argo_error_detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            ["error", "detail", "message"]
                .iter()
                .find_map(|key| match json.get(key)? {
                    serde_json::Value::String(message) => Some(message.clone()),
                    serde_json::Value::Object(inner) => inner
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string),
                    other => Some(other.to_string()),
                })
        });
    let detail = from_json.unwrap_or_else(|| text.trim().to_string());
    let detail: String = detail.chars().filter(|c| !c.is_control()).collect();
    if detail.is_empty() {
        "no details given".to_string()
    } else {
        truncate_to(&detail, 300)
    }
}

fn truncate_to(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod argo_status_tests {
    use super::*;

    #[test]
    fn argo_statuses_map_to_actionable_errors() {
        let limited = from_argo_status(429, b"slow down", Some("7"));
        assert_eq!((limited.status, limited.kind), (429, "rate_limit_error"));
        assert!(
            limited.message.contains("retry after 7 s") && limited.message.contains("slow down")
        );
        assert_eq!(limited.retry_after.as_deref(), Some("7"));
        let rejected = from_argo_status(400, br#"{"error":"prompt too long"}"#, None);
        assert_eq!(rejected.status, 400);
        assert!(rejected.message.ends_with("prompt too long"));
        assert_eq!(
            from_argo_status(503, b"<html>busy</html>", None).status,
            502
        );
        assert_eq!(from_argo_status(504, b"", None).status, 504);
        assert!(from_argo_status(500, &[b'x'; 10_000], None).message.len() < 400);
    }
}
