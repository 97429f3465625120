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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ErrorCode};
use crate::hub::{
    Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice, ToolDef, Usage,
};
use crate::json::parse_request;
use crate::openai::ResponseMeta;
use crate::stream::{json_string, push_json_string};
use crate::tools::names::NameSet;
use crate::translate::Encoder;

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

/// A field by its camelCase or snake_case name; `null` counts as absent.
fn get<'a>(object: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|value| !value.is_null())
}

/// An integer, also as proto JSON writes 64-bit ones: a string of digits.
fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 9e15)
                .map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
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

// --- contents ------------------------------------------------------------------------------

/// The calls of the latest model turn that no `functionResponse` answered yet, in order. A
/// turn may hold tens of thousands of calls, so a response finds its call by a lookup, not a
/// scan: each call waits in a queue for its `id` (the one the client gave it) and one for its
/// name, and is skipped there once answered by the other.
#[derive(Debug, Default)]
struct AwaitedCalls {
    /// Each call's hub id, `None` once answered.
    hub_ids: Vec<Option<String>>,
    by_client_id: HashMap<String, VecDeque<usize>>,
    by_name: HashMap<String, VecDeque<usize>>,
}

impl AwaitedCalls {
    fn clear(&mut self) {
        *self = AwaitedCalls::default();
    }

    fn push(&mut self, client_id: Option<String>, hub_id: String, name: &str) {
        let position = self.hub_ids.len();
        self.hub_ids.push(Some(hub_id));
        if let Some(client_id) = client_id {
            self.by_client_id
                .entry(client_id)
                .or_default()
                .push_back(position);
        }
        self.by_name
            .entry(name.to_string())
            .or_default()
            .push_back(position);
    }

    /// The hub id of the call a response answers, which is then no longer awaited: the first
    /// awaited call with its `id`, else the first with its `name`.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let hub_ids = &self.hub_ids;
        let by_id = id.and_then(|id| first_awaited(self.by_client_id.get_mut(id)?, hub_ids));
        let position = by_id.or_else(|| first_awaited(self.by_name.get_mut(name)?, hub_ids))?;
        self.hub_ids[position].take()
    }
}

/// The first call of `queue` still awaited; answered ones are dropped on the way, so that each
/// call is passed over at most once per queue.
fn first_awaited(queue: &mut VecDeque<usize>, hub_ids: &[Option<String>]) -> Option<usize> {
    while let Some(&position) = queue.front() {
        if hub_ids[position].is_some() {
            return Some(position);
        }
        queue.pop_front();
    }
    None
}

/// Reads `contents[]` into messages, pairing function responses with their calls.
struct ContentsReader<'p> {
    prefix: &'p str,
    messages: Vec<Message>,
    awaited: AwaitedCalls,
    /// Call ids already given out: an upstream needs them unique.
    used_ids: HashSet<String>,
    /// Whether the last content read was the model's (the next one continues its turn).
    in_model_turn: bool,
}

/// Part fields that carry data the gateway cannot pass on.
const UNSUPPORTED_PARTS: [(&str, &str); 4] = [
    ("executableCode", "executable_code"),
    ("codeExecutionResult", "code_execution_result"),
    ("toolCall", "tool_call"),
    ("toolResponse", "tool_response"),
];

impl<'p> ContentsReader<'p> {
    fn new(prefix: &'p str) -> Self {
        ContentsReader {
            prefix,
            messages: Vec::new(),
            awaited: AwaitedCalls::default(),
            used_ids: HashSet::new(),
            in_model_turn: false,
        }
    }

    fn read(mut self, request: &Map<String, Value>) -> Result<Vec<Message>, ApiError> {
        let path = format!("{}contents", self.prefix);
        let contents = match get(request, "contents", "contents") {
            Some(Value::Array(contents)) if !contents.is_empty() => contents,
            Some(Value::Array(_)) | None => {
                return Err(ApiError::invalid(
                    path,
                    "`contents` is required: at least one Content",
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    path,
                    "`contents` must be an array of Contents",
                ))
            }
        };
        for (index, content) in contents.iter().enumerate() {
            self.read_content(index, content)?;
        }
        Ok(self.messages)
    }

    fn path(&self, content: usize, part: usize) -> String {
        format!("{}contents[{content}].parts[{part}]", self.prefix)
    }

    fn read_content(&mut self, index: usize, content: &Value) -> Result<(), ApiError> {
        let path = format!("{}contents[{index}]", self.prefix);
        let content = content
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "Each Content must be an object"))?;
        let parts = match content.get("parts") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(parts)) => parts,
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{path}.parts"),
                    "`parts` must be an array",
                ))
            }
        };
        match content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user")
        {
            "model" | "assistant" => self.read_model_content(index, parts),
            "user" | "function" | "tool" | "" => {
                self.in_model_turn = false;
                self.read_user_content(index, parts)
            }
            other => Err(ApiError::invalid(
                format!("{path}.role"),
                format!(
                    "Unknown role `{}`: a Content's role is `user` or `model`",
                    crate::error::truncate_for_message(other)
                ),
            )),
        }
    }

    fn read_model_content(&mut self, index: usize, parts: &[Value]) -> Result<(), ApiError> {
        if !self.in_model_turn {
            self.in_model_turn = true;
            self.awaited.clear();
            self.messages
                .push(Message::new(Role::Assistant, Vec::new()));
        }
        for (position, part) in parts.iter().enumerate() {
            let path = self.path(index, position);
            let part = part
                .as_object()
                .ok_or_else(|| ApiError::invalid(&path, "Each part must be an object"))?;
            self.read_model_part(part, index, position, &path)?;
        }
        Ok(())
    }

    /// The model turn being read (`read_model_content` opened it).
    fn turn(&mut self) -> &mut Vec<Part> {
        if self.messages.is_empty() {
            self.messages
                .push(Message::new(Role::Assistant, Vec::new()));
        }
        let last = self.messages.len() - 1;
        &mut self.messages[last].content
    }

    fn read_model_part(
        &mut self,
        part: &Map<String, Value>,
        content: usize,
        position: usize,
        path: &str,
    ) -> Result<(), ApiError> {
        let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
        if let Some(thinking) = get(part, "thoughtSignature", "thought_signature")
            .and_then(Value::as_str)
            .and_then(open_thought_signature)
        {
            push_signed_thinking(self.turn(), thinking);
            if thought {
                // The signature holds this thought's text already.
                return Ok(());
            }
        }
        if let Some(call) = get(part, "functionCall", "function_call") {
            let call = self.read_call(call, content, position, path)?;
            self.turn().push(call);
            return Ok(());
        }
        if let Some(text) = part.get("text") {
            let text = text.as_str().ok_or_else(|| {
                ApiError::invalid(format!("{path}.text"), "`text` must be a string")
            })?;
            match thought {
                true => push_thinking(self.turn(), text),
                false => push_model_text(self.turn(), text),
            }
            return Ok(());
        }
        if thought
            || part.contains_key("thoughtSignature")
            || part.contains_key("thought_signature")
        {
            return Ok(());
        }
        Err(model_part_error(part, path))
    }

    fn read_call(
        &mut self,
        call: &Value,
        content: usize,
        position: usize,
        path: &str,
    ) -> Result<Part, ApiError> {
        let path = format!("{path}.functionCall");
        let call = call
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "`functionCall` must be an object"))?;
        let name = call
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(format!("{path}.name"), "A `functionCall` needs a `name`")
            })?;
        let arguments = match call.get("args") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(args @ Value::Object(_)) => args.to_string(),
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{path}.args"),
                    "`args` must be an object",
                ))
            }
        };
        let client_id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let hub_id = self.hub_call_id(client_id.as_deref(), content, position);
        self.awaited.push(client_id, hub_id.clone(), name);
        Ok(Part::tool_call(hub_id, name, arguments))
    }

    /// The client's id when an upstream takes it (letters, digits, `_`, `-`; unique), else
    /// one from the call's position.
    fn hub_call_id(&mut self, client_id: Option<&str>, content: usize, position: usize) -> String {
        let mut id = match client_id {
            Some(id) if is_upstream_id(id) && !self.used_ids.contains(id) => id.to_string(),
            _ => format!("call_{content}_{position}"),
        };
        while self.used_ids.contains(&id) {
            id.push_str("_x");
        }
        self.used_ids.insert(id.clone());
        id
    }

    fn read_user_content(&mut self, index: usize, parts: &[Value]) -> Result<(), ApiError> {
        let mut results = Vec::new();
        let mut user = Vec::new();
        for (position, part) in parts.iter().enumerate() {
            let path = self.path(index, position);
            let part = part
                .as_object()
                .ok_or_else(|| ApiError::invalid(&path, "Each part must be an object"))?;
            if let Some(response) = get(part, "functionResponse", "function_response") {
                results.push(self.read_response(response, &path, &mut user)?);
            } else if let Some(media) = read_user_part(part, &path)? {
                user.push(media);
            }
        }
        if !results.is_empty() {
            self.messages.push(Message::new(Role::Tool, results));
        }
        if !user.is_empty() {
            self.messages.push(Message::new(Role::User, user));
        }
        Ok(())
    }

    /// A `functionResponse` as a tool result; images in its `parts` go to `user`.
    fn read_response(
        &mut self,
        response: &Value,
        path: &str,
        user: &mut Vec<Part>,
    ) -> Result<Part, ApiError> {
        let path = format!("{path}.functionResponse");
        let response = response
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "`functionResponse` must be an object"))?;
        let id = response.get("id").and_then(Value::as_str);
        let name = response
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let call_id = self.awaited.answer(id, name).ok_or_else(|| {
            ApiError::invalid(
                &path,
                format!(
                    "This `functionResponse` (name `{}`) answers no `functionCall` of the preceding model turn that is still unanswered; a response is paired with its call by `id`, else by `name`",
                    crate::error::truncate_for_message(name)
                ),
            )
        })?;
        if let Some(Value::Array(parts)) = response.get("parts") {
            for (index, part) in parts.iter().enumerate() {
                let part_path = format!("{path}.parts[{index}]");
                let part = part
                    .as_object()
                    .ok_or_else(|| ApiError::invalid(&part_path, "Each part must be an object"))?;
                user.extend(read_user_part(part, &part_path)?);
            }
        }
        let (content, is_error) = result_content(response.get("response"));
        Ok(Part::ToolResult {
            call_id,
            content,
            is_error,
        })
    }
}

fn is_upstream_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

fn model_part_error(part: &Map<String, Value>, path: &str) -> ApiError {
    for (camel, snake) in [
        ("inlineData", "inline_data"),
        ("fileData", "file_data"),
        ("functionResponse", "function_response"),
    ] {
        if get(part, camel, snake).is_some() {
            return ApiError::invalid(
                format!("{path}.{camel}"),
                format!("`{camel}` parts cannot be sent in a model turn: Argo's models take text, thinking and function calls there"),
            );
        }
    }
    unsupported_part_error(part, path)
}

fn unsupported_part_error(part: &Map<String, Value>, path: &str) -> ApiError {
    match UNSUPPORTED_PARTS
        .iter()
        .find(|(camel, snake)| get(part, camel, snake).is_some())
    {
        Some((camel, _)) => ApiError::invalid(
            format!("{path}.{camel}"),
            format!("`{camel}` parts are not supported: the gateway runs no Google-hosted tools"),
        ),
        None => ApiError::invalid(
            path,
            "A part needs one of `text`, `inlineData`, `fileData`, `functionCall` or `functionResponse`",
        ),
    }
}

/// A user part other than a function response: `None` for what carries nothing (empty text,
/// thoughts, a bare signature).
fn read_user_part(part: &Map<String, Value>, path: &str) -> Result<Option<Part>, ApiError> {
    if let Some(text) = part.get("text") {
        let text = text
            .as_str()
            .ok_or_else(|| ApiError::invalid(format!("{path}.text"), "`text` must be a string"))?;
        let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
        return Ok((!text.is_empty() && !thought).then(|| Part::Text(text.to_string())));
    }
    if let Some(blob) = get(part, "inlineData", "inline_data") {
        return inline_data(blob, &format!("{path}.inlineData")).map(Some);
    }
    if let Some(file) = get(part, "fileData", "file_data") {
        return file_data(file, &format!("{path}.fileData")).map(Some);
    }
    if get(part, "functionCall", "function_call").is_some() {
        return Err(ApiError::invalid(
            format!("{path}.functionCall"),
            "`functionCall` parts belong to `model` turns",
        ));
    }
    if part.contains_key("thoughtSignature") || part.contains_key("thought_signature") {
        return Ok(None);
    }
    Err(unsupported_part_error(part, path))
}

/// `inlineData`: an image as a `data:` URL, text decoded; other media cannot be sent.
fn inline_data(blob: &Value, path: &str) -> Result<Part, ApiError> {
    let blob = blob
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "`inlineData` must be an object"))?;
    let mime_type = get(blob, "mimeType", "mime_type")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid(
                format!("{path}.mimeType"),
                "`inlineData` needs a `mimeType`",
            )
        })?;
    let data = blob.get("data").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid(format!("{path}.data"), "`inlineData` needs base64 `data`")
    })?;
    let essence = mime_essence(mime_type);
    let data = standard_base64(data);
    if essence.starts_with("image/") {
        return Ok(Part::Image {
            url: format!("data:{essence};base64,{data}"),
            detail: None,
        });
    }
    if is_text_type(&essence) {
        let bytes = lenient_base64()
            .decode(data.as_bytes())
            .map_err(|_| ApiError::invalid(format!("{path}.data"), "`data` is not valid base64"))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ApiError::invalid(
                format!("{path}.data"),
                format!("`data` of type `{essence}` is not UTF-8 text"),
            )
        })?;
        return Ok(Part::Text(text));
    }
    Err(ApiError::invalid(
        format!("{path}.mimeType"),
        format!(
            "`{}` data cannot be sent through Argo: inline data must be an image (`image/*`) or text (`text/*`, `application/json`)",
            crate::error::truncate_for_message(&essence)
        ),
    ))
}

/// `fileData`: an image at an http(s) URL the upstream can fetch.
fn file_data(file: &Value, path: &str) -> Result<Part, ApiError> {
    let file = file
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "`fileData` must be an object"))?;
    let uri = get(file, "fileUri", "file_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid(format!("{path}.fileUri"), "`fileData` needs a `fileUri`")
        })?;
    let mime_type = get(file, "mimeType", "mime_type")
        .and_then(Value::as_str)
        .map(mime_essence);
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(ApiError::invalid(
            format!("{path}.fileUri"),
            "Only http(s) image URLs can be sent as `fileData`; send other files inline (`inlineData`)",
        ));
    }
    if lower.contains("generativelanguage.googleapis.com") {
        return Err(ApiError::invalid(
            format!("{path}.fileUri"),
            "Files uploaded to Google's Files API cannot be read through Argo; send the file inline (`inlineData`)",
        ));
    }
    let image = match &mime_type {
        Some(mime_type) => mime_type.starts_with("image/"),
        None => has_image_extension(&lower),
    };
    if !image {
        return Err(ApiError::invalid(
            format!("{path}.mimeType"),
            "`fileData` must point at an image (`image/*`): Argo's models take no other files by URL",
        ));
    }
    Ok(Part::Image {
        url: uri.to_string(),
        detail: None,
    })
}

fn has_image_extension(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|extension| path.ends_with(extension))
}

/// `image/PNG; charset=x` → `image/png`.
fn mime_essence(mime_type: &str) -> String {
    mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_text_type(essence: &str) -> bool {
    essence.starts_with("text/") || essence == "application/json"
}

/// Base64 in the standard alphabet: the Python SDK sends bytes URL-safe encoded.
fn standard_base64(data: &str) -> Cow<'_, str> {
    if data.contains(['-', '_']) {
        Cow::Owned(data.replace('-', "+").replace('_', "/"))
    } else {
        Cow::Borrowed(data)
    }
}

fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// A `functionResponse.response` as a tool result's text: its `error` (an error result) or
/// `output`, as Google documents them; the Python SDK's lone `result`; else the whole object
/// as JSON. A string value is taken as is, anything else as JSON text.
fn result_content(response: Option<&Value>) -> (String, bool) {
    let object = match response {
        None | Some(Value::Null) => return (String::new(), false),
        Some(Value::Object(object)) => object,
        Some(other) => return (text_of(other), false),
    };
    let whole = || Value::Object(object.clone()).to_string();
    if let Some(error) = object.get("error").filter(|error| !error.is_null()) {
        let content = match object.len() {
            1 => text_of(error),
            _ => whole(),
        };
        return (content, true);
    }
    match (object.get("output"), object.get("result"), object.len()) {
        (Some(output), _, _) => (text_of(output), false),
        (None, Some(result), 1) => (text_of(result), false),
        _ => (whole(), false),
    }
}

fn push_model_text(turn: &mut Vec<Part>, text: &str) {
    if text.is_empty() {
        return;
    }
    match turn.last_mut() {
        // A streamed answer comes back one chunk per part: its pieces are one text.
        Some(Part::Text(last)) => last.push_str(text),
        _ => turn.push(Part::Text(text.to_string())),
    }
}

fn push_thinking(turn: &mut Vec<Part>, text: &str) {
    match turn.last_mut() {
        Some(Part::Thinking {
            text: last,
            signature: None,
        }) => last.push_str(text),
        _ if text.is_empty() => {}
        _ => turn.push(Part::Thinking {
            text: text.to_string(),
            signature: None,
        }),
    }
}

/// A signed block read from a signature replaces the unsigned thoughts just before it: the
/// same thinking, as it was streamed.
fn push_signed_thinking(turn: &mut Vec<Part>, thinking: SignedThinking) {
    while matches!(
        turn.last(),
        Some(Part::Thinking {
            signature: None,
            ..
        })
    ) {
        turn.pop();
    }
    turn.push(Part::Thinking {
        text: thinking.thinking,
        signature: Some(thinking.signature),
    });
}

// --- tools -----------------------------------------------------------------------------------

fn read_tools(request: &Map<String, Value>, prefix: &str) -> Result<Vec<ToolDef>, ApiError> {
    let tools = match get(request, "tools", "tools") {
        None => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{prefix}tools"),
                "`tools` must be an array",
            ))
        }
    };
    let mut definitions: Vec<ToolDef> = Vec::new();
    let mut declared = NameSet::default();
    for (index, tool) in tools.iter().enumerate() {
        let path = format!("{prefix}tools[{index}]");
        let tool = tool
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "Each tool must be an object"))?;
        reject_hosted_tools(tool, &path)?;
        let declarations = match get(tool, "functionDeclarations", "function_declarations") {
            None => continue,
            Some(Value::Array(declarations)) => declarations,
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{path}.functionDeclarations"),
                    "`functionDeclarations` must be an array",
                ))
            }
        };
        for (position, declaration) in declarations.iter().enumerate() {
            let path = format!("{path}.functionDeclarations[{position}]");
            let definition = read_declaration(declaration, &path)?;
            if !declared.insert(definition.name.clone()) {
                return Err(ApiError::invalid(
                    format!("{path}.name"),
                    format!("Function `{}` is declared twice", definition.name),
                ));
            }
            definitions.push(definition);
        }
    }
    Ok(definitions)
}

fn reject_hosted_tools(tool: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    match tool.iter().find(|(key, value)| {
        !value.is_null() && !matches!(key.as_str(), "functionDeclarations" | "function_declarations")
    }) {
        Some((key, _)) => Err(ApiError::invalid(
            format!("{path}.{key}"),
            format!(
                "The `{}` tool is run by Google and cannot be served through Argo; only `functionDeclarations` are supported",
                crate::error::truncate_for_message(key)
            ),
        )),
        None => Ok(()),
    }
}

fn read_declaration(declaration: &Value, path: &str) -> Result<ToolDef, ApiError> {
    let declaration = declaration
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Each function declaration must be an object"))?;
    let name = declaration
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| is_upstream_id(name))
        .ok_or_else(|| {
            ApiError::invalid(
                format!("{path}.name"),
                "Function names must be 1-64 letters, digits, `_` or `-` (Argo's upstreams take no dots or colons)",
            )
        })?;
    let description = match declaration.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.description"),
                "`description` must be a string",
            ))
        }
    };
    let google = get(declaration, "parameters", "parameters");
    let plain = get(
        declaration,
        "parametersJsonSchema",
        "parameters_json_schema",
    );
    let parameters = match (google, plain) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                format!("{path}.parametersJsonSchema"),
                "Give `parameters` or `parametersJsonSchema`, not both",
            ))
        }
        (Some(schema), None) => json_schema(schema, &format!("{path}.parameters"))?,
        (None, Some(schema @ Value::Object(_))) => schema.clone(),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                format!("{path}.parametersJsonSchema"),
                "`parametersJsonSchema` must be a JSON Schema object",
            ))
        }
        (None, None) => Value::Null,
    };
    Ok(ToolDef {
        name: name.to_string(),
        description,
        parameters,
        strict: None,
    })
}

/// Google's OpenAPI-subset `Schema` as standard JSON Schema: types lowercased, `nullable`
/// as a union with `null` (as the SDK's own `Schema.json_schema` does), snake_case keywords
/// camelCased, `example` as `examples`, `defs`/`ref` as `$defs`/`$ref`; Google-only keys
/// (`propertyOrdering`, `format: enum`) dropped. Other keys are kept.
fn json_schema(schema: &Value, path: &str) -> Result<Value, ApiError> {
    let schema = schema
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "A schema must be an object"))?;
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in schema {
        if value.is_null() {
            continue;
        }
        let keyword = camel_case(key);
        let field = |name: &str| format!("{path}.{name}");
        match keyword.as_ref() {
            "type" => {
                if let Some(types) = schema_type(value) {
                    out.insert("type".into(), types);
                }
            }
            "nullable" => nullable = value.as_bool() == Some(true),
            "properties" | "defs" | "$defs" => {
                let name = if keyword == "properties" {
                    "properties"
                } else {
                    "$defs"
                };
                out.insert(name.into(), schema_map(value, &field(name))?);
            }
            "items" | "additionalProperties" if value.is_object() => {
                out.insert(
                    keyword.clone().into_owned(),
                    json_schema(value, &field(&keyword))?,
                );
            }
            "anyOf" | "items" => {
                out.insert(
                    keyword.clone().into_owned(),
                    schema_list(value, &field(&keyword))?,
                );
            }
            "ref" | "$ref" => {
                let reference = value
                    .as_str()
                    .unwrap_or_default()
                    .replace("#/defs/", "#/$defs/");
                out.insert("$ref".into(), Value::String(reference));
            }
            "format" if value.as_str() == Some("enum") => {}
            "propertyOrdering" => {}
            "example" => {
                out.insert("examples".into(), Value::Array(vec![value.clone()]));
            }
            "maxItems" | "minItems" | "maxLength" | "minLength" | "maxProperties"
            | "minProperties" => {
                let count = as_int(value)
                    .map(Value::from)
                    .unwrap_or_else(|| value.clone());
                out.insert(keyword.into_owned(), count);
            }
            "additionalProperties"
            | "description"
            | "enum"
            | "format"
            | "maximum"
            | "minimum"
            | "pattern"
            | "required"
            | "title"
            | "default" => {
                out.insert(keyword.into_owned(), value.clone());
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if nullable {
        add_null(&mut out);
    }
    Ok(Value::Object(out))
}

fn camel_case(key: &str) -> Cow<'_, str> {
    if !key.contains('_') || key.starts_with('_') {
        return Cow::Borrowed(key);
    }
    let mut camel = String::with_capacity(key.len());
    for (index, word) in key.split('_').enumerate() {
        let mut chars = word.chars();
        match (index, chars.next()) {
            (0, Some(first)) => camel.push(first),
            (_, Some(first)) => camel.extend(first.to_uppercase()),
            (_, None) => {}
        }
        camel.push_str(chars.as_str());
    }
    Cow::Owned(camel)
}

/// `"STRING"` → `"string"`; `TYPE_UNSPECIFIED` is no type.
fn schema_type(value: &Value) -> Option<Value> {
    let lower = |name: &str| {
        (!name.eq_ignore_ascii_case("TYPE_UNSPECIFIED"))
            .then(|| Value::String(name.to_ascii_lowercase()))
    };
    match value {
        Value::String(name) => lower(name),
        Value::Array(names) => Some(Value::Array(
            names
                .iter()
                .filter_map(|name| name.as_str().and_then(lower))
                .collect(),
        )),
        _ => None,
    }
}

fn add_null(schema: &mut Map<String, Value>) {
    let null = Value::String("null".into());
    match schema.get_mut("type") {
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null),
        Some(Value::Array(_)) => {}
        Some(single) => *single = Value::Array(vec![single.take(), null]),
        None => {
            if let Some(Value::Array(choices)) = schema.get_mut("anyOf") {
                choices.push(json!({"type": "null"}));
            }
        }
    }
}

fn schema_map(value: &Value, path: &str) -> Result<Value, ApiError> {
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Must be an object of schemas"))?;
    map.iter()
        .map(|(name, schema)| {
            Ok((
                name.clone(),
                json_schema(schema, &format!("{path}.{name}"))?,
            ))
        })
        .collect::<Result<Map<_, _>, ApiError>>()
        .map(Value::Object)
}

fn schema_list(value: &Value, path: &str) -> Result<Value, ApiError> {
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::invalid(path, "Must be a schema or an array of schemas"))?;
    list.iter()
        .enumerate()
        .map(|(index, schema)| json_schema(schema, &format!("{path}[{index}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `toolConfig.functionCallingConfig` as a tool choice: `AUTO` → auto, `NONE` → none, `ANY`
/// → required (named when one function is allowed), `VALIDATED` → auto (the schema check
/// Google adds is not available). `allowedFunctionNames` keeps only those tools, which
/// limits the calls exactly as Gemini does.
fn read_tool_config(
    request: &Map<String, Value>,
    prefix: &str,
    tools: Vec<ToolDef>,
) -> Result<(Vec<ToolDef>, Option<ToolChoice>), ApiError> {
    let path = format!("{prefix}toolConfig.functionCallingConfig");
    let Some(config) = get(request, "toolConfig", "tool_config").and_then(|config| {
        get(
            config.as_object()?,
            "functionCallingConfig",
            "function_calling_config",
        )
    }) else {
        return Ok((tools, None));
    };
    let config = config
        .as_object()
        .ok_or_else(|| ApiError::invalid(&path, "`functionCallingConfig` must be an object"))?;
    let allowed = allowed_names(config, &path, &tools)?;
    let mode = config
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    let tools = match allowed {
        Some(allowed) => tools
            .into_iter()
            .filter(|tool| allowed.contains(&tool.name))
            .collect(),
        None => tools,
    };
    let choice = match mode.as_str() {
        "NONE" => ToolChoice::None,
        "AUTO" | "MODE_UNSPECIFIED" | "VALIDATED" => ToolChoice::Auto,
        "ANY" if tools.is_empty() => {
            return Err(ApiError::invalid(
                format!("{path}.mode"),
                "Mode `ANY` needs `functionDeclarations` in `tools`",
            ))
        }
        "ANY" if tools.len() == 1 => ToolChoice::Named(tools[0].name.clone()),
        "ANY" => ToolChoice::Required,
        _ => {
            return Err(ApiError::invalid(
                format!("{path}.mode"),
                "`mode` must be `AUTO`, `ANY`, `NONE` or `VALIDATED`",
            ))
        }
    };
    Ok((tools, Some(choice)))
}

fn allowed_names<'r>(
    config: &'r Map<String, Value>,
    path: &str,
    tools: &[ToolDef],
) -> Result<Option<NameSet<'r>>, ApiError> {
    let path = format!("{path}.allowedFunctionNames");
    let names = match get(config, "allowedFunctionNames", "allowed_function_names") {
        None => return Ok(None),
        Some(Value::Array(names)) if names.is_empty() => return Ok(None),
        Some(Value::Array(names)) => names,
        Some(_) => {
            return Err(ApiError::invalid(
                path,
                "Must be an array of function names",
            ))
        }
    };
    let declared: NameSet = tools.iter().map(|tool| tool.name.as_str()).collect();
    let mut allowed = NameSet::with_capacity(names.len());
    for name in names {
        let name = name
            .as_str()
            .ok_or_else(|| ApiError::invalid(&path, "Must be an array of function names"))?;
        if !declared.contains(name) {
            return Err(ApiError::invalid(
                &path,
                format!(
                    "`{}` is not among the declared functions",
                    crate::error::truncate_for_message(name)
                ),
            ));
        }
        allowed.insert(name);
    }
    Ok(Some(allowed))
}

// --- generation config -----------------------------------------------------------------------

fn apply_generation_config(
    conversation: &mut Conversation,
    request: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ApiError> {
    let path = format!("{prefix}generationConfig");
    let config = match get(request, "generationConfig", "generation_config") {
        None => return Ok(()),
        Some(Value::Object(config)) => config,
        Some(_) => {
            return Err(ApiError::invalid(
                path,
                "`generationConfig` must be an object",
            ))
        }
    };
    let field = |name: &str| format!("{path}.{name}");
    reject_unservable_output(config, &path)?;
    if let Some(limit) = get(config, "maxOutputTokens", "max_output_tokens") {
        let limit = as_int(limit).filter(|limit| *limit >= 1).ok_or_else(|| {
            ApiError::invalid(
                field("maxOutputTokens"),
                "`maxOutputTokens` must be a positive integer",
            )
        })?;
        conversation.max_tokens = Some(limit.unsigned_abs());
    }
    conversation.temperature = bounded(config.get("temperature"), 2.0, &field("temperature"))?;
    conversation.top_p = bounded(get(config, "topP", "top_p"), 1.0, &field("topP"))?;
    conversation.stop = stop_sequences(
        get(config, "stopSequences", "stop_sequences"),
        &field("stopSequences"),
    )?;
    conversation.reasoning_effort = match get(config, "thinkingConfig", "thinking_config") {
        None => None,
        Some(Value::Object(thinking)) => reasoning_effort(thinking, &field("thinkingConfig"))?,
        Some(_) => {
            return Err(ApiError::invalid(
                field("thinkingConfig"),
                "`thinkingConfig` must be an object",
            ))
        }
    };
    Ok(())
}

/// Output the gateway cannot produce: several candidates, audio or images, logprobs.
fn reject_unservable_output(config: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    let field = |name: &str| format!("{path}.{name}");
    if let Some(count) = get(config, "candidateCount", "candidate_count") {
        if as_int(count).is_none_or(|count| count > 1) {
            return Err(ApiError::invalid(
                field("candidateCount"),
                "Only one candidate can be generated (`candidateCount` 1)",
            ));
        }
    }
    if let Some(modalities) = get(config, "responseModalities", "response_modalities") {
        let text_only = modalities.as_array().is_some_and(|modalities| {
            modalities.iter().all(|modality| {
                modality
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case("TEXT"))
            })
        });
        if !text_only {
            return Err(ApiError::invalid(
                field("responseModalities"),
                "Argo's models answer in text only (`responseModalities: [\"TEXT\"]`)",
            ));
        }
    }
    for (camel, snake, why) in [
        (
            "speechConfig",
            "speech_config",
            "Argo's models produce no speech",
        ),
        (
            "imageConfig",
            "image_config",
            "Argo's models produce no images",
        ),
        (
            "logprobs",
            "logprobs",
            "log probabilities are not available through Argo",
        ),
    ] {
        if get(config, camel, snake).is_some() {
            return Err(ApiError::invalid(
                field(camel),
                format!("`{camel}` is not supported: {why}"),
            ));
        }
    }
    if get(config, "responseLogprobs", "response_logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid(
            field("responseLogprobs"),
            "`responseLogprobs` is not supported: log probabilities are not available through Argo",
        ));
    }
    Ok(())
}

fn bounded(value: Option<&Value>, max: f64, path: &str) -> Result<Option<f64>, ApiError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    as_number(value)
        .filter(|number| (0.0..=max).contains(number))
        .map(Some)
        .ok_or_else(|| ApiError::invalid(path, format!("Must be a number from 0 to {max}")))
}

fn stop_sequences(value: Option<&Value>, path: &str) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::invalid(path, "`stopSequences` must be an array of strings");
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(sequences)) => sequences
            .iter()
            .map(|sequence| sequence.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `thinkingLevel` lowercased, or `thinkingBudget` by the budgets Google gives OpenAI's
/// efforts (low 1,024, medium 8,192, high 24,576): 0 → `none`, up to 1,024 → `low`, up to
/// 8,192 → `medium`, more → `high`; -1 (dynamic) leaves the choice to the model.
fn reasoning_effort(thinking: &Map<String, Value>, path: &str) -> Result<Option<String>, ApiError> {
    let level = get(thinking, "thinkingLevel", "thinking_level");
    let budget = get(thinking, "thinkingBudget", "thinking_budget");
    let effort =
        match (level, budget) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    format!("{path}.thinkingBudget"),
                    "Give `thinkingLevel` or `thinkingBudget`, not both",
                ))
            }
            (Some(level), None) => {
                let level = level.as_str().unwrap_or_default().to_ascii_uppercase();
                match level.as_str() {
                    "MINIMAL" | "LOW" | "MEDIUM" | "HIGH" => Some(level.to_ascii_lowercase()),
                    "THINKING_LEVEL_UNSPECIFIED" => None,
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{path}.thinkingLevel"),
                            "`thinkingLevel` must be `MINIMAL`, `LOW`, `MEDIUM` or `HIGH`",
                        ))
                    }
                }
            }
            (None, Some(budget)) => match as_int(budget) {
                Some(-1) => None,
                Some(0) => Some("none"),
                Some(1..=1024) => Some("low"),
                Some(1025..=8192) => Some("medium"),
                Some(8193..) => Some("high"),
                _ => return Err(ApiError::invalid(
                    format!("{path}.thinkingBudget"),
                    "`thinkingBudget` must be -1 (dynamic), 0 (off) or a positive number of tokens",
                )),
            }
            .map(str::to_string),
            (None, None) => None,
        };
    Ok(effort)
}

// ---------------------------------------------------------------------------------------------
// Thought signatures
// ---------------------------------------------------------------------------------------------

/// What a `thoughtSignature` written by the gateway holds: a thinking block and the upstream
/// signature that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SignedThinking {
    thinking: String,
    signature: String,
}

/// Opens every `thoughtSignature` the gateway writes, so that foreign ones are told apart.
const SIGNATURE_PREFIX: &[u8] = b"argo-bridge/thinking/1\n";

/// The `thoughtSignature` that carries `thinking` and its upstream `signature`: base64 (the
/// Python SDK decodes signatures as bytes), opaque to the client as Gemini's own are.
fn thought_signature(thinking: &str, signature: &str) -> String {
    let mut bytes = SIGNATURE_PREFIX.to_vec();
    let body = json!({"thinking": thinking, "signature": signature});
    bytes.extend_from_slice(body.to_string().as_bytes());
    STANDARD.encode(bytes)
}

/// The thinking a `thoughtSignature` of the gateway carries, in either base64 alphabet (the
/// Python SDK sends it back URL-safe); `None` for any other signature.
fn open_thought_signature(signature: &str) -> Option<SignedThinking> {
    let bytes = lenient_base64()
        .decode(standard_base64(signature).as_bytes())
        .ok()?;
    let body = bytes.strip_prefix(SIGNATURE_PREFIX)?;
    serde_json::from_slice(body).ok()
}

// ---------------------------------------------------------------------------------------------
// Writing answers and errors
// ---------------------------------------------------------------------------------------------

/// How a stream is framed: `alt=sse` gives SSE `data:` events (what both SDKs ask for);
/// without it the REST API streams one JSON array of responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `data: <GenerateContentResponse>` events (no closing marker).
    Sse,
    /// `[<GenerateContentResponse>,...]`; an error is the last element.
    JsonArray,
}

/// A whole answer as one `GenerateContentResponse`.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let mut parts = Parts::default();
    let mut malformed = Vec::new();
    for part in &answer.content {
        match part {
            Part::Thinking { text, signature } => {
                parts.thinking(text, signature.as_deref().filter(|sig| !sig.is_empty()))
            }
            Part::Text(text) => parts.text(text),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => match CallArguments::whole(arguments) {
                Some(args) => parts.call(id, name, &args),
                None => malformed.push(name.clone()),
            },
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    parts.flush_sealed();
    if parts.count == 0 {
        parts.empty_text();
    }
    let mut out = Vec::with_capacity(parts.json.len() + 384);
    ResponseFrame::new(meta).last(
        &mut out,
        &parts.json,
        &Ending::new(answer.finish, &malformed),
        usage,
    );
    out
}

/// Google's error envelope: `{"error": {"code", "message", "status", "details"}}`, with an
/// `ErrorInfo` (the gateway's code as `reason`), a `BadRequest` naming the field when there is
/// one, and a `RetryInfo` for a known retry delay (Gemini CLI waits that long).
pub fn error_json(error: &ApiError) -> Vec<u8> {
    let reason = error
        .code
        .map_or(error.kind, ErrorCode::as_str)
        .to_ascii_uppercase();
    let mut details = vec![json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "argo-bridge",
    })];
    if let Some(param) = &error.param {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": param, "description": error.message}],
        }));
    }
    if let Some(delay) = error
        .retry_after
        .as_deref()
        .and_then(|delay| delay.trim().parse::<f64>().ok())
    {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{delay}s"),
        }));
    }
    json!({"error": {
        "code": error.status,
        "message": error.message,
        "status": rpc_status(error.status),
        "details": details,
    }})
    .to_string()
    .into_bytes()
}

/// The `google.rpc.Code` name Google pairs with an HTTP status.
fn rpc_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

/// How an answer ended, as Gemini says it.
#[derive(Debug)]
struct Ending {
    reason: &'static str,
    message: Option<String>,
}

impl Ending {
    /// Calls end with `STOP` (Gemini's way); dropped calls with `MALFORMED_FUNCTION_CALL`
    /// unless the answer was cut short or filtered, which explains them.
    fn new(finish: Finish, malformed: &[String]) -> Self {
        let reason = match finish {
            Finish::Length => "MAX_TOKENS",
            Finish::ContentFilter => "SAFETY",
            Finish::Stop | Finish::ToolCalls if !malformed.is_empty() => "MALFORMED_FUNCTION_CALL",
            Finish::Stop | Finish::ToolCalls => "STOP",
        };
        let message = (!malformed.is_empty()).then(|| {
            let names: Vec<String> = malformed.iter().map(|name| format!("`{name}`")).collect();
            format!(
                "Malformed function call: the arguments of {} were not a JSON object, so the call was dropped",
                names.join(", ")
            )
        });
        Ending { reason, message }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_content_token_count: Option<u64>,
}

impl From<&Usage> for UsageMetadata {
    /// Thinking is counted in `candidatesTokenCount`: upstreams do not report it apart.
    fn from(usage: &Usage) -> Self {
        UsageMetadata {
            prompt_token_count: usage.input_tokens,
            candidates_token_count: usage.output_tokens,
            total_token_count: usage.input_tokens + usage.output_tokens,
            cached_content_token_count: usage.cached_input_tokens,
        }
    }
}

const RESPONSE_OPEN: &[u8] = b"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[";

/// The fixed pieces of every `GenerateContentResponse` of one answer.
#[derive(Debug, Clone)]
struct ResponseFrame {
    /// `,"modelVersion":..,"responseId":..}`
    tail: String,
}

impl ResponseFrame {
    fn new(meta: &ResponseMeta) -> Self {
        ResponseFrame {
            tail: format!(
                ",\"modelVersion\":{},\"responseId\":{}}}",
                json_string(&meta.model),
                json_string(&meta.id)
            ),
        }
    }

    /// A response carrying `parts` (JSON objects joined by commas), not the last.
    fn chunk(&self, out: &mut Vec<u8>, parts: &[u8]) {
        out.extend_from_slice(RESPONSE_OPEN);
        out.extend_from_slice(parts);
        out.extend_from_slice(b"]},\"index\":0}]");
        out.extend_from_slice(self.tail.as_bytes());
    }

    /// The last response (or the only one): the finish reason and the usage.
    fn last(&self, out: &mut Vec<u8>, parts: &[u8], ending: &Ending, usage: &Usage) {
        out.extend_from_slice(RESPONSE_OPEN);
        out.extend_from_slice(parts);
        out.extend_from_slice(b"]},\"finishReason\":\"");
        out.extend_from_slice(ending.reason.as_bytes());
        out.push(b'"');
        if let Some(message) = &ending.message {
            out.extend_from_slice(b",\"finishMessage\":");
            push_json_string(out, message);
        }
        out.extend_from_slice(b",\"index\":0}],\"usageMetadata\":");
        if serde_json::to_writer(&mut *out, &UsageMetadata::from(usage)).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(self.tail.as_bytes());
    }
}

/// The parts of one response as JSON, with a signed thinking block's signature held until
/// the part it goes on.
#[derive(Debug, Default)]
struct Parts {
    json: Vec<u8>,
    count: usize,
    /// A `thoughtSignature` waiting for the next non-thought part.
    sealed: Option<String>,
}

impl Parts {
    fn single(sealed: Option<String>) -> Self {
        Parts {
            sealed,
            ..Parts::default()
        }
    }

    fn next(&mut self) -> &mut Vec<u8> {
        if self.count > 0 {
            self.json.push(b',');
        }
        self.count += 1;
        &mut self.json
    }

    /// A whole thinking block: its text as a thought, its signature (if any) sealed.
    fn thinking(&mut self, text: &str, signature: Option<&str>) {
        if !text.is_empty() {
            self.thought(text);
        }
        if let Some(signature) = signature {
            self.seal(thought_signature(text, signature));
        }
    }

    fn thought(&mut self, text: &str) {
        // A thought comes next: an earlier signature cannot wait for a later part.
        self.flush_sealed();
        write_text_part(self.next(), text, true, None);
    }

    fn seal(&mut self, signature: String) {
        self.flush_sealed();
        self.sealed = Some(signature);
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let signature = self.sealed.take();
        write_text_part(self.next(), text, false, signature.as_deref());
    }

    fn call(&mut self, id: &str, name: &str, args: &Map<String, Value>) {
        let signature = self.sealed.take();
        write_call_part(self.next(), id, name, args, signature.as_deref());
    }

    /// `{"text": ""}`: the Python SDK's chat drops a whole turn from its history when one of
    /// its responses has no part.
    fn empty_text(&mut self) {
        write_text_part(self.next(), "", false, None);
    }

    /// A held signature on a part of its own: an empty thought.
    fn flush_sealed(&mut self) {
        if let Some(signature) = self.sealed.take() {
            write_text_part(self.next(), "", true, Some(&signature));
        }
    }
}

fn write_text_part(out: &mut Vec<u8>, text: &str, thought: bool, signature: Option<&str>) {
    out.extend_from_slice(b"{\"text\":");
    push_json_string(out, text);
    if thought {
        out.extend_from_slice(b",\"thought\":true");
    }
    if let Some(signature) = signature {
        out.extend_from_slice(b",\"thoughtSignature\":");
        push_json_string(out, signature);
    }
    out.push(b'}');
}

fn write_call_part(
    out: &mut Vec<u8>,
    id: &str,
    name: &str,
    args: &Map<String, Value>,
    signature: Option<&str>,
) {
    let mut part = json!({"functionCall": {"id": id, "name": name, "args": args}});
    if let (Some(signature), Some(object)) = (signature, part.as_object_mut()) {
        object.insert("thoughtSignature".into(), Value::String(signature.into()));
    }
    if serde_json::to_writer(&mut *out, &part).is_err() {
        out.extend_from_slice(b"{}");
    }
}

// --- call arguments --------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
enum ArgumentsState {
    #[default]
    Pending,
    Complete(Map<String, Value>),
    Malformed,
}

/// A call's argument text as it streams in, scanned once: complete as soon as its first JSON
/// object closes (what follows is ignored), malformed as soon as it cannot be one, `{}` when
/// it ends without a character.
#[derive(Debug, Clone, Default)]
struct CallArguments {
    text: String,
    state: ArgumentsState,
    scanned: usize,
    depth: usize,
    started: bool,
    in_string: bool,
    escaped: bool,
}

impl CallArguments {
    /// The `args` object of a whole argument text; `None` when it is malformed.
    fn whole(text: &str) -> Option<Map<String, Value>> {
        let mut arguments = CallArguments::default();
        arguments.push(text);
        arguments.finish().cloned()
    }

    fn push(&mut self, fragment: &str) {
        if !matches!(self.state, ArgumentsState::Pending) {
            return;
        }
        self.text.push_str(fragment);
        while matches!(self.state, ArgumentsState::Pending) && self.scanned < self.text.len() {
            let byte = self.text.as_bytes()[self.scanned];
            self.scanned += 1;
            self.step(byte);
        }
    }

    fn step(&mut self, byte: u8) {
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                (false, _) => {}
            }
            return;
        }
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' => {
                self.started = true;
                self.depth += 1;
            }
            b'[' if self.started => self.depth += 1,
            b'}' | b']' if self.started => {
                self.depth -= 1;
                if self.depth == 0 {
                    self.settle();
                }
            }
            b'"' if self.started => self.in_string = true,
            _ if self.started => {}
            _ => self.state = ArgumentsState::Malformed,
        }
    }

    /// The first object closed: it is the arguments, if it parses.
    fn settle(&mut self) {
        self.state = match serde_json::from_str(&self.text[..self.scanned]) {
            Ok(object) => ArgumentsState::Complete(object),
            Err(_) => ArgumentsState::Malformed,
        };
    }

    fn complete(&self) -> Option<&Map<String, Value>> {
        match &self.state {
            ArgumentsState::Complete(object) => Some(object),
            _ => None,
        }
    }

    /// No more text comes: the arguments, or `None` when malformed.
    fn finish(&mut self) -> Option<&Map<String, Value>> {
        if matches!(self.state, ArgumentsState::Pending) {
            self.state = match self.started {
                true => ArgumentsState::Malformed,
                false => ArgumentsState::Complete(Map::new()),
            };
        }
        self.complete()
    }
}

// --- the stream encoder ----------------------------------------------------------------------

/// The stream encoder: one `GenerateContentResponse` per text or thought delta, a call once
/// its arguments are complete (Gemini sends `args` whole), and a last response with the
/// finish reason, the usage and the calls still open.
#[derive(Debug)]
pub struct GenAiEncoder {
    framing: Framing,
    frame: ResponseFrame,
    /// Responses written so far (the array framing separates them with commas).
    written: usize,
    /// The calls by index, until sent.
    calls: Vec<Option<StreamedCall>>,
    /// The thinking block being streamed; a signature seals it.
    thinking: Option<ThinkingBlock>,
    /// A sealed block's `thoughtSignature`, waiting for the next non-thought part.
    sealed: Option<String>,
}

#[derive(Debug)]
struct StreamedCall {
    id: String,
    name: String,
    arguments: CallArguments,
    sent: bool,
}

#[derive(Debug, Default)]
struct ThinkingBlock {
    text: String,
    signature: Option<String>,
}

/// The encoder of a streamed answer.
pub fn encoder(meta: &ResponseMeta, framing: Framing) -> GenAiEncoder {
    GenAiEncoder {
        framing,
        frame: ResponseFrame::new(meta),
        written: 0,
        calls: Vec::new(),
        thinking: None,
        sealed: None,
    }
}

impl GenAiEncoder {
    fn open_response(&mut self, out: &mut Vec<u8>) {
        match self.framing {
            Framing::Sse => out.extend_from_slice(b"data: "),
            Framing::JsonArray if self.written > 0 => out.extend_from_slice(b",\r\n"),
            Framing::JsonArray => {}
        }
        self.written += 1;
    }

    fn close_response(&self, out: &mut Vec<u8>) {
        if self.framing == Framing::Sse {
            out.extend_from_slice(b"\n\n");
        }
    }

    fn respond(&mut self, out: &mut Vec<u8>, parts: &Parts) {
        self.open_response(out);
        self.frame.chunk(out, &parts.json);
        self.close_response(out);
    }

    /// A signed block is over once anything but its signature follows: its signature waits
    /// for the next part (one already waiting goes out on its own first).
    fn seal(&mut self, out: &mut Vec<u8>) {
        if let Some(ThinkingBlock {
            text,
            signature: Some(signature),
        }) = self.thinking.take_if(|block| block.signature.is_some())
        {
            self.flush_sealed(out);
            self.sealed = Some(thought_signature(&text, &signature));
        }
    }

    fn flush_sealed(&mut self, out: &mut Vec<u8>) {
        if self.sealed.is_some() {
            let mut parts = Parts::single(self.sealed.take());
            parts.flush_sealed();
            self.respond(out, &parts);
        }
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        self.seal(out);
        self.thinking = None;
        if text.is_empty() {
            return;
        }
        let mut parts = Parts::single(self.sealed.take());
        parts.text(text);
        self.respond(out, &parts);
    }

    fn thought(&mut self, out: &mut Vec<u8>, text: &str) {
        self.seal(out);
        self.thinking
            .get_or_insert_with(ThinkingBlock::default)
            .text
            .push_str(text);
        if text.is_empty() {
            return;
        }
        self.flush_sealed(out);
        let mut parts = Parts::default();
        parts.thought(text);
        self.respond(out, &parts);
    }

    fn signature(&mut self, signature: &str) {
        if signature.is_empty() {
            return;
        }
        self.thinking
            .get_or_insert_with(ThinkingBlock::default)
            .signature
            .get_or_insert_with(String::new)
            .push_str(signature);
    }

    fn call_start(&mut self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        self.seal(out);
        self.thinking = None;
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, || None);
        }
        self.calls[index] = Some(StreamedCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: CallArguments::default(),
            sent: false,
        });
    }

    fn call_arguments(&mut self, out: &mut Vec<u8>, index: usize, fragment: &str) {
        self.seal(out);
        let Some(Some(call)) = self.calls.get_mut(index) else {
            return;
        };
        if call.sent {
            return;
        }
        call.arguments.push(fragment);
        let Some(args) = call.arguments.complete() else {
            return;
        };
        let mut parts = Parts::single(self.sealed.take());
        parts.call(&call.id, &call.name, args);
        call.sent = true;
        self.respond(out, &parts);
    }
}

impl Encoder for GenAiEncoder {
    fn content_type(&self) -> &'static str {
        match self.framing {
            Framing::Sse => crate::translate::EVENT_STREAM,
            Framing::JsonArray => "application/json",
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.framing == Framing::JsonArray {
            out.push(b'[');
        }
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(text) => self.text(out, text),
            Event::ThinkingDelta(text) => self.thought(out, text),
            Event::ThinkingSignature(signature) => self.signature(signature),
            Event::ToolCallStart { index, id, name } => self.call_start(out, *index, id, name),
            Event::ToolCallArguments { index, fragment } => {
                self.call_arguments(out, *index, fragment)
            }
            Event::Finish(_) | Event::Usage(_) | Event::Error(_) => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.seal(out);
        let mut parts = Parts::single(self.sealed.take());
        let mut malformed = Vec::new();
        for call in self.calls.iter_mut().flatten().filter(|call| !call.sent) {
            match call.arguments.finish() {
                Some(args) => parts.call(&call.id, &call.name, args),
                None => malformed.push(call.name.clone()),
            }
            call.sent = true;
        }
        parts.flush_sealed();
        if parts.count == 0 {
            parts.empty_text();
        }
        self.open_response(out);
        let ending = Ending::new(finish, &malformed);
        self.frame.last(out, &parts.json, &ending, &usage);
        self.close_response(out);
        if self.framing == Framing::JsonArray {
            out.push(b']');
        }
    }

    /// The error as the API sends one mid-stream: `{"error": {...}}` in place of a response
    /// (the Python SDK raises it as an `APIError`); the array is then closed.
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        self.open_response(out);
        out.extend_from_slice(&error_json(error));
        self.close_response(out);
        if self.framing == Framing::JsonArray {
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        canonical_events, meta, relay, split, sse_payloads, ANTHROPIC_STREAM, OPENAI_STREAM,
    };
    use crate::translate::StreamTranslation;
    use crate::upstream::{anthropic, openai_native};
    use proptest::prelude::*;

    fn read(body: Value) -> Conversation {
        read_request(body.to_string().as_bytes(), "gemini-2.5-pro", false)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn refused(body: Value) -> ApiError {
        read_request(body.to_string().as_bytes(), "m", false).unwrap_err()
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    fn result(call_id: &str, content: &str) -> Part {
        Part::ToolResult {
            call_id: call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }

    // --- reading -------------------------------------------------------------------------

    #[test]
    fn contents_of_every_shape_are_read() {
        let conversation = read(json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "French."}]},
            "contents": [
                {"parts": [{"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBO-_w=="}},
                    {"inlineData": {"mimeType": "text/plain; charset=utf-8", "data": "aGVsbG8="}},
                    {"fileData": {"fileUri": "https://example.org/cat.jpg"}},
                    {"fileData": {"fileUri": "https://example.org/cat", "mimeType": "image/jpeg"}}]},
                {"role": "model", "parts": [
                    {"text": "Hmm.", "thought": true},
                    {"text": "Checking."},
                    {"functionCall": {"id": "toolu_1", "name": "look", "args": {"at": "cat"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "toolu_1", "name": "look", "response": {"output": "a cat"}}}]},
            ]
        }));
        assert_eq!(conversation.origin, Dialect::GoogleGenAi);
        assert_eq!(
            conversation.messages,
            vec![
                Message::new(
                    Role::System,
                    vec![Part::Text("Be brief.".into()), Part::Text("French.".into())]
                ),
                Message::new(
                    Role::User,
                    vec![
                        Part::Text("What is this?".into()),
                        Part::Image {
                            url: "data:image/png;base64,iVBO+/w==".into(),
                            detail: None
                        },
                        Part::Text("hello".into()),
                        Part::Image {
                            url: "https://example.org/cat.jpg".into(),
                            detail: None
                        },
                        Part::Image {
                            url: "https://example.org/cat".into(),
                            detail: None
                        },
                    ]
                ),
                Message::new(
                    Role::Assistant,
                    vec![
                        Part::Thinking {
                            text: "Hmm.".into(),
                            signature: None
                        },
                        Part::Text("Checking.".into()),
                        Part::tool_call("toolu_1", "look", r#"{"at":"cat"}"#),
                    ]
                ),
                Message::new(Role::Tool, vec![result("toolu_1", "a cat")]),
            ]
        );
        assert!(conversation.include_usage && !conversation.stream);
        assert!(conversation.extra.is_empty() && conversation.tools.is_empty());
        let streamed = read_request(
            json!({"contents": [user("hi")]}).to_string().as_bytes(),
            "m",
            true,
        )
        .unwrap();
        assert!(streamed.stream);
    }

    #[test]
    fn snake_case_keys_as_the_python_sdk_sends_them_are_read() {
        let conversation = read(json!({
            "system_instruction": "Be brief.",
            "contents": [
                {"role": "user", "parts": [{"inline_data": {"mime_type": "image/jpeg", "data": "AAAA"}}]},
                {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"a": 1}}}]},
                {"role": "user", "parts": [{"function_response": {"name": "f", "response": {"result": 2}}}]},
            ],
            "tools": [{"function_declarations": [{"name": "f", "parameters": {
                "type": "OBJECT", "properties": {"a": {"type": "INTEGER", "max_items": "3"}},
                "property_ordering": ["a"]}}]}],
            "tool_config": {"function_calling_config": {"mode": "any", "allowed_function_names": ["f"]}},
            "generation_config": {"max_output_tokens": 100, "top_p": 0.5, "stop_sequences": ["END"],
                "thinking_config": {"thinking_budget": 1024, "include_thoughts": true}},
        }));
        assert_eq!(
            conversation.messages,
            vec![
                Message::text(Role::System, "Be brief."),
                Message::new(
                    Role::User,
                    vec![Part::Image {
                        url: "data:image/jpeg;base64,AAAA".into(),
                        detail: None
                    }]
                ),
                Message::new(
                    Role::Assistant,
                    vec![Part::tool_call("call_1_0", "f", r#"{"a":1}"#)]
                ),
                Message::new(Role::Tool, vec![result("call_1_0", "2")]),
            ]
        );
        assert_eq!(
            conversation.tools[0].parameters,
            json!({"type": "object", "properties": {"a": {"type": "integer", "maxItems": 3}}})
        );
        assert_eq!(
            conversation.tool_choice,
            Some(ToolChoice::Named("f".into()))
        );
        assert_eq!(conversation.max_tokens, Some(100));
        assert_eq!(conversation.top_p, Some(0.5));
        assert_eq!(conversation.stop, ["END"]);
        assert_eq!(conversation.reasoning_effort.as_deref(), Some("low"));
    }

    #[test]
    fn calls_without_ids_take_their_position_and_responses_pair_by_name_in_order() {
        let conversation = read(json!({"contents": [
            user("Weather in Paris and Rome?"),
            {"role": "model", "parts": [
                {"text": "Checking both."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "24C"}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "14:00"}}}]},
        ]}));
        let calls: Vec<(&str, &str)> = conversation.messages[1]
            .content
            .iter()
            .filter_map(|part| match part {
                Part::ToolCall { id, arguments, .. } => Some((id.as_str(), arguments.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("call_1_1", r#"{"city":"Paris"}"#),
                ("call_1_2", "{}"),
                ("call_1_3", r#"{"city":"Rome"}"#)
            ]
        );
        assert_eq!(
            conversation.messages[2].content,
            vec![
                result("call_1_1", "18C"),
                result("call_1_3", "24C"),
                result("call_1_2", "14:00")
            ]
        );
    }

    #[test]
    fn responses_pair_by_id_first_and_gemini_cli_ids_fall_back_to_names() {
        let conversation = read(json!({"contents": [
            user("go"),
            {"role": "model", "parts": [
                {"functionCall": {"id": "a", "name": "f", "args": {"n": 1}}},
                {"functionCall": {"id": "b", "name": "f", "args": {"n": 2}}},
                {"functionCall": {"name": "read_file", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "b", "name": "f", "response": {"output": "two"}}},
                {"functionResponse": {"id": "read_file-1712345678-9f3a", "name": "read_file", "response": {"output": "text"}}},
                {"functionResponse": {"id": "a", "name": "f", "response": {"output": "one"}}}]},
        ]}));
        assert_eq!(
            conversation.messages[2].content,
            vec![
                result("b", "two"),
                result("call_1_2", "text"),
                result("a", "one")
            ]
        );
    }

    #[test]
    fn thousands_of_calls_pair_with_their_responses_by_id_and_by_name() {
        let count = 20_000;
        let calls: Vec<Value> = (0..count)
            .map(|n| json!({"functionCall": {"id": format!("c{n}"), "name": "f"}}))
            .collect();
        // The even calls answered by id, last first; then the odd ones by name alone.
        let responses: Vec<Value> = (0..count)
            .rev()
            .filter(|n| n % 2 == 0)
            .map(|n| json!({"functionResponse": {"id": format!("c{n}"), "name": "f", "response": {}}}))
            .chain((0..count / 2).map(|_| json!({"functionResponse": {"name": "f", "response": {}}})))
            .collect();
        let conversation = read(json!({"contents": [user("go"),
            {"role": "model", "parts": calls}, {"parts": responses}]}));
        let answered: Vec<&str> = conversation.messages[2]
            .content
            .iter()
            .map(|part| match part {
                Part::ToolResult { call_id, .. } => call_id.as_str(),
                _ => "",
            })
            .collect();
        let expected: Vec<String> = (0..count)
            .rev()
            .filter(|n| n % 2 == 0)
            .chain((0..count).filter(|n| n % 2 == 1))
            .map(|n| format!("c{n}"))
            .collect();
        assert_eq!(answered, expected);
    }

    proptest! {
        /// The awaited calls answer as a list scanned for the first call with the response's
        /// id, else its name, did.
        #[test]
        fn awaited_calls_answer_as_a_scan_of_the_list_did(
            calls in prop::collection::vec((prop::option::of(0u8..3), 0u8..3), 0..8),
            responses in prop::collection::vec((prop::option::of(0u8..4), 0u8..4), 0..10),
        ) {
            let mut awaited = AwaitedCalls::default();
            let mut listed: Vec<(Option<String>, String, String)> = Vec::new();
            for (position, (id, name)) in calls.iter().enumerate() {
                let (id, name) = (id.map(|id| format!("id{id}")), format!("f{name}"));
                awaited.push(id.clone(), format!("hub{position}"), &name);
                listed.push((id, format!("hub{position}"), name));
            }
            for (id, name) in responses {
                let (id, name) = (id.map(|id| format!("id{id}")), format!("f{name}"));
                let by_id = id.as_deref().and_then(|id| {
                    listed.iter().position(|(client_id, ..)| client_id.as_deref() == Some(id))
                });
                let scanned = by_id
                    .or_else(|| listed.iter().position(|(.., listed_name)| *listed_name == name))
                    .map(|position| listed.remove(position).1);
                prop_assert_eq!(awaited.answer(id.as_deref(), &name), scanned);
            }
        }
    }

    #[test]
    fn ids_an_upstream_cannot_take_or_already_used_are_replaced() {
        let conversation = read(json!({"contents": [
            user("go"),
            {"role": "model", "parts": [{"functionCall": {"id": "fn.call/1", "name": "f"}}]},
            {"parts": [{"functionResponse": {"id": "fn.call/1", "name": "f", "response": {}}}]},
            {"role": "model", "parts": [{"functionCall": {"id": "call_3_0", "name": "f"}},
                {"functionCall": {"id": "call_3_0", "name": "f"}}]},
            {"parts": [{"functionResponse": {"id": "call_3_0", "name": "f", "response": {}}},
                {"functionResponse": {"id": "call_3_0", "name": "f", "response": {}}}]},
        ]}));
        let ids: Vec<&str> = conversation
            .messages
            .iter()
            .flat_map(|message| &message.content)
            .map(|part| match part {
                Part::ToolCall { id, .. } => id.as_str(),
                Part::ToolResult { call_id, .. } => call_id.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(
            ids,
            ["", "call_1_0", "call_1_0", "call_3_0", "call_3_1", "call_3_0", "call_3_1"]
        );
    }

    #[test]
    fn a_response_answers_only_an_unanswered_call_of_the_latest_model_turn() {
        for contents in [
            json!([user("hi"), {"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]),
            json!([user("hi"),
                {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                {"parts": [{"functionResponse": {"name": "g", "response": {}}}]}]),
            json!([user("hi"),
                {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                {"parts": [{"functionResponse": {"name": "f", "response": {}}},
                    {"functionResponse": {"name": "f", "response": {}}}]}]),
            json!([user("hi"),
                {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                {"role": "model", "parts": [{"text": "more"}]},
                user("and?"),
                {"role": "model", "parts": [{"text": "done"}]},
                {"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]),
        ] {
            let error = refused(json!({ "contents": contents }));
            assert_eq!(error.status, 400, "{contents}");
            assert!(error.param.unwrap().ends_with(".functionResponse"));
        }
        let late = read(json!({"contents": [user("hi"),
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
            user("wait"),
            {"parts": [{"functionResponse": {"name": "f", "response": {"output": "ok"}}}]}]}));
        assert_eq!(late.messages[3].content, vec![result("call_1_0", "ok")]);
    }

    #[test]
    fn results_come_before_the_user_parts_of_their_content_with_response_images() {
        let conversation = read(json!({"contents": [
            user("Read it"),
            {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {"path": "a.png"}}}]},
            {"role": "user", "parts": [
                {"text": "Here:"},
                {"functionResponse": {"name": "read_file", "response": {"output": "Binary content"},
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}},
                {"inlineData": {"mimeType": "image/gif", "data": "BBBB"}}]},
        ]}));
        assert_eq!(
            conversation.messages[2..],
            [
                Message::new(Role::Tool, vec![result("call_1_0", "Binary content")]),
                Message::new(
                    Role::User,
                    vec![
                        Part::Text("Here:".into()),
                        Part::Image {
                            url: "data:image/png;base64,AAAA".into(),
                            detail: None
                        },
                        Part::Image {
                            url: "data:image/gif;base64,BBBB".into(),
                            detail: None
                        },
                    ]
                ),
            ]
        );
    }

    #[test]
    fn function_responses_become_result_text() {
        for (response, content, is_error) in [
            (json!({"output": "18C"}), "18C", false),
            (json!({"output": {"temp": 18}}), r#"{"temp":18}"#, false),
            (json!({"error": "no such city"}), "no such city", true),
            (
                json!({"error": "x", "output": ""}),
                r#"{"error":"x","output":""}"#,
                true,
            ),
            (json!({"result": [1, 2]}), "[1,2]", false),
            (
                json!({"result": 1, "unit": "C"}),
                r#"{"result":1,"unit":"C"}"#,
                false,
            ),
            (json!({"temp": 18}), r#"{"temp":18}"#, false),
            (json!("plain"), "plain", false),
            (Value::Null, "", false),
        ] {
            assert_eq!(
                result_content(Some(&response)),
                (content.to_string(), is_error),
                "{response}"
            );
        }
    }

    #[test]
    fn a_streamed_answer_recorded_one_content_per_chunk_is_one_turn() {
        let signature = thought_signature("Let me think.", "sig_1");
        let url_safe = signature.replace('+', "-").replace('/', "_");
        let conversation = read(json!({"contents": [
            user("hi"),
            {"role": "model", "parts": [{"text": "Let me ", "thought": true}]},
            {"role": "model", "parts": [{"text": "think.", "thought": true}]},
            {"role": "model", "parts": [{"text": "Hel", "thoughtSignature": url_safe}]},
            {"role": "model", "parts": [{"text": "lo"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "model", "parts": [{"text": ""}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        ]}));
        assert_eq!(
            conversation.messages[1].content,
            vec![
                Part::Thinking {
                    text: "Let me think.".into(),
                    signature: Some("sig_1".into())
                },
                Part::Text("Hello".into()),
                Part::tool_call("call_5_0", "f", "{}"),
            ]
        );
        assert_eq!(conversation.messages.len(), 3);
    }

    #[test]
    fn thought_signatures_carry_thinking_and_foreign_ones_are_ignored() {
        let signature = thought_signature("Weigh it.\n\"quoted\" 🌦️", "EvUB+Cl0/A==");
        assert!(STANDARD.decode(&signature).is_ok(), "plain base64");
        let opened = open_thought_signature(&signature).unwrap();
        assert_eq!(opened.thinking, "Weigh it.\n\"quoted\" 🌦️");
        assert_eq!(opened.signature, "EvUB+Cl0/A==");
        let unpadded = signature
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        assert_eq!(open_thought_signature(&unpadded), Some(opened));
        for foreign in ["skip_thought_signature_validator", "CiQBcsjafQ==", "", "!!"] {
            assert_eq!(open_thought_signature(foreign), None);
        }
        let conversation = read(json!({"contents": [user("hi"), {"role": "model", "parts": [
            {"text": "Thought.", "thought": true, "thoughtSignature": "CiQBcsjafQ=="},
            {"functionCall": {"name": "f"}, "thoughtSignature": "skip_thought_signature_validator"}]}]}));
        assert_eq!(
            conversation.messages[1].content,
            vec![
                Part::Thinking {
                    text: "Thought.".into(),
                    signature: None
                },
                Part::tool_call("call_1_1", "f", "{}")
            ]
        );
    }

    #[test]
    fn gemini_cli_history_without_thoughts_keeps_signed_thinking() {
        let signed = thought_signature("Need the weather.", "sig_w");
        let conversation = read(json!({"contents": [
            user("Weather?"),
            {"role": "model", "parts": [
                {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": signed}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "toolu_1", "name": "get_weather",
                "response": {"output": "18C"}}}]},
        ]}));
        assert_eq!(
            conversation.messages[1].content,
            vec![
                Part::Thinking {
                    text: "Need the weather.".into(),
                    signature: Some("sig_w".into())
                },
                Part::tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
            ]
        );
    }

    #[test]
    fn google_schemas_become_json_schema() {
        let conversation = read(json!({"contents": [user("hi")], "tools": [
            {"functionDeclarations": [{
                "name": "search", "description": "Search the docs",
                "parameters": {"type": "OBJECT", "required": ["query"], "propertyOrdering": ["query", "limit"],
                    "properties": {
                        "query": {"type": "STRING", "description": "Words", "example": "pingora"},
                        "limit": {"type": "INTEGER", "format": "int32", "nullable": true, "minimum": 1},
                        "mode": {"type": "STRING", "format": "enum", "enum": ["fast", "deep"]},
                        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1"},
                        "filter": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "nullable": true},
                        "kind": {"type": "TYPE_UNSPECIFIED"}}}}]},
            {"functionDeclarations": [
                {"name": "fetch", "parametersJsonSchema": {"type": "object",
                    "properties": {"url": {"type": ["string", "null"]}}, "additionalProperties": false}},
                {"name": "now"}]},
        ]}));
        assert_eq!(
            conversation.tools,
            vec![
                ToolDef {
                    name: "search".into(),
                    description: Some("Search the docs".into()),
                    parameters: json!({"type": "object", "required": ["query"], "properties": {
                        "query": {"type": "string", "description": "Words", "examples": ["pingora"]},
                        "limit": {"type": ["integer", "null"], "format": "int32", "minimum": 1},
                        "mode": {"type": "string", "enum": ["fast", "deep"]},
                        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "filter": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
                        "kind": {}}}),
                    strict: None,
                },
                ToolDef {
                    name: "fetch".into(),
                    description: None,
                    parameters: json!({"type": "object", "properties": {"url": {"type": ["string", "null"]}},
                        "additionalProperties": false}),
                    strict: None,
                },
                ToolDef {
                    name: "now".into(),
                    description: None,
                    parameters: Value::Null,
                    strict: None,
                },
            ]
        );
        assert_eq!(
            json_schema(
                &json!({"type": "OBJECT", "defs": {"Pet": {"type": "STRING"}},
                    "properties": {"pet": {"ref": "#/defs/Pet"}}, "additional_properties": {"type": "BOOLEAN"}}),
                "p"
            )
            .unwrap(),
            json!({"type": "object", "$defs": {"Pet": {"type": "string"}},
                "properties": {"pet": {"$ref": "#/$defs/Pet"}}, "additionalProperties": {"type": "boolean"}})
        );
    }

    #[test]
    fn function_calling_modes_become_tool_choices() {
        let tools =
            json!([{"functionDeclarations": [{"name": "f"}, {"name": "g"}, {"name": "h"}]}]);
        let read_with = |config: Value| {
            let conversation = read(
                json!({"contents": [user("hi")], "tools": tools, "toolConfig": {"functionCallingConfig": config}}),
            );
            let names: Vec<String> = conversation
                .tools
                .iter()
                .map(|tool| tool.name.clone())
                .collect();
            (conversation.tool_choice, names)
        };
        let all = vec!["f".to_string(), "g".into(), "h".into()];
        assert_eq!(
            read_with(json!({"mode": "AUTO"})),
            (Some(ToolChoice::Auto), all.clone())
        );
        assert_eq!(
            read_with(json!({"mode": "NONE"})),
            (Some(ToolChoice::None), all.clone())
        );
        assert_eq!(
            read_with(json!({"mode": "ANY"})),
            (Some(ToolChoice::Required), all.clone())
        );
        assert_eq!(
            read_with(json!({"mode": "VALIDATED"})),
            (Some(ToolChoice::Auto), all.clone())
        );
        assert_eq!(
            read_with(json!({"mode": "ANY", "allowedFunctionNames": ["g"]})),
            (Some(ToolChoice::Named("g".into())), vec!["g".to_string()])
        );
        assert_eq!(
            read_with(json!({"mode": "ANY", "allowedFunctionNames": ["h", "f"]})),
            (
                Some(ToolChoice::Required),
                vec!["f".to_string(), "h".into()]
            )
        );
        assert_eq!(read_with(json!({})), (Some(ToolChoice::Auto), all));
        let bare = read(json!({"contents": [user("hi")], "tools": tools}));
        assert_eq!(bare.tool_choice, None);
        for (config, param) in [
            (
                json!({"mode": "ANY", "allowedFunctionNames": ["zz"]}),
                "toolConfig.functionCallingConfig.allowedFunctionNames",
            ),
            (
                json!({"mode": "SOMETIMES"}),
                "toolConfig.functionCallingConfig.mode",
            ),
        ] {
            let error = refused(json!({"contents": [user("hi")], "tools": tools,
                "toolConfig": {"functionCallingConfig": config}}));
            assert_eq!(error.param.as_deref(), Some(param));
        }
        let error = refused(
            json!({"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
        );
        assert_eq!(
            error.param.as_deref(),
            Some("toolConfig.functionCallingConfig.mode")
        );
    }

    #[test]
    fn generation_config_fills_the_sampling_slots() {
        let conversation = read(json!({"contents": [user("hi")], "generationConfig": {
            "maxOutputTokens": 512, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END", "STOP"],
            "candidateCount": 1, "responseModalities": ["TEXT"], "topK": 40, "seed": 7,
            "presencePenalty": 0.5, "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT"}, "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": true}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "labels": {"team": "x"}}));
        assert_eq!(conversation.max_tokens, Some(512));
        assert_eq!(
            (conversation.temperature, conversation.top_p),
            (Some(0.2), Some(0.9))
        );
        assert_eq!(conversation.stop, ["END", "STOP"]);
        assert_eq!(conversation.reasoning_effort.as_deref(), Some("high"));
        assert!(conversation.extra.is_empty());
        let effort = |thinking: Value| {
            read(
                json!({"contents": [user("hi")], "generationConfig": {"thinkingConfig": thinking}}),
            )
            .reasoning_effort
        };
        for (thinking, expected) in [
            (json!({"thinkingBudget": 0}), Some("none")),
            (json!({"thinkingBudget": -1}), None),
            (json!({"thinkingBudget": 1}), Some("low")),
            (json!({"thinkingBudget": 1024}), Some("low")),
            (json!({"thinkingBudget": 1025}), Some("medium")),
            (json!({"thinkingBudget": 8192}), Some("medium")),
            (json!({"thinkingBudget": "24576"}), Some("high")),
            (json!({"thinkingLevel": "minimal"}), Some("minimal")),
            (json!({"thinkingLevel": "LOW"}), Some("low")),
            (json!({"thinkingLevel": "THINKING_LEVEL_UNSPECIFIED"}), None),
            (json!({"includeThoughts": true}), None),
        ] {
            assert_eq!(effort(thinking.clone()).as_deref(), expected, "{thinking}");
        }
    }

    #[test]
    fn what_cannot_be_served_is_refused_naming_the_field() {
        let contents = json!([user("hi")]);
        for (body, param) in [
            (json!({"contents": []}), "contents"),
            (json!({"systemInstruction": "x"}), "contents"),
            (
                json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
                "contents[0].role",
            ),
            (
                json!({"contents": [{"parts": [{}]}]}),
                "contents[0].parts[0]",
            ),
            (
                json!({"contents": [{"parts": [{"text": 1}]}]}),
                "contents[0].parts[0].text",
            ),
            (
                json!({"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}),
                "contents[0].parts[0].executableCode",
            ),
            (
                json!({"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AAAA"}}]}]}),
                "contents[0].parts[0].inlineData.mimeType",
            ),
            (
                json!({"contents": [{"parts": [{"inlineData": {"mimeType": "text/plain", "data": "@@"}}]}]}),
                "contents[0].parts[0].inlineData.data",
            ),
            (
                json!({"contents": [{"parts": [{"fileData": {"fileUri": "gs://bucket/cat.png"}}]}]}),
                "contents[0].parts[0].fileData.fileUri",
            ),
            (
                json!({"contents": [{"parts": [{"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mimeType": "image/png"}}]}]}),
                "contents[0].parts[0].fileData.fileUri",
            ),
            (
                json!({"contents": [{"parts": [{"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}}]}]}),
                "contents[0].parts[0].fileData.mimeType",
            ),
            (
                json!({"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]}),
                "contents[0].parts[0].functionCall",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]}),
                "contents[0].parts[0].inlineData",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]}),
                "contents[0].parts[0].functionCall.name",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}),
                "contents[0].parts[0].functionCall.args",
            ),
            (
                json!({"contents": contents, "cachedContent": "cachedContents/abc"}),
                "cachedContent",
            ),
            (
                json!({"contents": contents, "tools": [{"googleSearch": {}}]}),
                "tools[0].googleSearch",
            ),
            (
                json!({"contents": contents, "tools": [{"codeExecution": {}}]}),
                "tools[0].codeExecution",
            ),
            (
                json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}], "urlContext": {}}]}),
                "tools[0].urlContext",
            ),
            (
                json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "mcp.search"}]}]}),
                "tools[0].functionDeclarations[0].name",
            ),
            (
                json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}]}, {"functionDeclarations": [{"name": "f"}]}]}),
                "tools[1].functionDeclarations[0].name",
            ),
            (
                json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}]}),
                "tools[0].functionDeclarations[0].parametersJsonSchema",
            ),
            (
                json!({"contents": contents, "generationConfig": {"candidateCount": 2}}),
                "generationConfig.candidateCount",
            ),
            (
                json!({"contents": contents, "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),
                "generationConfig.responseModalities",
            ),
            (
                json!({"contents": contents, "generationConfig": {"speechConfig": {}}}),
                "generationConfig.speechConfig",
            ),
            (
                json!({"contents": contents, "generationConfig": {"responseLogprobs": true}}),
                "generationConfig.responseLogprobs",
            ),
            (
                json!({"contents": contents, "generationConfig": {"temperature": 3}}),
                "generationConfig.temperature",
            ),
            (
                json!({"contents": contents, "generationConfig": {"topP": -0.1}}),
                "generationConfig.topP",
            ),
            (
                json!({"contents": contents, "generationConfig": {"maxOutputTokens": 0}}),
                "generationConfig.maxOutputTokens",
            ),
            (
                json!({"contents": contents, "generationConfig": {"stopSequences": "END"}}),
                "generationConfig.stopSequences",
            ),
            (
                json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}}}),
                "generationConfig.thinkingConfig.thinkingBudget",
            ),
            (
                json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}}),
                "generationConfig.thinkingConfig.thinkingBudget",
            ),
            (
                json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}}),
                "generationConfig.thinkingConfig.thinkingLevel",
            ),
        ] {
            let error = refused(body.clone());
            assert_eq!(
                (error.status, error.param.as_deref()),
                (400, Some(param)),
                "{body}"
            );
        }
        for body in [&b"[1]"[..], b"{", b""] {
            let error = read_request(body, "m", false).unwrap_err();
            assert_eq!(error.status, 400);
        }
        let googled = refused(json!({"contents": contents, "tools": [{"googleSearch": {}}]}));
        assert!(
            googled.message.contains("googleSearch"),
            "{}",
            googled.message
        );
    }

    #[test]
    fn count_tokens_bodies_are_read_either_way() {
        let plain = read_count_tokens_request(
            json!({"contents": [user("hello world")]})
                .to_string()
                .as_bytes(),
            "m",
        )
        .unwrap();
        assert_eq!(
            plain.messages,
            vec![Message::text(Role::User, "hello world")]
        );
        let nested = read_count_tokens_request(
            json!({"generateContentRequest": {"model": "models/m", "contents": [user("hi")],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "tools": [{"functionDeclarations": [{"name": "f"}]}]}})
            .to_string()
            .as_bytes(),
            "m",
        )
        .unwrap();
        assert_eq!(nested.messages.len(), 2);
        assert_eq!(nested.tools.len(), 1);
        for (body, param) in [
            (
                json!({"contents": [user("a")], "generateContentRequest": {"contents": [user("b")]}}),
                "generateContentRequest",
            ),
            (json!({}), "contents"),
            (
                json!({"generateContentRequest": {"contents": []}}),
                "generateContentRequest.contents",
            ),
            (
                json!({"generateContentRequest": {"contents": [user("b")], "cachedContent": "c"}}),
                "generateContentRequest.cachedContent",
            ),
        ] {
            let error = read_count_tokens_request(body.to_string().as_bytes(), "m").unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
        }
        assert_eq!(count_tokens_json(42), br#"{"totalTokens":42}"#);
    }

    // --- answers -------------------------------------------------------------------------

    fn answer(content: Vec<Part>, finish: Finish) -> Value {
        let answer = Answer {
            content,
            finish,
            usage: None,
        };
        serde_json::from_slice(&answer_json(&answer, &meta(), &Usage::new(10, 5))).unwrap()
    }

    #[test]
    fn answers_render_as_generate_content_responses() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cached_input_tokens: Some(4),
        };
        let whole = Answer {
            content: vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Let me ".into()),
                Part::Text("check.".into()),
                Part::tool_call("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                Part::tool_call("toolu_2", "now", ""),
            ],
            finish: Finish::ToolCalls,
            usage: None,
        };
        let json: Value = serde_json::from_slice(&answer_json(&whole, &meta(), &usage)).unwrap();
        assert_eq!(
            json,
            json!({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "Hmm.", "thought": true},
                    {"text": "Let me ", "thoughtSignature": thought_signature("Hmm.", "sig")},
                    {"text": "check."},
                    {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"id": "toolu_2", "name": "now", "args": {}}}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                    "totalTokenCount": 15, "cachedContentTokenCount": 4},
                "modelVersion": "claude-sonnet-4.6", "responseId": "chatcmpl-gw123"})
        );
    }

    #[test]
    fn each_finish_reads_as_gemini_says_it() {
        for (finish, reason) in [
            (Finish::Stop, "STOP"),
            (Finish::ToolCalls, "STOP"),
            (Finish::Length, "MAX_TOKENS"),
            (Finish::ContentFilter, "SAFETY"),
        ] {
            let json = answer(vec![Part::Text("x".into())], finish);
            assert_eq!(json["candidates"][0]["finishReason"], reason);
            assert!(json["candidates"][0].get("finishMessage").is_none());
            assert!(json["usageMetadata"]
                .get("cachedContentTokenCount")
                .is_none());
        }
        let empty = answer(Vec::new(), Finish::Length);
        assert_eq!(
            empty["candidates"][0]["content"]["parts"],
            json!([{"text": ""}])
        );
    }

    #[test]
    fn calls_whose_arguments_are_no_object_are_dropped_and_reported() {
        let cut = vec![
            Part::Text("Writing.".into()),
            Part::tool_call(
                "toolu_1",
                "write_file",
                r#"{"path": "a.txt", "content": "hal"#,
            ),
            Part::tool_call("toolu_2", "now", "{} trailing text"),
        ];
        let stopped = answer(cut.clone(), Finish::ToolCalls);
        let candidate = &stopped["candidates"][0];
        assert_eq!(candidate["finishReason"], "MALFORMED_FUNCTION_CALL");
        assert!(candidate["finishMessage"]
            .as_str()
            .unwrap()
            .contains("`write_file`"));
        assert_eq!(
            candidate["content"]["parts"],
            json!([{"text": "Writing."}, {"functionCall": {"id": "toolu_2", "name": "now", "args": {}}}])
        );
        assert_eq!(
            answer(cut, Finish::Length)["candidates"][0]["finishReason"],
            "MAX_TOKENS"
        );
        for arguments in ["[1, 2]", "\"text\"", "nul", "{\"a\": 1"] {
            assert_eq!(CallArguments::whole(arguments), None, "{arguments}");
        }
    }

    #[test]
    fn signatures_go_on_the_next_part_or_stand_alone() {
        let signed = |text: &str, sig: &str| Part::Thinking {
            text: text.into(),
            signature: Some(sig.into()),
        };
        let json = answer(
            vec![
                signed("A.", "s1"),
                signed("B.", "s2"),
                Part::tool_call("c", "f", "{}"),
                signed("", "s3"),
            ],
            Finish::Stop,
        );
        assert_eq!(
            json["candidates"][0]["content"]["parts"],
            json!([
                {"text": "A.", "thought": true},
                {"text": "", "thought": true, "thoughtSignature": thought_signature("A.", "s1")},
                {"text": "B.", "thought": true},
                {"functionCall": {"id": "c", "name": "f", "args": {}}, "thoughtSignature": thought_signature("B.", "s2")},
                {"text": "", "thought": true, "thoughtSignature": thought_signature("", "s3")},
            ])
        );
    }

    #[test]
    fn call_arguments_complete_when_their_first_object_closes() {
        let mut arguments = CallArguments::default();
        for fragment in ["  {\"a\": \"}", "\\\"{\", \"b\": [1, {\"c\"", ": 2}]"] {
            arguments.push(fragment);
            assert!(arguments.complete().is_none());
        }
        arguments.push("}");
        assert_eq!(
            arguments.complete(),
            json!({"a": "}\"{", "b": [1, {"c": 2}]}).as_object()
        );
        arguments.push("garbage");
        assert!(arguments.complete().is_some());
        assert_eq!(CallArguments::whole(" \n"), Some(Map::new()));
        assert_eq!(CallArguments::whole("{\"a\": [}"), None);
        assert_eq!(CallArguments::whole("x{}"), None);
    }

    // --- errors --------------------------------------------------------------------------

    #[test]
    fn errors_take_googles_envelope() {
        let json: Value = serde_json::from_slice(&error_json(&ApiError::invalid(
            "contents[0].parts[0]",
            "A part needs text",
        )))
        .unwrap();
        assert_eq!(
            json,
            json!({"error": {"code": 400, "message": "A part needs text", "status": "INVALID_ARGUMENT",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_REQUEST_ERROR", "domain": "argo-bridge"},
                    {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                        {"field": "contents[0].parts[0]", "description": "A part needs text"}]}]}})
        );
        let mut limited = ApiError::rate_limited("slow down");
        limited.retry_after = Some("7".into());
        let json: Value = serde_json::from_slice(&error_json(&limited)).unwrap();
        assert_eq!(json["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(json["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(
            json["error"]["details"][1],
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"})
        );
        for (status, name) in [
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (405, "INVALID_ARGUMENT"),
            (413, "INVALID_ARGUMENT"),
            (500, "INTERNAL"),
            (502, "UNAVAILABLE"),
            (503, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            let json: Value =
                serde_json::from_slice(&error_json(&ApiError::new(status, "x", "m"))).unwrap();
            assert_eq!(
                (
                    json["error"]["code"].as_u64(),
                    json["error"]["status"].as_str()
                ),
                (Some(status as u64), Some(name))
            );
        }
    }

    #[test]
    fn a_mid_stream_error_is_the_last_response() {
        for framing in [Framing::Sse, Framing::JsonArray] {
            let mut encoder = encoder(&meta(), framing);
            let mut out = Vec::new();
            encoder.start(&mut out);
            encoder.event(&mut out, &Event::TextDelta("Hi".into()));
            encoder.error(&mut out, &ApiError::gateway_timeout("Argo went quiet"));
            let responses = responses(&out, framing);
            assert_eq!(responses.len(), 2);
            assert_eq!(
                responses[0]["candidates"][0]["content"]["parts"][0]["text"],
                "Hi"
            );
            let error = &responses[1];
            assert_eq!(
                error.as_object().map(Map::len),
                Some(1),
                "only `error`: {error}"
            );
            assert_eq!(error["error"]["code"], 504);
            assert_eq!(error["error"]["status"], "DEADLINE_EXCEEDED");
        }
        let mut encoder = encoder(&meta(), Framing::Sse);
        let mut out = Vec::new();
        encoder.error(&mut out, &ApiError::bad_gateway("cut"));
        assert!(
            out.starts_with(b"data: {\"error\":"),
            "the Python SDK looks for this"
        );
    }

    // --- streams -------------------------------------------------------------------------

    fn responses(out: &[u8], framing: Framing) -> Vec<Value> {
        match framing {
            Framing::Sse => sse_payloads(out),
            Framing::JsonArray => serde_json::from_slice(out)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out))),
        }
    }

    fn encode(events: &[Event], framing: Framing, finish: Finish) -> Vec<u8> {
        let mut encoder = encoder(&meta(), framing);
        let mut out = Vec::new();
        encoder.start(&mut out);
        for event in events {
            encoder.event(&mut out, event);
        }
        Encoder::finish(&mut encoder, &mut out, finish, Usage::new(3, 4));
        out
    }

    /// What a valid stream carries, checked response by response.
    #[derive(Debug, Default, PartialEq)]
    struct Streamed {
        text: String,
        thoughts: String,
        signed: Vec<SignedThinking>,
        /// `(id, name, args)` in the order sent.
        calls: Vec<(String, String, Value)>,
        finish_reason: String,
        usage: Value,
    }

    fn check_stream(responses: &[Value]) -> Streamed {
        let mut streamed = Streamed::default();
        let (last, chunks) = responses.split_last().expect("a last response");
        for response in responses {
            assert_eq!(response["modelVersion"], "claude-sonnet-4.6");
            assert_eq!(response["responseId"], "chatcmpl-gw123");
            let candidates = response["candidates"].as_array().expect("candidates");
            assert_eq!(candidates.len(), 1);
            assert_eq!(candidates[0]["index"], 0);
            assert_eq!(candidates[0]["content"]["role"], "model");
            let parts = candidates[0]["content"]["parts"].as_array().expect("parts");
            assert!(!parts.is_empty(), "every response has a part: {response}");
            for part in parts {
                read_streamed_part(part, &mut streamed, std::ptr::eq(response, last));
            }
        }
        for chunk in chunks {
            assert!(chunk["candidates"][0].get("finishReason").is_none());
            assert!(chunk.get("usageMetadata").is_none());
        }
        streamed.finish_reason = last["candidates"][0]["finishReason"]
            .as_str()
            .expect("a finish reason")
            .into();
        streamed.usage = last["usageMetadata"].clone();
        streamed
    }

    fn read_streamed_part(part: &Value, streamed: &mut Streamed, in_last: bool) {
        if let Some(signature) = part["thoughtSignature"].as_str() {
            streamed
                .signed
                .push(open_thought_signature(signature).expect("a gateway signature"));
        }
        if let Some(call) = part.get("functionCall") {
            assert!(part.get("text").is_none());
            assert!(call["args"].is_object());
            streamed.calls.push((
                call["id"].as_str().unwrap().into(),
                call["name"].as_str().unwrap().into(),
                call["args"].clone(),
            ));
            return;
        }
        let text = part["text"].as_str().expect("a text or call part");
        if part["thought"] == true {
            streamed.thoughts.push_str(text);
        } else {
            assert!(
                !text.is_empty() || in_last,
                "no empty text but the closing one"
            );
            streamed.text.push_str(text);
        }
    }

    /// The stream's parts recorded as the Python SDK records them (a content per response)
    /// and read back: the assistant turn.
    fn read_back(responses: &[Value]) -> Vec<Part> {
        let mut contents = vec![user("hi")];
        contents.extend(
            responses
                .iter()
                .map(|response| response["candidates"][0]["content"].clone()),
        );
        let conversation = read(json!({ "contents": contents }));
        conversation
            .messages
            .into_iter()
            .nth(1)
            .map(|message| message.content)
            .unwrap_or_default()
    }

    /// What the encoder should send for `events`: signed blocks end at anything but their
    /// signature, calls are whole.
    fn expected(events: &[Event]) -> (Streamed, usize) {
        let mut streamed = Streamed::default();
        let mut block: Option<(String, Option<String>)> = None;
        let mut calls: Vec<(String, String, String)> = Vec::new();
        let seal = |block: &mut Option<(String, Option<String>)>,
                    signed: &mut Vec<SignedThinking>| {
            if let Some((thinking, Some(signature))) = block.take_if(|(_, sig)| sig.is_some()) {
                signed.push(SignedThinking {
                    thinking,
                    signature,
                });
            }
        };
        for event in events {
            match event {
                Event::TextDelta(text) => {
                    streamed.text.push_str(text);
                    seal(&mut block, &mut streamed.signed);
                    block = None;
                }
                Event::ThinkingDelta(text) => {
                    streamed.thoughts.push_str(text);
                    seal(&mut block, &mut streamed.signed);
                    block.get_or_insert_with(Default::default).0.push_str(text);
                }
                Event::ThinkingSignature(signature) if !signature.is_empty() => block
                    .get_or_insert_with(Default::default)
                    .1
                    .get_or_insert_with(String::new)
                    .push_str(signature),
                Event::ToolCallStart { id, name, .. } => {
                    seal(&mut block, &mut streamed.signed);
                    block = None;
                    calls.push((id.clone(), name.clone(), String::new()));
                }
                Event::ToolCallArguments { index, fragment } => {
                    seal(&mut block, &mut streamed.signed);
                    calls[*index].2.push_str(fragment);
                }
                _ => {}
            }
        }
        seal(&mut block, &mut streamed.signed);
        let mut malformed = 0;
        for (id, name, arguments) in calls {
            match first_object(&arguments) {
                Some(args) => streamed.calls.push((id, name, args)),
                None => malformed += 1,
            }
        }
        (streamed, malformed)
    }

    /// serde_json's reading of an argument text, independent of the encoder's scanner.
    fn first_object(text: &str) -> Option<Value> {
        if text.bytes().all(|byte| b" \t\r\n".contains(&byte)) {
            return Some(json!({}));
        }
        match serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .next()
        {
            Some(Ok(object @ Value::Object(_))) => Some(object),
            _ => None,
        }
    }

    fn sorted(mut calls: Vec<(String, String, Value)>) -> Vec<(String, String, Value)> {
        calls.sort_by(|a, b| a.0.cmp(&b.0));
        calls
    }

    const FINISHES: [Finish; 4] = [
        Finish::Stop,
        Finish::Length,
        Finish::ToolCalls,
        Finish::ContentFilter,
    ];

    proptest! {
        #[test]
        fn any_event_sequence_gives_a_valid_response_stream(
            events in canonical_events(),
            finish in 0usize..4,
            array in any::<bool>(),
        ) {
            let framing = if array { Framing::JsonArray } else { Framing::Sse };
            let finish = FINISHES[finish];
            let out = encode(&events, framing, finish);
            let responses = responses(&out, framing);
            let streamed = check_stream(&responses);
            let (expected, malformed) = expected(&events);
            prop_assert_eq!(&streamed.text, &expected.text);
            prop_assert_eq!(&streamed.thoughts, &expected.thoughts);
            prop_assert_eq!(&streamed.signed, &expected.signed);
            prop_assert_eq!(sorted(streamed.calls.clone()), sorted(expected.calls.clone()));
            let reason = match finish {
                Finish::Length => "MAX_TOKENS",
                Finish::ContentFilter => "SAFETY",
                _ if malformed > 0 => "MALFORMED_FUNCTION_CALL",
                _ => "STOP",
            };
            prop_assert_eq!(&streamed.finish_reason, reason);
            prop_assert_eq!(&streamed.usage, &json!({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}));

            let turn = read_back(&responses);
            let signed: Vec<SignedThinking> = turn.iter().filter_map(|part| match part {
                Part::Thinking { text, signature: Some(signature) } =>
                    Some(SignedThinking { thinking: text.clone(), signature: signature.clone() }),
                _ => None,
            }).collect();
            prop_assert_eq!(&signed, &expected.signed);
            let text: String = turn.iter().filter_map(|part| match part {
                Part::Text(text) => Some(text.as_str()),
                _ => None,
            }).collect();
            prop_assert_eq!(&text, &expected.text);
            let calls: Vec<(String, String, Value)> = turn.iter().filter_map(|part| match part {
                Part::ToolCall { id, name, arguments } =>
                    Some((id.clone(), name.clone(), serde_json::from_str(arguments).unwrap())),
                _ => None,
            }).collect();
            prop_assert_eq!(calls, streamed.calls);
        }

        #[test]
        fn the_scanner_reads_arguments_as_serde_does(
            value in prop::collection::vec(("[a-z\"\\\\{}]{0,3}", any::<u8>()), 0..6),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
            prefix in "[ {\\[\"a]{0,2}",
            suffix in "[ }\\]\"x]{0,3}",
        ) {
            let object: Map<String, Value> = value.into_iter().map(|(key, n)| (key, Value::from(n))).collect();
            for text in [
                format!("{prefix}{}{suffix}", Value::Object(object.clone())),
                format!("{}{suffix}", Value::Object(object.clone())),
                format!("{prefix}{suffix}"),
            ] {
                let mut arguments = CallArguments::default();
                for piece in split(text.as_bytes(), &cuts) {
                    // Cut between characters only: fragments are strings.
                    arguments.push(std::str::from_utf8(piece).unwrap());
                }
                let scanned = arguments.finish().cloned().map(Value::Object);
                prop_assert_eq!(scanned, first_object(&text), "{}", text);
            }
        }

        #[test]
        fn claudes_stream_encodes_alike_however_split(
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            array in any::<bool>(),
        ) {
            let framing = if array { Framing::JsonArray } else { Framing::Sse };
            let stream = ANTHROPIC_STREAM.as_bytes();
            let whole = translate(anthropic::SseDecoder::new(), framing, &[stream]);
            prop_assert_eq!(translate(anthropic::SseDecoder::new(), framing, &split(stream, &cuts)), whole);
        }

        #[test]
        fn openai_streams_encode_alike_however_split(
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            array in any::<bool>(),
        ) {
            let framing = if array { Framing::JsonArray } else { Framing::Sse };
            let stream = OPENAI_STREAM.as_bytes();
            let whole = translate(openai_native::SseDecoder::new(), framing, &[stream]);
            prop_assert_eq!(translate(openai_native::SseDecoder::new(), framing, &split(stream, &cuts)), whole);
        }
    }

    fn translate(
        decoder: impl crate::translate::Decoder + 'static,
        framing: Framing,
        pieces: &[&[u8]],
    ) -> Vec<u8> {
        relay(
            &mut StreamTranslation::new(decoder, encoder(&meta(), framing)),
            pieces,
        )
    }

    #[test]
    fn claudes_stream_becomes_gemini_responses() {
        for framing in [Framing::Sse, Framing::JsonArray] {
            let out = translate(
                anthropic::SseDecoder::new(),
                framing,
                &[ANTHROPIC_STREAM.as_bytes()],
            );
            let responses = responses(&out, framing);
            let streamed = check_stream(&responses);
            assert_eq!(
                streamed,
                Streamed {
                    text: "Let me check \"Paris\" 🌦️ for you.".into(),
                    thoughts: "The user wants the weather.".into(),
                    signed: vec![SignedThinking {
                        thinking: "The user wants the weather.".into(),
                        signature: "EvUBCl0IDRACGAIqQFpN".into()
                    }],
                    calls: vec![(
                        "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                        "get_weather".into(),
                        json!({"city": "Paris"})
                    )],
                    finish_reason: "STOP".into(),
                    usage: json!({"promptTokenCount": 572, "candidatesTokenCount": 89,
                        "totalTokenCount": 661, "cachedContentTokenCount": 100}),
                }
            );
            assert_eq!(
                responses[1]["candidates"][0]["content"]["parts"][0]["thoughtSignature"],
                thought_signature("The user wants the weather.", "EvUBCl0IDRACGAIqQFpN"),
                "the signature rides on the first text after the thinking"
            );
            let last = responses.last().unwrap();
            assert_eq!(
                last["candidates"][0]["content"]["parts"],
                json!([{"text": ""}]),
                "the call went out as soon as its arguments closed"
            );
        }
    }

    #[test]
    fn openai_streams_become_gemini_responses() {
        let out = translate(
            openai_native::SseDecoder::new(),
            Framing::Sse,
            &[OPENAI_STREAM.as_bytes()],
        );
        let streamed = check_stream(&sse_payloads(&out));
        assert_eq!(streamed.text, "Pong! 😊 \"quoted\"");
        assert_eq!(
            streamed.calls,
            [(
                "call_y0po4Ztyj41x7Led1gGoTCs1".into(),
                "get_weather".into(),
                json!({"city": "Paris"})
            )]
        );
        assert_eq!(streamed.usage["cachedContentTokenCount"], 128);
    }

    #[test]
    fn calls_without_closing_arguments_go_out_with_the_finish() {
        let events = [
            Event::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "now".into(),
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: String::new(),
            },
            Event::ToolCallStart {
                index: 1,
                id: "toolu_2".into(),
                name: "f".into(),
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{\"a\":".into(),
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: " ".into(),
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "1}".into(),
            },
        ];
        let responses = sse_payloads(&encode(&events, Framing::Sse, Finish::ToolCalls));
        assert_eq!(responses.len(), 2);
        assert_eq!(
            responses[0]["candidates"][0]["content"]["parts"],
            json!([{"functionCall": {"id": "toolu_2", "name": "f", "args": {"a": 1}}}])
        );
        assert_eq!(
            responses[1]["candidates"][0]["content"]["parts"],
            json!([{"functionCall": {"id": "toolu_1", "name": "now", "args": {}}}])
        );
        assert_eq!(responses[1]["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn a_replayed_answer_streams_what_answer_json_holds() {
        let whole = Answer {
            content: vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Checking.".into()),
                Part::tool_call("call_1", "f", "{\"a\":1}"),
            ],
            finish: Finish::ToolCalls,
            usage: None,
        };
        let mut encoder = encoder(&meta(), Framing::Sse);
        let out = crate::translate::replay(&mut encoder, &whole, Usage::new(5, 6));
        let streamed = check_stream(&sse_payloads(&out));
        let json: Value =
            serde_json::from_slice(&answer_json(&whole, &meta(), &Usage::new(5, 6))).unwrap();
        let single = check_stream(&[json]);
        assert_eq!(streamed, single);
    }
}
