//! What the three pass-through relays (chat, Messages, Responses) share: the engine that feeds
//! Argo's SSE to a relay's reading of events and ends a stream Argo cut short with an error,
//! the notice hold-back each relayed event goes through, and the watch on answer text.

use std::borrow::Cow;
use std::fmt::Debug;

use crate::error::ApiError;
use crate::hub::{Finish, Usage};
use crate::sse::SseParser;
use crate::translate::{Engine, StreamState, StreamTranslation};
use crate::upstream::truncated;

/// A relay's reading of Argo's events, in the client's own dialect.
pub(in crate::upstream) trait Relayed: Debug + Send {
    /// Relays one event (`name` empty when it has no `event:` line).
    fn event(
        &mut self,
        name: &[u8],
        data: &[u8],
        state: &mut StreamState,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError>;

    /// Whether the stream came to an end: Argo's answer finished, or nothing more is relayed.
    fn ended(&self) -> bool;

    /// Nothing more is relayed.
    fn stop(&mut self);

    /// `error` as the event that ends the client's stream.
    fn write_error(&self, out: &mut Vec<u8>, error: &ApiError);

    /// What the client's stream still needs after Argo's last event.
    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage);

    /// Ends the stream with `error`: the client's error response while nothing was sent, else
    /// its last event.
    fn fail(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        error: ApiError,
    ) -> Result<(), ApiError> {
        self.stop();
        state.upstream_error(out, error, |out, error| self.write_error(out, error))
    }
}

/// The translation that relays Argo's stream through `events`.
pub(in crate::upstream) fn relay_stream(events: impl Relayed + 'static) -> StreamTranslation {
    StreamTranslation::with_engine(Box::new(Relay {
        parser: SseParser::default(),
        events,
    }))
}

#[derive(Debug)]
struct Relay<E> {
    parser: SseParser,
    events: E,
}

impl<E: Relayed> Engine for Relay<E> {
    fn start(&mut self, _out: &mut Vec<u8>) {}

    fn feed(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_feed(bytes, |name, data| events.event(name, data, state, out))
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let events = &mut self.events;
        self.parser
            .try_finish(|name, data| events.event(name, data, state, out))?;
        if events.ended() {
            return Ok(());
        }
        events.fail(state, out, truncated())
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.events.finish(out, finish, usage);
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        self.events.write_error(out, error);
    }
}

/// Where a relayed event goes, with its `event:` line (when it has a `name`) and `data: `
/// written: the client's output once the stream is known not to be Argo's notice, held back
/// before. The caller writes the data (about `size` bytes) and the blank line.
pub(in crate::upstream) fn event_sink<'a>(
    state: &'a mut StreamState,
    out: &'a mut Vec<u8>,
    name: &[u8],
    size: usize,
) -> &'a mut Vec<u8> {
    let sink = state.guard.sink(out);
    sink.reserve(name.len() + size + 24);
    if !name.is_empty() {
        sink.extend_from_slice(b"event: ");
        sink.extend_from_slice(name);
        sink.push(b'\n');
    }
    sink.extend_from_slice(b"data: ");
    sink
}

/// Text of the answer as Argo wrote it (`raw`, a JSON string): counted, and, until the stream
/// is known not to be Argo's notice, watched for it.
pub(in crate::upstream) fn watch_text(raw: &[u8], state: &mut StreamState) -> Result<(), ApiError> {
    if state.guard.decided() {
        state.count(raw_text(raw));
        return Ok(());
    }
    let Some(text) = string_at(raw) else {
        return Ok(());
    };
    state.count(&text);
    state.guard.text(&text)
}

/// The JSON string `raw` decoded (borrowed when it has no escapes); `None` when it is none.
pub(in crate::upstream) fn string_at(raw: &[u8]) -> Option<Cow<'_, str>> {
    if let Ok(text) = serde_json::from_slice::<&str>(raw) {
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
}

/// A JSON string's text as written, escapes left in: good enough for a count.
pub(in crate::upstream) fn raw_text(raw: &[u8]) -> &str {
    let inner = raw
        .strip_prefix(b"\"")
        .and_then(|raw| raw.strip_suffix(b"\""))
        .unwrap_or_default();
    std::str::from_utf8(inner).unwrap_or_default()
}
