//! A request passed through to the Argo endpoint of its client's dialect
//! ([`argo_filters::upstream::plan::PassThrough`]): OpenAI chat, Anthropic Messages and OpenAI
//! Responses on Argo's own endpoints of the same name; and [`Gateway::follow`], which takes a
//! request where its plan says: passed through, or through the hub.

use argo_filters::hub::Conversation;
use argo_filters::openai::ResponseMeta;
use argo_filters::upstream::plan::{PassThrough, Plan};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::{Client, Turn};
use crate::serve::gateway::{count_usage, Gateway, RequestCtx, Resolved};
use crate::upstream::Call;

/// A client's request as read and planned for its model's row.
pub(crate) struct Planned<H> {
    pub model: Resolved,
    pub meta: ResponseMeta,
    /// The body's size, what the hub's work on it is weighed by.
    pub size: usize,
    pub plan: Plan<H>,
}

impl Gateway {
    /// Answers a planned request: passed through, or through the hub as the conversation and
    /// client format `hub` makes of the plan's hub part.
    pub(crate) async fn follow<H>(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        planned: Planned<H>,
        hub: impl FnOnce(H) -> (Conversation, Client),
    ) -> Result<(), ApiError> {
        let Planned {
            model,
            meta,
            size,
            plan,
        } = planned;
        match plan {
            Plan::Hub(read) => {
                let (conversation, client) = hub(read);
                let turn = Turn {
                    model,
                    conversation,
                    client,
                    meta,
                    size,
                };
                self.converse(session, ctx, user, turn).await
            }
            Plan::PassThrough(plan) => {
                self.pass_through(session, ctx, user, &model, meta, plan)
                    .await
            }
        }
    }

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
