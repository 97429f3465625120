//! Argo's native Anthropic endpoint (`POST {base}/v1/messages`), which serves the Claude
//! family: a [`Conversation`] as a Messages request; answers and SSE streams into the hub.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{body_capacity, encode, fitted, truncated, upstream_error, Extra};
use crate::chat::CONTINUE_TURN;
use crate::error::ApiError;
use crate::hub::{
    data_url, Answer, Conversation, Dialect, Event, Finish, Part, Role, ToolChoice, Usage,
};
use crate::models::{ModelSpec, Thinking};
use crate::notice;
use crate::sse::SseParser;
use crate::tools::{self, arguments_object, ToolSpec};
use crate::translate::Decoder;

/// Path below the environment's base URL.
pub const PATH: &str = "/v1/messages";

/// The token limit sent when neither the client nor the model table gives one: Anthropic
/// requires `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// A content block of a Messages request, borrowed from the conversation.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: Cow<'a, str>,
    },
    Image {
        source: ImageSource<'a>,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

impl<'a> Block<'a> {
    /// The block for a part; `None` for what Anthropic would refuse: empty text, and thinking
    /// without the signature that proves it is Claude's own.
    pub fn of(part: &'a Part) -> Option<Self> {
        Some(match part {
            Part::Text(text) if text.trim().is_empty() => return None,
            Part::Text(text) => Block::Text { text: text.into() },
            Part::Image { url, .. } => Block::Image {
                source: match data_url(url) {
                    Some((media_type, data)) => ImageSource::Base64 { media_type, data },
                    None => ImageSource::Url { url },
                },
            },
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Block::ToolUse {
                id,
                name,
                input: arguments_object(arguments),
            },
            Part::ToolResult {
                call_id,
                content,
                is_error,
            } => Block::ToolResult {
                tool_use_id: call_id,
                content,
                is_error: *is_error,
            },
            Part::Thinking {
                text,
                signature: Some(signature),
            } => Block::Thinking {
                thinking: text,
                signature,
            },
            Part::Thinking {
                signature: None, ..
            } => return None,
        })
    }

    pub(crate) fn is_tool_result(&self) -> bool {
        matches!(self, Block::ToolResult { .. })
    }
}

#[derive(Debug, Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    user: &'a str,
    metadata: Metadata<'a>,
    #[serde(flatten)]
    extra: Extra<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

/// The fields [`request_body`] writes; an Anthropic client's extra fields cannot replace them.
const WRITTEN: [&str; 15] = [
    "model",
    "max_tokens",
    "system",
    "messages",
    "stop_sequences",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "stream",
    "user",
    "metadata",
    "top_k",
];

/// The Messages request for `user` (Argo's identity: never the client's), with the model
/// table's rules applied: `max_tokens` always set (capped unless `stream`), sampling fitted,
/// `reasoning_effort` as `output_config.effort` when the model takes that level, and adaptive
/// thinking for models that have it when an effort was asked (not with forced tool use, which
/// Anthropic refuses with thinking; sampling Anthropic refuses with thinking is dropped).
pub fn request_body(
    conversation: &Conversation,
    model: &ModelSpec,
    user: &str,
    stream: bool,
) -> Result<Vec<u8>, ApiError> {
    let (system, messages) = turns(conversation);
    let mut params = fitted(conversation, model, stream);
    let limit = params
        .limit
        .or(model.default_max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let limit = match (stream, model.max_tokens_cap) {
        (false, Some(cap)) => limit.min(cap),
        _ => limit,
    };
    let spec = ToolSpec::of(conversation);
    let (tools, tool_choice) = spec.as_ref().map(tools::anthropic::tools).unzip();
    let effort = conversation.reasoning_effort.as_deref();
    let output_config = effort
        .filter(|effort| model.efforts.iter().any(|taken| taken == effort))
        .map(|effort| serde_json::json!({ "effort": effort }));
    let forced_tool = spec
        .as_ref()
        .is_some_and(|spec| matches!(spec.choice, ToolChoice::Required | ToolChoice::Named(_)));
    let thinks = model.thinking == Thinking::Adaptive
        && effort.is_some_and(|effort| effort != "none")
        && !forced_tool;
    if thinks {
        params.temperature = params.temperature.filter(|&temperature| temperature == 1.0);
        params.top_p = params.top_p.filter(|&top_p| top_p >= 0.95);
    }
    let request = Request {
        model: &model.argo_id,
        max_tokens: limit,
        system,
        messages,
        stop_sequences: &conversation.stop,
        temperature: params.temperature,
        top_p: params.top_p,
        tools,
        tool_choice: tool_choice.flatten(),
        thinking: thinks.then(|| serde_json::json!({"type": "adaptive"})),
        output_config,
        stream,
        user,
        metadata: Metadata { user_id: user },
        extra: Extra::new(conversation, Dialect::AnthropicMessages, &WRITTEN),
    };
    encode(&request, body_capacity(conversation))
}

/// System and developer messages become the top-level `system`; the rest alternate user and
/// assistant turns as Anthropic requires (consecutive turns of one role merged, tool results
/// first in their user turn), ending with a user turn.
fn turns(conversation: &Conversation) -> (Option<String>, Vec<Turn<'_>>) {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<Turn> = Vec::with_capacity(conversation.messages.len() + 1);
    for message in &conversation.messages {
        let role = match message.role {
            Role::System | Role::Developer => {
                system.extend(message.texts().filter(|text| !text.trim().is_empty()));
                continue;
            }
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks: Vec<Block> = message.content.iter().filter_map(Block::of).collect();
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(turn) if turn.role == role => {
                if blocks.iter().all(Block::is_tool_result) {
                    let at = turn
                        .content
                        .iter()
                        .take_while(|block| block.is_tool_result())
                        .count();
                    turn.content.splice(at..at, blocks);
                } else {
                    turn.content.append(&mut blocks);
                }
            }
            _ => turns.push(Turn {
                role,
                content: blocks,
            }),
        }
    }
    if turns.last().is_none_or(|turn| turn.role != "user") {
        turns.push(Turn {
            role: "user",
            content: vec![Block::Text {
                text: CONTINUE_TURN.into(),
            }],
        });
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    (system, turns)
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Later reports replace what they name.
    fn merge(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }

    /// Anthropic counts cache reads and writes apart from `input_tokens`; the hub's input is
    /// the whole prompt, as OpenAI's `prompt_tokens`.
    fn hub(self) -> Usage {
        let read = self.cache_read_input_tokens;
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0)
                + read.unwrap_or(0)
                + self.cache_creation_input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: read,
        }
    }
}

fn finish_of(stop_reason: &str) -> Finish {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "refusal" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

impl WireError {
    fn api_error(&self) -> ApiError {
        upstream_error(&self.kind, &self.message)
    }
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

/// Reads a Messages answer: text, thinking and `tool_use` blocks in order, the stop reason and
/// usage. Argo's notice and an error body are errors.
pub fn read_answer(body: &[u8]) -> Result<Answer, ApiError> {
    if notice::is_notice(body) {
        return Err(notice::unregistered_user());
    }
    let answer: WireAnswer = serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid_answer("Argo returned a Claude answer that is not valid JSON")
    })?;
    if let Some(error) = &answer.error {
        return Err(error.api_error());
    }
    let content: Vec<Part> = answer
        .content
        .into_iter()
        .filter_map(|block| match block.kind.as_str() {
            "text" => block.text.map(Part::Text),
            "thinking" => Some(Part::Thinking {
                text: block.thinking.unwrap_or_default(),
                signature: block.signature,
            }),
            "tool_use" => Some(Part::tool_call(
                block.id.unwrap_or_default(),
                block.name.unwrap_or_default(),
                tools::arguments_string(block.input.as_ref()),
            )),
            _ => None,
        })
        .collect();
    if content.is_empty() && answer.stop_reason.is_none() {
        return Err(ApiError::invalid_answer(
            "Argo returned a Claude answer with no content",
        ));
    }
    Ok(Answer {
        content,
        finish: answer
            .stop_reason
            .as_deref()
            .map_or(Finish::Stop, finish_of),
        usage: answer.usage.map(WireUsage::hub),
    })
}

/// One `data:` payload of Anthropic's stream. Flat: every event type's fields, optional.
#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default, borrow)]
    content_block: Option<StartBlock<'a>>,
    #[serde(default)]
    message: Option<MessageStart>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

/// `content_block_delta`'s and `message_delta`'s `delta`.
#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct StartBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Anthropic's SSE stream into events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    parser: SseParser,
    state: StreamState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Thinking,
    /// The `call`-th call of the answer; whether any argument text came.
    Tool {
        call: usize,
        arguments: bool,
    },
    Other,
}

#[derive(Debug, Default)]
struct StreamState {
    /// Open content blocks by their index.
    blocks: Vec<(usize, OpenBlock)>,
    calls: usize,
    usage: WireUsage,
    finished: bool,
    /// `message_stop` or `error` came: nothing more is read.
    ended: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }
}

impl Decoder for SseDecoder {
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        let state = &mut self.state;
        self.parser.feed(bytes, |_, data| state.data(data, events));
    }

    fn finish(&mut self, events: &mut Vec<Event>) {
        let state = &mut self.state;
        self.parser.finish(|_, data| state.data(data, events));
        if !state.ended && !state.finished {
            state.ended = true;
            events.push(Event::Error(truncated()));
        }
    }
}

impl StreamState {
    fn data(&mut self, data: &[u8], events: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        // What is not JSON, or not an event this decoder knows, carries nothing for the hub.
        let Ok(data) = serde_json::from_slice::<Data>(data) else {
            return;
        };
        match data.kind.as_ref() {
            "message_start" => {
                if let Some(usage) = data.message.and_then(|message| message.usage) {
                    self.usage.merge(usage);
                }
            }
            "content_block_start" => {
                if let Some(block) = data.content_block {
                    let open = self.start_block(block, events);
                    self.blocks.push((data.index, open));
                }
            }
            "content_block_delta" => {
                if let Some(delta) = data.delta {
                    self.delta(data.index, delta, events);
                }
            }
            "content_block_stop" => {
                let position = self
                    .blocks
                    .iter()
                    .position(|(index, _)| *index == data.index);
                if let Some(position) = position {
                    if let (
                        _,
                        OpenBlock::Tool {
                            call,
                            arguments: false,
                        },
                    ) = self.blocks.swap_remove(position)
                    {
                        // A call without arguments: OpenAI clients parse the arguments text.
                        events.push(Event::ToolCallArguments {
                            index: call,
                            fragment: "{}".into(),
                        });
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = data.delta.and_then(|delta| delta.stop_reason) {
                    self.finished = true;
                    events.push(Event::Finish(finish_of(&reason)));
                }
                if let Some(usage) = data.usage {
                    self.usage.merge(usage);
                    events.push(Event::Usage(self.usage.hub()));
                }
            }
            "message_stop" => self.ended = true,
            "error" => {
                self.ended = true;
                let error = data.error.map_or_else(
                    || upstream_error("error", "no details given"),
                    |error| error.api_error(),
                );
                events.push(Event::Error(error));
            }
            _ => {}
        }
    }

    fn start_block(&mut self, block: StartBlock, events: &mut Vec<Event>) -> OpenBlock {
        match block.kind.as_ref() {
            "text" => {
                push_text(events, Event::TextDelta, block.text);
                OpenBlock::Text
            }
            "thinking" => {
                push_text(events, Event::ThinkingDelta, block.thinking);
                push_text(events, Event::ThinkingSignature, block.signature);
                OpenBlock::Thinking
            }
            "tool_use" => {
                let call = self.calls;
                self.calls += 1;
                events.push(Event::ToolCallStart {
                    index: call,
                    id: block.id.unwrap_or_default(),
                    name: block.name.unwrap_or_default(),
                });
                // Some servers send the whole input here instead of as deltas.
                let input = block.input.map(RawValue::get).unwrap_or("{}");
                let arguments = !is_empty_object(input);
                if arguments {
                    events.push(Event::ToolCallArguments {
                        index: call,
                        fragment: input.to_string(),
                    });
                }
                OpenBlock::Tool { call, arguments }
            }
            _ => OpenBlock::Other,
        }
    }

    fn delta(&mut self, index: usize, delta: Delta, events: &mut Vec<Event>) {
        let open = self
            .blocks
            .iter_mut()
            .find(|(open, _)| *open == index)
            .map(|(_, block)| block);
        match (delta.kind.as_deref(), open) {
            (Some("text_delta"), _) => push_text(events, Event::TextDelta, delta.text),
            (Some("thinking_delta"), _) => push_text(events, Event::ThinkingDelta, delta.thinking),
            (Some("signature_delta"), _) => {
                push_text(events, Event::ThinkingSignature, delta.signature)
            }
            (Some("input_json_delta"), Some(OpenBlock::Tool { call, arguments })) => {
                if let Some(fragment) = delta.partial_json.filter(|json| !json.is_empty()) {
                    *arguments = true;
                    events.push(Event::ToolCallArguments {
                        index: *call,
                        fragment,
                    });
                }
            }
            _ => {}
        }
    }
}

fn push_text(events: &mut Vec<Event>, event: fn(String) -> Event, text: Option<String>) {
    if let Some(text) = text.filter(|text| !text.is_empty()) {
        events.push(event(text));
    }
}

fn is_empty_object(json: &str) -> bool {
    json.trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|inside| inside.trim().is_empty())
}
