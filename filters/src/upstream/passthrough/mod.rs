//! OpenAI chat clients on Argo's native OpenAI endpoint: the same dialect on both sides, so the
//! client's JSON goes up and Argo's JSON and SSE come back with the least rewriting. Only the
//! model, the user, the model table's parameter rules and usage reporting change on the way
//! up; on the way down the response id and model become the gateway's and the client's, the
//! usage chunk the gateway asked for is dropped unless the client asked too, and the opening is
//! held back until it is known not to be Argo's notice. Nothing is parsed into the hub: top-level
//! members are found by a scan of the bytes and the rest is copied.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::openai_native::WireError;
use super::{fitted, truncated};
use crate::bytes::{find2_near, find_structural};
use crate::client::openai_chat;
use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Finish, Usage};
use crate::models::{Family, ModelSpec};
use crate::notice;
use crate::openai::{ChatRequest, ResponseMeta, Role};
use crate::sse::SseParser;
use crate::stream::{error_event, json_string, push_usage};
use crate::translate::{Engine, StreamState, StreamTranslation};

/// A client's chat body, validated as any chat body ([`openai_chat::parse`]).
#[derive(Debug)]
pub struct ClientRequest<'a> {
    body: &'a [u8],
    request: ChatRequest,
}

/// Reads and validates the client's body; 400s name the offending field.
pub fn read_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    Ok(ClientRequest {
        body,
        request: openai_chat::parse(body)?,
    })
}

impl ClientRequest<'_> {
    /// The model the client asked for.
    pub fn model(&self) -> &str {
        &self.request.model
    }

    pub fn stream(&self) -> bool {
        self.request.stream == Some(true)
    }

    /// Whether the client asked for the usage chunk of a stream.
    pub fn include_usage(&self) -> bool {
        self.request
            .stream_options
            .as_ref()
            .and_then(|options| options.include_usage)
            == Some(true)
    }

    /// Whether the history has an assistant turn of several tool calls: Gemini gets those one
    /// at a time, which the hub writes ([`super::openai_native::request_body`]).
    pub fn has_parallel_tool_calls(&self) -> bool {
        self.request.messages.iter().any(|message| {
            message
                .tool_calls
                .as_ref()
                .is_some_and(|calls| calls.len() > 1)
        })
    }

    /// The request as a conversation, consumed: for a model the pass-through does not serve
    /// (Claude, resource models).
    pub fn into_conversation(self) -> Result<Conversation, ApiError> {
        openai_chat::conversation(self.request)
    }

    /// Argo's request: the client's body with `model` the Argo id, `user` the gateway's user,
    /// sampling and limit fitted to the model, and usage asked for when it streams. Nothing
    /// else the client sends may say who the user is: `metadata.user_id` is the gateway's user
    /// too (Argo reads it on its Anthropic endpoint), `safety_identifier` (OpenAI's successor
    /// of `user`) is dropped, as is each message's participant `name`. Every other member is
    /// copied as the client wrote it. Keys are compared as JSON means them, escapes decoded:
    /// `"us\u0065r"` is `user`.
    pub fn request_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        let request = &self.request;
        let mut asked = Conversation::new(Dialect::OpenAiChat, Vec::new());
        asked.temperature = request.temperature;
        asked.top_p = request.top_p;
        let stream = self.stream();
        let fitted = fitted(&asked, model, stream);
        // As `ModelSpec::fit` caps the limit, for each limit field the client wrote.
        let cap = model.max_tokens_cap.filter(|_| !stream);
        let named = request
            .messages
            .iter()
            .any(|message| message.name.is_some());
        let developer = request
            .messages
            .iter()
            .any(|message| message.role == Role::Developer);
        // Gemini behind Argo fails on parallel calls (argo-api.md §C): one at a time.
        let one_call = model.family == Family::Google
            && request
                .tools
                .as_ref()
                .is_some_and(|tools| !tools.is_empty());
        let mut out = Vec::with_capacity(self.body.len() + 128);
        out.push(b'{');
        let (mut stream_options, mut metadata) = (None, None);
        let mut valid = true;
        let walked = walk_object(self.body, |key, value| {
            let raw = &self.body[value];
            let Some(name) = key_name(key) else {
                valid = false;
                return;
            };
            let kept: Option<Cow<[u8]>> = match name.as_ref() {
                b"model" | b"user" | b"safety_identifier" => None,
                b"stream_options" => {
                    stream_options = Some(raw);
                    None
                }
                b"metadata" => {
                    metadata = Some(raw);
                    None
                }
                b"messages" if named || developer => match messages_for_argo(raw) {
                    Some(messages) => Some(Cow::Owned(messages)),
                    None => {
                        valid = false;
                        None
                    }
                },
                b"parallel_tool_calls" if one_call => None,
                b"temperature" if fitted.temperature.is_none() => None,
                b"top_p" if fitted.top_p.is_none() => None,
                b"max_tokens" | b"max_completion_tokens" => Some(capped(raw, cap)),
                _ => Some(Cow::Borrowed(raw)),
            };
            if let Some(value) = kept {
                member(&mut out, key, &value);
            }
        });
        if !walked || !valid {
            return Err(ApiError::invalid("body", "Invalid JSON body"));
        }
        if one_call {
            member(&mut out, b"parallel_tool_calls", b"false");
        }
        member(&mut out, b"model", json_string(&model.argo_id).as_bytes());
        member(&mut out, b"user", json_string(user).as_bytes());
        if let Some(metadata) = metadata.and_then(|raw| users_metadata(raw, user)) {
            member(&mut out, b"metadata", metadata.as_bytes());
        }
        if stream {
            let mut options = stream_options
                .and_then(|raw| serde_json::from_slice::<Map<String, Value>>(raw).ok())
                .unwrap_or_default();
            options.insert("include_usage".into(), Value::Bool(true));
            member(
                &mut out,
                b"stream_options",
                Value::Object(options).to_string().as_bytes(),
            );
        } else if let Some(raw) = stream_options {
            member(&mut out, b"stream_options", raw);
        }
        out.push(b'}');
        Ok(out)
    }
}

/// A member's key as JSON means it, escapes decoded (`us\u0065r` is `user`), so that no
/// spelling of a key the gateway writes itself gets past it; `None` when it is no JSON string.
/// Kept members are written with the key as the client spelled it.
pub(super) fn key_name(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !raw.contains(&b'\\') {
        return Some(Cow::Borrowed(raw));
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    let name: String = serde_json::from_slice(&quoted).ok()?;
    Some(Cow::Owned(name.into_bytes()))
}

/// The client's `metadata` with `user_id` the gateway's user; `None` (the member left out)
/// when it is no object. Never added when the client sent none: OpenAI takes `metadata` only
/// with `store`.
pub(super) fn users_metadata(raw: &[u8], user: &str) -> Option<String> {
    let mut metadata: Map<String, Value> = serde_json::from_slice(raw).ok()?;
    metadata.insert("user_id".into(), Value::String(user.into()));
    Some(Value::Object(metadata).to_string())
}

/// The `messages` array with each message's `name` left out and a `developer` role as
/// `system` (Argo's chat endpoint answers `developer` with a misleading 400 about
/// `messages[i].tool_calls`, argo-api.md §C); `None` when it is not an array of objects (the
/// parse has checked that it is).
fn messages_for_argo(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'[');
    let mut valid = true;
    let walked = walk_array(raw, |span| {
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'{');
        let message = &raw[span];
        let mut keys_valid = true;
        let object = walk_object(message, |key, value| match key_name(key) {
            Some(name) if name.as_ref() == b"name" => {}
            Some(name) if name.as_ref() == b"role" && is_developer(&message[value.clone()]) => {
                member(&mut out, key, b"\"system\"")
            }
            Some(_) => member(&mut out, key, &message[value]),
            None => keys_valid = false,
        });
        valid &= object && keys_valid;
        out.push(b'}');
    });
    out.push(b']');
    (walked && valid).then_some(out)
}

/// Whether a role's JSON string says `developer`, escapes decoded.
fn is_developer(raw: &[u8]) -> bool {
    raw == b"\"developer\""
        || (raw.contains(&b'\\') && matches!(serde_json::from_slice(raw), Ok(Role::Developer)))
}

/// A token limit as written, or `cap` when it is larger.
fn capped(raw: &[u8], cap: Option<u64>) -> Cow<'_, [u8]> {
    let limit = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse::<u64>().ok());
    match (limit, cap) {
        (Some(limit), Some(cap)) if limit > cap => Cow::Owned(cap.to_string().into_bytes()),
        _ => Cow::Borrowed(raw),
    }
}

/// OpenAI's usage object, read as [`super::openai_native::WireUsage`] reads it (`None` when it
/// is not an object or a count is not a whole number) by a scan of its members: serde's walk
/// over the members it skips showed in the profile of every answer.
fn read_usage(raw: &[u8]) -> Option<Usage> {
    let count = |span: Range<usize>, of: &[u8]| -> Result<Option<u64>, ()> {
        match &of[span] {
            b"null" => Ok(None),
            digits => std::str::from_utf8(digits)
                .ok()
                .and_then(|text| text.parse().ok())
                .map(Some)
                .ok_or(()),
        }
    };
    let mut usage = Usage::default();
    let (mut valid, mut details) = (true, None);
    let walked = walk_object(raw, |key, span| {
        let slot = match key {
            b"prompt_tokens" => &mut usage.input_tokens,
            b"completion_tokens" => &mut usage.output_tokens,
            b"prompt_tokens_details" => {
                details = Some(span);
                return;
            }
            _ => return,
        };
        // Present, a count must be a number: serde refuses `null` for a plain `u64`.
        match count(span, raw) {
            Ok(Some(value)) => *slot = value,
            Ok(None) | Err(()) => valid = false,
        }
    });
    if !walked || !valid {
        return None;
    }
    if let Some(span) = details.filter(|span| &raw[span.clone()] != b"null") {
        let details = &raw[span];
        let mut cached = Ok(None);
        let walked = walk_object(details, |key, span| {
            if key == b"cached_tokens" {
                cached = count(span, details);
            }
        });
        usage.cached_input_tokens = cached.ok().filter(|_| walked)?;
    }
    Some(usage)
}

/// Appends `"key":value` to an object being written.
pub(super) fn member(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
}

/// Argo's `chat.completion` for the client: the response id and model are the gateway's and
/// the client's; the usage Argo reported comes back for the gateway. Argo's notice and an
/// error body are errors.
pub fn relay_answer(
    body: &[u8],
    meta: &ResponseMeta,
) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
    if notice::is_notice(body) {
        return Err(notice::unregistered_user());
    }
    let members = Members::of(body).ok_or_else(|| {
        ApiError::invalid_answer("Argo returned a chat answer that is not valid JSON")
    })?;
    if let Some(error) = members.error(body) {
        return Err(error);
    }
    if members.choices.is_none() {
        return Err(ApiError::invalid_answer(
            "Argo returned a chat answer without choices",
        ));
    }
    let usage = members.usage(body);
    let mut out = Vec::with_capacity(body.len() + meta.id.len() + meta.model.len());
    members.rewrite(body, &Identity::new(meta), &mut out);
    Ok((out, usage))
}

/// The translation of Argo's chat stream for a client of the same dialect.
pub fn stream(meta: &ResponseMeta, include_usage: bool) -> StreamTranslation {
    StreamTranslation::with_engine(Box::new(Relay {
        parser: SseParser::default(),
        events: RelayState {
            identity: Identity::new(meta),
            include_usage,
            usage_sent: false,
            finished: false,
            done: false,
        },
    }))
}

/// The response's id and model as JSON strings, and its creation time.
#[derive(Debug)]
struct Identity {
    id: String,
    model: String,
    created: u64,
}

impl Identity {
    fn new(meta: &ResponseMeta) -> Self {
        Identity {
            id: json_string(&meta.id),
            model: json_string(&meta.model),
            created: meta.created,
        }
    }
}

#[derive(Debug)]
struct Relay {
    parser: SseParser,
    events: RelayState,
}

#[derive(Debug)]
struct RelayState {
    identity: Identity,
    include_usage: bool,
    usage_sent: bool,
    finished: bool,
    /// `[DONE]` or an error came: nothing more is relayed.
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
            .try_feed(bytes, |_, data| events.data(data, state, out))
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_finish(|_, data| events.data(data, state, out))?;
        if !events.done && !events.finished {
            events.done = true;
            return state.upstream_error(out, truncated(), error_event);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>, _finish: Finish, usage: Usage) {
        let events = &self.events;
        if events.include_usage && !events.usage_sent {
            // Argo sent none: the client gets the gateway's count.
            let identity = &events.identity;
            out.extend_from_slice(
                format!(
                    "data: {{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"choices\":[],\"usage\":",
                    identity.id, identity.created, identity.model
                )
                .as_bytes(),
            );
            push_usage(out, &usage);
            out.extend_from_slice(b"}\n\n");
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        error_event(out, error);
    }
}

impl RelayState {
    fn data(
        &mut self,
        data: &[u8],
        state: &mut StreamState,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done = true;
            return Ok(());
        }
        // What is not a JSON object is no chunk the client could use.
        let Some(members) = Members::of(data) else {
            return Ok(());
        };
        if let Some(error) = members.error(data) {
            self.done = true;
            return state.upstream_error(out, error, error_event);
        }
        let usage = members.usage(data);
        if let Some(usage) = usage {
            state.report(usage);
        }
        let choices = members.choices.clone().map(|span| &data[span]);
        let no_choices = choices.is_none_or(is_empty_array);
        if no_choices {
            // Azure's prompt-filter chunk, or the usage chunk only the gateway asked for.
            if usage.is_none() || !self.include_usage {
                return Ok(());
            }
            self.usage_sent = true;
        }
        if let Some(choices) = choices {
            self.watch(choices, state)?;
        }
        let sink = state.guard.sink(out);
        sink.reserve(data.len() + self.identity.model.len() + 8);
        sink.extend_from_slice(b"data: ");
        members.rewrite(data, &self.identity, sink);
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// What the choices say for the notice check, the count and the end of the answer.
    fn watch(&mut self, choices: &[u8], state: &mut StreamState) -> Result<(), ApiError> {
        let choice = FirstChoice::of(choices);
        self.finished |= choice.finished;
        if state.guard.decided() {
            if let Some(text) = choice.content {
                state.count(text);
            }
            return Ok(());
        }
        let Ok(choices) = serde_json::from_slice::<Vec<ChunkChoiceOnly>>(choices) else {
            return Ok(());
        };
        for choice in choices {
            if let Some(text) = &choice.delta.content {
                state.count(text);
                state.guard.text(text)?;
            }
            if choice.delta.tool_calls.is_some() || choice.finish_reason.is_some() {
                state.guard.content();
            }
        }
        Ok(())
    }
}

/// What the relay reads of a chunk's first choice, found by the member scan.
#[derive(Debug, Default)]
struct FirstChoice<'a> {
    /// `delta.content` as written (JSON escapes left in: good enough for a count).
    content: Option<&'a str>,
    /// It has a `finish_reason`.
    finished: bool,
}

impl<'a> FirstChoice<'a> {
    fn of(choices: &'a [u8]) -> Self {
        let mut choice = FirstChoice::default();
        let mut delta = None;
        walk_object_at(choices, 1, |key, span| match key {
            b"delta" => delta = Some(&choices[span]),
            b"finish_reason" => choice.finished = &choices[span] != b"null",
            _ => {}
        });
        if let Some(delta) = delta {
            walk_object(delta, |key, span| {
                if key == b"content" && span.len() >= 2 && delta[span.start] == b'"' {
                    choice.content = std::str::from_utf8(&delta[span.start + 1..span.end - 1]).ok();
                }
            });
        }
        choice
    }
}

/// A choice of a chunk, read only while the opening is undecided.
#[derive(Deserialize)]
struct ChunkChoiceOnly {
    #[serde(default)]
    delta: ChunkDeltaOnly,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct ChunkDeltaOnly {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<serde::de::IgnoredAny>,
}

/// The top-level members of an answer or chunk that the relay reads or rewrites.
#[derive(Debug, Default)]
struct Members {
    id: Option<Range<usize>>,
    model: Option<Range<usize>>,
    choices: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    error: Option<Range<usize>>,
}

impl Members {
    fn of(json: &[u8]) -> Option<Self> {
        let [id, model, choices, usage, error] =
            pick_members(json, [b"id", b"model", b"choices", b"usage", b"error"])?;
        Some(Members {
            id,
            model,
            choices,
            usage,
            error,
        })
    }

    fn present<'a>(json: &'a [u8], span: &Option<Range<usize>>) -> Option<&'a [u8]> {
        span.clone()
            .map(|span| &json[span])
            .filter(|value| *value != b"null")
    }

    fn error(&self, json: &[u8]) -> Option<ApiError> {
        let raw = Self::present(json, &self.error)?;
        let error = serde_json::from_slice::<WireError>(raw).unwrap_or_default();
        Some(error.api_error())
    }

    fn usage(&self, json: &[u8]) -> Option<Usage> {
        read_usage(Self::present(json, &self.usage)?)
    }

    /// `json` with the id and model replaced by `identity`'s.
    fn rewrite(&self, json: &[u8], identity: &Identity, out: &mut Vec<u8>) {
        let mut replacements: [(Option<Range<usize>>, &str); 2] = [
            (self.id.clone(), &identity.id),
            (self.model.clone(), &identity.model),
        ];
        replacements.sort_by_key(|(span, _)| span.as_ref().map_or(0, |span| span.start));
        let mut copied = 0;
        for (span, value) in replacements {
            if let Some(span) = span {
                out.extend_from_slice(&json[copied..span.start]);
                out.extend_from_slice(value.as_bytes());
                copied = span.end;
            }
        }
        out.extend_from_slice(&json[copied..]);
    }
}

/// The spans of the top-level members of the JSON object `json` whose keys (as written
/// between their quotes) are `keys`, in that order; `None` when `json` is not an object.
pub(super) fn pick_members<const N: usize>(
    json: &[u8],
    keys: [&[u8]; N],
) -> Option<[Option<Range<usize>>; N]> {
    let mut spans = std::array::from_fn(|_| None);
    let walked = walk_object(json, |key, span| {
        if let Some(at) = keys.iter().position(|wanted| *wanted == key) {
            spans[at] = Some(span);
        }
    });
    walked.then_some(spans)
}

/// Calls `member(key, value span)` for each top-level member of the JSON object `json` (the
/// key as written between its quotes); `false` when `json` is not an object. Values are
/// skipped, not checked: a caller that needs them valid parses them.
pub(super) fn walk_object(json: &[u8], member: impl FnMut(&[u8], Range<usize>)) -> bool {
    walk_object_at(json, 0, member).is_some_and(|end| skip_space(json, end) == json.len())
}

/// [`walk_object`] for the object starting at `at` (after spaces); where it ends.
fn walk_object_at(
    json: &[u8],
    at: usize,
    mut member: impl FnMut(&[u8], Range<usize>),
) -> Option<usize> {
    let mut at = skip_space(json, at);
    if json.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_space(json, at + 1);
    if json.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if json.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(json, at)?;
        let key = &json[at + 1..key_end - 1];
        at = skip_space(json, key_end);
        if json.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_space(json, at + 1);
        let end = value_end(json, start)?;
        member(key, start..end);
        at = skip_space(json, end);
        match json.get(at) {
            Some(b',') => at = skip_space(json, at + 1),
            Some(b'}') => return Some(at + 1),
            _ => return None,
        }
    }
}

/// Calls `element(value span)` for each element of the JSON array `json`; `false` when it is
/// not an array.
pub(super) fn walk_array(json: &[u8], mut element: impl FnMut(Range<usize>)) -> bool {
    let mut at = skip_space(json, 0);
    if json.get(at) != Some(&b'[') {
        return false;
    }
    at = skip_space(json, at + 1);
    if json.get(at) == Some(&b']') {
        return skip_space(json, at + 1) == json.len();
    }
    loop {
        let Some(end) = value_end(json, at) else {
            return false;
        };
        element(at..end);
        at = skip_space(json, end);
        match json.get(at) {
            Some(b',') => at = skip_space(json, at + 1),
            Some(b']') => return skip_space(json, at + 1) == json.len(),
            _ => return false,
        }
    }
}

fn skip_space(json: &[u8], mut at: usize) -> usize {
    while json.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Where the string opening at `at` ends (after its closing quote).
fn string_end(json: &[u8], at: usize) -> Option<usize> {
    let mut index = at + 1;
    loop {
        index += find2_near(json.get(index..)?, b'"', b'\\')?;
        if json[index] == b'"' {
            return Some(index + 1);
        }
        index += 2;
    }
}

/// Where the value starting at `at` ends.
fn value_end(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut index = at;
            loop {
                index += find_structural(json.get(index..)?)?;
                match json[index] {
                    b'"' => {
                        index = string_end(json, index)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(index + 1);
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
        }
        _ => {
            let end = json[at..]
                .iter()
                .position(|byte| matches!(byte, b',' | b'}' | b']') || byte.is_ascii_whitespace())
                .map_or(json.len(), |offset| at + offset);
            (end > at).then_some(end)
        }
    }
}

fn is_empty_array(json: &[u8]) -> bool {
    json.strip_prefix(b"[")
        .and_then(|rest| rest.strip_suffix(b"]"))
        .is_some_and(|inside| inside.trim_ascii().is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::openai_native::WireUsage;
    use super::*;
    use crate::error::ErrorCode;
    use crate::fixtures::{self, gpt, meta, split, sse_payloads, streamed_text, OPENAI_STREAM};
    use crate::models::{Family, Kind, Sampling};
    use proptest::prelude::*;
    use serde_json::json;

    const CLIENT: &str = r#"{"model":"gpt-4o","user":"mallory","messages":[{"role":"user","content":"Say \"hi\" 🎉"}],
        "temperature":0.2,"top_p":0.5,"seed":7,"response_format":{"type":"json_object"},"logit_bias":{"50256":-100},
        "max_completion_tokens":50000,"stream":true,"stream_options":{"include_obfuscation":false}}"#;

    fn relayed(body: &str, model: &ModelSpec) -> Value {
        let request = read_request(body.as_bytes()).unwrap();
        serde_json::from_slice(&request.request_body(model, "alice").unwrap()).unwrap()
    }

    #[test]
    fn the_request_changes_only_model_user_rules_and_usage_reporting() {
        let request = read_request(CLIENT.as_bytes()).unwrap();
        assert_eq!(
            (request.model(), request.stream(), request.include_usage()),
            ("gpt-4o", true, false)
        );
        let body = request.request_body(&gpt(), "alice").unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        for verbatim in [
            r#""messages":[{"role":"user","content":"Say \"hi\" 🎉"}]"#,
            r#""response_format":{"type":"json_object"}"#,
            r#""logit_bias":{"50256":-100}"#,
        ] {
            assert!(text.contains(verbatim), "{verbatim} in {text}");
        }
        let mut expected: Value = serde_json::from_str(CLIENT).unwrap();
        expected["model"] = json!("gpt4o");
        expected["user"] = json!("alice");
        expected["stream_options"] = json!({"include_obfuscation": false, "include_usage": true});
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    }

    #[test]
    fn developer_messages_go_as_system_and_nothing_else_changes() {
        let body = r#"{"model":"gpt-4o","messages":[{"role":"developer","content":"A"},
            {"role":"develop\u0065r","content":"B"},{"content":"C","role":"user"}]}"#;
        let sent = relayed(body, &gpt());
        assert_eq!(
            sent["messages"],
            json!([{"role": "system", "content": "A"}, {"role": "system", "content": "B"},
                {"content": "C", "role": "user"}])
        );
        let plain = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"C"}]}"#;
        let request = read_request(plain.as_bytes()).unwrap();
        let out = request.request_body(&gpt(), "alice").unwrap();
        assert!(
            std::str::from_utf8(&out)
                .unwrap()
                .contains(r#""messages":[{"role":"user","content":"C"}]"#),
            "copied as written when there is nothing to rewrite"
        );
    }

    #[test]
    fn gemini_is_asked_for_one_tool_call_at_a_time() {
        let gemini = ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat);
        let body = r#"{"model":"gemini-2.5-pro","parallel_tool_calls":true,
            "tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(relayed(body, &gemini)["parallel_tool_calls"], false);
        assert_eq!(relayed(body, &gpt())["parallel_tool_calls"], true);
        let no_tools = r#"{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}"#;
        assert!(relayed(no_tools, &gemini)
            .get("parallel_tool_calls")
            .is_none());
        let parallel = r#"{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"},
            {"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
                {"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#;
        assert!(read_request(parallel.as_bytes())
            .unwrap()
            .has_parallel_tool_calls());
        assert!(!read_request(body.as_bytes())
            .unwrap()
            .has_parallel_tool_calls());
    }

    /// Each top-level key of a written body, escapes decoded, and whether `bob` is anywhere.
    fn keys_of(body: &[u8]) -> Vec<String> {
        let mut keys = Vec::new();
        assert!(walk_object(body, |key, _| {
            keys.push(String::from_utf8(key_name(key).unwrap().into_owned()).unwrap())
        }));
        keys
    }

    #[test]
    fn no_field_of_the_client_says_who_the_user_is() {
        let client = json!({"model": "gpt-4o", "user": "bob", "safety_identifier": "bob",
            "metadata": {"user_id": "bob", "run": "7"},
            "messages": [{"role": "system", "content": "Be brief.", "name": "bob"},
                {"role": "user", "content": "Say \"hi\"", "name": "bob"}, {"role": "user", "content": "x"}],
            "seed": 7});
        let body = read_request(client.to_string().as_bytes())
            .unwrap()
            .request_body(&gpt(), "alice")
            .unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(!text.contains("bob"), "{text}");
        assert!(
            text.contains(r#"{"content":"Say \"hi\"","role":"user"}"#),
            "{text}"
        );
        let mut expected = client.clone();
        expected["model"] = json!("gpt4o");
        expected["user"] = json!("alice");
        expected["metadata"] = json!({"run": "7", "user_id": "alice"});
        expected
            .as_object_mut()
            .unwrap()
            .remove("safety_identifier");
        for message in expected["messages"].as_array_mut().unwrap() {
            message.as_object_mut().unwrap().remove("name");
        }
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
        // A client without metadata gets none: OpenAI takes it only with `store`.
        let plain = relayed(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":"bob"}"#,
            &gpt(),
        );
        assert_eq!(plain.get("metadata"), None);
        let plain = relayed(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#,
            &gpt(),
        );
        assert_eq!(plain.get("metadata"), None);
    }

    #[test]
    fn escaped_spellings_of_the_keys_the_gateway_writes_are_those_keys() {
        let gpt5 = ModelSpec {
            sampling: Sampling::None,
            max_tokens_cap: Some(21_000),
            ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
        };
        // Every key the gateway writes or drops, each with an escape in its name (`\u0065` is
        // `e`, `\u0061` is `a`, `\/` is `/`): and the values say `bob`.
        let client = r#"{"mod\u0065l":"gpt-5","\u0075ser":"bob","us\u0065r":"bob",
            "s\u0061fety_identifier":"bob","met\u0061data":{"us\u0065r_id":"bob"},
            "temp\u0065rature":0.5,"top_\u0070":0.5,"max_tok\u0065ns":50000,
            "max_compl\u0065tion_tokens":50000,"stre\u0061m_options":{"include_usage":false},
            "m\u0065ssages":[{"role":"user","content":"hi","n\u0061me":"bob"}],"s\u0065ed":7}"#;
        let body = read_request(client.as_bytes())
            .unwrap()
            .request_body(&gpt5, "alice")
            .unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(!text.contains("bob"), "{text}");
        let mut keys = keys_of(&body);
        keys.sort();
        assert_eq!(
            keys,
            [
                "max_completion_tokens",
                "max_tokens",
                "messages",
                "metadata",
                "model",
                "seed",
                "stream_options",
                "user"
            ],
            "each once: {text}"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"model": "gpt5", "user": "alice", "metadata": {"user_id": "alice"},
                "max_tokens": 21000, "max_completion_tokens": 21000, "seed": 7,
                "stream_options": {"include_usage": false},
                "messages": [{"role": "user", "content": "hi"}]})
        );
        // A message naming itself twice, once escaped, is refused before anything is sent.
        let twice = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x","name":"a","n\u0061me":"bob"}]}"#;
        assert_eq!(read_request(twice.as_bytes()).unwrap_err().status, 400);
    }

    #[test]
    fn the_model_tables_rules_apply() {
        let gpt5 = ModelSpec {
            sampling: Sampling::None,
            ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
        };
        let body = relayed(CLIENT, &gpt5);
        assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
        let one_of = ModelSpec {
            sampling: Sampling::OneOf,
            max_tokens_cap: Some(21_000),
            ..gpt()
        };
        let body = relayed(CLIENT, &one_of);
        assert_eq!(
            (body["temperature"].as_f64(), body.get("top_p")),
            (Some(0.2), None)
        );
        assert_eq!(
            body["max_completion_tokens"], 50_000,
            "streams are not capped"
        );
        let unstreamed = CLIENT.replace(r#""stream":true"#, r#""stream":false,"max_tokens":100"#);
        let body = relayed(&unstreamed, &one_of);
        assert_eq!(body["max_completion_tokens"], 21_000);
        assert_eq!(body["max_tokens"], 100, "each limit is capped on its own");
        assert_eq!(
            body["stream_options"],
            json!({"include_obfuscation": false}),
            "no usage asked for without a stream"
        );
    }

    #[test]
    fn several_choices_reach_argo_here_and_are_refused_through_the_hub() {
        let several = CLIENT.replace(r#""stream":true"#, r#""stream":true,"n":3"#);
        assert_eq!(relayed(&several, &gpt())["n"], 3);
        let request = read_request(several.as_bytes()).unwrap();
        let refused = request.into_conversation().unwrap_err();
        assert_eq!((refused.status, refused.param.as_deref()), (400, Some("n")));
        assert!(refused.message.contains("native OpenAI endpoint"));
    }

    #[test]
    fn invalid_requests_are_refused_as_on_every_path() {
        for (body, param) in [
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                "temperature",
            ),
            (r#"{"messages":[]}"#, "model"),
        ] {
            assert_eq!(
                read_request(body.as_bytes()).unwrap_err().param.as_deref(),
                Some(param),
                "{body}"
            );
        }
    }

    #[test]
    fn answers_come_back_under_the_gateways_id_and_the_clients_model() {
        let argo = br#"{"id":"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE","choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Pong!","role":"assistant"}}],"created":1779381799,"model":"gpt-4o-2024-11-20","object":"chat.completion","usage":{"completion_tokens":10,"prompt_tokens":8,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":0}}}"#;
        let (body, usage) = relay_answer(argo, &meta()).unwrap();
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let mut expected: Value = serde_json::from_slice(argo).unwrap();
        expected["id"] = json!("chatcmpl-gw123");
        expected["model"] = json!("claude-sonnet-4.6");
        assert_eq!(answer, expected);
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 8,
                output_tokens: 10,
                cached_input_tokens: Some(0)
            })
        );
        let error = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert_eq!(relay_answer(error, &meta()).unwrap_err().status, 429);
        let notice = json!({"choices": [{"message": {"content": fixtures::NOTICE}}]}).to_string();
        assert_eq!(
            relay_answer(notice.as_bytes(), &meta()).unwrap_err().status,
            403
        );
        assert_eq!(relay_answer(b"[1]", &meta()).unwrap_err().status, 502);
        assert_eq!(
            relay_answer(br#"{"id":"x"}"#, &meta()).unwrap_err().status,
            502
        );
    }

    /// The whole client stream for `pieces`, and the translation after it.
    fn relay(pieces: &[&[u8]], include_usage: bool) -> (Vec<u8>, StreamTranslation) {
        let mut translation = stream(&meta(), include_usage);
        (fixtures::relay(&mut translation, pieces), translation)
    }

    #[test]
    fn the_stream_is_relayed_under_the_gateways_identity() {
        let (out, mut translation) = relay(&[OPENAI_STREAM.as_bytes()], false);
        let payloads = sse_payloads(&out);
        assert_eq!(
            payloads.len(),
            7,
            "filter and usage chunks dropped: {payloads:?}"
        );
        assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        for chunk in &payloads[..6] {
            assert_eq!(chunk["id"], "chatcmpl-gw123");
            assert_eq!(chunk["model"], "claude-sonnet-4.6");
            assert_eq!(
                chunk["system_fingerprint"], "fp_ee1d74bde0",
                "the rest is Argo's"
            );
            assert_eq!(chunk["created"], 1779381799);
        }
        assert_eq!(streamed_text(&payloads).0, "Pong! 😊 \"quoted\"");
        assert_eq!(payloads[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            translation.usage(),
            Usage {
                input_tokens: 175,
                output_tokens: 16,
                cached_input_tokens: Some(128)
            }
        );
        assert!(translation.usage_reported() && translation.failure().is_none());
        let (out, _) = relay(&[OPENAI_STREAM.as_bytes()], true);
        let payloads = sse_payloads(&out);
        let usage = &payloads[payloads.len() - 2];
        assert_eq!(
            (
                usage["id"].as_str(),
                usage["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64()
            ),
            (Some("chatcmpl-gw123"), Some(128))
        );
    }

    #[test]
    fn without_argos_usage_a_client_that_asked_gets_the_count() {
        let without = OPENAI_STREAM.replace(
            &OPENAI_STREAM[OPENAI_STREAM.find("data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[],").unwrap()..OPENAI_STREAM.find("data: [DONE]").unwrap()],
            "",
        );
        let (out, translation) = relay(&[without.as_bytes()], true);
        assert!(!translation.usage_reported());
        let payloads = sse_payloads(&out);
        let usage = &payloads[payloads.len() - 2]["usage"];
        assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    }

    #[test]
    fn the_opening_is_held_until_it_cannot_be_the_notice() {
        let mut translation = stream(&meta(), false);
        let chunks: Vec<&str> = OPENAI_STREAM.split_inclusive("\n\n").collect();
        let mut out = translation.start();
        translation
            .feed_into(&mut out, chunks[0].as_bytes())
            .unwrap();
        translation
            .feed_into(&mut out, chunks[1].as_bytes())
            .unwrap();
        assert!(
            out.is_empty() && !translation.decided(),
            "the role chunk waits"
        );
        translation
            .feed_into(&mut out, chunks[2].as_bytes())
            .unwrap();
        assert!(translation.decided());
        let payloads = sse_payloads(&out);
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
    }

    fn content_chunk(text: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        )
    }

    #[test]
    fn the_notice_is_an_error_and_nothing_of_it_is_sent() {
        let (head, tail) = fixtures::NOTICE.split_at(20);
        let mut translation = stream(&meta(), false);
        let mut out = translation.start();
        translation
            .feed_into(&mut out, content_chunk("").as_bytes())
            .unwrap();
        translation
            .feed_into(&mut out, content_chunk(head).as_bytes())
            .unwrap();
        let error = translation
            .feed_into(&mut out, content_chunk(tail).as_bytes())
            .unwrap_err();
        assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
        assert!(out.is_empty());
        assert!(translation.finish().unwrap().is_empty());
        let mut plain = stream(&meta(), false);
        let error = plain
            .feed_into(&mut Vec::new(), fixtures::NOTICE.as_bytes())
            .unwrap_err();
        assert_eq!(
            error.status, 403,
            "a notice outside any event is caught too"
        );
    }

    #[test]
    fn upstream_errors_end_the_stream_or_replace_it() {
        let error = b"data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
        let mut early = stream(&meta(), false);
        assert_eq!(
            early.feed_into(&mut Vec::new(), error).unwrap_err().status,
            502
        );
        let mut late = stream(&meta(), false);
        let mut out = Vec::new();
        late.feed_into(&mut out, content_chunk("Hello").as_bytes())
            .unwrap();
        late.feed_into(&mut out, error).unwrap();
        late.feed_into(&mut out, content_chunk("ignored").as_bytes())
            .unwrap();
        out.extend(late.finish().unwrap());
        let payloads = sse_payloads(&out);
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[1]["error"]["type"], "upstream_error");
        assert!(late.failure().is_some());
        let mut cut = stream(&meta(), false);
        let mut out = Vec::new();
        cut.feed_into(&mut out, content_chunk("Hello").as_bytes())
            .unwrap();
        out.extend(cut.finish().unwrap());
        let payloads = sse_payloads(&out);
        assert_eq!(
            payloads.last().unwrap()["error"]["code"],
            "upstream_truncated"
        );
    }

    fn relayed_whole(pieces: &[&[u8]]) -> Vec<u8> {
        relay(pieces, true).0
    }

    #[test]
    fn the_stream_relays_alike_split_at_every_byte() {
        let stream = OPENAI_STREAM.as_bytes();
        let whole = relayed_whole(&[stream]);
        for at in 0..=stream.len() {
            assert_eq!(
                relayed_whole(&[&stream[..at], &stream[at..]]),
                whole,
                "split at {at}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = OPENAI_STREAM.as_bytes();
            prop_assert_eq!(relayed_whole(&split(stream, &cuts)), relayed_whole(&[stream]));
        }

        #[test]
        fn the_member_scan_agrees_with_serde(value in prop::collection::btree_map("[a-z\"\\\\]{0,4}", prop_oneof![
            Just(json!(null)), Just(json!("x\"}]")), Just(json!([1, {"a": "]"}])), Just(json!({"b": [true, "{"]})), Just(json!(-1.5e3))], 0..6)) {
            let object: serde_json::Map<String, Value> = value.into_iter().collect();
            let json = serde_json::to_vec_pretty(&Value::Object(object.clone())).unwrap();
            let mut scanned = serde_json::Map::new();
            let walked = walk_object(&json, |key, span| {
                let key: String = serde_json::from_slice(&[b"\"", key, b"\""].concat()).unwrap();
                scanned.insert(key, serde_json::from_slice(&json[span]).unwrap());
            });
            prop_assert!(walked);
            prop_assert_eq!(scanned, object);
        }
    }

    #[test]
    fn the_member_scan_refuses_what_is_not_an_object() {
        for json in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"a\":}",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{\"a\":1} x",
            b"{\"a\":\"x}",
        ] {
            assert!(
                !walk_object(json, |_, _| {}),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        assert!(walk_object(b" { } ", |_, _| {}));
    }

    fn usage_member() -> impl Strategy<Value = Option<String>> {
        let count = prop_oneof![
            Just("null".to_string()),
            (0u64..100_000).prop_map(|n| n.to_string()),
            Just("-1".to_string()),
            Just("1.5".to_string()),
            Just("\"7\"".to_string()),
        ];
        prop::option::of(count)
    }

    proptest! {
        #[test]
        fn usage_is_read_as_serde_reads_it(
            prompt in usage_member(),
            completion in usage_member(),
            cached in usage_member(),
            details in 0..4u8,
            noise in any::<bool>(),
        ) {
            let mut members = Vec::new();
            if noise {
                members.push(r#""total_tokens":9,"completion_tokens_details":{"reasoning_tokens":0,"x":[1,{"y":2}]}"#.to_string());
            }
            if let Some(prompt) = prompt { members.push(format!(r#""prompt_tokens":{prompt}"#)); }
            if let Some(completion) = completion { members.push(format!(r#""completion_tokens": {completion}"#)); }
            match (details, cached) {
                (0, _) => {}
                (1, _) => members.push(r#""prompt_tokens_details":null"#.into()),
                (2, _) => members.push(r#""prompt_tokens_details":"x""#.into()),
                (_, cached) => members.push(format!(r#""prompt_tokens_details":{{{}}}"#,
                    cached.map(|c| format!(r#""audio_tokens":0,"cached_tokens":{c}"#)).unwrap_or_default())),
            }
            let json = format!("{{{}}}", members.join(","));
            let by_serde = serde_json::from_str::<WireUsage>(&json).ok().map(Usage::from);
            prop_assert_eq!(read_usage(json.as_bytes()), by_serde, "{}", json);
        }
    }
}
