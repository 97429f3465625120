//! OpenAI's Responses API, `POST /v1/responses` (Codex CLI). Stateless: the client sends the
//! whole conversation each turn (`store: false`).

use argo_filters::client::openai_responses;
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::Client;
use crate::gateway::{Gateway, RequestCtx};

impl Gateway {
    pub(crate) async fn responses(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        self.chat_turn(session, ctx, |body| {
            let (conversation, model, custom_tools) = openai_responses::read_request(body)?;
            Ok((conversation, model, Client::Responses(custom_tools)))
        })
        .await
    }
}
