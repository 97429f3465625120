//! Claude's tools: OpenAI tools <-> Anthropic `tools`/`input_schema` and `tool_choice`, for
//! Argo's native Anthropic endpoint and Claude on the resource API.

use serde_json::{json, Value};

use super::{ToolChoice, ToolSpec};

/// Anthropic's `tools` and `tool_choice` for the request.
pub fn tools(spec: &ToolSpec) -> (Value, Option<Value>) {
    let tools = spec
        .tools
        .iter()
        .map(|tool| {
            let mut entry = json!({"name": tool.name, "input_schema": tool.schema()});
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
        ToolChoice::Named(name) => json!({"type": "tool", "name": name}),
    };
    if !spec.parallel && spec.choice != ToolChoice::None {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    (Value::Array(tools), Some(choice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(choice: ToolChoice, parallel: bool) -> ToolSpec {
        ToolSpec {
            tools: vec![super::super::FunctionTool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                strict: None,
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
            super::tools(&spec(ToolChoice::Named("get_weather".into()), true)).1,
            Some(json!({"type": "tool", "name": "get_weather"}))
        );
        assert_eq!(
            super::tools(&spec(ToolChoice::None, false)).1,
            Some(json!({"type": "none"}))
        );
    }
}
