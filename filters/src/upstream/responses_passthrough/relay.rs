//! The way down for a stream: Argo's events relayed, numbered on, held back until they are
//! known not to be Argo's notice, calls of namespaced tools as the client knows them.

use std::borrow::Cow;
use std::ops::Range;

use crate::client::openai_responses;
use crate::error::ApiError;
use crate::hub::{Finish, Usage};
use crate::openai::ResponseMeta;
use crate::stream::json_string;
use crate::tools::namespaces::Namespaces;
use crate::translate::{StreamState, StreamTranslation};
use crate::upstream::passthrough::relay::{event_sink, relay_stream, watch_text, Relayed};
use crate::upstream::passthrough::{pick_members, walk_object};

use super::answer::{error_of, present, read_usage, Identity, Response};
use super::tools::{call_for_client, calls_for_client, string_member};

/// The relay of Argo's Responses stream for a client of the same dialect.
/// Calls of namespaced tools go back with their namespace ([`calls_for_client`]).
pub fn stream(meta: &ResponseMeta, namespaces: Namespaces) -> StreamTranslation {
    relay_stream(RelayState {
        identity: Identity::new(meta),
        namespaces,
        next_sequence: 0,
        finished: false,
        done: false,
    })
}

#[derive(Debug)]
struct RelayState {
    identity: Identity,
    namespaces: Namespaces,
    /// The sequence number the gateway's own closing events would take.
    next_sequence: u64,
    /// `response.completed` or `response.incomplete` came.
    finished: bool,
    /// The stream ended, or an error came: nothing more is relayed.
    done: bool,
}

/// The top-level members of an event that the relay reads.
#[derive(Debug, Default)]
struct EventMembers {
    kind: Option<Range<usize>>,
    sequence: Option<Range<usize>>,
    response: Option<Range<usize>>,
    delta: Option<Range<usize>>,
    item: Option<Range<usize>>,
    error: Option<Range<usize>>,
    name: Option<Range<usize>>,
}

impl EventMembers {
    fn of(json: &[u8]) -> Option<Self> {
        let keys = [
            b"type".as_slice(),
            b"sequence_number",
            b"response",
            b"delta",
            b"item",
            b"error",
            b"name",
        ];
        let [kind, sequence, response, delta, item, error, name] = pick_members(json, keys)?;
        Some(EventMembers {
            kind,
            sequence,
            response,
            delta,
            item,
            error,
            name,
        })
    }
}

/// An event's `type`, as written between its quotes (event types have no escapes).
fn kind_of<'a>(json: &'a [u8], members: &EventMembers) -> &'a [u8] {
    members
        .kind
        .clone()
        .map(|span| &json[span])
        .and_then(|raw| raw.strip_prefix(b"\"")?.strip_suffix(b"\""))
        .unwrap_or_default()
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
        let kind = kind_of(data, &members);
        let mut response = None;
        if let Some(span) = members.response.clone() {
            let mut members = Response::default();
            if walk_object(&data[span.clone()], |key, value| members.take(key, value)) {
                response = Some((span.start, members));
            }
        }
        if let Some(error) = self.reported_error(data, kind, &members, &response) {
            return self.fail(state, out, error);
        }
        // The gateway's own closing events take the numbers after the last event relayed.
        if let Some(number) = present(data, &members.sequence)
            .and_then(|raw| std::str::from_utf8(raw).ok()?.parse::<u64>().ok())
        {
            self.next_sequence = number + 1;
        }
        match kind {
            b"response.completed" | b"response.incomplete" => {
                self.finished = true;
                self.done = true;
                let usage = response.as_ref().and_then(|(offset, members)| {
                    present(&data[*offset..], &members.usage).and_then(read_usage)
                });
                if let Some(usage) = usage {
                    state.report(usage);
                }
            }
            b"response.output_text.delta" => {
                if let Some(delta) = members.delta.clone() {
                    watch_text(&data[delta], state)?;
                }
            }
            _ if is_content(data, kind, &members) => state.guard.content(),
            _ => {}
        }
        let sink = event_sink(state, out, name, data.len() + self.identity.model.len());
        let namespaces = &self.namespaces;
        match &response {
            Some((offset, members)) => {
                let output = members.output.clone().and_then(|span| {
                    let output = &data[span.start + offset..span.end + offset];
                    calls_for_client(output, namespaces)
                });
                members.rewrite(data, *offset, &self.identity, output.as_deref(), sink);
            }
            None => match restored_member(data, kind, &members, namespaces) {
                Some((span, value)) => {
                    sink.extend_from_slice(&data[..span.start]);
                    sink.extend_from_slice(&value);
                    sink.extend_from_slice(&data[span.end..]);
                }
                None => sink.extend_from_slice(data),
            },
        }
        sink.extend_from_slice(b"\n\n");
        Ok(())
    }

    fn ended(&self) -> bool {
        self.done || self.finished
    }

    fn stop(&mut self) {
        self.done = true;
    }

    /// `error`, then `response.failed` under the gateway's id and the client's model, numbered
    /// on from the last event relayed.
    fn write_error(&self, out: &mut Vec<u8>, error: &ApiError) {
        let meta = &self.identity.meta;
        out.extend(openai_responses::failure_events(
            meta,
            error,
            self.next_sequence,
        ));
    }

    /// Argo's own closing event was relayed: nothing to add.
    fn finish(&mut self, _out: &mut Vec<u8>, _finish: Finish, _usage: Usage) {}
}

impl RelayState {
    /// The error an event reports: an `error` event, a failed response, or OpenAI's plain
    /// `{"error": {...}}`.
    fn reported_error(
        &self,
        data: &[u8],
        kind: &[u8],
        members: &EventMembers,
        response: &Option<(usize, Response)>,
    ) -> Option<ApiError> {
        match kind {
            b"error" => Some(error_of(data, kind)),
            b"response.failed" => {
                let reported = response
                    .as_ref()
                    .and_then(|(offset, members)| present(&data[*offset..], &members.error));
                Some(error_of(reported.unwrap_or(b"{}"), b"server_error"))
            }
            b"" => present(data, &members.error).map(|error| error_of(error, b"error")),
            _ => None,
        }
    }
}

/// The member of an event (not a response's) that names a namespaced tool as the model was
/// offered it, and its value as the client knows the tool: an output item's call
/// ([`call_for_client`]), or the `name` of `response.function_call_arguments.done` (which has
/// no room for a namespace: the item's events say it).
fn restored_member(
    data: &[u8],
    kind: &[u8],
    members: &EventMembers,
    namespaces: &Namespaces,
) -> Option<(Range<usize>, Vec<u8>)> {
    if namespaces.is_empty() {
        return None;
    }
    if let Some(span) = members.item.clone() {
        let call = call_for_client(&data[span.clone()], namespaces)?;
        return Some((span, call));
    }
    if kind != b"response.function_call_arguments.done" {
        return None;
    }
    let span = members.name.clone()?;
    let offered = serde_json::from_slice::<Cow<str>>(&data[span.clone()]).ok()?;
    let origin = namespaces.origin(&offered)?;
    Some((span, json_string(&origin.name).into_bytes()))
}

/// Whether an event carries content that is not answer text (the notice is only text): a
/// delta of anything else (arguments, reasoning, a refusal), or an output item other than a
/// message.
fn is_content(data: &[u8], kind: &[u8], members: &EventMembers) -> bool {
    if kind.ends_with(b".delta") {
        return true;
    }
    kind == b"response.output_item.added"
        && members
            .item
            .clone()
            .and_then(|span| string_member(&data[span], b"type"))
            .is_some_and(|kind| kind != "message")
}
