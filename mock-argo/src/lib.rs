//! A mock of Argo for tests, benchmarks and demo mode: its legacy resource API and its native
//! endpoints.
//!
//! Resource endpoints (`{base}/api/v1/resource/...`): it checks requests the way Argo does
//! (user, model, messages or prompt) and answers in Argo's shapes: `{"response": text}` for
//! chat, a chunked `text/plain` stream of raw fragments for streamchat, `{"embedding": [[...]]}`
//! for embed.
//!
//! Native endpoints (`{base}/v1/chat/completions`, `/v1/messages`, `/v1/embeddings`,
//! `/v1/models`, and since argo-api.md §C `/v1/responses`, `/v1/messages/count_tokens` and the
//! legacy list `/api/v1/models/`; see [`native`]): OpenAI's and Anthropic's shapes and SSE
//! streams, with the auth headers Argo takes (the username as bearer token or `x-api-key`).
//! They behave as Argo was recorded from July to September 2026 (argo-api.md §C): every
//! unstreamed Claude call on `/v1/messages` is a 500, `developer` chat messages get Argo's
//! misleading 400, chat without a `user` is a 500, Gemini fails on parallel tool calls.
//!
//! On both it refuses what real Argo refuses (see [`rules`]): retired models, parameters a
//! model does not take, Claude's long non-streaming answers, large embed batches; and it greets
//! unregistered users (`unregistered*`) with Argo's authentication notice, with HTTP 200. A
//! test scripts one answer by ending the last user message with `#mock {json}`; see
//! [`Directive`].
//!
//! Test hooks: `GET /__mock/stats` (what Argo saw, with the `User-Agent` of the latest requests,
//! see [`Stats`]) and `POST /__mock/models`
//! (the model list, see [`models::ModelList::hook`]), under any prefix.
//!
//! A crate of its own, not part of the gateway: the gateway's request path never reaches it.
//! It is served beside the gateway by `argo-bridge demo`, alone by `argo-bridge mock-argo` (what
//! the tests and benchmarks start) and by this crate's own `mock-argo` binary (see [`serve`]).

mod app;
mod directive;
pub mod models;
mod native;
mod resource;
pub mod rules;
mod serve;
mod sse;
mod stats;
#[cfg(test)]
mod tests;
mod tools;
mod writes;

pub use directive::Directive;
pub use serve::{serve, service, Fragments, MockArgs, Reservation, Serving};
pub use stats::Stats;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;

// `native::responses` finds it here.
use directive::parse_directive;
use stats::Endpoint;

#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Pause between streamed fragments unless a directive says otherwise.
    pub fragment_delay: Duration,
    /// Bytes per streamed fragment unless a directive says otherwise.
    pub fragment_bytes: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            fragment_delay: Duration::from_millis(20),
            fragment_bytes: 8,
        }
    }
}

pub struct MockArgo {
    options: MockOptions,
    stats: Stats,
    models: models::ModelList,
    /// Numbers the ids of native answers.
    serial: AtomicU64,
}
/// One request as the mock read it.
#[derive(Debug, Clone, Default)]
pub struct MockRequest {
    pub method: String,
    /// The URI's path, without the query.
    pub path: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl MockRequest {
    /// The first value of a header (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
/// What the mock will send back.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// A native stream: `text/event-stream`, chunked, one chunk per step.
    Sse {
        steps: Vec<sse::Step>,
        pause: Duration,
        cut_after: Option<usize>,
    },
    Json {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<String>,
    },
    Stream {
        fragments: Vec<Bytes>,
        pause: Duration,
        cut_after: Option<usize>,
        forever: Option<Bytes>,
    },
    /// A 200 JSON answer delivered badly.
    Faulty { body: Vec<u8>, fault: Fault },
}

#[derive(Debug, PartialEq)]
pub enum Fault {
    Truncate,
    Drip(Duration),
}

impl MockArgo {
    pub fn new(options: MockOptions) -> Self {
        MockArgo {
            options,
            stats: Stats::default(),
            models: models::ModelList::default(),
            serial: AtomicU64::new(0),
        }
    }

    /// Decides the answer for one request, native or resource, and counts it.
    pub fn respond(&self, request: &MockRequest) -> (Answer, Duration) {
        let endpoint = Endpoint::of(&request.path);
        self.stats.count(endpoint);
        self.stats.saw_user_agent(request.header("user-agent"));
        match endpoint {
            Endpoint::ChatCompletions => self.chat_completions(request),
            Endpoint::Messages => self.messages(request),
            Endpoint::Embeddings => self.embeddings(request),
            Endpoint::Responses => self.responses(request),
            Endpoint::CountTokens => self.count_tokens(request),
            Endpoint::Models => self.paced(self.model_list(request)),
            _ => self.answer(&request.path, &request.body),
        }
    }

    /// The model list as the test hook paces it: later, and dripping (see
    /// [`models::ModelList::hook`]).
    fn paced(&self, (answer, delay): (Answer, Duration)) -> (Answer, Duration) {
        let pacing = self.models.pacing();
        let answer = match (answer, pacing.drip) {
            (
                Answer::Json {
                    status: 200, body, ..
                },
                Some(pause),
            ) => Answer::Faulty {
                body,
                fault: Fault::Drip(pause),
            },
            (answer, _) => answer,
        };
        (answer, delay + pacing.delay)
    }
}

pub(crate) fn with_fault(answer: Answer, directive: &Directive) -> Answer {
    let fault = match (directive.truncate, directive.drip_ms) {
        (true, _) => Fault::Truncate,
        (false, Some(ms)) => Fault::Drip(Duration::from_millis(ms)),
        (false, None) => return answer,
    };
    match answer {
        Answer::Json {
            status: 200, body, ..
        } => Answer::Faulty { body, fault },
        other => other,
    }
}
