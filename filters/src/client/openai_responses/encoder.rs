//! The stream encoder: the Responses SSE event sequence, also the events that end a relayed
//! stream with an error.

use serde::Serialize;

use crate::error::{ApiError, ErrorCode};
use crate::hub::{Event, Finish, Usage};
use crate::openai::ResponseMeta;
use crate::translate::Encoder;

use super::answer::{response_object, Outcome, ResponseObject};
use super::items::{custom_input, Item, OutputText, Slot, SummaryText, WireItem};
use super::tools::ClientTools;

/// The encoder for a Responses stream; calls of `custom_tools` are written as custom tool calls.
pub fn encoder(meta: &ResponseMeta, custom_tools: &ClientTools) -> ResponsesEncoder {
    ResponsesEncoder {
        meta: meta.clone(),
        custom_tools: custom_tools.clone(),
        sequence: 0,
        slots: Vec::new(),
        open: None,
        calls: Vec::new(),
    }
}

/// Writes events as the Responses API streams them: `response.created` and
/// `response.in_progress`; then per output item `response.output_item.added`, its deltas and
/// `response.output_item.done`; then `response.completed` (or `response.incomplete`) with the
/// whole response. Every event has an `event:` line and a `sequence_number` from 0.
///
/// A message or reasoning item is done when another item begins. A call stays open until the
/// end, because the hub may still send arguments for any call already begun; in the usual
/// stream the calls come last, so nothing waits.
///
/// A custom tool call is added when it begins, in its place among the items, but its input
/// comes in one delta when it closes: the model's fragments are JSON text wrapping the input,
/// and turning them into input deltas live would take an incremental JSON string decoder
/// (escapes split across fragments) that still could not take back deltas already sent when
/// the arguments turn out not to wrap a string input. Clients act on the whole item
/// (Codex applies a patch from `response.output_item.done`); only a live preview is lost.
#[derive(Debug)]
pub struct ResponsesEncoder {
    meta: ResponseMeta,
    custom_tools: ClientTools,
    pub(super) sequence: u64,
    slots: Vec<Slot>,
    /// The message or reasoning item text or thinking goes to: the latest item, not done.
    open: Option<usize>,
    /// Where the `index`-th call sits in `slots`.
    calls: Vec<usize>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct ResponseBody<'a> {
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemBody<'a> {
    output_index: usize,
    item: WireItem<'a>,
}

/// The whole input of a custom call.
#[derive(Serialize)]
struct InputDone<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    input: &'a str,
}

/// The item an event is about.
#[derive(Clone, Copy, Serialize)]
struct Target<'a> {
    item_id: &'a str,
    output_index: usize,
}

#[derive(Serialize)]
struct PartBody<'a, P> {
    #[serde(flatten)]
    target: Target<'a>,
    content_index: usize,
    part: P,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    content_index: usize,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct TextDone<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    content_index: usize,
    text: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct SummaryPart<'a, P> {
    #[serde(flatten)]
    target: Target<'a>,
    summary_index: usize,
    part: P,
}

#[derive(Serialize)]
struct SummaryDelta<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    summary_index: usize,
    delta: &'a str,
}

#[derive(Serialize)]
struct SummaryDone<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    summary_index: usize,
    text: &'a str,
}

/// A delta of a call's arguments or of a custom call's input.
#[derive(Serialize)]
struct ArgumentsDelta<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgumentsDone<'a> {
    #[serde(flatten)]
    target: Target<'a>,
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: Option<&'a str>,
    message: &'a str,
    param: Option<&'a str>,
}

/// Writes one SSE event of type `kind`, numbered `sequence` (then advanced).
fn emit(out: &mut Vec<u8>, sequence: &mut u64, kind: &str, body: impl Serialize) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let envelope = Envelope {
        kind,
        sequence_number: *sequence,
        body,
    };
    if serde_json::to_writer(&mut *out, &envelope).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    *sequence += 1;
}

impl ResponsesEncoder {
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, body: impl Serialize) {
        emit(out, &mut self.sequence, kind, body);
    }

    fn emit_response(&mut self, out: &mut Vec<u8>, kind: &str, outcome: Outcome) {
        let response = response_object(&self.meta, &self.slots, outcome);
        emit(out, &mut self.sequence, kind, ResponseBody { response });
    }

    /// Begins a new item (the open message or reasoning item is done first).
    fn add(&mut self, out: &mut Vec<u8>, item: Item) -> usize {
        if let Some(open) = self.open.take() {
            self.close(out, open);
        }
        let position = self.slots.len();
        self.slots.push(Slot::new(&self.meta.id, position, item));
        let slot = &self.slots[position];
        emit(
            out,
            &mut self.sequence,
            "response.output_item.added",
            ItemBody {
                output_index: position,
                item: slot.wire("in_progress", false),
            },
        );
        position
    }

    fn text(&mut self, out: &mut Vec<u8>, delta: &str) {
        let position = match self.open {
            Some(open) if matches!(self.slots[open].item, Item::Message { .. }) => open,
            _ => self.open_message(out),
        };
        if let Item::Message { text } = &mut self.slots[position].item {
            text.push_str(delta);
        }
        if delta.is_empty() {
            return;
        }
        let body = TextDelta {
            target: target(&self.slots, position),
            content_index: 0,
            delta,
            logprobs: [],
        };
        emit(out, &mut self.sequence, "response.output_text.delta", body);
    }

    fn open_message(&mut self, out: &mut Vec<u8>) -> usize {
        let position = self.add(
            out,
            Item::Message {
                text: String::new(),
            },
        );
        self.open = Some(position);
        let body = PartBody {
            target: target(&self.slots, position),
            content_index: 0,
            part: OutputText::new(""),
        };
        emit(out, &mut self.sequence, "response.content_part.added", body);
        position
    }

    fn thinking(&mut self, out: &mut Vec<u8>, delta: &str) {
        let position = self.open_reasoning(out);
        let Item::Reasoning { text, .. } = &mut self.slots[position].item else {
            return;
        };
        if delta.is_empty() {
            return;
        }
        let first = text.is_empty();
        text.push_str(delta);
        let target = target(&self.slots, position);
        if first {
            let body = SummaryPart {
                target,
                summary_index: 0,
                part: SummaryText::new(""),
            };
            emit(
                out,
                &mut self.sequence,
                "response.reasoning_summary_part.added",
                body,
            );
        }
        let body = SummaryDelta {
            target,
            summary_index: 0,
            delta,
        };
        emit(
            out,
            &mut self.sequence,
            "response.reasoning_summary_text.delta",
            body,
        );
    }

    fn signature(&mut self, out: &mut Vec<u8>, more: &str) {
        let position = self.open_reasoning(out);
        if let Item::Reasoning { signature, .. } = &mut self.slots[position].item {
            signature.get_or_insert_with(String::new).push_str(more);
        }
    }

    /// The open reasoning item, begun if the latest item is something else.
    fn open_reasoning(&mut self, out: &mut Vec<u8>) -> usize {
        match self.open {
            Some(open) if matches!(self.slots[open].item, Item::Reasoning { .. }) => open,
            _ => {
                let position = self.add(
                    out,
                    Item::Reasoning {
                        text: String::new(),
                        signature: None,
                    },
                );
                self.open = Some(position);
                position
            }
        }
    }

    fn call_start(&mut self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        let position = self.add(out, Item::call(&self.custom_tools, id, name, ""));
        if self.calls.len() <= index {
            self.calls.resize(index + 1, usize::MAX);
        }
        self.calls[index] = position;
    }

    fn arguments(&mut self, out: &mut Vec<u8>, index: usize, fragment: &str) {
        let Some(&position) = self.calls.get(index) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(position) else {
            return;
        };
        let live = match &mut slot.item {
            Item::Call { arguments, .. } => {
                arguments.push_str(fragment);
                true
            }
            // Its input is written whole when it closes (see `ResponsesEncoder`).
            Item::CustomCall { arguments, .. } => {
                arguments.push_str(fragment);
                false
            }
            _ => return,
        };
        if !live || fragment.is_empty() {
            return;
        }
        let body = ArgumentsDelta {
            target: target(&self.slots, position),
            delta: fragment,
        };
        emit(
            out,
            &mut self.sequence,
            "response.function_call_arguments.delta",
            body,
        );
    }

    /// The closing events of the item at `position`.
    fn close(&mut self, out: &mut Vec<u8>, position: usize) {
        let slot = &self.slots[position];
        let target = Target {
            item_id: &slot.id,
            output_index: position,
        };
        let sequence = &mut self.sequence;
        match &slot.item {
            Item::Message { text } => close_message(out, sequence, target, text),
            Item::Reasoning { text, .. } if !text.is_empty() => {
                close_summary(out, sequence, target, text)
            }
            Item::Reasoning { .. } => {}
            Item::Call {
                name, arguments, ..
            } => {
                let body = ArgumentsDone {
                    target,
                    name,
                    arguments,
                };
                emit(out, sequence, "response.function_call_arguments.done", body);
            }
            Item::CustomCall { arguments, .. } => {
                close_custom_call(out, sequence, target, &custom_input(arguments))
            }
        }
        let body = ItemBody {
            output_index: position,
            item: slot.wire("completed", true),
        };
        emit(out, sequence, "response.output_item.done", body);
        self.slots[position].done = true;
    }
}

fn target(slots: &[Slot], position: usize) -> Target<'_> {
    Target {
        item_id: &slots[position].id,
        output_index: position,
    }
}

fn close_message(out: &mut Vec<u8>, sequence: &mut u64, target: Target, text: &str) {
    let done = TextDone {
        target,
        content_index: 0,
        text,
        logprobs: [],
    };
    emit(out, sequence, "response.output_text.done", done);
    let part = PartBody {
        target,
        content_index: 0,
        part: OutputText::new(text),
    };
    emit(out, sequence, "response.content_part.done", part);
}

/// The whole input of a custom call as one delta (none when empty), then its `done`.
fn close_custom_call(out: &mut Vec<u8>, sequence: &mut u64, target: Target, input: &str) {
    if !input.is_empty() {
        let delta = ArgumentsDelta {
            target,
            delta: input,
        };
        emit(
            out,
            sequence,
            "response.custom_tool_call_input.delta",
            delta,
        );
    }
    let done = InputDone { target, input };
    emit(out, sequence, "response.custom_tool_call_input.done", done);
}

fn close_summary(out: &mut Vec<u8>, sequence: &mut u64, target: Target, text: &str) {
    let done = SummaryDone {
        target,
        summary_index: 0,
        text,
    };
    emit(out, sequence, "response.reasoning_summary_text.done", done);
    let part = SummaryPart {
        target,
        summary_index: 0,
        part: SummaryText::new(text),
    };
    emit(out, sequence, "response.reasoning_summary_part.done", part);
}

impl Encoder for ResponsesEncoder {
    fn start(&mut self, out: &mut Vec<u8>) {
        self.emit_response(out, "response.created", Outcome::InProgress);
        self.emit_response(out, "response.in_progress", Outcome::InProgress);
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(delta) => self.text(out, delta),
            Event::ThinkingDelta(delta) => self.thinking(out, delta),
            Event::ThinkingSignature(more) => self.signature(out, more),
            Event::ToolCallStart { index, id, name } => self.call_start(out, *index, id, name),
            Event::ToolCallArguments { index, fragment } => self.arguments(out, *index, fragment),
            Event::Finish(_) | Event::Usage(_) | Event::Error(_) => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.open = None;
        for position in 0..self.slots.len() {
            if !self.slots[position].done {
                self.close(out, position);
            }
        }
        let outcome = Outcome::Finished(finish, &usage);
        let kind = match outcome.status() {
            "completed" => "response.completed",
            _ => "response.incomplete",
        };
        self.emit_response(out, kind, outcome);
    }

    /// An `error` event (as the SDKs type it), then `response.failed`, which is what Codex
    /// reads: its `error.code` says whether to retry.
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        let body = ErrorBody {
            code: error.code.map(ErrorCode::as_str),
            message: &error.message,
            param: error.param.as_deref(),
        };
        self.emit(out, "error", body);
        self.emit_response(out, "response.failed", Outcome::Failed(error));
    }
}

/// The events that end a Responses stream with `error` after Argo's own events were relayed
/// (the pass-through): `error`, then `response.failed` under the gateway's id and the
/// client's model, numbered on from `sequence`, as [`ResponsesEncoder`] ends a stream.
///
/// [`ResponsesEncoder`]: ResponsesEncoder
pub fn failure_events(meta: &ResponseMeta, error: &ApiError, sequence: u64) -> Vec<u8> {
    let mut encoder = encoder(meta, &ClientTools::default());
    encoder.sequence = sequence;
    let mut out = Vec::new();
    encoder.error(&mut out, error);
    out
}
