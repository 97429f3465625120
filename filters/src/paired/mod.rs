//! Tests that pair spokes: an upstream's decoder feeding a client's encoder through the
//! [`StreamTranslation`](crate::translate::StreamTranslation), a client's reader feeding an
//! upstream's request writer. They sit above every spoke, so that no spoke's own tests reach
//! across to another folder: nothing imports this folder.

mod anthropic_messages;
mod google_genai;
mod openai_responses;
mod stream;
mod tool_names;
mod translate;
