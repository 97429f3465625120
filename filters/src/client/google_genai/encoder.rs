//! The stream encoder: `GenerateContentResponse`s as SSE events or one JSON array.

use crate::error::ApiError;
use crate::hub::{Event, Finish, Usage};
use crate::openai::ResponseMeta;
use crate::translate::Encoder;

use super::answer::{Ending, Framing, Parts, ResponseFrame};
use super::arguments::CallArguments;
use super::errors::error_json;
use super::signature::thought_signature;

/// The stream encoder: one `GenerateContentResponse` per text or thought delta, a call once
/// its arguments are complete (Gemini sends `args` whole), and a last response with the
/// finish reason, the usage and the calls still open.
#[derive(Debug)]
pub struct GenAiEncoder {
    framing: Framing,
    frame: ResponseFrame,
    /// Responses written so far (the array framing separates them with commas).
    written: usize,
    /// The calls by index, until sent.
    calls: Vec<Option<StreamedCall>>,
    /// The thinking block being streamed; a signature seals it.
    thinking: Option<ThinkingBlock>,
    /// A sealed block's `thoughtSignature`, waiting for the next non-thought part.
    sealed: Option<String>,
}

#[derive(Debug)]
struct StreamedCall {
    id: String,
    name: String,
    arguments: CallArguments,
    sent: bool,
}

#[derive(Debug, Default)]
struct ThinkingBlock {
    text: String,
    signature: Option<String>,
}

/// The encoder of a streamed answer.
pub fn encoder(meta: &ResponseMeta, framing: Framing) -> GenAiEncoder {
    GenAiEncoder {
        framing,
        frame: ResponseFrame::new(meta),
        written: 0,
        calls: Vec::new(),
        thinking: None,
        sealed: None,
    }
}

impl GenAiEncoder {
    fn open_response(&mut self, out: &mut Vec<u8>) {
        match self.framing {
            Framing::Sse => out.extend_from_slice(b"data: "),
            Framing::JsonArray if self.written > 0 => out.extend_from_slice(b",\r\n"),
            Framing::JsonArray => {}
        }
        self.written += 1;
    }

    fn close_response(&self, out: &mut Vec<u8>) {
        if self.framing == Framing::Sse {
            out.extend_from_slice(b"\n\n");
        }
    }

    fn respond(&mut self, out: &mut Vec<u8>, parts: &Parts) {
        self.open_response(out);
        self.frame.chunk(out, &parts.json);
        self.close_response(out);
    }

    /// A signed block is over once anything but its signature follows: its signature waits
    /// for the next part (one already waiting goes out on its own first).
    fn seal(&mut self, out: &mut Vec<u8>) {
        if let Some(ThinkingBlock {
            text,
            signature: Some(signature),
        }) = self.thinking.take_if(|block| block.signature.is_some())
        {
            self.flush_sealed(out);
            self.sealed = Some(thought_signature(&text, &signature));
        }
    }

    fn flush_sealed(&mut self, out: &mut Vec<u8>) {
        if self.sealed.is_some() {
            let mut parts = Parts::single(self.sealed.take());
            parts.flush_sealed();
            self.respond(out, &parts);
        }
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        self.seal(out);
        self.thinking = None;
        if text.is_empty() {
            return;
        }
        let mut parts = Parts::single(self.sealed.take());
        parts.text(text);
        self.respond(out, &parts);
    }

    fn thought(&mut self, out: &mut Vec<u8>, text: &str) {
        self.seal(out);
        self.thinking
            .get_or_insert_with(ThinkingBlock::default)
            .text
            .push_str(text);
        if text.is_empty() {
            return;
        }
        self.flush_sealed(out);
        let mut parts = Parts::default();
        parts.thought(text);
        self.respond(out, &parts);
    }

    fn signature(&mut self, signature: &str) {
        if signature.is_empty() {
            return;
        }
        self.thinking
            .get_or_insert_with(ThinkingBlock::default)
            .signature
            .get_or_insert_with(String::new)
            .push_str(signature);
    }

    fn call_start(&mut self, out: &mut Vec<u8>, index: usize, id: &str, name: &str) {
        self.seal(out);
        self.thinking = None;
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, || None);
        }
        self.calls[index] = Some(StreamedCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: CallArguments::default(),
            sent: false,
        });
    }

    fn call_arguments(&mut self, out: &mut Vec<u8>, index: usize, fragment: &str) {
        self.seal(out);
        let Some(Some(call)) = self.calls.get_mut(index) else {
            return;
        };
        if call.sent {
            return;
        }
        call.arguments.push(fragment);
        let Some(args) = call.arguments.complete() else {
            return;
        };
        let mut parts = Parts::single(self.sealed.take());
        parts.call(&call.id, &call.name, args);
        call.sent = true;
        self.respond(out, &parts);
    }
}

impl Encoder for GenAiEncoder {
    fn content_type(&self) -> &'static str {
        match self.framing {
            Framing::Sse => crate::translate::EVENT_STREAM,
            Framing::JsonArray => "application/json",
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.framing == Framing::JsonArray {
            out.push(b'[');
        }
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        match event {
            Event::TextDelta(text) => self.text(out, text),
            Event::ThinkingDelta(text) => self.thought(out, text),
            Event::ThinkingSignature(signature) => self.signature(signature),
            Event::ToolCallStart { index, id, name } => self.call_start(out, *index, id, name),
            Event::ToolCallArguments { index, fragment } => {
                self.call_arguments(out, *index, fragment)
            }
            Event::Finish(_) | Event::Usage(_) | Event::Error(_) => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.seal(out);
        let mut parts = Parts::single(self.sealed.take());
        let mut malformed = Vec::new();
        for call in self.calls.iter_mut().flatten().filter(|call| !call.sent) {
            match call.arguments.finish() {
                Some(args) => parts.call(&call.id, &call.name, args),
                None => malformed.push(call.name.clone()),
            }
            call.sent = true;
        }
        parts.flush_sealed();
        if parts.count == 0 {
            parts.empty_text();
        }
        self.open_response(out);
        let ending = Ending::new(finish, &malformed);
        self.frame.last(out, &parts.json, &ending, &usage);
        self.close_response(out);
        if self.framing == Framing::JsonArray {
            out.push(b']');
        }
    }

    /// The error as the API sends one mid-stream: `{"error": {...}}` in place of a response
    /// (the Python SDK raises it as an `APIError`); the array is then closed.
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        self.open_response(out);
        out.extend_from_slice(&error_json(error));
        self.close_response(out);
        if self.framing == Framing::JsonArray {
            out.push(b']');
        }
    }
}
