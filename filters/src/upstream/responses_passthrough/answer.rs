//! The way down for one answer: Argo's `response` object with the gateway's id and the
//! client's model, its usage, its error.

use std::ops::Range;

use serde::Deserialize;

use crate::error::ApiError;
use crate::hub::Usage;
use crate::notice;
use crate::openai::ResponseMeta;
use crate::stream::json_string;
use crate::tools::namespaces::Namespaces;
use crate::upstream::passthrough::walk_object;
use crate::upstream::upstream_error;

use super::tools::calls_for_client;

/// The response's id and model as JSON strings, and the meta the gateway's own closing events
/// are written with.
#[derive(Debug)]
pub(super) struct Identity {
    id: String,
    pub(super) model: String,
    pub(super) meta: ResponseMeta,
}

impl Identity {
    pub(super) fn new(meta: &ResponseMeta) -> Self {
        Identity {
            id: json_string(&meta.id),
            model: json_string(&meta.model),
            meta: meta.clone(),
        }
    }
}

/// Argo's `response` object for the client: its id and model the gateway's and the client's,
/// the usage Argo reported back for the gateway. Argo's notice and an error are errors.
pub fn relay_answer(
    body: &[u8],
    meta: &ResponseMeta,
    namespaces: &Namespaces,
) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
    let not_json = || ApiError::invalid_answer("Argo returned a response that is not valid JSON");
    let mut response = Response::default();
    if !walk_object(body, |key, span| response.take(key, span)) {
        if notice::is_notice(body) {
            return Err(notice::unregistered_user());
        }
        return Err(not_json());
    }
    let output = response.output.clone().map(|span| &body[span]);
    // The notice is the whole answer; a response may echo long instructions before it.
    if notice::is_notice(body) || output.is_some_and(notice::is_notice) {
        return Err(notice::unregistered_user());
    }
    if let Some(error) = present(body, &response.error) {
        return Err(error_of(error, b"error"));
    }
    if output.is_none() {
        return Err(ApiError::invalid_answer(
            "Argo returned a response without output",
        ));
    }
    let usage = present(body, &response.usage).and_then(read_usage);
    let mut out = Vec::with_capacity(body.len() + meta.id.len() + meta.model.len());
    let output = output.and_then(|output| calls_for_client(output, namespaces));
    response.rewrite(body, 0, &Identity::new(meta), output.as_deref(), &mut out);
    Ok((out, usage))
}

/// The members of a `response` object the relay reads or rewrites.
#[derive(Debug, Default)]
pub(super) struct Response {
    id: Option<Range<usize>>,
    model: Option<Range<usize>>,
    pub(super) output: Option<Range<usize>>,
    pub(super) usage: Option<Range<usize>>,
    pub(super) error: Option<Range<usize>>,
}

impl Response {
    pub(super) fn take(&mut self, key: &[u8], span: Range<usize>) {
        let slot = match key {
            b"id" => &mut self.id,
            b"model" => &mut self.model,
            b"output" => &mut self.output,
            b"usage" => &mut self.usage,
            b"error" => &mut self.error,
            _ => return,
        };
        *slot = Some(span);
    }

    /// `json` with the id and model (found at `offset` within it) replaced by `identity`'s,
    /// and the output by `output` when there is one.
    pub(super) fn rewrite(
        &self,
        json: &[u8],
        offset: usize,
        identity: &Identity,
        output: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        let shift = |span: &Option<Range<usize>>| {
            span.clone()
                .map(|span| span.start + offset..span.end + offset)
        };
        let mut replacements = [
            (shift(&self.id), identity.id.as_bytes()),
            (shift(&self.model), identity.model.as_bytes()),
            (output.and(shift(&self.output)), output.unwrap_or_default()),
        ];
        replacements.sort_by_key(|(span, _)| span.as_ref().map_or(0, |span| span.start));
        let mut copied = 0;
        for (span, value) in replacements {
            if let Some(span) = span {
                out.extend_from_slice(&json[copied..span.start]);
                out.extend_from_slice(value);
                copied = span.end;
            }
        }
        out.extend_from_slice(&json[copied..]);
    }
}

pub(super) fn present<'a>(json: &'a [u8], span: &Option<Range<usize>>) -> Option<&'a [u8]> {
    span.clone()
        .map(|span| &json[span])
        .filter(|value| *value != b"null")
}

/// An error Argo reported in a body or an event: `{"code", "message"}` (a failed response's
/// `error`, an `error` event), maybe wrapped in `{"error": {...}}`; `kind` names it when it
/// carries no code.
pub(super) fn error_of(raw: &[u8], kind: &[u8]) -> ApiError {
    #[derive(Default, Deserialize)]
    struct Reported {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<Box<Reported>>,
    }
    let mut reported: Reported = serde_json::from_slice(raw).unwrap_or_default();
    if let Some(inner) = reported.error.take() {
        reported = *inner;
    }
    let code = reported.code.as_ref().and_then(serde_json::Value::as_str);
    // An `error` event's own `type` is `error`: its code says more.
    let kind = code
        .or(reported.kind.as_deref().filter(|kind| *kind != "error"))
        .unwrap_or(std::str::from_utf8(kind).unwrap_or("error"));
    upstream_error(
        kind,
        reported.message.as_deref().unwrap_or("no details given"),
    )
}

/// The Responses usage object (`input_tokens`, `output_tokens`,
/// `input_tokens_details.cached_tokens`, which may be null); `None` when it is not an object
/// or a count is not a whole number.
pub(super) fn read_usage(raw: &[u8]) -> Option<Usage> {
    let number = |value: &[u8]| -> Option<u64> { std::str::from_utf8(value).ok()?.parse().ok() };
    let mut usage = Usage::default();
    let mut valid = true;
    let walked = walk_object(raw, |key, span| {
        let value = &raw[span];
        match key {
            b"input_tokens" => match number(value) {
                Some(count) => usage.input_tokens = count,
                None => valid = false,
            },
            b"output_tokens" => match number(value) {
                Some(count) => usage.output_tokens = count,
                None => valid = false,
            },
            b"input_tokens_details" => {
                walk_object(value, |key, span| {
                    if key == b"cached_tokens" {
                        usage.cached_input_tokens = number(&value[span]);
                    }
                });
            }
            _ => {}
        }
    });
    (walked && valid).then_some(usage)
}
