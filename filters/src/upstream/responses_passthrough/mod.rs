//! OpenAI Responses clients on Argo's own `/v1/responses`, which serves every `gpt*` model
//! (argo-api.md §C): the same dialect on both sides, so the client's JSON goes up and Argo's
//! JSON and SSE come back with the least rewriting, as [`super::passthrough`] does for chat.
//! Whatever the translation through the hub would lose (`include`, `reasoning.summary`,
//! reasoning items with their `encrypted_content`, custom tools as custom tools, `text`
//! formats, fields nobody here knows yet) reaches Argo as the client wrote it.
//!
//! On the way up only the model, the user, the model table's rules (sampling, the
//! `max_output_tokens` cap, `reasoning` for models without it) and what the gateway cannot
//! serve change: stored state is refused as on the translated path (the client only sees the
//! gateway's response ids), web search tools are dropped and other hosted tool types refused,
//! as the translation does. On the way down the response's id and model become the gateway's
//! and the client's, the opening is held back until it is known not to be Argo's notice,
//! Argo's usage is counted, and an error inside the stream ends it as the translated path
//! ends one (`error`, then `response.failed`).

mod answer;
mod relay;
mod request;
#[cfg(test)]
mod tests;
mod tools;

pub use answer::relay_answer;
pub use relay::stream;
pub use request::{read_request, serves, ClientRequest, MAX_CUSTOM_TOOL_DESCRIPTION};
