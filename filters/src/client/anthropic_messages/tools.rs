//! Reading `tools` and `tool_choice`.

use crate::error::ApiError;
use crate::hub::{ToolChoice, ToolDef};
use crate::tools::names::NameSet;

use super::wire::{required, WireTool, WireToolChoice};

/// Custom tools; Anthropic's server and built-in tools (`web_search_*`, `bash_*`,
/// `text_editor_*`, `computer_*`, `code_execution_*`, `memory_*`, ...) are refused.
pub(super) fn read_tools(tools: Vec<WireTool>) -> Result<Vec<ToolDef>, ApiError> {
    let mut read: Vec<ToolDef> = Vec::with_capacity(tools.len());
    let mut declared = NameSet::with_capacity(tools.len());
    for (index, tool) in tools.into_iter().enumerate() {
        let at = format!("tools[{index}]");
        if let Some(kind) = tool.kind.as_deref().filter(|kind| *kind != "custom") {
            let name = tool.name.as_deref().unwrap_or(kind);
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("{at}: `{name}` is one of Anthropic's own tools (`{kind}`), which Argo cannot run; declare it as a custom tool with `name`, `description` and `input_schema` and run it yourself"),
            ));
        }
        let name = required(tool.name, &at, "name")?;
        if !declared.insert(name.clone()) {
            return Err(ApiError::invalid(
                format!("{at}.name"),
                format!("{at}.name: tool names must be unique; `{name}` is declared twice"),
            ));
        }
        let parameters = required(tool.input_schema, &at, "input_schema")?;
        read.push(ToolDef {
            name,
            description: tool.description,
            parameters,
            strict: tool.strict,
        });
    }
    Ok(read)
}

/// The hub's tool choice and `parallel_tool_calls` (`disable_parallel_tool_use` inverted).
pub(super) fn read_tool_choice(
    choice: Option<WireToolChoice>,
    tools: &[ToolDef],
) -> Result<(Option<ToolChoice>, Option<bool>), ApiError> {
    let Some(choice) = choice else {
        return Ok((None, None));
    };
    let read = match choice.kind.as_str() {
        "auto" => ToolChoice::Auto,
        "none" => ToolChoice::None,
        "any" => ToolChoice::Required,
        "tool" => {
            let name = required(choice.name, "tool_choice", "name")?;
            if !tools.iter().any(|tool| tool.name == name) {
                return Err(ApiError::invalid(
                    "tool_choice.name",
                    format!("tool_choice.name: `{name}` is not one of the declared tools"),
                ));
            }
            ToolChoice::Named(name)
        }
        other => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                format!("tool_choice.type: must be `auto`, `any`, `tool` or `none`, got `{other}`"),
            ))
        }
    };
    if matches!(read, ToolChoice::Required) && tools.is_empty() {
        return Err(ApiError::invalid(
            "tool_choice",
            "tool_choice: `any` needs `tools`",
        ));
    }
    Ok((
        Some(read),
        choice.disable_parallel_tool_use.map(|disable| !disable),
    ))
}
