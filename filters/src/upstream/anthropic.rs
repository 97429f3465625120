//! Argo's native Anthropic endpoint (`POST {base}/v1/messages`), which serves the Claude
//! family: a [`Conversation`] as a Messages request; answers and SSE streams into the hub.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{body_capacity, encode, fitted, upstream_error, Extra, SseDialect, CONTINUE_TURN};
use crate::error::ApiError;
use crate::hub::{
    data_url, Answer, Conversation, Dialect, Event, Finish, Part, Role, ToolChoice, Usage,
};
use crate::models::{thinking_budget, ModelSpec, Thinking};
use crate::notice;
use crate::tools::{self, arguments_object, ToolSpec};

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
    /// that is empty or without the signature that proves it is Claude's own.
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
            } if !text.trim().is_empty() && !signature.is_empty() => Block::Thinking {
                thinking: text,
                signature,
            },
            // argo-api.md §C: Argo refuses thinking in history that is empty or unsigned.
            Part::Thinking { .. } => return None,
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
    top_k: Option<&'a Value>,
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
const WRITTEN: [&str; 16] = [
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
    // OpenAI's successor of `user`, not Anthropic's: only the gateway says who the user is.
    "safety_identifier",
];

/// The Messages request for `user` (Argo's identity: never the client's), with the model
/// table's rules applied: `max_tokens` always set (capped unless `stream`), sampling fitted,
/// `reasoning_effort` as `output_config.effort` when the model takes that level, and thinking
/// when an effort was asked: adaptive for models that have it, else budgeted from the effort
/// (below `max_tokens`, at least 1,024; then without `output_config`) for models that take a
/// budget (not with forced tool use, which Anthropic refuses with thinking; sampling Anthropic
/// refuses with thinking is dropped).
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
    let limit = model.capped(limit, stream);
    let spec = ToolSpec::of(conversation);
    let (tools, tool_choice) = spec.as_ref().map(tools::anthropic::tools).unzip();
    let effort = conversation.reasoning_effort.as_deref();
    let forced_tool = spec
        .as_ref()
        .is_some_and(|spec| matches!(spec.choice, ToolChoice::Required | ToolChoice::Named(_)));
    let thinking = effort
        .filter(|_| !forced_tool)
        .and_then(|effort| thinking_for_effort(model.thinking, effort, limit));
    let output_config = effort
        .filter(|effort| model.efforts.iter().any(|taken| taken == effort))
        // argo-api.md §A: thinking and an effort together only where adaptive thinking is.
        .filter(|_| !matches!(thinking, Some(ThinkingSent::Budget(_))))
        .map(|effort| serde_json::json!({ "effort": effort }));
    let thinks = thinking.is_some();
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
        // Anthropic refuses `top_k` with thinking, as it does changed sampling.
        top_k: top_k(conversation, model).filter(|_| !thinks),
        tools,
        tool_choice: tool_choice.flatten(),
        thinking: thinking.map(ThinkingSent::json),
        output_config,
        stream,
        user,
        metadata: Metadata { user_id: user },
        extra: Extra::new(conversation, Dialect::AnthropicMessages, &WRITTEN),
    };
    encode(&request, body_capacity(conversation))
}

/// The thinking a request sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThinkingSent {
    Adaptive,
    /// `enabled` with this budget.
    Budget(u64),
}

impl ThinkingSent {
    fn json(self) -> Value {
        match self {
            ThinkingSent::Adaptive => serde_json::json!({"type": "adaptive"}),
            ThinkingSent::Budget(budget) => {
                serde_json::json!({"type": "enabled", "budget_tokens": budget})
            }
        }
    }
}

/// The thinking a reasoning `effort` asks of a model that takes `thinking`: adaptive where
/// the model has it, else a budget from the effort below `max_tokens` (argo-api.md §C), else
/// none.
fn thinking_for_effort(thinking: Thinking, effort: &str, max_tokens: u64) -> Option<ThinkingSent> {
    if effort == "none" {
        return None;
    }
    if thinking.takes_adaptive() {
        return Some(ThinkingSent::Adaptive);
    }
    if thinking.takes_budget() {
        return thinking_budget(effort, max_tokens).map(ThinkingSent::Budget);
    }
    None
}

/// An Anthropic client's `top_k`, for a model whose table row lets it reach Argo
/// ([`ModelSpec::top_k`]).
fn top_k<'a>(conversation: &'a Conversation, model: &ModelSpec) -> Option<&'a Value> {
    if !model.top_k {
        return None;
    }
    conversation
        .extra_for(Dialect::AnthropicMessages)
        .find(|(key, _)| key.as_str() == "top_k")
        .map(|(_, value)| value)
}

/// System and developer messages become the top-level `system`; the rest alternate user and
/// assistant turns as Anthropic requires (consecutive turns of one role merged, tool results
/// first in their user turn), ending with a user turn.
fn turns(conversation: &Conversation) -> (Option<String>, Vec<Turn<'_>>) {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<Turn> = Vec::with_capacity(conversation.messages.len() + 1);
    let mut open: Option<OpenTurn> = None;
    for message in &conversation.messages {
        let role = match message.role {
            Role::System | Role::Developer => {
                system.extend(message.texts().filter(|text| !text.trim().is_empty()));
                continue;
            }
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let blocks: Vec<Block> = message.content.iter().filter_map(Block::of).collect();
        if blocks.is_empty() {
            continue;
        }
        match &mut open {
            Some(turn) if turn.role == role => turn.add(blocks),
            _ => {
                turns.extend(open.take().map(OpenTurn::close));
                let mut turn = OpenTurn::new(role);
                turn.add(blocks);
                open = Some(turn);
            }
        }
    }
    turns.extend(open.map(OpenTurn::close));
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

/// The turn [`turns`] is merging messages into: its leading tool results apart from the
/// rest, so that the results of a later message go after them by a push, where inserting each
/// into one list moved the rest every time (quadratic in a run of tool messages).
struct OpenTurn<'a> {
    role: &'static str,
    /// The turn's leading tool results.
    results: Vec<Block<'a>>,
    /// The rest, starting with a block that is no tool result.
    rest: Vec<Block<'a>>,
}

impl<'a> OpenTurn<'a> {
    fn new(role: &'static str) -> Self {
        OpenTurn {
            role,
            results: Vec::new(),
            rest: Vec::new(),
        }
    }

    /// A message's blocks: tool results only join the leading ones, other blocks go last.
    fn add(&mut self, blocks: Vec<Block<'a>>) {
        if !self.rest.is_empty() && !blocks.iter().all(Block::is_tool_result) {
            self.rest.extend(blocks);
            return;
        }
        let mut blocks = blocks.into_iter().peekable();
        while let Some(result) = blocks.next_if(Block::is_tool_result) {
            self.results.push(result);
        }
        self.rest.extend(blocks);
    }

    fn close(mut self) -> Turn<'a> {
        self.results.append(&mut self.rest);
        Turn {
            role: self.role,
            content: self.results,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Later reports replace what they name.
    pub(crate) fn merge(&mut self, later: WireUsage) {
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
    pub(crate) fn hub(self) -> Usage {
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
pub type SseDecoder = super::SseDecoder<StreamState>;

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

/// What the stream has said so far.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Open content blocks by their index.
    blocks: Vec<(usize, OpenBlock)>,
    calls: usize,
    usage: WireUsage,
    finished: bool,
    /// `message_stop` or `error` came: nothing more is read.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::openai_chat;
    use crate::error::ErrorCode;
    use crate::fixtures::{self, assert_split_invariant, claude, decode, split, ANTHROPIC_STREAM};
    use crate::hub::Message;
    use crate::models::Sampling;
    use proptest::prelude::*;
    use serde_json::json;

    /// How [`turns`] merged a message into the turn before, spliced into one list: the
    /// reference its faster form is held to.
    fn spliced_turns(conversation: &Conversation) -> Vec<Turn<'_>> {
        let mut turns: Vec<Turn> = Vec::new();
        for message in &conversation.messages {
            let role = match message.role {
                Role::System | Role::Developer => continue,
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
        turns
    }

    fn message_of(role: u8, parts: &[bool], number: usize) -> Message {
        let role = [Role::User, Role::Tool, Role::Assistant][usize::from(role % 3)];
        let content = parts
            .iter()
            .enumerate()
            .map(|(at, &result)| match result {
                true => Part::ToolResult {
                    call_id: format!("call_{number}_{at}"),
                    content: format!("result {number}.{at}"),
                    is_error: false,
                },
                false => Part::Text(format!("text {number}.{at}")),
            })
            .collect();
        Message::new(role, content)
    }

    #[test]
    fn a_run_of_tool_messages_merges_into_one_turn_in_order() {
        let mut messages = vec![message_of(0, &[false, false], 0)];
        messages.extend((1..=20_000).map(|number| message_of(1, &[true], number)));
        let conversation = Conversation::new(Dialect::OpenAiChat, messages);
        let (_, turns) = turns(&conversation);
        assert_eq!(turns.len(), 1);
        let json = serde_json::to_value(&turns[0]).unwrap();
        let content = json["content"].as_array().unwrap();
        assert_eq!(content.len(), 20_002);
        assert_eq!(content[0]["tool_use_id"], "call_1_0");
        assert_eq!(content[19_999]["tool_use_id"], "call_20000_0");
        assert_eq!(content[20_000]["text"], "text 0.0");
    }

    proptest! {
        #[test]
        fn turns_merge_as_splicing_each_message_into_the_last_turn_did(
            messages in prop::collection::vec((0u8..3, prop::collection::vec(any::<bool>(), 0..4)), 0..12)
        ) {
            let messages = messages
                .iter()
                .enumerate()
                .map(|(number, (role, parts))| message_of(*role, parts, number))
                .collect();
            let conversation = Conversation::new(Dialect::OpenAiChat, messages);
            let (_, merged) = turns(&conversation);
            let mut expected = spliced_turns(&conversation);
            if expected.last().is_none_or(|turn| turn.role != "user") {
                expected.push(Turn { role: "user", content: vec![Block::Text { text: CONTINUE_TURN.into() }] });
            }
            prop_assert_eq!(
                serde_json::to_value(&merged).unwrap(),
                serde_json::to_value(&expected).unwrap()
            );
        }
    }

    fn rewrite(body: Value, model: &ModelSpec, stream: bool) -> Value {
        let (conversation, _) = openai_chat::read_request(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&request_body(&conversation, model, "alice", stream).unwrap())
            .unwrap()
    }

    fn user(content: &str) -> Value {
        json!({"role": "user", "content": content})
    }

    #[test]
    fn identity_is_the_gateways_user_and_the_model_argos_id() {
        let body = rewrite(
            json!({"model": "claude-sonnet-4.6", "user": "mallory", "metadata": {"user_id": "mallory"},
                "messages": [user("hi")]}),
            &claude(),
            true,
        );
        assert_eq!(body["model"], "claudesonnet46");
        assert_eq!(body["user"], "alice");
        assert_eq!(body["metadata"], json!({"user_id": "alice"}));
        assert_eq!(body["stream"], true);
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
        );
        let unstreamed = rewrite(
            json!({"model": "m", "messages": [user("hi")]}),
            &claude(),
            false,
        );
        assert!(unstreamed.get("stream").is_none());
    }

    #[test]
    fn system_and_developer_messages_become_the_top_level_system() {
        let body = rewrite(
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                user("hi"),
                {"role": "system", "content": "Late rule."}]}),
            &claude(),
            true,
        );
        assert_eq!(
            body["system"],
            "Be brief.\n\nAnswer in French.\n\nLate rule."
        );
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn images_become_base64_or_url_sources() {
        let body = rewrite(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}}]}]}),
            &claude(),
            true,
        );
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.jpg"}}
            ])
        );
    }

    const WEATHER: &str = r#"{"model":"m","tool_choice":"required","parallel_tool_calls":false,
        "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
                 {"type":"function","function":{"name":"get_time"}}],
        "messages":[{"role":"user","content":"Weather and time in Paris?"},
          {"role":"assistant","content":"Checking.","tool_calls":[
            {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":""}}]},
          {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
          {"role":"tool","tool_call_id":"toolu_2","content":[{"type":"text","text":"14:00"}]},
          {"role":"user","content":"Thanks. And Rome?"}]}"#;

    #[test]
    fn tools_calls_and_results_take_anthropic_shape() {
        let body = rewrite(serde_json::from_str(WEATHER).unwrap(), &claude(), true);
        assert_eq!(
            body["tools"],
            json!([
                {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
            ])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(
            messages[1],
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]})
        );
        assert_eq!(
            messages[2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "14:00"},
                {"type": "text", "text": "Thanks. And Rome?"}]}),
            "tool results and the next user turn merge, results first"
        );
        assert!(body.get("parallel_tool_calls").is_none());
    }

    #[test]
    fn tool_choices_map_to_anthropics() {
        let choice = |choice: Value, parallel: Option<bool>| {
            let mut request = json!({"model": "m", "messages": [user("hi")], "tool_choice": choice,
                "tools": [{"type": "function", "function": {"name": "f"}}]});
            if let Some(parallel) = parallel {
                request["parallel_tool_calls"] = parallel.into();
            }
            rewrite(request, &claude(), true)["tool_choice"].clone()
        };
        assert_eq!(choice(json!("auto"), None), json!({"type": "auto"}));
        assert_eq!(choice(json!("none"), Some(false)), json!({"type": "none"}));
        assert_eq!(
            choice(
                json!({"type": "function", "function": {"name": "f"}}),
                Some(true)
            ),
            json!({"type": "tool", "name": "f"})
        );
        assert_eq!(
            choice(json!("auto"), Some(false)),
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn consecutive_turns_of_one_role_merge_and_the_last_turn_is_the_users() {
        let body = rewrite(
            json!({"model": "m", "messages": [user("one"), user("two"),
                {"role": "assistant", "content": "three"}, {"role": "assistant", "content": ""},
                {"role": "assistant", "content": "four"}]}),
            &claude(),
            true,
        );
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
                {"role": "user", "content": [{"type": "text", "text": CONTINUE_TURN}]}
            ])
        );
        let system_only = rewrite(
            json!({"model": "m", "messages": [{"role": "system", "content": "Say hi."}]}),
            &claude(),
            true,
        );
        assert_eq!(
            system_only["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": CONTINUE_TURN}]}])
        );
    }

    #[test]
    fn max_tokens_comes_from_the_client_the_table_or_a_constant_and_is_capped_unstreamed() {
        let limit = |request: Value, model: &ModelSpec, stream: bool| {
            rewrite(request, model, stream)["max_tokens"].as_u64()
        };
        let asked =
            |key: &str, value: u64| json!({"model": "m", "messages": [user("hi")], key: value});
        assert_eq!(limit(asked("max_tokens", 50), &claude(), true), Some(50));
        assert_eq!(
            limit(asked("max_completion_tokens", 60_000), &claude(), true),
            Some(60_000)
        );
        assert_eq!(
            limit(asked("max_completion_tokens", 60_000), &claude(), false),
            Some(21_000)
        );
        let plain = json!({"model": "m", "messages": [user("hi")]});
        assert_eq!(limit(plain.clone(), &claude(), true), Some(16_384));
        let bare = ModelSpec {
            default_max_tokens: None,
            ..claude()
        };
        assert_eq!(limit(plain, &bare, true), Some(DEFAULT_MAX_TOKENS));
    }

    #[test]
    fn sampling_follows_the_model_table() {
        let both =
            json!({"model": "m", "messages": [user("hi")], "temperature": 0.3, "top_p": 0.8});
        let sampled = |sampling: Sampling| {
            let body = rewrite(
                both.clone(),
                &ModelSpec {
                    sampling,
                    ..claude()
                },
                true,
            );
            (body["temperature"].as_f64(), body["top_p"].as_f64())
        };
        assert_eq!(sampled(Sampling::Any), (Some(0.3), Some(0.8)));
        assert_eq!(sampled(Sampling::OneOf), (Some(0.3), None));
        assert_eq!(sampled(Sampling::None), (None, None));
        let top_p_only = rewrite(
            json!({"model": "m", "messages": [user("hi")], "top_p": 0.8}),
            &claude(),
            true,
        );
        assert_eq!(top_p_only["top_p"], 0.8);
    }

    #[test]
    fn effort_becomes_output_config_and_adaptive_thinking_where_the_model_takes_them() {
        let effort = |effort: &str, model: &ModelSpec| {
            let body = rewrite(
                json!({"model": "m", "messages": [user("hi")], "reasoning_effort": effort, "temperature": 0.2}),
                model,
                true,
            );
            (
                body.get("output_config").cloned(),
                body.get("thinking").cloned(),
                body.get("temperature").cloned(),
            )
        };
        assert_eq!(
            effort("high", &claude()),
            (
                Some(json!({"effort": "high"})),
                Some(json!({"type": "adaptive"})),
                None
            ),
            "thinking takes no temperature but the default"
        );
        assert_eq!(
            effort("minimal", &claude()),
            (None, Some(json!({"type": "adaptive"})), None),
            "a level the model does not take is not sent"
        );
        let no_thinking = ModelSpec {
            thinking: Thinking::None,
            ..claude()
        };
        assert_eq!(
            effort("low", &no_thinking),
            (Some(json!({"effort": "low"})), None, Some(json!(0.2)))
        );
        let plain = rewrite(
            json!({"model": "m", "messages": [user("hi")]}),
            &claude(),
            true,
        );
        assert!(plain.get("thinking").is_none() && plain.get("output_config").is_none());
        let forced = rewrite(
            json!({"model": "m", "messages": [user("hi")], "reasoning_effort": "high", "tool_choice": "required",
                "tools": [{"type": "function", "function": {"name": "f"}}]}),
            &claude(),
            true,
        );
        assert!(
            forced.get("thinking").is_none(),
            "Anthropic refuses thinking with forced tool use"
        );
        assert!(!forced.to_string().contains("budget_tokens"));
    }

    #[test]
    fn effort_becomes_a_budget_below_max_tokens_on_budget_only_models() {
        let budget_only = ModelSpec {
            thinking: Thinking::Budget,
            ..claude()
        };
        let thinking = |effort: &str, max_tokens: u64| {
            let body = rewrite(
                json!({"model": "m", "messages": [user("hi")], "reasoning_effort": effort,
                    "max_tokens": max_tokens, "temperature": 0.2}),
                &budget_only,
                true,
            );
            assert!(
                body.get("output_config").is_none() || body.get("thinking").is_none(),
                "no effort beside budgeted thinking: {body}"
            );
            body.get("thinking").cloned()
        };
        assert_eq!(
            thinking("low", 16_384),
            Some(json!({"type": "enabled", "budget_tokens": 4000}))
        );
        assert_eq!(
            thinking("high", 16_384),
            Some(json!({"type": "enabled", "budget_tokens": 16_383})),
            "the budget stays below max_tokens"
        );
        assert_eq!(
            thinking("medium", 1_025),
            Some(json!({"type": "enabled", "budget_tokens": 1_024}))
        );
        assert_eq!(thinking("high", 1_024), None, "no budget of 1,024 fits");
        assert_eq!(thinking("none", 16_384), None);
        let body = rewrite(
            json!({"model": "m", "messages": [user("hi")], "reasoning_effort": "low", "temperature": 0.2}),
            &budget_only,
            true,
        );
        assert!(body.get("temperature").is_none(), "{body}");
        let both = ModelSpec {
            thinking: Thinking::Both,
            ..claude()
        };
        let body = rewrite(
            json!({"model": "m", "messages": [user("hi")], "reasoning_effort": "low"}),
            &both,
            true,
        );
        assert_eq!(body["thinking"], json!({"type": "adaptive"}));
        assert_eq!(body["output_config"], json!({"effort": "low"}));
    }

    #[test]
    fn thinking_in_history_that_argo_refuses_is_dropped() {
        let thinking = |text: &str, signature: Option<&str>| Part::Thinking {
            text: text.into(),
            signature: signature.map(Into::into),
        };
        let messages = vec![
            Message::new(Role::User, vec![Part::Text("hi".into())]),
            Message::new(
                Role::Assistant,
                vec![
                    thinking("kept", Some("sig")),
                    thinking("", Some("sig")),
                    thinking("  ", Some("sig")),
                    thinking("unsigned", None),
                    thinking("empty signature", Some("")),
                    Part::Text("answer".into()),
                ],
            ),
            Message::new(Role::User, vec![Part::Text("more".into())]),
        ];
        let conversation = Conversation::new(Dialect::AnthropicMessages, messages);
        let body: Value =
            serde_json::from_slice(&request_body(&conversation, &claude(), "alice", true).unwrap())
                .unwrap();
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type": "thinking", "thinking": "kept", "signature": "sig"},
                {"type": "text", "text": "answer"}])
        );
    }

    #[test]
    fn stop_sequences_and_openai_only_fields() {
        let body = rewrite(
            json!({"model": "m", "messages": [user("hi")], "stop": ["END", "STOP"], "seed": 7,
                "response_format": {"type": "json_object"}, "n": 1}),
            &claude(),
            true,
        );
        assert_eq!(body["stop_sequences"], json!(["END", "STOP"]));
        for openai_only in ["seed", "response_format", "n", "stop"] {
            assert!(body.get(openai_only).is_none(), "{openai_only}");
        }
    }

    #[test]
    fn answers_read_text_thinking_calls_stop_reason_and_usage() {
        let answer = read_answer(br#"{"id":"msg_vrtx_01","type":"message","role":"assistant","model":"claude-sonnet-4-6",
            "content":[{"type":"thinking","thinking":"Weather needs a tool.","signature":"EvUB"},
                {"type":"text","text":"Checking."},
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],
            "stop_reason":"tool_use",
            "usage":{"cache_creation":{"ephemeral_1h_input_tokens":0},"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"input_tokens":13,"output_tokens":20}}"#).unwrap();
        assert_eq!(
            answer.content,
            vec![
                Part::Thinking {
                    text: "Weather needs a tool.".into(),
                    signature: Some("EvUB".into())
                },
                Part::Text("Checking.".into()),
                Part::tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
            ]
        );
        assert_eq!(answer.finish, Finish::ToolCalls);
        assert_eq!(
            answer.usage,
            Some(Usage {
                input_tokens: 118,
                output_tokens: 20,
                cached_input_tokens: Some(100)
            })
        );
        for (reason, finish) in [
            ("end_turn", Finish::Stop),
            ("stop_sequence", Finish::Stop),
            ("max_tokens", Finish::Length),
            ("refusal", Finish::ContentFilter),
        ] {
            let body = json!({"content": [{"type": "text", "text": "x"}], "stop_reason": reason});
            assert_eq!(
                read_answer(body.to_string().as_bytes()).unwrap().finish,
                finish
            );
        }
    }

    #[test]
    fn errors_notices_and_garbage_are_errors() {
        let overloaded = read_answer(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (overloaded.status, overloaded.code),
            (503, Some(ErrorCode::UpstreamOverloaded))
        );
        let rejected = read_answer(br#"{"type":"error","error":{"type":"invalid_request_error","message":"Error code: 400 - max_tokens: must be at most 64000"}}"#).unwrap_err();
        assert_eq!(rejected.status, 400);
        assert!(rejected
            .message
            .contains("max_tokens: must be at most 64000"));
        let notice = json!({"content": [{"type": "text", "text": fixtures::NOTICE}], "stop_reason": "end_turn"});
        assert_eq!(
            read_answer(notice.to_string().as_bytes()).unwrap_err().code,
            Some(ErrorCode::UpstreamUserNotRegistered)
        );
        assert_eq!(read_answer(b"<html>").unwrap_err().status, 502);
        assert_eq!(read_answer(br#"{"content":[]}"#).unwrap_err().status, 502);
    }

    #[test]
    fn the_stream_becomes_events() {
        let events = decode(SseDecoder::new(), &[ANTHROPIC_STREAM.as_bytes()]);
        assert_eq!(
            events,
            vec![
                Event::ThinkingDelta("The user wants the weather.".into()),
                Event::ThinkingSignature("EvUBCl0IDRACGAIqQFpN".into()),
                Event::TextDelta("Let me check \"Paris\" 🌦️".into()),
                Event::TextDelta(" for you.".into()),
                Event::ToolCallStart {
                    index: 0,
                    id: "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "get_weather".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "{\"city\": ".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "\"Paris\"}".into()
                },
                Event::Finish(Finish::ToolCalls),
                Event::Usage(Usage {
                    input_tokens: 572,
                    output_tokens: 89,
                    cached_input_tokens: Some(100)
                }),
            ]
        );
    }

    fn stream_of(events: &[Value]) -> String {
        events
            .iter()
            .map(|data| {
                format!(
                    "event: {}\ndata: {data}\n\n",
                    data["type"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn calls_without_input_get_empty_arguments_and_whole_inputs_are_taken() {
        let stream = stream_of(&[
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "f", "input": {"x": 1}}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ]);
        let events = decode(SseDecoder::new(), &[stream.as_bytes()]);
        assert_eq!(
            events[..4],
            [
                Event::ToolCallStart {
                    index: 0,
                    id: "toolu_a".into(),
                    name: "now".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "{}".into()
                },
                Event::ToolCallStart {
                    index: 1,
                    id: "toolu_b".into(),
                    name: "f".into()
                },
                Event::ToolCallArguments {
                    index: 1,
                    fragment: "{\"x\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn an_error_event_ends_the_stream_and_a_cut_stream_is_an_error() {
        let stream = stream_of(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ignored"}}),
        ]);
        let events = decode(SseDecoder::new(), &[stream.as_bytes()]);
        assert_eq!(events.len(), 2, "{events:?}");
        let Event::Error(error) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(error.status, 503);
        assert!(error.message.contains("retry"));
        let cut = &ANTHROPIC_STREAM[..ANTHROPIC_STREAM.find("event: message_delta").unwrap()];
        let events = decode(SseDecoder::new(), &[cut.as_bytes()]);
        assert!(
            matches!(events.last(), Some(Event::Error(error)) if error.code == Some(ErrorCode::UpstreamTruncated))
        );
        let without_stop =
            &ANTHROPIC_STREAM[..ANTHROPIC_STREAM.find("event: message_stop").unwrap()];
        assert!(!matches!(
            decode(SseDecoder::new(), &[without_stop.as_bytes()]).last(),
            Some(Event::Error(_))
        ));
    }

    #[test]
    fn the_stream_decodes_alike_split_at_every_byte() {
        assert_split_invariant(SseDecoder::new, ANTHROPIC_STREAM.as_bytes());
    }

    proptest! {
        #[test]
        fn the_stream_decodes_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let stream = ANTHROPIC_STREAM.as_bytes();
            prop_assert_eq!(decode(SseDecoder::new(), &split(stream, &cuts)), decode(SseDecoder::new(), &[stream]));
        }
    }
}
