//! Anthropic's Messages API (Claude Code, Kilo Code, the `anthropic` SDKs): `POST /v1/messages`
//! and `/v1/messages/count_tokens`. A Claude model on Argo's native upstream is a near
//! pass-through (the hub keeps the fields Argo's `/v1/messages` takes); GPT and Gemini models
//! behind it are translated.

use argo_filters::client::anthropic_messages;
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::Client;
use crate::gateway::{Gateway, RequestCtx};

impl Gateway {
    pub(crate) async fn messages(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        self.chat_turn(session, ctx, |body| {
            let (conversation, model) = anthropic_messages::read_request(body)?;
            Ok((conversation, model, Client::Anthropic))
        })
        .await
    }

    /// The prompt as the model's tokenizer counts it (an estimate for Claude, whose tokenizer
    /// is not public); nothing reaches Argo.
    pub(crate) async fn count_message_tokens(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let read = anthropic_messages::read_count_tokens_request;
        let tokens = self.count_prompt_tokens(session, ctx, read).await?;
        let body = anthropic_messages::count_tokens_json(tokens);
        self.reply(session, ctx, 200, body).await
    }
}
