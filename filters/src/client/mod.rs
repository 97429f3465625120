//! Client spokes: each client format read into the hub and written back out of it. OpenAI chat
//! today; Anthropic Messages, OpenAI Responses and Google GenAI clients fit the same shape
//! (a request reader, an answer writer and an [`Encoder`](crate::translate::Encoder)).

pub mod google_genai;
pub mod openai_chat;
pub mod openai_responses;
