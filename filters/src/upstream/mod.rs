//! Upstream spokes: Argo's native endpoints ([`anthropic`] for Claude, [`openai_native`] for
//! the rest, [`passthrough`] for OpenAI clients on the OpenAI endpoint, [`messages_passthrough`]
//! for Anthropic clients on the Anthropic endpoint) and the legacy
//! [`resource`] API. [`plan`] is the one place that picks among them for a model's row and
//! says how the answer is read. [`chat_message`] is the OpenAI-shaped message both Argo chat
//! APIs take; [`SseDecoder`] reads any SSE dialect.

pub mod anthropic;
pub mod chat_message;
pub mod messages_passthrough;
pub mod openai_native;
pub mod passthrough;
pub mod plan;
pub mod refusal;
pub mod resource;
pub mod responses_passthrough;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::error::{from_argo_status, ApiError, ErrorCode};
use crate::hub::{Conversation, Dialect, Event};
use crate::models::{ModelSpec, Params};
use crate::sse::SseParser;
use crate::translate::Decoder;

/// The user turn argo-proxy appends to Claude and Gemini conversations that lack one
/// (`ensure_user_message_exists` in its legacy `utils/input_handle.py`).
pub const CONTINUE_TURN: &str = "[continue]";

/// The token limit and sampling the model takes (see [`ModelSpec::fit`]); the limit is capped
/// as on Argo's non-streaming chat unless the upstream call streams.
fn fitted(conversation: &Conversation, model: &ModelSpec, stream: bool) -> Params {
    model.fit(
        Params {
            limit: conversation.max_tokens,
            temperature: conversation.temperature,
            top_p: conversation.top_p,
        },
        stream,
    )
}

/// The client's extra fields for an upstream of `dialect`, leaving out those the spoke writes
/// itself; serialized flattened into the request.
struct Extra<'a>(Vec<(&'a String, &'a Value)>);

impl<'a> Extra<'a> {
    fn new(conversation: &'a Conversation, dialect: Dialect, written: &[&str]) -> Self {
        Extra(
            conversation
                .extra_for(dialect)
                .filter(|(key, _)| !written.contains(&key.as_str()))
                .collect(),
        )
    }
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn encode(body: &impl Serialize, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, body)
        .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))?;
    Ok(out)
}

/// Bytes a request body will need: the conversation's text plus some framing.
fn body_capacity(conversation: &Conversation) -> usize {
    let text: usize = conversation
        .messages
        .iter()
        .flat_map(|message| message.texts())
        .map(str::len)
        .sum();
    text + text / 16 + 256 + 64 * conversation.messages.len()
}

/// An error the upstream reported inside a stream or a 2xx body (Anthropic's `error` event,
/// OpenAI's `{"error": ...}`), as the client gets it: what to do, not Argo's internals (those
/// go to the operator's log through the cause).
pub(crate) fn upstream_error(kind: &str, message: &str) -> ApiError {
    let error = match kind {
        "overloaded_error" | "overloaded" => ApiError::new(
            503,
            "upstream_error",
            "The model is overloaded on Argo's side; retry in a few seconds.",
        )
        .with_code(ErrorCode::UpstreamOverloaded),
        "rate_limit_error" | "rate_limit_exceeded" | "rate_limit" => {
            ApiError::rate_limited("Argo is rate limiting requests; retry shortly.")
                .with_code(ErrorCode::UpstreamRateLimited)
        }
        "invalid_request_error" | "request_too_large" => {
            from_argo_status(400, message.as_bytes(), None)
        }
        "timeout_error" | "timeout" => ApiError::gateway_timeout(
            "The model timed out on Argo's side; retry, or ask for a shorter answer.",
        ),
        _ => ApiError::bad_gateway(
            "The model failed on Argo's side while answering; try again. The request id in the x-request-id header helps the operator find the details.",
        )
        .with_code(ErrorCode::UpstreamStreamError),
    };
    error.with_cause(format!("Argo reported `{kind}`: {message}"))
}

/// What an SSE dialect makes of each event's data; framing and the end of the stream are
/// [`SseDecoder`]'s.
pub trait SseDialect: std::fmt::Debug + Send {
    fn data(&mut self, data: &[u8], events: &mut Vec<Event>);
    /// The answer finished, or the stream ended (`[DONE]`, `message_stop`, an error).
    fn over(&self) -> bool;
    /// Nothing more is read.
    fn end(&mut self);
}

/// An upstream's SSE stream into events, read by `dialect`: a stream that stops before its
/// answer ended is an error.
#[derive(Debug, Default)]
pub struct SseDecoder<D> {
    parser: SseParser,
    dialect: D,
}

impl<D: Default> SseDecoder<D> {
    pub fn new() -> Self {
        SseDecoder::default()
    }
}

impl<D: SseDialect> Decoder for SseDecoder<D> {
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        let dialect = &mut self.dialect;
        self.parser
            .feed(bytes, |_, data| dialect.data(data, events));
    }

    fn finish(&mut self, events: &mut Vec<Event>) {
        let dialect = &mut self.dialect;
        self.parser.finish(|_, data| dialect.data(data, events));
        if !dialect.over() {
            dialect.end();
            events.push(Event::Error(truncated()));
        }
    }
}

/// The upstream's stream ended before the answer did.
pub(crate) fn truncated() -> ApiError {
    ApiError::bad_gateway("Argo's stream ended before the answer was complete; try again.")
        .with_code(ErrorCode::UpstreamTruncated)
}
