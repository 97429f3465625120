//! OpenAI chat clients on Argo's native OpenAI endpoint: the same dialect on both sides, so the
//! client's JSON goes up and Argo's JSON and SSE come back with the least rewriting. Only the
//! model, the user, the model table's parameter rules and usage reporting change on the way
//! up; on the way down the response id and model become the gateway's and the client's, the
//! usage chunk the gateway asked for is dropped unless the client asked too, and the opening is
//! held back until it is known not to be Argo's notice. Nothing is parsed into the hub: top-level
//! members are found by a scan of the bytes and the rest is copied.

use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::openai_native::{WireError, WireUsage};
use super::{fitted, truncated};
use crate::client::openai_chat;
use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Finish, Usage};
use crate::models::ModelSpec;
use crate::notice;
use crate::openai::{ChatRequest, ResponseMeta};
use crate::sse::SseParser;
use crate::stream::{error_event, json_string, OpenAiUsage};
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

    /// The parsed request.
    pub fn request(&self) -> &ChatRequest {
        &self.request
    }

    /// The request as a conversation, for a caller that needs the hub after all (counting
    /// the prompt when Argo reports no usage).
    pub fn conversation(&self) -> Result<Conversation, ApiError> {
        openai_chat::conversation(self.request.clone())
    }

    /// Argo's request: the client's body with `model` the Argo id, `user` the gateway's user,
    /// sampling and limit fitted to the model, and usage asked for when it streams. Every
    /// other member is copied as the client wrote it.
    pub fn request_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        let request = &self.request;
        let mut asked = Conversation::new(Dialect::OpenAiChat, Vec::new());
        asked.max_tokens = request.max_completion_tokens.or(request.max_tokens);
        asked.temperature = request.temperature;
        asked.top_p = request.top_p;
        let stream = self.stream();
        let fitted = fitted(&asked, model, stream);
        let mut out = Vec::with_capacity(self.body.len() + 128);
        out.push(b'{');
        let mut stream_options = None;
        let walked = walk_object(self.body, |key, value| {
            let raw = &self.body[value];
            let kept: Option<Vec<u8>> = match key {
                b"model" | b"user" => None,
                b"stream_options" => {
                    stream_options = Some(raw);
                    None
                }
                b"temperature" if fitted.temperature.is_none() => None,
                b"top_p" if fitted.top_p.is_none() => None,
                b"max_tokens" | b"max_completion_tokens" if fitted.limit != asked.max_tokens => {
                    fitted.limit.map(|limit| limit.to_string().into_bytes())
                }
                _ => Some(raw.to_vec()),
            };
            if let Some(value) = kept {
                member(&mut out, key, &value);
            }
        });
        if !walked {
            return Err(ApiError::invalid("body", "Invalid JSON body"));
        }
        member(&mut out, b"model", json_string(&model.argo_id).as_bytes());
        member(&mut out, b"user", json_string(user).as_bytes());
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

/// Appends `"key":value` to an object being written.
fn member(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
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
        let mut result = Ok(());
        self.parser.feed(bytes, |_, data| {
            if result.is_ok() {
                result = events.data(data, state, out);
            }
        });
        result
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        let mut result = Ok(());
        self.parser.finish(|_, data| {
            if result.is_ok() {
                result = events.data(data, state, out);
            }
        });
        result?;
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
            let usage =
                serde_json::to_string(&OpenAiUsage::from(&usage)).unwrap_or_else(|_| "null".into());
            out.extend_from_slice(
                format!(
                    "data: {{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"choices\":[],\"usage\":{usage}}}\n\n",
                    identity.id, identity.created, identity.model
                )
                .as_bytes(),
            );
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
        if contains(choices, b"\"finish_reason\":\"") {
            self.finished = true;
        }
        if state.guard.decided() {
            if let Some(text) = string_member(choices, b"\"content\":\"") {
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
        let mut members = Members::default();
        let walked = walk_object(json, |key, value| {
            let slot = match key {
                b"id" => &mut members.id,
                b"model" => &mut members.model,
                b"choices" => &mut members.choices,
                b"usage" => &mut members.usage,
                b"error" => &mut members.error,
                _ => return,
            };
            *slot = Some(value);
        });
        walked.then_some(members)
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
        let raw = Self::present(json, &self.usage)?;
        serde_json::from_slice::<WireUsage>(raw)
            .ok()
            .map(Usage::from)
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

/// Calls `member(key, value span)` for each top-level member of the JSON object `json` (the
/// key as written between its quotes); `false` when `json` is not an object. Values are
/// skipped, not checked: a caller that needs them valid parses them.
fn walk_object(json: &[u8], mut member: impl FnMut(&[u8], Range<usize>)) -> bool {
    let mut at = skip_space(json, 0);
    if json.get(at) != Some(&b'{') {
        return false;
    }
    at = skip_space(json, at + 1);
    if json.get(at) == Some(&b'}') {
        return skip_space(json, at + 1) == json.len();
    }
    loop {
        if json.get(at) != Some(&b'"') {
            return false;
        }
        let Some(key_end) = string_end(json, at) else {
            return false;
        };
        let key = &json[at + 1..key_end - 1];
        at = skip_space(json, key_end);
        if json.get(at) != Some(&b':') {
            return false;
        }
        let start = skip_space(json, at + 1);
        let Some(end) = value_end(json, start) else {
            return false;
        };
        member(key, start..end);
        at = skip_space(json, end);
        match json.get(at) {
            Some(b',') => at = skip_space(json, at + 1),
            Some(b'}') => return skip_space(json, at + 1) == json.len(),
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
    while let Some(&byte) = json.get(index) {
        match byte {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// Where the value starting at `at` ends.
fn value_end(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut index = at;
            while let Some(&byte) = json.get(index) {
                match byte {
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
            None
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The text of the first string member that `opening` (`"key":"`) starts, as written (JSON
/// escapes left in: good enough for an estimate).
fn string_member<'a>(json: &'a [u8], opening: &[u8]) -> Option<&'a str> {
    let at = json
        .windows(opening.len())
        .position(|window| window == opening)?;
    let quote = at + opening.len() - 1;
    let end = string_end(json, quote)?;
    std::str::from_utf8(&json[quote + 1..end - 1]).ok()
}
