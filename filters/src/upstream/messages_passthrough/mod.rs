//! Anthropic clients (Claude Code, the `anthropic` SDKs) on Argo's native Anthropic endpoint,
//! for Claude: the same dialect on both sides, so the client's JSON goes up and Argo's SSE comes
//! back with the least rewriting. Everything the hub cannot carry passes: `cache_control`
//! anywhere, PDF and other documents, `redacted_thinking`, citations, `top_k` (where the table
//! lets it), `stop_sequence` in the answer, cache usage.
//!
//! On the way up only these change: `model` becomes the Argo id; `user` and `metadata.user_id`
//! become the gateway's user, and `safety_identifier` is dropped, so that nothing the client
//! sends says who the user is; `stream` is always `true` (Argo refuses unstreamed Claude,
//! argo-api.md §C); the model table's rules apply (sampling per `sampling`, `top_k` per the
//! row, `thinking` fitted to what the model takes with `budget_tokens` below `max_tokens`, an
//! `output_config.effort` the model does not take left out); and thinking blocks of the
//! history that Argo refuses (empty, or without a signature) are dropped.
//!
//! On the way down a streaming client gets Argo's events with the message's id and model the
//! gateway's and the client's, Argo's notice for an unregistered user held back and turned into
//! the 403 of every other path, and an `error` event inside the 200 stream relayed as the
//! gateway's error. A client that asked for one answer gets the stream collected into one
//! Message that keeps every block and field Argo sent ([`collect_answer`]).

mod collect;
mod head;
mod history;
mod relay;
mod request;
#[cfg(test)]
mod tests;
mod thinking;

pub use collect::{collect_answer, MessageCollector};
pub use relay::stream;
pub use request::{read_count_tokens_request, read_request, ClientRequest};
