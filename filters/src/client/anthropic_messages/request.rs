//! From a read request to a conversation: refused features, sampling, thinking and effort.

use crate::error::ApiError;
use crate::hub::{Conversation, Dialect, Message, Part, Role};

use super::blocks::{read_message, system_texts};
use super::tools::{read_tool_choice, read_tools};
use super::wire::{Request, ThinkingConfig, EFFORTS};

pub(super) fn conversation(request: Request) -> Result<(Conversation, String), ApiError> {
    refuse_unservable(&request)?;
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        let texts = system_texts(system, "system")?;
        if texts
            .iter()
            .any(|part| matches!(part, Part::Text(text) if !text.is_empty()))
        {
            messages.push(Message::new(Role::System, texts));
        }
    }
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages: at least one message is required",
        ));
    }
    for (index, message) in request.messages.into_iter().enumerate() {
        read_message(&mut messages, index, message)?;
    }
    let tools = read_tools(request.tools.unwrap_or_default())?;
    let (tool_choice, parallel_tool_calls) = read_tool_choice(request.tool_choice, &tools)?;
    let mut conversation = Conversation::new(Dialect::AnthropicMessages, messages);
    conversation.tools = tools;
    conversation.tool_choice = tool_choice;
    conversation.parallel_tool_calls = parallel_tool_calls;
    conversation.max_tokens = request.max_tokens;
    conversation.temperature = unit_interval(request.temperature, "temperature")?;
    conversation.top_p = unit_interval(request.top_p, "top_p")?;
    conversation.stop = request.stop_sequences.unwrap_or_default();
    let effort = request.output_config.and_then(|config| config.effort);
    conversation.reasoning_effort = reasoning_effort(request.thinking, effort)?;
    conversation.stream = request.stream == Some(true);
    conversation.include_usage = true;
    if let Some(top_k) = request.top_k {
        conversation.extra.insert("top_k".into(), top_k.into());
    }
    Ok((conversation, request.model))
}

const NO_STRUCTURED_OUTPUTS: &str = "structured outputs cannot be served through this gateway; describe the JSON you want in the prompt, or declare a tool with that input_schema";

/// Requests for what Argo cannot do behind this gateway: structured outputs (the upstream
/// writes `output_config` itself and has no slot for a format) and remote MCP servers.
fn refuse_unservable(request: &Request) -> Result<(), ApiError> {
    let format = request
        .output_config
        .as_ref()
        .and_then(|config| config.format.as_ref());
    if format.is_some_and(|format| !format.is_null()) {
        return Err(ApiError::invalid(
            "output_config.format",
            format!("output_config.format: {NO_STRUCTURED_OUTPUTS}"),
        ));
    }
    if request
        .output_format
        .as_ref()
        .is_some_and(|format| !format.is_null())
    {
        return Err(ApiError::invalid(
            "output_format",
            format!("output_format: {NO_STRUCTURED_OUTPUTS}"),
        ));
    }
    if request
        .mcp_servers
        .as_ref()
        .is_some_and(|servers| !servers.is_empty())
    {
        return Err(ApiError::invalid(
            "mcp_servers",
            "mcp_servers: Argo cannot connect to MCP servers; run the MCP client yourself and declare its tools in `tools`",
        ));
    }
    Ok(())
}

fn unit_interval(value: Option<f64>, field: &str) -> Result<Option<f64>, ApiError> {
    match value {
        Some(value) if !(0.0..=1.0).contains(&value) => Err(ApiError::invalid(
            field,
            format!("{field}: must be between 0 and 1, got {value}"),
        )),
        _ => Ok(value),
    }
}

/// Anthropic's thinking settings as the hub's `reasoning_effort`, which the Anthropic upstream
/// turns back into `output_config.effort` and adaptive thinking (the only thinking Argo takes):
/// an explicit `output_config.effort` wins; adaptive thinking without one is Anthropic's
/// default effort, `high`; a `budget_tokens` picks a level (below 8192 `low`, below 24576
/// `medium`, else `high`: Claude Code's "think", "think hard" and "ultrathink" ask 4000,
/// 10000 and 31999); disabled thinking sends no effort, so that no upstream turns thinking on.
/// An effort without `thinking` stays an effort, which the upstream also turns into adaptive
/// thinking on models that have it: the hub cannot say "effort, but no thinking".
pub(super) fn reasoning_effort(
    thinking: Option<ThinkingConfig>,
    effort: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(effort) = &effort {
        if !EFFORTS.contains(&effort.as_str()) {
            return Err(ApiError::invalid(
                "output_config.effort",
                format!(
                    "output_config.effort: must be one of {}, got `{effort}`",
                    EFFORTS.join(", ")
                ),
            ));
        }
    }
    let Some(thinking) = thinking else {
        return Ok(effort);
    };
    Ok(match thinking.kind.as_str() {
        "disabled" => None,
        "adaptive" => effort.or_else(|| Some("high".into())),
        "enabled" => {
            let budget = thinking.budget_tokens.ok_or_else(|| {
                ApiError::invalid(
                    "thinking.budget_tokens",
                    "thinking.budget_tokens: Field required",
                )
            })?;
            effort.or_else(|| Some(budget_effort(budget).into()))
        }
        other => {
            return Err(ApiError::invalid(
                "thinking.type",
                format!(
                    "thinking.type: must be `enabled`, `adaptive` or `disabled`, got `{other}`"
                ),
            ))
        }
    })
}

fn budget_effort(budget_tokens: u64) -> &'static str {
    match budget_tokens {
        0..8192 => "low",
        8192..24576 => "medium",
        _ => "high",
    }
}
