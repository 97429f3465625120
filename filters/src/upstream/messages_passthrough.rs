//! Anthropic clients (Claude Code, the `anthropic` SDKs) on Argo's native Anthropic endpoint,
//! for Claude: the same dialect on both sides, so the client's JSON goes up and Argo's SSE comes
//! back with the least rewriting. Everything the hub cannot carry passes: `cache_control`
//! anywhere, PDF and other documents, `redacted_thinking`, citations, `top_k` (where the table
//! lets it), `stop_sequence` in the answer, cache usage.
//!
//! On the way up only these change: `model` becomes the Argo id; `user` and `metadata.user_id`
//! become the gateway's user, and `safety_identifier` is dropped, so that nothing the client
//! sends says who the user is; `stream` is always `true` (Argo refuses unstreamed Claude,
//! argo-api.md §C); the model table's rules apply (sampling per `sampling`, `top_k` per the
//! row, `thinking` fitted to what the model takes with `budget_tokens` below `max_tokens`, an
//! `output_config.effort` the model does not take left out); and thinking blocks of the
//! history that Argo refuses (empty, or without a signature) are dropped.
//!
//! On the way down a streaming client gets Argo's events with the message's id and model the
//! gateway's and the client's, Argo's notice for an unregistered user held back and turned into
//! the 403 of every other path, and an `error` event inside the 200 stream relayed as the
//! gateway's error. A client that asked for one answer gets the stream collected into one
//! Message that keeps every block and field Argo sent ([`collect_answer`]).

use std::borrow::Cow;
use std::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::anthropic::WireUsage;
use super::passthrough::{key_name, member, walk_array, walk_object};
use super::{truncated, upstream_error};
use crate::argo::{Endpoint, Params};
use crate::client::anthropic_messages;
use crate::error::ApiError;
use crate::hub::{Conversation, Finish, Usage};
use crate::json::parse_request;
use crate::models::{thinking_budget, ModelSpec, Thinking, MIN_THINKING_BUDGET};
use crate::notice;
use crate::openai::ResponseMeta;
use crate::sse::SseParser;
use crate::stream::json_string;
use crate::translate::{Engine, StreamState, StreamTranslation};

/// A client's Messages (or count_tokens) body, with what the pass-through reads of it.
#[derive(Debug)]
pub struct ClientRequest<'a> {
    body: &'a [u8],
    head: Head,
}

/// The members the pass-through reads; the rest is copied unread. Each may appear once
/// (serde refuses a duplicate, however its key is spelled).
#[derive(Debug, Deserialize)]
struct Head {
    model: String,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(rename = "messages")]
    _messages: Vec<IgnoredAny>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    thinking: Option<Value>,
    #[serde(default)]
    output_config: Option<Map<String, Value>>,
}

/// Reads a Messages body: `model`, `messages` and `max_tokens` are required, as Anthropic
/// requires them; 400s name the offending field. The rest is Argo's to judge.
pub fn read_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    let request = read_count_tokens_request(body)?;
    if request.head.max_tokens.is_none() {
        return Err(ApiError::invalid(
            "max_tokens",
            "max_tokens: Field required",
        ));
    }
    Ok(request)
}

/// Reads a `count_tokens` body: a Messages body without `max_tokens`.
pub fn read_count_tokens_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    Ok(ClientRequest {
        body,
        head: parse_request(body)?,
    })
}

/// Which of Argo's Anthropic routes a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Messages,
    CountTokens,
}

/// The members Anthropic's `count_tokens` takes (the `anthropic` SDK's
/// `MessageCountTokensParams`, and the beta's `mcp_servers` and `context_management`); the
/// rest of a Messages body is left out.
const COUNTED: [&[u8]; 11] = [
    b"model",
    b"messages",
    b"system",
    b"tools",
    b"tool_choice",
    b"thinking",
    b"output_config",
    b"cache_control",
    b"speed",
    b"mcp_servers",
    b"context_management",
];

impl ClientRequest<'_> {
    /// The model the client asked for.
    pub fn model(&self) -> &str {
        &self.head.model
    }

    pub fn stream(&self) -> bool {
        self.head.stream == Some(true)
    }

    /// The request as a conversation, for a model the pass-through does not serve.
    pub fn into_conversation(self) -> Result<Conversation, ApiError> {
        anthropic_messages::read_request(self.body).map(|(conversation, _)| conversation)
    }

    /// The request to count as a conversation, for the gateway's own estimate.
    pub fn count_tokens_conversation(&self) -> Result<Conversation, ApiError> {
        anthropic_messages::read_count_tokens_request(self.body).map(|(conversation, _)| conversation)
    }

    /// Argo's `/v1/messages` request, always streamed (see the module's documentation).
    pub fn request_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        self.rewrite(model, user, Route::Messages)
    }

    /// Argo's `/v1/messages/count_tokens` request: rewritten as for `/v1/messages`, with only
    /// the members count_tokens takes (and `user`, which says who asks).
    pub fn count_tokens_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        self.rewrite(model, user, Route::CountTokens)
    }

    fn rewrite(&self, model: &ModelSpec, user: &str, route: Route) -> Result<Vec<u8>, ApiError> {
        let head = &self.head;
        let max_tokens = head.max_tokens.filter(|_| route == Route::Messages);
        let effort = head
            .output_config
            .as_ref()
            .and_then(|config| config.get("effort"))
            .and_then(Value::as_str);
        let thinking = fit_thinking(head.thinking.as_ref(), effort, model.thinking, max_tokens);
        let thinks = thinking.thinks();
        let sampling = Sampling::fitted(head, model, thinks);
        let mut out = Vec::with_capacity(self.body.len() + 160);
        out.push(b'{');
        let mut metadata = None;
        let mut valid = true;
        let walked = walk_object(self.body, |key, span| {
            let raw = &self.body[span];
            let Some(name) = key_name(key) else {
                valid = false;
                return;
            };
            let name = name.as_ref();
            if route == Route::CountTokens && !COUNTED.contains(&name) {
                return;
            }
            let kept: Option<Cow<[u8]>> = match name {
                b"model" | b"user" | b"safety_identifier" | b"stream" => None,
                b"metadata" => {
                    metadata = Some(raw);
                    None
                }
                b"temperature" if !sampling.temperature => None,
                b"top_p" if !sampling.top_p => None,
                b"top_k" if !model.top_k || thinks => None,
                b"thinking" => match thinking {
                    ThinkingFit::AsWritten { .. } => Some(Cow::Borrowed(raw)),
                    ThinkingFit::Dropped | ThinkingFit::Replaced(_) => None,
                },
                b"output_config" => output_config(head, model, &thinking, raw),
                b"messages" => {
                    let repaired = repaired_messages(raw);
                    valid &= repaired.is_some();
                    repaired
                }
                _ => Some(Cow::Borrowed(raw)),
            };
            if let Some(value) = kept {
                member(&mut out, key, &value);
            }
        });
        if !walked || !valid {
            return Err(ApiError::invalid("body", "Invalid JSON body"));
        }
        member(&mut out, b"model", json_string(&model.argo_id).as_bytes());
        member(&mut out, b"user", json_string(user).as_bytes());
        if let ThinkingFit::Replaced(value) = &thinking {
            member(&mut out, b"thinking", value.to_string().as_bytes());
        }
        if route == Route::Messages {
            member(&mut out, b"metadata", users_metadata(metadata, user).as_bytes());
            member(&mut out, b"stream", b"true");
        }
        out.push(b'}');
        Ok(out)
    }
}

/// Which of the client's sampling members reach Argo.
struct Sampling {
    temperature: bool,
    top_p: bool,
}

impl Sampling {
    /// The model table's rule ([`ModelSpec::fit`]); with thinking, only what Anthropic takes
    /// with it (temperature 1, `top_p` of at least 0.95).
    fn fitted(head: &Head, model: &ModelSpec, thinks: bool) -> Self {
        let asked = Params {
            limit: None,
            temperature: head.temperature,
            top_p: head.top_p,
        };
        let fitted = model.fit(asked, Endpoint::StreamChat);
        Sampling {
            temperature: fitted
                .temperature
                .is_some_and(|temperature| !thinks || temperature == 1.0),
            top_p: fitted.top_p.is_some_and(|top_p| !thinks || top_p >= 0.95),
        }
    }
}

/// What becomes of the client's `thinking`.
#[derive(Debug, PartialEq)]
enum ThinkingFit {
    /// Sent as the client wrote it (or not at all, when it sent none); whether it thinks.
    AsWritten { thinks: bool },
    /// Left out: the model does not think, or no budget of at least 1,024 fits below
    /// `max_tokens`.
    Dropped,
    /// Replaced by thinking the model takes.
    Replaced(Value),
}

impl ThinkingFit {
    fn thinks(&self) -> bool {
        match self {
            ThinkingFit::AsWritten { thinks } => *thinks,
            ThinkingFit::Dropped => false,
            ThinkingFit::Replaced(_) => true,
        }
    }

    fn budgeted(&self) -> bool {
        match self {
            ThinkingFit::Replaced(value) => value["type"] == "enabled",
            _ => false,
        }
    }
}

/// The client's `thinking` fitted to what the model takes (argo-api.md §C): `enabled` to an
/// adaptive-only model becomes `adaptive`, `adaptive` to a budget-only model becomes `enabled`
/// with a budget from the effort (`high` without one), and either is dropped for a model
/// without thinking; a budget is kept below `max_tokens` (`None` for count_tokens, which has
/// no limit). `disabled`, and what no model takes, go as written (Argo judges the latter).
fn fit_thinking(
    asked: Option<&Value>,
    effort: Option<&str>,
    model: Thinking,
    max_tokens: Option<u64>,
) -> ThinkingFit {
    let Some(asked) = asked else {
        return ThinkingFit::AsWritten { thinks: false };
    };
    let kind = asked.get("type").and_then(Value::as_str);
    match kind {
        Some("enabled" | "adaptive") if model == Thinking::None => ThinkingFit::Dropped,
        Some("enabled") if model.takes_budget() => {
            let budget = asked.get("budget_tokens").and_then(Value::as_u64);
            match (budget, max_tokens) {
                (Some(budget), Some(max_tokens)) if budget >= max_tokens => {
                    let fitted = max_tokens - 1;
                    if fitted < MIN_THINKING_BUDGET {
                        return ThinkingFit::Dropped;
                    }
                    let mut thinking = asked.clone();
                    thinking["budget_tokens"] = json!(fitted);
                    ThinkingFit::Replaced(thinking)
                }
                _ => ThinkingFit::AsWritten { thinks: true },
            }
        }
        Some("enabled") => ThinkingFit::Replaced(json!({"type": "adaptive"})),
        Some("adaptive") if model.takes_adaptive() => ThinkingFit::AsWritten { thinks: true },
        Some("adaptive") => {
            let budget = thinking_budget(effort.unwrap_or("high"), max_tokens.unwrap_or(u64::MAX));
            match budget {
                Some(budget) => {
                    ThinkingFit::Replaced(json!({"type": "enabled", "budget_tokens": budget}))
                }
                None => ThinkingFit::Dropped,
            }
        }
        _ => ThinkingFit::AsWritten { thinks: false },
    }
}

/// The client's `output_config`, without an `effort` the model does not take or that would go
/// beside budgeted thinking on a model without adaptive thinking (argo-api.md §A: thinking
/// and an effort together only there); left out when nothing else is in it.
fn output_config<'a>(
    head: &Head,
    model: &ModelSpec,
    thinking: &ThinkingFit,
    raw: &'a [u8],
) -> Option<Cow<'a, [u8]>> {
    let Some(config) = &head.output_config else {
        return Some(Cow::Borrowed(raw));
    };
    let Some(effort) = config.get("effort").filter(|effort| !effort.is_null()) else {
        return Some(Cow::Borrowed(raw));
    };
    let taken = effort
        .as_str()
        .is_some_and(|effort| model.efforts.iter().any(|taken| taken == effort));
    let beside_budget = (thinking.budgeted()
        || head.thinking.as_ref().is_some_and(|t| t["type"] == "enabled"))
        && !model.thinking.takes_adaptive();
    if taken && !beside_budget {
        return Some(Cow::Borrowed(raw));
    }
    let mut config = config.clone();
    config.remove("effort");
    (!config.is_empty()).then(|| Cow::Owned(Value::Object(config).to_string().into_bytes()))
}

/// The client's `metadata` (when an object) with `user_id` the gateway's user; Argo reads the
/// user there too (argo-api.md §A).
fn users_metadata(raw: Option<&[u8]>, user: &str) -> String {
    let mut metadata: Map<String, Value> = raw
        .and_then(|raw| serde_json::from_slice(raw).ok())
        .unwrap_or_default();
    metadata.insert("user_id".into(), Value::String(user.into()));
    Value::Object(metadata).to_string()
}

/// The `messages` array without the thinking blocks Argo refuses in history (argo-api.md §C:
/// an empty `thinking`, a block without one, or without its signature: Argo does not sign
/// blocks); an assistant message left with no content goes too. Copied as written when there
/// is nothing to drop; `None` when it is not an array of objects.
fn repaired_messages(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    let may_think = memchr::memmem::find(raw, b"thinking").is_some()
        || memchr::memmem::find(raw, b"\\u").is_some();
    if !may_think {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'[');
    let (mut valid, mut changed) = (true, false);
    let walked = walk_array(raw, |span| {
        let message = &raw[span];
        let Some(repaired) = repaired_message(message) else {
            valid = false;
            return;
        };
        changed |= !matches!(repaired, Some(Cow::Borrowed(_)));
        if let Some(message) = repaired {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&message);
        }
    });
    out.push(b']');
    match walked && valid {
        true if changed => Some(Cow::Owned(out)),
        true => Some(Cow::Borrowed(raw)),
        false => None,
    }
}

/// A message without its refused thinking blocks: `Some(None)` when it is an assistant
/// message with nothing else; `None` when it is not an object.
fn repaired_message(message: &[u8]) -> Option<Option<Cow<'_, [u8]>>> {
    let (mut role, mut content) = (None, None);
    let mut valid = true;
    let walked = walk_object(message, |key, span| match key_name(key).as_deref() {
        Some(b"role") => role = Some(span),
        Some(b"content") => content = Some(span),
        Some(_) => {}
        None => valid = false,
    });
    if !walked || !valid {
        return None;
    }
    let assistant = role.is_some_and(|span| string_at(&message[span]).as_deref() == Some("assistant"));
    let Some(content) = content.filter(|span| assistant && message[span.start] == b'[') else {
        return Some(Some(Cow::Borrowed(message)));
    };
    let blocks = &message[content.clone()];
    let mut kept: Vec<Range<usize>> = Vec::new();
    let mut dropped = false;
    if !walk_array(blocks, |span| match refused_thinking(&blocks[span.clone()]) {
        true => dropped = true,
        false => kept.push(span),
    }) {
        return None;
    }
    if !dropped {
        return Some(Some(Cow::Borrowed(message)));
    }
    if kept.is_empty() {
        return Some(None);
    }
    let mut out = Vec::with_capacity(message.len());
    out.extend_from_slice(&message[..content.start]);
    out.push(b'[');
    for (at, span) in kept.into_iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&blocks[span]);
    }
    out.push(b']');
    out.extend_from_slice(&message[content.end..]);
    Some(Some(Cow::Owned(out)))
}

/// Whether a content block is a thinking block Argo refuses: its `thinking` missing, null or
/// blank, or its `signature` missing, null or empty.
fn refused_thinking(block: &[u8]) -> bool {
    let (mut kind, mut thinking, mut signature) = (None, None, None);
    let walked = walk_object(block, |key, span| match key_name(key).as_deref() {
        Some(b"type") => kind = Some(span),
        Some(b"thinking") => thinking = Some(span),
        Some(b"signature") => signature = Some(span),
        _ => {}
    });
    let is_thinking = kind.is_some_and(|span| string_at(&block[span]).as_deref() == Some("thinking"));
    if !walked || !is_thinking {
        return false;
    }
    let text = |span: Option<Range<usize>>| span.and_then(|span| string_at(&block[span]));
    let blank_thinking = match thinking.clone().map(|span| &block[span]) {
        None | Some(b"null") => true,
        Some(_) => text(thinking).is_some_and(|text| text.trim().is_empty()),
    };
    let unsigned = text(signature).is_none_or(|signature| signature.is_empty());
    blank_thinking || unsigned
}

/// The JSON string `raw` decoded (borrowed when it has no escapes); `None` when it is none.
fn string_at(raw: &[u8]) -> Option<Cow<'_, str>> {
    if let Ok(text) = serde_json::from_slice::<&str>(raw) {
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
}

/// The translation of Argo's Messages stream for a streaming Anthropic client.
pub fn stream(meta: &ResponseMeta) -> StreamTranslation {
    StreamTranslation::with_engine(Box::new(Relay {
        parser: SseParser::default(),
        events: RelayState {
            id: json_string(&meta.id),
            model: json_string(&meta.model),
            usage: WireUsage::default(),
            finished: false,
            stopped: false,
            done: false,
        },
    }))
}

#[derive(Debug)]
struct Relay {
    parser: SseParser,
    events: RelayState,
}

#[derive(Debug)]
struct RelayState {
    /// The message's id and model for the client, as JSON strings.
    id: String,
    model: String,
    usage: WireUsage,
    /// A `message_delta` gave the stop reason.
    finished: bool,
    /// `message_stop` was relayed.
    stopped: bool,
    /// `message_stop` or an error came: nothing more is relayed.
    done: bool,
}

impl Engine for Relay {
    fn start(&mut self, _out: &mut Vec<u8>) {}

    fn feed(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let events = &mut self.events;
        let mut result = Ok(());
        self.parser.feed(bytes, |name, data| {
            if result.is_ok() {
                result = events.event(name, data, state, out);
            }
        });
        result
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        let mut result = Ok(());
        self.parser.finish(|name, data| {
            if result.is_ok() {
                result = events.event(name, data, state, out);
            }
        });
        result?;
        if !events.done && !events.finished {
            events.done = true;
            return state.upstream_error(out, truncated(), anthropic_messages::error_event);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>, _finish: Finish, _usage: Usage) {
        if !self.events.stopped {
            out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        }
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        anthropic_messages::error_event(out, error);
    }
}

/// The top-level members of an event's data that the relay reads.
#[derive(Debug, Default)]
struct EventMembers {
    kind: Option<Range<usize>>,
    message: Option<Range<usize>>,
    content_block: Option<Range<usize>>,
    delta: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    error: Option<Range<usize>>,
}

impl EventMembers {
    fn of(data: &[u8]) -> Option<Self> {
        let mut members = EventMembers::default();
        let walked = walk_object(data, |key, span| {
            let slot = match key {
                b"type" => &mut members.kind,
                b"message" => &mut members.message,
                b"content_block" => &mut members.content_block,
                b"delta" => &mut members.delta,
                b"usage" => &mut members.usage,
                b"error" => &mut members.error,
                _ => return,
            };
            *slot = Some(span);
        });
        walked.then_some(members)
    }
}

/// The members of a nested object (a block, a delta, a message) the relay reads: spans in
/// the event's data.
#[derive(Debug, Default)]
struct Inner {
    kind: Option<Range<usize>>,
    id: Option<Range<usize>>,
    model: Option<Range<usize>>,
    text: Option<Range<usize>>,
    thinking: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    stop_reason: Option<Range<usize>>,
}

impl Inner {
    fn of(data: &[u8], span: Option<Range<usize>>) -> Self {
        let mut inner = Inner::default();
        let Some(span) = span else {
            return inner;
        };
        let start = span.start;
        walk_object(&data[span], |key, at| {
            let slot = match key {
                b"type" => &mut inner.kind,
                b"id" => &mut inner.id,
                b"model" => &mut inner.model,
                b"text" => &mut inner.text,
                b"thinking" => &mut inner.thinking,
                b"usage" => &mut inner.usage,
                b"stop_reason" => &mut inner.stop_reason,
                _ => return,
            };
            *slot = Some(start + at.start..start + at.end);
        });
        inner
    }
}

fn is(data: &[u8], span: &Option<Range<usize>>, quoted: &[u8]) -> bool {
    span.as_ref().is_some_and(|span| &data[span.clone()] == quoted)
}

impl RelayState {
    fn event(
        &mut self,
        name: &[u8],
        data: &[u8],
        state: &mut StreamState,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim_ascii();
        // What is not a JSON object is no event the client could use.
        let Some(members) = EventMembers::of(data) else {
            return Ok(());
        };
        let kind = &members.kind;
        let mut rewritten = None;
        if is(data, kind, b"\"message_start\"") {
            let message = Inner::of(data, members.message.clone());
            self.usage_at(data, message.usage.clone(), state);
            rewritten = Some(self.rewrite(data, &message));
        } else if is(data, kind, b"\"content_block_start\"") {
            let block = Inner::of(data, members.content_block.clone());
            match is(data, &block.kind, b"\"text\"") {
                true => watch_text(data, block.text, state)?,
                false => state.guard.content(),
            }
        } else if is(data, kind, b"\"content_block_delta\"") {
            let delta = Inner::of(data, members.delta.clone());
            if is(data, &delta.kind, b"\"text_delta\"") {
                watch_text(data, delta.text, state)?;
            } else {
                if let Some(span) = delta.thinking {
                    state.count(raw_text(&data[span]));
                }
                state.guard.content();
            }
        } else if is(data, kind, b"\"message_delta\"") {
            let delta = Inner::of(data, members.delta.clone());
            self.finished |= delta
                .stop_reason
                .is_some_and(|span| &data[span] != b"null");
            self.usage_at(data, members.usage.clone(), state);
        } else if is(data, kind, b"\"message_stop\"") {
            self.done = true;
            self.stopped = true;
        } else if is(data, kind, b"\"error\"") {
            self.done = true;
            return state.upstream_error(out, stream_error(data, &members), anthropic_messages::error_event);
        }
        let sink = state.guard.sink(out);
        sink.reserve(name.len() + data.len() + 24);
        if !name.is_empty() {
            sink.extend_from_slice(b"event: ");
            sink.extend_from_slice(name);
            sink.push(b'\n');
        }
        sink.extend_from_slice(b"data: ");
        sink.extend_from_slice(rewritten.as_deref().unwrap_or(data));
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// Usage Argo reported (nulls read as absent), merged into what came before.
    fn usage_at(&mut self, data: &[u8], span: Option<Range<usize>>, state: &mut StreamState) {
        let Some(usage) = span.and_then(|span| serde_json::from_slice::<WireUsage>(&data[span]).ok())
        else {
            return;
        };
        self.usage.merge(usage);
        state.report(self.usage.hub());
    }

    /// `message_start` with the message's id and model the gateway's and the client's.
    fn rewrite(&self, data: &[u8], message: &Inner) -> Vec<u8> {
        let mut replacements = [
            (message.id.clone(), self.id.as_str()),
            (message.model.clone(), self.model.as_str()),
        ];
        replacements.sort_by_key(|(span, _)| span.as_ref().map_or(0, |span| span.start));
        let mut out = Vec::with_capacity(data.len() + self.model.len() + self.id.len());
        let mut copied = 0;
        for (span, value) in replacements {
            if let Some(span) = span {
                out.extend_from_slice(&data[copied..span.start]);
                out.extend_from_slice(value.as_bytes());
                copied = span.end;
            }
        }
        out.extend_from_slice(&data[copied..]);
        out
    }
}

/// Text of the answer: counted, and, until the stream is known not to be Argo's notice,
/// watched for it.
fn watch_text(
    data: &[u8],
    span: Option<Range<usize>>,
    state: &mut StreamState,
) -> Result<(), ApiError> {
    let Some(span) = span else {
        return Ok(());
    };
    let raw = &data[span];
    if state.guard.decided() {
        state.count(raw_text(raw));
        return Ok(());
    }
    let text = string_at(raw).unwrap_or_default();
    state.count(&text);
    state.guard.text(&text)
}

/// A JSON string's text as written, escapes left in: good enough for a count.
fn raw_text(raw: &[u8]) -> &str {
    let inner = raw
        .strip_prefix(b"\"")
        .and_then(|raw| raw.strip_suffix(b"\""))
        .unwrap_or_default();
    std::str::from_utf8(inner).unwrap_or_default()
}

/// Anthropic's `error` member.
#[derive(Debug, Default, Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// The error an `error` event carries, as the client gets it.
fn stream_error(data: &[u8], members: &EventMembers) -> ApiError {
    let error = members
        .error
        .clone()
        .and_then(|span| serde_json::from_slice::<WireError>(&data[span]).ok())
        .unwrap_or_default();
    let kind = if error.kind.is_empty() { "error" } else { &error.kind };
    let message = if error.message.is_empty() {
        "no details given"
    } else {
        &error.message
    };
    upstream_error(kind, message)
}

/// Argo's stream for a client that asked for one answer, collected into the Message Argo
/// would have answered: every block and field as Argo sent them (cache usage,
/// `stop_sequence`, `redacted_thinking`, signatures, citations), the id and model the gateway's
/// and the client's; with the usage for the gateway's count. Argo's notice and an error
/// inside the stream are errors, as is a stream cut short.
pub fn collect_answer(stream: &[u8], meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
    let mut collector = MessageCollector::default();
    collector.feed(stream);
    collector.finish(meta)
}

/// [`collect_answer`] as a state machine fed byte chunks split anywhere.
#[derive(Debug, Default)]
pub struct MessageCollector {
    parser: SseParser,
    message: Collected,
}

#[derive(Debug, Default)]
struct Collected {
    message: Map<String, Value>,
    blocks: Vec<Block>,
    usage: Map<String, Value>,
    finished: bool,
    stopped: bool,
    error: Option<ApiError>,
}

/// A content block being collected.
#[derive(Debug)]
struct Block {
    index: u64,
    fields: Map<String, Value>,
    /// A tool call's `input`, as its JSON deltas came.
    input: String,
}

impl MessageCollector {
    pub fn feed(&mut self, bytes: &[u8]) {
        let message = &mut self.message;
        self.parser.feed(bytes, |_, data| message.data(data));
    }

    pub fn finish(mut self, meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
        let message = &mut self.message;
        self.parser.finish(|_, data| message.data(data));
        self.message.answer(meta)
    }
}

impl Collected {
    fn data(&mut self, data: &[u8]) {
        if self.stopped || self.error.is_some() {
            return;
        }
        let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let kind = event.remove("type");
        match kind.as_ref().and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                if let Some(Value::Object(mut message)) = event.remove("message") {
                    if let Some(Value::Object(usage)) = message.remove("usage") {
                        merge_usage(&mut self.usage, usage);
                    }
                    self.message = message;
                }
            }
            "content_block_start" => {
                if let Some(Value::Object(fields)) = event.remove("content_block") {
                    self.blocks.push(Block {
                        index,
                        fields,
                        input: String::new(),
                    });
                }
            }
            "content_block_delta" => {
                let block = self.blocks.iter_mut().rev().find(|block| block.index == index);
                if let (Some(block), Some(Value::Object(delta))) = (block, event.remove("delta")) {
                    block.delta(delta);
                }
            }
            "content_block_stop" => {
                let block = self.blocks.iter_mut().rev().find(|block| block.index == index);
                if let Some(block) = block.filter(|block| !block.input.is_empty()) {
                    match serde_json::from_str::<Value>(&block.input) {
                        Ok(input) => {
                            block.fields.insert("input".into(), input);
                        }
                        Err(_) => {
                            self.error = Some(ApiError::invalid_answer(
                                "Argo returned a tool call whose input is not valid JSON",
                            ));
                        }
                    }
                }
            }
            "message_delta" => {
                if let Some(Value::Object(delta)) = event.remove("delta") {
                    self.finished |= delta.get("stop_reason").is_some_and(|reason| !reason.is_null());
                    for (key, value) in delta {
                        if key != "type" {
                            self.message.insert(key, value);
                        }
                    }
                }
                if let Some(Value::Object(usage)) = event.remove("usage") {
                    merge_usage(&mut self.usage, usage);
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let error = event
                    .remove("error")
                    .and_then(|error| serde_json::from_value::<WireError>(error).ok())
                    .unwrap_or_default();
                let kind = if error.kind.is_empty() { "error" } else { &error.kind };
                self.error = Some(upstream_error(kind, &error.message));
            }
            _ => {}
        }
    }

    fn answer(self, meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.stopped && !self.finished {
            return Err(truncated());
        }
        let mut blocks = self.blocks;
        blocks.sort_by_key(|block| block.index);
        let opening: String = blocks
            .iter()
            .filter_map(|block| block.fields.get("text").and_then(Value::as_str))
            .take(2)
            .collect();
        if notice::is_notice(opening.as_bytes()) {
            return Err(notice::unregistered_user());
        }
        let usage = serde_json::from_value::<WireUsage>(Value::Object(self.usage.clone()))
            .unwrap_or_default()
            .hub();
        let mut message = self.message;
        message.insert("id".into(), Value::String(meta.id.clone()));
        message.insert("model".into(), Value::String(meta.model.clone()));
        message.entry("type").or_insert_with(|| json!("message"));
        message.entry("role").or_insert_with(|| json!("assistant"));
        message.entry("stop_reason").or_insert(Value::Null);
        message.entry("stop_sequence").or_insert(Value::Null);
        let content = blocks.into_iter().map(|block| Value::Object(block.fields));
        message.insert("content".into(), Value::Array(content.collect()));
        message.insert("usage".into(), Value::Object(self.usage));
        Ok((Value::Object(message).to_string().into_bytes(), usage))
    }
}

impl Block {
    fn delta(&mut self, mut delta: Map<String, Value>) {
        let kind = delta.remove("type");
        let (field, value) = match kind.as_ref().and_then(Value::as_str).unwrap_or_default() {
            "text_delta" => ("text", delta.remove("text")),
            "thinking_delta" => ("thinking", delta.remove("thinking")),
            "signature_delta" => ("signature", delta.remove("signature")),
            "input_json_delta" => {
                if let Some(Value::String(json)) = delta.remove("partial_json") {
                    self.input.push_str(&json);
                }
                return;
            }
            "citations_delta" => {
                if let Some(citation) = delta.remove("citation") {
                    let citations = self.fields.entry("citations").or_insert_with(|| json!([]));
                    if !citations.is_array() {
                        *citations = json!([]);
                    }
                    if let Value::Array(citations) = citations {
                        citations.push(citation);
                    }
                }
                return;
            }
            _ => return,
        };
        let Some(Value::String(more)) = value else {
            return;
        };
        match self.fields.get_mut(field) {
            Some(Value::String(text)) => text.push_str(&more),
            _ => {
                self.fields.insert(field.into(), Value::String(more));
            }
        }
    }
}

/// Later usage members replace earlier ones, but a `null` (argo-api.md §C) never replaces a
/// count.
fn merge_usage(usage: &mut Map<String, Value>, later: Map<String, Value>) {
    for (key, value) in later {
        if value.is_null() && usage.get(&key).is_some_and(|known| !known.is_null()) {
            continue;
        }
        usage.insert(key, value);
    }
}
