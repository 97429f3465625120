//! Downstream helpers: bounded body reads and JSON responses.

use argo_filters::ApiError;
use bytes::{Bytes, BytesMut};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

/// Reads the whole request body, refusing it with 413 as soon as it passes `limit`.
pub async fn read_body(session: &mut Session, limit: usize) -> Result<Bytes, ApiError> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        refuse_rest_of_body(session);
        return Err(ApiError::body_too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024));
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    refuse_rest_of_body(session);
                    return Err(ApiError::body_too_large(limit));
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

fn body_read_error(error: &pingora_error::Error) -> ApiError {
    if error.etype() == &pingora_error::ErrorType::ReadTimedout {
        ApiError::new(
            408,
            "invalid_request_error",
            "The request body arrived too slowly",
        )
        .with_code("request_timeout")
    } else {
        ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "Could not read the request body: {}",
                error.etype().as_str()
            ),
        )
        .with_code("body_read_error")
    }
}

/// Only JSON bodies are accepted; saying so up front beats a confusing parse error.
pub fn require_json(session: &Session) -> Result<(), ApiError> {
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
        .with_code("unsupported_media_type"))
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
    content_type: &str,
    body: Vec<u8>,
    request_id: &str,
    extra: &[(&'static str, String)],
) {
    let result = async {
        let mut header = ResponseHeader::build(status, Some(4 + extra.len()))?;
        header.insert_header("Content-Type", content_type)?;
        header.insert_header("Content-Length", body.len().to_string())?;
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

pub async fn send_error(
    session: &mut Session,
    error: &ApiError,
    request_id: &str,
    headers: &[(&'static str, String)],
) {
    let mut extra = headers.to_vec();
    if error.status == 401 {
        extra.push(("WWW-Authenticate", "Bearer".to_string()));
    }
    if let Some(seconds) = &error.retry_after {
        extra.push(("Retry-After", seconds.clone()));
    }
    send_json(session, error.status, error.to_json(), request_id, &extra).await;
}
