//! A request passed through to the Argo endpoint of its client's dialect
//! ([`argo_filters::upstream::plan::PassThrough`]): OpenAI chat, Anthropic Messages and OpenAI
//! Responses on Argo's own endpoints of the same name.

use argo_filters::openai::ResponseMeta;
use argo_filters::upstream::plan::PassThrough;
use argo_filters::ApiError;
use pingora_proxy::Session;

use crate::serve::gateway::{count_usage, Gateway, RequestCtx, Resolved};
use crate::upstream::Call;

impl Gateway {
    /// Sends the client's rewritten body and answers the client: Argo's stream relayed as it
    /// arrives, or its whole answer (a stream collected, for Messages) rewritten and counted.
    pub(crate) async fn pass_through(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        model: &Resolved,
        meta: ResponseMeta,
        plan: PassThrough,
    ) -> Result<(), ApiError> {
        let PassThrough {
            target,
            body,
            relay,
        } = plan;
        let call = Call::new(target.into(), user);
        if relay.streams() {
            let translator = relay.stream(&meta);
            return self
                .relay(session, ctx, &model.env, call, body, translator)
                .await;
        }
        let answer = self.call(session, ctx, &model.env, call, body).await?;
        let size = answer.len();
        let write = move |_: &str| relay.answer(&answer, &meta);
        let (json, usage) = self.offload(session, user, size, write).await??;
        if let Some(usage) = usage {
            count_usage(ctx, &model.name, &usage);
        }
        self.reply(session, ctx, 200, json).await
    }
}
