//! One module per client format, each as small as the `argo_filters::client` spoke it calls:
//! read the request, resolve the model, and run the plan `argo_filters::upstream::plan` makes
//! for its row: [`pass_through`] for a body passed through to Argo's endpoint of its dialect,
//! [`conversation`] for the hub's conversation. The plumbing they share (admission, body, Argo
//! calls, replies) is in [`crate::serve::gateway`].

pub mod anthropic;
pub(crate) mod conversation;
pub mod embeddings;
pub mod google;
pub mod models;
pub mod openai;
mod pass_through;
pub mod responses;

use argo_filters::client::{anthropic_messages, google_genai, openai_responses};
use argo_filters::ApiError;

use crate::serve::routes::ClientFormat;

/// `error` in the envelope of the client's API.
pub fn error_body(format: ClientFormat, error: &ApiError) -> Vec<u8> {
    match format {
        ClientFormat::OpenAi => error.to_json(),
        ClientFormat::Responses => openai_responses::error_json(error),
        ClientFormat::Google => google_genai::error_json(error),
        ClientFormat::Anthropic => anthropic_messages::error_json(error),
    }
}
