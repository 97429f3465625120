//! Reading `contents`: user and model turns, their parts, and tool results paired with their calls.

use std::collections::{HashMap, HashSet, VecDeque};

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::{Message, Part, Role};

use super::fields::{get, lenient_base64, standard_base64, text_of};
use super::signature::{open_thought_signature, SignedThinking};

/// The calls of the latest model turn that no `functionResponse` answered yet, in order. A
/// turn may hold tens of thousands of calls, so a response finds its call by a lookup, not a
/// scan: each call waits in a queue for its `id` (the one the client gave it) and one for its
/// name, and is skipped there once answered by the other.
#[derive(Debug, Default)]
pub(super) struct AwaitedCalls {
    /// Each call's hub id, `None` once answered.
    hub_ids: Vec<Option<String>>,
    by_client_id: HashMap<String, VecDeque<usize>>,
    by_name: HashMap<String, VecDeque<usize>>,
}

impl AwaitedCalls {
    fn clear(&mut self) {
        *self = AwaitedCalls::default();
    }

    pub(super) fn push(&mut self, client_id: Option<String>, hub_id: String, name: &str) {
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
    pub(super) fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
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
pub(super) struct ContentsReader<'p> {
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
    pub(super) fn new(prefix: &'p str) -> Self {
        ContentsReader {
            prefix,
            messages: Vec::new(),
            awaited: AwaitedCalls::default(),
            used_ids: HashSet::new(),
            in_model_turn: false,
        }
    }

    pub(super) fn read(mut self, request: &Map<String, Value>) -> Result<Vec<Message>, ApiError> {
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

pub(super) fn is_upstream_id(id: &str) -> bool {
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
pub(super) fn inline_data(blob: &Value, path: &str) -> Result<Part, ApiError> {
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

/// A `functionResponse.response` as a tool result's text: its `error` (an error result) or
/// `output`, as Google documents them; the Python SDK's lone `result`; else the whole object
/// as JSON. A string value is taken as is, anything else as JSON text.
pub(super) fn result_content(response: Option<&Value>) -> (String, bool) {
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
