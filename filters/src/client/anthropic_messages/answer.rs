//! Writing a whole answer as a `message` object.

use serde::Serialize;
use serde_json::{json, Value};

use crate::hub::{Answer, Finish, Part, Usage};
use crate::openai::ResponseMeta;
use crate::tools::arguments_object;

/// Anthropic's `stop_reason`; an answer with calls that stopped normally stopped to use them.
pub(super) fn stop_reason(finish: Finish, calls: bool) -> &'static str {
    match finish {
        Finish::Stop if calls => "tool_use",
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

/// Anthropic's usage: `input_tokens` without the cached part, which is
/// `cache_read_input_tokens`. The hub does not tell cache writes apart (they stay in
/// `input_tokens`), so `cache_creation_input_tokens` is 0.
pub(super) fn usage_json(usage: &Usage) -> Value {
    let cached = usage.cached_input_tokens.unwrap_or(0);
    json!({
        "input_tokens": usage.input_tokens.saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": usage.output_tokens,
    })
}

#[derive(Serialize)]
struct WireAnswer<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: Value,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

impl<'a> OutBlock<'a> {
    /// The block for a part of an answer; `None` for what an answer does not hold and for
    /// empty text, which Anthropic refuses when the client sends the turn back.
    fn of(part: &'a Part) -> Option<Self> {
        match part {
            Part::Text(text) if text.is_empty() => None,
            Part::Text(text) => Some(OutBlock::Text { text }),
            Part::Thinking { text, signature } => {
                let signature = signature.as_deref().unwrap_or_default();
                (!text.is_empty() || !signature.is_empty()).then_some(OutBlock::Thinking {
                    thinking: text,
                    signature,
                })
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(OutBlock::ToolUse {
                id,
                name,
                input: arguments_object(arguments),
            }),
            Part::Image { .. } | Part::ToolResult { .. } => None,
        }
    }
}

/// Renders a `message` object. A call's `input` is its arguments parsed; arguments that are
/// not a JSON object are wrapped (`{"value": ...}` for other JSON, `{"raw": "..."}` for
/// text that is not JSON), as Anthropic's clients need an object.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let calls = answer.tool_calls().next().is_some();
    let message = WireAnswer {
        id: &meta.id,
        kind: "message",
        role: "assistant",
        model: &meta.model,
        content: answer.content.iter().filter_map(OutBlock::of).collect(),
        stop_reason: stop_reason(answer.finish, calls),
        stop_sequence: None,
        usage: usage_json(usage),
    };
    serde_json::to_vec(&message).unwrap_or_default()
}
