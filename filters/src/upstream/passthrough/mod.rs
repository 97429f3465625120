//! OpenAI chat clients on Argo's native OpenAI endpoint: the same dialect on both sides, so the
//! client's JSON goes up and Argo's JSON and SSE come back with the least rewriting. Only the
//! model, the user, the model table's parameter rules and usage reporting change on the way
//! up; on the way down the response id and model become the gateway's and the client's, the
//! usage chunk the gateway asked for is dropped unless the client asked too, and the opening is
//! held back until it is known not to be Argo's notice. Nothing is parsed into the hub: top-level
//! members are found by a scan of the bytes and the rest is copied.

pub(super) mod relay;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::fitted;
use super::openai_native::WireError;
use crate::bytes::{find2_near, find_structural};
use crate::client::openai_chat;
use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Finish, Usage};
use crate::models::{Family, ModelSpec};
use crate::notice;
use crate::openai::{ChatRequest, ResponseMeta, Role};
use crate::stream::{error_event, json_string, push_usage};
use crate::translate::{StreamState, StreamTranslation};
use relay::{event_sink, relay_stream, Relayed};

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
                b"max_tokens" | b"max_completion_tokens" => Some(capped(raw, model, stream)),
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

/// A token limit as written, or as [`ModelSpec::capped`] lowers it.
pub(in crate::upstream) fn capped<'a>(
    raw: &'a [u8],
    model: &ModelSpec,
    stream: bool,
) -> Cow<'a, [u8]> {
    let limit = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse::<u64>().ok());
    match limit.map(|limit| (limit, model.capped(limit, stream))) {
        Some((limit, capped)) if capped < limit => Cow::Owned(capped.to_string().into_bytes()),
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
    relay_stream(RelayState {
        identity: Identity::new(meta),
        include_usage,
        usage_sent: false,
        finished: false,
        done: false,
    })
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
struct RelayState {
    identity: Identity,
    include_usage: bool,
    usage_sent: bool,
    finished: bool,
    /// `[DONE]` or an error came: nothing more is relayed.
    done: bool,
}

/// Chunks have no `event:` line: a name Argo sent is not relayed.
impl Relayed for RelayState {
    fn event(
        &mut self,
        _name: &[u8],
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
            return self.fail(state, out, error);
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
        let sink = event_sink(state, out, b"", data.len() + self.identity.model.len());
        members.rewrite(data, &self.identity, sink);
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    fn ended(&self) -> bool {
        self.done || self.finished
    }

    fn stop(&mut self) {
        self.done = true;
    }

    fn write_error(&self, out: &mut Vec<u8>, error: &ApiError) {
        error_event(out, error);
    }

    fn finish(&mut self, out: &mut Vec<u8>, _finish: Finish, usage: Usage) {
        if self.include_usage && !self.usage_sent {
            // Argo sent none: the client gets the gateway's count.
            let identity = &self.identity;
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
}

impl RelayState {
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
