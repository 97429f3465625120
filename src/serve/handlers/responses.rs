//! OpenAI's Responses API, `POST /v1/responses` (Codex CLI). A GPT model on the native API
//! goes to Argo's own `/v1/responses` with least rewriting ([`responses_passthrough`]); Claude,
//! Gemini and the models of the resource API go through the hub. Stateless either way: the
//! client sends the whole conversation each turn (`store: false`).

use std::sync::Arc;

use argo_filters::client::openai_responses;
use argo_filters::hub::Conversation;
use argo_filters::models::{ModelTable, UpstreamApi};
use argo_filters::openai::ResponseMeta;
use argo_filters::tools::namespaces::Namespaces;
use argo_filters::upstream::responses_passthrough::{self, ClientRequest};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::{Client, Turn};
use crate::serve::gateway::{count_usage, response_meta, Gateway, RequestCtx, Resolved};
use crate::upstream::{Api, Call};

/// `/v1/responses`. The client's body and its parse are gone once Argo's request is made
/// (a large one is read on the pool for large work).
pub async fn create(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, read, size) = gateway.accept_read(session, ctx, read_responses).await?;
    let ReadResponses { model, meta, route } = read;
    let (argo_body, stream, namespaces) = match route {
        Route::Hub(conversation, custom_tools) => {
            let turn = Turn {
                model,
                conversation: *conversation,
                client: Client::Responses(custom_tools),
                meta,
                size,
            };
            return gateway.converse(session, ctx, &user, turn).await;
        }
        Route::PassThrough {
            argo_body,
            stream,
            namespaces,
        } => (argo_body, stream, namespaces),
    };
    let call = Call::new(Api::Responses { stream }, &user);
    if stream {
        let translator = responses_passthrough::stream(&meta, namespaces);
        return gateway
            .relay(session, ctx, &model.env, call, argo_body, translator)
            .await;
    }
    let answer = gateway
        .call(session, ctx, &model.env, call, argo_body)
        .await?;
    let size = answer.len();
    let relay = move |_: &str| responses_passthrough::relay_answer(&answer, &meta, &namespaces);
    let (json, usage) = gateway.offload(session, &user, size, relay).await??;
    if let Some(usage) = usage {
        count_usage(&model.name, usage.input_tokens, usage.output_tokens);
    }
    gateway.reply(session, ctx, 200, json).await
}

/// A Responses body read for the model it names.
struct ReadResponses {
    model: Resolved,
    meta: ResponseMeta,
    route: Route,
}

enum Route {
    /// Through the hub, with the request's custom tools.
    Hub(Box<Conversation>, openai_responses::ClientTools),
    /// Argo's request is the client's body, rewritten; the way back to the namespaced tools
    /// the client declared, which the model was offered flat.
    PassThrough {
        argo_body: Vec<u8>,
        stream: bool,
        namespaces: Namespaces,
    },
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
    let route = if model.api() == UpstreamApi::Native && client.passes_through(&model) {
        let (argo_body, namespaces) = client.request_body(&model, user)?;
        Route::PassThrough {
            argo_body,
            stream: client.stream(),
            namespaces,
        }
    } else {
        let (conversation, _, custom_tools) = openai_responses::read_request(body)?;
        Route::Hub(Box::new(conversation), custom_tools)
    };
    Ok(ReadResponses { model, meta, route })
}
