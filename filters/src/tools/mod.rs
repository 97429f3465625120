//! Tool calling across model families.
//!
//! Tools as the hub holds them, checked once; each spoke writes them in its own shape
//! (Anthropic's in [`anthropic`]; the resource API's per family, prompt-mode tools among them,
//! in [`crate::upstream::resource`]). Answers come back as OpenAI `tool_calls` whatever the
//! family.

pub mod anthropic;
pub(crate) mod names;
pub mod namespaces;

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::hub::Conversation;

/// OpenAI's `tool_choice`.
pub use crate::hub::ToolChoice;
/// A validated `{"type": "function", "function": {...}}` tool.
pub use crate::hub::ToolDef as FunctionTool;

/// Everything a request says about tools, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub tools: Vec<FunctionTool>,
    pub choice: ToolChoice,
    /// `parallel_tool_calls`; OpenAI's default is true.
    pub parallel: bool,
}

impl ToolSpec {
    /// `None` when the request declares no tools.
    pub fn from_request(
        tools: Option<&[Value]>,
        choice: Option<&Value>,
        parallel: Option<bool>,
    ) -> Result<Option<Self>, ApiError> {
        let tools = match tools {
            Some(tools) if !tools.is_empty() => tools,
            _ => {
                if choice.is_some_and(|choice| !matches!(choice.as_str(), Some("none" | "auto"))) {
                    return Err(ApiError::invalid(
                        "tool_choice",
                        "`tool_choice` needs `tools`",
                    ));
                }
                return Ok(None);
            }
        };
        let tools = tools
            .iter()
            .enumerate()
            .map(|(index, tool)| parse_tool(index, tool))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(index) = names::first_repeat(tools.iter().map(|tool| tool.name.as_str())) {
            return Err(ApiError::invalid(
                format!("tools[{index}].function.name"),
                format!("Tool name `{}` is declared twice", tools[index].name),
            ));
        }
        let choice = parse_choice(choice, &tools)?;
        Ok(Some(ToolSpec {
            tools,
            choice,
            parallel: parallel.unwrap_or(true),
        }))
    }

    /// The tools a conversation offers; `None` when it offers none.
    pub fn of(conversation: &Conversation) -> Option<Self> {
        conversation.offers_tools().then(|| ToolSpec {
            tools: conversation.tools.clone(),
            choice: conversation.tool_choice.clone().unwrap_or(ToolChoice::Auto),
            parallel: conversation.parallel_tool_calls.unwrap_or(true),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|tool| tool.name.clone()).collect()
    }
}

fn parse_tool(index: usize, tool: &Value) -> Result<FunctionTool, ApiError> {
    let field = |name: &str| format!("tools[{index}]{name}");
    let object = tool
        .as_object()
        .ok_or_else(|| ApiError::invalid(field(""), "Each tool must be an object"))?;
    if object.get("type").and_then(Value::as_str) != Some("function") {
        return Err(ApiError::invalid(
            field(".type"),
            "Only tools of `type: \"function\"` are supported",
        ));
    }
    let function = object
        .get("function")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::invalid(
                field(".function"),
                "A function tool needs a `function` object",
            )
        })?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| is_valid_name(name))
        .ok_or_else(|| {
            ApiError::invalid(
                field(".function.name"),
                "Function names must be 1-64 letters, digits, `_` or `-`",
            )
        })?;
    let description = match function.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                field(".function.description"),
                "`description` must be a string",
            ))
        }
    };
    let parameters = match function.get("parameters") {
        None | Some(Value::Null) => Value::Null,
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                field(".function.parameters"),
                "`parameters` must be a JSON Schema object",
            ))
        }
    };
    Ok(FunctionTool {
        name: name.to_string(),
        description,
        parameters,
        strict: function.get("strict").and_then(Value::as_bool),
    })
}

fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_choice(choice: Option<&Value>, tools: &[FunctionTool]) -> Result<ToolChoice, ApiError> {
    let invalid = || {
        ApiError::invalid("tool_choice", "`tool_choice` must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}")
    };
    match choice {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(word)) => match word.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(invalid()),
        },
        Some(Value::Object(object)) => {
            let name = object
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            if !tools.iter().any(|tool| tool.name == name) {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("`tool_choice` names `{name}`, which is not in `tools`"),
                ));
            }
            Ok(ToolChoice::Named(name.to_string()))
        }
        Some(_) => Err(invalid()),
    }
}

/// The id of the `index`-th tool call the gateway creates for response `response_id`: unique per
/// response, stable for the same answer.
pub fn call_id(response_id: &str, index: usize) -> String {
    let suffix = response_id.rsplit('-').next().unwrap_or(response_id);
    format!("call_{suffix}_{index}")
}

/// An OpenAI tool call object.
pub fn openai_call(id: String, name: &str, arguments: String) -> Value {
    crate::hub::openai_call_json(&id, name, &arguments)
}

/// Brings one tool call from an Argo answer into OpenAI's shape: OpenAI calls are tidied
/// (arguments as a JSON string, an id if missing), Anthropic `tool_use` blocks and Gemini's
/// `{"id": null, "name", "args"}` entries (seen by the original bridge and argo-proxy, their
/// `_process_google_native`) converted. Anything else is `None`.
pub fn normalize_call(call: &Value, response_id: &str, index: usize) -> Option<Value> {
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| call_id(response_id, index));
    if let Some(function) = call.get("function") {
        let name = function.get("name")?.as_str()?;
        return Some(openai_call(
            id,
            name,
            arguments_string(function.get("arguments")),
        ));
    }
    let name = call.get("name")?.as_str()?;
    let arguments = ["input", "args", "arguments"]
        .iter()
        .find_map(|field| call.get(*field));
    let is_call =
        arguments.is_some() || call.get("type").and_then(Value::as_str) == Some("tool_use");
    is_call.then(|| openai_call(id, name, arguments_string(arguments)))
}

/// OpenAI sends arguments as a string holding JSON; models and Anthropic send objects.
pub fn arguments_string(arguments: Option<&Value>) -> String {
    match arguments {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// Parses a call's JSON-string arguments back to an object, for families that want objects.
pub fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(other) => json!({ "value": other }),
        Err(_) if arguments.trim().is_empty() => Value::Object(Map::new()),
        Err(_) => json!({ "raw": arguments }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn valid_tools_and_choices_parse() {
        let spec = ToolSpec::from_request(
            Some(&[weather()]),
            Some(&json!({"type":"function","function":{"name":"get_weather"}})),
            Some(false),
        )
        .unwrap()
        .unwrap();
        assert_eq!(spec.tools[0].name, "get_weather");
        assert_eq!(spec.choice, ToolChoice::Named("get_weather".into()));
        assert!(!spec.parallel);
        for (choice, expected) in [
            ("auto", ToolChoice::Auto),
            ("none", ToolChoice::None),
            ("required", ToolChoice::Required),
        ] {
            assert_eq!(
                ToolSpec::from_request(Some(&[weather()]), Some(&json!(choice)), None)
                    .unwrap()
                    .unwrap()
                    .choice,
                expected
            );
        }
        assert_eq!(ToolSpec::from_request(None, None, None).unwrap(), None);
        assert_eq!(
            ToolSpec::from_request(Some(&[]), Some(&json!("none")), None).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_tools_name_the_field() {
        let cases = [
            (json!([{"type": "retrieval"}]), None, "tools[0].type"),
            (json!([{"type": "function"}]), None, "tools[0].function"),
            (
                json!([{"type": "function", "function": {"name": "has space"}}]),
                None,
                "tools[0].function.name",
            ),
            (
                json!([{"type": "function", "function": {"name": "f", "parameters": "x"}}]),
                None,
                "tools[0].function.parameters",
            ),
            (
                json!([{"type": "function", "function": {"name": "f", "description": 3}}]),
                None,
                "tools[0].function.description",
            ),
            (
                json!([weather(), weather()]),
                None,
                "tools[1].function.name",
            ),
            (json!([weather()]), Some(json!("sometimes")), "tool_choice"),
            (
                json!([weather()]),
                Some(json!({"type": "function", "function": {"name": "other"}})),
                "tool_choice",
            ),
            (json!([]), Some(json!("required")), "tool_choice"),
            (json!(["nope"]), None, "tools[0]"),
        ];
        for (tools, choice, param) in cases {
            let err =
                ToolSpec::from_request(tools.as_array().map(Vec::as_slice), choice.as_ref(), None)
                    .unwrap_err();
            assert_eq!(
                (err.status, err.param.as_deref()),
                (400, Some(param)),
                "{tools} {choice:?}"
            );
        }
    }

    #[test]
    fn calls_from_either_family_become_openai_calls() {
        let openai = json!({"id": "call_a", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}});
        assert_eq!(
            normalize_call(&openai, "chatcmpl-r", 0).unwrap(),
            openai_call("call_a".into(), "f", r#"{"x":1}"#.into())
        );
        let anthropic =
            json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 2}});
        assert_eq!(
            normalize_call(&anthropic, "chatcmpl-r", 0).unwrap(),
            openai_call("toolu_1".into(), "f", r#"{"x":2}"#.into())
        );
        let no_id = json!({"function": {"name": "f"}});
        assert_eq!(
            normalize_call(&no_id, "chatcmpl-r9", 3).unwrap()["id"],
            "call_r9_3"
        );
        assert!(normalize_call(&json!({"type": "text", "text": "hi"}), "r", 0).is_none());
        assert!(normalize_call(&json!({"name": "just a name"}), "r", 0).is_none());
    }

    #[test]
    fn gemini_entries_without_ids_become_openai_calls() {
        let gemini = json!({"id": null, "name": "get_weather", "args": {"city": "Paris"}});
        assert_eq!(
            normalize_call(&gemini, "chatcmpl-g7", 1).unwrap(),
            openai_call(
                "call_g7_1".into(),
                "get_weather",
                r#"{"city":"Paris"}"#.into()
            )
        );
        let bare = json!({"name": "f", "arguments": "{\"x\":1}"});
        assert_eq!(
            normalize_call(&bare, "chatcmpl-g7", 0).unwrap()["function"]["arguments"],
            r#"{"x":1}"#
        );
    }

    #[test]
    fn arguments_round_trip_between_string_and_object() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(arguments_object("not json"), json!({"raw": "not json"}));
        assert_eq!(arguments_string(Some(&json!({"a": 1}))), r#"{"a":1}"#);
    }
}
