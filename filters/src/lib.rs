//! Pure, sans-IO translation between client APIs and Argonne's Argo API.
//!
//! Nothing here touches a socket or a clock: the gateway feeds bytes in and writes bytes out.
//! Every translation goes through one canonical form, the [`hub`]: [`client`] spokes read and
//! write the clients' formats, [`upstream`] spokes Argo's dialects, and [`translate`] pairs them
//! for streams.

mod bytes;
pub mod client;
pub mod embeddings;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod hub;
pub mod json;
pub mod live_models;
pub mod model_rules;
pub mod models;
pub mod notice;
pub mod openai;
#[cfg(test)]
mod paired;
pub mod sse;
pub mod stream;
pub mod tools;
pub mod translate;
pub mod upstream;
pub mod usage;

pub use error::ApiError;
