//! Downstream helpers: bounded body reads and JSON responses.

use std::sync::Arc;
use std::time::Duration;

use argo_filters::error::ErrorCode;
use argo_filters::ApiError;
use bytes::{Bytes, BytesMut};
use http::header::HeaderValue;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use pingora_timeout::fast_timeout::fast_timeout;

use crate::limits::budget::{Reservation, SharedBudget};

/// What bounds a request body: its size, its total time, and the process-wide budget of
/// bodies held in memory, of which its holder (the user, or the address of a client without a
/// token of its own) may take a share.
pub struct BodyLimits<'a> {
    pub max_bytes: usize,
    pub total_time: Duration,
    pub budget: &'a Arc<SharedBudget>,
    pub holder: &'a str,
}

/// Reads the whole request body within `limits`: 413 past the size, 408 past the time, 503
/// (with Retry-After) when the process already holds its budget of bodies, or the holder its
/// share of it. A declared length is reserved before anything is read: a body that would not
/// fit is refused before the client sends it. The reservation travels with the body; dropping
/// it gives the bytes back to the budget.
pub async fn read_body(
    session: &mut Session,
    limits: &BodyLimits<'_>,
) -> Result<(Bytes, Reservation), ApiError> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > limits.max_bytes) {
        refuse_rest_of_body(session);
        return Err(ApiError::body_too_large(limits.max_bytes));
    }
    let Some(mut reservation) = limits.budget.reserve(limits.holder, declared.unwrap_or(0)) else {
        refuse_rest_of_body(session);
        return Err(bodies_over_budget());
    };
    let read = read_chunks(session, limits.max_bytes, declared, &mut reservation);
    match fast_timeout(limits.total_time, read).await {
        Ok(Ok(body)) => Ok((body, reservation)),
        Ok(Err(error)) => Err(error),
        Err(_) => {
            session.set_keepalive(None);
            Err(body_too_slow())
        }
    }
}

async fn read_chunks(
    session: &mut Session,
    limit: usize,
    declared: Option<usize>,
    reservation: &mut Reservation,
) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024));
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    refuse_rest_of_body(session);
                    return Err(ApiError::body_too_large(limit));
                }
                let unreserved = (body.len() + chunk.len()).saturating_sub(reservation.bytes());
                if !reservation.grow(unreserved) {
                    refuse_rest_of_body(session);
                    return Err(bodies_over_budget());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                session.set_keepalive(None);
                return Err(body_read_error(&e));
            }
        }
    }
}

pub(crate) fn bodies_over_budget() -> ApiError {
    let mut error = ApiError::new(
        503,
        "server_error",
        "The gateway is holding as many request bodies as it may; retry in a moment",
    )
    .with_code(ErrorCode::ServerBusy);
    error.retry_after = Some("1".into());
    error
}

fn body_too_slow() -> ApiError {
    ApiError::new(
        408,
        "invalid_request_error",
        "The request body did not arrive in time",
    )
    .with_code(ErrorCode::RequestTimeout)
}

fn body_read_error(error: &pingora_error::Error) -> ApiError {
    if error.etype() == &pingora_error::ErrorType::ReadTimedout {
        body_too_slow()
    } else {
        ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "Could not read the request body: {}",
                error.etype().as_str()
            ),
        )
        .with_code(ErrorCode::BodyReadError)
    }
}

/// Only uncompressed JSON bodies are accepted; saying so up front beats a confusing parse error.
pub fn require_json(session: &Session) -> Result<(), ApiError> {
    let encoding = session
        .req_header()
        .headers
        .get("content-encoding")
        .map(|value| value.as_bytes().trim_ascii());
    if encoding.is_some_and(|encoding| !encoding.eq_ignore_ascii_case(b"identity")) {
        return Err(ApiError::new(
            415,
            "invalid_request_error",
            "Send the request body uncompressed: `Content-Encoding` is not supported",
        )
        .with_param("Content-Encoding")
        .with_code(ErrorCode::UnsupportedMediaType));
    }
    let content_type = session
        .req_header()
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type == "application/json" || media_type.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::new(
            415,
            "invalid_request_error",
            "Send the request body as JSON with `Content-Type: application/json`",
        )
        .with_param("Content-Type")
        .with_code(ErrorCode::UnsupportedMediaType))
    }
}

/// After refusing a body mid-way the connection cannot be reused: closing beats draining megabytes.
fn refuse_rest_of_body(session: &mut Session) {
    session.set_keepalive(None);
}

pub async fn send_json(
    session: &mut Session,
    status: u16,
    body: Vec<u8>,
    request_id: &str,
    extra: &[(&'static str, String)],
) {
    send_body(session, status, "application/json", body, request_id, extra).await
}

/// A whole response with a known length. A client gone before the end is only logged.
pub async fn send_body(
    session: &mut Session,
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    request_id: &str,
    extra: &[(&'static str, String)],
) {
    let result = async {
        let mut header = response_head(status, 3 + extra.len())?;
        header.insert_header("content-type", HeaderValue::from_static(content_type))?;
        header.insert_header("content-length", HeaderValue::from(body.len()))?;
        header.insert_header("x-request-id", request_id)?;
        for (name, value) in extra {
            header.insert_header(*name, value.as_str())?;
        }
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await
    }
    .await;
    if let Err(e) = result {
        log::debug!("request {request_id}: client went away before the response was written: {e}");
    }
}

/// A response head without Pingora's map of each header name's spelling, whose inserts showed
/// in every request's profile: Pingora then writes the common names title-cased
/// (`Content-Type`) and the others in lower case (`x-request-id`); HTTP/1.1 names are
/// case-insensitive. Names are best given as lower-case `&'static str`: they are then neither
/// copied nor folded.
pub fn response_head(status: u16, headers: usize) -> pingora_error::Result<ResponseHeader> {
    ResponseHeader::build_no_case(status, Some(headers))
}

pub async fn send_error(
    session: &mut Session,
    error: &ApiError,
    body: Vec<u8>,
    request_id: &str,
    headers: &[(&'static str, String)],
) {
    let mut extra = headers.to_vec();
    if error.status == 401 {
        extra.push(("www-authenticate", "Bearer".to_string()));
    }
    if let Some(seconds) = &error.retry_after {
        extra.push(("retry-after", seconds.clone()));
    }
    send_json(session, error.status, body, request_id, &extra).await;
}
