//! The OpenAI chat client spoke: `/v1/chat/completions` bodies into a [`Conversation`];
//! [`Answer`]s out as `chat.completion` JSON, [`Event`](crate::hub::Event)s as
//! `chat.completion.chunk` SSE ([`SseEncoder`]).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::chat;
use crate::error::ApiError;
use crate::hub::Usage;
use crate::hub::{Answer, Conversation, Dialect, Message, Part, Role, ToolChoice};
use crate::json::parse_request;
use crate::openai::{self, ChatMessage, ChatRequest, Content, ContentPart, ResponseMeta};
use crate::stream::OpenAiUsage;
pub use crate::stream::{SseEncoder, StreamKind};
use crate::tools::{self, ToolSpec};

/// Parses and validates a chat body: 400s name the offending field.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let request: ChatRequest = parse_request(body)?;
    chat::validate(&request)?;
    Ok(request)
}

/// A chat body as a conversation, and the model name the client asked for.
pub fn read_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let mut request = parse(body)?;
    let model = std::mem::take(&mut request.model);
    Ok((conversation(request)?, model))
}

/// A validated request ([`parse`]) as a conversation. Fields the hub has no slot for stay in
/// `extra` (the client's own `user` does not: Argo's user is always the gateway's).
pub fn conversation(request: ChatRequest) -> Result<Conversation, ApiError> {
    let spec = ToolSpec::from_request(
        request.tools.as_deref(),
        request.tool_choice.as_ref(),
        request.parallel_tool_calls,
    )?;
    let tool_choice = match (&spec, &request.tool_choice) {
        (_, None | Some(Value::Null)) => None,
        (Some(spec), Some(_)) => Some(spec.choice.clone()),
        // Without tools only "none" and "auto" get past `ToolSpec::from_request`.
        (None, Some(choice)) => Some(match choice.as_str() {
            Some("none") => ToolChoice::None,
            _ => ToolChoice::Auto,
        }),
    };
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| read_message(index, message))
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra = request.extra;
    extra.remove("user");
    if let Some(n) = request.n {
        extra.insert("n".into(), n.into());
    }
    let mut conversation = Conversation::new(Dialect::OpenAiChat, messages);
    conversation.tools = spec.map(|spec| spec.tools).unwrap_or_default();
    conversation.tool_choice = tool_choice;
    conversation.parallel_tool_calls = request.parallel_tool_calls;
    conversation.max_tokens = request.max_completion_tokens.or(request.max_tokens);
    conversation.temperature = request.temperature;
    conversation.top_p = request.top_p;
    conversation.stop = request
        .stop
        .map(openai::Stop::into_list)
        .unwrap_or_default();
    conversation.reasoning_effort = request.reasoning_effort;
    conversation.stream = request.stream == Some(true);
    conversation.include_usage = request
        .stream_options
        .and_then(|options| options.include_usage)
        == Some(true);
    conversation.extra = extra;
    Ok(conversation)
}

fn read_message(index: usize, message: ChatMessage) -> Result<Message, ApiError> {
    let role = match message.role {
        openai::Role::System => Role::System,
        openai::Role::Developer => Role::Developer,
        openai::Role::User => Role::User,
        openai::Role::Assistant => Role::Assistant,
        openai::Role::Tool | openai::Role::Function => Role::Tool,
    };
    let content = if role == Role::Tool {
        let content = message.content.texts().collect::<Vec<_>>().join("\n");
        let call_id = message
            .tool_call_id
            .or_else(|| message.name.clone())
            .unwrap_or_default();
        vec![Part::ToolResult {
            call_id,
            content,
            is_error: false,
        }]
    } else {
        let mut parts = read_content(index, message.content)?;
        for call in message.tool_calls.iter().flatten() {
            let function = &call["function"];
            parts.push(Part::tool_call(
                call["id"].as_str().unwrap_or_default(),
                function["name"].as_str().unwrap_or_default(),
                tools::arguments_string(function.get("arguments")),
            ));
        }
        parts
    };
    Ok(Message {
        role,
        content,
        name: message.name,
    })
}

fn read_content(index: usize, content: Content) -> Result<Vec<Part>, ApiError> {
    match content {
        Content::Empty => Ok(Vec::new()),
        Content::Text(text) => Ok(vec![Part::Text(text)]),
        Content::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(position, part)| match part {
                ContentPart::Text { text } => Ok(Part::Text(text)),
                ContentPart::ImageUrl { image_url } => {
                    let url = image_url
                        .get("url")
                        .or(Some(&image_url))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ApiError::invalid(
                                format!("messages[{index}].content[{position}].image_url.url"),
                                "An image part needs an `image_url` with a `url`",
                            )
                        })?;
                    Ok(Part::Image {
                        url: url.to_string(),
                        detail: image_url
                            .get("detail")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                }
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: OpenAiUsage,
    system_fingerprint: Option<&'a str>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<Cow<'a, str>>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// Renders a `chat.completion` object: text as `content`, thinking as `reasoning_content`.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let content = answer.text();
    let size = content.as_deref().map_or(0, str::len);
    let completion = ChatCompletion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                reasoning_content: answer.thinking(),
                tool_calls: answer
                    .tool_calls()
                    .map(|(id, name, arguments)| ToolCall {
                        id,
                        kind: "function",
                        function: Function { name, arguments },
                    })
                    .collect(),
            },
            logprobs: None,
            finish_reason: answer.finish.openai(),
        }],
        usage: OpenAiUsage::from(usage),
        system_fingerprint: None,
    };
    let mut out = Vec::with_capacity(size + size / 16 + 384);
    if serde_json::to_writer(&mut out, &completion).is_err() {
        out.clear();
    }
    out
}

/// The chunk encoder for a chat stream.
pub fn encoder(meta: &ResponseMeta, include_usage: bool) -> SseEncoder {
    SseEncoder::new(StreamKind::Chat, meta, include_usage)
}
