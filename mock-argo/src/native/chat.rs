//! OpenAI's chat completions: the answer JSON and the SSE stream.

use serde_json::{json, Value};

use crate::sse::{self, Step};

use super::said::Stop;
use super::turn::{Meta, Pace, Steps, Turn};

pub(super) fn finish_reason(stop: &Stop) -> &'static str {
    match stop {
        Stop::End | Stop::Sequence(_) => "stop",
        Stop::ToolUse => "tool_calls",
        Stop::MaxTokens => "length",
    }
}

fn openai_usage(turn: &Turn) -> Value {
    let prompt = turn.input_tokens + turn.cached_tokens;
    let completion = turn.output_tokens();
    let (cached, reasoning) = match turn.usage_nulls {
        true => (Value::Null, Value::Null),
        false => (json!(turn.cached_tokens), json!(0)),
    };
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning}})
}

/// A `chat.completion` in the fields the probe recorded (less Azure's content filter results).
pub(super) fn openai_json(turn: &Turn, meta: &Meta) -> Value {
    let text = turn.text();
    let content = if text.is_empty() && !turn.calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    let calls = if turn.calls.is_empty() {
        Value::Null
    } else {
        turn.calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments.to_string()}})
            })
            .collect()
    };
    json!({"id": meta.id, "object": "chat.completion", "created": meta.created,
        "model": meta.model, "system_fingerprint": null,
        "choices": [{"index": 0, "logprobs": null, "finish_reason": finish_reason(&turn.stop),
            "message": {"role": "assistant", "content": content, "refusal": null,
                "tool_calls": calls}}],
        "usage": openai_usage(turn)})
}

/// OpenAI's stream: a role chunk, content chunks, tool-call chunks (the first with `index`,
/// `id`, `type`, `function.name` and empty `arguments`, then argument fragments), a chunk with
/// `finish_reason`, the usage chunk (`choices: []`) when asked for, `[DONE]`.
pub(super) fn openai_stream(
    turn: &Turn,
    meta: &Meta,
    pace: &Pace,
    include_usage: bool,
    model: &str,
) -> Vec<Step> {
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({"id": meta.id, "object": "chat.completion.chunk",
            "created": meta.created, "model": meta.model, "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        sse::data(&chunk)
    };
    let mut steps = Steps {
        steps: Vec::new(),
        pings: pace.pings.then(|| sse::comment("ping")),
    };
    let role_first = turn.calls.is_empty() || !turn.text.is_empty() || pace.forever.is_some();
    if role_first {
        steps.now(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ));
    }
    for piece in &turn.text {
        steps.paced(chunk(json!({"content": piece}), Value::Null));
    }
    if let Some(forever) = &pace.forever {
        return steps.forever(chunk(json!({"content": forever}), Value::Null));
    }
    for (index, call) in turn.calls.iter().enumerate() {
        let mut start = json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}]});
        if index == 0 && !role_first {
            start["role"] = json!("assistant");
            start["content"] = Value::Null;
        }
        steps.paced(chunk(start, Value::Null));
        for piece in sse::split(&call.arguments.to_string(), pace.size) {
            steps.paced(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    if let Some(message) = &pace.stream_error {
        steps.now(sse::data(&stream_error_chunk(model, message)));
        return steps.steps;
    }
    steps.now(chunk(json!({}), json!(finish_reason(&turn.stop))));
    if include_usage {
        steps.now(sse::data(
            &json!({"id": meta.id, "object": "chat.completion.chunk",
            "created": meta.created, "model": meta.model, "system_fingerprint": null,
            "choices": [], "usage": openai_usage(turn)}),
        ));
    }
    steps.now(sse::done());
    steps.steps
}

/// The error chunk that ends a `stream_error` stream on `/v1/chat/completions`. Gemini's is
/// Vertex AI's 429 `RESOURCE_EXHAUSTED` in an OpenAI-style `{"error": {...}}` (argo-api.md §C,
/// strong: argo-proxy 3.2.1-3.3.0; the fields besides the status are the mock's).
fn stream_error_chunk(model: &str, message: &str) -> Value {
    if model.starts_with("gemini") {
        json!({"error": {"message": message, "type": "RESOURCE_EXHAUSTED", "code": 429,
            "status": "RESOURCE_EXHAUSTED"}})
    } else {
        json!({"error": {"message": message, "type": "server_error", "code": "stream_error"}})
    }
}
