//! Prompt-based tool calling for models whose Argo endpoint takes no tools (Gemini).
//!
//! The tools and the output contract go into the system prompt; the model answers with
//! `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, which [`ToolScanner`] turns
//! back into OpenAI tool calls, also while streaming. Earlier calls and their results are
//! rendered back into the conversation as text for multi-turn use.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::{arguments_object, arguments_string, call_id, openai_call, ToolChoice, ToolSpec};
use crate::argo::{Message, MessageContent};
use crate::openai::{ChatMessage, Role};

pub const OPEN: &str = "<tool_call>";
pub const CLOSE: &str = "</tool_call>";

/// The system-prompt text that declares the tools and the exact output contract.
pub fn system_prompt(spec: &ToolSpec) -> String {
    let tools: Vec<Value> = spec
        .tools
        .iter()
        .map(|tool| json!({"name": tool.name, "description": tool.description, "parameters": tool.parameters}))
        .collect();
    let tools = serde_json::to_string_pretty(&tools).unwrap_or_default();
    let when = match &spec.choice {
        ToolChoice::Auto | ToolChoice::None => {
            "Call a tool only when it helps answer; otherwise answer normally in plain text."
                .to_string()
        }
        ToolChoice::Required => "You MUST call at least one tool in this reply.".to_string(),
        ToolChoice::Function(name) => format!("You MUST call the tool `{name}` in this reply."),
    };
    let how_many = if spec.parallel {
        "You may call several tools in one reply: write one block per call."
    } else {
        "Call at most one tool per reply."
    };
    format!(
        "# Tools\n\nYou can call these tools (JSON Schema parameters):\n{tools}\n\n\
         To call a tool, write exactly this, with the arguments as a JSON object that fits the schema:\n\
         {OPEN}{{\"name\": \"<tool name>\", \"arguments\": {{...}}}}{CLOSE}\n\n\
         {when} {how_many} Write nothing after your tool calls: their results arrive in the next \
         message as <tool_result> blocks. Never invent results, and never use the {OPEN} tag except to call a tool."
    )
}

/// The conversation with tool traffic rendered as text, the tool prompt added to the system
/// message (or a new one first). `plain` renders ordinary messages.
pub fn messages<'a>(
    messages: &'a [ChatMessage],
    spec: Option<&ToolSpec>,
    plain: impl Fn(&'a ChatMessage) -> Message<'a>,
) -> Vec<Message<'a>> {
    let mut out: Vec<Message<'a>> = messages
        .iter()
        .map(|message| match message.role {
            Role::Tool | Role::Function => text_message("user", tool_result_text(message)),
            Role::Assistant
                if message
                    .tool_calls
                    .as_ref()
                    .is_some_and(|calls| !calls.is_empty()) =>
            {
                text_message("assistant", assistant_call_text(message))
            }
            _ => plain(message),
        })
        .collect();
    if let Some(spec) = spec.filter(|spec| spec.choice != ToolChoice::None) {
        let prompt = system_prompt(spec);
        match out.iter_mut().find(|message| message.role == "system") {
            Some(system) => {
                let existing = match &system.content {
                    MessageContent::Text(text) => text.to_string(),
                    _ => String::new(),
                };
                system.content = MessageContent::Text(Cow::Owned(
                    format!("{existing}\n\n{prompt}").trim().to_string(),
                ));
            }
            None => out.insert(0, text_message("system", prompt)),
        }
    }
    out
}

fn text_message<'a>(role: &'static str, text: String) -> Message<'a> {
    Message {
        role,
        content: MessageContent::Text(Cow::Owned(text)),
        tool_calls: None,
        tool_call_id: None,
    }
}

fn tool_result_text(message: &ChatMessage) -> String {
    let text = message.content.texts().collect::<Vec<_>>().join("\n");
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    let name = message
        .name
        .as_deref()
        .map(|name| format!(" name=\"{name}\""))
        .unwrap_or_default();
    format!("<tool_result tool_call_id=\"{id}\"{name}>\n{text}\n</tool_result>")
}

fn assistant_call_text(message: &ChatMessage) -> String {
    let mut text = message.content.texts().collect::<Vec<_>>().join("\n");
    for call in message.tool_calls.iter().flatten() {
        let function = &call["function"];
        let arguments = arguments_object(&arguments_string(function.get("arguments")));
        let rendered = json!({"name": function["name"], "arguments": arguments});
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{OPEN}{rendered}{CLOSE}"));
    }
    text
}

/// What the scanner releases: text for the client, or a recognised tool call (OpenAI shape).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Call(Value),
}

/// Finds tool-call blocks in model text as it streams. Only text that may be the start of
/// `<tool_call>` is held back, and released as soon as it cannot be; a block is withheld until
/// it closes, then released as a call, or as the original text if it is not a valid call.
#[derive(Debug, Clone)]
pub struct ToolScanner {
    names: Vec<String>,
    response_id: String,
    buffer: String,
    inside: bool,
    calls: usize,
}

impl ToolScanner {
    /// `names`: the declared tools; a block naming anything else stays text.
    pub fn new(names: Vec<String>, response_id: &str) -> Self {
        ToolScanner {
            names,
            response_id: response_id.to_string(),
            buffer: String::new(),
            inside: false,
            calls: 0,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls
    }

    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.buffer.push_str(text);
        let mut pieces = Vec::new();
        loop {
            if self.inside {
                let Some(end) = self.buffer.find(CLOSE) else {
                    break;
                };
                let block: String = self.buffer.drain(..end + CLOSE.len()).collect();
                self.inside = false;
                pieces.push(self.block(&block[..end]));
            } else if let Some(start) = self.buffer.find(OPEN) {
                let before: String = self.buffer.drain(..start + OPEN.len()).collect();
                push_text(&mut pieces, &before[..start]);
                self.inside = true;
            } else {
                let keep = held_back(&self.buffer);
                let release: String = self.buffer.drain(..self.buffer.len() - keep).collect();
                push_text(&mut pieces, &release);
                break;
            }
        }
        pieces
    }

    /// End of the answer: an unclosed block is tried as a call (models drop the closing tag),
    /// and anything else is released as text.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.buffer);
        let mut pieces = Vec::new();
        if self.inside {
            self.inside = false;
            pieces.push(self.block(&rest));
        } else {
            push_text(&mut pieces, &rest);
        }
        pieces
    }

    fn block(&mut self, body: &str) -> Piece {
        match parse_call(body, &self.names) {
            Some((name, arguments)) => {
                let call = openai_call(call_id(&self.response_id, self.calls), &name, arguments);
                self.calls += 1;
                Piece::Call(call)
            }
            None => Piece::Text(format!("{OPEN}{body}{CLOSE}")),
        }
    }
}

/// Splits a whole answer into text and calls (the non-streaming path).
pub fn extract(text: &str, names: Vec<String>, response_id: &str) -> (Option<String>, Vec<Value>) {
    let mut scanner = ToolScanner::new(names, response_id);
    let mut pieces = scanner.push(text);
    pieces.extend(scanner.finish());
    let mut content = String::new();
    let mut calls = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => content.push_str(&text),
            Piece::Call(call) => calls.push(call),
        }
    }
    // With calls lifted out, what remains around them is trimmed; a plain answer stays exact.
    let content = if calls.is_empty() {
        content
    } else {
        strip_empty_fences(&content).trim().to_string()
    };
    ((!content.is_empty()).then_some(content), calls)
}

/// Models often wrap their call in a code fence; once the call is lifted out the empty fence is noise.
fn strip_empty_fences(text: &str) -> String {
    let mut out = text.to_string();
    for fence in ["```json", "```xml", "```tool_call", "```"] {
        while let Some(start) = out.find(fence) {
            let after = &out[start + fence.len()..];
            let Some(close) = after.find("```") else {
                break;
            };
            if !after[..close].trim().is_empty() {
                break;
            }
            out.replace_range(start..start + fence.len() + close + 3, "");
        }
    }
    out
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    match pieces.last_mut() {
        Some(Piece::Text(previous)) => previous.push_str(text),
        _ => pieces.push(Piece::Text(text.to_string())),
    }
}

/// How many trailing bytes of `text` could be the start of `<tool_call>`.
fn held_back(text: &str) -> usize {
    (1..OPEN.len())
        .rev()
        .find(|&len| text.len() >= len && text.ends_with(&OPEN[..len]))
        .unwrap_or(0)
}

/// A block body -> (name, arguments as a JSON string) when it is a call to a declared tool.
fn parse_call(body: &str, names: &[String]) -> Option<(String, String)> {
    let body = strip_fence(body.trim());
    let value: Value = serde_json::from_str(body)
        .ok()
        .or_else(|| serde_json::from_str(&repair_json(body)).ok())?;
    let object = value.as_object()?;
    let name = object.get("name").and_then(Value::as_str)?;
    if !names.iter().any(|declared| declared == name) {
        return None;
    }
    let arguments = match object.get("arguments").or_else(|| object.get("parameters")) {
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text)
            .ok()
            .or_else(|| serde_json::from_str(&repair_json(text)).ok())
        {
            Some(parsed @ Value::Object(_)) => parsed.to_string(),
            _ => return None,
        },
        Some(Value::Object(arguments)) => Value::Object(arguments.clone()).to_string(),
        None | Some(Value::Null) => "{}".to_string(),
        Some(_) => return None,
    };
    Some((name.to_string(), arguments))
}

fn strip_fence(body: &str) -> &str {
    let Some(rest) = body.strip_prefix("```") else {
        return body;
    };
    let rest = rest.split_once('\n').map(|(_, rest)| rest).unwrap_or(rest);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// Mends the damage models commonly do to JSON: trailing commas, unclosed strings, brackets
/// and braces.
pub fn repair_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut closers = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => closers.push('}'),
            '[' => closers.push(']'),
            '}' | ']' => {
                drop_trailing_comma(&mut out);
                if closers.last() == Some(&c) {
                    closers.pop();
                } else {
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    if in_string {
        out.push('"');
    }
    drop_trailing_comma(&mut out);
    while let Some(closer) = closers.pop() {
        drop_trailing_comma(&mut out);
        out.push(closer);
    }
    out
}

fn drop_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end().len();
    if out[..trimmed].ends_with(',') {
        out.truncate(trimmed - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::FunctionTool;

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn call(name: &str, arguments: &str, index: usize) -> Value {
        openai_call(call_id("chatcmpl-r1", index), name, arguments.into())
    }

    #[test]
    fn extracts_several_calls_with_text_around() {
        let text = "Let me check both.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n<tool_call>{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}</tool_call>";
        let (content, calls) = extract(text, names(), "chatcmpl-r1");
        assert_eq!(content.as_deref(), Some("Let me check both."));
        assert_eq!(
            calls,
            vec![
                call("get_weather", r#"{"city":"Paris"}"#, 0),
                call("get_time", r#"{"zone":"CET"}"#, 1)
            ]
        );
    }

    #[test]
    fn code_fences_missing_close_tags_and_damaged_json_are_handled() {
        let fenced = "```xml\n<tool_call>\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\",}}\n```\n</tool_call>\n```";
        let (content, calls) = extract(fenced, names(), "chatcmpl-r1");
        assert_eq!(calls, vec![call("get_weather", r#"{"city":"Oslo"}"#, 0)]);
        assert_eq!(content, None, "the emptied fence is dropped");
        let unclosed = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"";
        assert_eq!(
            extract(unclosed, names(), "chatcmpl-r1").1,
            vec![call("get_weather", r#"{"city":"Lima"}"#, 0)]
        );
        let string_arguments =
            r#"<tool_call>{"name": "get_time", "arguments": "{\"zone\": \"UTC\"}"}</tool_call>"#;
        assert_eq!(
            extract(string_arguments, names(), "chatcmpl-r1").1,
            vec![call("get_time", r#"{"zone":"UTC"}"#, 0)]
        );
    }

    #[test]
    fn text_that_only_looks_like_a_call_stays_text() {
        for text in [
            "Use <tool_call>{\"name\": \"launch_rockets\", \"arguments\": {}}</tool_call> to launch.",
            "The tag <tool_call> starts a call.",
            "<tool_call>not json at all</tool_call>",
            "I would call get_weather with {\"city\": \"Paris\"}.",
        ] {
            let (content, calls) = extract(text, names(), "chatcmpl-r1");
            assert!(calls.is_empty(), "{text}");
            assert_eq!(content.as_deref().map(|c| c.trim_end_matches(CLOSE)), Some(text.trim_end_matches(CLOSE)), "{text}");
        }
    }

    #[test]
    fn streaming_holds_back_only_a_possible_tag_start() {
        let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
        assert_eq!(scanner.push("Sure <"), vec![Piece::Text("Sure ".into())]);
        assert_eq!(
            scanner.push("b>bold</b> <tool"),
            vec![Piece::Text("<b>bold</b> ".into())]
        );
        assert_eq!(scanner.push("_call>{\"name\":\"get_time\","), vec![]);
        assert_eq!(scanner.push("\"arguments\":{}}</tool_"), vec![]);
        assert_eq!(
            scanner.push("call> done"),
            vec![
                Piece::Call(call("get_time", "{}", 0)),
                Piece::Text(" done".into())
            ]
        );
        assert_eq!(scanner.finish(), vec![]);
        assert_eq!(scanner.calls(), 1);
    }

    #[test]
    fn every_split_of_an_answer_gives_the_same_pieces() {
        let text = "Hi <tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Nice\"}}</tool_call> bye <tool";
        let whole = extract(text, names(), "chatcmpl-r1");
        for split in 1..text.len() {
            let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
            let mut pieces = scanner.push(&text[..split]);
            pieces.extend(scanner.push(&text[split..]));
            pieces.extend(scanner.finish());
            let content: String = pieces
                .iter()
                .filter_map(|p| {
                    if let Piece::Text(t) = p {
                        Some(t.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            let calls: Vec<Value> = pieces
                .iter()
                .filter_map(|p| {
                    if let Piece::Call(c) = p {
                        Some(c.clone())
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(calls, whole.1, "split at {split}");
            assert_eq!(
                content.trim(),
                whole.0.as_deref().unwrap_or("").trim(),
                "split at {split}"
            );
        }
    }

    #[test]
    fn repair_fixes_common_damage() {
        for (damaged, fixed) in [
            (r#"{"a": 1,}"#, r#"{"a": 1}"#),
            (
                r#"{"a": [1, 2,], "b": {"c": "x"#,
                r#"{"a": [1, 2], "b": {"c": "x"}}"#,
            ),
            (r#"{"a": "}"}"#, r#"{"a": "}"}"#),
        ] {
            assert_eq!(repair_json(damaged), fixed);
        }
    }

    #[test]
    fn prompt_declares_tools_contract_and_choice() {
        let spec = ToolSpec {
            tools: vec![FunctionTool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object"}),
            }],
            choice: ToolChoice::Function("get_weather".into()),
            parallel: false,
        };
        let prompt = system_prompt(&spec);
        assert!(prompt.contains("\"get_weather\"") && prompt.contains("Weather now"));
        assert!(prompt
            .contains("<tool_call>{\"name\": \"<tool name>\", \"arguments\": {...}}</tool_call>"));
        assert!(prompt.contains("You MUST call the tool `get_weather`"));
        assert!(prompt.contains("at most one tool"));
    }

    #[test]
    fn history_is_rendered_as_text_and_prompt_joins_the_system_message() {
        let request: crate::openai::ChatRequest = crate::json::parse_request(
            br#"{"model":"gemini-2.5-pro","messages":[
                {"role":"system","content":"Be nice."},
                {"role":"user","content":"Weather?"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
                {"role":"tool","tool_call_id":"call_1","content":"18C"}]}"#,
        )
        .unwrap();
        let spec = ToolSpec {
            tools: vec![FunctionTool {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object"}),
            }],
            choice: ToolChoice::Auto,
            parallel: true,
        };
        fn plain(message: &ChatMessage) -> Message<'_> {
            text_message(
                if message.role == Role::System {
                    "system"
                } else {
                    "user"
                },
                message
                    .content
                    .joined_text()
                    .unwrap_or_default()
                    .into_owned(),
            )
        }
        let rendered =
            serde_json::to_value(messages(&request.messages, Some(&spec), plain)).unwrap();
        assert!(rendered[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Be nice.\n\n# Tools"));
        assert_eq!(
            rendered[2],
            json!({"role": "assistant", "content": "<tool_call>{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"}</tool_call>"})
        );
        assert_eq!(
            rendered[3],
            json!({"role": "user", "content": "<tool_result tool_call_id=\"call_1\">\n18C\n</tool_result>"})
        );
    }
}
