//! The `write_file` directive: a model that writes a file with whichever writing tool the
//! client declared. Coding agents each bring their own (Claude Code `Write`, Gemini CLI
//! `write_file`, OpenCode `write` or, for GPT models, `apply_patch`, Codex `exec_command`), and
//! change them between versions; a test that names the file and its text keeps working when
//! they do. The directive becomes an ordinary `tool_call` for the tool found, so the rest of the
//! mock (the call's shape, the answer once the result is in) is the same as for `tool_call`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::tools::{ScriptedCall, ScriptedCalls};

/// `{"write_file": {"path", "content"}}` in a directive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
}

/// A declared tool: its name, its JSON schema's properties (if any), and whether it is a
/// freeform (`custom`) tool.
struct Declared<'a> {
    name: &'a str,
    properties: Option<&'a Map<String, Value>>,
    freeform: bool,
}

/// The call that writes `file` with the first writing tool `request` declares: a dedicated
/// file writer first, a shell after. `None` when it declares none (an agent's side request,
/// such as a title for the conversation, has no tools: the model then just answers).
pub fn call_for(file: &WriteFile, request: &Value) -> Option<ScriptedCalls> {
    let declared = declared_tools(request);
    let writer = declared
        .iter()
        .find_map(|tool| file_writer(tool, file))
        .or_else(|| declared.iter().find_map(|tool| shell_writer(tool, file)))?;
    Some(ScriptedCalls::One(writer))
}

fn file_writer(tool: &Declared, file: &WriteFile) -> Option<ScriptedCall> {
    let arguments = match tool.name {
        "Write" | "write_file" | "write" => {
            let path_key = ["file_path", "filePath", "path"]
                .into_iter()
                .find(|key| has_property(tool, key))
                .unwrap_or("file_path");
            json!({path_key: file.path, "content": file.content})
        }
        "apply_patch" => {
            let key = match tool.freeform || has_property(tool, "input") {
                true => "input",
                false => "patchText",
            };
            json!({key: add_file_patch(file)})
        }
        _ => return None,
    };
    Some(call(tool.name, arguments))
}

fn shell_writer(tool: &Declared, file: &WriteFile) -> Option<ScriptedCall> {
    let script = format!(
        "printf '%s' {} > {}",
        shell_quote(&file.content),
        shell_quote(&file.path)
    );
    let arguments = match tool.name {
        "exec_command" => json!({"cmd": script}),
        "shell" => json!({"command": ["bash", "-lc", script]}),
        "bash" | "Bash" | "run_shell_command" => json!({"command": script}),
        _ => return None,
    };
    Some(call(tool.name, arguments))
}

fn call(name: &str, arguments: Value) -> ScriptedCall {
    ScriptedCall {
        name: name.to_string(),
        arguments,
        shape: None,
    }
}

fn has_property(tool: &Declared, key: &str) -> bool {
    tool.properties.is_some_and(|p| p.contains_key(key))
}

/// The `apply_patch` envelope Codex and OpenCode share, adding one file.
fn add_file_patch(file: &WriteFile) -> String {
    let lines: String = file.content.lines().map(|l| format!("+{l}\n")).collect();
    format!(
        "*** Begin Patch\n*** Add File: {}\n{lines}*** End Patch",
        file.path
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Every tool the request declares, in order, in any of the shapes Argo's endpoints take:
/// OpenAI chat (`{"function": {"name", "parameters"}}`), Anthropic (`{"name", "input_schema"}`),
/// Responses (`{"type": "function" | "custom", "name", "parameters"}`, and the tools inside a
/// `namespace`).
fn declared_tools(request: &Value) -> Vec<Declared<'_>> {
    let mut found = Vec::new();
    for tool in request["tools"].as_array().into_iter().flatten() {
        match tool["tools"].as_array() {
            Some(inner) => inner.iter().for_each(|t| found.extend(declared(t))),
            None => found.extend(declared(tool)),
        }
    }
    found
}

fn declared(tool: &Value) -> Option<Declared<'_>> {
    let function = tool.get("function").unwrap_or(tool);
    let schema = function
        .get("parameters")
        .or_else(|| function.get("input_schema"));
    Some(Declared {
        name: function["name"].as_str()?,
        properties: schema.and_then(|s| s["properties"].as_object()),
        freeform: tool["type"] == "custom",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> WriteFile {
        WriteFile {
            path: "/tmp/w/hello.txt".into(),
            content: "it's here\n".into(),
        }
    }

    fn only_call(request: Value) -> ScriptedCall {
        match call_for(&file(), &request) {
            Some(ScriptedCalls::One(call)) => call,
            other => panic!("expected one call, got {other:?}"),
        }
    }

    #[test]
    fn a_file_writer_is_preferred_to_a_shell_and_its_own_argument_names_are_used() {
        let request = json!({"tools": [
            {"type": "function", "function": {"name": "bash", "parameters": {"properties": {"command": {}}}}},
            {"type": "function", "function": {"name": "write", "parameters": {"properties": {"filePath": {}, "content": {}}}}}]});
        let call = only_call(request);
        assert_eq!(call.name, "write");
        assert_eq!(
            call.arguments,
            json!({"filePath": "/tmp/w/hello.txt", "content": "it's here\n"})
        );
        let anthropic = json!({"tools": [{"name": "Write", "input_schema": {"properties": {"file_path": {}, "content": {}}}}]});
        assert_eq!(
            only_call(anthropic).arguments["file_path"],
            "/tmp/w/hello.txt"
        );
    }

    #[test]
    fn apply_patch_gets_an_add_file_patch_under_its_own_key() {
        let function = json!({"tools": [{"type": "function", "function": {"name": "apply_patch",
            "parameters": {"properties": {"patchText": {}}}}}]});
        assert_eq!(
            only_call(function).arguments["patchText"],
            "*** Begin Patch\n*** Add File: /tmp/w/hello.txt\n+it's here\n*** End Patch"
        );
        let custom = json!({"tools": [{"type": "custom", "name": "apply_patch"}]});
        assert!(only_call(custom).arguments["input"]
            .as_str()
            .is_some_and(|p| p.starts_with("*** Begin Patch")));
    }

    #[test]
    fn a_shell_writes_with_quoted_printf_and_namespaced_tools_are_seen() {
        let codex = json!({"tools": [
            {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "spawn_agent"}]},
            {"type": "function", "name": "exec_command", "parameters": {"properties": {"cmd": {}}}}]});
        assert_eq!(
            only_call(codex).arguments["cmd"],
            r"printf '%s' 'it'\''s here
' > '/tmp/w/hello.txt'"
        );
        let nested = json!({"tools": [{"type": "namespace", "name": "ns",
            "tools": [{"type": "function", "name": "write_file"}]}]});
        assert_eq!(only_call(nested).name, "write_file");
    }

    #[test]
    fn without_a_writing_tool_there_is_no_call() {
        assert!(call_for(&file(), &json!({"messages": []})).is_none());
        let other = json!({"tools": [{"type": "function", "function": {"name": "get_weather"}}]});
        assert!(call_for(&file(), &other).is_none());
    }
}
