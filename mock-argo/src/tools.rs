//! The mock's tool-calling model: given `#mock {"tool_call": {...}}` it first answers with that
//! call in the family's own shape, and once the conversation holds the tool's result it
//! answers with text quoting it. It also checks that tools arrived in the family's shape.

use serde::Deserialize;
use serde_json::{json, Value};

/// `tool_call` in a directive: one call, or a list of calls made at once (native endpoints only).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScriptedCalls {
    One(ScriptedCall),
    Many(Vec<ScriptedCall>),
}

impl ScriptedCalls {
    pub fn calls(&self) -> &[ScriptedCall] {
        match self {
            ScriptedCalls::One(call) => std::slice::from_ref(call),
            ScriptedCalls::Many(calls) => calls,
        }
    }

    /// The one call the resource endpoints script.
    pub fn single(&self) -> Result<&ScriptedCall, (u16, String)> {
        match self.calls() {
            [call] => Ok(call),
            _ => Err((
                400,
                "the resource endpoints script exactly one tool call".into(),
            )),
        }
    }
}

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
    let ok = match family {
        Family::Openai => declares_openai_tool(request, name),
        Family::Anthropic => declares_anthropic_tool(request, name),
        Family::Google => {
            request.get("tools").and_then(Value::as_array).is_none()
                && system_text(request).contains(name)
        }
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

/// Whether the request's tools include `name` as an OpenAI function tool.
fn declares_openai_tool(request: &Value, name: &str) -> bool {
    tools(request).any(|tool| tool.pointer("/function/name").and_then(Value::as_str) == Some(name))
}

/// Whether the request's tools include `name` and every tool has Anthropic's `input_schema`.
fn declares_anthropic_tool(request: &Value, name: &str) -> bool {
    tools(request).any(|tool| tool["name"].as_str() == Some(name))
        && tools(request).all(|tool| tool.get("input_schema").is_some())
}

fn tools(request: &Value) -> impl Iterator<Item = &Value> {
    items(request, "tools")
}

fn system_text(request: &Value) -> String {
    messages(request)
        .filter(|message| message["role"] == "system")
        .filter_map(|message| message["content"].as_str())
        .collect()
}

fn messages(request: &Value) -> impl Iterator<Item = &Value> {
    items(request, "messages")
}

/// The items of the request's array `key`; none when it is missing or not an array.
fn items<'a>(request: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    request
        .get(key)
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

/// Which native endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    /// `/v1/chat/completions`: OpenAI tools (`{"type": "function", "function": {"name"}}`),
    /// results in `role: tool` messages. Gemini takes them too (argo-proxy sends every
    /// non-Claude model there with OpenAI tools).
    OpenAi,
    /// `/v1/messages`: Anthropic tools (`{"name", "input_schema"}`), results in `tool_result`
    /// blocks of a user message.
    Anthropic,
}

/// A call the model makes on a native endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// What the model says on a native endpoint's turn.
#[derive(Debug, PartialEq)]
pub enum NativeSaid {
    Calls(Vec<NativeCall>),
    Text(String),
}

/// One turn of a scripted tool conversation on a native endpoint: the calls, or, once the
/// conversation ends with their results, text quoting them (`The tool said: RESULT`, several
/// results joined with `; `). Claude on `/v1/chat/completions` leaks its calls into the text
/// (argo-api.md: the reason argo-proxy sends Claude to `/v1/messages`).
pub fn native_answer(
    dialect: Dialect,
    model: &str,
    request: &Value,
    calls: &[ScriptedCall],
) -> Result<NativeSaid, (u16, String)> {
    for call in calls {
        check_native_tools(dialect, request, &call.name)?;
    }
    let results = native_tool_results(dialect, request);
    if !results.is_empty() {
        return Ok(NativeSaid::Text(format!(
            "The tool said: {}",
            results.join("; ")
        )));
    }
    let arguments = |call: &ScriptedCall| {
        if call.arguments.is_null() {
            json!({})
        } else {
            call.arguments.clone()
        }
    };
    if dialect == Dialect::OpenAi && family(model) == Family::Anthropic {
        let leaked: String = calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                format!(
                    "{{'id': 'toolu_mock_{}', 'input': {}, 'name': {}, 'type': 'tool_use'}}",
                    index + 1,
                    python_repr(&arguments(call)),
                    python_repr(&json!(call.name))
                )
            })
            .collect();
        return Ok(NativeSaid::Text(format!("I will look that up.{leaked}")));
    }
    let prefix = match dialect {
        Dialect::OpenAi => "call_mock_",
        Dialect::Anthropic => "toolu_mock_",
    };
    Ok(NativeSaid::Calls(
        calls
            .iter()
            .enumerate()
            .map(|(index, call)| NativeCall {
                id: format!("{prefix}{}", index + 1),
                name: call.name.clone(),
                arguments: arguments(call),
            })
            .collect(),
    ))
}

fn check_native_tools(dialect: Dialect, request: &Value, name: &str) -> Result<(), (u16, String)> {
    let ok = match dialect {
        Dialect::OpenAi => declares_openai_tool(request, name),
        Dialect::Anthropic => declares_anthropic_tool(request, name),
    };
    if ok {
        Ok(())
    } else {
        let shape = match dialect {
            Dialect::OpenAi => "{\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}",
            Dialect::Anthropic => "{\"name\", \"input_schema\"}",
        };
        Err((
            400,
            format!(
                "the scripted tool `{name}` is not among the request's tools in the shape {shape}"
            ),
        ))
    }
}

/// The results the conversation ends with: OpenAI's trailing `role: tool` messages, or the
/// `tool_result` blocks of Anthropic's last (user) message.
fn native_tool_results(dialect: Dialect, request: &Value) -> Vec<String> {
    let all: Vec<&Value> = messages(request).collect();
    match dialect {
        Dialect::OpenAi => {
            let mut results: Vec<String> = all
                .iter()
                .rev()
                .take_while(|message| message["role"] == "tool")
                .map(|message| content_text(&message["content"]))
                .collect();
            results.reverse();
            results
        }
        Dialect::Anthropic => all
            .last()
            .filter(|message| message["role"] == "user")
            .and_then(|message| message["content"].as_array())
            .into_iter()
            .flatten()
            .filter(|block| block["type"] == "tool_result")
            .map(|block| content_text(&block["content"]))
            .collect(),
    }
}

/// Text of a string content or of a list of `{"type": "text", "text"}` parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod native_tests {
    use super::*;

    fn call(name: &str) -> ScriptedCall {
        ScriptedCall {
            name: name.into(),
            arguments: json!({"city": "Paris"}),
            shape: None,
        }
    }

    #[test]
    fn openai_turns_call_then_quote_the_results() {
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {}}}]);
        let mut request = json!({"tools": tools, "messages": [{"role": "user", "content": "q"}]});
        let calls = [call("get_weather"), call("get_time")];
        let NativeSaid::Calls(made) =
            native_answer(Dialect::OpenAi, "gpt4o", &request, &calls).unwrap()
        else {
            panic!("expected calls")
        };
        assert_eq!(made[1].id, "call_mock_2");
        assert_eq!(made[0].arguments, json!({"city": "Paris"}));
        request["messages"] = json!([{"role": "user", "content": "q"},
            {"role": "assistant", "content": null, "tool_calls": []},
            {"role": "tool", "tool_call_id": "call_mock_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_mock_2", "content": [{"type": "text", "text": "noon"}]}]);
        assert_eq!(
            native_answer(Dialect::OpenAi, "gemini25pro", &request, &calls).unwrap(),
            NativeSaid::Text("The tool said: 18C; noon".into())
        );
        let leaked = native_answer(
            Dialect::OpenAi,
            "claudesonnet45",
            &json!({"tools": tools}),
            &calls[..1],
        );
        assert_eq!(
            leaked.unwrap(),
            NativeSaid::Text("I will look that up.{'id': 'toolu_mock_1', 'input': {'city': 'Paris'}, 'name': 'get_weather', 'type': 'tool_use'}".into())
        );
        let anthropic_tools = json!({"tools": [{"name": "get_weather", "input_schema": {}}]});
        assert_eq!(
            native_answer(Dialect::OpenAi, "gpt4o", &anthropic_tools, &calls[..1])
                .unwrap_err()
                .0,
            400
        );
    }

    #[test]
    fn anthropic_turns_call_then_quote_the_results() {
        let tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
        let mut request = json!({"tools": tools, "messages": [{"role": "user", "content": "q"}]});
        let calls = [call("get_weather")];
        let NativeSaid::Calls(made) =
            native_answer(Dialect::Anthropic, "claudesonnet45", &request, &calls).unwrap()
        else {
            panic!("expected calls")
        };
        assert_eq!(made[0].id, "toolu_mock_1");
        request["messages"] = json!([{"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "18C and sunny"}]}]);
        assert_eq!(
            native_answer(Dialect::Anthropic, "claudesonnet45", &request, &calls).unwrap(),
            NativeSaid::Text("The tool said: 18C and sunny".into())
        );
        let openai_tools =
            json!({"tools": [{"type": "function", "function": {"name": "get_weather"}}]});
        assert!(
            native_answer(Dialect::Anthropic, "claudesonnet45", &openai_tools, &calls).is_err()
        );
    }
}
