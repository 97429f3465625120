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
use super::passthrough::{key_name, member, pick_members, walk_array, walk_object};
use super::{truncated, upstream_error};
use crate::client::anthropic_messages;
use crate::error::ApiError;
use crate::hub::{Conversation, Finish, Usage};
use crate::json::parse_request;
use crate::models::{thinking_budget, ModelSpec, Params, Thinking, MIN_THINKING_BUDGET};
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
        anthropic_messages::read_count_tokens_request(self.body)
            .map(|(conversation, _)| conversation)
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
            member(
                &mut out,
                b"metadata",
                users_metadata(metadata, user).as_bytes(),
            );
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
        let fitted = model.fit(asked, true);
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
        || head
            .thinking
            .as_ref()
            .is_some_and(|t| t["type"] == "enabled"))
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
    let assistant =
        role.is_some_and(|span| string_at(&message[span]).as_deref() == Some("assistant"));
    let Some(content) = content.filter(|span| assistant && message[span.start] == b'[') else {
        return Some(Some(Cow::Borrowed(message)));
    };
    let blocks = &message[content.clone()];
    let mut kept: Vec<Range<usize>> = Vec::new();
    let mut dropped = false;
    if !walk_array(blocks, |span| {
        match refused_thinking(&blocks[span.clone()]) {
            true => dropped = true,
            false => kept.push(span),
        }
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
    let is_thinking =
        kind.is_some_and(|span| string_at(&block[span]).as_deref() == Some("thinking"));
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
        self.parser
            .try_feed(bytes, |name, data| events.event(name, data, state, out))
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_finish(|name, data| events.event(name, data, state, out))?;
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
        let keys = [
            b"type".as_slice(),
            b"message",
            b"content_block",
            b"delta",
            b"usage",
            b"error",
        ];
        let [kind, message, content_block, delta, usage, error] = pick_members(data, keys)?;
        Some(EventMembers {
            kind,
            message,
            content_block,
            delta,
            usage,
            error,
        })
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
        let Some(span) = span else {
            return Inner::default();
        };
        let start = span.start;
        let keys = [
            b"type".as_slice(),
            b"id",
            b"model",
            b"text",
            b"thinking",
            b"usage",
            b"stop_reason",
        ];
        let Some(spans) = pick_members(&data[span], keys) else {
            return Inner::default();
        };
        let [kind, id, model, text, thinking, usage, stop_reason] =
            spans.map(|at| at.map(|at| start + at.start..start + at.end));
        Inner {
            kind,
            id,
            model,
            text,
            thinking,
            usage,
            stop_reason,
        }
    }
}

fn is(data: &[u8], span: &Option<Range<usize>>, quoted: &[u8]) -> bool {
    span.as_ref()
        .is_some_and(|span| &data[span.clone()] == quoted)
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
            self.finished |= delta.stop_reason.is_some_and(|span| &data[span] != b"null");
            self.usage_at(data, members.usage.clone(), state);
        } else if is(data, kind, b"\"message_stop\"") {
            self.done = true;
            self.stopped = true;
        } else if is(data, kind, b"\"error\"") {
            self.done = true;
            return state.upstream_error(
                out,
                stream_error(data, &members),
                anthropic_messages::error_event,
            );
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
        let Some(usage) =
            span.and_then(|span| serde_json::from_slice::<WireUsage>(&data[span]).ok())
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
    let kind = if error.kind.is_empty() {
        "error"
    } else {
        &error.kind
    };
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
                let block = self
                    .blocks
                    .iter_mut()
                    .rev()
                    .find(|block| block.index == index);
                if let (Some(block), Some(Value::Object(delta))) = (block, event.remove("delta")) {
                    block.delta(delta);
                }
            }
            "content_block_stop" => {
                let block = self
                    .blocks
                    .iter_mut()
                    .rev()
                    .find(|block| block.index == index);
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
                    self.finished |= delta
                        .get("stop_reason")
                        .is_some_and(|reason| !reason.is_null());
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
                let kind = if error.kind.is_empty() {
                    "error"
                } else {
                    &error.kind
                };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::fixtures::{self, claude, meta, split, ANTHROPIC_STREAM};
    use proptest::prelude::*;

    fn budget_only() -> ModelSpec {
        ModelSpec {
            thinking: Thinking::Budget,
            ..claude()
        }
    }

    fn adaptive_only() -> ModelSpec {
        ModelSpec {
            thinking: Thinking::Adaptive,
            sampling: crate::models::Sampling::None,
            ..claude()
        }
    }

    fn rewritten(body: &Value, model: &ModelSpec) -> Value {
        let body = body.to_string();
        let request = read_request(body.as_bytes()).unwrap();
        serde_json::from_slice(&request.request_body(model, "alice").unwrap()).unwrap()
    }

    fn hi() -> Value {
        json!([{"role": "user", "content": "hi"}])
    }

    #[test]
    fn identity_model_and_stream_are_the_gateways_and_the_rest_passes_as_written() {
        let client = json!({"model": "claude-sonnet-4.6", "max_tokens": 1000, "stream": false,
            "user": "mallory", "metadata": {"user_id": "mallory", "tag": 1}, "safety_identifier": "m",
            "system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
                 "cache_control": {"type": "ephemeral"}, "citations": {"enabled": true}},
                {"type": "text", "text": "summarize"}]},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EncRypted"},
                    {"type": "text", "text": "ok"}]},
                {"role": "user", "content": "go on"}],
            "stop_sequences": ["END"], "tools": [{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
            "service_tier": "auto", "container": null});
        let body = rewritten(&client, &claude());
        let mut expected = client.clone();
        for (key, value) in [
            ("model", json!("claudesonnet46")),
            ("user", json!("alice")),
            ("metadata", json!({"user_id": "alice", "tag": 1})),
            ("stream", json!(true)),
        ] {
            expected[key] = value;
        }
        expected
            .as_object_mut()
            .unwrap()
            .remove("safety_identifier");
        assert_eq!(body, expected);
        // Escaped spellings of the identity are found as JSON means them.
        let escaped = r#"{"model":"claude-sonnet-4.6","max_tokens":10,"messages":[{"role":"user","content":"x"}],"us\u0065r":"mallory","m\u0065tadata":{"user_id":"mallory"}}"#;
        let request = read_request(escaped.as_bytes()).unwrap();
        let text = String::from_utf8(request.request_body(&claude(), "alice").unwrap()).unwrap();
        assert!(!text.contains("mallory"), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["metadata"], json!({"user_id": "alice"}));
        let twice = r#"{"model":"a","m\u006fdel":"b","max_tokens":1,"messages":[]}"#;
        assert_eq!(read_request(twice.as_bytes()).unwrap_err().status, 400);
    }

    #[test]
    fn anthropics_required_fields_are_refused_here_in_its_words() {
        for (body, param) in [
            (json!({"model": "m", "messages": hi()}), "max_tokens"),
            (json!({"max_tokens": 1, "messages": hi()}), "model"),
            (json!({"model": "m", "max_tokens": 1}), "messages"),
            (
                json!({"model": "m", "max_tokens": -1, "messages": hi()}),
                "max_tokens",
            ),
        ] {
            let error = read_request(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(
                (error.status, error.param.as_deref()),
                (400, Some(param)),
                "{body}"
            );
        }
        let counted = json!({"model": "m", "messages": hi()}).to_string();
        assert!(read_count_tokens_request(counted.as_bytes()).is_ok());
    }

    #[test]
    fn sampling_and_top_k_follow_the_table() {
        let asked = json!({"model": "m", "max_tokens": 100, "messages": hi(),
            "temperature": 0.3, "top_p": 0.5, "top_k": 40});
        let body = rewritten(&asked, &claude());
        assert_eq!(
            (
                body["temperature"].as_f64(),
                body.get("top_p"),
                body.get("top_k")
            ),
            (Some(0.3), None, None),
            "one of temperature and top_p; top_k only where the row says"
        );
        let with_top_k = ModelSpec {
            top_k: true,
            sampling: crate::models::Sampling::Any,
            ..claude()
        };
        let body = rewritten(&asked, &with_top_k);
        assert_eq!(
            (body["top_p"].as_f64(), body["top_k"].as_u64()),
            (Some(0.5), Some(40))
        );
        let body = rewritten(&asked, &adaptive_only());
        assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
        let mut thinking = asked.clone();
        thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
        thinking["max_tokens"] = json!(4000);
        let body = rewritten(&thinking, &with_top_k);
        assert!(
            body.get("temperature").is_none()
                && body.get("top_p").is_none()
                && body.get("top_k").is_none(),
            "Anthropic takes only the default sampling with thinking: {body}"
        );
    }

    fn thinking_sent(thinking: Value, max_tokens: u64, model: &ModelSpec) -> Option<Value> {
        let asked = json!({"model": "m", "max_tokens": max_tokens, "messages": hi(),
            "thinking": thinking, "output_config": {"effort": "low"}});
        rewritten(&asked, model).get("thinking").cloned()
    }

    #[test]
    fn thinking_is_fitted_to_what_the_model_takes() {
        let enabled = json!({"type": "enabled", "budget_tokens": 2000});
        let adaptive = json!({"type": "adaptive"});
        assert_eq!(
            thinking_sent(enabled.clone(), 4000, &budget_only()),
            Some(enabled.clone())
        );
        assert_eq!(
            thinking_sent(enabled.clone(), 4000, &claude()),
            Some(enabled.clone())
        );
        assert_eq!(
            thinking_sent(enabled.clone(), 2000, &budget_only()),
            Some(json!({"type": "enabled", "budget_tokens": 1999})),
            "the budget stays below max_tokens"
        );
        assert_eq!(
            thinking_sent(enabled.clone(), 1024, &budget_only()),
            None,
            "no budget fits"
        );
        assert_eq!(
            thinking_sent(enabled.clone(), 4000, &adaptive_only()),
            Some(adaptive.clone())
        );
        assert_eq!(
            thinking_sent(adaptive.clone(), 4000, &claude()),
            Some(adaptive.clone())
        );
        assert_eq!(
            thinking_sent(adaptive.clone(), 8000, &budget_only()),
            Some(json!({"type": "enabled", "budget_tokens": 4000})),
            "a budget from the effort"
        );
        let none = ModelSpec {
            thinking: Thinking::None,
            ..claude()
        };
        assert_eq!(thinking_sent(enabled.clone(), 4000, &none), None);
        assert_eq!(thinking_sent(adaptive, 4000, &none), None);
        let disabled = json!({"type": "disabled"});
        assert_eq!(thinking_sent(disabled.clone(), 4000, &none), Some(disabled));
    }

    #[test]
    fn an_effort_the_model_does_not_take_is_left_out() {
        let config = |config: Value, thinking: Option<Value>, model: &ModelSpec| {
            let mut asked = json!({"model": "m", "max_tokens": 8000, "messages": hi(), "output_config": config});
            if let Some(thinking) = thinking {
                asked["thinking"] = thinking;
            }
            rewritten(&asked, model).get("output_config").cloned()
        };
        let high = json!({"effort": "high"});
        assert_eq!(
            config(high.clone(), None, &budget_only()),
            Some(high.clone())
        );
        assert_eq!(config(json!({"effort": "max"}), None, &claude()), None);
        assert_eq!(
            config(
                json!({"effort": "max", "format": {"type": "json_schema"}}),
                None,
                &claude()
            ),
            Some(json!({"format": {"type": "json_schema"}}))
        );
        let enabled = json!({"type": "enabled", "budget_tokens": 2000});
        assert_eq!(
            config(high.clone(), Some(enabled.clone()), &budget_only()),
            None,
            "no effort beside a budget"
        );
        assert_eq!(config(high.clone(), Some(enabled), &claude()), Some(high));
    }

    #[test]
    fn thinking_blocks_argo_refuses_are_dropped_from_history() {
        let thinking = |block: Value| {
            json!({"model": "m", "max_tokens": 100, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [block, {"type": "text", "text": "answer"}]},
                {"role": "user", "content": [{"type": "thinking", "thinking": "", "signature": "user's own"}]}]})
        };
        let signed = json!({"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"});
        for (block, kept) in [
            (signed.clone(), true),
            (json!({"type": "redacted_thinking", "data": "x"}), true),
            (
                json!({"type": "thinking", "thinking": "", "signature": "c2ln"}),
                false,
            ),
            (
                json!({"type": "thinking", "thinking": " \n", "signature": "c2ln"}),
                false,
            ),
            (json!({"type": "thinking", "signature": "c2ln"}), false),
            (
                json!({"type": "thinking", "thinking": null, "signature": "c2ln"}),
                false,
            ),
            (json!({"type": "thinking", "thinking": "unsigned"}), false),
            (
                json!({"type": "thinking", "thinking": "unsigned", "signature": ""}),
                false,
            ),
            (json!({"t\u{79}pe": "thinking", "thinking": "x"}), false),
        ] {
            let body = rewritten(&thinking(block.clone()), &claude());
            let content = &body["messages"][1]["content"];
            assert_eq!(content[0] == block, kept, "{block}: {content}");
            assert_eq!(content.as_array().unwrap().len(), if kept { 2 } else { 1 });
            assert_eq!(
                body["messages"][2]["content"][0]["signature"], "user's own",
                "only assistant turns are repaired"
            );
        }
        let escaped = r#"{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"t\u0068inking","thinking":""},{"type":"text","text":"a"}]}]}"#;
        let request = read_request(escaped.as_bytes()).unwrap();
        let body: Value =
            serde_json::from_slice(&request.request_body(&claude(), "alice").unwrap()).unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "text", "text": "a"}])
        );
        let only_thinking = json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "unsigned"}]},
            {"role": "user", "content": "again"}]});
        let body = rewritten(&only_thinking, &claude());
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]),
            "an assistant turn left empty goes"
        );
    }

    #[test]
    fn count_tokens_gets_only_what_it_takes() {
        let client = json!({"model": "claude-sonnet-4.6", "max_tokens": 10, "stream": true,
            "temperature": 0.5, "metadata": {"user_id": "mallory"}, "user": "mallory",
            "system": "s", "messages": hi(), "tools": [{"name": "f", "input_schema": {}}],
            "thinking": {"type": "adaptive"}, "stop_sequences": ["x"], "cache_control": {"type": "ephemeral"}});
        let client = client.to_string();
        let request = read_count_tokens_request(client.as_bytes()).unwrap();
        let body: Value =
            serde_json::from_slice(&request.count_tokens_body(&claude(), "alice").unwrap())
                .unwrap();
        assert_eq!(
            body,
            json!({"model": "claudesonnet46", "user": "alice", "system": "s", "messages": hi(),
                "tools": [{"name": "f", "input_schema": {}}], "thinking": {"type": "adaptive"},
                "cache_control": {"type": "ephemeral"}})
        );
    }

    fn relay(pieces: &[&[u8]]) -> (Vec<u8>, StreamTranslation) {
        let mut translation = stream(&meta());
        (fixtures::relay(&mut translation, pieces), translation)
    }

    /// Each event of an Anthropic stream: its name and data.
    fn events(sse: &[u8]) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let mut parser = SseParser::default();
        let mut push = |name: &[u8], data: &[u8]| {
            let name = String::from_utf8(name.to_vec()).unwrap();
            events.push((name, serde_json::from_slice(data).unwrap()));
        };
        parser.feed(sse, &mut push);
        parser.finish(&mut push);
        events
    }

    #[test]
    fn the_stream_is_relayed_as_argo_sent_it_under_the_gateways_identity() {
        let (out, mut translation) = relay(&[ANTHROPIC_STREAM.as_bytes()]);
        let relayed = events(&out);
        let argo = events(ANTHROPIC_STREAM.as_bytes());
        assert_eq!(relayed.len(), argo.len());
        let mut expected = argo[0].clone();
        expected.1["message"]["id"] = json!("chatcmpl-gw123");
        expected.1["message"]["model"] = json!("claude-sonnet-4.6");
        assert_eq!(relayed[0], expected);
        assert_eq!(relayed[1..], argo[1..], "the rest as Argo sent it");
        assert!(translation.usage_reported() && translation.failure().is_none());
        let usage = translation.usage();
        assert_eq!(
            (usage.input_tokens, usage.cached_input_tokens),
            (572, Some(100)),
            "cache reads count in the prompt"
        );
    }

    #[test]
    fn the_stream_relays_alike_split_at_every_byte() {
        let stream = ANTHROPIC_STREAM.as_bytes();
        let whole = relay(&[stream]).0;
        for at in 0..=stream.len() {
            assert_eq!(
                relay(&[&stream[..at], &stream[at..]]).0,
                whole,
                "split at {at}"
            );
        }
    }

    fn event(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn text_delta(text: &str) -> String {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        )
    }

    fn opening() -> String {
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "claudesonnet46", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": null, "output_tokens": 1,
            "cache_read_input_tokens": null}}}),
        ) + &event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )
    }

    #[test]
    fn the_notice_is_a_403_and_nothing_of_it_is_sent() {
        let (head, tail) = fixtures::NOTICE.split_at(20);
        let mut translation = stream(&meta());
        let mut out = translation.start();
        translation
            .feed_into(&mut out, opening().as_bytes())
            .unwrap();
        translation
            .feed_into(&mut out, text_delta(head).as_bytes())
            .unwrap();
        let error = translation
            .feed_into(&mut out, text_delta(tail).as_bytes())
            .unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (403, Some(ErrorCode::UpstreamUserNotRegistered))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn errors_inside_the_stream_reach_the_client_as_errors() {
        let overloaded = event(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        );
        let mut early = stream(&meta());
        let early_error = early
            .feed_into(&mut Vec::new(), (opening() + &overloaded).as_bytes())
            .unwrap_err();
        assert_eq!(early_error.status, 503);
        let mut late = stream(&meta());
        let mut out = Vec::new();
        late.feed_into(&mut out, (opening() + &text_delta("Hello")).as_bytes())
            .unwrap();
        late.feed_into(&mut out, overloaded.as_bytes()).unwrap();
        late.feed_into(&mut out, text_delta("ignored").as_bytes())
            .unwrap();
        out.extend(late.finish().unwrap());
        let relayed = events(&out);
        let last = relayed.last().unwrap();
        assert_eq!(
            (last.0.as_str(), &last.1["error"]["type"]),
            ("error", &json!("overloaded_error"))
        );
        assert!(!String::from_utf8_lossy(&out).contains("ignored"));
        assert!(late.failure().is_some());
        let mut cut = stream(&meta());
        let mut out = Vec::new();
        cut.feed_into(&mut out, (opening() + &text_delta("Hello")).as_bytes())
            .unwrap();
        out.extend(cut.finish().unwrap());
        assert_eq!(
            events(&out).last().unwrap().0,
            "error",
            "a stream cut short ends in an error"
        );
        assert_eq!(
            cut.failure().unwrap().code,
            Some(ErrorCode::UpstreamTruncated)
        );
    }

    #[test]
    fn usage_nulls_and_a_missing_input_count_are_tolerated() {
        let ending = event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ) + &event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
                "stop_sequence": null}, "usage": {"output_tokens": 7, "cache_creation_input_tokens": null}}),
        );
        let whole = opening() + &text_delta("Hi") + &ending;
        let (out, mut translation) = relay(&[whole.as_bytes()]);
        assert_eq!(
            events(&out).last().unwrap().0,
            "message_stop",
            "the end Argo left out is added"
        );
        assert_eq!(
            translation.usage(),
            Usage {
                input_tokens: 0,
                output_tokens: 7,
                cached_input_tokens: None
            }
        );
    }

    /// The stream with a redacted block, a citation and a stop sequence, as Argo might send it.
    fn rich_stream() -> String {
        let start = |index: u64, block: Value| {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": block}),
            )
        };
        let delta = |index: u64, delta: Value| {
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        let stop = |index: u64| {
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            )
        };
        [
            event("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                "role": "assistant", "model": "claudesonnet45", "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 30000, "cache_creation": {"ephemeral_5m_input_tokens": 2000}, "output_tokens": 1}}})),
            start(0, json!({"type": "redacted_thinking", "data": "EncRypted"})),
            stop(0),
            start(1, json!({"type": "thinking", "thinking": "", "signature": ""})),
            delta(1, json!({"type": "thinking_delta", "thinking": "Hmm, "})),
            delta(1, json!({"type": "thinking_delta", "thinking": "PDF."})),
            delta(1, json!({"type": "signature_delta", "signature": "c2ln"})),
            stop(1),
            event("ping", json!({"type": "ping"})),
            start(2, json!({"type": "text", "text": ""})),
            delta(2, json!({"type": "citations_delta", "citation": {"type": "page_location", "cited_text": "x", "start_page_number": 1}})),
            delta(2, json!({"type": "text_delta", "text": "It says \"x\" "})),
            delta(2, json!({"type": "text_delta", "text": "😊"})),
            stop(2),
            start(3, json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})),
            delta(3, json!({"type": "input_json_delta", "partial_json": "{\"a\": "})),
            delta(3, json!({"type": "input_json_delta", "partial_json": "[1]}"})),
            stop(3),
            event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "stop_sequence",
                "stop_sequence": "END"}, "usage": {"output_tokens": 42, "cache_read_input_tokens": null}})),
            event("message_stop", json!({"type": "message_stop"})),
        ]
        .concat()
    }

    fn collected(pieces: &[&[u8]]) -> Result<(Vec<u8>, Usage), ApiError> {
        let mut collector = MessageCollector::default();
        for piece in pieces {
            collector.feed(piece);
        }
        collector.finish(&meta())
    }

    #[test]
    fn one_answer_keeps_every_block_and_field_argo_sent() {
        let stream = rich_stream();
        let (json, usage) = collected(&[stream.as_bytes()]).unwrap();
        let message: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            message,
            json!({"id": "chatcmpl-gw123", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4.6", "content": [
                    {"type": "redacted_thinking", "data": "EncRypted"},
                    {"type": "thinking", "thinking": "Hmm, PDF.", "signature": "c2ln"},
                    {"type": "text", "text": "It says \"x\" 😊", "citations": [
                        {"type": "page_location", "cited_text": "x", "start_page_number": 1}]},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1]}}],
                "stop_reason": "stop_sequence", "stop_sequence": "END",
                "usage": {"input_tokens": 10, "cache_creation_input_tokens": 2000,
                    "cache_read_input_tokens": 30000, "cache_creation": {"ephemeral_5m_input_tokens": 2000},
                    "output_tokens": 42}})
        );
        assert_eq!(
            usage,
            Usage {
                input_tokens: 32_010,
                output_tokens: 42,
                cached_input_tokens: Some(30_000)
            }
        );
    }

    #[test]
    fn one_answer_fails_as_the_stream_did() {
        let overloaded = event(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
        );
        let error =
            collected(&[(opening() + &text_delta("Hi") + &overloaded).as_bytes()]).unwrap_err();
        assert_eq!(error.code, Some(ErrorCode::UpstreamOverloaded));
        let cut = collected(&[(opening() + &text_delta("Hi")).as_bytes()]).unwrap_err();
        assert_eq!(cut.code, Some(ErrorCode::UpstreamTruncated));
        let end = event("message_stop", json!({"type": "message_stop"}));
        let notice = opening()
            + &text_delta(&fixtures::NOTICE[..30])
            + &text_delta(&fixtures::NOTICE[30..])
            + &end;
        assert_eq!(collected(&[notice.as_bytes()]).unwrap_err().status, 403);
        let bad_input = opening().replace(
            "\"text\",\"text\":\"\"",
            "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}",
        ) + &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        ) + &event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ) + &end;
        assert_eq!(collected(&[bad_input.as_bytes()]).unwrap_err().status, 502);
    }

    proptest! {
        #[test]
        fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = rich_stream();
            let stream = stream.as_bytes();
            prop_assert_eq!(relay(&split(stream, &cuts)).0, relay(&[stream]).0);
        }

        #[test]
        fn one_answer_collects_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = rich_stream();
            let stream = stream.as_bytes();
            prop_assert_eq!(
                collected(&split(stream, &cuts)).map(|(json, _)| json).ok(),
                collected(&[stream]).map(|(json, _)| json).ok()
            );
        }
    }
}
