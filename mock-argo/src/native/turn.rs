//! What the model answers, before it is written in a dialect, and how a stream of it is paced.

use std::time::Duration;

use crate::rules::Refusal;
use crate::sse::Step;
use crate::tools::NativeCall;
use crate::Answer;

use super::said::{count_tokens, Stop};

/// The signature of mock thinking blocks (base64 of `mock-signature`).
pub(super) const SIGNATURE: &str = "bW9jay1zaWduYXR1cmU=";

pub(super) type Outcome = Result<(Answer, Duration), Refusal>;

/// What the model answers, before it is written in a dialect.
#[derive(Debug)]
pub(super) struct Turn {
    pub(super) thinking: Option<String>,
    /// A `redacted_thinking` block's `data` (the `redacted_thinking` directive), first.
    pub(super) redacted_thinking: Option<String>,
    /// The text in its stream fragments (joined when not streaming).
    pub(super) text: Vec<String>,
    pub(super) calls: Vec<NativeCall>,
    pub(super) stop: Stop,
    pub(super) input_tokens: u64,
    pub(super) cached_tokens: u64,
    /// `null` inside the usage details (the `usage_nulls` directive).
    pub(super) usage_nulls: bool,
    /// Usage without `input_tokens` (the `omit_input_tokens` directive).
    pub(super) omit_input_tokens: bool,
}

impl Turn {
    pub(super) fn text(&self) -> String {
        self.text.concat()
    }

    pub(super) fn output_tokens(&self) -> u64 {
        let calls: u64 = self
            .calls
            .iter()
            .map(|call| count_tokens(&call.name) + count_tokens(&call.arguments.to_string()))
            .sum();
        (count_tokens(self.thinking.as_deref().unwrap_or_default())
            + count_tokens(&self.text())
            + calls)
            .max(1)
    }
}

/// How a stream is paced and how it ends.
pub(super) struct Pace {
    pub(super) size: usize,
    pub(super) pause: Duration,
    pub(super) forever: Option<String>,
    pub(super) stream_error: Option<String>,
    /// The Anthropic error's `type` in a `stream_error` event.
    pub(super) stream_error_type: Option<String>,
    pub(super) pings: bool,
}

pub(super) struct Meta {
    pub(super) id: String,
    pub(super) model: String,
    pub(super) created: u64,
}

/// Steps of a stream, with optional pings before each content fragment.
pub(super) struct Steps {
    pub(super) steps: Vec<Step>,
    pub(super) pings: Option<bytes::Bytes>,
}

impl Steps {
    pub(super) fn now(&mut self, bytes: bytes::Bytes) {
        self.steps.push(Step::Now(bytes));
    }

    pub(super) fn paced(&mut self, bytes: bytes::Bytes) {
        if let Some(ping) = &self.pings {
            self.steps.push(Step::Now(ping.clone()));
        }
        self.steps.push(Step::Paced(bytes));
    }

    pub(super) fn forever(mut self, bytes: bytes::Bytes) -> Vec<Step> {
        self.steps.push(Step::Forever(bytes));
        self.steps
    }
}
