//! Argo's native OpenAI endpoints (`POST {base}/v1/chat/completions` for every chat model but
//! Claude, `POST {base}/v1/embeddings`): a [`Conversation`] as a chat request; answers and SSE
//! streams into the hub. OpenAI clients on this endpoint go through [`super::passthrough`].

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat_message::{Message as WireMessage, MessageContent, Parts};
use super::{body_capacity, encode, fitted, upstream_error, Extra, SseDialect};
use crate::embeddings::{self, Output};
use crate::error::ApiError;
use crate::hub::{
    Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice, Usage,
};
use crate::models::{Family, ModelSpec};
use crate::notice;
use crate::openai::OpenAiCall;
use crate::tools;

/// Paths below the environment's base URL.
pub const CHAT_PATH: &str = "/v1/chat/completions";
pub const EMBEDDINGS_PATH: &str = "/v1/embeddings";

/// How a spoke writes OpenAI-shaped messages. A `developer` message is always `system`: Argo's
/// chat endpoint answers `developer` with a misleading 400 ("Unknown parameter:
/// 'messages[0].tool_calls'.", argo-api.md §C), and the resource API knows no such role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    /// Several text parts become one text joined by newlines (else parts).
    pub join_text: bool,
    /// An assistant turn of tool calls only has `content: null` (else `""`).
    pub null_content: bool,
}

impl Style {
    const NATIVE: Style = Style {
        join_text: false,
        null_content: true,
    };
}

/// Appends `message` in OpenAI's shape: tool results become one `tool` message each.
pub(crate) fn push_message<'a>(out: &mut Vec<WireMessage<'a>>, message: &'a Message, style: Style) {
    let role = match message.role {
        Role::Tool => {
            out.extend(message.content.iter().filter_map(|part| match part {
                Part::ToolResult {
                    call_id, content, ..
                } => Some(WireMessage {
                    tool_call_id: Some(call_id),
                    ..WireMessage::text("tool", content.as_str())
                }),
                _ => None,
            }));
            return;
        }
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let tool_calls: Vec<OpenAiCall> = message
        .content
        .iter()
        .filter_map(|part| match part {
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(OpenAiCall::new(id, name, arguments)),
            _ => None,
        })
        .collect();
    let has_image = message
        .content
        .iter()
        .any(|part| matches!(part, Part::Image { .. }));
    let mut texts = message.texts();
    let content = match (has_image, texts.next(), texts.next()) {
        (true, _, _) => MessageContent::Parts(Parts(&message.content)),
        (false, None, _) if style.null_content && !tool_calls.is_empty() => MessageContent::Null,
        (false, None, _) => MessageContent::Text(Cow::Borrowed("")),
        (false, Some(text), None) => MessageContent::Text(Cow::Borrowed(text)),
        (false, Some(_), Some(_)) if style.join_text => {
            MessageContent::Text(Cow::Owned(message.joined_text("\n")))
        }
        (false, Some(_), Some(_)) => MessageContent::Parts(Parts(&message.content)),
    };
    out.push(WireMessage {
        role,
        content,
        tool_calls,
        tool_call_id: None,
    });
}

/// OpenAI's `tool_choice`.
pub(crate) fn tool_choice_json(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => "required".into(),
        ToolChoice::Named(name) => {
            serde_json::json!({"type": "function", "function": {"name": name}})
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Extra<'a>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The fields [`request_body`] writes; a client's extra fields cannot replace them.
const WRITTEN: [&str; 18] = [
    "model",
    "messages",
    "user",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "stream",
    "stream_options",
    "functions",
    "response_format",
    "metadata",
    // OpenAI's successor of `user`, left out: only the gateway says who the user is.
    "safety_identifier",
];

/// The chat request for `user` (Argo's identity: never the client's), with the model table's
/// rules applied (sampling fitted; reasoning models get `max_completion_tokens`), usage asked
/// for whenever it streams (the gateway's metrics want it), and an OpenAI client's other fields
/// passed on.
pub fn request_body(
    conversation: &Conversation,
    model: &ModelSpec,
    user: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut messages = Vec::with_capacity(conversation.messages.len());
    for message in &conversation.messages {
        push_message(&mut messages, message, Style::NATIVE);
    }
    let gemini = model.family == Family::Google;
    if gemini {
        messages = one_call_at_a_time(messages);
    }
    let params = fitted(conversation, model, conversation.stream);
    let (max_tokens, max_completion_tokens) = if model.reasoning {
        (None, params.limit)
    } else {
        (params.limit, None)
    };
    let offered = conversation.offers_tools();
    let request = Request {
        model: &model.argo_id,
        messages,
        user,
        temperature: params.temperature,
        top_p: params.top_p,
        max_tokens,
        max_completion_tokens,
        stop: &conversation.stop,
        tools: offered.then(|| {
            conversation
                .tools
                .iter()
                .map(|tool| tool.openai_json())
                .collect()
        }),
        tool_choice: conversation
            .tool_choice
            .as_ref()
            .filter(|_| offered)
            .map(tool_choice_json),
        // Gemini on Argo fails on parallel calls (argo-api.md §C): it is asked for one at a time.
        parallel_tool_calls: match gemini {
            true => Some(false),
            false => conversation.parallel_tool_calls,
        }
        .filter(|_| offered),
        reasoning_effort: reasoning_effort(conversation, model),
        stream: conversation.stream,
        stream_options: conversation.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        response_format: conversation.response_format.as_ref(),
        metadata: users_metadata(conversation, user),
        extra: Extra::new(conversation, Dialect::OpenAiChat, &WRITTEN),
    };
    encode(&request, body_capacity(conversation))
}

/// `messages` with each assistant turn of several tool calls, and the results that follow it,
/// as one (call, result) pair after another: Gemini behind Argo refuses a turn whose number of
/// calls and results differ, and fails on parallel ones ("number of function response parts !=
/// number of function call parts", argo-api.md §C). The turn's text goes with its first call;
/// results that answer none of its calls follow the pairs. Linear in the messages.
fn one_call_at_a_time(messages: Vec<WireMessage<'_>>) -> Vec<WireMessage<'_>> {
    let mut out = Vec::with_capacity(messages.len());
    let mut messages = messages.into_iter().peekable();
    while let Some(mut message) = messages.next() {
        if message.role != "assistant" || message.tool_calls.len() < 2 {
            out.push(message);
            continue;
        }
        let mut results = Vec::new();
        while let Some(result) = messages.next_if(|next| next.role == "tool") {
            results.push(Some(result));
        }
        let mut answering: HashMap<&str, usize> = HashMap::with_capacity(results.len());
        for (index, result) in results.iter().enumerate().rev() {
            if let Some(id) = result.as_ref().and_then(|result| result.tool_call_id) {
                answering.insert(id, index);
            }
        }
        let calls = std::mem::take(&mut message.tool_calls);
        let mut content = Some(message.content);
        for call in calls {
            out.push(WireMessage {
                role: "assistant",
                content: content.take().unwrap_or(MessageContent::Null),
                tool_calls: vec![call],
                tool_call_id: None,
            });
            let answer = answering
                .remove(call.id)
                .and_then(|index| results[index].take());
            out.extend(answer);
        }
        out.extend(results.into_iter().flatten());
    }
    out
}

/// An OpenAI client's `metadata` with `user_id` the gateway's user, as the pass-through sends
/// it; none when the client sent no object.
fn users_metadata(conversation: &Conversation, user: &str) -> Option<Map<String, Value>> {
    let (_, metadata) = conversation
        .extra_for(Dialect::OpenAiChat)
        .find(|(key, _)| key.as_str() == "metadata")?;
    let mut metadata = metadata.as_object()?.clone();
    metadata.insert("user_id".into(), Value::String(user.into()));
    Some(metadata)
}

/// The effort asked for. An OpenAI client's level is its own choice for this model and goes as
/// sent; other clients' levels come from other scales and models (Claude Code's thinking asks
/// Anthropic's `xhigh` or `max` of whatever model it is pointed at): models without reasoning
/// get none, which OpenAI refuses for them, and OpenAI's highest standard level stands for the
/// higher ones (which levels beyond `high` Argo's GPT models take is not known).
fn reasoning_effort<'a>(conversation: &'a Conversation, model: &ModelSpec) -> Option<&'a str> {
    let effort = conversation.reasoning_effort.as_deref()?;
    if conversation.origin == Dialect::OpenAiChat {
        return Some(effort);
    }
    model.reasoning.then_some(match effort {
        "xhigh" | "max" => "high",
        other => other,
    })
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cached_input_tokens: usage
                .prompt_tokens_details
                .and_then(|details| details.cached_tokens),
        }
    }
}

/// OpenAI's `{"error": {...}}` (also Argo's own errors on this endpoint).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

impl WireError {
    pub(crate) fn api_error(&self) -> ApiError {
        let code = self.code.as_ref().and_then(Value::as_str);
        let kind = match (code, self.kind.as_deref()) {
            (Some(code @ ("rate_limit_exceeded" | "overloaded")), _) => code,
            (_, Some(kind)) => kind,
            (Some(code), None) => code,
            (None, None) => "error",
        };
        upstream_error(kind, self.message.as_deref().unwrap_or("no details given"))
    }
}

pub(crate) fn finish_of(reason: &str) -> Finish {
    match reason {
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        "content_filter" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: WireAnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct WireAnswerMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireCall>>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Default, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Reads a `chat.completion`: reasoning, text (or the refusal) and tool calls of the first
/// choice, its finish reason and the usage. Argo's notice and an error body are errors.
pub fn read_answer(body: &[u8]) -> Result<Answer, ApiError> {
    if notice::is_notice(body) {
        return Err(notice::unregistered_user());
    }
    let answer: WireAnswer = serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid_answer("Argo returned a chat answer that is not valid JSON")
    })?;
    if let Some(error) = &answer.error {
        return Err(error.api_error());
    }
    let Some(choice) = answer.choices.into_iter().next() else {
        return Err(ApiError::invalid_answer(
            "Argo returned a chat answer without choices",
        ));
    };
    let message = choice.message;
    let mut content = Vec::new();
    if let Some(thinking) = message.reasoning_content.filter(|text| !text.is_empty()) {
        content.push(Part::Thinking {
            text: thinking,
            signature: None,
        });
    }
    if let Some(text) = message.content.or(message.refusal) {
        content.push(Part::Text(text));
    }
    let response_id = answer.id.unwrap_or_default();
    for (index, call) in message.tool_calls.into_iter().flatten().enumerate() {
        content.push(Part::tool_call(
            call.id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| tools::call_id(&response_id, index)),
            call.function.name.unwrap_or_default(),
            tools::arguments_string(call.function.arguments.as_ref()),
        ));
    }
    let calls = content
        .iter()
        .any(|part| matches!(part, Part::ToolCall { .. }));
    let finish = match choice.finish_reason.as_deref() {
        Some(reason) => finish_of(reason),
        None if calls => Finish::ToolCalls,
        None => Finish::Stop,
    };
    Ok(Answer {
        content,
        finish,
        usage: answer.usage.map(Usage::from),
    })
}

/// One `data:` payload of an OpenAI chat stream.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: ChunkDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ChunkCall>>,
}

#[derive(Deserialize)]
struct ChunkCall {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

/// An OpenAI chat stream into events.
pub type SseDecoder = super::SseDecoder<StreamState>;

/// What the stream has said so far.
#[derive(Debug, Default)]
pub struct StreamState {
    /// The hub's index of each call begun (the order they began), by the upstream's index: a
    /// lookup per fragment, as an answer may hold thousands of calls.
    calls: HashMap<u64, usize>,
    response_id: Option<String>,
    finished: bool,
    /// `[DONE]` or an error came: nothing more is read.
    ended: bool,
}

impl SseDialect for StreamState {
    fn data(&mut self, data: &[u8], events: &mut Vec<Event>) {
        StreamState::data(self, data, events);
    }

    fn over(&self) -> bool {
        self.ended || self.finished
    }

    fn end(&mut self) {
        self.ended = true;
    }
}

impl StreamState {
    fn data(&mut self, data: &[u8], events: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.ended = true;
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<Chunk>(data) else {
            return;
        };
        if let Some(error) = &chunk.error {
            self.ended = true;
            events.push(Event::Error(error.api_error()));
            return;
        }
        if self.response_id.is_none() {
            self.response_id = chunk.id.filter(|id| !id.is_empty());
        }
        // The hub has one choice; a client asking for more gets the pass-through instead.
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            let delta = choice.delta;
            if let Some(text) = delta.reasoning_content.filter(|text| !text.is_empty()) {
                events.push(Event::ThinkingDelta(text));
            }
            if let Some(text) = delta
                .content
                .or(delta.refusal)
                .filter(|text| !text.is_empty())
            {
                events.push(Event::TextDelta(text));
            }
            for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                self.call(position, call, events);
            }
            if let Some(reason) = choice.finish_reason {
                self.finished = true;
                events.push(Event::Finish(finish_of(&reason)));
            }
        }
        if let Some(usage) = chunk.usage {
            events.push(Event::Usage(usage.into()));
        }
    }

    fn call(&mut self, position: usize, call: ChunkCall, events: &mut Vec<Event>) {
        let upstream = call.index.unwrap_or(position as u64);
        let index = match self.calls.get(&upstream) {
            Some(&index) => index,
            None => {
                let index = self.calls.len();
                self.calls.insert(upstream, index);
                let id = call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| {
                    tools::call_id(self.response_id.as_deref().unwrap_or_default(), index)
                });
                events.push(Event::ToolCallStart {
                    index,
                    id,
                    name: call.function.name.clone().unwrap_or_default(),
                });
                index
            }
        };
        let fragment = match call.function.arguments {
            Some(Value::String(text)) => text,
            None | Some(Value::Null) => return,
            Some(other) => other.to_string(),
        };
        if !fragment.is_empty() {
            events.push(Event::ToolCallArguments { index, fragment });
        }
    }
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    user: &'a str,
}

/// The embeddings request for `texts` (one batch), for `user`.
pub fn embeddings_request(
    texts: &[String],
    model: &ModelSpec,
    user: &str,
) -> Result<Vec<u8>, ApiError> {
    let request = EmbeddingsRequest {
        model: &model.argo_id,
        input: texts,
        user,
    };
    encode(&request, texts.iter().map(String::len).sum::<usize>() + 128)
}

/// Argo's answers to the batches of one request (in the order of the inputs) -> one OpenAI
/// answer, shaped as the client asked ([`Output`]); and the prompt tokens, as Argo reported
/// them, else as `count_inputs` counts them (called only then: Argo normally reports them).
pub fn read_embeddings(
    bodies: &[&[u8]],
    output: &Output,
    count_inputs: impl FnOnce() -> u64,
) -> Result<(Vec<u8>, u64), ApiError> {
    if bodies.iter().any(|body| notice::is_notice(body)) {
        return Err(notice::unregistered_user());
    }
    embeddings::translate_native_batches(bodies, output, count_inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::openai_chat;
    use crate::embeddings::Output;
    use crate::error::ErrorCode;
    use crate::fixtures::{self, assert_split_invariant, decode, gpt, split, OPENAI_STREAM};
    use crate::models::{Family, Kind, Sampling};
    use crate::openai::EncodingFormat;
    use proptest::prelude::*;
    use serde_json::json;

    fn rewrite(body: &Value, model: &ModelSpec) -> Value {
        let (conversation, _) = openai_chat::read_request(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&request_body(&conversation, model, "alice").unwrap()).unwrap()
    }

    /// A request using every field OpenAI's chat API documents that the gateway takes.
    fn everything() -> Value {
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "system", "content": "You are helpful.", "name": "rules"},
                {"role": "user", "name": "bob", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
                {"role": "user", "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "assistant", "content": "It is 18C."},
                {"role": "user", "content": "Thanks"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "temperature": 0.3,
            "top_p": 0.9,
            "max_tokens": 100,
            "stop": ["END"],
            "reasoning_effort": "low",
            "stream": true,
            "stream_options": {"include_usage": true},
            "n": 1,
            "seed": 42,
            "response_format": {"type": "json_object"},
            "logprobs": true,
            "top_logprobs": 2,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "logit_bias": {"50256": -100},
            "metadata": {"run": "7"},
            "store": false,
            "service_tier": "auto",
            "modalities": ["text"],
            "prediction": {"type": "content", "content": "x"},
            "web_search_options": {},
            "user": "mallory"
        })
    }

    #[test]
    fn other_clients_efforts_reach_only_reasoning_models_on_openais_scale() {
        let effort = |asked: &str, model: &ModelSpec| {
            let mut conversation = Conversation::new(
                Dialect::AnthropicMessages,
                vec![Message::text(Role::User, "hi")],
            );
            conversation.reasoning_effort = Some(asked.into());
            let body: Value =
                serde_json::from_slice(&request_body(&conversation, model, "alice").unwrap())
                    .unwrap();
            body.get("reasoning_effort").cloned()
        };
        let o3 = ModelSpec {
            reasoning: true,
            ..gpt()
        };
        assert_eq!(effort("max", &gpt()), None);
        assert_eq!(effort("max", &o3), Some(json!("high")));
        assert_eq!(effort("low", &o3), Some(json!("low")));
    }

    /// A client's message as Argo gets it: no participant name, `developer` as `system`.
    fn as_argo_takes_it(message: &mut Value) {
        message.as_object_mut().unwrap().remove("name");
        if message["role"] == "developer" {
            message["role"] = json!("system");
        }
    }

    #[test]
    fn gemini_gets_native_tools_and_its_calls_one_at_a_time() {
        let gemini = ModelSpec {
            tools: crate::models::ToolMode::Prompt,
            ..ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat)
        };
        let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
        let request = json!({"model": "gemini-2.5-pro", "parallel_tool_calls": true,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": "Three calls.", "tool_calls": [call("a"), call("b"), call("c")]},
                {"role": "tool", "tool_call_id": "c", "content": "C"},
                {"role": "tool", "tool_call_id": "x", "content": "X"},
                {"role": "tool", "tool_call_id": "a", "content": "A"},
                {"role": "assistant", "content": null, "tool_calls": [call("d")]},
                {"role": "tool", "tool_call_id": "d", "content": "D"}]});
        let body = rewrite(&request, &gemini);
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(
            body["tools"][0]["function"]["name"], "f",
            "native tools, whatever the row says"
        );
        let turns: Vec<String> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| match m["role"].as_str().unwrap() {
                "tool" => format!("result {}", m["tool_call_id"].as_str().unwrap()),
                "assistant" => format!("call {}", m["tool_calls"][0]["id"].as_str().unwrap()),
                role => role.to_string(),
            })
            .collect();
        assert_eq!(
            turns,
            [
                "user", "call a", "result a", "call b", "call c", "result c", "result x", "call d",
                "result d"
            ]
        );
        assert_eq!(body["messages"][1]["content"], "Three calls.");
        assert_eq!(body["messages"][3]["content"], Value::Null);
        // Other models keep their parallel calls as sent.
        let gpt = rewrite(&request, &gpt());
        assert_eq!(gpt["parallel_tool_calls"], true);
        assert_eq!(
            gpt["messages"][1]["tool_calls"].as_array().unwrap().len(),
            3
        );
    }

    #[test]
    fn an_openai_request_keeps_every_field_through_the_hub_but_who_the_user_is() {
        let mut original = everything();
        original["safety_identifier"] = json!("mallory");
        let rewritten = rewrite(&original, &gpt());
        let mut expected = everything();
        expected["model"] = json!("gpt4o");
        expected["user"] = json!("alice");
        expected["metadata"]["user_id"] = json!("alice");
        for message in expected["messages"].as_array_mut().unwrap() {
            as_argo_takes_it(message);
        }
        assert_eq!(rewritten, expected);
    }

    proptest! {
        /// Any selection of the fields and messages above comes back as sent; what the client
        /// left out stays out.
        #[test]
        fn any_request_keeps_its_content_through_the_hub(
            fields in prop::collection::vec(any::<bool>(), 32),
            messages in prop::collection::vec(any::<bool>(), 8),
        ) {
            let everything = everything();
            let mut request = serde_json::Map::new();
            for ((key, value), keep) in everything.as_object().unwrap().iter().zip(&fields) {
                if *keep && !matches!(key.as_str(), "model" | "messages" | "user") {
                    request.insert(key.clone(), value.clone());
                }
            }
            let kept: Vec<Value> = everything["messages"].as_array().unwrap().iter().zip(&messages)
                .filter(|(_, keep)| **keep).map(|(message, _)| message.clone()).collect();
            let unnamed: Vec<Value> = kept.iter().cloned().map(|mut message| {
                as_argo_takes_it(&mut message);
                message
            }).collect();
            prop_assume!(!kept.is_empty());
            if !request.contains_key("tools") {
                // A named choice without tools is the client's error (400).
                request.remove("tool_choice");
            }
            request.insert("model".into(), json!("gpt-4o"));
            request.insert("messages".into(), Value::Array(kept));
            let request = Value::Object(request);
            let mut expected = request.clone();
            expected["model"] = json!("gpt4o");
            expected["user"] = json!("alice");
            expected["messages"] = Value::Array(unnamed);
            if expected.get("metadata").is_some() {
                expected["metadata"]["user_id"] = json!("alice");
            }
            let expected = expected.as_object_mut().unwrap();
            if !expected.contains_key("tools") {
                expected.remove("parallel_tool_calls");
            }
            if expected.contains_key("stream") {
                expected.insert("stream_options".into(), json!({"include_usage": true}));
            } else {
                expected.remove("stream_options");
            }
            prop_assert_eq!(rewrite(&request, &gpt()), Value::Object(expected.clone()));
        }
    }

    #[test]
    fn parameter_rules_and_usage_reporting_apply() {
        let gpt5 = ModelSpec {
            sampling: Sampling::None,
            reasoning: true,
            ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
        };
        let body = rewrite(
            &json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.2, "top_p": 0.5, "max_tokens": 64, "stream": true}),
            &gpt5,
        );
        assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
        assert_eq!(body["max_completion_tokens"], 64);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(
            body["stream_options"],
            json!({"include_usage": true}),
            "the gateway always wants usage"
        );
        let one_of = ModelSpec {
            sampling: Sampling::OneOf,
            ..gpt()
        };
        let body = rewrite(
            &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "top_p": 0.5}),
            &one_of,
        );
        assert_eq!(
            (body["temperature"].as_f64(), body.get("top_p")),
            (Some(0.2), None)
        );
    }

    #[test]
    fn extra_fields_of_another_dialect_are_not_passed() {
        let (mut conversation, _) = openai_chat::read_request(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1}"#,
        )
        .unwrap();
        conversation.origin = Dialect::AnthropicMessages;
        conversation.extra.insert("top_k".into(), json!(5));
        let body: Value =
            serde_json::from_slice(&request_body(&conversation, &gpt(), "alice").unwrap()).unwrap();
        assert!(body.get("seed").is_none() && body.get("top_k").is_none());
    }

    #[test]
    fn answers_read_text_reasoning_calls_and_usage() {
        let answer = read_answer(br#"{"id":"chatcmpl-Di0k","object":"chat.completion","created":1,"model":"gpt-4o-2024-11-20",
            "choices":[{"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"content":"Checking.","refusal":null,"role":"assistant",
              "reasoning_content":"Needs a tool.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"type":"function","function":{"name":"get_time","arguments":{"zone":"CET"}}}]},"content_filter_results":{}}],
            "usage":{"prompt_tokens":175,"completion_tokens":16,"total_tokens":191,"prompt_tokens_details":{"cached_tokens":128}}}"#).unwrap();
        assert_eq!(
            answer.content,
            vec![
                Part::Thinking {
                    text: "Needs a tool.".into(),
                    signature: None
                },
                Part::Text("Checking.".into()),
                Part::tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#),
                Part::tool_call("call_Di0k_1", "get_time", r#"{"zone":"CET"}"#),
            ]
        );
        assert_eq!(answer.finish, Finish::ToolCalls);
        assert_eq!(
            answer.usage,
            Some(Usage {
                input_tokens: 175,
                output_tokens: 16,
                cached_input_tokens: Some(128)
            })
        );
        let length =
            read_answer(br#"{"choices":[{"finish_reason":"length","message":{"content":""}}]}"#)
                .unwrap();
        assert_eq!((length.finish, length.usage), (Finish::Length, None));
    }

    #[test]
    fn error_bodies_notices_and_garbage_are_errors() {
        let rejected = read_answer(br#"{"error":{"message":"Error code: 400 - {'error': {'message': \"Unsupported value: 'temperature' does not support 0.0 with this model.\"}}","type":"invalid_request_error","code":"internal_error"}}"#).unwrap_err();
        assert_eq!(rejected.status, 400);
        assert!(
            rejected.message.contains("temperature"),
            "{}",
            rejected.message
        );
        let notice = json!({"choices": [{"message": {"content": fixtures::NOTICE}, "finish_reason": "stop"}]});
        assert_eq!(
            read_answer(notice.to_string().as_bytes())
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(read_answer(br#"{"choices":[]}"#).unwrap_err().status, 502);
        assert_eq!(read_answer(b"not json").unwrap_err().status, 502);
    }

    #[test]
    fn the_stream_becomes_events() {
        assert_eq!(
            decode(SseDecoder::new(), &[OPENAI_STREAM.as_bytes()]),
            vec![
                Event::TextDelta("Pong! 😊 \"quoted\"".into()),
                Event::ToolCallStart {
                    index: 0,
                    id: "call_y0po4Ztyj41x7Led1gGoTCs1".into(),
                    name: "get_weather".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "{\"city\":".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "\"Paris\"}".into()
                },
                Event::Finish(Finish::ToolCalls),
                Event::Usage(Usage {
                    input_tokens: 175,
                    output_tokens: 16,
                    cached_input_tokens: Some(128)
                }),
            ]
        );
    }

    #[test]
    fn reasoning_parallel_calls_errors_and_cut_streams() {
        let stream = concat!(
            "data: {\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Hmm.\"}}]}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
            "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ignored\"}}]}\n\n",
        );
        let events = decode(SseDecoder::new(), &[stream.as_bytes()]);
        assert_eq!(
            events[..6],
            [
                Event::ThinkingDelta("Hmm.".into()),
                Event::ToolCallStart {
                    index: 0,
                    id: "call_9_0".into(),
                    name: "f".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "{}".into()
                },
                Event::ToolCallStart {
                    index: 1,
                    id: "call_b".into(),
                    name: "g".into()
                },
                Event::ToolCallArguments {
                    index: 1,
                    fragment: "{\"a\"".into()
                },
                Event::ToolCallArguments {
                    index: 1,
                    fragment: ":1}".into()
                },
            ]
        );
        assert!(matches!(&events[6], Event::Error(error) if error.status == 502));
        assert_eq!(events.len(), 7);
        let cut = &OPENAI_STREAM[..OPENAI_STREAM
            .find("\"finish_reason\":\"tool_calls\"")
            .unwrap()
            - 100];
        let cut = &cut[..cut.rfind("\n\n").unwrap() + 2];
        assert!(matches!(
            decode(SseDecoder::new(), &[cut.as_bytes()]).last(),
            Some(Event::Error(error)) if error.code == Some(ErrorCode::UpstreamTruncated)
        ));
        let no_done = &OPENAI_STREAM[..OPENAI_STREAM.find("data: [DONE]").unwrap()];
        assert!(!matches!(
            decode(SseDecoder::new(), &[no_done.as_bytes()]).last(),
            Some(Event::Error(_))
        ));
    }

    #[test]
    fn the_stream_decodes_alike_split_at_every_byte() {
        assert_split_invariant(SseDecoder::new, OPENAI_STREAM.as_bytes());
    }

    proptest! {
        #[test]
        fn the_stream_decodes_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = OPENAI_STREAM.as_bytes();
            prop_assert_eq!(decode(SseDecoder::new(), &split(stream, &cuts)), decode(SseDecoder::new(), &[stream]));
        }
    }

    #[test]
    fn embeddings_go_up_as_input_and_come_back_in_the_clients_shape() {
        let model = ModelSpec::new(
            "text-embedding-3-small",
            "v3small",
            Family::Openai,
            Kind::Embedding,
        );
        let body: Value = serde_json::from_slice(
            &embeddings_request(&["a".into(), "b".into()], &model, "carol").unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"model": "v3small", "input": ["a", "b"], "user": "carol"})
        );
        let first: &[u8] = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.0,1.0]},{"object":"embedding","index":0,"embedding":[1.0,0.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
        let second: &[u8] = br#"{"data":[{"index":0,"embedding":[0.5,0.5]}],"usage":{"prompt_tokens":1,"total_tokens":1}}"#;
        let output = Output {
            model: "text-embedding-3-small",
            format: EncodingFormat::Float,
            dimensions: None,
            expected_vectors: 3,
            prompt_tokens: 0,
        };
        let uncounted = || -> u64 { panic!("Argo reported the tokens: nothing to count") };
        let (json, prompt_tokens) = read_embeddings(&[first, second], &output, uncounted).unwrap();
        let json: Value = serde_json::from_slice(&json).unwrap();
        let vectors: Vec<&Value> = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["embedding"])
            .collect();
        assert_eq!(
            vectors,
            [&json!([1.0, 0.0]), &json!([0.0, 1.0]), &json!([0.5, 0.5])]
        );
        assert_eq!(
            (prompt_tokens, &json["usage"]["prompt_tokens"]),
            (3, &json!(3))
        );
        assert_eq!(json["model"], "text-embedding-3-small");
        let unreported: &[u8] = br#"{"data":[{"index":0,"embedding":[1.0]}]}"#;
        let one = Output {
            expected_vectors: 1,
            ..output
        };
        let (json, counted) = read_embeddings(&[unreported], &one, || 99).unwrap();
        let json: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!((counted, &json["usage"]["prompt_tokens"]), (99, &json!(99)));
        assert_eq!(
            read_embeddings(&[first], &output, || 0).unwrap_err().status,
            502
        );
        let notice = format!("{{\"detail\":\"{}\"}}", fixtures::NOTICE);
        assert_eq!(
            read_embeddings(&[notice.as_bytes()], &one, || 0)
                .unwrap_err()
                .status,
            403
        );
    }
}
