//! Stream translation: an upstream [`Decoder`] (bytes -> [`Event`]s) paired with a client
//! [`Encoder`] (events -> bytes), driven as one [`StreamTranslation`] by the relay whatever the
//! pairing; and the [`Collector`] that folds a streamed upstream answer into one [`Answer`].
//!
//! Both hold back the start of a stream until it is known not to be Argo's notice for an
//! unregistered username (see [`crate::notice`]), so that nothing of a notice reaches the client.

use std::fmt::Debug;

use crate::error::ApiError;
use crate::hub::{Aggregator, Answer, Event, Finish, Part, Usage};
use crate::notice::{self, StreamStart};
use crate::usage::{TokenCounter, Tokenizer};

/// Reads an upstream stream into events, sans-IO: fed byte chunks split anywhere, it gives
/// the same events as fed the stream whole.
pub trait Decoder: Debug + Send {
    /// Appends the events `bytes` complete.
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>);

    /// The upstream ended: appends what was still held, then [`Event::Error`] when the stream
    /// ended before the answer did.
    fn finish(&mut self, events: &mut Vec<Event>);
}

/// Writes events in a client's streaming format.
pub trait Encoder: Debug + Send {
    /// The opening events.
    fn start(&mut self, out: &mut Vec<u8>);

    /// A content event: text, thinking or a tool call. The stream translation keeps
    /// [`Event::Finish`], [`Event::Usage`] and [`Event::Error`] for [`Self::finish`] and
    /// [`Self::error`].
    fn event(&mut self, out: &mut Vec<u8>, event: &Event);

    /// The closing events of a complete answer.
    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage);

    /// An error after the stream started; nothing follows it.
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError);

    /// The stream's media type.
    fn content_type(&self) -> &'static str {
        EVENT_STREAM
    }
}

/// Server-sent events, what every client format streams in but one (Google's JSON array).
pub const EVENT_STREAM: &str = "text/event-stream";

/// An upstream decoder chosen at run time.
impl<D: Decoder + ?Sized> Decoder for Box<D> {
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        (**self).feed(bytes, events);
    }

    fn finish(&mut self, events: &mut Vec<Event>) {
        (**self).finish(events);
    }
}

/// A client encoder chosen at run time.
impl<E: Encoder + ?Sized> Encoder for Box<E> {
    fn start(&mut self, out: &mut Vec<u8>) {
        (**self).start(out);
    }

    fn event(&mut self, out: &mut Vec<u8>, event: &Event) {
        (**self).event(out, event);
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        (**self).finish(out, finish, usage);
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        (**self).error(out, error);
    }

    fn content_type(&self) -> &'static str {
        (**self).content_type()
    }
}

/// Holds a stream's opening back until it is known not to be Argo's notice: while the text so
/// far could open the notice ([`notice::stream_start`]), or while the upstream has sent
/// nothing the decoder understands (a notice in no dialect at all, checked on the raw bytes).
#[derive(Debug, Default)]
pub(crate) struct NoticeGuard {
    decided: bool,
    opening: String,
    raw: Vec<u8>,
    /// Output produced before the decision.
    held: Vec<u8>,
}

impl NoticeGuard {
    /// Text the upstream sent; the notice is an error.
    pub(crate) fn text(&mut self, text: &str) -> Result<(), ApiError> {
        if self.decided || text.is_empty() {
            return Ok(());
        }
        self.opening.push_str(text);
        match notice::stream_start(self.opening.as_bytes()) {
            StreamStart::Notice => Err(notice::unregistered_user()),
            StreamStart::Answer => {
                self.decide();
                Ok(())
            }
            StreamStart::Undecided => Ok(()),
        }
    }

    pub(crate) fn decided(&self) -> bool {
        self.decided
    }

    /// Content that is not text (thinking, a tool call): no notice.
    pub(crate) fn content(&mut self) {
        self.decide();
    }

    /// Upstream bytes that left the stream undecided.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        if self.decided || self.raw.len() >= notice::SEARCHED_BYTES {
            return Ok(());
        }
        let room = notice::SEARCHED_BYTES - self.raw.len();
        self.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if notice::is_notice(&self.raw) {
            return Err(notice::unregistered_user());
        }
        Ok(())
    }

    fn decide(&mut self) {
        self.decided = true;
        self.opening = String::new();
        self.raw = Vec::new();
    }

    /// Where output goes now: `out` once decided, held back before.
    pub(crate) fn sink<'a>(&'a mut self, out: &'a mut Vec<u8>) -> &'a mut Vec<u8> {
        if self.decided {
            if !self.held.is_empty() {
                out.append(&mut self.held);
            }
            out
        } else {
            &mut self.held
        }
    }
}

/// What every stream translation tracks besides its engine.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) guard: NoticeGuard,
    started: bool,
    /// An error or the end was sent: later input is ignored.
    ended: bool,
    failure: Option<ApiError>,
    finish: Option<Finish>,
    reported: Option<Usage>,
    counter: TokenCounter,
    prompt_tokens: PromptTokens,
}

/// The prompt's tokens, for a stream whose upstream reports no usage: counted only when the
/// stream ends without a report (Argo's native endpoints report it, so their streams never
/// count), then remembered.
enum PromptTokens {
    Counted(u64),
    Deferred(Box<dyn FnOnce() -> u64 + Send>),
}

impl PromptTokens {
    fn get(&mut self) -> u64 {
        let tokens = match std::mem::replace(self, PromptTokens::Counted(0)) {
            PromptTokens::Counted(tokens) => tokens,
            PromptTokens::Deferred(count) => count(),
        };
        *self = PromptTokens::Counted(tokens);
        tokens
    }
}

impl Debug for PromptTokens {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptTokens::Counted(tokens) => write!(out, "Counted({tokens})"),
            PromptTokens::Deferred(_) => out.write_str("Deferred"),
        }
    }
}

impl StreamState {
    /// Counts generated text, for when the upstream reports no usage.
    pub(crate) fn count(&mut self, text: &str) {
        self.counter.add(text);
    }

    pub(crate) fn report(&mut self, usage: Usage) {
        self.reported = Some(usage);
    }

    /// An error the upstream reported: returned while nothing was sent (the client gets an
    /// error response), else written by `write` as the stream's last event.
    pub(crate) fn upstream_error(
        &mut self,
        out: &mut Vec<u8>,
        error: ApiError,
        write: impl FnOnce(&mut Vec<u8>, &ApiError),
    ) -> Result<(), ApiError> {
        if !self.guard.decided {
            return Err(error);
        }
        write(self.guard.sink(out), &error);
        self.failure = Some(error);
        self.ended = true;
        Ok(())
    }

    fn usage(&mut self) -> Usage {
        match self.reported {
            Some(usage) => usage,
            None => Usage::new(self.prompt_tokens.get(), self.counter.tokens()),
        }
    }
}

/// How a stream is translated: decoding and encoding through the hub, or relaying an upstream
/// of the client's own dialect with least rewriting.
pub(crate) trait Engine: Debug + Send {
    fn start(&mut self, out: &mut Vec<u8>);
    fn feed(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        bytes: &[u8],
    ) -> Result<(), ApiError>;
    /// The upstream ended normally: what is still held (an error when it was cut short).
    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError>;
    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage);
    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError);
    fn content_type(&self) -> &'static str {
        EVENT_STREAM
    }
}

/// Upstream bytes in, client bytes out, for any pairing of upstream dialect and client format.
#[derive(Debug)]
pub struct StreamTranslation {
    engine: Box<dyn Engine>,
    state: StreamState,
}

impl StreamTranslation {
    /// Events decoded from the upstream by `decoder`, written for the client by `encoder`.
    pub fn new(decoder: impl Decoder + 'static, encoder: impl Encoder + 'static) -> Self {
        Self::with_engine(Box::new(HubEngine {
            decoder: Box::new(decoder),
            encoder: Box::new(encoder),
            events: Vec::new(),
        }))
    }

    pub(crate) fn with_engine(engine: Box<dyn Engine>) -> Self {
        StreamTranslation {
            engine,
            state: StreamState {
                guard: NoticeGuard::default(),
                started: false,
                ended: false,
                failure: None,
                finish: None,
                reported: None,
                counter: TokenCounter::new(Tokenizer::Estimate),
                prompt_tokens: PromptTokens::Counted(0),
            },
        }
    }

    /// How usage is counted when the upstream reports none: the prompt by `prompt_tokens`,
    /// called then and only then, and the generated text, as it passes, by `tokenizer`. By
    /// default the prompt counts 0 and the output is estimated.
    pub fn counting(
        mut self,
        prompt_tokens: impl FnOnce() -> u64 + Send + 'static,
        tokenizer: Tokenizer,
    ) -> Self {
        self.state.prompt_tokens = PromptTokens::Deferred(Box::new(prompt_tokens));
        self.state.counter = TokenCounter::new(tokenizer);
        self
    }

    /// The opening events, unless already sent by [`Self::feed_into`].
    pub fn start(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.start_into(&mut out);
        out
    }

    fn start_into(&mut self, out: &mut Vec<u8>) {
        if !self.state.started {
            self.state.started = true;
            self.engine.start(self.state.guard.sink(out));
        }
    }

    /// Translates upstream `bytes`, appending what the client gets now to `out`. `Err` only
    /// before anything reached `out`: the notice, or an upstream error before any answer; the
    /// client should get it as an error response instead of a stream.
    pub fn feed_into(&mut self, out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), ApiError> {
        if self.state.ended {
            return Ok(());
        }
        self.start_into(out);
        let fed = self.engine.feed(&mut self.state, out, bytes);
        let checked = fed.and_then(|()| self.state.guard.raw(bytes));
        self.settle(checked)
    }

    /// Whether the stream is known not to be the notice: until then nothing is written to the
    /// client (hold the response head too).
    /// The media type of the client's stream.
    pub fn content_type(&self) -> &'static str {
        self.engine.content_type()
    }

    pub fn decided(&self) -> bool {
        self.state.guard.decided
    }

    /// The upstream ended normally: the closing events (an error event if the upstream cut its
    /// answer short). `Err` as for [`Self::feed_into`].
    pub fn finish(&mut self) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        if self.state.ended {
            return Ok(out);
        }
        self.start_into(&mut out);
        let drained = self.engine.drain(&mut self.state, &mut out);
        self.settle(drained)?;
        if self.state.ended {
            return Ok(out);
        }
        self.state.guard.decide();
        self.state.ended = true;
        let usage = self.state.usage();
        let finish = self.state.finish.unwrap_or(Finish::Stop);
        self.engine
            .finish(self.state.guard.sink(&mut out), finish, usage);
        Ok(out)
    }

    /// The upstream failed (connection lost, timeout) after the stream started: one error event.
    pub fn fail(&mut self, error: &ApiError) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.ended {
            return out;
        }
        self.start_into(&mut out);
        self.end_with(&mut out, error.clone());
        out
    }

    /// Usage as the upstream reported it, else as counted.
    pub fn usage(&mut self) -> Usage {
        self.state.usage()
    }

    /// Whether the usage is the upstream's own report.
    pub fn usage_reported(&self) -> bool {
        self.state.reported.is_some()
    }

    /// The error the stream ended with, if it did not end normally.
    pub fn failure(&self) -> Option<&ApiError> {
        self.state.failure.as_ref()
    }

    /// A failed step: before the decision the error is returned (nothing was sent); after,
    /// the stream ends with it as an error event.
    fn settle(&mut self, result: Result<(), ApiError>) -> Result<(), ApiError> {
        let Err(error) = result else {
            return Ok(());
        };
        if self.state.guard.decided {
            return Ok(());
        }
        self.state.ended = true;
        self.state.failure = Some(error.clone());
        Err(error)
    }

    fn end_with(&mut self, out: &mut Vec<u8>, error: ApiError) {
        self.state.guard.decide();
        self.engine.error(self.state.guard.sink(out), &error);
        self.state.failure = Some(error);
        self.state.ended = true;
    }
}

/// Decodes, then encodes, through the hub's events.
#[derive(Debug)]
struct HubEngine {
    decoder: Box<dyn Decoder>,
    encoder: Box<dyn Encoder>,
    events: Vec<Event>,
}

impl HubEngine {
    fn emit(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let mut events = std::mem::take(&mut self.events);
        let mut result = Ok(());
        for event in events.drain(..) {
            if state.ended {
                break;
            }
            match &event {
                Event::TextDelta(text) => {
                    state.count(text);
                    if let Err(error) = state.guard.text(text) {
                        result = Err(error);
                        break;
                    }
                }
                Event::ThinkingDelta(text) | Event::ToolCallArguments { fragment: text, .. } => {
                    state.count(text);
                    state.guard.content();
                }
                Event::ToolCallStart { name, .. } => {
                    state.count(name);
                    state.guard.content();
                }
                Event::ThinkingSignature(_) => state.guard.content(),
                Event::Finish(finish) => {
                    state.finish = Some(*finish);
                    continue;
                }
                Event::Usage(usage) => {
                    state.report(*usage);
                    continue;
                }
                Event::Error(error) => {
                    let encoder = &mut self.encoder;
                    if let Err(error) = state
                        .upstream_error(out, error.clone(), |out, error| encoder.error(out, error))
                    {
                        result = Err(error);
                        break;
                    }
                    continue;
                }
            }
            self.encoder.event(state.guard.sink(out), &event);
        }
        self.events = events;
        result
    }
}

impl Engine for HubEngine {
    fn start(&mut self, out: &mut Vec<u8>) {
        self.encoder.start(out);
    }

    fn content_type(&self) -> &'static str {
        self.encoder.content_type()
    }

    fn feed(
        &mut self,
        state: &mut StreamState,
        out: &mut Vec<u8>,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        self.decoder.feed(bytes, &mut self.events);
        self.emit(state, out)
    }

    fn drain(&mut self, state: &mut StreamState, out: &mut Vec<u8>) -> Result<(), ApiError> {
        self.decoder.finish(&mut self.events);
        self.emit(state, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>, finish: Finish, usage: Usage) {
        self.encoder.finish(out, finish, usage);
    }

    fn error(&mut self, out: &mut Vec<u8>, error: &ApiError) {
        self.encoder.error(out, error);
    }
}

/// Folds a streamed upstream answer into one [`Answer`], for a client that asked for no stream
/// (Argo refuses long Claude answers unless streamed). The notice is an error here too.
#[derive(Debug)]
pub struct Collector {
    decoder: Box<dyn Decoder>,
    aggregator: Aggregator,
    guard: NoticeGuard,
    events: Vec<Event>,
}

impl Collector {
    pub fn new(decoder: impl Decoder + 'static) -> Self {
        Collector {
            decoder: Box::new(decoder),
            aggregator: Aggregator::default(),
            guard: NoticeGuard::default(),
            events: Vec::new(),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.decoder.feed(bytes, &mut self.events);
        self.fold()?;
        self.guard.raw(bytes)
    }

    /// The upstream ended normally: the answer, or the error the stream carried.
    pub fn finish(mut self) -> Result<Answer, ApiError> {
        self.decoder.finish(&mut self.events);
        self.fold()?;
        self.aggregator.finish()
    }

    fn fold(&mut self) -> Result<(), ApiError> {
        for event in self.events.drain(..) {
            match &event {
                Event::TextDelta(text) => self.guard.text(text)?,
                Event::Finish(_) | Event::Usage(_) | Event::Error(_) => {}
                _ => self.guard.content(),
            }
            self.aggregator.push(event);
        }
        Ok(())
    }
}

/// A whole stream of a buffered `answer`, written by `encoder`: for a client that asked for a
/// stream of an upstream call that could not stream.
pub fn replay(encoder: &mut dyn Encoder, answer: &Answer, usage: Usage) -> Vec<u8> {
    let mut out = Vec::new();
    encoder.start(&mut out);
    let mut calls = 0;
    for part in &answer.content {
        let events = match part {
            Part::Text(text) => vec![Event::TextDelta(text.clone())],
            Part::Thinking { text, signature } => {
                let mut events = vec![Event::ThinkingDelta(text.clone())];
                events.extend(signature.clone().map(Event::ThinkingSignature));
                events
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                calls += 1;
                vec![
                    Event::ToolCallStart {
                        index: calls - 1,
                        id: id.clone(),
                        name: name.clone(),
                    },
                    Event::ToolCallArguments {
                        index: calls - 1,
                        fragment: arguments.clone(),
                    },
                ]
            }
            Part::Image { .. } | Part::ToolResult { .. } => Vec::new(),
        };
        for event in &events {
            encoder.event(&mut out, event);
        }
    }
    encoder.finish(&mut out, answer.finish, usage);
    out
}

/// Feeds `chunks` to a [`Collector`] over `decoder`.
pub fn collect<'a>(
    decoder: impl Decoder + 'static,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Answer, ApiError> {
    let mut collector = Collector::new(decoder);
    for chunk in chunks {
        collector.feed(chunk)?;
    }
    collector.finish()
}
