//! The answer writer: the `response` object.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::{Answer, Finish, Part, Usage};
use crate::openai::ResponseMeta;

use super::errors::failed_code;
use super::items::{Item, Slot, WireItem};
use super::tools::ClientTools;

/// The `response` object. Request parameters it echoes in OpenAI's API (tools, sampling,
/// instructions) are left at their defaults: the answer writer does not see the request.
#[derive(Serialize)]
pub(super) struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    error: Option<FailedError<'a>>,
    incomplete_details: Option<Incomplete>,
    instructions: Option<()>,
    max_output_tokens: Option<()>,
    model: &'a str,
    output: Vec<WireItem<'a>>,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: Option<()>,
    store: bool,
    temperature: Option<()>,
    tool_choice: &'static str,
    tools: [(); 0],
    top_p: Option<()>,
    truncation: &'static str,
    usage: Option<ResponseUsage>,
    user: Option<()>,
    metadata: Map<String, Value>,
}

#[derive(Serialize)]
struct FailedError<'a> {
    code: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

#[derive(Serialize)]
struct ResponseUsage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutputDetails {
    /// The hub does not count reasoning apart from the output.
    reasoning_tokens: u64,
}

impl From<&Usage> for ResponseUsage {
    fn from(usage: &Usage) -> Self {
        ResponseUsage {
            input_tokens: usage.input_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: usage.cached_input_tokens.unwrap_or(0),
            },
            output_tokens: usage.output_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: 0,
            },
            total_tokens: usage.input_tokens + usage.output_tokens,
        }
    }
}

/// How a response ended, as the response object says it.
#[derive(Clone, Copy)]
pub(super) enum Outcome<'a> {
    InProgress,
    Finished(Finish, &'a Usage),
    Failed(&'a ApiError),
}

impl Outcome<'_> {
    pub(super) fn status(self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::Finished(Finish::Stop | Finish::ToolCalls, _) => "completed",
            Outcome::Finished(Finish::Length | Finish::ContentFilter, _) => "incomplete",
            Outcome::Failed(_) => "failed",
        }
    }
}

pub(super) fn response_object<'a>(
    meta: &'a ResponseMeta,
    slots: &'a [Slot],
    outcome: Outcome<'a>,
) -> ResponseObject<'a> {
    let item_status = |slot: &Slot| match outcome {
        Outcome::Failed(_) if !slot.done => "incomplete",
        _ => "completed",
    };
    let (error, incomplete_details, usage) = match outcome {
        Outcome::InProgress => (None, None, None),
        Outcome::Finished(finish, usage) => {
            let reason = match finish {
                Finish::Length => Some("max_output_tokens"),
                Finish::ContentFilter => Some("content_filter"),
                Finish::Stop | Finish::ToolCalls => None,
            };
            (
                None,
                reason.map(|reason| Incomplete { reason }),
                Some(ResponseUsage::from(usage)),
            )
        }
        Outcome::Failed(error) => (
            Some(FailedError {
                code: failed_code(error),
                message: &error.message,
            }),
            None,
            None,
        ),
    };
    ResponseObject {
        id: &meta.id,
        object: "response",
        created_at: meta.created,
        status: outcome.status(),
        background: false,
        error,
        incomplete_details,
        instructions: None,
        max_output_tokens: None,
        model: &meta.model,
        output: match outcome {
            Outcome::InProgress => Vec::new(),
            _ => slots
                .iter()
                .map(|slot| slot.wire(item_status(slot), true))
                .collect(),
        },
        parallel_tool_calls: true,
        previous_response_id: None,
        reasoning: None,
        store: false,
        temperature: None,
        tool_choice: "auto",
        tools: [],
        top_p: None,
        truncation: "disabled",
        usage,
        user: None,
        metadata: Map::new(),
    }
}

/// The answer's parts as output items: each thinking part a reasoning item, consecutive text
/// parts one message, each call a function call or a custom tool call.
fn answer_slots(meta: &ResponseMeta, answer: &Answer, custom_tools: &ClientTools) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Vec::with_capacity(answer.content.len());
    for part in &answer.content {
        let item = match part {
            Part::Text(more) => {
                if let Some(Slot {
                    item: Item::Message { text },
                    ..
                }) = slots.last_mut()
                {
                    text.push_str(more);
                    continue;
                }
                Item::Message { text: more.clone() }
            }
            Part::Thinking { text, signature } => Item::Reasoning {
                text: text.clone(),
                signature: signature.clone(),
            },
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Item::call(custom_tools, id, name, arguments),
            Part::Image { .. } | Part::ToolResult { .. } => continue,
        };
        slots.push(Slot::new(&meta.id, slots.len(), item));
    }
    slots
}

/// Renders the `response` object: text as a `message` item, thinking as `reasoning` items,
/// calls as `function_call` items, or `custom_tool_call` items for `custom_tools`;
/// `incomplete` when the answer was cut short.
pub fn answer_json(
    answer: &Answer,
    meta: &ResponseMeta,
    usage: &Usage,
    custom_tools: &ClientTools,
) -> Vec<u8> {
    let slots = answer_slots(meta, answer, custom_tools);
    let response = response_object(meta, &slots, Outcome::Finished(answer.finish, usage));
    serde_json::to_vec(&response).unwrap_or_default()
}
