//! Client spokes: each client format read into the hub and written back out of it: a request
//! reader, an answer writer and an [`Encoder`](crate::translate::Encoder) for streams, plus the
//! format's error envelope. OpenAI chat, Anthropic Messages, OpenAI Responses, Google GenAI.

pub mod anthropic_messages;
pub mod google_genai;
pub mod openai_chat;
pub mod openai_responses;
