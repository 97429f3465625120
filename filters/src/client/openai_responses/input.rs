//! The request reader's `input` items: messages, calls and their outputs, reasoning.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::{Message, Part, Role};
use crate::tools;
use crate::tools::namespaces::Namespaces;

use super::stored::STATELESS;
use super::tools::CUSTOM_INPUT;

/// What one input item adds to the conversation.
enum Piece {
    /// A user, system or developer message.
    Turn(Message),
    /// Assistant content (a message, a call, reasoning): consecutive pieces make one turn.
    Assistant(Vec<Part>),
    /// A call's output; its images follow the run of outputs as a user message.
    Output { result: Part, images: Vec<Part> },
}

pub(super) fn read_input(
    input: Option<&Value>,
    namespaces: &Namespaces,
) -> Result<Vec<Message>, ApiError> {
    let items = match input {
        Some(Value::String(text)) => return Ok(vec![Message::text(Role::User, text.as_str())]),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "input",
                "`input` must contain at least one item",
            ))
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "input",
                format!("`input` is required. {STATELESS}"),
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a string or a list of items",
            ))
        }
    };
    let mut messages: Vec<Message> = Vec::with_capacity(items.len());
    let mut images: Vec<Part> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let piece = read_item(index, item, namespaces)?;
        if !matches!(piece, Piece::Output { .. }) {
            flush_images(&mut messages, &mut images);
        }
        match piece {
            Piece::Turn(message) => messages.push(message),
            Piece::Assistant(mut parts) => match messages.last_mut() {
                Some(last) if last.role == Role::Assistant => last.content.append(&mut parts),
                _ => messages.push(Message::new(Role::Assistant, parts)),
            },
            Piece::Output {
                result,
                images: more,
            } => {
                messages.push(Message::new(Role::Tool, vec![result]));
                images.extend(more);
            }
        }
    }
    flush_images(&mut messages, &mut images);
    Ok(messages)
}

/// Images from call outputs, as a user message after the outputs: the hub's tool results are
/// text, and a user turn between a call's outputs would break OpenAI's pairing of calls and
/// results.
fn flush_images(messages: &mut Vec<Message>, images: &mut Vec<Part>) {
    if !images.is_empty() {
        messages.push(Message::new(Role::User, std::mem::take(images)));
    }
}

fn read_item(index: usize, item: &Value, namespaces: &Namespaces) -> Result<Piece, ApiError> {
    let path = format!("input[{index}]");
    let object = item
        .as_object()
        .ok_or_else(|| ApiError::invalid(&path, "Each input item must be an object"))?;
    let kind = match object.get("type") {
        None | Some(Value::Null) if object.contains_key("role") => "message",
        None | Some(Value::Null) => "item_reference",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.type"),
                "`type` must be a string",
            ))
        }
    };
    match kind {
        "message" => read_message(&path, object),
        "function_call" => Ok(Piece::Assistant(vec![read_call(&path, object, namespaces)?])),
        "custom_tool_call" => Ok(Piece::Assistant(vec![read_custom_call(
            &path, object, namespaces,
        )?])),
        "function_call_output" | "custom_tool_call_output" => read_call_output(&path, object),
        "reasoning" => Ok(Piece::Assistant(vec![read_reasoning(&path, object)?])),
        "item_reference" => Err(ApiError::invalid(
            format!("{path}.id"),
            format!("Item references point at stored items. {STATELESS}"),
        )),
        other => Err(ApiError::invalid(
            format!("{path}.type"),
            format!(
                "Input items of type `{other}` cannot be served: the gateway takes messages, `function_call`, `custom_tool_call`, their outputs and `reasoning` items"
            ),
        )),
    }
}

fn string<'a>(object: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a str, ApiError> {
    object.get(key).and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid(format!("{path}.{key}"), format!("`{key}` must be a string"))
    })
}

fn read_message(path: &str, object: &Map<String, Value>) -> Result<Piece, ApiError> {
    let role = match string(object, path, "role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        "developer" => Role::Developer,
        other => {
            return Err(ApiError::invalid(
                format!("{path}.role"),
                format!("Unknown role `{other}`: use user, assistant, system or developer"),
            ))
        }
    };
    let parts = match object.get("content") {
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(position, part)| read_part(&format!("{path}.content[{position}]"), part))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::invalid(
                format!("{path}.content"),
                "`content` must be a string or a list of content parts",
            ))
        }
    };
    Ok(match role {
        Role::Assistant => Piece::Assistant(parts),
        role => Piece::Turn(Message::new(role, parts)),
    })
}

fn read_part(path: &str, part: &Value) -> Result<Part, ApiError> {
    let object = part
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Each content part must be an object"))?;
    match object.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text" | "text") => {
            Ok(Part::Text(string(object, path, "text")?.to_string()))
        }
        Some("refusal") => Ok(Part::Text(string(object, path, "refusal")?.to_string())),
        Some("input_image") => read_image(path, object),
        Some("input_file") => Err(ApiError::invalid(
            format!("{path}.type"),
            "Files cannot be served: Argo takes text and images only. Send the file's text as `input_text`",
        )),
        Some(other) => Err(ApiError::invalid(
            format!("{path}.type"),
            format!("Content parts of type `{other}` cannot be served: use `input_text` or `input_image`"),
        )),
        None => Err(ApiError::invalid(
            format!("{path}.type"),
            "Each content part needs a `type`",
        )),
    }
}

fn read_image(path: &str, object: &Map<String, Value>) -> Result<Part, ApiError> {
    let Some(url) = object.get("image_url").and_then(Value::as_str) else {
        let message = if object.get("file_id").is_some_and(|id| !id.is_null()) {
            "Images by `file_id` need OpenAI's Files API, which the gateway does not have: send the image as a data URL or an http(s) URL in `image_url`"
        } else {
            "An `input_image` needs an `image_url` (a data URL or an http(s) URL)"
        };
        return Err(ApiError::invalid(format!("{path}.image_url"), message));
    };
    Ok(Part::Image {
        url: url.to_string(),
        detail: object
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn read_call(
    path: &str,
    object: &Map<String, Value>,
    namespaces: &Namespaces,
) -> Result<Part, ApiError> {
    Ok(Part::tool_call(
        string(object, path, "call_id")?,
        called_name(path, object, namespaces)?,
        tools::arguments_string(object.get("arguments")),
    ))
}

/// An earlier call of a custom tool, as the model made it: a function call whose arguments
/// wrap the input (see `tools::custom_tool_def`).
fn read_custom_call(
    path: &str,
    object: &Map<String, Value>,
    namespaces: &Namespaces,
) -> Result<Part, ApiError> {
    let input = string(object, path, "input")?;
    Ok(Part::tool_call(
        string(object, path, "call_id")?,
        called_name(path, object, namespaces)?,
        serde_json::json!({ CUSTOM_INPUT: input }).to_string(),
    ))
}

/// The tool an earlier call called, by the name the model was offered: a call with a
/// `namespace` (as Codex sends back a call of a grouped tool) names its tool within it.
fn called_name<'a>(
    path: &str,
    object: &'a Map<String, Value>,
    namespaces: &'a Namespaces,
) -> Result<Cow<'a, str>, ApiError> {
    let name = string(object, path, "name")?;
    match object.get("namespace") {
        None | Some(Value::Null) => Ok(Cow::Borrowed(name)),
        Some(Value::String(namespace)) => Ok(namespaces.offered_name(namespace, name)),
        Some(_) => Err(ApiError::invalid(
            format!("{path}.namespace"),
            "`namespace` must be a string",
        )),
    }
}

fn read_call_output(path: &str, object: &Map<String, Value>) -> Result<Piece, ApiError> {
    let call_id = string(object, path, "call_id")?.to_string();
    let (content, images) = match object.get("output") {
        Some(Value::String(text)) => (text.clone(), Vec::new()),
        Some(Value::Array(parts)) => {
            let parts = parts
                .iter()
                .enumerate()
                .map(|(position, part)| read_part(&format!("{path}.output[{position}]"), part))
                .collect::<Result<Vec<_>, _>>()?;
            let (texts, images): (Vec<Part>, Vec<Part>) = parts
                .into_iter()
                .partition(|part| matches!(part, Part::Text(_)));
            let texts: Vec<String> = texts
                .into_iter()
                .filter_map(|part| match part {
                    Part::Text(text) => Some(text),
                    _ => None,
                })
                .collect();
            (texts.join("\n"), images)
        }
        _ => {
            return Err(ApiError::invalid(
                format!("{path}.output"),
                "`output` must be a string or a list of content parts",
            ))
        }
    };
    Ok(Piece::Output {
        result: Part::ToolResult {
            call_id,
            content,
            is_error: false,
        },
        images,
    })
}

/// A reasoning item as thinking: the summary (else the reasoning text) and the encrypted
/// content as the signature, which is what this gateway wrote there.
fn read_reasoning(path: &str, object: &Map<String, Value>) -> Result<Part, ApiError> {
    let texts = |key: &str| -> Vec<&str> {
        object
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    };
    let summary = texts("summary");
    let text = if summary.is_empty() {
        texts("content").concat()
    } else {
        summary.join("\n\n")
    };
    let signature = match object.get("encrypted_content") {
        None | Some(Value::Null) => None,
        Some(Value::String(signature)) => Some(signature.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.encrypted_content"),
                "`encrypted_content` must be a string",
            ))
        }
    };
    Ok(Part::Thinking { text, signature })
}
