//! The canonical form every translation goes through (hub and spoke).
//!
//! Client spokes read their dialect into a [`Conversation`] and render [`Answer`]s and
//! [`Event`]s back; upstream spokes render a `Conversation` as Argo's request and read Argo's
//! answers and streams into `Answer`s and `Event`s. N client formats and M upstream dialects
//! then take N + M translators instead of N x M.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::usage::{Tokenizer, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE};

/// An API dialect: what a client speaks, or what an upstream endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAiChat,
    AnthropicMessages,
    OpenAiResponses,
    GoogleGenAi,
}

/// A chat request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The dialect the client spoke: [`Conversation::extra`] only means something to an
    /// upstream of the same dialect.
    pub origin: Dialect,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub reasoning_effort: Option<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// The structured-output format asked for, as OpenAI chat's `response_format` JSON
    /// (`{"type": "json_schema", "json_schema": {...}}`). Only the OpenAI upstream writes it;
    /// Anthropic's and the resource API have no such parameter.
    pub response_format: Option<Value>,
    /// The client's fields the hub has no slot for, passed on to an upstream of its dialect.
    pub extra: Map<String, Value>,
}

impl Conversation {
    pub fn new(origin: Dialect, messages: Vec<Message>) -> Self {
        Conversation {
            origin,
            messages,
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            reasoning_effort: None,
            stream: false,
            include_usage: false,
            response_format: None,
            extra: Map::new(),
        }
    }

    /// The extra fields, when the upstream speaks the client's dialect.
    pub fn extra_for(&self, upstream: Dialect) -> impl Iterator<Item = (&String, &Value)> {
        self.extra.iter().filter(move |_| self.origin == upstream)
    }

    /// Whether the request lets the model call tools.
    pub fn offers_tools(&self) -> bool {
        !self.tools.is_empty()
    }

    /// Prompt tokens as `tokenizer` counts them: each message's text and tool calls (as
    /// OpenAI call JSON), the tool definitions (as OpenAI tools), and OpenAI's framing. Counts
    /// of texts sent again (the conversation so far, the tools) are remembered.
    pub fn prompt_tokens(&self, tokenizer: Tokenizer) -> u64 {
        let per_message: u64 = self
            .messages
            .iter()
            .map(|message| {
                let counted: u64 = message
                    .content
                    .iter()
                    .map(|part| match part {
                        Part::Text(text) => tokenizer.count_recurring(text),
                        Part::ToolResult { content, .. } => tokenizer.count_recurring(content),
                        Part::ToolCall {
                            id,
                            name,
                            arguments,
                        } => tokenizer
                            .count_recurring(&openai_call_json(id, name, arguments).to_string()),
                        Part::Image { .. } | Part::Thinking { .. } => 0,
                    })
                    .sum();
                TOKENS_PER_MESSAGE + counted
            })
            .sum();
        let tools = if self.tools.is_empty() {
            0
        } else {
            let tools: Vec<Value> = self.tools.iter().map(ToolDef::openai_json).collect();
            tokenizer.count_recurring(&Value::Array(tools).to_string())
        };
        per_message + tools + REPLY_PRIMING_TOKENS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    /// OpenAI's `developer`: instructions like `system`, kept apart for upstreams that
    /// distinguish them.
    Developer,
    User,
    Assistant,
    /// Tool results ([`Part::ToolResult`]).
    Tool,
}

impl Role {
    /// System or developer: instructions rather than a turn.
    pub fn instructs(self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    /// OpenAI's participant `name`.
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: Vec<Part>) -> Self {
        Message {
            role,
            content,
            name: None,
        }
    }

    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message::new(role, vec![Part::Text(text.into())])
    }

    /// The text parts.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.content.iter().filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            _ => None,
        })
    }

    /// The text parts joined by `separator`.
    pub fn joined_text(&self, separator: &str) -> String {
        self.texts().collect::<Vec<_>>().join(separator)
    }

    pub fn has_tool_calls(&self) -> bool {
        self.content
            .iter()
            .any(|part| matches!(part, Part::ToolCall { .. }))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A `data:` URL or an http(s) URL; `detail` is OpenAI's vision detail level.
    Image {
        url: String,
        detail: Option<String>,
    },
    /// A call the assistant made; `arguments` is JSON text.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
    /// The model's reasoning; `signature` is what Anthropic needs to accept it back.
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

impl Part {
    pub fn tool_call(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Part::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// A `data:` URL's media type and base64 payload.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// OpenAI's JSON for a call: `{"id", "type": "function", "function": {"name", "arguments"}}`.
pub fn openai_call_json(id: &str, name: &str, arguments: &str) -> Value {
    serde_json::json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments; `Null` when the client gave none.
    pub parameters: Value,
    /// OpenAI's `strict`.
    pub strict: Option<bool>,
}

impl ToolDef {
    /// The schema, or an empty object schema when none was given.
    pub fn schema(&self) -> Value {
        match &self.parameters {
            Value::Null => serde_json::json!({"type": "object", "properties": {}}),
            schema => schema.clone(),
        }
    }

    /// OpenAI's `{"type": "function", "function": {...}}`.
    pub fn openai_json(&self) -> Value {
        let mut function = Map::new();
        function.insert("name".into(), Value::String(self.name.clone()));
        if let Some(description) = &self.description {
            function.insert("description".into(), Value::String(description.clone()));
        }
        if !self.parameters.is_null() {
            function.insert("parameters".into(), self.parameters.clone());
        }
        if let Some(strict) = self.strict {
            function.insert("strict".into(), Value::Bool(strict));
        }
        serde_json::json!({"type": "function", "function": function})
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// A whole (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Text, thinking and tool calls, in the order the model produced them.
    pub content: Vec<Part>,
    pub finish: Finish,
    /// What the upstream reported; `None` when it reports nothing (Argo's resource API).
    pub usage: Option<Usage>,
}

impl Answer {
    /// The text parts joined (borrowed when there is one); `None` when there are none.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        let mut texts = self.content.iter().filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            _ => None,
        });
        let first = texts.next()?;
        match texts.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first}{second}");
                texts.for_each(|more| joined.push_str(more));
                Some(Cow::Owned(joined))
            }
        }
    }

    /// The thinking parts joined; `None` when there are none.
    pub fn thinking(&self) -> Option<String> {
        let texts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|part| match part {
                Part::Thinking { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    }

    /// `(id, name, arguments)` of each call, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.content.iter().filter_map(|part| match part {
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some((id.as_str(), name.as_str(), arguments.as_str())),
            _ => None,
        })
    }

    /// Completion tokens as `tokenizer` counts them: text, thinking, and each call as OpenAI
    /// call JSON.
    pub fn completion_tokens(&self, tokenizer: Tokenizer) -> u64 {
        self.content
            .iter()
            .map(|part| match part {
                Part::Text(text) | Part::Thinking { text, .. } => tokenizer.count(text),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => tokenizer.count(&openai_call_json(id, name, arguments).to_string()),
                Part::Image { .. } | Part::ToolResult { .. } => 0,
            })
            .sum()
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn openai(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }
}

/// Token usage. `input_tokens` is the whole prompt, cached part included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens served from the upstream's cache, when it says.
    pub cached_input_tokens: Option<u64>,
}

impl Usage {
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Usage {
            input_tokens,
            output_tokens,
            cached_input_tokens: None,
        }
    }
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    TextDelta(String),
    ThinkingDelta(String),
    /// The signature that closes a thinking block (Anthropic).
    ThinkingSignature(String),
    /// The `index`-th call of the answer (0, 1, ... in order) begins.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: usize,
        fragment: String,
    },
    Finish(Finish),
    Usage(Usage),
    /// The upstream failed mid-stream; nothing follows.
    Error(ApiError),
}

/// Folds events into an [`Answer`]: for a client that wants one answer from an upstream that
/// streams.
#[derive(Debug, Default)]
pub struct Aggregator {
    content: Vec<Part>,
    /// Where the `index`-th call sits in `content`.
    calls: Vec<usize>,
    finish: Option<Finish>,
    usage: Option<Usage>,
    error: Option<ApiError>,
}

impl Aggregator {
    pub fn push(&mut self, event: Event) {
        match event {
            Event::TextDelta(delta) => match self.content.last_mut() {
                Some(Part::Text(text)) => text.push_str(&delta),
                _ => self.content.push(Part::Text(delta)),
            },
            Event::ThinkingDelta(delta) => match self.content.last_mut() {
                Some(Part::Thinking { text, .. }) => text.push_str(&delta),
                _ => self.content.push(Part::Thinking {
                    text: delta,
                    signature: None,
                }),
            },
            Event::ThinkingSignature(delta) => match self.content.last_mut() {
                Some(Part::Thinking { signature, .. }) => {
                    signature.get_or_insert_with(String::new).push_str(&delta)
                }
                _ => self.content.push(Part::Thinking {
                    text: String::new(),
                    signature: Some(delta),
                }),
            },
            Event::ToolCallStart { index, id, name } => {
                if self.calls.len() <= index {
                    self.calls.resize(index + 1, usize::MAX);
                }
                self.calls[index] = self.content.len();
                self.content.push(Part::tool_call(id, name, String::new()));
            }
            Event::ToolCallArguments { index, fragment } => {
                let position = self.calls.get(index).copied();
                if let Some(Part::ToolCall { arguments, .. }) =
                    position.and_then(|position| self.content.get_mut(position))
                {
                    arguments.push_str(&fragment);
                }
            }
            Event::Finish(finish) => self.finish = Some(finish),
            Event::Usage(usage) => self.usage = Some(usage),
            Event::Error(error) => {
                self.error.get_or_insert(error);
            }
        }
    }

    /// The answer, or the error the stream ended with.
    pub fn finish(self) -> Result<Answer, ApiError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let calls = self
            .content
            .iter()
            .any(|part| matches!(part, Part::ToolCall { .. }));
        let finish = match self.finish {
            Some(Finish::Stop) | None if calls => Finish::ToolCalls,
            Some(finish) => finish,
            None => Finish::Stop,
        };
        Ok(Answer {
            content: self.content,
            finish,
            usage: self.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fold_into_an_answer_in_order() {
        let mut aggregator = Aggregator::default();
        for event in [
            Event::ThinkingDelta("Let me ".into()),
            Event::ThinkingDelta("think.".into()),
            Event::ThinkingSignature("sig".into()),
            Event::TextDelta("Hel".into()),
            Event::TextDelta("lo".into()),
            Event::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "f".into(),
            },
            Event::ToolCallStart {
                index: 1,
                id: "toolu_2".into(),
                name: "g".into(),
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{\"a\":".into(),
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{}".into(),
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "1}".into(),
            },
            Event::Usage(Usage::new(3, 4)),
            Event::Finish(Finish::ToolCalls),
        ] {
            aggregator.push(event);
        }
        let answer = aggregator.finish().unwrap();
        assert_eq!(
            answer.content,
            vec![
                Part::Thinking {
                    text: "Let me think.".into(),
                    signature: Some("sig".into())
                },
                Part::Text("Hello".into()),
                Part::tool_call("toolu_1", "f", "{\"a\":1}"),
                Part::tool_call("toolu_2", "g", "{}"),
            ]
        );
        assert_eq!(answer.finish, Finish::ToolCalls);
        assert_eq!(answer.usage, Some(Usage::new(3, 4)));
        assert_eq!(answer.text().as_deref(), Some("Hello"));
        assert_eq!(answer.thinking().as_deref(), Some("Let me think."));
    }

    #[test]
    fn an_error_wins_and_calls_without_a_reason_finish_as_tool_calls() {
        let mut failed = Aggregator::default();
        failed.push(Event::TextDelta("partial".into()));
        failed.push(Event::Error(ApiError::bad_gateway("cut")));
        assert_eq!(failed.finish().unwrap_err().status, 502);
        let mut calls = Aggregator::default();
        calls.push(Event::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "f".into(),
        });
        assert_eq!(calls.finish().unwrap().finish, Finish::ToolCalls);
        assert_eq!(Aggregator::default().finish().unwrap().finish, Finish::Stop);
    }

    #[test]
    fn data_urls_split_into_media_type_and_payload() {
        assert_eq!(
            data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(data_url("https://example.org/cat.png"), None);
        assert_eq!(data_url("data:text/plain,hi"), None);
    }

    #[test]
    fn prompt_tokens_count_text_calls_results_and_tools() {
        let mut conversation = Conversation::new(
            Dialect::OpenAiChat,
            vec![Message::text(Role::User, "hello world")],
        );
        assert_eq!(
            conversation.prompt_tokens(Tokenizer::O200kBase),
            TOKENS_PER_MESSAGE + 2 + REPLY_PRIMING_TOKENS
        );
        conversation.messages.push(Message::new(
            Role::Assistant,
            vec![Part::tool_call("call_1", "f", "{}")],
        ));
        conversation.tools.push(ToolDef {
            name: "f".into(),
            description: None,
            parameters: Value::Null,
            strict: None,
        });
        assert!(
            conversation.prompt_tokens(Tokenizer::O200kBase)
                > 2 * TOKENS_PER_MESSAGE + 2 + REPLY_PRIMING_TOKENS + 10
        );
    }
}
