//! Claude models through Argo: OpenAI tools <-> Anthropic `tools`/`input_schema`,
//! assistant `tool_calls` -> `tool_use` blocks, `role: tool` results -> `tool_result` blocks.

use serde_json::{json, Value};

use super::{arguments_object, ToolChoice, ToolSpec};
use crate::argo::{Message, MessageContent};
use crate::openai::{ChatMessage, Role};

/// Anthropic's `tools` and `tool_choice` for the request.
pub fn tools(spec: &ToolSpec) -> (Value, Option<Value>) {
    let tools = spec
        .tools
        .iter()
        .map(|tool| {
            let mut entry = json!({"name": tool.name, "input_schema": tool.parameters});
            if let Some(description) = &tool.description {
                entry["description"] = json!(description);
            }
            entry
        })
        .collect();
    let mut choice = match &spec.choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
    };
    if !spec.parallel && spec.choice != ToolChoice::None {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    (Value::Array(tools), Some(choice))
}

/// The conversation in Anthropic's shape. Consecutive tool results merge into one user turn,
/// as Anthropic requires; other messages go through `plain`.
pub fn messages<'a>(
    messages: &'a [ChatMessage],
    plain: impl Fn(&'a ChatMessage) -> Message<'a>,
) -> Vec<Message<'a>> {
    let mut out: Vec<Message<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        match message.role {
            Role::Tool | Role::Function => {
                let block = tool_result(message);
                match out.last_mut() {
                    Some(Message {
                        role: "user",
                        content: MessageContent::Blocks(blocks),
                        ..
                    }) if is_tool_results(blocks) => blocks.push(block),
                    _ => out.push(Message {
                        role: "user",
                        content: MessageContent::Blocks(vec![block]),
                        tool_calls: None,
                        tool_call_id: None,
                    }),
                }
            }
            Role::Assistant
                if message
                    .tool_calls
                    .as_ref()
                    .is_some_and(|calls| !calls.is_empty()) =>
            {
                out.push(Message {
                    role: "assistant",
                    content: MessageContent::Blocks(tool_use_blocks(message)),
                    tool_calls: None,
                    tool_call_id: None,
                })
            }
            _ => out.push(plain(message)),
        }
    }
    out
}

fn is_tool_results(blocks: &[Value]) -> bool {
    blocks.iter().all(|block| block["type"] == "tool_result")
}

fn tool_result(message: &ChatMessage) -> Value {
    let text = message.content.texts().collect::<Vec<_>>().join("\n");
    json!({"type": "tool_result", "tool_use_id": message.tool_call_id.as_deref().unwrap_or_default(), "content": text})
}

fn tool_use_blocks(message: &ChatMessage) -> Vec<Value> {
    let text = message.content.texts().collect::<Vec<_>>().join("\n");
    let mut blocks = Vec::new();
    if !text.trim().is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message.tool_calls.iter().flatten() {
        let function = &call["function"];
        let arguments = super::arguments_string(function.get("arguments"));
        blocks.push(json!({"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments_object(&arguments)}));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_request;
    use crate::openai::ChatRequest;

    fn spec(choice: ToolChoice, parallel: bool) -> ToolSpec {
        ToolSpec {
            tools: vec![super::super::FunctionTool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            choice,
            parallel,
        }
    }

    #[test]
    fn tools_and_choices_take_anthropic_shape() {
        let (tools, choice) = tools(&spec(ToolChoice::Auto, true));
        assert_eq!(
            tools[0],
            json!({"name": "get_weather", "description": "Weather now", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}})
        );
        assert_eq!(choice, Some(json!({"type": "auto"})));
        assert_eq!(
            super::tools(&spec(ToolChoice::Required, false)).1,
            Some(json!({"type": "any", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            super::tools(&spec(ToolChoice::Function("get_weather".into()), true)).1,
            Some(json!({"type": "tool", "name": "get_weather"}))
        );
        assert_eq!(
            super::tools(&spec(ToolChoice::None, false)).1,
            Some(json!({"type": "none"}))
        );
    }

    #[test]
    fn tool_calls_and_results_become_blocks_and_results_merge() {
        let request: ChatRequest = parse_request(
            br#"{"model":"claude-sonnet-4","messages":[
                {"role":"user","content":"Weather in Paris and Rome?"},
                {"role":"assistant","content":"Checking.","tool_calls":[
                    {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                    {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
                {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
                {"role":"tool","tool_call_id":"toolu_2","content":[{"type":"text","text":"24C"}]},
                {"role":"user","content":"Thanks"}]}"#,
        )
        .unwrap();
        fn plain(message: &ChatMessage) -> Message<'_> {
            Message {
                role: "user",
                content: MessageContent::Text(message.content.joined_text().unwrap_or_default()),
                tool_calls: None,
                tool_call_id: None,
            }
        }
        let converted = serde_json::to_value(messages(&request.messages, plain)).unwrap();
        assert_eq!(
            converted.as_array().unwrap().len(),
            4,
            "two tool results merge into one user turn: {converted}"
        );
        assert_eq!(converted[1]["role"], "assistant");
        assert_eq!(
            converted[1]["content"][0],
            json!({"type": "text", "text": "Checking."})
        );
        assert_eq!(
            converted[1]["content"][2],
            json!({"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}})
        );
        assert!(converted[1].get("tool_calls").is_none());
        assert_eq!(converted[2]["role"], "user");
        assert_eq!(
            converted[2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"})
        );
        assert_eq!(converted[2]["content"][1]["content"], "24C");
        assert_eq!(converted[3]["content"], "Thanks");
    }
}
