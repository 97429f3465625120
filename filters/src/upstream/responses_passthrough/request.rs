//! The way up: the client's body read, checked as the translation checks it, and written for
//! Argo (model, user, the model table's rules, calls of namespaced tools as offered).

use std::borrow::Cow;
use std::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::client::openai_responses::{StoredState, STATELESS};
use crate::error::ApiError;
use crate::hub::{Conversation, Dialect};
use crate::json::parse_request;
use crate::models::{Family, Kind, ModelSpec};
use crate::openai::check_sampling;
use crate::stream::json_string;
use crate::tools::namespaces::Namespaces;
use crate::upstream::fitted;
use crate::upstream::passthrough::{
    capped, key_name, member, pick_members, users_metadata, walk_array, walk_object,
};

use super::tools::{rewritten_array, string_member, tools_for_argo};

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
    /// Read for its type only: the limit is capped as written ([`capped`]).
    #[serde(default, rename = "max_output_tokens")]
    _max_output_tokens: Option<u64>,
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

    /// Whether a custom tool Argo's `/v1/responses` would refuse (or a namespace grouping one)
    /// is declared.
    pub fn has_long_custom_tool(&self) -> bool {
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
    ///
    /// [`stream`]: super::stream
    /// [`relay_answer`]: super::relay_answer
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
                b"max_output_tokens" => Some(capped(raw, model, stream)),
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
    Cow::Owned(rewritten_array(raw, &items))
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
