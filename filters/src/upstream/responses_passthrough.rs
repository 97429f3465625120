//! OpenAI Responses clients on Argo's own `/v1/responses`, which serves every `gpt*` model
//! (argo-api.md §C): the same dialect on both sides, so the client's JSON goes up and Argo's
//! JSON and SSE come back with the least rewriting, as [`super::passthrough`] does for chat.
//! Whatever the translation through the hub would lose (`include`, `reasoning.summary`,
//! reasoning items with their `encrypted_content`, custom tools as custom tools, `text`
//! formats, fields nobody here knows yet) reaches Argo as the client wrote it.
//!
//! On the way up only the model, the user, the model table's rules (sampling, the
//! `max_output_tokens` cap, `reasoning` for models without it) and what the gateway cannot
//! serve change: stored state is refused as on the translated path (the client only sees the
//! gateway's response ids), web search tools are dropped and other hosted tool types refused,
//! as the translation does. On the way down the response's id and model become the gateway's
//! and the client's, the opening is held back until it is known not to be Argo's notice,
//! Argo's usage is counted, and an error inside the stream ends it as the translated path
//! ends one (`error`, then `response.failed`).

use std::borrow::Cow;
use std::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::passthrough::{key_name, member, pick_members, users_metadata, walk_array, walk_object};
use super::{fitted, truncated, upstream_error};
use crate::client::openai_responses::{self, StoredState, STATELESS};
use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Finish, Usage};
use crate::json::parse_request;
use crate::models::{Family, Kind, ModelSpec};
use crate::notice;
use crate::openai::{check_sampling, ResponseMeta};
use crate::sse::SseParser;
use crate::stream::json_string;
use crate::tools::namespaces::{self, Declared, Namespaces};
use crate::translate::{Engine, StreamState, StreamTranslation};

/// The longest description Argo takes for a `custom` tool (argo-api.md §C, live: longer ones
/// are refused with a 400, while function tools of 13k characters pass). A request with a
/// longer one goes through the translation, which offers custom tools as functions.
pub const MAX_CUSTOM_TOOL_DESCRIPTION: usize = 4096;

/// Whether Argo's `/v1/responses` serves `model`: the GPT models (argo ids `gpt*`, the o-series
/// included); Claude and Gemini get a 500 there (argo-api.md §C). The caller checks that the
/// model is on the native API.
pub fn serves(model: &ModelSpec) -> bool {
    model.family == Family::Openai
        && model.kind == Kind::Chat
        && model
            .argo_id
            .get(..3)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("gpt"))
}

/// The members of a Responses body the gateway reads; every other member is only copied.
/// Types are checked as the translation's parse checks them.
#[derive(Debug, Deserialize)]
struct Request {
    model: String,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    tools: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    previous_response_id: Option<IgnoredAny>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    conversation: Option<IgnoredAny>,
    #[serde(default)]
    prompt: Option<IgnoredAny>,
}

/// A client's Responses body, its members the gateway reads checked.
#[derive(Debug)]
pub struct ClientRequest<'a> {
    body: &'a [u8],
    request: Request,
}

/// Reads the client's body; a 400 names the offending field.
pub fn read_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    let request: Request = parse_request(body)?;
    Ok(ClientRequest { body, request })
}

impl ClientRequest<'_> {
    /// The model the client asked for.
    pub fn model(&self) -> &str {
        &self.request.model
    }

    pub fn stream(&self) -> bool {
        self.request.stream == Some(true)
    }

    /// Whether the request goes to Argo's `/v1/responses` for `model` (a model of the native
    /// API): a GPT model, and no custom tool Argo would refuse.
    pub fn passes_through(&self, model: &ModelSpec) -> bool {
        serves(model) && !self.has_long_custom_tool()
    }

    fn has_long_custom_tool(&self) -> bool {
        if self.request.tools.as_ref().is_none_or(Vec::is_empty) {
            return false;
        }
        let mut long = false;
        walk_object(self.body, |key, span| {
            if key == b"tools" {
                let tools = &self.body[span];
                walk_array(tools, |tool| long |= is_long_custom_tool(&tools[tool]));
            }
        });
        long
    }

    /// Argo's request: the client's body with `model` the Argo id, `user` the gateway's user
    /// (`metadata.user_id` too, `safety_identifier` left out), sampling, the token limit and
    /// `reasoning` fitted to the model, web search tools left out and namespaces flattened
    /// (with the calls of their tools in `input` and `tool_choice` named as the model was
    /// offered them). Every other member is copied as the client wrote it; keys are compared as
    /// JSON means them, escapes decoded. With it, the way back from the names the model was
    /// offered to the namespaced tools the client knows ([`stream`], [`relay_answer`]).
    pub fn request_body(
        &self,
        model: &ModelSpec,
        user: &str,
    ) -> Result<(Vec<u8>, Namespaces), ApiError> {
        let request = &self.request;
        StoredState {
            previous_response_id: request.previous_response_id.is_some(),
            store: request.store == Some(true),
            background: request.background == Some(true),
            conversation: request.conversation.is_some(),
            prompt: request.prompt.is_some(),
        }
        .refuse()?;
        check_sampling(request.temperature, request.top_p, None)?;
        let mut asked = Conversation::new(Dialect::OpenAiResponses, Vec::new());
        asked.temperature = request.temperature;
        asked.top_p = request.top_p;
        let stream = self.stream();
        let fitted = fitted(&asked, model, stream);
        let cap = model.max_tokens_cap.filter(|_| !stream);
        let mut out = Vec::with_capacity(self.body.len() + 128);
        out.push(b'{');
        let (mut metadata, mut input) = (None, None);
        let mut namespaces = Namespaces::default();
        // Members that may name a namespaced tool go last, once the tools are read.
        let mut naming: Vec<(&'static [u8], &[u8])> = Vec::new();
        let mut failure: Option<ApiError> = None;
        let walked = walk_object(self.body, |key, value| {
            let raw = &self.body[value];
            let Some(name) = key_name(key) else {
                failure.get_or_insert_with(invalid_body);
                return;
            };
            let kept: Option<Cow<[u8]>> = match name.as_ref() {
                b"model" | b"user" | b"safety_identifier" => None,
                b"metadata" => {
                    metadata = Some(raw);
                    None
                }
                b"input" | b"tool_choice" if may_name_namespace(raw) => {
                    let key: &'static [u8] = if name.as_ref() == b"input" {
                        input = Some(raw);
                        b"input"
                    } else {
                        b"tool_choice"
                    };
                    naming.push((key, raw));
                    None
                }
                b"input" => {
                    input = Some(raw);
                    Some(Cow::Borrowed(raw))
                }
                b"temperature" if fitted.temperature.is_none() => None,
                b"top_p" if fitted.top_p.is_none() => None,
                b"max_output_tokens" => match (request.max_output_tokens, cap) {
                    (Some(limit), Some(cap)) if limit > cap => {
                        Some(Cow::Owned(cap.to_string().into_bytes()))
                    }
                    _ => Some(Cow::Borrowed(raw)),
                },
                // OpenAI refuses `reasoning` for models without it, as the translation knows.
                b"reasoning" if !model.reasoning => None,
                b"tools" => match tools_for_argo(raw) {
                    Ok((tools, grouped)) => {
                        namespaces = grouped;
                        Some(tools)
                    }
                    Err(error) => {
                        failure.get_or_insert(error);
                        None
                    }
                },
                _ => Some(Cow::Borrowed(raw)),
            };
            if let Some(value) = kept {
                member(&mut out, key, &value);
            }
        });
        if !walked {
            return Err(invalid_body());
        }
        if let Some(error) = failure {
            return Err(error);
        }
        check_input(input)?;
        for (key, raw) in naming {
            member(&mut out, key, &calls_for_argo(raw, &namespaces));
        }
        member(&mut out, b"model", json_string(&model.argo_id).as_bytes());
        member(&mut out, b"user", json_string(user).as_bytes());
        if let Some(metadata) = metadata.and_then(|raw| users_metadata(raw, user)) {
            member(&mut out, b"metadata", metadata.as_bytes());
        }
        out.push(b'}');
        Ok((out, namespaces))
    }
}

/// Whether `raw` may hold a `namespace` member, as written or spelt with escapes.
fn may_name_namespace(raw: &[u8]) -> bool {
    memchr::memmem::find(raw, b"namespace").is_some() || memchr::memmem::find(raw, b"\\u").is_some()
}

/// `input` or `tool_choice` (`raw`) for Argo: each call item (`function_call`,
/// `custom_tool_call`) or tool choice with a `namespace` names its tool as the model was
/// offered it ([`Namespaces::offered_name`]), the `namespace` left out. What is not such an
/// object is copied as written.
fn calls_for_argo<'a>(raw: &'a [u8], namespaces: &Namespaces) -> Cow<'a, [u8]> {
    if raw.trim_ascii_start().starts_with(b"{") {
        return match call_for_argo(raw, namespaces) {
            Some(call) => Cow::Owned(call),
            None => Cow::Borrowed(raw),
        };
    }
    let mut items: Vec<(Range<usize>, Option<Vec<u8>>)> = Vec::new();
    let walked = walk_array(raw, |span| {
        let item = &raw[span.clone()];
        let call = may_name_namespace(item)
            .then(|| call_for_argo(item, namespaces))
            .flatten();
        items.push((span, call));
    });
    if !walked || items.iter().all(|(_, call)| call.is_none()) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'[');
    for (span, call) in &items {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(call.as_deref().unwrap_or(&raw[span.clone()]));
    }
    out.push(b']');
    Cow::Owned(out)
}

/// `item` (a call, a tool choice, or an allowed tool) named as the model was offered its tool,
/// without its `namespace`; `allowed_tools` with each of its tools so. `None` when there is no
/// namespace to resolve.
fn call_for_argo(item: &[u8], namespaces: &Namespaces) -> Option<Vec<u8>> {
    // Each member: its key as written, as JSON means it, and its value.
    let mut members: Vec<(Vec<u8>, Vec<u8>, Range<usize>)> = Vec::new();
    let walked = walk_object(item, |key, span| {
        let name = key_name(key).unwrap_or_default().into_owned();
        members.push((key.to_vec(), name, span));
    });
    if !walked {
        return None;
    }
    let value = |wanted: &[u8]| {
        let (_, _, span) = members.iter().rev().find(|(_, key, _)| key == wanted)?;
        serde_json::from_slice::<String>(&item[span.clone()]).ok()
    };
    let kind = value(b"type")?;
    let mut out = Vec::with_capacity(item.len() + 16);
    out.push(b'{');
    if kind == "allowed_tools" {
        let mut changed = false;
        for (key, name, span) in &members {
            let raw = &item[span.clone()];
            let value = match name.as_slice() {
                b"tools" => calls_for_argo(raw, namespaces),
                _ => Cow::Borrowed(raw),
            };
            changed |= matches!(value, Cow::Owned(_));
            member(&mut out, key, &value);
        }
        out.push(b'}');
        return changed.then_some(out);
    }
    if !matches!(
        kind.as_str(),
        "function_call" | "custom_tool_call" | "function" | "custom"
    ) {
        return None;
    }
    let namespace = value(b"namespace")?;
    let offered = json_string(&namespaces.offered_name(&namespace, &value(b"name")?));
    for (key, name, span) in &members {
        match name.as_slice() {
            b"namespace" => {}
            b"name" => member(&mut out, key, offered.as_bytes()),
            _ => member(&mut out, key, &item[span.clone()]),
        }
    }
    out.push(b'}');
    Some(out)
}

fn invalid_body() -> ApiError {
    ApiError::invalid("body", "Invalid JSON body")
}

/// `input` is required, a string or a non-empty list of items (the translation's rule).
fn check_input(input: Option<&[u8]>) -> Result<(), ApiError> {
    match input.map(<[u8]>::trim_ascii) {
        None | Some(b"null") => Err(ApiError::invalid(
            "input",
            format!("`input` is required. {STATELESS}"),
        )),
        Some([b'"', ..]) => Ok(()),
        Some(items @ [b'[', ..]) if items[1..].trim_ascii() == b"]" => Err(ApiError::invalid(
            "input",
            "`input` must contain at least one item",
        )),
        Some([b'[', ..]) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "input",
            "`input` must be a string or a list of items",
        )),
    }
}

/// A member of a JSON object decoded as a string; `None` when absent or not a string. Copied
/// only when it has escapes: each of a request's tools is read so.
fn string_member<'a>(object: &'a [u8], name: &[u8]) -> Option<Cow<'a, str>> {
    let mut found = None;
    walk_object(object, |key, span| {
        if key == name {
            found = Some(span);
        }
    });
    string_at(object, found?)
}

/// A tool's `type` and `name` as [`string_member`] reads them, in one walk.
fn type_and_name(tool: &[u8]) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let [kind, name] = pick_members(tool, [b"type".as_slice(), b"name"]).unwrap_or_default();
    let read = |span: Option<Range<usize>>| string_at(tool, span?);
    (read(kind), read(name))
}

/// The JSON string at `span` of `json`, decoded; `None` when it is not a string.
fn string_at(json: &[u8], span: Range<usize>) -> Option<Cow<'_, str>> {
    let raw = &json[span];
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return serde_json::from_slice::<String>(raw).ok().map(Cow::Owned);
    }
    std::str::from_utf8(inner).ok().map(Cow::Borrowed)
}

/// A custom tool Argo would refuse, or a namespace grouping one.
fn is_long_custom_tool(tool: &[u8]) -> bool {
    let long = |tool: &[u8]| {
        string_member(tool, b"type").as_deref() == Some("custom")
            && string_member(tool, b"description")
                .is_some_and(|text| text.chars().count() > MAX_CUSTOM_TOOL_DESCRIPTION)
    };
    match string_member(tool, b"type").as_deref() {
        Some("namespace") => {
            let [grouped] = pick_members(tool, [b"tools".as_slice()]).unwrap_or_default();
            let Some(grouped) = grouped.map(|span| &tool[span]) else {
                return false;
            };
            let mut any = false;
            walk_array(grouped, |span| any |= long(&grouped[span]));
            any
        }
        _ => long(tool),
    }
}

/// One of the client's tools that goes to Argo: where it is in `tools`, the namespace it was
/// grouped in, its name (when it has one), and its place for errors: the `at`-th tool, or the
/// `grouped`-th tool of that namespace.
struct Listed<'a> {
    span: Range<usize>,
    namespace: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    at: usize,
    grouped: Option<usize>,
}

impl Listed<'_> {
    /// The path of the tool's name.
    fn path(&self) -> String {
        match self.grouped {
            Some(position) => format!("tools[{}].tools[{position}].name", self.at),
            None => format!("tools[{}].name", self.at),
        }
    }
}

/// The client's tools for Argo, and the way back for the tools it grouped: `function` and
/// `custom` tools as written, a `namespace`'s tools flat under the names [`namespaces::flatten`]
/// gives them (nothing says Argo's `/v1/responses` takes `namespace` tools, so its models are
/// offered them flat as on the translated path), web search and `tool_search` tools left out
/// (Codex sends them with every turn; the translation drops them too, and nothing says Argo
/// runs them: `openai_responses::is_dropped_tool`), any other type refused as the translation
/// refuses it (Argo runs no hosted tools, and nothing says it takes `local_shell` tools).
fn tools_for_argo(raw: &[u8]) -> Result<(Cow<'_, [u8]>, Namespaces), ApiError> {
    let mut listed: Vec<Listed> = Vec::new();
    let (mut rewritten, mut failure) = (false, None);
    let mut index = 0;
    let walked = walk_array(raw, |span| {
        let at = index;
        index += 1;
        if failure.is_some() {
            return;
        }
        if let Err(error) = list_tool(raw, span, at, &mut listed, &mut rewritten) {
            failure = Some(error);
        }
    });
    if !walked {
        return Err(ApiError::invalid("tools", "`tools` must be a list"));
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if !listed.iter().any(|tool| tool.namespace.is_some()) {
        // Nothing to flatten: Argo checks the names as it checks every request's.
        let tools = if rewritten {
            Cow::Owned(joined(raw, &listed, &[]))
        } else {
            Cow::Borrowed(raw)
        };
        return Ok((tools, Namespaces::default()));
    }
    let named: Vec<(usize, Declared)> = listed
        .iter()
        .enumerate()
        .filter_map(|(position, tool)| {
            let declared = Declared {
                namespace: tool.namespace.as_deref(),
                name: tool.name.as_deref()?,
                path: tool.path(),
            };
            Some((position, declared))
        })
        .collect();
    let declared: Vec<Declared> = named.iter().map(|(_, tool)| tool.clone()).collect();
    let (offered, namespaces) = namespaces::flatten(&declared)?;
    // The new name of each grouped tool the model is offered under another.
    let mut renames: Vec<Option<String>> = vec![None; listed.len()];
    for ((position, tool), offered) in named.iter().zip(offered) {
        if tool.namespace.is_some() && offered != tool.name {
            renames[*position] = Some(offered);
        }
    }
    Ok((Cow::Owned(joined(raw, &listed, &renames)), namespaces))
}

/// The `listed` tools of `raw` as a JSON list, each renamed as `renames` says (by position;
/// missing or `None`: as written).
fn joined(raw: &[u8], listed: &[Listed], renames: &[Option<String>]) -> Vec<u8> {
    let mut tools = Vec::with_capacity(raw.len());
    tools.push(b'[');
    for (position, tool) in listed.iter().enumerate() {
        if tools.len() > 1 {
            tools.push(b',');
        }
        let written = &raw[tool.span.clone()];
        match renames.get(position).and_then(Option::as_deref) {
            Some(name) => tools.extend_from_slice(&renamed(written, name)),
            None => tools.extend_from_slice(written),
        }
    }
    tools.push(b']');
    tools
}

/// Lists the tool at `span` of `raw` (the `at`-th); `rewritten` when the list Argo gets differs
/// from the client's (a tool left out or a namespace flattened).
fn list_tool<'a>(
    raw: &'a [u8],
    span: Range<usize>,
    at: usize,
    listed: &mut Vec<Listed<'a>>,
    rewritten: &mut bool,
) -> Result<(), ApiError> {
    let tool = &raw[span.clone()];
    if !tool.starts_with(b"{") {
        return Err(ApiError::invalid(
            format!("tools[{at}]"),
            "Each tool must be an object",
        ));
    }
    let (kind, name) = type_and_name(tool);
    match kind.as_deref() {
        Some("function" | "custom") => listed.push(Listed {
            span: span.clone(),
            namespace: None,
            name,
            at,
            grouped: None,
        }),
        Some("namespace") => {
            *rewritten = true;
            list_namespace(raw, span, at, listed)?;
        }
        Some(kind) if openai_responses::is_dropped_tool(kind) => *rewritten = true,
        Some(kind) => {
            return Err(ApiError::invalid(
                format!("tools[{at}].type"),
                openai_responses::unserved_tool(kind),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                format!("tools[{at}].type"),
                "Each tool needs a `type`",
            ))
        }
    }
    Ok(())
}

/// Lists the functions and custom tools of the namespace at `span` of `raw` (the `at`-th tool),
/// refused as the translation refuses them.
fn list_namespace<'a>(
    raw: &'a [u8],
    span: Range<usize>,
    at: usize,
    listed: &mut Vec<Listed<'a>>,
) -> Result<(), ApiError> {
    let namespace_at = span.start;
    let object = &raw[span];
    let [name, grouped] = pick_members(object, [b"name".as_slice(), b"tools"]).unwrap_or_default();
    let namespace = name
        .and_then(|span| string_at(object, span))
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("tools[{at}].name"), namespaces::NEEDS_NAME))?;
    let needs_tools = || ApiError::invalid(format!("tools[{at}].tools"), namespaces::NEEDS_TOOLS);
    let grouped = grouped.ok_or_else(needs_tools)?;
    let offset = namespace_at + grouped.start;
    let grouped = &object[grouped];
    let mut failure = None;
    let mut position = 0;
    let walked = walk_array(grouped, |span| {
        let this = position;
        position += 1;
        if failure.is_some() {
            return;
        }
        let path = || format!("tools[{at}].tools[{this}]");
        let tool = &grouped[span.clone()];
        let (kind, name) = type_and_name(tool);
        if !tool.starts_with(b"{") {
            failure = Some(ApiError::invalid(path(), "Each tool must be an object"));
        } else if !matches!(kind.as_deref(), Some("function" | "custom")) {
            let kind = kind.as_deref().unwrap_or("untyped");
            let error =
                ApiError::invalid(format!("{}.type", path()), namespaces::ungroupable(kind));
            failure = Some(error);
        } else if let Some(name) = name {
            listed.push(Listed {
                span: span.start + offset..span.end + offset,
                namespace: Some(namespace.clone()),
                name: Some(name),
                at,
                grouped: Some(this),
            });
        } else {
            failure = Some(ApiError::invalid(
                format!("{}.name", path()),
                "Tool names must be 1-64 letters, digits, `_` or `-`",
            ));
        }
    });
    if !walked {
        return Err(needs_tools());
    }
    failure.map_or(Ok(()), Err)
}

/// `tool` (a JSON object) with its `name` member's value `name`.
fn renamed(tool: &[u8], name: &str) -> Vec<u8> {
    let [span] = pick_members(tool, [b"name".as_slice()]).unwrap_or_default();
    let Some(span) = span else {
        return tool.to_vec();
    };
    let name = json_string(name);
    let mut out = Vec::with_capacity(tool.len() + name.len());
    out.extend_from_slice(&tool[..span.start]);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&tool[span.end..]);
    out
}

/// The response's id and model as JSON strings, and the meta the gateway's own closing events
/// are written with.
#[derive(Debug)]
struct Identity {
    id: String,
    model: String,
    meta: ResponseMeta,
}

impl Identity {
    fn new(meta: &ResponseMeta) -> Self {
        Identity {
            id: json_string(&meta.id),
            model: json_string(&meta.model),
            meta: meta.clone(),
        }
    }
}

/// Argo's `response` object for the client: its id and model the gateway's and the client's,
/// the usage Argo reported back for the gateway. Argo's notice and an error are errors.
pub fn relay_answer(
    body: &[u8],
    meta: &ResponseMeta,
    namespaces: &Namespaces,
) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
    let not_json = || ApiError::invalid_answer("Argo returned a response that is not valid JSON");
    let mut response = Response::default();
    if !walk_object(body, |key, span| response.take(key, span)) {
        if notice::is_notice(body) {
            return Err(notice::unregistered_user());
        }
        return Err(not_json());
    }
    let output = response.output.clone().map(|span| &body[span]);
    // The notice is the whole answer; a response may echo long instructions before it.
    if notice::is_notice(body) || output.is_some_and(notice::is_notice) {
        return Err(notice::unregistered_user());
    }
    if let Some(error) = present(body, &response.error) {
        return Err(error_of(error, b"error"));
    }
    if output.is_none() {
        return Err(ApiError::invalid_answer(
            "Argo returned a response without output",
        ));
    }
    let usage = present(body, &response.usage).and_then(read_usage);
    let mut out = Vec::with_capacity(body.len() + meta.id.len() + meta.model.len());
    let output = output.and_then(|output| calls_for_client(output, namespaces));
    response.rewrite(body, 0, &Identity::new(meta), output.as_deref(), &mut out);
    Ok((out, usage))
}

/// The members of a `response` object the relay reads or rewrites.
#[derive(Debug, Default)]
struct Response {
    id: Option<Range<usize>>,
    model: Option<Range<usize>>,
    output: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    error: Option<Range<usize>>,
}

impl Response {
    fn take(&mut self, key: &[u8], span: Range<usize>) {
        let slot = match key {
            b"id" => &mut self.id,
            b"model" => &mut self.model,
            b"output" => &mut self.output,
            b"usage" => &mut self.usage,
            b"error" => &mut self.error,
            _ => return,
        };
        *slot = Some(span);
    }

    /// `json` with the id and model (found at `offset` within it) replaced by `identity`'s,
    /// and the output by `output` when there is one.
    fn rewrite(
        &self,
        json: &[u8],
        offset: usize,
        identity: &Identity,
        output: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        let shift = |span: &Option<Range<usize>>| {
            span.clone()
                .map(|span| span.start + offset..span.end + offset)
        };
        let mut replacements = [
            (shift(&self.id), identity.id.as_bytes()),
            (shift(&self.model), identity.model.as_bytes()),
            (output.and(shift(&self.output)), output.unwrap_or_default()),
        ];
        replacements.sort_by_key(|(span, _)| span.as_ref().map_or(0, |span| span.start));
        let mut copied = 0;
        for (span, value) in replacements {
            if let Some(span) = span {
                out.extend_from_slice(&json[copied..span.start]);
                out.extend_from_slice(value);
                copied = span.end;
            }
        }
        out.extend_from_slice(&json[copied..]);
    }
}

fn present<'a>(json: &'a [u8], span: &Option<Range<usize>>) -> Option<&'a [u8]> {
    span.clone()
        .map(|span| &json[span])
        .filter(|value| *value != b"null")
}

/// An error Argo reported in a body or an event: `{"code", "message"}` (a failed response's
/// `error`, an `error` event), maybe wrapped in `{"error": {...}}`; `kind` names it when it
/// carries no code.
fn error_of(raw: &[u8], kind: &[u8]) -> ApiError {
    #[derive(Default, Deserialize)]
    struct Reported {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<Box<Reported>>,
    }
    let mut reported: Reported = serde_json::from_slice(raw).unwrap_or_default();
    if let Some(inner) = reported.error.take() {
        reported = *inner;
    }
    let code = reported.code.as_ref().and_then(serde_json::Value::as_str);
    // An `error` event's own `type` is `error`: its code says more.
    let kind = code
        .or(reported.kind.as_deref().filter(|kind| *kind != "error"))
        .unwrap_or(std::str::from_utf8(kind).unwrap_or("error"));
    upstream_error(
        kind,
        reported.message.as_deref().unwrap_or("no details given"),
    )
}

/// The Responses usage object (`input_tokens`, `output_tokens`,
/// `input_tokens_details.cached_tokens`, which may be null); `None` when it is not an object
/// or a count is not a whole number.
fn read_usage(raw: &[u8]) -> Option<Usage> {
    let number = |value: &[u8]| -> Option<u64> { std::str::from_utf8(value).ok()?.parse().ok() };
    let mut usage = Usage::default();
    let mut valid = true;
    let walked = walk_object(raw, |key, span| {
        let value = &raw[span];
        match key {
            b"input_tokens" => match number(value) {
                Some(count) => usage.input_tokens = count,
                None => valid = false,
            },
            b"output_tokens" => match number(value) {
                Some(count) => usage.output_tokens = count,
                None => valid = false,
            },
            b"input_tokens_details" => {
                walk_object(value, |key, span| {
                    if key == b"cached_tokens" {
                        usage.cached_input_tokens = number(&value[span]);
                    }
                });
            }
            _ => {}
        }
    });
    (walked && valid).then_some(usage)
}

/// The relay of Argo's Responses stream for a client of the same dialect.
/// Calls of namespaced tools go back with their namespace ([`calls_for_client`]).
pub fn stream(meta: &ResponseMeta, namespaces: Namespaces) -> StreamTranslation {
    StreamTranslation::with_engine(Box::new(Relay {
        parser: SseParser::default(),
        events: RelayState {
            identity: Identity::new(meta),
            namespaces,
            next_sequence: 0,
            finished: false,
            done: false,
        },
    }))
}

#[derive(Debug)]
struct Relay {
    parser: SseParser,
    events: RelayState,
}

#[derive(Debug)]
struct RelayState {
    identity: Identity,
    namespaces: Namespaces,
    /// The sequence number the gateway's own closing events would take.
    next_sequence: u64,
    /// `response.completed` or `response.incomplete` came.
    finished: bool,
    /// The stream ended, or an error came: nothing more is relayed.
    done: bool,
}

impl Engine for Relay {
    fn start(&mut self, _out: &mut Vec<u8>) {}

    fn feed(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_feed(bytes, |name, data| events.event(name, data, state, out))
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_finish(|name, data| events.event(name, data, state, out))?;
        if !events.done && !events.finished {
            events.done = true;
            let (identity, sequence) = (&events.identity, events.next_sequence);
            return state.upstream_error(out, truncated(), |out, error| {
                failure(out, identity, error, sequence);
            });
        }
        Ok(())
    }

    /// Argo's own closing event was relayed: nothing to add.
    fn finish(&mut self, _out: &mut Vec<u8>, _finish: Finish, _usage: Usage) {}

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        let events = &self.events;
        failure(out, &events.identity, error, events.next_sequence);
    }
}

fn failure(out: &mut Vec<u8>, identity: &Identity, error: &ApiError, sequence: u64) {
    out.extend(openai_responses::failure_events(
        &identity.meta,
        error,
        sequence,
    ));
}

/// The top-level members of an event that the relay reads.
#[derive(Debug, Default)]
struct EventMembers {
    kind: Option<Range<usize>>,
    sequence: Option<Range<usize>>,
    response: Option<Range<usize>>,
    delta: Option<Range<usize>>,
    item: Option<Range<usize>>,
    error: Option<Range<usize>>,
    name: Option<Range<usize>>,
}

impl EventMembers {
    fn of(json: &[u8]) -> Option<Self> {
        let keys = [
            b"type".as_slice(),
            b"sequence_number",
            b"response",
            b"delta",
            b"item",
            b"error",
            b"name",
        ];
        let [kind, sequence, response, delta, item, error, name] = pick_members(json, keys)?;
        Some(EventMembers {
            kind,
            sequence,
            response,
            delta,
            item,
            error,
            name,
        })
    }
}

/// An event's `type`, as written between its quotes (event types have no escapes).
fn kind_of<'a>(json: &'a [u8], members: &EventMembers) -> &'a [u8] {
    members
        .kind
        .clone()
        .map(|span| &json[span])
        .and_then(|raw| raw.strip_prefix(b"\"")?.strip_suffix(b"\""))
        .unwrap_or_default()
}

impl RelayState {
    fn event(
        &mut self,
        name: &[u8],
        data: &[u8],
        state: &mut StreamState,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim_ascii();
        // What is not a JSON object is no event the client could use.
        let Some(members) = EventMembers::of(data) else {
            return Ok(());
        };
        let kind = kind_of(data, &members);
        let mut response = None;
        if let Some(span) = members.response.clone() {
            let mut members = Response::default();
            if walk_object(&data[span.clone()], |key, value| members.take(key, value)) {
                response = Some((span.start, members));
            }
        }
        if let Some(error) = self.reported_error(data, kind, &members, &response) {
            self.done = true;
            let (identity, sequence) = (&self.identity, self.next_sequence);
            return state.upstream_error(out, error, |out, error| {
                failure(out, identity, error, sequence);
            });
        }
        // The gateway's own closing events take the numbers after the last event relayed.
        if let Some(number) = present(data, &members.sequence)
            .and_then(|raw| std::str::from_utf8(raw).ok()?.parse::<u64>().ok())
        {
            self.next_sequence = number + 1;
        }
        match kind {
            b"response.completed" | b"response.incomplete" => {
                self.finished = true;
                self.done = true;
                let usage = response.as_ref().and_then(|(offset, members)| {
                    present(&data[*offset..], &members.usage).and_then(read_usage)
                });
                if let Some(usage) = usage {
                    state.report(usage);
                }
            }
            b"response.output_text.delta" => {
                if let Some(delta) = members.delta.clone() {
                    watch_text(&data[delta], state)?;
                }
            }
            _ if is_content(data, kind, &members) => state.guard.content(),
            _ => {}
        }
        let sink = state.guard.sink(out);
        sink.reserve(data.len() + name.len() + self.identity.model.len() + 16);
        if !name.is_empty() {
            sink.extend_from_slice(b"event: ");
            sink.extend_from_slice(name);
            sink.push(b'\n');
        }
        sink.extend_from_slice(b"data: ");
        let namespaces = &self.namespaces;
        match &response {
            Some((offset, members)) => {
                let output = members.output.clone().and_then(|span| {
                    let output = &data[span.start + offset..span.end + offset];
                    calls_for_client(output, namespaces)
                });
                members.rewrite(data, *offset, &self.identity, output.as_deref(), sink);
            }
            None => match restored_member(data, kind, &members, namespaces) {
                Some((span, value)) => {
                    sink.extend_from_slice(&data[..span.start]);
                    sink.extend_from_slice(&value);
                    sink.extend_from_slice(&data[span.end..]);
                }
                None => sink.extend_from_slice(data),
            },
        }
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// The error an event reports: an `error` event, a failed response, or OpenAI's plain
    /// `{"error": {...}}`.
    fn reported_error(
        &self,
        data: &[u8],
        kind: &[u8],
        members: &EventMembers,
        response: &Option<(usize, Response)>,
    ) -> Option<ApiError> {
        match kind {
            b"error" => Some(error_of(data, kind)),
            b"response.failed" => {
                let reported = response
                    .as_ref()
                    .and_then(|(offset, members)| present(&data[*offset..], &members.error));
                Some(error_of(reported.unwrap_or(b"{}"), b"server_error"))
            }
            b"" => present(data, &members.error).map(|error| error_of(error, b"error")),
            _ => None,
        }
    }
}

/// The member of an event (not a response's) that names a namespaced tool as the model was
/// offered it, and its value as the client knows the tool: an output item's call
/// ([`call_for_client`]), or the `name` of `response.function_call_arguments.done` (which has
/// no room for a namespace: the item's events say it).
fn restored_member(
    data: &[u8],
    kind: &[u8],
    members: &EventMembers,
    namespaces: &Namespaces,
) -> Option<(Range<usize>, Vec<u8>)> {
    if namespaces.is_empty() {
        return None;
    }
    if let Some(span) = members.item.clone() {
        let call = call_for_client(&data[span.clone()], namespaces)?;
        return Some((span, call));
    }
    if kind != b"response.function_call_arguments.done" {
        return None;
    }
    let span = members.name.clone()?;
    let offered = serde_json::from_slice::<Cow<str>>(&data[span.clone()]).ok()?;
    let origin = namespaces.origin(&offered)?;
    Some((span, json_string(&origin.name).into_bytes()))
}

/// A response's `output` (`raw`) with each call of a namespaced tool as the client knows it
/// ([`call_for_client`]); `None` when no item changes.
fn calls_for_client(raw: &[u8], namespaces: &Namespaces) -> Option<Vec<u8>> {
    if namespaces.is_empty() {
        return None;
    }
    let mut items: Vec<(Range<usize>, Option<Vec<u8>>)> = Vec::new();
    let walked = walk_array(raw, |span| {
        let call = call_for_client(&raw[span.clone()], namespaces);
        items.push((span, call));
    });
    if !walked || items.iter().all(|(_, call)| call.is_none()) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.push(b'[');
    for (span, call) in &items {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(call.as_deref().unwrap_or(&raw[span.clone()]));
    }
    out.push(b']');
    Some(out)
}

/// A `function_call` or `custom_tool_call` output item of a namespaced tool (`item`) with the
/// tool's own name and, right after it, its `namespace` (see [`namespaces`]); `None` for any
/// other item, or one that already says its namespace.
fn call_for_client(item: &[u8], namespaces: &Namespaces) -> Option<Vec<u8>> {
    if namespaces.is_empty() {
        return None;
    }
    let [kind, name, namespace] = pick_members(item, [b"type".as_slice(), b"name", b"namespace"])?;
    let kind = &item[kind?];
    if namespace.is_some() || !matches!(kind, b"\"function_call\"" | b"\"custom_tool_call\"") {
        return None;
    }
    let name = name?;
    let offered = serde_json::from_slice::<Cow<str>>(&item[name.clone()]).ok()?;
    let origin = namespaces.origin(&offered)?;
    let mut out = Vec::with_capacity(item.len() + origin.namespace.len() + 16);
    out.extend_from_slice(&item[..name.start]);
    out.extend_from_slice(json_string(&origin.name).as_bytes());
    out.extend_from_slice(b",\"namespace\":");
    out.extend_from_slice(json_string(&origin.namespace).as_bytes());
    out.extend_from_slice(&item[name.end..]);
    Some(out)
}

/// Text Argo streamed: counted, and watched for the notice while the opening is undecided.
fn watch_text(delta: &[u8], state: &mut StreamState) -> Result<(), ApiError> {
    if state.guard.decided() {
        // As written, JSON escapes left in: good enough for a count.
        if let Some(text) = delta
            .strip_prefix(b"\"")
            .and_then(|text| text.strip_suffix(b"\""))
            .and_then(|text| std::str::from_utf8(text).ok())
        {
            state.count(text);
        }
        return Ok(());
    }
    if let Ok(text) = serde_json::from_slice::<String>(delta) {
        state.count(&text);
        state.guard.text(&text)?;
    }
    Ok(())
}

/// Whether an event carries content that is not answer text (the notice is only text): a
/// delta of anything else (arguments, reasoning, a refusal), or an output item other than a
/// message.
fn is_content(data: &[u8], kind: &[u8], members: &EventMembers) -> bool {
    if kind.ends_with(b".delta") {
        return true;
    }
    kind == b"response.output_item.added"
        && members
            .item
            .clone()
            .and_then(|span| string_member(&data[span], b"type"))
            .is_some_and(|kind| kind != "message")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorCode;
    use crate::fixtures::{self, split};
    use crate::models::Sampling;

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "resp-gw123".into(),
            created: 1_700_000_000,
            model: "gpt-5".into(),
        }
    }

    fn gpt5() -> ModelSpec {
        ModelSpec {
            reasoning: true,
            sampling: Sampling::None,
            ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
        }
    }

    fn gpt4o() -> ModelSpec {
        ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat)
    }

    /// A Codex turn, with what the translation would lose.
    fn codex_turn() -> Value {
        json!({
            "model": "gpt-5", "instructions": "You are Codex.", "store": false, "stream": true,
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
                {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done"}
            ],
            "tools": [
                {"type": "function", "name": "shell", "parameters": {"type": "object"}},
                {"type": "custom", "name": "apply_patch", "description": "Patch files",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
                {"type": "web_search", "external_web_access": false},
                {"type": "tool_search", "execution": "client", "description": "Find deferred tools",
                    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}
            ],
            "tool_choice": "auto", "parallel_tool_calls": false,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
            "prompt_cache_key": "abc", "temperature": 0.5,
            "user": "mallory", "safety_identifier": "mallory", "metadata": {"user_id": "mallory", "k": "v"}
        })
    }

    fn argo_request(body: &Value, model: &ModelSpec) -> Result<Value, ApiError> {
        let text = body.to_string();
        let request = read_request(text.as_bytes())?;
        let argo = request.request_body(model, "alice")?.0;
        Ok(serde_json::from_slice(&argo).unwrap())
    }

    #[test]
    fn a_codex_turn_reaches_argo_as_sent_but_for_model_user_and_the_tables_rules() {
        let body = codex_turn();
        let argo = argo_request(&body, &gpt5()).unwrap();
        let mut expected = body.clone();
        let object = expected.as_object_mut().unwrap();
        object.insert("model".into(), json!("gpt5"));
        object.insert("user".into(), json!("alice"));
        object.insert("metadata".into(), json!({"user_id": "alice", "k": "v"}));
        object.remove("safety_identifier");
        object.remove("temperature");
        object["tools"].as_array_mut().unwrap().truncate(2);
        assert_eq!(argo, expected, "web_search and tool_search left out");
        let argo = argo_request(&body, &gpt4o()).unwrap();
        assert_eq!(argo["temperature"], 0.5, "gpt-4o takes sampling");
        assert!(argo.get("reasoning").is_none(), "nor reasoning");
    }

    #[test]
    fn escaped_spellings_of_identity_fields_never_reach_argo() {
        let text = r#"{"model":"gpt-5","input":"hi","us\u0065r":"mallory","safety_\u0069dentifier":"m","metadata":{"user_\u0069d":"mallory"}}"#;
        let request = read_request(text.as_bytes()).unwrap();
        let argo = String::from_utf8(request.request_body(&gpt5(), "alice").unwrap().0).unwrap();
        assert!(
            !argo.contains("mallory") && !argo.contains("safety"),
            "{argo}"
        );
        let argo: Value = serde_json::from_str(&argo).unwrap();
        assert_eq!(argo["user"], "alice");
    }

    #[test]
    fn the_token_limit_is_capped_unless_streamed() {
        let capped = ModelSpec {
            max_tokens_cap: Some(1000),
            ..gpt4o()
        };
        let body = json!({"model": "gpt-4o", "input": "hi", "max_output_tokens": 5000});
        assert_eq!(
            argo_request(&body, &capped).unwrap()["max_output_tokens"],
            1000
        );
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        assert_eq!(
            argo_request(&streamed, &capped).unwrap()["max_output_tokens"],
            5000
        );
    }

    #[test]
    fn what_the_translation_refuses_is_refused_alike() {
        for (body, param) in [
            (json!({"model": "gpt-5"}), "input"),
            (json!({"model": "gpt-5", "input": []}), "input"),
            (json!({"model": "gpt-5", "input": 3}), "input"),
            (
                json!({"model": "gpt-5", "input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "store": true}),
                "store",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "temperature": 3}),
                "temperature",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]}),
                "tools[0].tools[0].type",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "tools": []}]}),
                "tools[0].name",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": 3}]}),
                "tools[0].tools",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}]}),
                "tools[0].tools[0].name",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [
                    {"type": "function", "name": "a"},
                    {"type": "namespace", "name": "n", "tools": [{"type": "function", "name": "a"}, {"type": "custom", "name": "a"}]}
                ]}),
                "tools[1].tools[1].name",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "local_shell"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "file_search"}]}),
                "tools[1].type",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [{"name": "f"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "gpt-5", "input": "x", "tools": [1]}),
                "tools[0]",
            ),
        ] {
            let refused = argo_request(&body, &gpt5()).unwrap_err();
            assert_eq!(refused.status, 400, "{body}");
            assert_eq!(refused.param.as_deref(), Some(param), "{body}");
            let text = body.to_string();
            let hub = openai_responses::read_request(text.as_bytes()).err();
            assert_eq!(hub.map(|hub| hub.message), Some(refused.message), "{body}");
        }
        assert_eq!(read_request(b"{").unwrap_err().status, 400);
        assert_eq!(
            read_request(b"{\"input\":\"x\"}")
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
    }

    #[test]
    fn gpt_models_pass_through_unless_a_custom_tool_is_too_long_for_argo() {
        let body = |length: usize| {
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "custom", "name": "t", "description": "é".repeat(length)}]})
            .to_string()
        };
        let short = body(MAX_CUSTOM_TOOL_DESCRIPTION);
        assert!(read_request(short.as_bytes())
            .unwrap()
            .passes_through(&gpt5()));
        let long = body(MAX_CUSTOM_TOOL_DESCRIPTION + 1);
        assert!(!read_request(long.as_bytes())
            .unwrap()
            .passes_through(&gpt5()));
        let grouped = |length: usize| {
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [
                {"type": "custom", "name": "t", "description": "é".repeat(length)}]}]})
            .to_string()
        };
        let short = grouped(MAX_CUSTOM_TOOL_DESCRIPTION);
        assert!(read_request(short.as_bytes())
            .unwrap()
            .passes_through(&gpt5()));
        let long = grouped(MAX_CUSTOM_TOOL_DESCRIPTION + 1);
        assert!(
            !read_request(long.as_bytes())
                .unwrap()
                .passes_through(&gpt5()),
            "in a namespace too"
        );
        let o3 = ModelSpec::new("o3", "gpto3", Family::Openai, Kind::Chat);
        assert!(serves(&o3) && serves(&gpt4o()));
        for other in [
            fixtures::claude(),
            ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat),
            ModelSpec::new(
                "text-embedding-3-small",
                "v3small",
                Family::Openai,
                Kind::Embedding,
            ),
        ] {
            assert!(!serves(&other), "{}", other.name);
        }
    }

    const ANSWER: &str = r#"{"id":"resp_argo1","object":"response","created_at":1779381799,"status":"completed","instructions":"INSTRUCTIONS","model":"gpt-5-2025-08-07","output":[{"id":"rs_a","type":"reasoning","summary":[{"type":"summary_text","text":"Thinking."}],"encrypted_content":"gAAAA"},{"id":"msg_a","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}],"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":null},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":27}}"#;

    #[test]
    fn answers_come_back_under_the_gateways_id_and_the_clients_model() {
        let (body, usage) =
            relay_answer(ANSWER.as_bytes(), &meta(), &Namespaces::default()).unwrap();
        let mut expected: Value = serde_json::from_str(ANSWER).unwrap();
        expected["id"] = json!("resp-gw123");
        expected["model"] = json!("gpt-5");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 20,
                output_tokens: 7,
                cached_input_tokens: None
            })
        );
        let failed = r#"{"id":"resp_1","status":"failed","model":"gpt-5","output":[],"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#;
        assert_eq!(
            relay_answer(failed.as_bytes(), &meta(), &Namespaces::default())
                .unwrap_err()
                .status,
            429
        );
        let plain = r#"{"error":{"message":"The server had an error","type":"server_error"}}"#;
        assert_eq!(
            relay_answer(plain.as_bytes(), &meta(), &Namespaces::default())
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            relay_answer(b"[1]", &meta(), &Namespaces::default())
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            relay_answer(br#"{"id":"x"}"#, &meta(), &Namespaces::default())
                .unwrap_err()
                .status,
            502
        );
    }

    #[test]
    fn the_notice_is_a_403_even_after_long_instructions() {
        let long = ANSWER
            .replace("INSTRUCTIONS", &"i".repeat(notice::SEARCHED_BYTES * 2))
            .replace("Hello", fixtures::NOTICE);
        let error = relay_answer(long.as_bytes(), &meta(), &Namespaces::default()).unwrap_err();
        assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
        let error =
            relay_answer(fixtures::NOTICE.as_bytes(), &meta(), &Namespaces::default()).unwrap_err();
        assert_eq!(error.status, 403, "a notice outside any JSON too");
    }

    fn event(name: &str, mut data: Value, sequence: u64) -> String {
        data["type"] = json!(name);
        data["sequence_number"] = json!(sequence);
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn response_object(status: &str, usage: Value) -> Value {
        json!({"id": "resp_argo1", "object": "response", "created_at": 1779381799, "status": status,
            "model": "gpt-5-2025-08-07", "output": [], "usage": usage, "instructions": "Be brief"})
    }

    /// Argo's stream of a reasoning summary, text (with escapes and an emoji) and a custom
    /// tool call.
    fn argo_stream(text: &[&str]) -> String {
        let mut events = vec![
            (
                "response.created",
                json!({"response": response_object("in_progress", Value::Null)}),
            ),
            (
                "response.in_progress",
                json!({"response": response_object("in_progress", Value::Null)}),
            ),
            (
                "response.output_item.added",
                json!({"output_index": 0, "item": {"id": "rs_a", "type": "reasoning", "summary": []}}),
            ),
            (
                "response.reasoning_summary_text.delta",
                json!({"item_id": "rs_a", "output_index": 0, "summary_index": 0, "delta": "Hmm."}),
            ),
            (
                "response.output_item.done",
                json!({"output_index": 0, "item": {"id": "rs_a", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Hmm."}], "encrypted_content": "gAAAA"}}),
            ),
            (
                "response.output_item.added",
                json!({"output_index": 1, "item": {"id": "msg_a", "type": "message", "role": "assistant", "content": []}}),
            ),
        ];
        for piece in text {
            events.push((
                "response.output_text.delta",
                json!({"item_id": "msg_a", "output_index": 1, "content_index": 0, "delta": piece}),
            ));
        }
        events.extend([
            ("response.output_item.added", json!({"output_index": 2, "item": {"id": "ctc_a", "type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": ""}})),
            ("response.custom_tool_call_input.delta", json!({"item_id": "ctc_a", "output_index": 2, "delta": "*** Begin"})),
            ("response.completed", json!({"response": response_object("completed",
                json!({"input_tokens": 175, "input_tokens_details": {"cached_tokens": 128}, "output_tokens": 16, "total_tokens": 191}))})),
        ]);
        events
            .into_iter()
            .enumerate()
            .map(|(sequence, (name, data))| event(name, data, sequence as u64))
            .collect()
    }

    /// Argo's stream of `text` alone, as the notice comes.
    fn text_stream(text: &[&str]) -> String {
        argo_stream(text)
            .split_inclusive("\n\n")
            .filter(|event| !event.contains("rs_a") && !event.contains("ctc_a"))
            .collect()
    }

    fn parse_events(sse: &[u8]) -> Vec<(String, Value)> {
        std::str::from_utf8(sse)
            .unwrap()
            .split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                let (name, data) = event.split_once('\n').unwrap();
                (
                    name.strip_prefix("event: ").unwrap().to_string(),
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
                )
            })
            .collect()
    }

    fn relayed(pieces: &[&[u8]]) -> (Vec<u8>, StreamTranslation) {
        let mut translation = stream(&meta(), Namespaces::default());
        (fixtures::relay(&mut translation, pieces), translation)
    }

    const TEXT: [&str; 3] = ["Pong! ", "😊 ", "\"quoted\"\n"];

    #[test]
    fn the_stream_is_relayed_under_the_gateways_identity() {
        let argo = argo_stream(&TEXT);
        let (out, mut translation) = relayed(&[argo.as_bytes()]);
        let sent = parse_events(&out);
        let argos = parse_events(argo.as_bytes());
        assert_eq!(sent.len(), argos.len());
        for ((name, event), (argo_name, argo_event)) in sent.iter().zip(&argos) {
            assert_eq!(name, argo_name);
            let mut expected = argo_event.clone();
            if expected.get("response").is_some() {
                expected["response"]["id"] = json!("resp-gw123");
                expected["response"]["model"] = json!("gpt-5");
            }
            assert_eq!(event, &expected, "everything else is Argo's");
        }
        assert_eq!(
            translation.usage(),
            Usage {
                input_tokens: 175,
                output_tokens: 16,
                cached_input_tokens: Some(128)
            }
        );
        assert!(translation.usage_reported() && translation.failure().is_none());
    }

    #[test]
    fn the_opening_is_held_until_it_cannot_be_the_notice() {
        let argo = text_stream(&["**", "Summary**"]);
        let without_reasoning: Vec<&str> = argo.split_inclusive("\n\n").collect();
        let mut translation = stream(&meta(), Namespaces::default());
        let mut out = translation.start();
        for event in &without_reasoning[..4] {
            translation.feed_into(&mut out, event.as_bytes()).unwrap();
        }
        assert!(
            out.is_empty() && !translation.decided(),
            "`**` could open the notice"
        );
        translation
            .feed_into(&mut out, without_reasoning[4].as_bytes())
            .unwrap();
        assert!(translation.decided());
        assert_eq!(parse_events(&out).len(), 5);
    }

    #[test]
    fn the_notice_is_an_error_and_nothing_of_it_is_sent() {
        let (head, tail) = fixtures::NOTICE.split_at(20);
        let argo = text_stream(&[head, tail, "\n\nHello"]);
        let mut translation = stream(&meta(), Namespaces::default());
        let mut out = translation.start();
        let error = translation
            .feed_into(&mut out, argo.as_bytes())
            .unwrap_err();
        assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
        assert!(out.is_empty());
        assert!(translation.finish().unwrap().is_empty());
        let mut plain = stream(&meta(), Namespaces::default());
        let error = plain
            .feed_into(&mut Vec::new(), fixtures::NOTICE.as_bytes())
            .unwrap_err();
        assert_eq!(
            error.status, 403,
            "a notice outside any event is caught too"
        );
    }

    #[test]
    fn errors_in_the_stream_replace_it_or_end_it_as_the_translation_does() {
        let error = event(
            "error",
            json!({"code": "rate_limit_exceeded", "message": "Too many requests", "param": null}),
            2,
        );
        let argo = argo_stream(&TEXT);
        let events: Vec<&str> = argo.split_inclusive("\n\n").collect();
        let mut early = stream(&meta(), Namespaces::default());
        let mut out = early.start();
        early.feed_into(&mut out, events[0].as_bytes()).unwrap();
        let refused = early.feed_into(&mut out, error.as_bytes()).unwrap_err();
        assert_eq!((refused.status, out.len()), (429, 0));
        for late_error in [
            error.clone(),
            event(
                "response.failed",
                json!({"response": {"id": "resp_argo1", "status": "failed", "model": "gpt-5",
                "error": {"code": "server_error", "message": "boom"}}}),
                9,
            ),
        ] {
            let mut late = stream(&meta(), Namespaces::default());
            let mut out = late.start();
            for event in &events[..8] {
                late.feed_into(&mut out, event.as_bytes()).unwrap();
            }
            late.feed_into(&mut out, late_error.as_bytes()).unwrap();
            late.feed_into(&mut out, events[8].as_bytes()).unwrap();
            out.extend(late.finish().unwrap());
            let sent = parse_events(&out);
            let names: Vec<&str> = sent.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(
                names[names.len() - 2..],
                ["error", "response.failed"],
                "{names:?}"
            );
            assert_eq!(names.len(), 10);
            let sequences: Vec<u64> = sent
                .iter()
                .map(|(_, event)| event["sequence_number"].as_u64().unwrap())
                .collect();
            assert_eq!(
                sequences,
                (0..10).collect::<Vec<_>>(),
                "numbered on from Argo's"
            );
            let failed = &sent[9].1["response"];
            assert_eq!(
                (failed["id"].as_str(), failed["status"].as_str()),
                (Some("resp-gw123"), Some("failed"))
            );
            assert!(late.failure().is_some());
        }
        let mut cut = stream(&meta(), Namespaces::default());
        let mut out = cut.start();
        for event in &events[..8] {
            cut.feed_into(&mut out, event.as_bytes()).unwrap();
        }
        out.extend(cut.finish().unwrap());
        let sent = parse_events(&out);
        assert_eq!(
            sent[sent.len() - 2].1["code"],
            "upstream_truncated",
            "a stream cut short ends with an error"
        );
    }

    fn relayed_whole(pieces: &[&[u8]]) -> Vec<u8> {
        relayed(pieces).0
    }

    #[test]
    fn the_stream_relays_alike_split_at_every_byte() {
        let argo = argo_stream(&TEXT);
        let stream = argo.as_bytes();
        let whole = relayed_whole(&[stream]);
        for at in 0..=stream.len() {
            assert_eq!(
                relayed_whole(&[&stream[..at], &stream[at..]]),
                whole,
                "split at {at}"
            );
        }
    }

    /// A Codex turn whose tools group sub-agent tools in a namespace (one name shared with a
    /// plain function), and whose history holds a call of one of them.
    fn namespaced_turn() -> Value {
        json!({
            "model": "gpt-5", "store": false, "stream": true,
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Delegate"}]},
                {"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "{\"agent_id\":\"a1\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_2", "output": "closed"}
            ],
            "tools": [
                {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
                {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                    {"type": "function", "name": "spawn_agent", "description": "Spawn.", "strict": false, "parameters": {"type": "object"}},
                    {"type": "function", "name": "close_agent", "parameters": {"type": "object"}}
                ]},
                {"type": "web_search", "external_web_access": true}
            ],
            "tool_choice": {"type": "function", "name": "close_agent", "namespace": "multi_agent_v1"},
            "include": ["reasoning.encrypted_content"]
        })
    }

    #[test]
    fn namespaces_reach_argo_flat_and_history_calls_by_the_name_offered() {
        let body = namespaced_turn().to_string();
        let request = read_request(body.as_bytes()).unwrap();
        let (argo, namespaces) = request.request_body(&gpt5(), "alice").unwrap();
        let argo: Value = serde_json::from_slice(&argo).unwrap();
        assert_eq!(
            argo["tools"],
            json!([
                {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
                {"type": "function", "name": "spawn_agent", "description": "Spawn.", "strict": false, "parameters": {"type": "object"}},
                {"type": "function", "name": "multi_agent_v1__close_agent", "parameters": {"type": "object"}}
            ])
        );
        let input = argo["input"].as_array().unwrap();
        assert_eq!(
            input[1],
            json!({"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "arguments": "{}"})
        );
        assert_eq!(input[3]["name"], "multi_agent_v1__close_agent");
        assert!(input[3].get("namespace").is_none());
        assert_eq!(
            input[0],
            namespaced_turn()["input"][0],
            "other items as sent"
        );
        assert_eq!(
            argo["tool_choice"],
            json!({"type": "function", "name": "multi_agent_v1__close_agent"})
        );
        assert_eq!(argo["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(
            namespaces.origin("spawn_agent").unwrap().namespace,
            "multi_agent_v1"
        );
        assert_eq!(
            namespaces
                .origin("multi_agent_v1__close_agent")
                .unwrap()
                .name,
            "close_agent"
        );
        assert!(namespaces.origin("close_agent").is_none());
        // Without namespaces the tools go as written, byte for byte.
        let plain =
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "function", "name": "f"}]});
        let text = plain.to_string();
        let (argo, namespaces) = read_request(text.as_bytes())
            .unwrap()
            .request_body(&gpt5(), "alice")
            .unwrap();
        assert!(namespaces.is_empty());
        let argo = String::from_utf8(argo).unwrap();
        assert!(
            argo.contains(r#""tools":[{"name":"f","type":"function"}]"#),
            "{argo}"
        );
    }

    fn namespaced() -> Namespaces {
        let body = namespaced_turn().to_string();
        read_request(body.as_bytes())
            .unwrap()
            .request_body(&gpt5(), "alice")
            .unwrap()
            .1
    }

    /// Argo's calls of the tools [`namespaced_turn`] offers, as output items.
    fn argo_calls() -> [Value; 3] {
        [
            json!({"id": "fc_1", "type": "function_call", "status": "completed", "arguments": "{\"message\":\"hi\"}", "call_id": "call_1", "name": "spawn_agent"}),
            json!({"id": "fc_2", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_2", "name": "multi_agent_v1__close_agent"}),
            json!({"id": "fc_3", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_3", "name": "close_agent"}),
        ]
    }

    /// [`argo_calls`] as the client gets them.
    fn client_calls() -> Value {
        let [mut spawn, mut close, plain] = argo_calls();
        spawn["namespace"] = json!("multi_agent_v1");
        close["name"] = json!("close_agent");
        close["namespace"] = json!("multi_agent_v1");
        json!([spawn, close, plain])
    }

    #[test]
    fn answers_give_calls_of_namespaced_tools_back_with_their_namespace() {
        let mut answer: Value = serde_json::from_str(ANSWER).unwrap();
        answer["output"] = json!(argo_calls());
        let (body, _) =
            relay_answer(answer.to_string().as_bytes(), &meta(), &namespaced()).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["output"], client_calls());
        assert_eq!(body["id"], "resp-gw123");
        let text = String::from_utf8(
            relay_answer(answer.to_string().as_bytes(), &meta(), &namespaced())
                .unwrap()
                .0,
        )
        .unwrap();
        assert!(
            text.contains(r#""name":"spawn_agent","namespace":"multi_agent_v1""#),
            "the namespace right after the name: {text}"
        );
    }

    /// Argo's stream of the calls of [`argo_calls`]: each added, its arguments, done; then the
    /// completed response holding them.
    fn namespaced_stream() -> String {
        let mut events = vec![(
            "response.created",
            json!({"response": response_object("in_progress", Value::Null)}),
        )];
        for (index, call) in argo_calls().into_iter().enumerate() {
            let mut added = call.clone();
            added["arguments"] = json!("");
            added["status"] = json!("in_progress");
            events.push((
                "response.output_item.added",
                json!({"output_index": index, "item": added}),
            ));
            events.push((
                "response.function_call_arguments.delta",
                json!({"item_id": call["id"], "output_index": index, "delta": call["arguments"]}),
            ));
            events.push((
                "response.function_call_arguments.done",
                json!({"item_id": call["id"], "output_index": index, "name": call["name"], "arguments": call["arguments"]}),
            ));
            events.push((
                "response.output_item.done",
                json!({"output_index": index, "item": call}),
            ));
        }
        let mut completed =
            response_object("completed", json!({"input_tokens": 10, "output_tokens": 3}));
        completed["output"] = json!(argo_calls());
        events.push(("response.completed", json!({"response": completed})));
        events
            .into_iter()
            .enumerate()
            .map(|(sequence, (name, data))| event(name, data, sequence as u64))
            .collect()
    }

    fn relayed_namespaced(pieces: &[&[u8]]) -> Vec<u8> {
        let mut translation = stream(&meta(), namespaced());
        fixtures::relay(&mut translation, pieces)
    }

    #[test]
    fn streamed_calls_of_namespaced_tools_come_back_with_their_namespace() {
        let argo = namespaced_stream();
        let sent = parse_events(&relayed_namespaced(&[argo.as_bytes()]));
        let expected = client_calls();
        let items = |kind: &str| -> Vec<Value> {
            sent.iter()
                .filter(|(name, _)| name == kind)
                .map(|(_, event)| event["item"].clone())
                .collect()
        };
        assert_eq!(Value::Array(items("response.output_item.done")), expected);
        for (added, expected) in items("response.output_item.added")
            .iter()
            .zip(expected.as_array().unwrap())
        {
            assert_eq!(
                (&added["name"], &added["namespace"]),
                (&expected["name"], &expected["namespace"])
            );
            assert_eq!(added["status"], "in_progress");
        }
        let names: Vec<&Value> = sent
            .iter()
            .filter(|(name, _)| name == "response.function_call_arguments.done")
            .map(|(_, event)| &event["name"])
            .collect();
        assert_eq!(
            names,
            [
                &json!("spawn_agent"),
                &json!("close_agent"),
                &json!("close_agent")
            ]
        );
        let (_, completed) = sent.last().unwrap();
        assert_eq!(completed["type"], "response.completed");
        assert_eq!(completed["response"]["output"], expected);
        assert_eq!(completed["response"]["id"], "resp-gw123");
        // Split anywhere, the relay says the same.
        let stream = argo.as_bytes();
        let whole = relayed_namespaced(&[stream]);
        for at in 0..=stream.len() {
            assert_eq!(
                relayed_namespaced(&[&stream[..at], &stream[at..]]),
                whole,
                "split at {at}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let argo = argo_stream(&TEXT);
            let stream = argo.as_bytes();
            prop_assert_eq!(relayed_whole(&split(stream, &cuts)), relayed_whole(&[stream]));
        }

        #[test]
        fn namespaced_calls_relay_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let argo = namespaced_stream();
            let stream = argo.as_bytes();
            prop_assert_eq!(relayed_namespaced(&split(stream, &cuts)), relayed_namespaced(&[stream]));
        }

        #[test]
        fn a_notice_is_caught_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let (head, tail) = fixtures::NOTICE.split_at(20);
            let argo = text_stream(&[head, tail]);
            let mut translation = stream(&meta(), Namespaces::default());
            let mut out = translation.start();
            let mut refused = None;
            for piece in split(argo.as_bytes(), &cuts) {
                if let Err(error) = translation.feed_into(&mut out, piece) {
                    refused = Some(error);
                    break;
                }
            }
            prop_assert!(out.is_empty());
            prop_assert_eq!(refused.map(|error| error.status), Some(403));
        }
    }
}
