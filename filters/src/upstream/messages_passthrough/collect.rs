//! The way down for one answer: the stream collected into one Message that keeps every
//! block and field Argo sent.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::hub::Usage;
use crate::notice;
use crate::openai::ResponseMeta;
use crate::sse::SseParser;
use crate::upstream::anthropic::WireUsage;
use crate::upstream::{truncated, upstream_error};

use super::relay::WireError;

/// Argo's stream for a client that asked for one answer, collected into the Message Argo
/// would have answered: every block and field as Argo sent them (cache usage,
/// `stop_sequence`, `redacted_thinking`, signatures, citations), the id and model the gateway's
/// and the client's; with the usage for the gateway's count. Argo's notice and an error
/// inside the stream are errors, as is a stream cut short.
pub fn collect_answer(stream: &[u8], meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
    let mut collector = MessageCollector::default();
    collector.feed(stream);
    collector.finish(meta)
}

/// [`collect_answer`] as a state machine fed byte chunks split anywhere.
#[derive(Debug, Default)]
pub struct MessageCollector {
    parser: SseParser,
    message: Collected,
}

#[derive(Debug, Default)]
struct Collected {
    message: Map<String, Value>,
    blocks: Vec<Block>,
    usage: Map<String, Value>,
    finished: bool,
    stopped: bool,
    error: Option<ApiError>,
}

/// A content block being collected.
#[derive(Debug)]
struct Block {
    index: u64,
    fields: Map<String, Value>,
    /// A tool call's `input`, as its JSON deltas came.
    input: String,
}

impl MessageCollector {
    pub fn feed(&mut self, bytes: &[u8]) {
        let message = &mut self.message;
        self.parser.feed(bytes, |_, data| message.data(data));
    }

    pub fn finish(mut self, meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
        let message = &mut self.message;
        self.parser.finish(|_, data| message.data(data));
        self.message.answer(meta)
    }
}

impl Collected {
    fn data(&mut self, data: &[u8]) {
        if self.stopped || self.error.is_some() {
            return;
        }
        let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let kind = event.remove("type");
        match kind.as_ref().and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                if let Some(Value::Object(mut message)) = event.remove("message") {
                    if let Some(Value::Object(usage)) = message.remove("usage") {
                        merge_usage(&mut self.usage, usage);
                    }
                    self.message = message;
                }
            }
            "content_block_start" => {
                if let Some(Value::Object(fields)) = event.remove("content_block") {
                    self.blocks.push(Block {
                        index,
                        fields,
                        input: String::new(),
                    });
                }
            }
            "content_block_delta" => {
                let block = self
                    .blocks
                    .iter_mut()
                    .rev()
                    .find(|block| block.index == index);
                if let (Some(block), Some(Value::Object(delta))) = (block, event.remove("delta")) {
                    block.delta(delta);
                }
            }
            "content_block_stop" => {
                let block = self
                    .blocks
                    .iter_mut()
                    .rev()
                    .find(|block| block.index == index);
                if let Some(block) = block.filter(|block| !block.input.is_empty()) {
                    match serde_json::from_str::<Value>(&block.input) {
                        Ok(input) => {
                            block.fields.insert("input".into(), input);
                        }
                        Err(_) => {
                            self.error = Some(ApiError::invalid_answer(
                                "Argo returned a tool call whose input is not valid JSON",
                            ));
                        }
                    }
                }
            }
            "message_delta" => {
                if let Some(Value::Object(delta)) = event.remove("delta") {
                    self.finished |= delta
                        .get("stop_reason")
                        .is_some_and(|reason| !reason.is_null());
                    for (key, value) in delta {
                        if key != "type" {
                            self.message.insert(key, value);
                        }
                    }
                }
                if let Some(Value::Object(usage)) = event.remove("usage") {
                    merge_usage(&mut self.usage, usage);
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let error = event
                    .remove("error")
                    .and_then(|error| serde_json::from_value::<WireError>(error).ok())
                    .unwrap_or_default();
                let kind = if error.kind.is_empty() {
                    "error"
                } else {
                    &error.kind
                };
                self.error = Some(upstream_error(kind, &error.message));
            }
            _ => {}
        }
    }

    fn answer(self, meta: &ResponseMeta) -> Result<(Vec<u8>, Usage), ApiError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.stopped && !self.finished {
            return Err(truncated());
        }
        let mut blocks = self.blocks;
        blocks.sort_by_key(|block| block.index);
        let opening: String = blocks
            .iter()
            .filter_map(|block| block.fields.get("text").and_then(Value::as_str))
            .take(2)
            .collect();
        if notice::is_notice(opening.as_bytes()) {
            return Err(notice::unregistered_user());
        }
        let usage = serde_json::from_value::<WireUsage>(Value::Object(self.usage.clone()))
            .unwrap_or_default()
            .hub();
        let mut message = self.message;
        message.insert("id".into(), Value::String(meta.id.clone()));
        message.insert("model".into(), Value::String(meta.model.clone()));
        message.entry("type").or_insert_with(|| json!("message"));
        message.entry("role").or_insert_with(|| json!("assistant"));
        message.entry("stop_reason").or_insert(Value::Null);
        message.entry("stop_sequence").or_insert(Value::Null);
        let content = blocks.into_iter().map(|block| Value::Object(block.fields));
        message.insert("content".into(), Value::Array(content.collect()));
        message.insert("usage".into(), Value::Object(self.usage));
        Ok((Value::Object(message).to_string().into_bytes(), usage))
    }
}

impl Block {
    fn delta(&mut self, mut delta: Map<String, Value>) {
        let kind = delta.remove("type");
        let (field, value) = match kind.as_ref().and_then(Value::as_str).unwrap_or_default() {
            "text_delta" => ("text", delta.remove("text")),
            "thinking_delta" => ("thinking", delta.remove("thinking")),
            "signature_delta" => ("signature", delta.remove("signature")),
            "input_json_delta" => {
                if let Some(Value::String(json)) = delta.remove("partial_json") {
                    self.input.push_str(&json);
                }
                return;
            }
            "citations_delta" => {
                if let Some(citation) = delta.remove("citation") {
                    let citations = self.fields.entry("citations").or_insert_with(|| json!([]));
                    if !citations.is_array() {
                        *citations = json!([]);
                    }
                    if let Value::Array(citations) = citations {
                        citations.push(citation);
                    }
                }
                return;
            }
            _ => return,
        };
        let Some(Value::String(more)) = value else {
            return;
        };
        match self.fields.get_mut(field) {
            Some(Value::String(text)) => text.push_str(&more),
            _ => {
                self.fields.insert(field.into(), Value::String(more));
            }
        }
    }
}

/// Later usage members replace earlier ones, but a `null` (argo-api.md §C) never replaces a
/// count.
fn merge_usage(usage: &mut Map<String, Value>, later: Map<String, Value>) {
    for (key, value) in later {
        if value.is_null() && usage.get(&key).is_some_and(|known| !known.is_null()) {
            continue;
        }
        usage.insert(key, value);
    }
}
