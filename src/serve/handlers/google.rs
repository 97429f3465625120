//! Google's GenAI API (Gemini CLI, the `google-genai` SDKs): `models/{model}:generateContent`,
//! `:streamGenerateContent` and `:countTokens`, the model named by the path.

use argo_filters::client::google_genai::{self, Framing};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::Client;
use crate::serve::gateway::{Gateway, RequestCtx};

/// A stream is server-sent events with `alt=sse` (what the SDKs ask for), else one JSON
/// array written as the answer grows, as Google's REST API does.
pub async fn generate_content(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &str,
    stream: bool,
) -> Result<(), ApiError> {
    let query = session.req_header().uri.query().unwrap_or_default();
    let framing = match query.split('&').any(|pair| pair == "alt=sse") {
        true => Framing::Sse,
        false => Framing::JsonArray,
    };
    let model = model.to_string();
    gateway
        .chat_turn(session, ctx, move |body| {
            let conversation = google_genai::read_request(body, &model, stream)?;
            Ok((conversation, model, Client::Google(framing)))
        })
        .await
}

/// `:countTokens`: the prompt as the model's tokenizer counts it.
pub async fn count_tokens(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &str,
) -> Result<(), ApiError> {
    let model = model.to_string();
    let read = move |body: &[u8]| {
        let conversation = google_genai::read_count_tokens_request(body, &model)?;
        Ok((conversation, model))
    };
    let tokens = gateway.count_prompt_tokens(session, ctx, read).await?;
    let body = google_genai::count_tokens_json(tokens);
    gateway.reply(session, ctx, 200, body).await
}
