//! The Anthropic Messages client spoke (`POST /v1/messages`, as Claude Code, Kilo Code, Aider
//! and Anthropic's SDKs send it): request bodies into a [`Conversation`]; [`Answer`]s out as a
//! `message` object, [`Event`]s as Anthropic's named SSE events ([`MessagesEncoder`]). It
//! serves the models Argo's `/v1/messages` does not (GPT, Gemini, Claude on the resource API):
//! Claude on the native API gets the client's body itself, see
//! [`crate::upstream::messages_passthrough`], which keeps what is dropped or refused here.
//!
//! Reading:
//! - `system` (a string or text blocks) becomes a system message; `cache_control` and
//!   `citations` are ignored everywhere.
//! - A user turn's `tool_result` blocks become one [`Role::Tool`] message placed before the
//!   turn's other blocks (Anthropic requires results first; a turn that puts text first is
//!   reordered rather than refused). Images inside a result follow the results as a user
//!   message, and the result's text says so: [`Part::ToolResult`] holds text only.
//! - `redacted_thinking` blocks are dropped: the hub has no slot for their opaque `data`, and
//!   Argo accepts a conversation without them. `thinking` blocks keep their signature.
//! - Plain-text and content documents and `search_result` blocks become text; PDF and
//!   Files-API documents and images are refused, as are Anthropic's server and built-in tools
//!   (`web_search_*`, `bash_*`, `text_editor_*`, ...), `mcp_servers` and structured outputs
//!   (`output_config.format`): Argo cannot run them and the hub cannot carry them.
//! - `thinking` and `output_config.effort` become `reasoning_effort` (see `reasoning_effort`
//!   below for the mapping); `thinking.display` is ignored.
//! - `top_k` is kept in `extra`, for Argo's `/v1/messages` where the model table allows it
//!   (`ModelSpec::top_k`, off by default: no evidence); `metadata` (whose only field
//!   is `user_id`: the gateway sets the user), `service_tier`, `container`,
//!   `context_management`, `inference_geo` and unknown fields are ignored.
//!
//! Writing: `input_tokens` excludes cached tokens, as Anthropic counts them (the hub's
//! includes them); a stream reports the whole usage in `message_delta`, the first moment it
//! is known.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::hub::{
    Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice, ToolDef, Usage,
};
use crate::json::parse_request;
use crate::openai::ResponseMeta;
use crate::stream::push_json_string;
use crate::tools::names::NameSet;
use crate::tools::{arguments_object, arguments_string};
use crate::translate::Encoder;

/// Reads a Messages body into a conversation, and the model name the client asked for.
/// `max_tokens` is required, as Anthropic requires it.
pub fn read_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let request: Request = parse_request(body)?;
    if request.max_tokens.is_none() {
        return Err(ApiError::invalid(
            "max_tokens",
            "max_tokens: Field required",
        ));
    }
    conversation(request)
}

/// Reads a `POST /v1/messages/count_tokens` body: a Messages body without `max_tokens` (and
/// never streamed).
pub fn read_count_tokens_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let mut request: Request = parse_request(body)?;
    request.max_tokens = None;
    request.stream = None;
    conversation(request)
}

/// The count-tokens answer: `{"input_tokens": N}`.
pub fn count_tokens_json(input_tokens: u64) -> Vec<u8> {
    json!({ "input_tokens": input_tokens })
        .to_string()
        .into_bytes()
}

/// Whether `body` is a count-tokens answer: an object with a whole `input_tokens`.
pub fn is_count_tokens_json(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Counted {
        #[serde(rename = "input_tokens")]
        _input_tokens: u64,
    }
    serde_json::from_slice::<Counted>(body).is_ok()
}

/// A Messages request body. Optional here what Anthropic requires, so that a missing field
/// is named in Anthropic's words.
#[derive(Deserialize)]
struct Request {
    model: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<u64>,
    #[serde(default)]
    tools: Option<Vec<WireTool>>,
    #[serde(default)]
    tool_choice: Option<WireToolChoice>,
    #[serde(default)]
    thinking: Option<ThinkingConfig>,
    #[serde(default)]
    output_config: Option<OutputConfig>,
    /// The structured-outputs beta's older spelling of `output_config.format`.
    #[serde(default)]
    output_format: Option<Value>,
    #[serde(default)]
    mcp_servers: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct WireMessage {
    role: WireRole,
    content: Content,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    User,
    Assistant,
    /// Newer API versions take system messages between the turns.
    System,
}

/// `content`: a string or an array of blocks.
enum Content {
    Text(String),
    Blocks(Vec<WireBlock>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Content, E> {
                Ok(Content::Text(text.to_string()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Content, E> {
                Ok(Content::Text(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

/// Any content block, flat: each type's fields, optional, checked when the block is read so
/// that a missing one is named with its path and an unknown type is refused by name.
#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    /// An image's or document's source object; a search result's source string.
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    tool_use_id: Option<String>,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct WireToolChoice {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct ThinkingConfig {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    budget_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputConfig {
    #[serde(default)]
    effort: Option<String>,
    #[serde(default)]
    format: Option<Value>,
}

/// The effort levels Anthropic's `output_config.effort` takes.
const EFFORTS: [&str; 5] = ["low", "medium", "high", "xhigh", "max"];

fn conversation(request: Request) -> Result<(Conversation, String), ApiError> {
    refuse_unservable(&request)?;
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        let texts = system_texts(system, "system")?;
        if texts
            .iter()
            .any(|part| matches!(part, Part::Text(text) if !text.is_empty()))
        {
            messages.push(Message::new(Role::System, texts));
        }
    }
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages: at least one message is required",
        ));
    }
    for (index, message) in request.messages.into_iter().enumerate() {
        read_message(&mut messages, index, message)?;
    }
    let tools = read_tools(request.tools.unwrap_or_default())?;
    let (tool_choice, parallel_tool_calls) = read_tool_choice(request.tool_choice, &tools)?;
    let mut conversation = Conversation::new(Dialect::AnthropicMessages, messages);
    conversation.tools = tools;
    conversation.tool_choice = tool_choice;
    conversation.parallel_tool_calls = parallel_tool_calls;
    conversation.max_tokens = request.max_tokens;
    conversation.temperature = unit_interval(request.temperature, "temperature")?;
    conversation.top_p = unit_interval(request.top_p, "top_p")?;
    conversation.stop = request.stop_sequences.unwrap_or_default();
    let effort = request.output_config.and_then(|config| config.effort);
    conversation.reasoning_effort = reasoning_effort(request.thinking, effort)?;
    conversation.stream = request.stream == Some(true);
    conversation.include_usage = true;
    if let Some(top_k) = request.top_k {
        conversation.extra.insert("top_k".into(), top_k.into());
    }
    Ok((conversation, request.model))
}

const NO_STRUCTURED_OUTPUTS: &str = "structured outputs cannot be served through this gateway; describe the JSON you want in the prompt, or declare a tool with that input_schema";

/// Requests for what Argo cannot do behind this gateway: structured outputs (the upstream
/// writes `output_config` itself and has no slot for a format) and remote MCP servers.
fn refuse_unservable(request: &Request) -> Result<(), ApiError> {
    let format = request
        .output_config
        .as_ref()
        .and_then(|config| config.format.as_ref());
    if format.is_some_and(|format| !format.is_null()) {
        return Err(ApiError::invalid(
            "output_config.format",
            format!("output_config.format: {NO_STRUCTURED_OUTPUTS}"),
        ));
    }
    if request
        .output_format
        .as_ref()
        .is_some_and(|format| !format.is_null())
    {
        return Err(ApiError::invalid(
            "output_format",
            format!("output_format: {NO_STRUCTURED_OUTPUTS}"),
        ));
    }
    if request
        .mcp_servers
        .as_ref()
        .is_some_and(|servers| !servers.is_empty())
    {
        return Err(ApiError::invalid(
            "mcp_servers",
            "mcp_servers: Argo cannot connect to MCP servers; run the MCP client yourself and declare its tools in `tools`",
        ));
    }
    Ok(())
}

fn unit_interval(value: Option<f64>, field: &str) -> Result<Option<f64>, ApiError> {
    match value {
        Some(value) if !(0.0..=1.0).contains(&value) => Err(ApiError::invalid(
            field,
            format!("{field}: must be between 0 and 1, got {value}"),
        )),
        _ => Ok(value),
    }
}

/// Anthropic's thinking settings as the hub's `reasoning_effort`, which the Anthropic upstream
/// turns back into `output_config.effort` and adaptive thinking (the only thinking Argo takes):
/// an explicit `output_config.effort` wins; adaptive thinking without one is Anthropic's
/// default effort, `high`; a `budget_tokens` picks a level (below 8192 `low`, below 24576
/// `medium`, else `high`: Claude Code's "think", "think hard" and "ultrathink" ask 4000,
/// 10000 and 31999); disabled thinking sends no effort, so that no upstream turns thinking on.
/// An effort without `thinking` stays an effort, which the upstream also turns into adaptive
/// thinking on models that have it: the hub cannot say "effort, but no thinking".
fn reasoning_effort(
    thinking: Option<ThinkingConfig>,
    effort: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(effort) = &effort {
        if !EFFORTS.contains(&effort.as_str()) {
            return Err(ApiError::invalid(
                "output_config.effort",
                format!(
                    "output_config.effort: must be one of {}, got `{effort}`",
                    EFFORTS.join(", ")
                ),
            ));
        }
    }
    let Some(thinking) = thinking else {
        return Ok(effort);
    };
    Ok(match thinking.kind.as_str() {
        "disabled" => None,
        "adaptive" => effort.or_else(|| Some("high".into())),
        "enabled" => {
            let budget = thinking.budget_tokens.ok_or_else(|| {
                ApiError::invalid(
                    "thinking.budget_tokens",
                    "thinking.budget_tokens: Field required",
                )
            })?;
            effort.or_else(|| Some(budget_effort(budget).into()))
        }
        other => {
            return Err(ApiError::invalid(
                "thinking.type",
                format!(
                    "thinking.type: must be `enabled`, `adaptive` or `disabled`, got `{other}`"
                ),
            ))
        }
    })
}

fn budget_effort(budget_tokens: u64) -> &'static str {
    match budget_tokens {
        0..8192 => "low",
        8192..24576 => "medium",
        _ => "high",
    }
}

fn required<T>(value: Option<T>, at: &str, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| missing(at, field))
}

fn missing(at: &str, field: &str) -> ApiError {
    let param = format!("{at}.{field}");
    ApiError::invalid(param.clone(), format!("{param}: Field required"))
}

/// `system` content, or a `mid_conv_system` block's: text only.
fn system_texts(content: Content, at: &str) -> Result<Vec<Part>, ApiError> {
    match content {
        Content::Text(text) => Ok(vec![Part::Text(text)]),
        Content::Blocks(blocks) => blocks
            .into_iter()
            .enumerate()
            .map(|(position, block)| {
                let at = format!("{at}[{position}]");
                if block.kind != "text" {
                    return Err(ApiError::invalid(
                        format!("{at}.type"),
                        format!(
                            "{at}.type: system content takes text blocks only, got `{}`",
                            block.kind
                        ),
                    ));
                }
                required(block.text, &at, "text").map(Part::Text)
            })
            .collect(),
    }
}

/// Appends the hub messages of one Messages turn.
fn read_message(
    out: &mut Vec<Message>,
    index: usize,
    message: WireMessage,
) -> Result<(), ApiError> {
    let at = format!("messages[{index}]");
    let role = match message.role {
        WireRole::User => Role::User,
        WireRole::Assistant => Role::Assistant,
        WireRole::System => {
            let texts = system_texts(message.content, &format!("{at}.content"))?;
            out.push(Message::new(Role::System, texts));
            return Ok(());
        }
    };
    match message.content {
        Content::Text(text) => out.push(Message::text(role, text)),
        Content::Blocks(blocks) => read_blocks(out, role, blocks, &at)?,
    }
    Ok(())
}

/// A turn's blocks: its tool results first (one tool message), then the images they held,
/// then the other blocks in order, split where a system block sits.
fn read_blocks(
    out: &mut Vec<Message>,
    role: Role,
    blocks: Vec<WireBlock>,
    at: &str,
) -> Result<(), ApiError> {
    let mut results = Vec::new();
    let mut result_images = Vec::new();
    let mut after: Vec<Message> = Vec::new();
    let mut parts = Vec::new();
    for (position, block) in blocks.into_iter().enumerate() {
        let at = format!("{at}.content[{position}]");
        match block.kind.as_str() {
            "tool_result" if role == Role::User => {
                let (result, images) = read_tool_result(block, &at)?;
                results.push(result);
                result_images.extend(images);
            }
            "mid_conv_system" => {
                flush(&mut after, role, &mut parts);
                let content = required(block.content, &at, "content")?;
                let texts = system_texts(content, &format!("{at}.content"))?;
                after.push(Message::new(Role::System, texts));
            }
            _ => parts.extend(read_block(role, block, &at)?),
        }
    }
    flush(&mut after, role, &mut parts);
    if !results.is_empty() {
        out.push(Message::new(Role::Tool, results));
    }
    if !result_images.is_empty() {
        out.push(Message::new(Role::User, result_images));
    }
    out.append(&mut after);
    Ok(())
}

fn flush(out: &mut Vec<Message>, role: Role, parts: &mut Vec<Part>) {
    if !parts.is_empty() {
        out.push(Message::new(role, std::mem::take(parts)));
    }
}

/// The parts of one block of a user or assistant turn (not a tool result).
fn read_block(role: Role, block: WireBlock, at: &str) -> Result<Vec<Part>, ApiError> {
    let part = match block.kind.as_str() {
        "text" => Part::Text(required(block.text, at, "text")?),
        "image" => Part::Image {
            url: image_url(required(block.source, at, "source")?, at)?,
            detail: None,
        },
        "document" => return read_document(block, at),
        "search_result" => Part::Text(search_result_text(block, at)?),
        "thinking" => Part::Thinking {
            text: required(block.thinking, at, "thinking")?,
            signature: block.signature.filter(|signature| !signature.is_empty()),
        },
        "redacted_thinking" => return Ok(Vec::new()),
        "tool_use" if role == Role::Assistant => Part::ToolCall {
            id: required(block.id, at, "id")?,
            name: required(block.name, at, "name")?,
            arguments: arguments_string(block.input.as_ref()),
        },
        "tool_use" => return Err(misplaced(at, "tool_use", "assistant")),
        "tool_result" => return Err(misplaced(at, "tool_result", "user")),
        other => return Err(unsupported_block(at, other)),
    };
    Ok(vec![part])
}

fn misplaced(at: &str, kind: &str, role: &str) -> ApiError {
    ApiError::invalid(
        format!("{at}.type"),
        format!("{at}: `{kind}` blocks belong in {role} messages"),
    )
}

fn unsupported_block(at: &str, kind: &str) -> ApiError {
    ApiError::invalid(
        format!("{at}.type"),
        format!(
            "{at}.type: `{kind}` blocks cannot be served through Argo (Anthropic's server tools, MCP and file blocks are not available); this gateway takes text, image, document (text), search_result, thinking, tool_use and tool_result blocks"
        ),
    )
}

/// A base64 source as a `data:` URL, a URL source as its URL.
fn image_url(source: Value, at: &str) -> Result<String, ApiError> {
    let at = format!("{at}.source");
    let field = |name: &str| {
        source
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&at, name))
    };
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            field("media_type")?,
            field("data")?
        )),
        Some("url") => Ok(field("url")?.to_string()),
        Some("file") => Err(ApiError::invalid(
            format!("{at}.type"),
            format!("{at}.type: Argo cannot read files uploaded to Anthropic's Files API; send the image as base64 or a URL"),
        )),
        _ => Err(ApiError::invalid(
            format!("{at}.type"),
            format!("{at}.type: an image source is `base64` or `url`"),
        )),
    }
}

/// A plain-text or content document as its parts, its title and context first as text; PDF,
/// URL and Files-API documents are refused: the hub carries no documents.
fn read_document(block: WireBlock, at: &str) -> Result<Vec<Part>, ApiError> {
    let mut source = required(block.source, at, "source")?;
    let at = format!("{at}.source");
    let mut parts: Vec<Part> = [block.title, block.context]
        .into_iter()
        .flatten()
        .filter(|text| !text.is_empty())
        .map(Part::Text)
        .collect();
    match source.get("type").and_then(Value::as_str) {
        Some("text") => {
            let data = source.get_mut("data").map(Value::take);
            match data {
                Some(Value::String(data)) => parts.push(Part::Text(data)),
                _ => return Err(missing(&at, "data")),
            }
        }
        Some("content") => {
            let content = required(source.get_mut("content").map(Value::take), &at, "content")?;
            parts.extend(document_content(content, &format!("{at}.content"))?);
        }
        Some(kind @ ("base64" | "url" | "file")) => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("{at}.type: `{kind}` documents (PDFs and uploaded files) cannot be passed to Argo through this gateway; send the document's text instead (a text block, or a document with a `text` source)"),
            ))
        }
        _ => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("{at}.type: a document source is `text`, `content`, `base64`, `url` or `file`"),
            ))
        }
    }
    Ok(parts)
}

/// A content document's `content`: a string, or text and image blocks.
fn document_content(content: Value, at: &str) -> Result<Vec<Part>, ApiError> {
    let content = serde_json::from_value::<Content>(content)
        .map_err(|err| ApiError::invalid(at, format!("{at}: {err}")))?;
    match content {
        Content::Text(text) => Ok(vec![Part::Text(text)]),
        Content::Blocks(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (position, block) in blocks.into_iter().enumerate() {
                let at = format!("{at}[{position}]");
                if !matches!(block.kind.as_str(), "text" | "image") {
                    return Err(unsupported_block(&at, &block.kind));
                }
                parts.extend(read_block(Role::User, block, &at)?);
            }
            Ok(parts)
        }
    }
}

/// A search result as text: its title, its source, then its text blocks.
fn search_result_text(block: WireBlock, at: &str) -> Result<String, ApiError> {
    let mut lines: Vec<String> = Vec::new();
    lines.extend(block.title);
    lines.extend(
        block
            .source
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string),
    );
    let content = required(block.content, at, "content")?;
    let texts = match content {
        Content::Text(text) => vec![text],
        Content::Blocks(blocks) => blocks
            .into_iter()
            .enumerate()
            .map(|(position, block)| {
                let at = format!("{at}.content[{position}]");
                if block.kind != "text" {
                    return Err(unsupported_block(&at, &block.kind));
                }
                required(block.text, &at, "text")
            })
            .collect::<Result<_, _>>()?,
    };
    let head = lines.join("\n");
    let body = texts.join("\n");
    Ok(if head.is_empty() {
        body
    } else {
        format!("{head}\n\n{body}")
    })
}

/// A `tool_result` block: the result (its text blocks joined by newlines) and the images it
/// held, which follow the results as a user message.
fn read_tool_result(block: WireBlock, at: &str) -> Result<(Part, Vec<Part>), ApiError> {
    let call_id = required(block.tool_use_id, at, "tool_use_id")?;
    let mut texts = Vec::new();
    let mut images = Vec::new();
    match block.content {
        None => {}
        Some(Content::Text(text)) => texts.push(text),
        Some(Content::Blocks(blocks)) => {
            for (position, inner) in blocks.into_iter().enumerate() {
                let at = format!("{at}.content[{position}]");
                if !matches!(
                    inner.kind.as_str(),
                    "text" | "image" | "document" | "search_result"
                ) {
                    return Err(unsupported_block(&at, &inner.kind));
                }
                for part in read_block(Role::User, inner, &at)? {
                    match part {
                        Part::Text(text) => texts.push(text),
                        image => images.push(image),
                    }
                }
            }
        }
    }
    match images.len() {
        0 => {}
        1 => texts.push("[The tool returned an image; it follows the tool results.]".into()),
        n => texts.push(format!(
            "[The tool returned {n} images; they follow the tool results.]"
        )),
    }
    let result = Part::ToolResult {
        call_id,
        content: texts.join("\n"),
        is_error: block.is_error.unwrap_or(false),
    };
    Ok((result, images))
}

/// Custom tools; Anthropic's server and built-in tools (`web_search_*`, `bash_*`,
/// `text_editor_*`, `computer_*`, `code_execution_*`, `memory_*`, ...) are refused.
fn read_tools(tools: Vec<WireTool>) -> Result<Vec<ToolDef>, ApiError> {
    let mut read: Vec<ToolDef> = Vec::with_capacity(tools.len());
    let mut declared = NameSet::with_capacity(tools.len());
    for (index, tool) in tools.into_iter().enumerate() {
        let at = format!("tools[{index}]");
        if let Some(kind) = tool.kind.as_deref().filter(|kind| *kind != "custom") {
            let name = tool.name.as_deref().unwrap_or(kind);
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("{at}: `{name}` is one of Anthropic's own tools (`{kind}`), which Argo cannot run; declare it as a custom tool with `name`, `description` and `input_schema` and run it yourself"),
            ));
        }
        let name = required(tool.name, &at, "name")?;
        if !declared.insert(name.clone()) {
            return Err(ApiError::invalid(
                format!("{at}.name"),
                format!("{at}.name: tool names must be unique; `{name}` is declared twice"),
            ));
        }
        let parameters = required(tool.input_schema, &at, "input_schema")?;
        read.push(ToolDef {
            name,
            description: tool.description,
            parameters,
            strict: tool.strict,
        });
    }
    Ok(read)
}

/// The hub's tool choice and `parallel_tool_calls` (`disable_parallel_tool_use` inverted).
fn read_tool_choice(
    choice: Option<WireToolChoice>,
    tools: &[ToolDef],
) -> Result<(Option<ToolChoice>, Option<bool>), ApiError> {
    let Some(choice) = choice else {
        return Ok((None, None));
    };
    let read = match choice.kind.as_str() {
        "auto" => ToolChoice::Auto,
        "none" => ToolChoice::None,
        "any" => ToolChoice::Required,
        "tool" => {
            let name = required(choice.name, "tool_choice", "name")?;
            if !tools.iter().any(|tool| tool.name == name) {
                return Err(ApiError::invalid(
                    "tool_choice.name",
                    format!("tool_choice.name: `{name}` is not one of the declared tools"),
                ));
            }
            ToolChoice::Named(name)
        }
        other => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                format!("tool_choice.type: must be `auto`, `any`, `tool` or `none`, got `{other}`"),
            ))
        }
    };
    if matches!(read, ToolChoice::Required) && tools.is_empty() {
        return Err(ApiError::invalid(
            "tool_choice",
            "tool_choice: `any` needs `tools`",
        ));
    }
    Ok((
        Some(read),
        choice.disable_parallel_tool_use.map(|disable| !disable),
    ))
}

/// Anthropic's `stop_reason`; an answer with calls that stopped normally stopped to use them.
fn stop_reason(finish: Finish, calls: bool) -> &'static str {
    match finish {
        Finish::Stop if calls => "tool_use",
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

/// Anthropic's usage: `input_tokens` without the cached part, which is
/// `cache_read_input_tokens`. The hub does not tell cache writes apart (they stay in
/// `input_tokens`), so `cache_creation_input_tokens` is 0.
fn usage_json(usage: &Usage) -> Value {
    let cached = usage.cached_input_tokens.unwrap_or(0);
    json!({
        "input_tokens": usage.input_tokens.saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": usage.output_tokens,
    })
}

#[derive(Serialize)]
struct WireAnswer<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: Value,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

impl<'a> OutBlock<'a> {
    /// The block for a part of an answer; `None` for what an answer does not hold and for
    /// empty text, which Anthropic refuses when the client sends the turn back.
    fn of(part: &'a Part) -> Option<Self> {
        match part {
            Part::Text(text) if text.is_empty() => None,
            Part::Text(text) => Some(OutBlock::Text { text }),
            Part::Thinking { text, signature } => {
                let signature = signature.as_deref().unwrap_or_default();
                (!text.is_empty() || !signature.is_empty()).then_some(OutBlock::Thinking {
                    thinking: text,
                    signature,
                })
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(OutBlock::ToolUse {
                id,
                name,
                input: arguments_object(arguments),
            }),
            Part::Image { .. } | Part::ToolResult { .. } => None,
        }
    }
}

/// Renders a `message` object. A call's `input` is its arguments parsed; arguments that are
/// not a JSON object are wrapped (`{"value": ...}` for other JSON, `{"raw": "..."}` for
/// text that is not JSON), as Anthropic's clients need an object.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let calls = answer.tool_calls().next().is_some();
    let message = WireAnswer {
        id: &meta.id,
        kind: "message",
        role: "assistant",
        model: &meta.model,
        content: answer.content.iter().filter_map(OutBlock::of).collect(),
        stop_reason: stop_reason(answer.finish, calls),
        stop_sequence: None,
        usage: usage_json(usage),
    };
    serde_json::to_vec(&message).unwrap_or_default()
}

/// Anthropic's error envelope, `{"type": "error", "error": {"type", "message"}}`, with the
/// error type Anthropic uses for the status (the status itself stays `error.status`).
pub fn error_json(error: &ApiError) -> Vec<u8> {
    error_body(error).to_string().into_bytes()
}

/// `error` as the event that ends an Anthropic stream.
pub(crate) fn error_event(out: &mut Vec<u8>, error: &ApiError) {
    named(out, "error", &[("error", &error_object(error))]);
}

fn error_body(error: &ApiError) -> Value {
    json!({"type": "error", "error": error_object(error)})
}

fn error_object(error: &ApiError) -> Value {
    json!({"type": error_type(error.status), "message": error.message})
}

/// Anthropic's error type for an HTTP status. Anthropic says `overloaded_error` with 529; the
/// gateway's overloaded upstream is a 503, which keeps its status and gets that type.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The encoder for a Messages stream.
pub fn encoder(meta: &ResponseMeta) -> MessagesEncoder {
    MessagesEncoder {
        id: meta.id.clone(),
        model: meta.model.clone(),
        blocks: BlockWriter::default(),
        held: Vec::new(),
        calls: false,
    }
}

/// Writes events as Anthropic's stream: `message_start`; each content block as
/// `content_block_start`, its deltas and `content_block_stop`, indexes 0, 1, ... in order and
/// never interleaved; then `message_delta` (stop reason and the whole usage) and
/// `message_stop`.
///
/// A call's block cannot be reopened once closed, and the hub does not say when a call's
/// arguments are complete (any begun call may still get a fragment), so once a call's block
/// is open it stays open until the answer ends, its arguments streaming live; what comes
/// after it (more calls, text) is held and written at the end, each held call's arguments
/// whole. Text, thinking and the first call therefore stream live; later calls of an answer
/// arrive at its end.
#[derive(Debug)]
pub struct MessagesEncoder {
    id: String,
    model: String,
    blocks: BlockWriter,
    held: Vec<Held>,
    /// Whether the answer made a call.
    calls: bool,
}

/// Content waiting for the open call's block to close.
#[derive(Debug)]
enum Held {
    Text(String),
    Thinking(String),
    Signature(String),
    Call {
        index: usize,
        id: String,
        name: String,
        arguments: String,
    },
}

impl MessagesEncoder {
    fn write(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(text) => self.blocks.text(out, text),
            Event::ThinkingDelta(text) => self.blocks.thinking(out, text),
            Event::ThinkingSignature(signature) => self.blocks.signature(out, signature),
            Event::ToolCallStart { index, id, name } => {
                self.calls = true;
                self.blocks.call(out, *index, id, name);
            }
            _ => {}
        }
    }

    fn hold(&mut self, event: &Event) {
        match (self.held.last_mut(), event) {
            (Some(Held::Text(held)), Event::TextDelta(text))
            | (Some(Held::Thinking(held)), Event::ThinkingDelta(text))
            | (Some(Held::Signature(held)), Event::ThinkingSignature(text)) => held.push_str(text),
            (_, Event::TextDelta(text)) => self.held.push(Held::Text(text.clone())),
            (_, Event::ThinkingDelta(text)) => self.held.push(Held::Thinking(text.clone())),
            (_, Event::ThinkingSignature(text)) => self.held.push(Held::Signature(text.clone())),
            (_, Event::ToolCallStart { index, id, name }) => {
                self.calls = true;
                self.held.push(Held::Call {
                    index: *index,
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            _ => {}
        }
    }

    /// A fragment goes to the open call's block, or to its held call.
    fn arguments(&mut self, out: &mut Vec<u8>, index: usize, fragment: &str) {
        if fragment.is_empty() {
            return;
        }
        if self.blocks.open_call() == Some(index) {
            self.blocks.arguments(out, fragment);
            return;
        }
        let held = self.held.iter_mut().find_map(|held| match held {
            Held::Call {
                index: held_index,
                arguments,
                ..
            } if *held_index == index => Some(arguments),
            _ => None,
        });
        if let Some(arguments) = held {
            arguments.push_str(fragment);
        }
    }

    fn replay(&mut self, out: &mut Vec<u8>, held: Held) {
        match held {
            Held::Text(text) => self.blocks.text(out, &text),
            Held::Thinking(text) => self.blocks.thinking(out, &text),
            Held::Signature(signature) => self.blocks.signature(out, &signature),
            Held::Call {
                index,
                id,
                name,
                arguments,
            } => {
                self.blocks.call(out, index, &id, &name);
                if !arguments.is_empty() {
                    self.blocks.arguments(out, &arguments);
                }
            }
        }
    }
}

impl Encoder for MessagesEncoder {
    fn start(&mut self, out: &mut Vec<u8>) {
        let message = json!({"id": self.id, "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage_json(&Usage::default())});
        named(out, "message_start", &[("message", &message)]);
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::ToolCallArguments { index, fragment } => self.arguments(out, *index, fragment),
            Event::TextDelta(text)
            | Event::ThinkingDelta(text)
            | Event::ThinkingSignature(text)
                if text.is_empty() => {}
            _ if self.blocks.open_call().is_some() => self.hold(event),
            _ => self.write(out, event),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.blocks.close(out);
        for held in std::mem::take(&mut self.held) {
            self.replay(out, held);
        }
        self.blocks.close(out);
        let delta = json!({"stop_reason": stop_reason(finish, self.calls), "stop_sequence": null});
        named(
            out,
            "message_delta",
            &[("delta", &delta), ("usage", &usage_json(&usage))],
        );
        named(out, "message_stop", &[]);
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        named(out, "error", &[("error", &error_object(error))]);
    }
}

/// Writes content blocks one at a time.
#[derive(Debug, Default)]
struct BlockWriter {
    /// Blocks begun so far; the open one is the last of them.
    begun: usize,
    open: Option<Open>,
}

#[derive(Debug)]
enum Open {
    Text,
    /// The signature so far, sent as one `signature_delta` when the block closes: Anthropic's
    /// SDKs keep only a block's last signature delta.
    Thinking {
        signature: String,
    },
    /// The `index`-th call of the answer.
    Call(usize),
}

impl BlockWriter {
    fn open_call(&self) -> Option<usize> {
        match self.open {
            Some(Open::Call(index)) => Some(index),
            _ => None,
        }
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        if !matches!(self.open, Some(Open::Text)) {
            self.begin(out, Open::Text, json!({"type": "text", "text": ""}));
        }
        self.delta(out, "text_delta", "text", text);
    }

    /// Thinking after a signature begins a new block: the signature closed the last one.
    fn thinking(&mut self, out: &mut Vec<u8>, text: &str) {
        if !matches!(&self.open, Some(Open::Thinking { signature }) if signature.is_empty()) {
            self.begin_thinking(out, String::new());
        }
        self.delta(out, "thinking_delta", "thinking", text);
    }

    fn signature(&mut self, out: &mut Vec<u8>, fragment: &str) {
        match &mut self.open {
            Some(Open::Thinking { signature }) => signature.push_str(fragment),
            _ => self.begin_thinking(out, fragment.to_string()),
        }
    }

    fn begin_thinking(&mut self, out: &mut Vec<u8>, signature: String) {
        self.begin(
            out,
            Open::Thinking { signature },
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        );
    }

    fn call(&mut self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        self.begin(
            out,
            Open::Call(index),
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        );
    }

    fn arguments(&mut self, out: &mut Vec<u8>, fragment: &str) {
        self.delta(out, "input_json_delta", "partial_json", fragment);
    }

    fn begin(&mut self, out: &mut Vec<u8>, open: Open, block: Value) {
        self.close(out);
        named(
            out,
            "content_block_start",
            &[("index", &self.begun.into()), ("content_block", &block)],
        );
        self.begun += 1;
        self.open = Some(open);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        if let Open::Thinking { signature } = &open {
            if !signature.is_empty() {
                self.delta(out, "signature_delta", "signature", signature);
            }
        }
        named(
            out,
            "content_block_stop",
            &[("index", &(self.begun - 1).into())],
        );
    }

    /// `content_block_delta` for the open block, written without building a JSON value: it
    /// is the hot path.
    fn delta(&self, out: &mut Vec<u8>, kind: &str, field: &str, text: &str) {
        out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        out.extend_from_slice(self.begun.saturating_sub(1).to_string().as_bytes());
        out.extend_from_slice(b",\"delta\":{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        push_json_string(out, text);
        out.extend_from_slice(b"}}\n\n");
    }
}

/// One SSE event with its `event:` name, which Anthropic's SDKs dispatch on; the data is
/// `{"type": name, fields...}`, `type` first as in Anthropic's own streams.
fn named(out: &mut Vec<u8>, name: &str, fields: &[(&str, &Value)]) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
    for (key, value) in fields {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out.extend_from_slice(b"}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        canonical_events, claude, relay, split, ANTHROPIC_STREAM, OPENAI_STREAM,
    };
    use crate::hub::Aggregator;
    use crate::models::ModelSpec;
    use crate::translate::{replay, StreamTranslation};
    use crate::upstream::{anthropic, openai_native};
    use proptest::prelude::*;

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "msg-gw123".into(),
            created: 1_700_000_000,
            model: "claude-sonnet-4.6".into(),
        }
    }

    /// A minimal valid body with `fields` set on it.
    fn body(fields: Value) -> Value {
        let mut body = json!({"model": "claude-sonnet-4.6", "max_tokens": 1024,
            "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    }

    fn read(body: Value) -> Conversation {
        let (conversation, model) = read_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(model, "claude-sonnet-4.6");
        assert_eq!(conversation.origin, Dialect::AnthropicMessages);
        conversation
    }

    fn refused(body: Value) -> ApiError {
        match read_request(body.to_string().as_bytes()) {
            Ok(_) => panic!("accepted: {body}"),
            Err(error) => {
                assert_eq!(error.status, 400, "{body}");
                error
            }
        }
    }

    fn user(content: Value) -> Value {
        json!({"role": "user", "content": content})
    }

    fn assistant(content: Value) -> Value {
        json!({"role": "assistant", "content": content})
    }

    #[test]
    fn system_as_a_string_or_text_blocks_becomes_a_system_message() {
        let plain = read(body(json!({"system": "Be brief."})));
        assert_eq!(plain.messages[0], Message::text(Role::System, "Be brief."));
        let blocks = read(body(json!({"system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."}]})));
        assert_eq!(
            blocks.messages[0],
            Message::new(
                Role::System,
                vec![
                    Part::Text("You are Claude Code.".into()),
                    Part::Text("Be brief.".into())
                ]
            )
        );
        assert_eq!(blocks.messages[1], Message::text(Role::User, "hi"));
        assert_eq!(read(body(json!({"system": ""}))).messages.len(), 1);
    }

    #[test]
    fn user_blocks_of_every_kind_are_read() {
        let conversation = read(body(json!({"messages": [user(json!([
            {"type": "text", "text": "Compare", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.jpg"}},
            {"type": "document", "title": "Notes", "context": "From the wiki", "source": {"type": "text", "media_type": "text/plain", "data": "Cats sleep."}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "Part one."}]}},
            {"type": "search_result", "source": "https://example.org/a", "title": "A", "content": [{"type": "text", "text": "Found."}]}
        ]))]})));
        let image = |url: &str| Part::Image {
            url: url.into(),
            detail: None,
        };
        assert_eq!(
            conversation.messages,
            vec![Message::new(
                Role::User,
                vec![
                    Part::Text("Compare".into()),
                    image("data:image/png;base64,iVBORw0KGgo="),
                    image("https://example.org/cat.jpg"),
                    Part::Text("Notes".into()),
                    Part::Text("From the wiki".into()),
                    Part::Text("Cats sleep.".into()),
                    Part::Text("Part one.".into()),
                    Part::Text("A\nhttps://example.org/a\n\nFound.".into()),
                ]
            )]
        );
    }

    #[test]
    fn assistant_turns_keep_thinking_text_and_calls_and_drop_redacted_thinking() {
        let conversation = read(body(
            json!({"messages": [user(json!("Weather?")), assistant(json!([
            {"type": "thinking", "thinking": "Needs a tool.", "signature": "EvUB"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "Unsigned.", "signature": ""},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
        ])), assistant(json!("Prefilled"))]}),
        ));
        assert_eq!(
            conversation.messages[1..],
            [
                Message::new(
                    Role::Assistant,
                    vec![
                        Part::Thinking {
                            text: "Needs a tool.".into(),
                            signature: Some("EvUB".into())
                        },
                        Part::Thinking {
                            text: "Unsigned.".into(),
                            signature: None
                        },
                        Part::Text("Checking.".into()),
                        Part::tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                        Part::tool_call("toolu_2", "now", "{}"),
                    ]
                ),
                Message::text(Role::Assistant, "Prefilled"),
            ]
        );
    }

    #[test]
    fn tool_results_come_first_as_tool_messages_and_their_images_follow() {
        let conversation = read(body(json!({"messages": [user(json!([
            {"type": "text", "text": "Both done?"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [
                {"type": "text", "text": "Screenshot:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
            {"type": "tool_result", "tool_use_id": "toolu_3"}
        ]))]})));
        assert_eq!(
            conversation.messages,
            vec![
                Message::new(
                    Role::Tool,
                    vec![
                        Part::ToolResult {
                            call_id: "toolu_1".into(),
                            content: "18C".into(),
                            is_error: false
                        },
                        Part::ToolResult {
                            call_id: "toolu_2".into(),
                            content: "Screenshot:\n[The tool returned an image; it follows the tool results.]".into(),
                            is_error: true
                        },
                        Part::ToolResult {
                            call_id: "toolu_3".into(),
                            content: String::new(),
                            is_error: false
                        },
                    ]
                ),
                Message::new(
                    Role::User,
                    vec![Part::Image {
                        url: "data:image/png;base64,AAAA".into(),
                        detail: None
                    }]
                ),
                Message::text(Role::User, "Both done?"),
            ]
        );
    }

    #[test]
    fn system_messages_between_turns_keep_their_place() {
        let conversation = read(body(json!({"messages": [
            user(json!([{"type": "text", "text": "One"},
                {"type": "mid_conv_system", "content": [{"type": "text", "text": "Now French."}]},
                {"type": "text", "text": "Two"}])),
            {"role": "system", "content": "Late rule."}]})));
        assert_eq!(
            conversation.messages,
            vec![
                Message::text(Role::User, "One"),
                Message::text(Role::System, "Now French."),
                Message::text(Role::User, "Two"),
                Message::text(Role::System, "Late rule."),
            ]
        );
    }

    #[test]
    fn parameters_are_read_and_only_top_k_is_kept_for_argo() {
        let conversation = read(body(json!({"temperature": 0.5, "top_p": 0.9, "top_k": 40,
            "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "mallory"},
            "service_tier": "auto", "container": "c1", "inference_geo": "us",
            "context_management": {"edits": []}, "output_config": {"effort": "low"}})));
        assert_eq!(conversation.max_tokens, Some(1024));
        assert_eq!(
            (conversation.temperature, conversation.top_p),
            (Some(0.5), Some(0.9))
        );
        assert_eq!(conversation.stop, ["END"]);
        assert!(conversation.stream && conversation.include_usage);
        assert_eq!(conversation.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(Value::Object(conversation.extra), json!({"top_k": 40}));
        let plain = read(body(json!({})));
        assert!(!plain.stream && plain.include_usage && plain.extra.is_empty());
        assert_eq!(
            (
                plain.reasoning_effort,
                plain.tool_choice,
                plain.parallel_tool_calls
            ),
            (None, None, None)
        );
        assert_eq!(read(body(json!({"max_tokens": 0}))).max_tokens, Some(0));
    }

    #[test]
    fn custom_tools_and_every_tool_choice_are_read() {
        let tools = json!([
            {"name": "get_weather", "description": "Weather now", "cache_control": {"type": "ephemeral"},
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"type": "custom", "name": "now", "input_schema": {"type": "object"}, "strict": true}]);
        let conversation = read(body(json!({"tools": tools})));
        assert_eq!(
            conversation.tools,
            vec![
                ToolDef {
                    name: "get_weather".into(),
                    description: Some("Weather now".into()),
                    parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                    strict: None
                },
                ToolDef {
                    name: "now".into(),
                    description: None,
                    parameters: json!({"type": "object"}),
                    strict: Some(true)
                },
            ]
        );
        let choice = |choice: Value| {
            let conversation = read(body(json!({"tools": tools, "tool_choice": choice})));
            (conversation.tool_choice, conversation.parallel_tool_calls)
        };
        assert_eq!(
            choice(json!({"type": "auto"})),
            (Some(ToolChoice::Auto), None)
        );
        assert_eq!(
            choice(json!({"type": "any", "disable_parallel_tool_use": true})),
            (Some(ToolChoice::Required), Some(false))
        );
        assert_eq!(
            choice(json!({"type": "tool", "name": "now", "disable_parallel_tool_use": false})),
            (Some(ToolChoice::Named("now".into())), Some(true))
        );
        assert_eq!(
            choice(json!({"type": "none"})),
            (Some(ToolChoice::None), None)
        );
    }

    #[test]
    fn thinking_settings_become_a_reasoning_effort() {
        let effort = |fields: Value| read(body(fields)).reasoning_effort;
        let enabled =
            |budget: u64| json!({"thinking": {"type": "enabled", "budget_tokens": budget}});
        assert_eq!(effort(enabled(1024)).as_deref(), Some("low"));
        assert_eq!(effort(enabled(4000)).as_deref(), Some("low"));
        assert_eq!(effort(enabled(10_000)).as_deref(), Some("medium"));
        assert_eq!(effort(enabled(31_999)).as_deref(), Some("high"));
        assert_eq!(
            effort(json!({"thinking": {"type": "adaptive", "display": "omitted"}})).as_deref(),
            Some("high"),
            "Anthropic's default effort"
        );
        assert_eq!(
            effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}))
                .as_deref(),
            Some("max")
        );
        assert_eq!(
            effort(json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "output_config": {"effort": "high"}}))
                .as_deref(),
            Some("high"),
            "an explicit effort wins over the budget"
        );
        assert_eq!(
            effort(json!({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}})),
            None
        );
    }

    #[test]
    fn what_cannot_be_served_is_refused_naming_the_field() {
        let text = |text: &str| json!([{"type": "text", "text": text}]);
        for (fields, param, words) in [
            (json!({"messages": []}), "messages", "at least one"),
            (
                json!({"messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].role",
                "unknown variant",
            ),
            (
                json!({"messages": [user(json!(null))]}),
                "messages[0].content",
                "a string or an array",
            ),
            (
                json!({"messages": [user(json!([{"type": "text"}]))]}),
                "messages[0].content[0].text",
                "Field required",
            ),
            (
                json!({"messages": [user(json!([{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}]))]}),
                "messages[0].content[0].type",
                "`server_tool_use` blocks cannot be served",
            ),
            (
                json!({"messages": [user(json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]))]}),
                "messages[0].content[0].type",
                "belong in assistant messages",
            ),
            (
                json!({"messages": [user(json!("hi")), assistant(json!([{"type": "tool_result", "tool_use_id": "t"}]))]}),
                "messages[1].content[0].type",
                "belong in user messages",
            ),
            (
                json!({"messages": [user(json!([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]))]}),
                "messages[0].content[0].source.type",
                "send the document's text",
            ),
            (
                json!({"messages": [user(json!([{"type": "document", "source": {"type": "text", "media_type": "text/plain"}}]))]}),
                "messages[0].content[0].source.data",
                "Field required",
            ),
            (
                json!({"messages": [user(json!([{"type": "document", "source": {"type": "content", "content": [{"type": "thinking", "thinking": "x"}]}}]))]}),
                "messages[0].content[0].source.content[0].type",
                "`thinking` blocks cannot be served",
            ),
            (
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "file", "file_id": "file_1"}}]))]}),
                "messages[0].content[0].source.type",
                "Files API",
            ),
            (
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]))]}),
                "messages[0].content[0].source.media_type",
                "Field required",
            ),
            (
                json!({"messages": [user(json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_reference", "tool_name": "f"}]}]))]}),
                "messages[0].content[0].content[0].type",
                "`tool_reference`",
            ),
            (
                json!({"system": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}),
                "system[0].type",
                "text blocks only",
            ),
            (
                json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}),
                "tools[0].type",
                "`web_search` is one of Anthropic's own tools",
            ),
            (
                json!({"tools": [{"type": "bash_20250124", "name": "bash"}]}),
                "tools[0].type",
                "Argo cannot run",
            ),
            (
                json!({"tools": [{"name": "f"}]}),
                "tools[0].input_schema",
                "Field required",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {}}, {"name": "f", "input_schema": {}}]}),
                "tools[1].name",
                "declared twice",
            ),
            (
                json!({"tool_choice": {"type": "any"}}),
                "tool_choice",
                "needs `tools`",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool", "name": "g"}}),
                "tool_choice.name",
                "not one of the declared tools",
            ),
            (
                json!({"tool_choice": {"type": "tool"}}),
                "tool_choice.name",
                "Field required",
            ),
            (
                json!({"tool_choice": {"type": "sometimes"}}),
                "tool_choice.type",
                "must be",
            ),
            (
                json!({"thinking": {"type": "enabled"}}),
                "thinking.budget_tokens",
                "Field required",
            ),
            (
                json!({"thinking": {"type": "deep"}}),
                "thinking.type",
                "must be",
            ),
            (
                json!({"output_config": {"effort": "extreme"}}),
                "output_config.effort",
                "must be one of",
            ),
            (
                json!({"output_config": {"format": {"type": "json_schema", "schema": {}}}}),
                "output_config.format",
                "structured outputs",
            ),
            (
                json!({"output_format": {"type": "json_schema", "schema": {}}}),
                "output_format",
                "structured outputs",
            ),
            (
                json!({"mcp_servers": [{"type": "url", "url": "https://mcp.example.org", "name": "x"}]}),
                "mcp_servers",
                "MCP",
            ),
            (
                json!({"temperature": 1.5}),
                "temperature",
                "between 0 and 1",
            ),
            (json!({"top_p": -0.1}), "top_p", "between 0 and 1"),
            (json!({"top_k": -1}), "top_k", "invalid value"),
            (
                json!({"messages": [user(text("a"))], "stop_sequences": "END"}),
                "stop_sequences",
                "invalid type",
            ),
        ] {
            let error = refused(body(fields.clone()));
            assert_eq!(error.param.as_deref(), Some(param), "{fields}: {error:?}");
            assert!(error.message.contains(words), "{fields}: {}", error.message);
        }
    }

    #[test]
    fn max_tokens_is_required_as_anthropic_says_it() {
        let mut missing = body(json!({}));
        missing.as_object_mut().unwrap().remove("max_tokens");
        let error = refused(missing);
        assert_eq!(
            (error.param.as_deref(), error.message.as_str()),
            (Some("max_tokens"), "max_tokens: Field required")
        );
        assert_eq!(
            read_request(b"{\"model\":").unwrap_err().param.as_deref(),
            Some("body")
        );
        let envelope: Value = serde_json::from_slice(&error_json(&error)).unwrap();
        assert_eq!(
            envelope,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
        );
    }

    #[test]
    fn count_tokens_bodies_need_no_max_tokens_and_never_stream() {
        let request = json!({"model": "claude-sonnet-4.6", "system": "Be brief.", "stream": true,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
        let (conversation, model) =
            read_count_tokens_request(request.to_string().as_bytes()).unwrap();
        assert_eq!(model, "claude-sonnet-4.6");
        assert_eq!(conversation.messages.len(), 2);
        assert_eq!(conversation.tools.len(), 1);
        assert!(!conversation.stream && conversation.max_tokens.is_none());
        assert!(read_count_tokens_request(b"{\"model\": \"m\", \"messages\": []}").is_err());
        assert_eq!(
            serde_json::from_slice::<Value>(&count_tokens_json(42)).unwrap(),
            json!({"input_tokens": 42})
        );
    }

    /// A Claude Code turn: cached system blocks, thinking, a call and its result.
    fn claude_code_request() -> Value {
        json!({"model": "claude-sonnet-4.6", "max_tokens": 32000, "stream": true,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                user(json!([{"type": "text", "text": "Read main.rs"}])),
                assistant(json!([
                    {"type": "thinking", "thinking": "Need the file.", "signature": "sig1"},
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "main.rs"}}])),
                user(json!([
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "fn main() {}"}]},
                    {"type": "text", "text": "Explain it.", "cache_control": {"type": "ephemeral"}}]))],
            "tools": [{"name": "Read", "description": "Reads a file",
                "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}],
            "tool_choice": {"type": "auto"}, "temperature": 1, "stop_sequences": ["</done>"],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
            "metadata": {"user_id": "mallory"}, "top_k": 5})
    }

    #[test]
    fn top_k_reaches_argo_only_where_the_table_lets_it_and_never_with_thinking() {
        let sent = |request: Value, model: &ModelSpec| -> Value {
            let body = anthropic::request_body(&read(request), model, "alice", true).unwrap();
            serde_json::from_slice(&body).unwrap()
        };
        let asked = body(json!({"top_k": 40}));
        let takes_it = ModelSpec {
            top_k: true,
            ..claude()
        };
        assert!(
            sent(asked.clone(), &claude()).get("top_k").is_none(),
            "off by default"
        );
        assert_eq!(sent(asked, &takes_it)["top_k"], 40);
        let thinking = sent(
            body(json!({"top_k": 40, "output_config": {"effort": "high"}})),
            &takes_it,
        );
        assert_eq!(thinking["thinking"]["type"], "adaptive");
        assert!(thinking.get("top_k").is_none());
        assert!(sent(body(json!({})), &takes_it).get("top_k").is_none());
    }

    #[test]
    fn a_claude_request_reaches_argos_messages_endpoint_nearly_as_sent() {
        let conversation = read(claude_code_request());
        let sent: Value = serde_json::from_slice(
            &anthropic::request_body(&conversation, &claude(), "alice", true).unwrap(),
        )
        .unwrap();
        let request = claude_code_request();
        assert_eq!(
            sent,
            json!({"model": "claudesonnet46", "max_tokens": 32000, "stream": true,
                "system": "You are Claude Code.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Read main.rs"}]},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "Need the file.", "signature": "sig1"},
                        {"type": "text", "text": "Reading."},
                        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "main.rs"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fn main() {}"},
                        {"type": "text", "text": "Explain it."}]}],
                "tools": request["tools"], "tool_choice": {"type": "auto"},
                "temperature": 1.0, "stop_sequences": ["</done>"],
                "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
                "user": "alice", "metadata": {"user_id": "alice"}}),
            "cache_control is dropped; top_k stays in extra, kept from Argo by the model table (claude() does not take it)"
        );
    }

    #[test]
    fn extra_fields_never_replace_the_gateways_identity_or_model() {
        let mut conversation = read(body(json!({"metadata": {"user_id": "mallory"}})));
        for (key, value) in [
            ("metadata", json!({"user_id": "mallory"})),
            ("user", json!("mallory")),
            ("model", json!("claudeopus47")),
            ("max_tokens", json!(1)),
        ] {
            conversation.extra.insert(key.into(), value);
        }
        let sent = anthropic::request_body(&conversation, &claude(), "alice", false).unwrap();
        let text = String::from_utf8(sent.clone()).unwrap();
        for key in [
            "\"metadata\":",
            "\"user\":",
            "\"model\":",
            "\"max_tokens\":",
        ] {
            assert_eq!(text.matches(key).count(), 1, "{key} once: {text}");
        }
        let sent: Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(
            (
                &sent["user"],
                &sent["metadata"],
                &sent["model"],
                &sent["max_tokens"]
            ),
            (
                &json!("alice"),
                &json!({"user_id": "alice"}),
                &json!("claudesonnet46"),
                &json!(1024)
            )
        );
    }

    #[test]
    fn escaped_spellings_of_identity_fields_are_those_fields() {
        let raw = r#"{"model":"claude-sonnet-4.6","max_t\u006fkens":1024,"messages":[{"role":"user","content":"hi"}],
            "us\u0065r":"mallory","met\u0061data":{"us\u0065r_id":"mallory"},"s\u0061fety_identifier":"mallory"}"#;
        let (conversation, _) = read_request(raw.as_bytes()).unwrap();
        let sent = anthropic::request_body(&conversation, &claude(), "alice", false).unwrap();
        let text = String::from_utf8(sent).unwrap();
        assert!(!text.contains("mallory"), "{text}");
        assert!(
            text.contains(r#""user":"alice""#)
                && text.contains(r#""metadata":{"user_id":"alice"}"#)
        );
    }

    fn answer(content: Vec<Part>, finish: Finish) -> Answer {
        Answer {
            content,
            finish,
            usage: None,
        }
    }

    fn rendered(answer: &Answer, usage: Usage) -> Value {
        serde_json::from_slice(&answer_json(answer, &meta(), &usage)).unwrap()
    }

    #[test]
    fn answers_render_as_messages_with_cached_tokens_apart() {
        let thinking_text_calls = answer(
            vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Let me ".into()),
                Part::Text(String::new()),
                Part::Text("check.".into()),
                Part::tool_call("toolu_1", "f", r#"{"a": 1}"#),
                Part::tool_call("call_2", "g", ""),
            ],
            Finish::ToolCalls,
        );
        let usage = Usage {
            input_tokens: 110,
            output_tokens: 5,
            cached_input_tokens: Some(100),
        };
        assert_eq!(
            rendered(&thinking_text_calls, usage),
            json!({"id": "msg-gw123", "type": "message", "role": "assistant", "model": "claude-sonnet-4.6",
                "content": [
                    {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                    {"type": "text", "text": "Let me "},
                    {"type": "text", "text": "check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                    {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 5}})
        );
        let unsigned = answer(
            vec![Part::Thinking {
                text: "Plain reasoning.".into(),
                signature: None,
            }],
            Finish::Stop,
        );
        assert_eq!(
            rendered(&unsigned, Usage::new(3, 4))["content"],
            json!([{"type": "thinking", "thinking": "Plain reasoning.", "signature": ""}])
        );
        let empty = rendered(&answer(vec![], Finish::Stop), Usage::new(3, 4));
        assert_eq!(empty["content"], json!([]));
        assert_eq!(
            empty["usage"],
            json!({"input_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 4})
        );
    }

    #[test]
    fn call_arguments_that_are_not_a_json_object_are_wrapped() {
        let calls = answer(
            vec![
                Part::tool_call("t1", "f", "{\"city\": \"Par"),
                Part::tool_call("t2", "f", "[1, 2]"),
            ],
            Finish::Length,
        );
        let json = rendered(&calls, Usage::new(1, 1));
        assert_eq!(
            json["content"][0]["input"],
            json!({"raw": "{\"city\": \"Par"})
        );
        assert_eq!(json["content"][1]["input"], json!({"value": [1, 2]}));
        assert_eq!(json["stop_reason"], "max_tokens");
    }

    #[test]
    fn every_finish_has_its_stop_reason() {
        for (finish, calls, reason) in [
            (Finish::Stop, false, "end_turn"),
            (Finish::Stop, true, "tool_use"),
            (Finish::Length, false, "max_tokens"),
            (Finish::Length, true, "max_tokens"),
            (Finish::ToolCalls, true, "tool_use"),
            (Finish::ContentFilter, false, "refusal"),
        ] {
            let mut content = vec![Part::Text("x".into())];
            if calls {
                content.push(Part::tool_call("t", "f", "{}"));
            }
            assert_eq!(
                rendered(&answer(content, finish), Usage::new(1, 1))["stop_reason"],
                reason
            );
        }
    }

    #[test]
    fn errors_take_anthropics_envelope_and_types() {
        for (error, kind) in [
            (ApiError::invalid("model", "bad"), "invalid_request_error"),
            (ApiError::unauthorized("who?"), "authentication_error"),
            (
                ApiError::new(403, "permission_error", "no"),
                "permission_error",
            ),
            (ApiError::model_not_found("x"), "not_found_error"),
            (
                ApiError::method_not_allowed("GET", "/v1/messages"),
                "invalid_request_error",
            ),
            (ApiError::body_too_large(10), "request_too_large"),
            (ApiError::rate_limited("slow down"), "rate_limit_error"),
            (ApiError::internal("oops"), "api_error"),
            (ApiError::bad_gateway("argo"), "api_error"),
            (
                ApiError::new(503, "upstream_error", "overloaded"),
                "overloaded_error",
            ),
            (ApiError::gateway_timeout("slow"), "timeout_error"),
        ] {
            let json: Value = serde_json::from_slice(&error_json(&error)).unwrap();
            assert_eq!(
                json,
                json!({"type": "error", "error": {"type": kind, "message": error.message}})
            );
        }
    }

    /// The events of Anthropic's SSE, as `(event name, data)`.
    fn named_events(sse: &[u8]) -> Vec<(String, Value)> {
        let text = std::str::from_utf8(sse).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                let (name, data) = event.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name, "the event name is the data's type");
                (name.to_string(), data)
            })
            .collect()
    }

    /// A stream as Anthropic's SDKs accumulate it, checked against the rules they rely on.
    #[derive(Debug, Default)]
    struct Streamed {
        message: Value,
        /// The blocks; a call's input is kept as its `partial_json` text.
        blocks: Vec<Value>,
        stop_reason: Option<String>,
        usage: Value,
        error: Option<Value>,
    }

    impl Streamed {
        fn of(sse: &[u8]) -> Self {
            let events = named_events(sse);
            let (first, rest) = events.split_first().expect("message_start");
            assert_eq!(first.0, "message_start");
            let mut streamed = Streamed {
                message: first.1["message"].clone(),
                ..Streamed::default()
            };
            assert_eq!(streamed.message["content"], json!([]));
            assert!(streamed.message["stop_reason"].is_null());
            let mut open: Option<usize> = None;
            let mut stopped = false;
            for (position, (name, data)) in rest.iter().enumerate() {
                assert!(!stopped, "{name} after the end");
                let index = data["index"].as_u64().map(|index| index as usize);
                match name.as_str() {
                    "content_block_start" => {
                        assert!(open.is_none(), "blocks never interleave");
                        assert_eq!(index, Some(streamed.blocks.len()), "indexes in order");
                        let mut block = data["content_block"].clone();
                        if block["type"] == "tool_use" {
                            assert_eq!(block["input"], json!({}));
                            block["input"] = json!("");
                        }
                        streamed.blocks.push(block);
                        open = index;
                    }
                    "content_block_delta" => {
                        assert_eq!(index, open, "a delta for the open block");
                        streamed.delta(index.unwrap(), &data["delta"]);
                    }
                    "content_block_stop" => {
                        assert_eq!(index, open);
                        streamed.check_closed(index.unwrap());
                        open = None;
                    }
                    "message_delta" => {
                        assert!(open.is_none() && streamed.stop_reason.is_none());
                        assert!(data["delta"]["stop_sequence"].is_null());
                        streamed.stop_reason =
                            Some(data["delta"]["stop_reason"].as_str().unwrap().into());
                        streamed.usage = data["usage"].clone();
                    }
                    "message_stop" => {
                        assert!(streamed.stop_reason.is_some());
                        stopped = true;
                    }
                    "error" => {
                        assert_eq!(position, rest.len() - 1, "nothing follows an error");
                        streamed.error = Some(data["error"].clone());
                    }
                    other => panic!("unexpected event {other}"),
                }
            }
            assert!(stopped || streamed.error.is_some(), "the stream ends");
            streamed
        }

        fn delta(&mut self, index: usize, delta: &Value) {
            let block = &mut self.blocks[index];
            let (field, kind) = match delta["type"].as_str().unwrap() {
                "text_delta" => ("text", "text"),
                "thinking_delta" => {
                    assert_eq!(block["signature"], "", "a signature ends its block");
                    ("thinking", "thinking")
                }
                "signature_delta" => {
                    assert_eq!(block["signature"], "", "one signature per block");
                    block["signature"] = delta["signature"].clone();
                    return;
                }
                "input_json_delta" => ("input", "tool_use"),
                other => panic!("unexpected delta {other}"),
            };
            assert_eq!(block["type"], kind);
            let wire_field = if field == "input" {
                "partial_json"
            } else {
                field
            };
            let text = format!(
                "{}{}",
                block[field].as_str().unwrap(),
                delta[wire_field].as_str().unwrap()
            );
            block[field] = text.into();
        }

        /// Empty text blocks are refused when a client sends the turn back.
        fn check_closed(&self, index: usize) {
            let block = &self.blocks[index];
            match block["type"].as_str().unwrap() {
                "text" => assert_ne!(block["text"], "", "an empty text block"),
                "thinking" => assert!(
                    block["thinking"] != "" || block["signature"] != "",
                    "an empty thinking block"
                ),
                _ => {}
            }
        }

        fn joined(&self, kind: &str, field: &str) -> String {
            self.blocks
                .iter()
                .filter(|block| block["type"] == kind)
                .map(|block| block[field].as_str().unwrap())
                .collect()
        }

        fn calls(&self) -> Vec<(String, String, String)> {
            self.blocks
                .iter()
                .filter(|block| block["type"] == "tool_use")
                .map(|block| {
                    let field = |name: &str| block[name].as_str().unwrap().to_string();
                    (field("id"), field("name"), field("input"))
                })
                .collect()
        }
    }

    fn encode(events: &[Event], finish: Finish, usage: Usage) -> Vec<u8> {
        let mut encoder = encoder(&meta());
        let mut out = Vec::new();
        encoder.start(&mut out);
        for event in events {
            encoder.event(&mut out, event);
        }
        Encoder::finish(&mut encoder, &mut out, finish, usage);
        out
    }

    fn from_claude() -> StreamTranslation {
        StreamTranslation::new(anthropic::SseDecoder::new(), encoder(&meta()))
    }

    fn from_openai() -> StreamTranslation {
        StreamTranslation::new(openai_native::SseDecoder::new(), encoder(&meta()))
    }

    #[test]
    fn claudes_stream_comes_back_as_claude_sent_it() {
        let out = relay(&mut from_claude(), &[ANTHROPIC_STREAM.as_bytes()]);
        let streamed = Streamed::of(&out);
        assert_eq!(
            streamed.message,
            json!({"id": "msg-gw123", "type": "message", "role": "assistant", "model": "claude-sonnet-4.6",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}})
        );
        assert_eq!(
            streamed.blocks,
            vec![
                json!({"type": "thinking", "thinking": "The user wants the weather.", "signature": "EvUBCl0IDRACGAIqQFpN"}),
                json!({"type": "text", "text": "Let me check \"Paris\" 🌦️ for you."}),
                json!({"type": "tool_use", "id": "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": "{\"city\": \"Paris\"}"}),
            ]
        );
        assert_eq!(streamed.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            streamed.usage,
            json!({"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 89}),
            "Argo's own usage, cache reads apart again"
        );
        let deltas = named_events(&out)
            .into_iter()
            .filter(|(name, _)| name == "content_block_delta")
            .count();
        assert_eq!(deltas, 6, "every delta streams as it came");
    }

    #[test]
    fn an_openai_stream_becomes_a_messages_stream() {
        let streamed = Streamed::of(&relay(&mut from_openai(), &[OPENAI_STREAM.as_bytes()]));
        assert_eq!(
            streamed.blocks,
            vec![
                json!({"type": "text", "text": "Pong! 😊 \"quoted\""}),
                json!({"type": "tool_use", "id": "call_y0po4Ztyj41x7Led1gGoTCs1", "name": "get_weather", "input": "{\"city\":\"Paris\"}"}),
            ]
        );
        assert_eq!(streamed.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            streamed.usage,
            json!({"input_tokens": 47, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 128, "output_tokens": 16})
        );
    }

    #[test]
    fn the_first_call_streams_live_and_later_content_waits_for_the_end() {
        let mut encoder = encoder(&meta());
        let mut out = Vec::new();
        encoder.start(&mut out);
        let mut step = |event: Event| {
            let before = out.len();
            encoder.event(&mut out, &event);
            String::from_utf8(out[before..].to_vec()).unwrap()
        };
        assert!(step(Event::TextDelta("Checking.".into())).contains("\"text\":\"Checking.\""));
        let start = |index: usize| Event::ToolCallStart {
            index,
            id: format!("toolu_{index}"),
            name: "f".into(),
        };
        let fragment = |index: usize, fragment: &str| Event::ToolCallArguments {
            index,
            fragment: fragment.into(),
        };
        assert!(step(start(0)).contains("\"id\":\"toolu_0\""));
        assert!(step(fragment(0, "{\"a\":")).contains("input_json_delta"));
        assert_eq!(step(start(1)), "", "a second call waits");
        assert_eq!(step(fragment(1, "{}")), "");
        assert_eq!(step(Event::TextDelta("Done.".into())), "");
        assert!(
            step(fragment(0, "1}")).contains("\"partial_json\":\"1}\""),
            "the open call still streams"
        );
        Encoder::finish(&mut encoder, &mut out, Finish::ToolCalls, Usage::new(1, 2));
        let streamed = Streamed::of(&out);
        assert_eq!(
            streamed.calls(),
            vec![
                ("toolu_0".into(), "f".into(), "{\"a\":1}".into()),
                ("toolu_1".into(), "f".into(), "{}".into())
            ]
        );
        assert_eq!(streamed.joined("text", "text"), "Checking.Done.");
        assert_eq!(streamed.blocks.len(), 4);
    }

    #[test]
    fn thinking_signatures_close_their_block_in_one_delta() {
        let events = [
            Event::ThinkingDelta("First.".into()),
            Event::ThinkingSignature("ab".into()),
            Event::ThinkingSignature("cd".into()),
            Event::ThinkingDelta("Second.".into()),
            Event::ThinkingSignature("ef".into()),
            Event::TextDelta(String::new()),
            Event::TextDelta("Answer.".into()),
        ];
        let streamed = Streamed::of(&encode(&events, Finish::Stop, Usage::new(1, 1)));
        assert_eq!(
            streamed.blocks,
            vec![
                json!({"type": "thinking", "thinking": "First.", "signature": "abcd"}),
                json!({"type": "thinking", "thinking": "Second.", "signature": "ef"}),
                json!({"type": "text", "text": "Answer."}),
            ]
        );
        assert_eq!(streamed.stop_reason.as_deref(), Some("end_turn"));
    }

    #[test]
    fn a_mid_stream_error_is_anthropics_error_event_and_ends_the_stream() {
        let mut encoder = encoder(&meta());
        let mut out = Vec::new();
        encoder.start(&mut out);
        encoder.event(&mut out, &Event::TextDelta("Hi".into()));
        encoder.error(&mut out, &ApiError::gateway_timeout("Argo went quiet"));
        let streamed = Streamed::of(&out);
        assert_eq!(
            streamed.error,
            Some(json!({"type": "timeout_error", "message": "Argo went quiet"}))
        );
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let cut = ANTHROPIC_STREAM.find("event: content_block_stop").unwrap();
        let stream = format!("{}{overloaded}", &ANTHROPIC_STREAM[..cut]);
        let streamed = Streamed::of(&relay(&mut from_claude(), &[stream.as_bytes()]));
        assert_eq!(streamed.error.unwrap()["type"], "overloaded_error");
        assert!(streamed.stop_reason.is_none());
    }

    #[test]
    fn a_buffered_answer_replays_as_a_stream() {
        let buffered = answer(
            vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Checking.".into()),
                Part::tool_call("toolu_1", "f", "{\"a\":1}"),
                Part::tool_call("toolu_2", "g", "{}"),
            ],
            Finish::ToolCalls,
        );
        let mut encoder = encoder(&meta());
        let streamed = Streamed::of(&replay(&mut encoder, &buffered, Usage::new(5, 6)));
        assert_eq!(
            streamed.blocks,
            vec![
                json!({"type": "thinking", "thinking": "Hmm.", "signature": "sig"}),
                json!({"type": "text", "text": "Checking."}),
                json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": "{\"a\":1}"}),
                json!({"type": "tool_use", "id": "toolu_2", "name": "g", "input": "{}"}),
            ]
        );
    }

    fn joined_events(events: &[Event], pick: fn(&Event) -> Option<&str>) -> String {
        events.iter().filter_map(pick).collect()
    }

    proptest! {
        #[test]
        fn any_event_sequence_gives_a_valid_messages_stream(events in canonical_events(), finish in 0u8..4, cached in proptest::option::of(0u64..5)) {
            let finish = [Finish::Stop, Finish::Length, Finish::ToolCalls, Finish::ContentFilter][finish as usize];
            let usage = Usage { input_tokens: 7, output_tokens: 4, cached_input_tokens: cached };
            let streamed = Streamed::of(&encode(&events, finish, usage));
            prop_assert_eq!(&streamed.message["id"], "msg-gw123");
            let mut expected: Vec<(String, String, String)> = Vec::new();
            for event in &events {
                match event {
                    Event::ToolCallStart { id, name, .. } => expected.push((id.clone(), name.clone(), String::new())),
                    Event::ToolCallArguments { index, fragment } => expected[*index].2.push_str(fragment),
                    _ => {}
                }
            }
            prop_assert_eq!(streamed.stop_reason.as_deref(), Some(stop_reason(finish, !expected.is_empty())));
            prop_assert_eq!(streamed.calls(), expected);
            prop_assert_eq!(streamed.joined("text", "text"), joined_events(&events, |event| match event { Event::TextDelta(text) => Some(text), _ => None }));
            prop_assert_eq!(streamed.joined("thinking", "thinking"), joined_events(&events, |event| match event { Event::ThinkingDelta(text) => Some(text), _ => None }));
            prop_assert_eq!(streamed.joined("thinking", "signature"), joined_events(&events, |event| match event { Event::ThinkingSignature(text) => Some(text), _ => None }));
            let cached = cached.unwrap_or(0);
            prop_assert_eq!(streamed.usage, json!({"input_tokens": 7 - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached, "output_tokens": 4}));
        }

        #[test]
        fn a_stream_and_its_aggregated_answer_agree(events in canonical_events()) {
            let streamed = Streamed::of(&encode(&events, Finish::Stop, Usage::new(1, 1)));
            let mut aggregator = Aggregator::default();
            events.iter().cloned().for_each(|event| aggregator.push(event));
            let answer = aggregator.finish().unwrap();
            let rendered = rendered(&answer, Usage::new(1, 1));
            let calls = |blocks: &[Value]| blocks.iter().filter(|block| block["type"] == "tool_use").map(|block| block["id"].clone()).collect::<Vec<_>>();
            prop_assert_eq!(calls(&streamed.blocks), calls(rendered["content"].as_array().unwrap()));
            prop_assert_eq!(Some(rendered["stop_reason"].as_str().unwrap()), streamed.stop_reason.as_deref());
        }

        #[test]
        fn upstream_streams_translate_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            for (stream, make) in [(ANTHROPIC_STREAM, from_claude as fn() -> StreamTranslation), (OPENAI_STREAM, from_openai)] {
                let whole = relay(&mut make(), &[stream.as_bytes()]);
                prop_assert_eq!(&relay(&mut make(), &split(stream.as_bytes(), &cuts)), &whole);
                Streamed::of(&whole);
            }
        }
    }
}
