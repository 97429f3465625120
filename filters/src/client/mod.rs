//! Client spokes: each client format read into the hub and written back out of it. OpenAI chat
//! and Anthropic Messages today; OpenAI Responses and Google GenAI clients fit the same shape
//! (a request reader, an answer writer and an [`Encoder`](crate::translate::Encoder)).

pub mod anthropic_messages;
pub mod openai_chat;
