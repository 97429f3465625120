//! The Anthropic Messages client spoke (`POST /v1/messages`, as Claude Code, Kilo Code, Aider
//! and Anthropic's SDKs send it): request bodies into a [`Conversation`]; [`Answer`]s out as a
//! `message` object, [`Event`]s as Anthropic's named SSE events ([`MessagesEncoder`]). It
//! serves the models Argo's `/v1/messages` does not (GPT, Gemini, Claude on the resource API):
//! Claude on the native API gets the client's body itself, see
//! [`crate::upstream::messages_passthrough`], which keeps what is dropped or refused here.
//!
//! Reading:
//! - `system` (a string or text blocks) becomes a system message; `cache_control` and
//!   `citations` are ignored everywhere.
//! - A user turn's `tool_result` blocks become one [`Role::Tool`] message placed before the
//!   turn's other blocks (Anthropic requires results first; a turn that puts text first is
//!   reordered rather than refused). Images inside a result follow the results as a user
//!   message, and the result's text says so: [`Part::ToolResult`] holds text only.
//! - `redacted_thinking` blocks are dropped: the hub has no slot for their opaque `data`, and
//!   Argo accepts a conversation without them. `thinking` blocks keep their signature.
//! - Plain-text and content documents and `search_result` blocks become text; PDF and
//!   Files-API documents and images are refused, as are Anthropic's server and built-in tools
//!   (`web_search_*`, `bash_*`, `text_editor_*`, ...), `mcp_servers` and structured outputs
//!   (`output_config.format`): Argo cannot run them and the hub cannot carry them.
//! - `thinking` and `output_config.effort` become `reasoning_effort` (see `request::reasoning_effort`
//!   below for the mapping); `thinking.display` is ignored.
//! - `top_k` is kept in `extra`, for Argo's `/v1/messages` where the model table allows it
//!   (`ModelSpec::top_k`, off by default: no evidence); `metadata` (whose only field
//!   is `user_id`: the gateway sets the user), `service_tier`, `container`,
//!   `context_management`, `inference_geo` and unknown fields are ignored.
//!
//! Writing: `input_tokens` excludes cached tokens, as Anthropic counts them (the hub's
//! includes them); a stream reports the whole usage in `message_delta`, the first moment it
//! is known.
//!
//! [`Answer`]: crate::hub::Answer
//! [`Event`]: crate::hub::Event
//! [`Role::Tool`]: crate::hub::Role::Tool
//! [`Part::ToolResult`]: crate::hub::Part::ToolResult

mod answer;
mod blocks;
mod encoder;
mod errors;
mod request;
#[cfg(test)]
pub(crate) mod tests;
mod tools;
mod wire;

use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::hub::Conversation;
use crate::json::parse_request;

pub use answer::answer_json;
pub(crate) use encoder::error_event;
pub use encoder::{encoder, MessagesEncoder};
pub use errors::error_json;

use request::conversation;
use wire::Request;

/// Reads a Messages body into a conversation, and the model name the client asked for.
/// `max_tokens` is required, as Anthropic requires it.
pub fn read_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let request: Request = parse_request(body)?;
    if request.max_tokens.is_none() {
        return Err(ApiError::invalid(
            "max_tokens",
            "max_tokens: Field required",
        ));
    }
    conversation(request)
}

/// Reads a `POST /v1/messages/count_tokens` body: a Messages body without `max_tokens` (and
/// never streamed).
pub fn read_count_tokens_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let mut request: Request = parse_request(body)?;
    request.max_tokens = None;
    request.stream = None;
    conversation(request)
}

/// The count-tokens answer: `{"input_tokens": N}`.
pub fn count_tokens_json(input_tokens: u64) -> Vec<u8> {
    json!({ "input_tokens": input_tokens })
        .to_string()
        .into_bytes()
}

/// Whether `body` is a count-tokens answer: an object with a whole `input_tokens`.
pub fn is_count_tokens_json(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Counted {
        #[serde(rename = "input_tokens")]
        _input_tokens: u64,
    }
    serde_json::from_slice::<Counted>(body).is_ok()
}
