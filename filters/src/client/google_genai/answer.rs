//! Writing answers: a whole `GenerateContentResponse`, and the parts and frames the stream encoder
//! shares.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::hub::{Answer, Finish, Part, Usage};
use crate::openai::ResponseMeta;
use crate::stream::{json_string, push_json_string};

use super::arguments::CallArguments;
use super::signature::thought_signature;

/// How a stream is framed: `alt=sse` gives SSE `data:` events (what both SDKs ask for);
/// without it the REST API streams one JSON array of responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `data: <GenerateContentResponse>` events (no closing marker).
    Sse,
    /// `[<GenerateContentResponse>,...]`; an error is the last element.
    JsonArray,
}

/// A whole answer as one `GenerateContentResponse`.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let mut parts = Parts::default();
    let mut malformed = Vec::new();
    for part in &answer.content {
        match part {
            Part::Thinking { text, signature } => {
                parts.thinking(text, signature.as_deref().filter(|sig| !sig.is_empty()))
            }
            Part::Text(text) => parts.text(text),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => match CallArguments::whole(arguments) {
                Some(args) => parts.call(id, name, &args),
                None => malformed.push(name.clone()),
            },
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    parts.flush_sealed();
    if parts.count == 0 {
        parts.empty_text();
    }
    let mut out = Vec::with_capacity(parts.json.len() + 384);
    ResponseFrame::new(meta).last(
        &mut out,
        &parts.json,
        &Ending::new(answer.finish, &malformed),
        usage,
    );
    out
}
/// How an answer ended, as Gemini says it.
#[derive(Debug)]
pub(super) struct Ending {
    reason: &'static str,
    message: Option<String>,
}

impl Ending {
    /// Calls end with `STOP` (Gemini's way); dropped calls with `MALFORMED_FUNCTION_CALL`
    /// unless the answer was cut short or filtered, which explains them.
    pub(super) fn new(finish: Finish, malformed: &[String]) -> Self {
        let reason = match finish {
            Finish::Length => "MAX_TOKENS",
            Finish::ContentFilter => "SAFETY",
            Finish::Stop | Finish::ToolCalls if !malformed.is_empty() => "MALFORMED_FUNCTION_CALL",
            Finish::Stop | Finish::ToolCalls => "STOP",
        };
        let message = (!malformed.is_empty()).then(|| {
            let names: Vec<String> = malformed.iter().map(|name| format!("`{name}`")).collect();
            format!(
                "Malformed function call: the arguments of {} were not a JSON object, so the call was dropped",
                names.join(", ")
            )
        });
        Ending { reason, message }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_content_token_count: Option<u64>,
}

impl From<&Usage> for UsageMetadata {
    /// Thinking is counted in `candidatesTokenCount`: upstreams do not report it apart.
    fn from(usage: &Usage) -> Self {
        UsageMetadata {
            prompt_token_count: usage.input_tokens,
            candidates_token_count: usage.output_tokens,
            total_token_count: usage.input_tokens + usage.output_tokens,
            cached_content_token_count: usage.cached_input_tokens,
        }
    }
}

const RESPONSE_OPEN: &[u8] = b"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[";

/// The fixed pieces of every `GenerateContentResponse` of one answer.
#[derive(Debug, Clone)]
pub(super) struct ResponseFrame {
    /// `,"modelVersion":..,"responseId":..}`
    tail: String,
}

impl ResponseFrame {
    pub(super) fn new(meta: &ResponseMeta) -> Self {
        ResponseFrame {
            tail: format!(
                ",\"modelVersion\":{},\"responseId\":{}}}",
                json_string(&meta.model),
                json_string(&meta.id)
            ),
        }
    }

    /// A response carrying `parts` (JSON objects joined by commas), not the last.
    pub(super) fn chunk(&self, out: &mut Vec<u8>, parts: &[u8]) {
        out.extend_from_slice(RESPONSE_OPEN);
        out.extend_from_slice(parts);
        out.extend_from_slice(b"]},\"index\":0}]");
        out.extend_from_slice(self.tail.as_bytes());
    }

    /// The last response (or the only one): the finish reason and the usage.
    pub(super) fn last(&self, out: &mut Vec<u8>, parts: &[u8], ending: &Ending, usage: &Usage) {
        out.extend_from_slice(RESPONSE_OPEN);
        out.extend_from_slice(parts);
        out.extend_from_slice(b"]},\"finishReason\":\"");
        out.extend_from_slice(ending.reason.as_bytes());
        out.push(b'"');
        if let Some(message) = &ending.message {
            out.extend_from_slice(b",\"finishMessage\":");
            push_json_string(out, message);
        }
        out.extend_from_slice(b",\"index\":0}],\"usageMetadata\":");
        if serde_json::to_writer(&mut *out, &UsageMetadata::from(usage)).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(self.tail.as_bytes());
    }
}

/// The parts of one response as JSON, with a signed thinking block's signature held until
/// the part it goes on.
#[derive(Debug, Default)]
pub(super) struct Parts {
    pub(super) json: Vec<u8>,
    pub(super) count: usize,
    /// A `thoughtSignature` waiting for the next non-thought part.
    sealed: Option<String>,
}

impl Parts {
    pub(super) fn single(sealed: Option<String>) -> Self {
        Parts {
            sealed,
            ..Parts::default()
        }
    }

    fn next(&mut self) -> &mut Vec<u8> {
        if self.count > 0 {
            self.json.push(b',');
        }
        self.count += 1;
        &mut self.json
    }

    /// A whole thinking block: its text as a thought, its signature (if any) sealed.
    fn thinking(&mut self, text: &str, signature: Option<&str>) {
        if !text.is_empty() {
            self.thought(text);
        }
        if let Some(signature) = signature {
            self.seal(thought_signature(text, signature));
        }
    }

    pub(super) fn thought(&mut self, text: &str) {
        // A thought comes next: an earlier signature cannot wait for a later part.
        self.flush_sealed();
        write_text_part(self.next(), text, true, None);
    }

    fn seal(&mut self, signature: String) {
        self.flush_sealed();
        self.sealed = Some(signature);
    }

    pub(super) fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let signature = self.sealed.take();
        write_text_part(self.next(), text, false, signature.as_deref());
    }

    pub(super) fn call(&mut self, id: &str, name: &str, args: &Map<String, Value>) {
        let signature = self.sealed.take();
        write_call_part(self.next(), id, name, args, signature.as_deref());
    }

    /// `{"text": ""}`: the Python SDK's chat drops a whole turn from its history when one of
    /// its responses has no part.
    pub(super) fn empty_text(&mut self) {
        write_text_part(self.next(), "", false, None);
    }

    /// A held signature on a part of its own: an empty thought.
    pub(super) fn flush_sealed(&mut self) {
        if let Some(signature) = self.sealed.take() {
            write_text_part(self.next(), "", true, Some(&signature));
        }
    }
}

fn write_text_part(out: &mut Vec<u8>, text: &str, thought: bool, signature: Option<&str>) {
    out.extend_from_slice(b"{\"text\":");
    push_json_string(out, text);
    if thought {
        out.extend_from_slice(b",\"thought\":true");
    }
    if let Some(signature) = signature {
        out.extend_from_slice(b",\"thoughtSignature\":");
        push_json_string(out, signature);
    }
    out.push(b'}');
}

fn write_call_part(
    out: &mut Vec<u8>,
    id: &str,
    name: &str,
    args: &Map<String, Value>,
    signature: Option<&str>,
) {
    let mut part = json!({"functionCall": {"id": id, "name": name, "args": args}});
    if let (Some(signature), Some(object)) = (signature, part.as_object_mut()) {
        object.insert("thoughtSignature".into(), Value::String(signature.into()));
    }
    if serde_json::to_writer(&mut *out, &part).is_err() {
        out.extend_from_slice(b"{}");
    }
}
