//! The way down for a stream: Argo's events relayed with the gateway's id and the client's
//! model, held back until they are known not to be Argo's notice.

use std::ops::Range;

use serde::Deserialize;

use crate::client::anthropic_messages;
use crate::error::ApiError;
use crate::hub::{Finish, Usage};
use crate::openai::ResponseMeta;
use crate::stream::json_string;
use crate::translate::{StreamState, StreamTranslation};
use crate::upstream::anthropic::WireUsage;
use crate::upstream::passthrough::pick_members;
use crate::upstream::passthrough::relay::{
    event_sink, raw_text, relay_stream, watch_text, Relayed,
};
use crate::upstream::upstream_error;

/// The translation of Argo's Messages stream for a streaming Anthropic client.
pub fn stream(meta: &ResponseMeta) -> StreamTranslation {
    relay_stream(RelayState {
        id: json_string(&meta.id),
        model: json_string(&meta.model),
        usage: WireUsage::default(),
        finished: false,
        stopped: false,
        done: false,
    })
}

#[derive(Debug)]
struct RelayState {
    /// The message's id and model for the client, as JSON strings.
    id: String,
    model: String,
    usage: WireUsage,
    /// A `message_delta` gave the stop reason.
    finished: bool,
    /// `message_stop` was relayed.
    stopped: bool,
    /// `message_stop` or an error came: nothing more is relayed.
    done: bool,
}

/// The top-level members of an event's data that the relay reads.
#[derive(Debug, Default)]
struct EventMembers {
    kind: Option<Range<usize>>,
    message: Option<Range<usize>>,
    content_block: Option<Range<usize>>,
    delta: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    error: Option<Range<usize>>,
}

impl EventMembers {
    fn of(data: &[u8]) -> Option<Self> {
        let keys = [
            b"type".as_slice(),
            b"message",
            b"content_block",
            b"delta",
            b"usage",
            b"error",
        ];
        let [kind, message, content_block, delta, usage, error] = pick_members(data, keys)?;
        Some(EventMembers {
            kind,
            message,
            content_block,
            delta,
            usage,
            error,
        })
    }
}

/// The members of a nested object (a block, a delta, a message) the relay reads: spans in
/// the event's data.
#[derive(Debug, Default)]
struct Inner {
    kind: Option<Range<usize>>,
    id: Option<Range<usize>>,
    model: Option<Range<usize>>,
    text: Option<Range<usize>>,
    thinking: Option<Range<usize>>,
    usage: Option<Range<usize>>,
    stop_reason: Option<Range<usize>>,
}

impl Inner {
    fn of(data: &[u8], span: Option<Range<usize>>) -> Self {
        let Some(span) = span else {
            return Inner::default();
        };
        let start = span.start;
        let keys = [
            b"type".as_slice(),
            b"id",
            b"model",
            b"text",
            b"thinking",
            b"usage",
            b"stop_reason",
        ];
        let Some(spans) = pick_members(&data[span], keys) else {
            return Inner::default();
        };
        let [kind, id, model, text, thinking, usage, stop_reason] =
            spans.map(|at| at.map(|at| start + at.start..start + at.end));
        Inner {
            kind,
            id,
            model,
            text,
            thinking,
            usage,
            stop_reason,
        }
    }
}

fn is(data: &[u8], span: &Option<Range<usize>>, quoted: &[u8]) -> bool {
    span.as_ref()
        .is_some_and(|span| &data[span.clone()] == quoted)
}

impl Relayed for RelayState {
    fn event(
        &mut self,
        name: &[u8],
        data: &[u8],
        state: &mut StreamState,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim_ascii();
        // What is not a JSON object is no event the client could use.
        let Some(members) = EventMembers::of(data) else {
            return Ok(());
        };
        let kind = &members.kind;
        let mut rewritten = None;
        if is(data, kind, b"\"message_start\"") {
            let message = Inner::of(data, members.message.clone());
            self.usage_at(data, message.usage.clone(), state);
            rewritten = Some(self.rewrite(data, &message));
        } else if is(data, kind, b"\"content_block_start\"") {
            let block = Inner::of(data, members.content_block.clone());
            match is(data, &block.kind, b"\"text\"") {
                true => watch_text_at(data, block.text, state)?,
                false => state.guard.content(),
            }
        } else if is(data, kind, b"\"content_block_delta\"") {
            let delta = Inner::of(data, members.delta.clone());
            if is(data, &delta.kind, b"\"text_delta\"") {
                watch_text_at(data, delta.text, state)?;
            } else {
                if let Some(span) = delta.thinking {
                    state.count(raw_text(&data[span]));
                }
                state.guard.content();
            }
        } else if is(data, kind, b"\"message_delta\"") {
            let delta = Inner::of(data, members.delta.clone());
            self.finished |= delta.stop_reason.is_some_and(|span| &data[span] != b"null");
            self.usage_at(data, members.usage.clone(), state);
        } else if is(data, kind, b"\"message_stop\"") {
            self.done = true;
            self.stopped = true;
        } else if is(data, kind, b"\"error\"") {
            return self.fail(state, out, stream_error(data, &members));
        }
        let sink = event_sink(state, out, name, data.len());
        sink.extend_from_slice(rewritten.as_deref().unwrap_or(data));
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    fn ended(&self) -> bool {
        self.done || self.finished
    }

    fn stop(&mut self) {
        self.done = true;
    }

    fn write_error(&self, out: &mut Vec<u8>, error: &ApiError) {
        anthropic_messages::error_event(out, error);
    }

    fn finish(&mut self, out: &mut Vec<u8>, _finish: Finish, _usage: Usage) {
        if !self.stopped {
            out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        }
    }
}

impl RelayState {
    /// Usage Argo reported (nulls read as absent), merged into what came before.
    fn usage_at(&mut self, data: &[u8], span: Option<Range<usize>>, state: &mut StreamState) {
        let Some(usage) =
            span.and_then(|span| serde_json::from_slice::<WireUsage>(&data[span]).ok())
        else {
            return;
        };
        self.usage.merge(usage);
        state.report(self.usage.hub());
    }

    /// `message_start` with the message's id and model the gateway's and the client's.
    fn rewrite(&self, data: &[u8], message: &Inner) -> Vec<u8> {
        let mut replacements = [
            (message.id.clone(), self.id.as_str()),
            (message.model.clone(), self.model.as_str()),
        ];
        replacements.sort_by_key(|(span, _)| span.as_ref().map_or(0, |span| span.start));
        let mut out = Vec::with_capacity(data.len() + self.model.len() + self.id.len());
        let mut copied = 0;
        for (span, value) in replacements {
            if let Some(span) = span {
                out.extend_from_slice(&data[copied..span.start]);
                out.extend_from_slice(value.as_bytes());
                copied = span.end;
            }
        }
        out.extend_from_slice(&data[copied..]);
        out
    }
}

/// Anthropic's `error` member.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireError {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) message: String,
}

/// The error an `error` event carries, as the client gets it.
fn stream_error(data: &[u8], members: &EventMembers) -> ApiError {
    let error = members
        .error
        .clone()
        .and_then(|span| serde_json::from_slice::<WireError>(&data[span]).ok())
        .unwrap_or_default();
    let kind = if error.kind.is_empty() {
        "error"
    } else {
        &error.kind
    };
    let message = if error.message.is_empty() {
        "no details given"
    } else {
        &error.message
    };
    upstream_error(kind, message)
}

/// The text at `span` of `data`, if any, for [`watch_text`].
fn watch_text_at(
    data: &[u8],
    span: Option<Range<usize>>,
    state: &mut StreamState,
) -> Result<(), ApiError> {
    match span {
        Some(span) => watch_text(&data[span], state),
        None => Ok(()),
    }
}
