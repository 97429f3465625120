//! Claude through Argo's resource API: assistant tool calls as `tool_use` blocks, tool results
//! as `tool_result` blocks, in OpenAI-shaped messages.

use super::plain::push_plain;
use crate::hub::{Message, Part, Role};
use crate::upstream::anthropic::Block;
use crate::upstream::chat_message::{Message as WireMessage, MessageContent};

/// The conversation in the shape Argo's resource API takes for Claude: tool traffic as
/// Anthropic blocks, consecutive tool results merged into one user turn as Anthropic requires,
/// other messages as for any model.
pub fn messages(messages: &[Message]) -> Vec<WireMessage<'_>> {
    let mut out: Vec<WireMessage> = Vec::with_capacity(messages.len());
    // Whether the last message is a user turn of tool results only, which the next results
    // join (known here rather than checked block by block: that was quadratic).
    let mut results_last = false;
    for message in messages {
        match message.role {
            Role::Tool => {
                for block in message.content.iter().filter_map(tool_result) {
                    match out.last_mut() {
                        Some(WireMessage {
                            content: MessageContent::Blocks(blocks),
                            ..
                        }) if results_last => blocks.push(block),
                        _ => out.push(WireMessage {
                            content: MessageContent::Blocks(vec![block]),
                            ..WireMessage::text("user", "")
                        }),
                    }
                    results_last = true;
                }
                continue;
            }
            Role::Assistant if message.has_tool_calls() => out.push(WireMessage {
                content: MessageContent::Blocks(tool_use_blocks(message)),
                ..WireMessage::text("assistant", "")
            }),
            _ => push_plain(&mut out, message),
        }
        results_last = false;
    }
    out
}

fn tool_result(part: &Part) -> Option<Block<'_>> {
    matches!(part, Part::ToolResult { .. })
        .then(|| Block::of(part))
        .flatten()
}

fn tool_use_blocks(message: &Message) -> Vec<Block<'_>> {
    let text = message.joined_text("\n");
    let mut blocks = Vec::new();
    if !text.trim().is_empty() {
        blocks.push(Block::Text { text: text.into() });
    }
    blocks.extend(
        message
            .content
            .iter()
            .filter(|part| matches!(part, Part::ToolCall { .. }))
            .filter_map(Block::of),
    );
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_request;
    use crate::openai::ChatRequest;
    use serde_json::json;

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
        let conversation = crate::client::openai_chat::conversation(request).unwrap();
        let converted = serde_json::to_value(messages(&conversation.messages)).unwrap();
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
