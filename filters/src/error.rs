//! OpenAI-format errors: `{"error": {"message", "type", "param", "code"}}` plus the HTTP status.

use serde::Serialize;

/// Declares [`ErrorCode`]: each variant with the string clients get as `code` (and metrics get
/// as a label), in two groups, so that whether a code is an Argo failure is declared with it.
macro_rules! error_codes {
    (
        gateway { $($(#[$gateway_doc:meta])* $gateway:ident = $gateway_text:literal,)* }
        upstream { $($(#[$upstream_doc:meta])* $upstream:ident = $upstream_text:literal,)* }
    ) => {
        /// Every error code the gateway sends: the client's `code` field (OpenAI's envelope,
        /// Google's `ErrorInfo.reason` upper-cased, the Responses API's `error.code`), the
        /// `kind` label of `argo_bridge_upstream_errors_total` for the upstream ones, and the
        /// `reason` label of `argo_bridge_refused_connections_total` for the front door's.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$gateway_doc])* $gateway,)*
            $($(#[$upstream_doc])* $upstream,)*
        }

        impl ErrorCode {
            /// Every code, the gateway's own first, then Argo's failures.
            pub const ALL: &'static [ErrorCode] = &[
                $(ErrorCode::$gateway,)*
                $(ErrorCode::$upstream,)*
            ];

            /// The code as clients and metrics see it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$gateway => $gateway_text,)*
                    $(ErrorCode::$upstream => $upstream_text,)*
                }
            }

            /// A failure of Argo (or of the way to it), not of the request or the gateway:
            /// what `argo_bridge_upstream_errors_total` counts.
            pub const fn is_upstream(self) -> bool {
                match self {
                    $(ErrorCode::$gateway => false,)*
                    $(ErrorCode::$upstream => true,)*
                }
            }
        }
    };
}

error_codes! {
    gateway {
        /// 401: no token, or one the token table does not know (also `/metrics`' own token).
        InvalidApiKey = "invalid_api_key",
        /// 404: no such path (or `/metrics` where the admin listener serves it).
        NotFound = "not_found",
        /// 404: no such model, or a retired one.
        ModelNotFound = "model_not_found",
        /// 405 (also CONNECT, refused by the front door).
        MethodNotAllowed = "method_not_allowed",
        /// 414 from the front door: the request target is over `limits.max_uri_bytes`.
        UriTooLong = "uri_too_long",
        /// 413: the body is over `limits.max_body_bytes`.
        RequestTooLarge = "request_too_large",
        /// 429: the user's own rate or concurrency limit.
        RateLimitExceeded = "rate_limit_exceeded",
        /// 500.
        InternalError = "internal_error",
        /// 502 without a more precise code.
        BadGateway = "bad_gateway",
        /// 400 from the front door: not valid HTTP/1.1.
        MalformedRequest = "malformed_request",
        /// 431 from the front door.
        RequestHeaderFieldsTooLarge = "request_header_fields_too_large",
        /// 408: the request head or body did not arrive in time.
        RequestTimeout = "request_timeout",
        /// 429 from the front door: too many unauthenticated connections from one address.
        TooManyConnections = "too_many_connections",
        /// 400: more prompts in one completions request than `limits.max_prompts_per_request`.
        TooManyPrompts = "too_many_prompts",
        /// 403: a browser origin `cors.allowed_origins` does not list.
        OriginNotAllowed = "origin_not_allowed",
        /// 503 from `/ready`.
        NotReady = "not_ready",
        /// 503: the gateway holds as many request bodies as its memory budget allows.
        ServerBusy = "server_busy",
        /// 400: the request body could not be read.
        BodyReadError = "body_read_error",
        /// 415: a compressed body, or one that is not JSON.
        UnsupportedMediaType = "unsupported_media_type",
        /// 499: the client closed its connection before its answer was complete.
        ClientClosed = "client_closed",
    }
    upstream {
        /// 502: Argo answered 2xx with something the gateway cannot translate.
        UpstreamInvalidAnswer = "upstream_invalid_answer",
        /// 504: Argo timed out (its own 504 or timeout error), or sent nothing for
        /// `upstream.read_timeout_ms`.
        UpstreamTimeout = "upstream_timeout",
        /// 400: Argo refused the request itself (400, 413, 422).
        UpstreamRejected = "upstream_rejected",
        /// 502: Argo answered another non-2xx status.
        UpstreamBadStatus = "upstream_bad_status",
        /// 429: Argo is rate limiting.
        UpstreamRateLimited = "upstream_rate_limited",
        /// 403: Argo does not know the username (its authentication notice).
        UpstreamUserNotRegistered = "upstream_user_not_registered",
        /// 503: the model is overloaded on Argo's side.
        UpstreamOverloaded = "upstream_overloaded",
        /// 502: Argo reported an error inside a stream or a 2xx body.
        UpstreamStreamError = "upstream_stream_error",
        /// 502: Argo's stream ended before the answer did.
        UpstreamTruncated = "upstream_truncated",
        /// 504: the whole Argo call took longer than `upstream.total_timeout_ms`.
        UpstreamTotalTimeout = "upstream_total_timeout",
        /// 504: no connection to Argo in time.
        UpstreamConnectTimeout = "upstream_connect_timeout",
        /// 504: Argo's answer head did not arrive in time.
        UpstreamHeadTimeout = "upstream_head_timeout",
        /// 504: the request could not be written to Argo in time.
        UpstreamWriteTimeout = "upstream_write_timeout",
        /// 502: Argo refused or reset the connection.
        UpstreamUnreachable = "upstream_unreachable",
        /// 502: the TLS handshake with Argo failed.
        UpstreamTlsError = "upstream_tls_error",
        /// 502: Argo's answer stopped part-way.
        UpstreamCutOff = "upstream_cut_off",
        /// 503: the gateway holds as many large Argo answers as its memory budget allows.
        UpstreamAnswersOverBudget = "upstream_answers_over_budget",
        /// 502: Argo's host name has not resolved yet (the message names the environment).
        UpstreamUnresolved = "upstream_unresolved",
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An error as the client sees it. Every failure the gateway reports goes through this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<ErrorCode>,
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
    code: Option<ErrorCode>,
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

    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 `invalid_request_error`, naming the offending field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", message).with_param(param)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "invalid_request_error", message).with_code(ErrorCode::InvalidApiKey)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "invalid_request_error", message).with_code(ErrorCode::NotFound)
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
        .with_code(ErrorCode::ModelNotFound)
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
        .with_code(ErrorCode::MethodNotAllowed)
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            format!("Request body is larger than the gateway limit of {limit} bytes"),
        )
        .with_code(ErrorCode::RequestTooLarge)
    }

    /// The upstream answered, but not in a way the client can use (5xx, garbage, refused).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, "upstream_error", message).with_code(ErrorCode::BadGateway)
    }

    /// Argo answered 2xx, but with something the gateway cannot translate.
    pub fn invalid_answer(message: impl Into<String>) -> Self {
        Self::bad_gateway(message).with_code(ErrorCode::UpstreamInvalidAnswer)
    }

    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(504, "upstream_error", message).with_code(ErrorCode::UpstreamTimeout)
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(429, "rate_limit_error", message).with_code(ErrorCode::RateLimitExceeded)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "server_error", message).with_code(ErrorCode::InternalError)
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

    /// Every code as clients and dashboards knew it before codes were an enum, in the enum's
    /// order: a renamed or dropped code is a change clients see.
    const CODES_ON_THE_WIRE: [&str; 38] = [
        "invalid_api_key",
        "not_found",
        "model_not_found",
        "method_not_allowed",
        "uri_too_long",
        "request_too_large",
        "rate_limit_exceeded",
        "internal_error",
        "bad_gateway",
        "malformed_request",
        "request_header_fields_too_large",
        "request_timeout",
        "too_many_connections",
        "too_many_prompts",
        "origin_not_allowed",
        "not_ready",
        "server_busy",
        "body_read_error",
        "unsupported_media_type",
        "client_closed",
        "upstream_invalid_answer",
        "upstream_timeout",
        "upstream_rejected",
        "upstream_bad_status",
        "upstream_rate_limited",
        "upstream_user_not_registered",
        "upstream_overloaded",
        "upstream_stream_error",
        "upstream_truncated",
        "upstream_total_timeout",
        "upstream_connect_timeout",
        "upstream_head_timeout",
        "upstream_write_timeout",
        "upstream_unreachable",
        "upstream_tls_error",
        "upstream_cut_off",
        "upstream_answers_over_budget",
        "upstream_unresolved",
    ];

    #[test]
    fn codes_are_the_strings_clients_got_before() {
        let strings: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(strings, CODES_ON_THE_WIRE);
        let unique: std::collections::BTreeSet<&str> = strings.iter().copied().collect();
        assert_eq!(unique.len(), strings.len(), "no two codes share a string");
        for &code in ErrorCode::ALL {
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn upstream_codes_are_the_upstream_named_ones() {
        for &code in ErrorCode::ALL {
            assert_eq!(
                code.is_upstream(),
                code.as_str().starts_with("upstream_"),
                "{code}"
            );
        }
        assert_eq!(
            ErrorCode::ALL
                .iter()
                .filter(|code| code.is_upstream())
                .count(),
            18
        );
    }

    #[test]
    fn the_envelope_carries_the_codes_string() {
        let json: serde_json::Value =
            serde_json::from_slice(&ApiError::model_not_found("gpt-9").to_json()).unwrap();
        assert_eq!(json["error"]["code"], "model_not_found");
        let json: serde_json::Value =
            serde_json::from_slice(&from_argo_status(503, b"", None).to_json()).unwrap();
        assert_eq!(json["error"]["code"], "upstream_bad_status");
    }

    #[test]
    fn long_model_names_are_truncated() {
        let err = ApiError::model_not_found(&"x".repeat(5000));
        assert!(err.message.len() < 300);
        assert_eq!(err.code, Some(ErrorCode::ModelNotFound));
    }
}

/// Maps a non-2xx Argo answer to what the client gets: 429 passes through, Argo refusing the
/// request itself (400/413/422) stays a client error, everything else is a bad gateway.
///
/// Argo's own words reach the client only for 4xx, where they say what to fix, and then
/// through [`scrub_internal_details`]. For 5xx and other statuses Argo's text may name its
/// hosts, addresses and code, so the client gets a generic message; the operator finds
/// Argo's answer by the request id ([`argo_error_detail`] gives it for the log).
pub fn from_argo_status(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    match status {
        429 => rate_limited_by_argo(body, retry_after),
        400 | 413 | 422 => ApiError::new(
            400,
            "invalid_request_error",
            format!("Argo rejected the request: {}", client_detail(body)),
        )
        .with_code(ErrorCode::UpstreamRejected),
        504 => ApiError::gateway_timeout(format!(
            "Argo timed out (HTTP 504); this is on Argo's side, try again later or with a shorter request. {OPERATOR_HINT}"
        )),
        400..=499 => ApiError::bad_gateway(format!(
            "Argo answered with status {status}: {}",
            client_detail(body)
        ))
        .with_code(ErrorCode::UpstreamBadStatus),
        500..=599 => ApiError::bad_gateway(format!(
            "Argo answered with an internal error (HTTP {status}); this is on Argo's side, try again later. {OPERATOR_HINT}"
        ))
        .with_code(ErrorCode::UpstreamBadStatus),
        _ => ApiError::bad_gateway(format!(
            "Argo answered with an unexpected status (HTTP {status}); try again later. {OPERATOR_HINT}"
        ))
        .with_code(ErrorCode::UpstreamBadStatus),
    }
}

const OPERATOR_HINT: &str =
    "The request id in the x-request-id header helps the operator find the details.";

fn rate_limited_by_argo(body: &[u8], retry_after: Option<&str>) -> ApiError {
    let detail = client_detail(body);
    let mut error = ApiError::rate_limited(match retry_after {
        Some(seconds) => {
            format!("Argo is rate limiting requests; retry after {seconds} s. {detail}")
        }
        None => format!("Argo is rate limiting requests; retry shortly. {detail}"),
    });
    error.retry_after = retry_after.map(str::to_string);
    error.with_code(ErrorCode::UpstreamRateLimited)
}

/// Argo's explanation as a client may see it: scrubbed, one line, short.
fn client_detail(body: &[u8]) -> String {
    let detail = printable_detail(&scrub_internal_details(&raw_detail(body)));
    if detail.is_empty() {
        "no details given".to_string()
    } else {
        detail
    }
}

/// A short, printable description from an Argo error body (JSON `error`/`detail`/`message`
/// or plain text), as Argo wrote it: for the operator's log, not for clients.
pub fn argo_error_detail(body: &[u8]) -> String {
    let detail = printable_detail(&raw_detail(body));
    if detail.is_empty() {
        "no details given".to_string()
    } else {
        detail
    }
}

/// The message in an Argo error body, lines intact.
fn raw_detail(body: &[u8]) -> String {
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
    let detail = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    head_of(&detail, MAX_DETAIL_BYTES).to_string()
}

/// Enough of an error body for the 300 characters shown, after stack traces are dropped.
const MAX_DETAIL_BYTES: usize = 8 * 1024;

/// The first `max` bytes of `text`, cut back to the end of a token so that no address is cut
/// in half where the scrubber would no longer recognise it.
fn head_of(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    head.rfind(|c| !is_token_char(c))
        .map_or("", |at| &head[..at])
}

/// Lines joined by a space, control characters dropped, cut to 300 characters.
fn printable_detail(detail: &str) -> String {
    let joined = detail
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let printable: String = joined.chars().filter(|c| !c.is_control()).collect();
    truncate_to(&printable, 300)
}

/// Removes from an upstream message what would tell a client about the inside of Argo:
/// stack traces (a Python `Traceback` with its `File "...", line N` frames and code lines,
/// Java/JavaScript `at pkg.fn(...)` frames), and every IPv4/IPv6 address (with or without
/// port), URL, and host name in a known public or internal domain, each replaced by
/// `[redacted]`. Everything else, the part users need to fix a request, is kept.
pub fn scrub_internal_details(text: &str) -> String {
    without_stack_traces(text)
        .lines()
        .map(redact_addresses)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Drops stack-trace lines. A `Traceback` runs until the first line that is not indented (the
/// exception itself), which is kept; text before `Traceback` on its line is kept too.
fn without_stack_traces(text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_traceback = false;
    for line in text.lines() {
        if in_traceback && (line.starts_with(char::is_whitespace) || line.is_empty()) {
            continue;
        }
        in_traceback = false;
        if let Some(at) = line.find("Traceback") {
            kept.push(&line[..at]);
            in_traceback = true;
        } else if !is_stack_frame(line.trim()) {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// `File "/app/server.py", line 12, in main`, `at com.example.Server.handle(Server.java:42)`
/// or `at processTicks (node:internal/process:95:5)`; `at least one (see docs)` is not.
fn is_stack_frame(line: &str) -> bool {
    let python = line.starts_with("File \"") && line.contains("\", line ");
    let jvm_or_js = line.strip_prefix("at ").is_some_and(|frame| {
        let frame = frame
            .trim_start_matches("async ")
            .trim_start_matches("new ");
        let name = frame.split('(').next().unwrap_or_default().trim();
        frame.contains('(')
            && frame.ends_with(')')
            && !name.is_empty()
            && !name.contains(char::is_whitespace)
    });
    python || jvm_or_js
}

/// Replaces addresses, URLs and host names in one line by `[redacted]`.
fn redact_addresses(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        let (token, after) = rest.split_at(end);
        // Sentence punctuation after an address is not part of it.
        let core = token.trim_end_matches(['.', ',', ':', ';', '!', '?']);
        if is_internal_detail(core) {
            out.push_str("[redacted]");
            out.push_str(&token[core.len()..]);
        } else {
            out.push_str(token);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Characters of an address, URL or host name token.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-:/[]%@?=&#~+".contains(c)
}

fn is_internal_detail(token: &str) -> bool {
    token.contains("://")
        || token
            .split(['/', '@', '=', '?', '&', '#'])
            .any(|part| is_address(part) || is_host_name(part))
}

/// An IPv4 or IPv6 address, with or without port (`10.2.3.4:8443`, `[fe80::1]:443`).
fn is_address(text: &str) -> bool {
    use std::net::{IpAddr, SocketAddr};
    let unzoned = text.split('%').next().unwrap_or_default();
    let unbracketed = unzoned.trim_start_matches('[').trim_end_matches(']');
    text.parse::<SocketAddr>().is_ok()
        || unbracketed.parse::<IpAddr>().is_ok()
        || text.rsplit_once(':').is_some_and(|(host, port)| {
            host.parse::<std::net::Ipv4Addr>().is_ok() && port.parse::<u16>().is_ok()
        })
}

/// A dotted host name (optionally with port) ending in a top-level domain that Argo's
/// hosts or the sites they talk to use: `argo-worker-7.inside.anl.gov`, `db.svc:5432`.
/// Dotted words that are not host names (`messages.0.content`, `server.py`) are kept.
fn is_host_name(text: &str) -> bool {
    const DOMAINS: [&str; 17] = [
        "gov",
        "edu",
        "com",
        "net",
        "org",
        "io",
        "ai",
        "us",
        "local",
        "localdomain",
        "internal",
        "intranet",
        "lan",
        "corp",
        "home",
        "arpa",
        "svc",
    ];
    let host = match text.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => text,
    };
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| is_host_label(label))
        && labels
            .last()
            .is_some_and(|tld| DOMAINS.contains(&tld.to_ascii_lowercase().as_str()))
}

fn is_host_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
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
        assert!(from_argo_status(400, &[b'x'; 10_000], None).message.len() < 400);
    }

    const LEAKY_500: &[u8] = b"upstream connect error to 10.2.3.4:8443 (argo-worker-7.inside.anl.gov): Traceback (most recent call last): File \"/app/server.py\", line 12";

    fn assert_leaks_nothing(message: &str) {
        for secret in [
            "10.2.3.4",
            "8443",
            "argo-worker-7",
            "inside.anl.gov",
            "Traceback",
            "/app/server.py",
            "line 12",
        ] {
            assert!(!message.contains(secret), "{secret:?} leaked: {message}");
        }
    }

    #[test]
    fn server_errors_keep_their_status_and_code_but_not_argos_text() {
        for (status, client_status, code) in [
            (500, 502, ErrorCode::UpstreamBadStatus),
            (502, 502, ErrorCode::UpstreamBadStatus),
            (503, 502, ErrorCode::UpstreamBadStatus),
            (504, 504, ErrorCode::UpstreamTimeout),
            (302, 502, ErrorCode::UpstreamBadStatus),
        ] {
            let error = from_argo_status(status, LEAKY_500, None);
            assert_eq!((error.status, error.code), (client_status, Some(code)));
            assert_eq!(error.kind, "upstream_error");
            assert_leaks_nothing(&error.message);
            assert!(
                error.message.contains(&format!("HTTP {status}")),
                "{}",
                error.message
            );
            assert!(error.message.contains("x-request-id"), "{}", error.message);
        }
        let error = from_argo_status(500, LEAKY_500, None);
        assert_eq!(
            error.message,
            "Argo answered with an internal error (HTTP 500); this is on Argo's side, try again later. The request id in the x-request-id header helps the operator find the details."
        );
    }

    #[test]
    fn argo_validation_messages_reach_the_client() {
        let error = from_argo_status(400, br#"{"error":"max_tokens must be <= 21000"}"#, None);
        assert_eq!(
            (error.status, error.code),
            (400, Some(ErrorCode::UpstreamRejected))
        );
        assert_eq!(
            error.message,
            "Argo rejected the request: max_tokens must be <= 21000"
        );
        let unprocessable = from_argo_status(
            422,
            br#"{"detail":"messages.0.content: Input should be a valid string"}"#,
            None,
        );
        assert!(unprocessable
            .message
            .ends_with("messages.0.content: Input should be a valid string"));
        let limited = from_argo_status(429, b"quota of 100 requests per minute exceeded", None);
        assert!(limited
            .message
            .ends_with("quota of 100 requests per minute exceeded"));
    }

    #[test]
    fn addresses_and_traces_in_client_errors_are_scrubbed() {
        let error = from_argo_status(
            400,
            br#"{"error":"prompt too long for worker 10.2.3.4:8443 (argo-worker-7.inside.anl.gov)"}"#,
            None,
        );
        assert_eq!(
            error.message,
            "Argo rejected the request: prompt too long for worker [redacted] ([redacted])"
        );
        let traced = "Invalid model\nTraceback (most recent call last):\n  File \"/app/server.py\", line 12, in handle\n    check(model)\nValueError: unknown model gpt-9";
        let error = from_argo_status(422, traced.as_bytes(), None);
        assert_eq!(
            error.message,
            "Argo rejected the request: Invalid model ValueError: unknown model gpt-9"
        );
        assert_leaks_nothing(&from_argo_status(413, LEAKY_500, None).message);
        assert_leaks_nothing(&from_argo_status(429, LEAKY_500, Some("3")).message);
        assert_leaks_nothing(&from_argo_status(403, LEAKY_500, None).message);
    }

    #[test]
    fn the_operator_still_gets_argos_own_words() {
        let detail = argo_error_detail(LEAKY_500);
        assert!(detail.contains("10.2.3.4:8443") && detail.contains("Traceback"));
        assert_eq!(argo_error_detail(b"  "), "no details given");
    }

    #[test]
    fn scrubbing_redacts_every_kind_of_address() {
        for (text, scrubbed) in [
            ("connect to 10.2.3.4 failed", "connect to [redacted] failed"),
            ("connect to 10.2.3.4:8443.", "connect to [redacted]."),
            ("peer [fe80::1%eth0]:443 reset", "peer [redacted] reset"),
            ("peer 2001:db8::7 reset", "peer [redacted] reset"),
            (
                "see https://argo.inside/x?y=1, then",
                "see [redacted], then",
            ),
            ("db.svc:5432 refused", "[redacted] refused"),
            ("host=argo-worker-7.inside.anl.gov", "[redacted]"),
            ("mail ops@anl.gov", "mail [redacted]"),
            ("\"url\": \"http://10.0.0.1/v1\"", "\"url\": \"[redacted]\""),
        ] {
            assert_eq!(scrub_internal_details(text), scrubbed, "{text}");
        }
    }

    #[test]
    fn scrubbing_keeps_what_only_resembles_an_address() {
        for text in [
            "max_tokens must be <= 21000",
            "messages.0.content is required",
            "at 12:30:45 the limit of 1.5 requests/s was hit",
            "gemini-2.5-pro does not take tools, e.g. in server.py",
            "at least one message is required (see the docs)",
            "temperature must be in [0, 2]",
        ] {
            assert_eq!(scrub_internal_details(text), text);
        }
    }

    #[test]
    fn scrubbing_drops_stack_frames_of_any_language() {
        let java = "Bad request\n\tat com.example.Server.handle(Server.java:42)\n\tat java.base/java.lang.Thread.run(Thread.java:833)";
        assert_eq!(scrub_internal_details(java), "Bad request");
        let node = "TypeError: x is undefined\n    at Object.<anonymous> (/app/index.js:10:5)\n    at processTicks (node:internal/process:95:5)\n    at async Promise.all (index 0)";
        assert_eq!(scrub_internal_details(node), "TypeError: x is undefined");
        let python = "Traceback (most recent call last):\n  File \"/app/server.py\", line 12, in <module>\n    main()\nKeyError: 'messages'";
        assert_eq!(scrub_internal_details(python), "\nKeyError: 'messages'");
    }

    #[test]
    fn long_bodies_are_cut_between_tokens_before_scrubbing() {
        // The address straddles the cut: its first four bytes fall inside.
        let body = format!("{} 10.2.3.4 end", "x".repeat(MAX_DETAIL_BYTES - 5));
        assert_eq!(&body[MAX_DETAIL_BYTES - 4..MAX_DETAIL_BYTES], "10.2");
        let detail = raw_detail(body.as_bytes());
        assert!(detail.len() <= MAX_DETAIL_BYTES);
        assert!(!detail.contains("10.2"), "no half address survives the cut");
    }
}
