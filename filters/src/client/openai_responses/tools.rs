//! Tools and `tool_choice`: functions, custom tools as functions, namespaces flat, web
//! search dropped, hosted tools refused; [`ClientTools`] for the answer writers.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::{ToolChoice, ToolDef};
use crate::tools::names::NameSet;
use crate::tools::namespaces::{self, Declared, Namespaces};

/// What the answer writers ([`answer_json`], [`encoder`]) need to know of a request's tools
/// to give the model's calls back as the client declared them: which are `custom` tools
/// (offered to the model as functions taking one string `input`; their calls go back as
/// `custom_tool_call` items carrying that string), and which were grouped in a `namespace`
/// (offered flat; their calls go back with the tool's own name and its `namespace`).
///
/// [`answer_json`]: super::answer_json
/// [`encoder`]: super::encoder()
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTools {
    /// The custom tools, by the name the model sees.
    pub(super) names: HashSet<String>,
    pub(super) namespaces: Namespaces,
}

impl ClientTools {
    /// Whether `name` (as the model sees it) is a custom tool.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Whether the request declared no custom tools and grouped none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.namespaces.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for ClientTools {
    /// Custom tools of these names.
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Self {
        ClientTools {
            names: names.into_iter().map(Into::into).collect(),
            namespaces: Namespaces::default(),
        }
    }
}

/// The tools offered to the model: functions and custom tools as functions, a namespace's
/// tools flat (see [`namespaces`]), web search left out.
pub(super) fn read_tools(tools: &[Value]) -> Result<(Vec<ToolDef>, ClientTools), ApiError> {
    let mut offers: Vec<(Option<&str>, String, ToolDef, bool)> = Vec::with_capacity(tools.len());
    for (index, tool) in tools.iter().enumerate() {
        let path = format!("tools[{index}]");
        match read_tool(&path, tool)? {
            Offer::Function(def) => offers.push((None, path, def, false)),
            Offer::Custom(def) => offers.push((None, path, def, true)),
            Offer::Namespace { name, tools } => {
                for (position, (def, is_custom)) in tools.into_iter().enumerate() {
                    let path = format!("{path}.tools[{position}]");
                    offers.push((Some(name), path, def, is_custom));
                }
            }
            Offer::Nothing => {}
        }
    }
    let declared: Vec<Declared> = offers
        .iter()
        .map(|(namespace, path, def, _)| Declared {
            namespace: *namespace,
            name: &def.name,
            path: format!("{path}.name"),
        })
        .collect();
    let (offered, namespaces) = namespaces::flatten(&declared)?;
    drop(declared);
    let mut client_tools = ClientTools {
        names: HashSet::new(),
        namespaces,
    };
    let defs = offers
        .into_iter()
        .zip(offered)
        .map(|((_, _, mut def, is_custom), offered)| {
            if is_custom {
                client_tools.names.insert(offered.clone());
            }
            def.name = offered;
            def
        })
        .collect();
    Ok((defs, client_tools))
}

/// What one `tools` entry offers the model.
enum Offer<'a> {
    Function(ToolDef),
    /// A `custom` tool, as a function ([`custom_tool_def`]).
    Custom(ToolDef),
    /// A namespace's functions and custom tools (`true`), under their own names.
    Namespace {
        name: &'a str,
        tools: Vec<(ToolDef, bool)>,
    },
    /// A tool left out ([`is_dropped_tool`]).
    Nothing,
}

fn read_tool<'a>(path: &str, tool: &'a Value) -> Result<Offer<'a>, ApiError> {
    let object = tool
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Each tool must be an object"))?;
    match object.get("type").and_then(Value::as_str) {
        Some("function") => Ok(Offer::Function(function_tool_def(path, object)?)),
        Some("custom") => Ok(Offer::Custom(custom_tool_def(path, object)?)),
        Some("namespace") => read_namespace(path, object),
        Some(kind) if is_dropped_tool(kind) => Ok(Offer::Nothing),
        Some(kind) => Err(ApiError::invalid(
            format!("{path}.type"),
            unserved_tool(kind),
        )),
        None => Err(ApiError::invalid(
            format!("{path}.type"),
            "Each tool needs a `type`",
        )),
    }
}

/// A `namespace` tool's functions and custom tools. Its description is not offered: the
/// model sees the tools it groups, each with its own description.
fn read_namespace<'a>(path: &str, object: &'a Map<String, Value>) -> Result<Offer<'a>, ApiError> {
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("{path}.name"), namespaces::NEEDS_NAME))?;
    let grouped = object
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid(format!("{path}.tools"), namespaces::NEEDS_TOOLS))?;
    let mut tools = Vec::with_capacity(grouped.len());
    for (position, tool) in grouped.iter().enumerate() {
        let path = format!("{path}.tools[{position}]");
        let object = tool
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "Each tool must be an object"))?;
        match object.get("type").and_then(Value::as_str) {
            Some("function") => tools.push((function_tool_def(&path, object)?, false)),
            Some("custom") => tools.push((custom_tool_def(&path, object)?, true)),
            kind => {
                return Err(ApiError::invalid(
                    format!("{path}.type"),
                    namespaces::ungroupable(kind.unwrap_or("untyped")),
                ))
            }
        }
    }
    Ok(Offer::Namespace { name, tools })
}

/// Tools dropped rather than refused, because Codex CLI sends them by default and refusing
/// them would refuse every Codex turn:
/// - web search (`{"type": "web_search", "external_web_access": false}`): Argo runs no hosted
///   tools to serve it; without it the model answers from what it knows, as with search
///   disabled in Codex;
/// - `tool_search` (`"execution": "client"`, Codex 0.171 on the models it knows, `gpt-5.5`
///   among them): a search over the tools Codex defers (MCP servers' tools) whose results
///   Codex hands the model as `tool_search_output` items. Nothing says Argo takes the type or
///   those items, and offering it as a function would need the deferred tools' own protocol;
///   without it the model works with the tools Codex sends up front.
pub(crate) fn is_dropped_tool(kind: &str) -> bool {
    matches!(
        kind,
        "web_search"
            | "web_search_2025_08_26"
            | "web_search_preview"
            | "web_search_preview_2025_03_11"
            | "tool_search"
    )
}

fn tool_name<'a>(path: &str, object: &'a Map<String, Value>) -> Result<&'a str, ApiError> {
    object
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| is_valid_name(name))
        .ok_or_else(|| {
            ApiError::invalid(
                format!("{path}.name"),
                "Tool names must be 1-64 letters, digits, `_` or `-`",
            )
        })
}

fn tool_description(path: &str, object: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match object.get("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::invalid(
            format!("{path}.description"),
            "`description` must be a string",
        )),
    }
}

fn function_tool_def(path: &str, object: &Map<String, Value>) -> Result<ToolDef, ApiError> {
    let parameters = match object.get("parameters") {
        None | Some(Value::Null) => Value::Null,
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.parameters"),
                "`parameters` must be a JSON Schema object",
            ))
        }
    };
    Ok(ToolDef {
        name: tool_name(path, object)?.to_string(),
        description: tool_description(path, object)?,
        parameters,
        strict: object.get("strict").and_then(Value::as_bool),
    })
}

/// The one argument a custom tool's input is wrapped in.
pub(super) const CUSTOM_INPUT: &str = "input";

/// A `custom` tool as a function taking one required string `input`, as Codex itself offers
/// `apply_patch` to models without freeform tools. The description is the tool's, then the
/// grammar its input must match, if any, so that the model writes what the client parses.
fn custom_tool_def(path: &str, object: &Map<String, Value>) -> Result<ToolDef, ApiError> {
    let description = tool_description(path, object)?;
    let format = custom_format(path, object.get("format"))?;
    let description = match (description, format) {
        (Some(description), Some(format)) => Some(format!("{description}\n\n{format}")),
        (description, None) => description,
        (None, format) => format,
    };
    Ok(ToolDef {
        name: tool_name(path, object)?.to_string(),
        description,
        parameters: serde_json::json!({
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's whole input, as plain text"}},
            "required": [CUSTOM_INPUT],
            "additionalProperties": false,
        }),
        strict: None,
    })
}

/// What the model is told of a custom tool's input format: nothing for free text.
fn custom_format(path: &str, format: Option<&Value>) -> Result<Option<String>, ApiError> {
    let format = match format {
        None | Some(Value::Null) => return Ok(None),
        Some(format) => format,
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("grammar") => {
            let syntax = match format.get("syntax").and_then(Value::as_str) {
                Some("lark") => "Lark grammar",
                Some("regex") => "regular expression",
                _ => {
                    return Err(ApiError::invalid(
                        format!("{path}.format.syntax"),
                        "A grammar's `syntax` must be \"lark\" or \"regex\"",
                    ))
                }
            };
            let definition = format
                .get("definition")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("{path}.format.definition"),
                        "A grammar needs its `definition` as a string",
                    )
                })?;
            Ok(Some(format!(
                "`{CUSTOM_INPUT}` must match this {syntax}:\n{definition}"
            )))
        }
        _ => Err(ApiError::invalid(
            format!("{path}.format.type"),
            "A custom tool's `format.type` must be \"text\" or \"grammar\"",
        )),
    }
}

/// Why a tool of type `kind` is refused.
pub(crate) fn unserved_tool(kind: &str) -> String {
    format!(
        "Tools of type `{kind}` cannot be served: Argo runs no hosted tools and the gateway offers the model only `function` and `custom` tools"
    )
}

fn is_valid_name(name: &str) -> bool {
    namespaces::is_function_name(name)
}

/// `tool_choice`; `allowed_tools` narrows `tools` to the functions and custom tools it names.
pub(super) fn read_tool_choice(
    choice: Option<&Value>,
    tools: &mut Vec<ToolDef>,
    namespaces: &Namespaces,
) -> Result<Option<ToolChoice>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "tool_choice",
            "`tool_choice` must be \"auto\", \"none\", \"required\", {\"type\": \"function\" or \"custom\", \"name\": ...} or {\"type\": \"allowed_tools\", ...}",
        )
    };
    let choice = match choice {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(mode)) => mode_choice(mode).ok_or_else(invalid)?,
        Some(Value::Object(object)) => match object.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => {
                let name = object
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(invalid)?;
                let name = chosen_name(object, name, namespaces);
                if !tools.iter().any(|tool| tool.name == name) {
                    return Err(ApiError::invalid(
                        "tool_choice.name",
                        format!("`tool_choice` names `{name}`, which is not in `tools`"),
                    ));
                }
                ToolChoice::Named(name.to_string())
            }
            Some("allowed_tools") => allowed_tools(object, tools, namespaces)?,
            Some(kind) if is_dropped_tool(kind) => {
                return Err(ApiError::invalid(
                    "tool_choice.type",
                    format!("`tool_choice` forces `{kind}`, which the gateway does not offer the model: Argo runs no hosted tools"),
                ))
            }
            Some(kind) => return Err(ApiError::invalid("tool_choice.type", unserved_tool(kind))),
            None => return Err(invalid()),
        },
        Some(_) => return Err(invalid()),
    };
    if tools.is_empty() && matches!(choice, ToolChoice::Required | ToolChoice::Named(_)) {
        return Err(ApiError::invalid(
            "tool_choice",
            "`tool_choice` needs `tools`",
        ));
    }
    Ok(Some(choice))
}

fn mode_choice(mode: &str) -> Option<ToolChoice> {
    match mode {
        "auto" => Some(ToolChoice::Auto),
        "none" => Some(ToolChoice::None),
        "required" => Some(ToolChoice::Required),
        _ => None,
    }
}

/// The tool a `tool_choice` (or an allowed tool) names, by the name the model was offered: with
/// a `namespace` member (the shape of a grouped tool's call; OpenAI's documented choice has
/// none, so this only keeps such a choice from missing its tool), the tool within it.
fn chosen_name<'a>(
    object: &Map<String, Value>,
    name: &'a str,
    namespaces: &'a Namespaces,
) -> Cow<'a, str> {
    match object.get("namespace").and_then(Value::as_str) {
        Some(namespace) => namespaces.offered_name(namespace, name),
        None => Cow::Borrowed(name),
    }
}

fn allowed_tools(
    object: &Map<String, Value>,
    tools: &mut Vec<ToolDef>,
    namespaces: &Namespaces,
) -> Result<ToolChoice, ApiError> {
    let mode = object.get("mode").and_then(Value::as_str).unwrap_or("auto");
    let choice = mode_choice(mode)
        .filter(|choice| *choice != ToolChoice::None)
        .ok_or_else(|| {
            ApiError::invalid(
                "tool_choice.mode",
                "`mode` must be \"auto\" or \"required\"",
            )
        })?;
    let allowed = object
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::invalid(
                "tool_choice.tools",
                "`allowed_tools` needs a list of `tools`",
            )
        })?;
    let mut names = NameSet::with_capacity(allowed.len());
    for (index, tool) in allowed.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => {}
            // Not offered (see `is_dropped_tool`): allowing it allows nothing.
            Some(kind) if is_dropped_tool(kind) => continue,
            kind => {
                return Err(ApiError::invalid(
                    format!("tool_choice.tools[{index}].type"),
                    unserved_tool(kind.unwrap_or("none")),
                ))
            }
        }
        let named = tool
            .as_object()
            .and_then(|object| Some((object, object.get("name")?.as_str()?)));
        let (object, name) = named.ok_or_else(|| {
            ApiError::invalid(
                format!("tool_choice.tools[{index}].name"),
                "`name` must be a string",
            )
        })?;
        names.insert(chosen_name(object, name, namespaces));
    }
    tools.retain(|tool| names.contains(&tool.name));
    Ok(choice)
}
