//! The `#mock {json}` directive a test ends a user message with, and where the mock finds it.

use serde::Deserialize;
use serde_json::Value;

use crate::{tools, writes};

/// Which resource endpoint a request came to (where its directive is).
#[derive(Debug, PartialEq)]
pub(crate) enum Route {
    Chat,
    StreamChat,
    Embed,
}

/// One scripted answer. Every field is optional.
///
/// On the resource endpoints the directive is in the last user message that has one (chat)
/// or in the first prompt (embed); on the native ones in the last user text that has one
/// (a string `content`, or the last `text` part of a list), or in the first `input` of an
/// embeddings request.
///
/// On the native endpoints a "fragment" is one content delta: an OpenAI chunk with
/// `delta.content` (or a tool call's start or `function.arguments` piece), an Anthropic
/// `content_block_delta` (`text_delta`, `thinking_delta`, `input_json_delta`). Fragments never
/// split a UTF-8 character there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directive {
    /// The answer text (with `tool_call` on a native endpoint: text said before the calls).
    pub reply: Option<String>,
    /// Answer with the request Argo received, as text. Resource endpoints: the raw body.
    /// Native endpoints: the JSON text of `{"method", "path", "headers": {"authorization",
    /// "x-api-key", "anthropic-version", "anthropic-beta", "accept", "accept-encoding",
    /// "content-type"} (each a string or null), "body": <the request's JSON body>}`.
    #[serde(default)]
    pub echo_request: bool,
    /// Resource chat: use this JSON value as `response` verbatim (tool-call shapes). Native
    /// endpoints: answer 200 with this JSON value as the whole body.
    pub response: Option<Value>,
    /// Answer with this status and `body` instead (native default body: the dialect's error
    /// envelope with the message `mock failure`).
    pub status: Option<u16>,
    pub body: Option<String>,
    pub retry_after: Option<String>,
    /// Wait this long before answering.
    pub delay_ms: Option<u64>,
    /// Streamed fragments, exactly as given.
    pub fragments: Option<Vec<String>>,
    /// Split the reply into pieces of this many bytes (resource streams may split UTF-8
    /// characters, native ones do not).
    pub fragment_bytes: Option<usize>,
    pub fragment_delay_ms: Option<u64>,
    /// Drop the connection after this many fragments, without ending the chunked body.
    pub cut_after: Option<usize>,
    /// After the fragments, send this one over and over until the gateway goes away: an
    /// answer that never ends (native: a content delta with this text, repeated).
    pub then_forever: Option<String>,
    /// Promise more body than is sent, then close: a body cut off mid-answer.
    #[serde(default)]
    pub truncate: bool,
    /// Send a JSON answer one byte at a time, this many milliseconds apart.
    pub drip_ms: Option<u64>,
    /// Play a tool-calling model: call this tool (`{"name", "arguments", "shape"}`), then,
    /// once the conversation ends with its result, answer `The tool said: RESULT`. Native
    /// endpoints also take a list of calls made at once (results joined with `; `) and
    /// ignore `shape`.
    pub tool_call: Option<tools::ScriptedCalls>,
    /// Play a coding agent's model: write this file (`{"path", "content"}`) with the writing
    /// tool the request declares, as a `tool_call` (see [`writes`]); a request that declares
    /// none gets the reply.
    pub write_file: Option<writes::WriteFile>,
    /// Native, Claude on `/v1/messages` only: a thinking block with this text comes first
    /// (whatever the request's `thinking`; without it, adaptive thinking on opus46 and
    /// sonnet46 gives a short mock thinking block, as the probe saw).
    pub thinking: Option<String>,
    /// Native, Claude on `/v1/messages` only: a `redacted_thinking` block with this `data`
    /// comes first (Anthropic's encrypted thinking; in a stream whole in its
    /// `content_block_start`, as Anthropic sends it).
    pub redacted_thinking: Option<String>,
    /// Native streams: after the fragments, an error event instead of the stream's end:
    /// Anthropic `event: error` with `{"type": "error", "error": {"type": "overloaded_error",
    /// "message"}}` (see `stream_error_type`), OpenAI `data: {"error": {"message", "type":
    /// "server_error", "code": "stream_error"}}`, for Gemini Vertex's 429 `data: {"error":
    /// {"message", "type": "RESOURCE_EXHAUSTED", "code": 429, "status": "RESOURCE_EXHAUSTED"}}`,
    /// Responses `event: error` with `{"type": "error", "code": "server_error", "message"}`;
    /// then the body ends (no finish chunk, `[DONE]`, `message_stop` or `response.completed`).
    /// argo-api.md §C (strong): Argo sends such errors inside 200 streams.
    pub stream_error: Option<String>,
    /// Native streams: a keep-alive before every fragment (Anthropic `event: ping`, OpenAI an
    /// SSE comment `: ping`). Anthropic streams always have one ping after the first block
    /// starts.
    #[serde(default)]
    pub pings: bool,
    /// Native: report this many prompt tokens read from cache (Anthropic
    /// `cache_read_input_tokens`; OpenAI `prompt_tokens_details.cached_tokens`, also counted
    /// in `prompt_tokens`).
    pub cache_read_tokens: Option<u64>,
    /// Native streams with `stream_error`: the Anthropic error's `type` (default
    /// `overloaded_error`; argo-api.md §C also saw wrapped 400s, `invalid_request_error`).
    pub stream_error_type: Option<String>,
    /// Native: `null` inside the usage details (argo-api.md §C, medium: argo-proxy 3.2.1-3.3.0).
    /// OpenAI chat `prompt_tokens_details.cached_tokens` and
    /// `completion_tokens_details.reasoning_tokens`, Responses `input_tokens_details.cached_tokens`
    /// and `output_tokens_details.reasoning_tokens`, Anthropic `cache_creation_input_tokens`,
    /// `cache_read_input_tokens` and the `cache_creation` counts.
    #[serde(default)]
    pub usage_nulls: bool,
    /// Native, Claude on `/v1/messages`: usage without `input_tokens` (argo-api.md §C, medium:
    /// Claude SSE may omit it).
    #[serde(default)]
    pub omit_input_tokens: bool,
}

/// The directive is the JSON after `#mock ` in the last user message (chat) or first prompt (embed).
/// The directive is in the newest user text that has one (later turns may be tool results).
pub(crate) fn directive_in(request: &Value, route: &Route) -> Result<Directive, (u16, String)> {
    let text = match route {
        Route::Embed => request.pointer("/prompt/0").and_then(Value::as_str),
        _ => user_texts(request).find(|text| text.contains("#mock ")),
    };
    parse_directive(text, request)
}

/// The directive after `#mock ` in `text`, or none; a `write_file` becomes the `tool_call` of
/// the writing tool `request` declares.
pub(crate) fn parse_directive(
    text: Option<&str>,
    request: &Value,
) -> Result<Directive, (u16, String)> {
    let mut directive: Directive =
        match text.and_then(|text| text.find("#mock ").map(|at| &text[at + 6..])) {
            // The first JSON value: clients such as Aider add text after the user's words.
            Some(json) => serde_json::Deserializer::from_str(json)
                .into_iter::<Directive>()
                .next()
                .unwrap_or_else(|| serde_json::from_str(""))
                .map_err(|e| (400, format!("bad #mock directive: {e}")))?,
            None => return Ok(Directive::default()),
        };
    if let (None, Some(file)) = (&directive.tool_call, &directive.write_file) {
        directive.tool_call = writes::call_for(file, request);
    }
    Ok(directive)
}

pub(crate) fn user_texts(request: &Value) -> impl Iterator<Item = &str> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev();
    messages
        .filter(|m| m["role"] == "user")
        .filter_map(|m| match &m["content"] {
            Value::String(text) => Some(text.as_str()),
            Value::Array(parts) => parts.iter().rev().find_map(|part| part["text"].as_str()),
            _ => None,
        })
}

pub(crate) fn last_user_text(request: &Value) -> Option<&str> {
    if let Some(messages) = request.get("messages").and_then(Value::as_array) {
        return messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| match &m["content"] {
                Value::String(text) => Some(text.as_str()),
                Value::Array(parts) => parts.iter().rev().find_map(|part| part["text"].as_str()),
                _ => None,
            });
    }
    request.pointer("/prompt/0").and_then(Value::as_str)
}
