//! The mock's tool-calling model: given `#mock {"tool_call": {...}}` it first answers with that
//! call in the family's own shape, and once the conversation holds the tool's result it
//! answers with text quoting it. It also checks that tools arrived in the family's shape.

use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
    /// Answer the call in one of the other shapes real Argo uses instead of the family's usual one.
    #[serde(default)]
    pub shape: Option<Shape>,
}

/// Tool-call shapes seen from Argo's `chat` endpoint besides each family's usual one.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Gemini's entries: `{"id": null, "name", "args"}` (the original bridge and argo-proxy
    /// both parse these, `_process_google_native`).
    Gemini,
    /// The family's call as one object instead of a list under `tool_calls`.
    SingleObject,
    /// Claude's call written into the text as a Python dict (argo-proxy's `leaked_tool_parser.py`).
    Leaked,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Openai,
    Anthropic,
    Google,
}

fn family(model: &str) -> Family {
    if model.starts_with("claude") {
        Family::Anthropic
    } else if model.starts_with("gemini") {
        Family::Google
    } else {
        Family::Openai
    }
}

/// What the model says: a structured `response` value or plain text.
pub enum Said {
    Structured(Value),
    Text(String),
}

/// The answer to one turn of a scripted tool conversation.
pub fn answer(model: &str, request: &Value, call: &ScriptedCall) -> Result<Said, (u16, String)> {
    let family = family(model);
    check_tools_shape(family, request, &call.name)?;
    if let Some(result) = tool_result(family, request) {
        return Ok(Said::Text(format!("The tool said: {result}")));
    }
    let arguments = if call.arguments.is_null() {
        json!({})
    } else {
        call.arguments.clone()
    };
    if let Some(shape) = call.shape {
        return Ok(Said::Structured(shaped(
            shape, family, &call.name, arguments,
        )));
    }
    Ok(match family {
        Family::Openai => Said::Structured(json!({"content": null, "tool_calls": [{
            "id": "call_mock_1", "type": "function",
            "function": {"name": call.name, "arguments": arguments.to_string()}}]})),
        Family::Anthropic => Said::Structured(json!({"content": "", "tool_calls": [{
            "type": "tool_use", "id": "toolu_mock_1", "name": call.name, "input": arguments}]})),
        Family::Google => Said::Text(format!(
            "I will look that up.\n<tool_call>{}</tool_call>",
            json!({"name": call.name, "arguments": arguments})
        )),
    })
}

fn shaped(shape: Shape, family: Family, name: &str, arguments: Value) -> Value {
    match shape {
        Shape::Gemini => json!({"content": "", "tool_calls": [
            {"id": null, "name": name, "args": arguments}]}),
        Shape::SingleObject if family == Family::Anthropic => json!({"content": "", "tool_calls":
            {"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": arguments}}),
        Shape::SingleObject => json!({"content": null, "tool_calls": {"id": "call_mock_1",
            "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}}),
        Shape::Leaked => json!({"content": format!(
            "I will look that up.{{'id': 'toolu_mock_1', 'input': {}, 'name': {}, 'type': 'tool_use'}}",
            python_repr(&arguments),
            python_repr(&json!(name))
        ), "tool_calls": []}),
    }
}

/// A JSON value as Python's `repr` writes the same dict: single quotes, `True`, `None`.
fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("'{key}': {}", python_repr(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// Argo takes OpenAI tools for GPT models and Anthropic tools for Claude; Gemini gets none
/// (they must be described in the system prompt instead).
fn check_tools_shape(family: Family, request: &Value, name: &str) -> Result<(), (u16, String)> {
    let tools = request.get("tools").and_then(Value::as_array);
    let declared = |key: &str| {
        tools.is_some_and(|tools| {
            tools
                .iter()
                .any(|tool| tool.pointer(key).and_then(Value::as_str) == Some(name))
        })
    };
    let ok = match family {
        Family::Openai => declared("/function/name"),
        Family::Anthropic => {
            declared("/name")
                && tools.is_some_and(|tools| {
                    tools.iter().all(|tool| tool.get("input_schema").is_some())
                })
        }
        Family::Google => tools.is_none() && system_text(request).contains(name),
    };
    if ok {
        Ok(())
    } else {
        Err((
            400,
            format!("tools for {family:?} models are not in the shape Argo expects"),
        ))
    }
}

fn system_text(request: &Value) -> String {
    messages(request)
        .filter(|message| message["role"] == "system")
        .filter_map(|message| message["content"].as_str())
        .collect()
}

fn messages(request: &Value) -> impl Iterator<Item = &Value> {
    request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The latest tool result in the family's own shape, if the conversation has one.
fn tool_result(family: Family, request: &Value) -> Option<String> {
    let last = messages(request).last()?;
    match family {
        Family::Openai => (last["role"] == "tool")
            .then(|| last["content"].as_str().unwrap_or_default().to_string()),
        Family::Anthropic => last["content"]
            .as_array()?
            .iter()
            .find(|block| block["type"] == "tool_result")
            .map(|block| block["content"].as_str().unwrap_or_default().to_string()),
        Family::Google => {
            let text = last["content"].as_str()?;
            let start = text.find("<tool_result")?;
            let body = &text[start..];
            let open_end = body.find('>')? + 1;
            let close = body.find("</tool_result>")?;
            Some(body[open_end..close].trim().to_string())
        }
    }
}
