//! The Google GenAI client spoke: the Gemini REST API as Gemini CLI (`@google/genai`) and the
//! `google-genai` Python SDK speak it. `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` and `:countTokens` bodies are read into a [`Conversation`];
//! [`Answer`]s are written as `GenerateContentResponse` JSON and [`Event`]s as a stream of them
//! ([`GenAiEncoder`]: SSE `data:` events with `alt=sse`, one JSON array without).
//!
//! Every key is read in its camelCase and its snake_case spelling: the REST API (proto JSON)
//! takes both, and the Python SDK sends snake_case inside the objects it dumps whole
//! (`thinkingConfig`, `functionDeclarations`, `functionResponse`, schemas).
//!
//! | Gemini | hub |
//! |---|---|
//! | `systemInstruction` (Content or string) | a system message |
//! | `contents[]`, role `user` (or none) / `model` | user / assistant messages; consecutive `model` contents are one turn (the Python SDK records a streamed answer as one content per chunk) |
//! | `text`; `thought: true` text | text (consecutive model texts joined); thinking |
//! | `inlineData` `image/*`; `text/*` or `application/json` | an image `data:` URL; the decoded text |
//! | `fileData` with an http(s) image URL | an image URL |
//! | `functionCall {id?, name, args}` | a tool call; without a usable `id`, `call_<content>_<part>` |
//! | `functionResponse {id?, name, response}` | a tool result, paired with its call by `id`, else by `name` among the preceding model turn's unanswered calls; images in its `parts` follow it as a user message |
//! | `tools[].functionDeclarations[]` | tools; `parameters` (Google's OpenAPI subset) become JSON Schema, `parametersJsonSchema` is taken as is |
//! | `toolConfig.functionCallingConfig` | tool choice; `allowedFunctionNames` keeps only the named tools |
//! | `generationConfig` `maxOutputTokens`, `temperature`, `topP`, `stopSequences` | the same |
//! | `thinkingConfig` | `reasoning_effort`: level as is, budget 0 → `none`, ≤ 1024 → `low`, ≤ 8192 → `medium`, more → `high` (the inverse of Google's own OpenAI mapping), -1 (dynamic) → the model's default |
//!
//! Refused with 400: tools other than function declarations (`googleSearch`, `codeExecution`,
//! ...), `cachedContent` (the gateway keeps no state), `candidateCount` > 1, output modalities
//! other than text, `speechConfig`, `imageConfig`, logprobs, media other than images and
//! text, Files API and `gs://` URIs, and code-execution parts. Ignored: `safetySettings`,
//! `topK`, `seed`, penalties, `responseMimeType` / `responseSchema` / `responseJsonSchema` (no
//! hub slot yet) and other fields without meaning here.
//!
//! Thought signatures: Gemini CLI keeps no `thought` part in its history, only the signatures
//! on other parts, while Claude needs its thinking back word for word with the signature. So a
//! signed thinking block travels as an opaque `thoughtSignature` holding both (base64 of a
//! marked JSON object), on the first part that follows the block (as Gemini puts its own
//! signatures), or on an empty `thought` part when no other part follows.
//!
//! Calls are written as Gemini writes them, whole: `args` is the first JSON object of the
//! call's argument text (what follows it is ignored; empty text is `{}`). A call whose
//! arguments are no JSON object is dropped and the answer finishes `MALFORMED_FUNCTION_CALL`
//! (`MAX_TOKENS` when the model was cut short), as Gemini reports such calls.
//!
//! [`Answer`]: crate::hub::Answer
//! [`Event`]: crate::hub::Event

mod answer;
mod arguments;
mod contents;
mod encoder;
mod errors;
mod fields;
mod generation;
mod signature;
#[cfg(test)]
pub(crate) mod tests;
mod tools;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Message, Part, Role};
use crate::json::parse_request;

pub use answer::{answer_json, Framing};
pub use encoder::{encoder, GenAiEncoder};
pub use errors::error_json;

use contents::ContentsReader;
use fields::get;
use generation::apply_generation_config;
use tools::{read_tool_config, read_tools};

// ---------------------------------------------------------------------------------------------
// Reading requests
// ---------------------------------------------------------------------------------------------

/// A `generateContent` or `streamGenerateContent` body as a conversation. `model` comes from
/// the URL (nothing in the body depends on it); `stream` is whether the method streams.
pub fn read_request(body: &[u8], _model: &str, stream: bool) -> Result<Conversation, ApiError> {
    let request = parse_object(body)?;
    let mut conversation = read_generate_request(&request, "")?;
    conversation.stream = stream;
    Ok(conversation)
}

/// A `countTokens` body: `{contents}` or `{generateContentRequest: {...}}`, as the
/// conversation whose prompt is to be counted.
pub fn read_count_tokens_request(body: &[u8], _model: &str) -> Result<Conversation, ApiError> {
    let request = parse_object(body)?;
    let nested = get(
        &request,
        "generateContentRequest",
        "generate_content_request",
    );
    match (nested, get(&request, "contents", "contents")) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "generateContentRequest",
            "Send either `contents` or `generateContentRequest`, not both",
        )),
        (Some(nested), None) => {
            let nested = nested.as_object().ok_or_else(|| {
                ApiError::invalid(
                    "generateContentRequest",
                    "`generateContentRequest` must be an object",
                )
            })?;
            read_generate_request(nested, "generateContentRequest.")
        }
        (None, _) => Ok(Conversation::new(
            Dialect::GoogleGenAi,
            ContentsReader::new("").read(&request)?,
        )),
    }
}

/// `{"totalTokens": N}`, the `countTokens` answer.
pub fn count_tokens_json(total_tokens: u64) -> Vec<u8> {
    format!("{{\"totalTokens\":{total_tokens}}}").into_bytes()
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_request::<Value>(body)? {
        Value::Object(object) => Ok(object),
        _ => Err(ApiError::invalid("body", "The body must be a JSON object")),
    }
}

/// `request` (a `GenerateContentRequest`) as a conversation; `prefix` starts the paths that
/// errors name.
fn read_generate_request(
    request: &Map<String, Value>,
    prefix: &str,
) -> Result<Conversation, ApiError> {
    if get(request, "cachedContent", "cached_content").is_some() {
        return Err(ApiError::invalid(
            format!("{prefix}cachedContent"),
            "`cachedContent` is not supported: the gateway keeps no cached contents; send the whole conversation",
        ));
    }
    let mut messages: Vec<Message> = system_message(request, prefix)?.into_iter().collect();
    messages.extend(ContentsReader::new(prefix).read(request)?);
    let mut conversation = Conversation::new(Dialect::GoogleGenAi, messages);
    conversation.include_usage = true;
    let tools = read_tools(request, prefix)?;
    let (tools, tool_choice) = read_tool_config(request, prefix, tools)?;
    conversation.tools = tools;
    conversation.tool_choice = tool_choice;
    apply_generation_config(&mut conversation, request, prefix)?;
    Ok(conversation)
}

fn system_message(request: &Map<String, Value>, prefix: &str) -> Result<Option<Message>, ApiError> {
    let path = format!("{prefix}systemInstruction");
    let parts = match get(request, "systemInstruction", "system_instruction") {
        None => return Ok(None),
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Object(content)) => system_parts(content, &path)?,
        Some(_) => return Err(ApiError::invalid(
            path,
            "`systemInstruction` must be a Content (`{\"parts\": [{\"text\": ...}]}`) or a string",
        )),
    };
    let parts: Vec<Part> = parts
        .into_iter()
        .filter(|part| !matches!(part, Part::Text(text) if text.is_empty()))
        .collect();
    Ok((!parts.is_empty()).then(|| Message::new(Role::System, parts)))
}

fn system_parts(content: &Map<String, Value>, path: &str) -> Result<Vec<Part>, ApiError> {
    let parts = match content.get("parts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.parts"),
                "`parts` must be an array",
            ))
        }
    };
    parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            part.get("text")
                .and_then(Value::as_str)
                .map(|text| Part::Text(text.to_string()))
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("{path}.parts[{index}]"),
                        "System instructions take text parts only",
                    )
                })
        })
        .collect()
}
