//! Anthropic's Messages API (Claude Code, Kilo Code, the `anthropic` SDKs): `POST /v1/messages`
//! and `/v1/messages/count_tokens`. A Claude model on Argo's native upstream gets the client's
//! body with least rewriting ([`messages_passthrough`]), and its count from Argo's own
//! count_tokens; GPT and Gemini models behind it, and Claude on the resource API, are
//! translated through the hub and counted by the gateway.

use std::sync::Arc;
use std::time::Instant;

use argo_filters::client::anthropic_messages;
use argo_filters::error::ErrorCode;
use argo_filters::hub::Conversation;
use argo_filters::models::ModelTable;
use argo_filters::notice;
use argo_filters::openai::ResponseMeta;
use argo_filters::upstream::messages_passthrough::{self, ClientRequest};
use argo_filters::upstream::plan::{self, Plan};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::Client;
use super::pass_through::Planned;
use crate::serve::gateway::{response_meta, Gateway, RequestCtx, Resolved};
use crate::serve::streaming;
use crate::upstream::{Api, Call};

/// `/v1/messages`: passed through to Argo's `/v1/messages` or through the hub, as the model's
/// row says ([`plan::messages`]). The client's body and its parse are gone once Argo's request
/// is made (a large one is read on the pool for large work).
pub async fn messages(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, read, size) = gateway.accept_read(session, ctx, read_messages).await?;
    let ReadMessages { model, meta, plan } = read;
    let planned = Planned {
        model,
        meta,
        size,
        plan,
    };
    let hub = |conversation: Box<Conversation>| (*conversation, Client::Anthropic);
    gateway.follow(session, ctx, &user, planned, hub).await
}

/// `/v1/messages/count_tokens`. Claude on Argo's native upstream is counted by Argo's own
/// count_tokens, and by the gateway's estimate only when Argo cannot answer (see
/// [`CountFailure`]); every other model by its tokenizer here (an estimate for Gemini).
pub async fn count_tokens(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, read, _) = gateway.accept_read(session, ctx, read_count).await?;
    let (model, count) = read;
    let (argo_body, estimate) = match count {
        Count::Here(tokens) => {
            let body = anthropic_messages::count_tokens_json(tokens);
            return gateway.reply(session, ctx, 200, body).await;
        }
        Count::AtArgo {
            argo_body,
            estimate,
        } => (argo_body, estimate),
    };
    let call = Call::new(Api::AnthropicCountTokens, &user);
    let started = Instant::now();
    let counted = gateway.count_at_argo(&model.env, call, &argo_body);
    let counted = streaming::unless_client_leaves(session, Box::pin(counted)).await?;
    ctx.timing.add_upstream(started.elapsed());
    match counted {
        Ok(answer) => gateway.reply(session, ctx, 200, answer).await,
        Err(CountFailure::Refused(error)) => Err(error),
        Err(CountFailure::Unavailable(error)) => {
            let Some(tokens) = estimate else {
                return Err(error);
            };
            let cause = error.cause.as_deref().unwrap_or(&error.message);
            log::warn!(
                "request {}: Argo's count_tokens failed, answering the gateway's estimate: {cause}",
                ctx.request_id
            );
            let body = anthropic_messages::count_tokens_json(tokens);
            gateway.reply(session, ctx, 200, body).await
        }
    }
}

impl Gateway {
    /// One call to Argo's count_tokens: its answer, `{"input_tokens": N}`, as Argo wrote it.
    async fn count_at_argo(
        &self,
        model_env: &str,
        call: Call<'_>,
        body: &[u8],
    ) -> Result<Result<Vec<u8>, CountFailure>, ApiError> {
        let upstream = &self.state.upstream;
        let settings = &self.state.settings.upstream;
        let env = settings.env_for(call.api, model_env);
        let deadline = Instant::now() + settings.total_timeout();
        let mut exchange = match upstream.send(env, &call, body, Some(deadline)).await {
            Ok(exchange) => exchange,
            Err(error) => return Ok(Err(CountFailure::of_connection(error))),
        };
        let status = exchange.status();
        if !exchange.is_success() {
            let error = upstream.reject_for(exchange, call.user).await;
            return Ok(Err(CountFailure::of_status(status, error)));
        }
        let answer = exchange.read_to_end_for(upstream, call.user).await;
        upstream.release(exchange);
        let answer = answer?;
        if notice::is_notice(&answer) {
            return Ok(Err(CountFailure::Refused(notice::unregistered_user())));
        }
        if !anthropic_messages::is_count_tokens_json(&answer) {
            return Ok(Err(CountFailure::Refused(ApiError::invalid_answer(
                "Argo returned a token count that is not `{\"input_tokens\": N}`",
            ))));
        }
        Ok(Ok(answer.to_vec()))
    }
}

/// Why Argo's count_tokens gave no count.
enum CountFailure {
    /// Argo cannot count now: it could not be reached (a connect error or timeout), it failed
    /// (HTTP 5xx), or it does not serve the route (HTTP 404). The gateway's estimate answers.
    Unavailable(ApiError),
    /// Argo refused the request (a 4xx but 404: the request, the user or the rate) or answered
    /// something that is no count: the client gets the error.
    Refused(ApiError),
}

impl CountFailure {
    fn of_connection(error: ApiError) -> Self {
        let connect = matches!(
            error.code,
            Some(
                ErrorCode::UpstreamUnreachable
                    | ErrorCode::UpstreamConnectTimeout
                    | ErrorCode::UpstreamTlsError
            )
        );
        match connect {
            true => CountFailure::Unavailable(error),
            false => CountFailure::Refused(error),
        }
    }

    fn of_status(status: u16, error: ApiError) -> Self {
        match status {
            404 | 500..=599 => CountFailure::Unavailable(error),
            _ => CountFailure::Refused(error),
        }
    }
}

/// A Messages body read for the model it names.
struct ReadMessages {
    model: Resolved,
    meta: ResponseMeta,
    plan: Plan<Box<Conversation>>,
}

/// Reads a Messages body: Argo's request for the pass-through, or the conversation for the
/// hub; with the model it names as soon as that resolved, even if the rest failed (it labels
/// the request's metrics).
fn read_messages(
    body: &[u8],
    table: Arc<ModelTable>,
    user: &str,
) -> (Option<Resolved>, Result<ReadMessages, ApiError>) {
    let client = match messages_passthrough::read_request(body) {
        Ok(client) => client,
        Err(error) => return (None, Err(error)),
    };
    match Resolved::locate(table, client.model()) {
        Ok(model) => (Some(model.clone()), read_for(client, model, user)),
        Err(error) => (None, Err(error)),
    }
}

fn read_for(
    client: ClientRequest<'_>,
    model: Resolved,
    user: &str,
) -> Result<ReadMessages, ApiError> {
    model.require_chat()?;
    let meta = response_meta("msg", client.model());
    let plan = plan::messages(client, &model, user)?;
    Ok(ReadMessages { model, meta, plan })
}

/// How a count_tokens request is counted.
enum Count {
    /// By the model's tokenizer, here.
    Here(u64),
    /// By Argo; `estimate` answers if Argo cannot (`None` when the gateway cannot read the
    /// request, a PDF say: then Argo's failure is the client's error).
    AtArgo {
        argo_body: Vec<u8>,
        estimate: Option<u64>,
    },
}

fn read_count(
    body: &[u8],
    table: Arc<ModelTable>,
    user: &str,
) -> (Option<Resolved>, Result<(Resolved, Count), ApiError>) {
    let client = match messages_passthrough::read_count_tokens_request(body) {
        Ok(client) => client,
        Err(error) => return (None, Err(error)),
    };
    let model = match Resolved::locate(table, client.model()) {
        Ok(model) => model,
        Err(error) => return (None, Err(error)),
    };
    let count = count_for(&client, &model, user);
    (Some(model.clone()), count.map(|count| (model, count)))
}

fn count_for(client: &ClientRequest<'_>, model: &Resolved, user: &str) -> Result<Count, ApiError> {
    let estimate = |client: &ClientRequest<'_>| {
        client
            .count_tokens_conversation()
            .map(|conversation| conversation.prompt_tokens(model.tokenizer()))
    };
    if !plan::counts_at_argo(model) {
        return estimate(client).map(Count::Here);
    }
    Ok(Count::AtArgo {
        argo_body: client.count_tokens_body(model, user)?,
        estimate: estimate(client).ok(),
    })
}
