//! Anthropic's messages: the answer JSON and the SSE stream.

use serde_json::{json, Value};

use crate::sse::{self, Step};

use super::said::Stop;
use super::turn::{Meta, Pace, Steps, Turn, SIGNATURE};

pub(super) fn stop_reason(stop: &Stop) -> &'static str {
    match stop {
        Stop::End => "end_turn",
        Stop::ToolUse => "tool_use",
        Stop::MaxTokens => "max_tokens",
        Stop::Sequence(_) => "stop_sequence",
    }
}

fn anthropic_usage(turn: &Turn, output_tokens: u64) -> Value {
    let (created, read) = match turn.usage_nulls {
        true => (Value::Null, Value::Null),
        false => (json!(0), json!(turn.cached_tokens)),
    };
    let mut usage = json!({"input_tokens": turn.input_tokens, "output_tokens": output_tokens,
        "cache_creation_input_tokens": created, "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_1h_input_tokens": created, "ephemeral_5m_input_tokens": created}});
    if turn.omit_input_tokens {
        if let Some(fields) = usage.as_object_mut() {
            fields.remove("input_tokens");
        }
    }
    usage
}

/// Whether the answer has a text block: when it has text, or nothing else to say.
fn has_text_block(turn: &Turn, pace: Option<&Pace>) -> bool {
    !turn.text.is_empty()
        || turn.calls.is_empty()
        || pace.is_some_and(|pace| pace.forever.is_some())
}

/// An Anthropic message as the probe recorded Argo's (no `stop_sequence` unless one stopped it).
pub(super) fn anthropic_json(turn: &Turn, meta: &Meta) -> Value {
    let mut content = Vec::new();
    if let Some(data) = &turn.redacted_thinking {
        content.push(json!({"type": "redacted_thinking", "data": data}));
    }
    if let Some(thinking) = &turn.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": SIGNATURE}));
    }
    if has_text_block(turn, None) {
        content.push(json!({"type": "text", "text": turn.text()}));
    }
    for call in &turn.calls {
        content.push(
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}),
        );
    }
    let mut message = json!({"id": meta.id, "type": "message", "role": "assistant",
        "model": meta.model, "content": content, "stop_reason": stop_reason(&turn.stop),
        "usage": anthropic_usage(turn, turn.output_tokens())});
    if let Stop::Sequence(sequence) = &turn.stop {
        message["stop_sequence"] = json!(sequence);
    }
    message
}

/// Anthropic's stream: `message_start`, per block `content_block_start`, deltas
/// (`thinking_delta` then `signature_delta`, `text_delta`, `input_json_delta`) and
/// `content_block_stop`, one `ping` after the first block starts (as Anthropic's API does),
/// `message_delta` with `stop_reason` and `usage.output_tokens`, `message_stop`.
pub(super) fn anthropic_stream(turn: &Turn, meta: &Meta, pace: &Pace) -> Vec<Step> {
    let ping = sse::event("ping", &json!({"type": "ping"}));
    let mut steps = Steps {
        steps: Vec::new(),
        pings: pace.pings.then(|| ping.clone()),
    };
    steps.now(sse::event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": meta.id, "type": "message",
            "role": "assistant", "model": meta.model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": anthropic_usage(turn, 1)}}),
    ));
    let delta = |index: usize, delta: Value| {
        sse::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let stop = |index: usize| {
        sse::event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
    };
    // Each block: its start, its paced deltas, the deltas sent at once after them.
    let mut blocks: Vec<(Value, Vec<bytes::Bytes>, Vec<bytes::Bytes>)> = Vec::new();
    if let Some(data) = &turn.redacted_thinking {
        // Anthropic sends a redacted block whole in its start event, without deltas.
        blocks.push((
            json!({"type": "redacted_thinking", "data": data}),
            Vec::new(),
            Vec::new(),
        ));
    }
    if let Some(thinking) = &turn.thinking {
        let index = blocks.len();
        blocks.push((
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            sse::split(thinking, pace.size)
                .iter()
                .map(|piece| delta(index, json!({"type": "thinking_delta", "thinking": piece})))
                .collect(),
            vec![delta(
                index,
                json!({"type": "signature_delta", "signature": SIGNATURE}),
            )],
        ));
    }
    let text_index = has_text_block(turn, Some(pace)).then(|| {
        let index = blocks.len();
        blocks.push((
            json!({"type": "text", "text": ""}),
            turn.text
                .iter()
                .map(|piece| delta(index, json!({"type": "text_delta", "text": piece})))
                .collect(),
            Vec::new(),
        ));
        index
    });
    for call in &turn.calls {
        let index = blocks.len();
        blocks.push((
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
            sse::split(&call.arguments.to_string(), pace.size)
                .iter()
                .map(|piece| {
                    delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    )
                })
                .collect(),
            Vec::new(),
        ));
    }
    let last = blocks.len().saturating_sub(1);
    for (index, (block, paced, after)) in blocks.into_iter().enumerate() {
        steps.now(sse::event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        if index == 0 {
            steps.now(ping.clone());
        }
        for piece in paced {
            steps.paced(piece);
        }
        if Some(index) == text_index {
            if let Some(forever) = &pace.forever {
                return steps.forever(delta(index, json!({"type": "text_delta", "text": forever})));
            }
        }
        for piece in after {
            steps.now(piece);
        }
        if index == last {
            if let Some(message) = &pace.stream_error {
                steps.now(sse::event(
                    "error",
                    &json!({"type": "error", "error": {"type": pace.stream_error_type.as_deref().unwrap_or("overloaded_error"), "message": message}}),
                ));
                return steps.steps;
            }
        }
        steps.now(stop(index));
    }
    let sequence = match &turn.stop {
        Stop::Sequence(sequence) => json!(sequence),
        _ => Value::Null,
    };
    steps.now(sse::event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(&turn.stop), "stop_sequence": sequence},
            "usage": {"output_tokens": turn.output_tokens()}}),
    ));
    steps.now(sse::event("message_stop", &json!({"type": "message_stop"})));
    steps.steps
}
