//! The stream encoder: Anthropic's named SSE events.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::hub::{Event, Finish, Usage};
use crate::openai::ResponseMeta;
use crate::stream::push_json_string;
use crate::translate::Encoder;

use super::answer::{stop_reason, usage_json};
use super::errors::error_object;

/// The encoder for a Messages stream.
pub fn encoder(meta: &ResponseMeta) -> MessagesEncoder {
    MessagesEncoder {
        id: meta.id.clone(),
        model: meta.model.clone(),
        blocks: BlockWriter::default(),
        held: Vec::new(),
        calls: false,
    }
}

/// Writes events as Anthropic's stream: `message_start`; each content block as
/// `content_block_start`, its deltas and `content_block_stop`, indexes 0, 1, ... in order and
/// never interleaved; then `message_delta` (stop reason and the whole usage) and
/// `message_stop`.
///
/// A call's block cannot be reopened once closed, and the hub does not say when a call's
/// arguments are complete (any begun call may still get a fragment), so once a call's block
/// is open it stays open until the answer ends, its arguments streaming live; what comes
/// after it (more calls, text) is held and written at the end, each held call's arguments
/// whole. Text, thinking and the first call therefore stream live; later calls of an answer
/// arrive at its end.
#[derive(Debug)]
pub struct MessagesEncoder {
    id: String,
    model: String,
    blocks: BlockWriter,
    held: Vec<Held>,
    /// Whether the answer made a call.
    calls: bool,
}

/// Content waiting for the open call's block to close.
#[derive(Debug)]
enum Held {
    Text(String),
    Thinking(String),
    Signature(String),
    Call {
        index: usize,
        id: String,
        name: String,
        arguments: String,
    },
}

impl MessagesEncoder {
    fn write(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(text) => self.blocks.text(out, text),
            Event::ThinkingDelta(text) => self.blocks.thinking(out, text),
            Event::ThinkingSignature(signature) => self.blocks.signature(out, signature),
            Event::ToolCallStart { index, id, name } => {
                self.calls = true;
                self.blocks.call(out, *index, id, name);
            }
            _ => {}
        }
    }

    fn hold(&mut self, event: &Event) {
        match (self.held.last_mut(), event) {
            (Some(Held::Text(held)), Event::TextDelta(text))
            | (Some(Held::Thinking(held)), Event::ThinkingDelta(text))
            | (Some(Held::Signature(held)), Event::ThinkingSignature(text)) => held.push_str(text),
            (_, Event::TextDelta(text)) => self.held.push(Held::Text(text.clone())),
            (_, Event::ThinkingDelta(text)) => self.held.push(Held::Thinking(text.clone())),
            (_, Event::ThinkingSignature(text)) => self.held.push(Held::Signature(text.clone())),
            (_, Event::ToolCallStart { index, id, name }) => {
                self.calls = true;
                self.held.push(Held::Call {
                    index: *index,
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            _ => {}
        }
    }

    /// A fragment goes to the open call's block, or to its held call.
    fn arguments(&mut self, out: &mut Vec<u8>, index: usize, fragment: &str) {
        if fragment.is_empty() {
            return;
        }
        if self.blocks.open_call() == Some(index) {
            self.blocks.arguments(out, fragment);
            return;
        }
        let held = self.held.iter_mut().find_map(|held| match held {
            Held::Call {
                index: held_index,
                arguments,
                ..
            } if *held_index == index => Some(arguments),
            _ => None,
        });
        if let Some(arguments) = held {
            arguments.push_str(fragment);
        }
    }

    fn replay(&mut self, out: &mut Vec<u8>, held: Held) {
        match held {
            Held::Text(text) => self.blocks.text(out, &text),
            Held::Thinking(text) => self.blocks.thinking(out, &text),
            Held::Signature(signature) => self.blocks.signature(out, &signature),
            Held::Call {
                index,
                id,
                name,
                arguments,
            } => {
                self.blocks.call(out, index, &id, &name);
                if !arguments.is_empty() {
                    self.blocks.arguments(out, &arguments);
                }
            }
        }
    }
}

impl Encoder for MessagesEncoder {
    fn start(&mut self, out: &mut Vec<u8>) {
        let message = json!({"id": self.id, "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage_json(&Usage::default())});
        named(out, "message_start", &[("message", &message)]);
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::ToolCallArguments { index, fragment } => self.arguments(out, *index, fragment),
            Event::TextDelta(text)
            | Event::ThinkingDelta(text)
            | Event::ThinkingSignature(text)
                if text.is_empty() => {}
            _ if self.blocks.open_call().is_some() => self.hold(event),
            _ => self.write(out, event),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.blocks.close(out);
        for held in std::mem::take(&mut self.held) {
            self.replay(out, held);
        }
        self.blocks.close(out);
        let delta = json!({"stop_reason": stop_reason(finish, self.calls), "stop_sequence": null});
        named(
            out,
            "message_delta",
            &[("delta", &delta), ("usage", &usage_json(&usage))],
        );
        named(out, "message_stop", &[]);
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        named(out, "error", &[("error", &error_object(error))]);
    }
}

/// Writes content blocks one at a time.
#[derive(Debug, Default)]
struct BlockWriter {
    /// Blocks begun so far; the open one is the last of them.
    begun: usize,
    open: Option<Open>,
}

#[derive(Debug)]
enum Open {
    Text,
    /// The signature so far, sent as one `signature_delta` when the block closes: Anthropic's
    /// SDKs keep only a block's last signature delta.
    Thinking {
        signature: String,
    },
    /// The `index`-th call of the answer.
    Call(usize),
}

impl BlockWriter {
    fn open_call(&self) -> Option<usize> {
        match self.open {
            Some(Open::Call(index)) => Some(index),
            _ => None,
        }
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        if !matches!(self.open, Some(Open::Text)) {
            self.begin(out, Open::Text, json!({"type": "text", "text": ""}));
        }
        self.delta(out, "text_delta", "text", text);
    }

    /// Thinking after a signature begins a new block: the signature closed the last one.
    fn thinking(&mut self, out: &mut Vec<u8>, text: &str) {
        if !matches!(&self.open, Some(Open::Thinking { signature }) if signature.is_empty()) {
            self.begin_thinking(out, String::new());
        }
        self.delta(out, "thinking_delta", "thinking", text);
    }

    fn signature(&mut self, out: &mut Vec<u8>, fragment: &str) {
        match &mut self.open {
            Some(Open::Thinking { signature }) => signature.push_str(fragment),
            _ => self.begin_thinking(out, fragment.to_string()),
        }
    }

    fn begin_thinking(&mut self, out: &mut Vec<u8>, signature: String) {
        self.begin(
            out,
            Open::Thinking { signature },
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        );
    }

    fn call(&mut self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        self.begin(
            out,
            Open::Call(index),
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        );
    }

    fn arguments(&mut self, out: &mut Vec<u8>, fragment: &str) {
        self.delta(out, "input_json_delta", "partial_json", fragment);
    }

    fn begin(&mut self, out: &mut Vec<u8>, open: Open, block: Value) {
        self.close(out);
        named(
            out,
            "content_block_start",
            &[("index", &self.begun.into()), ("content_block", &block)],
        );
        self.begun += 1;
        self.open = Some(open);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        if let Open::Thinking { signature } = &open {
            if !signature.is_empty() {
                self.delta(out, "signature_delta", "signature", signature);
            }
        }
        named(
            out,
            "content_block_stop",
            &[("index", &(self.begun - 1).into())],
        );
    }

    /// `content_block_delta` for the open block, written without building a JSON value: it
    /// is the hot path.
    fn delta(&self, out: &mut Vec<u8>, kind: &str, field: &str, text: &str) {
        out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        out.extend_from_slice(self.begun.saturating_sub(1).to_string().as_bytes());
        out.extend_from_slice(b",\"delta\":{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        push_json_string(out, text);
        out.extend_from_slice(b"}}\n\n");
    }
}

/// `error` as the event that ends an Anthropic stream.
pub(crate) fn error_event(out: &mut Vec<u8>, error: &ApiError) {
    named(out, "error", &[("error", &error_object(error))]);
}

/// One SSE event with its `event:` name, which Anthropic's SDKs dispatch on; the data is
/// `{"type": name, fields...}`, `type` first as in Anthropic's own streams.
pub(super) fn named(out: &mut Vec<u8>, name: &str, fields: &[(&str, &Value)]) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
    for (key, value) in fields {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out.extend_from_slice(b"}\n\n");
}
