//! The request: its wire fields, what needs state stored on the server (refused, see
//! [`super::stored`]), and the body read into a conversation (`text.format` as `response_format`).

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Message, Role};
use crate::json::parse_request;
use crate::openai::check_sampling;
use crate::tools::names::NameSet;

use super::input::read_input;
use super::stored::StoredState;
use super::tools::{read_tool_choice, read_tools, ClientTools};

/// The request fields read; every other field is ignored.
#[derive(Deserialize)]
struct Request {
    model: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    reasoning: Option<ReasoningConfig>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    text: Option<TextConfig>,
    #[serde(default)]
    previous_response_id: Option<Value>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    prompt: Option<Value>,
}

#[derive(Deserialize)]
struct ReasoningConfig {
    #[serde(default)]
    effort: Option<String>,
}

#[derive(Deserialize)]
struct TextConfig {
    #[serde(default)]
    format: Option<Value>,
}

/// A Responses body as a conversation, the model name the client asked for, and which of the
/// conversation's tools are the client's `custom` tools.
/// `instructions` become a system message first: every upstream takes `system`, while Argo's
/// OpenAI endpoint also serves models that may not know `developer`.
pub fn read_request(body: &[u8]) -> Result<(Conversation, String, ClientTools), ApiError> {
    let request: Request = parse_request(body)?;
    refuse_stored_state(&request)?;
    check_sampling(request.temperature, request.top_p, None)?;
    let mut messages = Vec::new();
    if let Some(instructions) = request
        .instructions
        .as_deref()
        .filter(|text| !text.is_empty())
    {
        messages.push(Message::text(Role::System, instructions));
    }
    let (mut tools, mut custom_tools) = read_tools(request.tools.as_deref().unwrap_or_default())?;
    let namespaces = &custom_tools.namespaces;
    messages.extend(read_input(request.input.as_ref(), namespaces)?);
    let tool_choice = read_tool_choice(request.tool_choice.as_ref(), &mut tools, namespaces)?;
    let offered: NameSet = tools.iter().map(|tool| tool.name.as_str()).collect();
    custom_tools.names.retain(|name| offered.contains(name));
    let mut conversation = Conversation::new(Dialect::OpenAiResponses, messages);
    conversation.tools = tools;
    conversation.tool_choice = tool_choice;
    conversation.parallel_tool_calls = request.parallel_tool_calls;
    conversation.max_tokens = request.max_output_tokens;
    conversation.temperature = request.temperature;
    conversation.top_p = request.top_p;
    conversation.reasoning_effort = request.reasoning.and_then(|reasoning| reasoning.effort);
    conversation.stream = request.stream == Some(true);
    // The final event of every stream carries the usage.
    conversation.include_usage = true;
    conversation.response_format = response_format(request.text.and_then(|text| text.format))?;
    Ok((conversation, request.model, custom_tools))
}

/// What needs responses, conversations or prompts stored on the server.
fn refuse_stored_state(request: &Request) -> Result<(), ApiError> {
    StoredState {
        previous_response_id: request.previous_response_id.is_some(),
        store: request.store == Some(true),
        background: request.background == Some(true),
        conversation: request.conversation.is_some(),
        prompt: request.prompt.is_some(),
    }
    .refuse()
}

/// `text.format` as OpenAI chat's `response_format`; plain text is the default (`None`).
fn response_format(format: Option<Value>) -> Result<Option<Value>, ApiError> {
    let Some(Value::Object(mut format)) = format else {
        return match format {
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(ApiError::invalid(
                "text.format",
                "`text.format` must be an object",
            )),
        };
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({"type": "json_object"}))),
        Some("json_schema") => {
            format.remove("type");
            if !format.get("name").is_some_and(Value::is_string) {
                return Err(ApiError::invalid(
                    "text.format.name",
                    "A `json_schema` format needs a `name`",
                ));
            }
            if !format.get("schema").is_some_and(Value::is_object) {
                return Err(ApiError::invalid(
                    "text.format.schema",
                    "A `json_schema` format needs a `schema` object",
                ));
            }
            Ok(Some(
                serde_json::json!({"type": "json_schema", "json_schema": format}),
            ))
        }
        _ => Err(ApiError::invalid(
            "text.format.type",
            "`text.format.type` must be \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}
