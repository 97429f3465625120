//! OpenAI's error envelope, a failed response's `code`, and the events that end a relayed
//! stream with an error.

use crate::error::ApiError;
use crate::openai::ResponseMeta;
use crate::translate::Encoder;

use super::encoder::encoder;
use super::tools::ClientTools;

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

/// The events that end a Responses stream with `error` after Argo's own events were relayed
/// (the pass-through): `error`, then `response.failed` under the gateway's id and the
/// client's model, numbered on from `sequence`, as [`ResponsesEncoder`] ends a stream.
///
/// [`ResponsesEncoder`]: super::ResponsesEncoder
pub fn failure_events(meta: &ResponseMeta, error: &ApiError, sequence: u64) -> Vec<u8> {
    let mut encoder = encoder(meta, &ClientTools::default());
    encoder.sequence = sequence;
    let mut out = Vec::new();
    encoder.error(&mut out, error);
    out
}
