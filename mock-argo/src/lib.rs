//! A mock of Argo for tests, benchmarks and demo mode: its legacy resource API and its native
//! endpoints.
//!
//! Resource endpoints (`{base}/api/v1/resource/...`): it checks requests the way Argo does
//! (user, model, messages or prompt) and answers in Argo's shapes: `{"response": text}` for
//! chat, a chunked `text/plain` stream of raw fragments for streamchat, `{"embedding": [[...]]}`
//! for embed.
//!
//! Native endpoints (`{base}/v1/chat/completions`, `/v1/messages`, `/v1/embeddings`,
//! `/v1/models`, and since argo-api.md §C `/v1/responses`, `/v1/messages/count_tokens` and the
//! legacy list `/api/v1/models/`; see [`native`]): OpenAI's and Anthropic's shapes and SSE
//! streams, with the auth headers Argo takes (the username as bearer token or `x-api-key`).
//! They behave as Argo was recorded from July to September 2026 (argo-api.md §C): every
//! unstreamed Claude call on `/v1/messages` is a 500, `developer` chat messages get Argo's
//! misleading 400, chat without a `user` is a 500, Gemini fails on parallel tool calls.
//!
//! On both it refuses what real Argo refuses (see [`rules`]): retired models, parameters a
//! model does not take, Claude's long non-streaming answers, large embed batches; and it greets
//! unregistered users (`unregistered*`) with Argo's authentication notice, with HTTP 200. A
//! test scripts one answer by ending the last user message with `#mock {json}`; see
//! [`Directive`].
//!
//! Test hooks: `GET /__mock/stats` (what Argo saw, with the `User-Agent` of the latest requests,
//! see [`Stats`]) and `POST /__mock/models`
//! (the model list, see [`models::ModelList::hook`]), under any prefix.
//!
//! A crate of its own, not part of the gateway: the gateway's request path never reaches it.
//! It is served beside the gateway by `argo-bridge demo`, alone by `argo-bridge mock-argo` (what
//! the tests and benchmarks start) and by this crate's own `mock-argo` binary (see [`serve`]).

pub mod models;
mod native;
pub mod rules;
mod serve;
mod sse;
mod tools;
mod writes;

pub use serve::{options, serve, service, Reservation, Serving};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Pause between streamed fragments unless a directive says otherwise.
    pub fragment_delay: Duration,
    /// Bytes per streamed fragment unless a directive says otherwise.
    pub fragment_bytes: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            fragment_delay: Duration::from_millis(20),
            fragment_bytes: 8,
        }
    }
}

pub struct MockArgo {
    options: MockOptions,
    stats: Stats,
    models: models::ModelList,
    /// Numbers the ids of native answers.
    serial: AtomicU64,
}

/// Counters served at `GET /__mock/stats`, so tests can see what Argo saw:
/// `{"requests", "streams_started", "streams_completed", "streams_aborted", "fragments_sent",
/// "endpoints": {"chat", "streamchat", "embed", "chat_completions", "messages", "embeddings",
/// "models", "responses", "count_tokens", "other"}, "user_agents": [...], "last_user_agent"}`.
/// Streams count both the resource streams and the native SSE ones; a stream is aborted when the
/// client went away or a `cut_after` directive cut it. `user_agents` holds the `User-Agent` of
/// the latest 64 requests to Argo's routes (not the `__mock` hooks), oldest first, `""` for a
/// request without one; `last_user_agent` the newest (null before any request): Argo's
/// maintainer asks intermediaries to name themselves and the originating client there
/// (argo-api.md §C, argo-proxy issue 144).
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    streams_started: AtomicU64,
    streams_completed: AtomicU64,
    streams_aborted: AtomicU64,
    fragments_sent: AtomicU64,
    endpoints: [AtomicU64; Endpoint::ALL.len()],
    /// The `User-Agent` of the latest requests, oldest first (at most [`USER_AGENTS_KEPT`]).
    user_agents: std::sync::Mutex<std::collections::VecDeque<String>>,
}

/// How many `User-Agent` values the stats keep.
const USER_AGENTS_KEPT: usize = 64;

/// The endpoints the stats count requests of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Endpoint {
    Chat,
    StreamChat,
    Embed,
    ChatCompletions,
    Messages,
    Embeddings,
    Models,
    Responses,
    CountTokens,
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 10] = [
        Endpoint::Chat,
        Endpoint::StreamChat,
        Endpoint::Embed,
        Endpoint::ChatCompletions,
        Endpoint::Messages,
        Endpoint::Embeddings,
        Endpoint::Models,
        Endpoint::Responses,
        Endpoint::CountTokens,
        Endpoint::Other,
    ];

    fn of(path: &str) -> Endpoint {
        match route(path) {
            Some(Route::Chat) => Endpoint::Chat,
            Some(Route::StreamChat) => Endpoint::StreamChat,
            Some(Route::Embed) => Endpoint::Embed,
            None if path.ends_with("/v1/chat/completions") => Endpoint::ChatCompletions,
            None if path.ends_with("/v1/messages") => Endpoint::Messages,
            None if path.ends_with("/v1/embeddings") => Endpoint::Embeddings,
            None if path.ends_with("/v1/responses") => Endpoint::Responses,
            None if path.ends_with("/v1/messages/count_tokens") => Endpoint::CountTokens,
            None if path.ends_with("/v1/models") || path.ends_with("/api/v1/models/") => {
                Endpoint::Models
            }
            None => Endpoint::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::StreamChat => "streamchat",
            Endpoint::Embed => "embed",
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Messages => "messages",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Models => "models",
            Endpoint::Responses => "responses",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::Other => "other",
        }
    }
}

impl Stats {
    /// Counts a stream that was started as completed or as cut short.
    fn stream_ended(&self, completed: bool) {
        let outcome = match completed {
            true => &self.streams_completed,
            false => &self.streams_aborted,
        };
        outcome.fetch_add(1, Ordering::SeqCst);
    }

    fn to_json(&self) -> Vec<u8> {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        let endpoints: serde_json::Map<String, Value> = Endpoint::ALL
            .iter()
            .zip(&self.endpoints)
            .map(|(endpoint, count)| (endpoint.name().to_string(), json!(load(count))))
            .collect();
        let user_agents = self.user_agents().clone();
        json!({
            "requests": load(&self.requests),
            "streams_started": load(&self.streams_started),
            "streams_completed": load(&self.streams_completed),
            "streams_aborted": load(&self.streams_aborted),
            "fragments_sent": load(&self.fragments_sent),
            "endpoints": endpoints,
            "user_agents": user_agents,
            "last_user_agent": user_agents.back(),
        })
        .to_string()
        .into_bytes()
    }

    fn user_agents(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<String>> {
        self.user_agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn saw_user_agent(&self, user_agent: Option<&str>) {
        let mut kept = self.user_agents();
        if kept.len() == USER_AGENTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(user_agent.unwrap_or_default().to_string());
    }

    /// `requests` counts calls of a model, not the gateway's reads of the model list.
    fn count(&self, endpoint: Endpoint) {
        if endpoint != Endpoint::Models {
            self.requests.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(index) = Endpoint::ALL.iter().position(|e| *e == endpoint) {
            self.endpoints[index].fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One request as the mock read it.
#[derive(Debug, Clone, Default)]
pub struct MockRequest {
    pub method: String,
    /// The URI's path, without the query.
    pub path: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl MockRequest {
    /// The first value of a header (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
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

#[derive(Debug, PartialEq)]
pub(crate) enum Route {
    Chat,
    StreamChat,
    Embed,
}

/// What the mock will send back.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// A native stream: `text/event-stream`, chunked, one chunk per step.
    Sse {
        steps: Vec<sse::Step>,
        pause: Duration,
        cut_after: Option<usize>,
    },
    Json {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<String>,
    },
    Stream {
        fragments: Vec<Bytes>,
        pause: Duration,
        cut_after: Option<usize>,
        forever: Option<Bytes>,
    },
    /// A 200 JSON answer delivered badly.
    Faulty { body: Vec<u8>, fault: Fault },
}

#[derive(Debug, PartialEq)]
pub enum Fault {
    Truncate,
    Drip(Duration),
}

impl MockArgo {
    pub fn new(options: MockOptions) -> Self {
        MockArgo {
            options,
            stats: Stats::default(),
            models: models::ModelList::default(),
            serial: AtomicU64::new(0),
        }
    }

    /// Decides the answer for one request, native or resource, and counts it.
    pub fn respond(&self, request: &MockRequest) -> (Answer, Duration) {
        let endpoint = Endpoint::of(&request.path);
        self.stats.count(endpoint);
        self.stats.saw_user_agent(request.header("user-agent"));
        match endpoint {
            Endpoint::ChatCompletions => self.chat_completions(request),
            Endpoint::Messages => self.messages(request),
            Endpoint::Embeddings => self.embeddings(request),
            Endpoint::Responses => self.responses(request),
            Endpoint::CountTokens => self.count_tokens(request),
            Endpoint::Models => self.paced(self.model_list(request)),
            _ => self.answer(&request.path, &request.body),
        }
    }

    /// The model list as the test hook paces it: later, and dripping (see
    /// [`models::ModelList::hook`]).
    fn paced(&self, (answer, delay): (Answer, Duration)) -> (Answer, Duration) {
        let pacing = self.models.pacing();
        let answer = match (answer, pacing.drip) {
            (
                Answer::Json {
                    status: 200, body, ..
                },
                Some(pause),
            ) => Answer::Faulty {
                body,
                fault: Fault::Drip(pause),
            },
            (answer, _) => answer,
        };
        (answer, delay + pacing.delay)
    }

    /// Decides the answer for one request. Pure, so it is unit-tested directly.
    pub fn answer(&self, path: &str, body: &[u8]) -> (Answer, Duration) {
        match self.try_answer(path, body) {
            Ok(answer) => answer,
            Err((status, message)) => (error(status, &message), Duration::ZERO),
        }
    }

    fn try_answer(&self, path: &str, body: &[u8]) -> Result<(Answer, Duration), (u16, String)> {
        let route = route(path).ok_or((404, format!("no such endpoint: {path}")))?;
        let request: Value =
            serde_json::from_slice(body).map_err(|e| (400, format!("invalid JSON: {e}")))?;
        let user = request.get("user").and_then(Value::as_str).unwrap_or("");
        let model = request.get("model").and_then(Value::as_str).unwrap_or("");
        if user.is_empty() {
            return Err((400, "`user` is required".into()));
        }
        if model.is_empty() {
            return Err((400, "`model` is required".into()));
        }
        if rules::is_unregistered(user) {
            return Ok((
                self.auth_notice(&route, model, &request, body),
                Duration::ZERO,
            ));
        }
        if let Err((status, body)) = check_rules(&route, model, &request) {
            return Ok((
                json_answer(status, body.to_string().into_bytes()),
                Duration::ZERO,
            ));
        }
        let directive = directive_in(&request, &route)?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if let Some(status) = directive.status {
            let body = directive
                .body
                .clone()
                .unwrap_or_else(|| json!({"error": "mock failure"}).to_string());
            return Ok((
                Answer::Json {
                    status,
                    body: body.into_bytes(),
                    retry_after: directive.retry_after,
                },
                delay,
            ));
        }
        let answer = match route {
            Route::Embed => embed(model, &request)?,
            Route::Chat => chat(model, &request, body, &directive)?,
            Route::StreamChat => self.stream(model, &request, body, &directive)?,
        };
        Ok((with_fault(answer, &directive), delay))
    }

    /// Argo's answer to a username it does not know: 200, with its notice where the reply goes
    /// (first, in a stream, before the reply's text).
    fn auth_notice(&self, route: &Route, model: &str, request: &Value, raw: &[u8]) -> Answer {
        let notice = json!({ "response": rules::AUTH_NOTICE }).to_string();
        if *route != Route::StreamChat {
            return json_answer(200, notice.into_bytes());
        }
        let text = format!(
            "{}\n\n{}",
            rules::AUTH_NOTICE,
            reply_text(model, request, raw, &Directive::default())
        );
        Answer::Stream {
            fragments: text
                .as_bytes()
                .chunks(self.options.fragment_bytes.max(1))
                .map(Bytes::copy_from_slice)
                .collect(),
            pause: self.options.fragment_delay,
            cut_after: None,
            forever: None,
        }
    }

    fn stream(
        &self,
        model: &str,
        request: &Value,
        raw: &[u8],
        directive: &Directive,
    ) -> Result<Answer, (u16, String)> {
        check_chat_shape(request)?;
        if request.get("tools").is_some() {
            return Err((400, "streamchat does not take tools".into()));
        }
        let fragments: Vec<Bytes> = match &directive.fragments {
            Some(fragments) => fragments
                .iter()
                .map(|f| Bytes::copy_from_slice(f.as_bytes()))
                .collect(),
            None => {
                let text = match &directive.tool_call {
                    Some(calls) => match tools::answer(model, request, calls.single()?)? {
                        tools::Said::Text(text) => text,
                        tools::Said::Structured(_) => {
                            return Err((400, "streamchat cannot answer with tool calls".into()))
                        }
                    },
                    None => reply_text(model, request, raw, directive),
                };
                let size = directive
                    .fragment_bytes
                    .unwrap_or(self.options.fragment_bytes)
                    .max(1);
                text.as_bytes()
                    .chunks(size)
                    .map(Bytes::copy_from_slice)
                    .collect()
            }
        };
        let pause = directive
            .fragment_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(self.options.fragment_delay);
        Ok(Answer::Stream {
            fragments,
            pause,
            cut_after: directive.cut_after,
            forever: directive
                .then_forever
                .as_ref()
                .map(|fragment| Bytes::copy_from_slice(fragment.as_bytes())),
        })
    }
}

/// What real Argo refuses before it looks at the conversation.
fn check_rules(route: &Route, model: &str, request: &Value) -> Result<(), rules::Refusal> {
    match route {
        Route::Embed => {
            let prompts = request
                .get("prompt")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            rules::check_embed_batch(prompts)
        }
        Route::Chat | Route::StreamChat if !rules::is_chat_model(model) => {
            Err(rules::unknown_model(model))
        }
        Route::Chat => rules::check_parameters(model, request, false),
        Route::StreamChat => rules::check_parameters(model, request, true),
    }
}

fn json_answer(status: u16, body: Vec<u8>) -> Answer {
    Answer::Json {
        status,
        body,
        retry_after: None,
    }
}

pub(crate) fn with_fault(answer: Answer, directive: &Directive) -> Answer {
    let fault = match (directive.truncate, directive.drip_ms) {
        (true, _) => Fault::Truncate,
        (false, Some(ms)) => Fault::Drip(Duration::from_millis(ms)),
        (false, None) => return answer,
    };
    match answer {
        Answer::Json {
            status: 200, body, ..
        } => Answer::Faulty { body, fault },
        other => other,
    }
}

fn route(path: &str) -> Option<Route> {
    if path.ends_with("/api/v1/resource/chat/") {
        Some(Route::Chat)
    } else if path.ends_with("/api/v1/resource/streamchat/") {
        Some(Route::StreamChat)
    } else if path.ends_with("/api/v1/resource/embed/") {
        Some(Route::Embed)
    } else {
        None
    }
}

fn error(status: u16, message: &str) -> Answer {
    Answer::Json {
        status,
        body: json!({"error": message}).to_string().into_bytes(),
        retry_after: None,
    }
}

/// The directive is the JSON after `#mock ` in the last user message (chat) or first prompt (embed).
/// The directive is in the newest user text that has one (later turns may be tool results).
fn directive_in(request: &Value, route: &Route) -> Result<Directive, (u16, String)> {
    let text = match route {
        Route::Embed => request.pointer("/prompt/0").and_then(Value::as_str),
        _ => user_texts(request).find(|text| text.contains("#mock ")),
    };
    parse_directive(text, request)
}

/// The directive after `#mock ` in `text`, or none; a `write_file` becomes the `tool_call` of
/// the writing tool `request` declares.
fn parse_directive(text: Option<&str>, request: &Value) -> Result<Directive, (u16, String)> {
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

fn user_texts(request: &Value) -> impl Iterator<Item = &str> {
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

fn last_user_text(request: &Value) -> Option<&str> {
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

fn check_chat_shape(request: &Value) -> Result<(), (u16, String)> {
    let has_messages = request
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    let has_prompt = request
        .get("prompt")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if has_messages || has_prompt {
        Ok(())
    } else {
        Err((400, "`messages` or `prompt` is required".into()))
    }
}

fn reply_text(model: &str, request: &Value, raw: &[u8], directive: &Directive) -> String {
    if directive.echo_request {
        return String::from_utf8_lossy(raw).into_owned();
    }
    if let Some(reply) = &directive.reply {
        return reply.clone();
    }
    let said: String = last_user_text(request)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    format!("Hello from mock Argo ({model}). You said: {said}")
}

fn chat(
    model: &str,
    request: &Value,
    raw: &[u8],
    directive: &Directive,
) -> Result<Answer, (u16, String)> {
    check_chat_shape(request)?;
    let response = match (&directive.response, &directive.tool_call) {
        (Some(response), _) => response.clone(),
        (None, Some(calls)) => match tools::answer(model, request, calls.single()?)? {
            tools::Said::Structured(response) => response,
            tools::Said::Text(text) => Value::String(text),
        },
        (None, None) => Value::String(reply_text(model, request, raw, directive)),
    };
    Ok(Answer::Json {
        status: 200,
        body: json!({ "response": response }).to_string().into_bytes(),
        retry_after: None,
    })
}

fn embed(model: &str, request: &Value) -> Result<Answer, (u16, String)> {
    let dimensions = match model {
        "v3small" | "ada002" => 1536,
        "v3large" => 3072,
        _ => return Err((400, format!("model {model} is not an embedding model"))),
    };
    let prompts = request
        .get("prompt")
        .and_then(Value::as_array)
        .ok_or((400, "`prompt` must be a list".to_string()))?;
    let mut body = String::with_capacity(prompts.len() * dimensions * 12 + 16);
    body.push_str("{\"embedding\":[");
    for (index, prompt) in prompts.iter().enumerate() {
        let text = prompt
            .as_str()
            .ok_or((400, "`prompt` entries must be strings".to_string()))?;
        if index > 0 {
            body.push(',');
        }
        push_vector(&mut body, text, dimensions);
    }
    body.push_str("]}");
    Ok(Answer::Json {
        status: 200,
        body: body.into_bytes(),
        retry_after: None,
    })
}

/// A unit vector derived from the text, so equal texts embed equally.
fn push_vector(out: &mut String, text: &str, dimensions: usize) {
    out.push('[');
    for (i, value) in unit_vector(text, dimensions).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{value:.6}"));
    }
    out.push(']');
}

/// The components of the text's unit vector: each is plus or minus `1/sqrt(dimensions)`.
fn unit_vector(text: &str, dimensions: usize) -> impl Iterator<Item = f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let scale = 1.0 / (dimensions as f32).sqrt();
    (0..dimensions).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state & 1 == 0 {
            scale
        } else {
            -scale
        }
    })
}

#[async_trait]
impl HttpServerApp for MockArgo {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !matches!(session.read_request().await, Ok(true)) {
            return None;
        }
        let header = session.req_header();
        let path = header.uri.path().to_string();
        let method = header.method.as_str().to_string();
        let headers: Vec<(String, String)> = header
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_ascii_lowercase(), value.to_string()))
            })
            .collect();
        let mut body = BytesMut::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(_) => return None,
            }
        }
        let (answer, delay) = if path.ends_with("/__mock/stats") {
            (
                Answer::Json {
                    status: 200,
                    body: self.stats.to_json(),
                    retry_after: None,
                },
                Duration::ZERO,
            )
        } else if path.ends_with("/__mock/models") {
            let (status, json) = self.models.hook(&body);
            (
                Answer::Json {
                    status,
                    body: json.to_string().into_bytes(),
                    retry_after: None,
                },
                Duration::ZERO,
            )
        } else {
            self.respond(&MockRequest {
                method,
                path,
                headers,
                body: body.to_vec(),
            })
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let completed = match answer {
            Answer::Json {
                status,
                body,
                retry_after,
            } => write_json(&mut session, status, body, retry_after).await,
            Answer::Faulty { body, fault } => write_faulty(&mut session, body, fault).await,
            Answer::Sse {
                steps,
                pause,
                cut_after,
            } => {
                self.stats.streams_started.fetch_add(1, Ordering::SeqCst);
                let completed = write_sse(
                    &mut session,
                    steps,
                    pause,
                    cut_after,
                    &self.stats.fragments_sent,
                )
                .await;
                self.stats.stream_ended(completed);
                completed
            }
            Answer::Stream {
                fragments,
                pause,
                cut_after,
                forever,
            } => {
                self.stats.streams_started.fetch_add(1, Ordering::SeqCst);
                let fragments = Fragments {
                    listed: fragments,
                    forever,
                };
                let completed = write_stream(
                    &mut session,
                    fragments,
                    pause,
                    cut_after,
                    &self.stats.fragments_sent,
                )
                .await;
                self.stats.stream_ended(completed);
                completed
            }
        };
        if !completed {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        session
            .finish()
            .await
            .ok()
            .flatten()
            .map(|stream| ReusedHttpStream::from_reusable_stream(stream, settings))
    }
}

async fn write_json(
    session: &mut ServerSession,
    status: u16,
    body: Vec<u8>,
    retry_after: Option<String>,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(status, Some(3))?;
        let content_type = if body.first() == Some(&b'{') {
            "application/json"
        } else {
            "text/plain"
        };
        header.insert_header("Content-Type", content_type)?;
        header.insert_header("Content-Length", body.len().to_string())?;
        if let Some(seconds) = retry_after {
            header.insert_header("Retry-After", seconds)?;
        }
        session.write_response_header(Box::new(header)).await?;
        session.write_response_body(Bytes::from(body), true).await
    }
    .await;
    result.is_ok()
}

/// Returns `false`: a faulty answer never leaves the connection reusable.
async fn write_faulty(session: &mut ServerSession, body: Vec<u8>, fault: Fault) -> bool {
    let promised = match fault {
        Fault::Truncate => body.len() * 2,
        Fault::Drip(_) => body.len(),
    };
    let _ = async {
        let mut header = ResponseHeader::build(200, Some(2))?;
        header.insert_header("Content-Type", "application/json")?;
        header.insert_header("Content-Length", promised.to_string())?;
        session.write_response_header(Box::new(header)).await?;
        match fault {
            Fault::Truncate => session.write_response_body(Bytes::from(body), false).await,
            Fault::Drip(pause) => {
                for byte in body {
                    session
                        .write_response_body(Bytes::from(vec![byte]), false)
                        .await?;
                    tokio::time::sleep(pause).await;
                }
                Ok(())
            }
        }
    }
    .await;
    false
}

/// A stream's fragments: the listed ones, then, if set, one fragment repeated without end.
struct Fragments {
    listed: Vec<Bytes>,
    forever: Option<Bytes>,
}

impl Fragments {
    fn into_iter(self) -> impl Iterator<Item = Bytes> {
        let forever = self.forever.into_iter().flat_map(std::iter::repeat);
        self.listed.into_iter().chain(forever)
    }
}

async fn write_stream(
    session: &mut ServerSession,
    fragments: Fragments,
    pause: Duration,
    cut_after: Option<usize>,
    sent: &AtomicU64,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(200, Some(2))?;
        header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
        header.insert_header("Transfer-Encoding", "chunked")?;
        session.write_response_header(Box::new(header)).await?;
        for (index, fragment) in fragments.into_iter().enumerate() {
            if cut_after == Some(index) {
                return Ok(false);
            }
            if index > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            session.write_response_body(fragment, false).await?;
            sent.fetch_add(1, Ordering::SeqCst);
        }
        session.finish_body().await?;
        Ok::<bool, Box<pingora_error::Error>>(true)
    }
    .await;
    matches!(result, Ok(true))
}

/// Writes a native stream: each step one chunk; paced steps after the pause (but the first),
/// counted, and cut by `cut_after`; a `Forever` step repeated until the client goes away.
async fn write_sse(
    session: &mut ServerSession,
    steps: Vec<sse::Step>,
    pause: Duration,
    cut_after: Option<usize>,
    sent: &AtomicU64,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(200, Some(3))?;
        header.insert_header("Content-Type", "text/event-stream")?;
        header.insert_header("Cache-Control", "no-cache")?;
        header.insert_header("Transfer-Encoding", "chunked")?;
        session.write_response_header(Box::new(header)).await?;
        let mut paced = 0;
        for step in steps {
            let (bytes, repeat) = match step {
                sse::Step::Now(bytes) => {
                    session.write_response_body(bytes, false).await?;
                    continue;
                }
                sse::Step::Paced(bytes) => (bytes, false),
                sse::Step::Forever(bytes) => (bytes, true),
            };
            loop {
                if cut_after == Some(paced) {
                    return Ok(false);
                }
                if paced > 0 && !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                session.write_response_body(bytes.clone(), false).await?;
                sent.fetch_add(1, Ordering::SeqCst);
                paced += 1;
                if !repeat {
                    break;
                }
            }
        }
        session.finish_body().await?;
        Ok::<bool, Box<pingora_error::Error>>(true)
    }
    .await;
    matches!(result, Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = "/argoapi/api/v1/resource/chat/";

    fn mock() -> MockArgo {
        MockArgo::new(MockOptions {
            fragment_delay: Duration::from_millis(5),
            fragment_bytes: 4,
        })
    }

    fn json_answer(answer: Answer) -> (u16, Value) {
        match answer {
            Answer::Json { status, body, .. } => (status, serde_json::from_slice(&body).unwrap()),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    #[test]
    fn the_model_list_comes_late_and_dripping_when_the_hook_says_so() {
        let mock = mock();
        let list = MockRequest {
            method: "GET".into(),
            path: "/argoapi/v1/models".into(),
            ..MockRequest::default()
        };
        let (answer, delay) = mock.respond(&list);
        assert_eq!(json_answer(answer).0, 200);
        assert_eq!(delay, Duration::ZERO);
        mock.models.hook(br#"{"delay_ms": 700, "drip_ms": 2}"#);
        match mock.respond(&list) {
            (Answer::Faulty { body, fault }, delay) => {
                assert_eq!(fault, Fault::Drip(Duration::from_millis(2)));
                assert_eq!(delay, Duration::from_millis(700));
                let listed: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(listed["object"], "list");
            }
            other => panic!("expected a dripping list, got {other:?}"),
        }
        mock.models.hook(br#"{"fail": true}"#);
        let (answer, _) = mock.respond(&list);
        assert_eq!(json_answer(answer).0, 503, "an error is sent whole");
    }

    #[test]
    fn chat_requires_user_model_and_messages() {
        let mock = mock();
        for body in [
            r#"{"model":"gpt4o","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"user":"u","messages":[]}"#,
            r#"{"user":"u","model":"gpt4o"}"#,
            "nope",
        ] {
            assert_eq!(
                json_answer(mock.answer(CHAT, body.as_bytes()).0).0,
                400,
                "{body}"
            );
        }
        let (status, json) = json_answer(
            mock.answer(
                CHAT,
                br#"{"user":"u","model":"gpt4o","messages":[{"role":"user","content":"hi"}]}"#,
            )
            .0,
        );
        assert_eq!(status, 200);
        assert_eq!(
            json["response"],
            "Hello from mock Argo (gpt4o). You said: hi"
        );
    }

    #[test]
    fn directives_script_errors_replies_and_streams() {
        let mock = mock();
        let body = |directive: &str| {
            format!(
                r#"{{"user":"u","model":"gpt4o","messages":[{{"role":"user","content":"x #mock {}"}}]}}"#,
                directive.replace('"', "\\\"")
            )
        };
        let (answer, _) = mock.answer(CHAT, body(r#"{"status":429,"retry_after":"3"}"#).as_bytes());
        assert!(
            matches!(answer, Answer::Json { status: 429, retry_after: Some(ref s), .. } if s == "3")
        );
        let (status, json) = json_answer(
            mock.answer(CHAT, body(r#"{"reply":"scripted"}"#).as_bytes())
                .0,
        );
        assert_eq!((status, json["response"].as_str()), (200, Some("scripted")));
        let (answer, _) = mock.answer(
            "/api/v1/resource/streamchat/",
            body(r#"{"reply":"héllo","fragment_bytes":2}"#).as_bytes(),
        );
        let Answer::Stream {
            fragments, pause, ..
        } = answer
        else {
            panic!("expected a stream")
        };
        assert_eq!(fragments.concat(), "héllo".as_bytes());
        assert!(
            std::str::from_utf8(&fragments[0]).is_err()
                || std::str::from_utf8(&fragments[1]).is_err()
        );
        assert_eq!(pause, Duration::from_millis(5));
    }

    #[test]
    fn embed_returns_one_deterministic_unit_vector_per_prompt() {
        let (status, json) = json_answer(
            mock()
                .answer(
                    "/api/v1/resource/embed/",
                    br#"{"user":"u","model":"v3small","prompt":["a","b","a"]}"#,
                )
                .0,
        );
        assert_eq!(status, 200);
        let vectors = json["embedding"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0].as_array().unwrap().len(), 1536);
        assert_eq!(vectors[0], vectors[2]);
        assert_ne!(vectors[0], vectors[1]);
        let norm: f64 = vectors[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap().powi(2))
            .sum();
        assert!((norm - 1.0).abs() < 1e-3);
        assert_eq!(
            json_answer(
                mock()
                    .answer(
                        "/api/v1/resource/embed/",
                        br#"{"user":"u","model":"gpt4o","prompt":["a"]}"#
                    )
                    .0
            )
            .0,
            400
        );
    }

    fn chat_body(user: &str, model: &str, extra: Value) -> Vec<u8> {
        let mut body = json!({"user": user, "model": model,
            "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body.to_string().into_bytes()
    }

    const STREAMCHAT: &str = "/api/v1/resource/streamchat/";

    #[test]
    fn unregistered_users_get_the_notice_with_status_200() {
        let mock = mock();
        let body = chat_body("unregistered-alice", "gpt4o", json!({}));
        let (status, json) = json_answer(mock.answer(CHAT, &body).0);
        assert_eq!(status, 200);
        assert!(json["response"]
            .as_str()
            .unwrap()
            .contains("AUTHENTICATION NOTICE FROM ARGO"));
        let Answer::Stream { fragments, .. } = mock.answer(STREAMCHAT, &body).0 else {
            panic!("expected a stream")
        };
        let streamed = String::from_utf8(fragments.concat()).unwrap();
        assert!(streamed.starts_with(rules::AUTH_NOTICE), "{streamed}");
        let embed = br#"{"user":"unregistered-bob","model":"v3small","prompt":["a"]}"#;
        let (status, json) = json_answer(mock.answer("/api/v1/resource/embed/", embed).0);
        assert_eq!(status, 200);
        assert!(json.get("embedding").is_none());
        assert!(json["response"]
            .as_str()
            .unwrap()
            .contains("AUTHENTICATION NOTICE FROM ARGO"));
    }

    #[test]
    fn parameters_real_argo_refuses_are_400_with_its_words() {
        let mock = mock();
        let refused = [
            (
                "claudesonnet45",
                json!({"max_tokens": 21_001}),
                "streaming is required",
            ),
            (
                "claudesonnet45",
                json!({"temperature": 0.5, "top_p": 0.9}),
                "cannot both be specified",
            ),
            (
                "claudehaiku45",
                json!({"temperature": 0.5, "top_p": 0.9}),
                "cannot both be specified",
            ),
            (
                "claudeopus47",
                json!({"temperature": 0.5}),
                "`temperature` is deprecated",
            ),
            (
                "claudeopus47",
                json!({"top_p": 0.5}),
                "`top_p` is deprecated",
            ),
            ("gpt5", json!({"temperature": 0.5}), "does not support 0.5"),
            ("gpt55", json!({"top_p": 0.9}), "'top_p' is not supported"),
        ];
        for (model, extra, words) in refused {
            let (status, json) =
                json_answer(mock.answer(CHAT, &chat_body("u", model, extra.clone())).0);
            assert_eq!(status, 400, "{model} {extra}");
            assert!(json.to_string().contains(words), "{model} {extra}: {json}");
        }
        let accepted = [
            (
                "claudesonnet45",
                json!({"max_tokens": 21_000, "temperature": 0.5}),
            ),
            ("claudeopus41", json!({"temperature": 0.5, "top_p": 0.9})),
            ("claudeopus47", json!({"max_tokens": 64})),
            ("gpt5", json!({"temperature": 1.0, "max_tokens": 64})),
            ("gpto3", json!({"temperature": 0.2, "top_p": 0.9})),
        ];
        for (model, extra) in accepted {
            let (status, _) =
                json_answer(mock.answer(CHAT, &chat_body("u", model, extra.clone())).0);
            assert_eq!(status, 200, "{model} {extra}");
        }
        let long_stream = chat_body("u", "claudesonnet45", json!({"max_tokens": 50_000}));
        assert!(matches!(
            mock.answer(STREAMCHAT, &long_stream).0,
            Answer::Stream { .. }
        ));
    }

    #[test]
    fn retired_models_and_large_embed_batches_are_refused() {
        let mock = mock();
        for model in ["gpt4", "gpt35", "claudesonnet4", "gpto1mini", "v3small"] {
            let (status, json) =
                json_answer(mock.answer(CHAT, &chat_body("u", model, json!({}))).0);
            assert_eq!(status, 400, "{model}");
            assert!(json["error"].as_str().unwrap().contains(model));
        }
        let prompts: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        let body = json!({"user": "u", "model": "v3small", "prompt": prompts}).to_string();
        let (status, _) = json_answer(mock.answer("/api/v1/resource/embed/", body.as_bytes()).0);
        assert_eq!(status, 400);
        let body = json!({"user": "u", "model": "v3small", "prompt": &prompts[..16]}).to_string();
        let (status, json) = json_answer(mock.answer("/api/v1/resource/embed/", body.as_bytes()).0);
        assert_eq!(
            (status, json["embedding"].as_array().unwrap().len()),
            (200, 16)
        );
    }

    #[test]
    fn tool_call_directives_answer_in_the_other_real_shapes() {
        let mock = mock();
        let ask = |model: &str, shape: &str, tools: Value| {
            let directive = format!(
                r#"#mock {{"tool_call":{{"name":"get_weather","arguments":{{"city":"Paris","now":true}},"shape":"{shape}"}}}}"#
            );
            let body = json!({"user": "u", "model": model, "tools": tools,
                "messages": [{"role": "system", "content": "get_weather"}, {"role": "user", "content": directive}]});
            json_answer(mock.answer(CHAT, body.to_string().as_bytes()).0)
        };
        let claude_tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
        let (_, gemini) = ask("gemini25pro", "gemini", Value::Null);
        assert_eq!(
            gemini["response"]["tool_calls"][0],
            json!({"id": null, "name": "get_weather", "args": {"city": "Paris", "now": true}})
        );
        let (_, single) = ask("claudesonnet45", "single_object", claude_tools.clone());
        assert_eq!(single["response"]["tool_calls"]["type"], "tool_use");
        let (_, leaked) = ask("claudesonnet45", "leaked", claude_tools);
        assert_eq!(
            leaked["response"]["content"],
            "I will look that up.{'id': 'toolu_mock_1', 'input': {'city': 'Paris', 'now': True}, 'name': 'get_weather', 'type': 'tool_use'}"
        );
    }
}
