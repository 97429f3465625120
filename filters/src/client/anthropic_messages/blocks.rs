//! Messages and their content blocks: text, images, documents, thinking, tool uses and results.

use serde_json::Value;

use crate::error::ApiError;
use crate::hub::{Message, Part, Role};
use crate::tools::arguments_string;

use super::wire::{missing, required, Content, WireBlock, WireMessage, WireRole};

/// `system` content, or a `mid_conv_system` block's: text only.
pub(super) fn system_texts(content: Content, at: &str) -> Result<Vec<Part>, ApiError> {
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
pub(super) fn read_message(
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
