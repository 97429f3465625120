//! OpenAI's Responses API, `POST /v1/responses` (Codex CLI). A GPT model on the native API
//! goes to Argo's own `/v1/responses` with least rewriting ([`responses_passthrough`]); Claude,
//! Gemini and the models of the resource API go through the hub. Stateless either way: the
//! client sends the whole conversation each turn (`store: false`).

use std::sync::Arc;

use argo_filters::client::openai_responses::ClientTools;
use argo_filters::hub::Conversation;
use argo_filters::models::ModelTable;
use argo_filters::openai::ResponseMeta;
use argo_filters::upstream::plan::{self, Plan};
use argo_filters::upstream::responses_passthrough::{self, ClientRequest};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::Client;
use super::pass_through::Planned;
use crate::serve::gateway::{response_meta, Gateway, RequestCtx, Resolved};

/// `/v1/responses`: passed through to Argo's `/v1/responses` or through the hub, as the model's
/// row says ([`plan::responses`]). The client's body and its parse are gone once Argo's request
/// is made (a large one is read on the pool for large work).
pub async fn create(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, read, size) = gateway.accept_read(session, ctx, read_responses).await?;
    let ReadResponses { model, meta, plan } = read;
    let planned = Planned {
        model,
        meta,
        size,
        plan,
    };
    let hub = |(conversation, custom_tools): (Box<Conversation>, ClientTools)| {
        (*conversation, Client::Responses(custom_tools))
    };
    gateway.follow(session, ctx, &user, planned, hub).await
}

/// A Responses body read for the model it names.
struct ReadResponses {
    model: Resolved,
    meta: ResponseMeta,
    /// Through the hub with the request's custom tools, or passed through.
    plan: Plan<(Box<Conversation>, ClientTools)>,
}

/// Reads a Responses body: Argo's request for the pass-through, or the conversation for the
/// hub; with the model it names as soon as that resolved, even if the rest failed (it labels
/// the request's metrics).
fn read_responses(
    body: &[u8],
    table: Arc<ModelTable>,
    user: &str,
) -> (Option<Resolved>, Result<ReadResponses, ApiError>) {
    let client = match responses_passthrough::read_request(body) {
        Ok(client) => client,
        Err(error) => return (None, Err(error)),
    };
    match Resolved::locate(table, client.model()) {
        Ok(model) => (Some(model.clone()), read_for(body, client, model, user)),
        Err(error) => (None, Err(error)),
    }
}

fn read_for(
    body: &[u8],
    client: ClientRequest<'_>,
    model: Resolved,
    user: &str,
) -> Result<ReadResponses, ApiError> {
    model.require_chat()?;
    let meta = response_meta("resp", client.model());
    let plan = plan::responses(body, client, &model, user)?;
    Ok(ReadResponses { model, meta, plan })
}
