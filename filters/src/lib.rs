//! Pure, sans-IO translation between the OpenAI API and Argonne's Argo API.
//!
//! Nothing here touches a socket or a clock: the gateway feeds bytes in and writes bytes out.

pub mod argo;
pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod json;
pub mod live_models;
pub mod models;
pub mod notice;
pub mod openai;
pub mod stream;
pub mod tools;
pub mod usage;

pub use error::ApiError;
