//! The counters the `GET /__mock/stats` hook serves.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::directive::Route;
use crate::resource::route;

/// Counters served at `GET /__mock/stats`, so tests can see what Argo saw:
/// `{"requests", "streams_started", "streams_completed", "streams_aborted", "fragments_sent",
/// "endpoints": {"chat", "streamchat", "embed", "chat_completions", "messages", "embeddings",
/// "models", "responses", "count_tokens", "other"}, "user_agents": [...], "last_user_agent"}`.
/// Streams count both the resource streams and the native SSE ones; a stream is aborted when the
/// client went away or a `cut_after` directive cut it. `user_agents` holds the `User-Agent` of
/// the latest 64 requests to Argo's routes (not the `__mock` hooks), oldest first, `""` for a
/// request without one; `last_user_agent` the newest (null before any request): Argo's
/// maintainer asks intermediaries to name themselves and the originating client there
/// (argo-api.md §C, argo-proxy issue 144).
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    pub(crate) streams_started: AtomicU64,
    streams_completed: AtomicU64,
    streams_aborted: AtomicU64,
    pub(crate) fragments_sent: AtomicU64,
    endpoints: [AtomicU64; Endpoint::ALL.len()],
    /// The `User-Agent` of the latest requests, oldest first (at most [`USER_AGENTS_KEPT`]).
    user_agents: std::sync::Mutex<std::collections::VecDeque<String>>,
}

/// How many `User-Agent` values the stats keep.
const USER_AGENTS_KEPT: usize = 64;

/// The endpoints the stats count requests of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Endpoint {
    Chat,
    StreamChat,
    Embed,
    ChatCompletions,
    Messages,
    Embeddings,
    Models,
    Responses,
    CountTokens,
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 10] = [
        Endpoint::Chat,
        Endpoint::StreamChat,
        Endpoint::Embed,
        Endpoint::ChatCompletions,
        Endpoint::Messages,
        Endpoint::Embeddings,
        Endpoint::Models,
        Endpoint::Responses,
        Endpoint::CountTokens,
        Endpoint::Other,
    ];

    pub(crate) fn of(path: &str) -> Endpoint {
        match route(path) {
            Some(Route::Chat) => Endpoint::Chat,
            Some(Route::StreamChat) => Endpoint::StreamChat,
            Some(Route::Embed) => Endpoint::Embed,
            None if path.ends_with("/v1/chat/completions") => Endpoint::ChatCompletions,
            None if path.ends_with("/v1/messages") => Endpoint::Messages,
            None if path.ends_with("/v1/embeddings") => Endpoint::Embeddings,
            None if path.ends_with("/v1/responses") => Endpoint::Responses,
            None if path.ends_with("/v1/messages/count_tokens") => Endpoint::CountTokens,
            None if path.ends_with("/v1/models") || path.ends_with("/api/v1/models/") => {
                Endpoint::Models
            }
            None => Endpoint::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::StreamChat => "streamchat",
            Endpoint::Embed => "embed",
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Messages => "messages",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Models => "models",
            Endpoint::Responses => "responses",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::Other => "other",
        }
    }
}

impl Stats {
    /// Counts a stream that was started as completed or as cut short.
    pub(crate) fn stream_ended(&self, completed: bool) {
        let outcome = match completed {
            true => &self.streams_completed,
            false => &self.streams_aborted,
        };
        outcome.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        let endpoints: serde_json::Map<String, Value> = Endpoint::ALL
            .iter()
            .zip(&self.endpoints)
            .map(|(endpoint, count)| (endpoint.name().to_string(), json!(load(count))))
            .collect();
        let user_agents = self.user_agents().clone();
        json!({
            "requests": load(&self.requests),
            "streams_started": load(&self.streams_started),
            "streams_completed": load(&self.streams_completed),
            "streams_aborted": load(&self.streams_aborted),
            "fragments_sent": load(&self.fragments_sent),
            "endpoints": endpoints,
            "user_agents": user_agents,
            "last_user_agent": user_agents.back(),
        })
        .to_string()
        .into_bytes()
    }

    fn user_agents(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<String>> {
        self.user_agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn saw_user_agent(&self, user_agent: Option<&str>) {
        let mut kept = self.user_agents();
        if kept.len() == USER_AGENTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(user_agent.unwrap_or_default().to_string());
    }

    /// `requests` counts calls of a model, not the gateway's reads of the model list.
    pub(crate) fn count(&self, endpoint: Endpoint) {
        if endpoint != Endpoint::Models {
            self.requests.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(index) = Endpoint::ALL.iter().position(|e| *e == endpoint) {
            self.endpoints[index].fetch_add(1, Ordering::SeqCst);
        }
    }
}
