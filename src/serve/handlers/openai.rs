//! OpenAI's `/v1/chat/completions` and `/v1/completions`.

use std::sync::Arc;

use argo_filters::error::ErrorCode;
use argo_filters::hub::Conversation;
use argo_filters::models::ModelTable;
use argo_filters::openai::{CompletionRequest, ResponseMeta, StreamOptions};
use argo_filters::upstream::passthrough::{self, ClientRequest};
use argo_filters::upstream::plan::{self, Exchange, Plan, Reading};
use argo_filters::upstream::resource::completions;
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::{Client, Turn};
use super::pass_through::Planned;
use crate::serve::gateway::{response_meta, Gateway, RequestCtx, Resolved};
use crate::upstream::Call;

/// `/v1/chat/completions`: passed through to Argo's native OpenAI endpoint or through the hub,
/// as the model's row says ([`plan::chat`]). The client's body and its parse are gone once
/// Argo's request is made (a large one is read on the pool for large work).
pub async fn chat(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, read, size) = gateway.accept_read(session, ctx, read_chat).await?;
    let ReadChat {
        model,
        meta,
        include_usage,
        plan,
    } = read;
    let planned = Planned {
        model,
        meta,
        size,
        plan,
    };
    let hub =
        |conversation: Box<Conversation>| (*conversation, Client::OpenAiChat { include_usage });
    gateway.follow(session, ctx, &user, planned, hub).await
}

/// `/v1/completions`: one conversation per prompt, each planned for the model's upstream as a
/// chat is ([`plan::conversation`]), so a row on the native API gets Argo's native endpoints.
/// Work that grows with a large request (the conversations, Argo's requests, the counts of the
/// prompts) runs on the pool for large work; a stream keeps nothing of the request.
pub async fn completions(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, request, size): (String, CompletionRequest, usize) =
        gateway.accept(session, ctx).await?;
    let model = gateway.resolve(ctx, &request.model)?;
    model.require_chat()?;
    let prompts = completions::prompts(&request)?.len();
    let most = gateway.state.settings.limits.max_prompts_per_request;
    if prompts > most {
        return Err(ApiError::invalid(
            "prompt",
            format!("Send at most {most} prompts in one request (each is one call to Argo)"),
        )
        .with_code(ErrorCode::TooManyPrompts));
    }
    let meta = response_meta("cmpl", &request.model);
    if request.stream == Some(true) {
        let include_usage = wants_usage(&request.stream_options);
        let read = move |_: &str| {
            completions::prompts(&request)
                .map(|prompts| completions::conversation(&request, prompts[0]))
        };
        let conversation = gateway.offload(session, &user, size, read).await??;
        let turn = Turn {
            model,
            conversation,
            client: Client::Completion { include_usage },
            meta,
            size,
        };
        return gateway.converse(session, ctx, &user, turn).await;
    }
    // The admission paid for the first call; every further one is paid before any is made.
    let further_calls = u32::try_from(prompts.saturating_sub(1)).unwrap_or(u32::MAX);
    gateway.state.limits.charge(&user, further_calls).await?;
    let max_tool_block = gateway.state.settings.limits.max_tool_block_bytes;
    let (resolved, id) = (model.clone(), meta.id.clone());
    let prepare = move |user: &str| {
        let exchanges = argo_completions(&request, &resolved, user, &id, max_tool_block);
        (request, exchanges)
    };
    let (request, exchanges) = gateway.offload(session, &user, size, prepare).await?;
    let mut answers = Vec::with_capacity(prompts);
    for exchange in exchanges? {
        let Reading::Whole(read) = exchange.reading else {
            return Err(ApiError::internal(
                "an unstreamed completion was planned as a stream",
            ));
        };
        let call = Call::new(exchange.target.into(), &user);
        let body = gateway
            .call(session, ctx, &model.env, call, exchange.body)
            .await?;
        answers.push(read(&body)?);
    }
    let tokenizer = model.tokenizer();
    let write = move |_: &str| {
        let prompts = completions::prompts(&request)?;
        Ok::<_, ApiError>(completions::completion_json(
            &request, &prompts, &answers, &meta, tokenizer,
        ))
    };
    let json = gateway.offload(session, &user, size, write).await??;
    gateway.reply(session, ctx, 200, json).await
}

/// Argo's calls, one per prompt.
fn argo_completions(
    request: &CompletionRequest,
    model: &Resolved,
    user: &str,
    response_id: &str,
    max_tool_block: usize,
) -> Result<Vec<Exchange>, ApiError> {
    completions::prompts(request)?
        .into_iter()
        .map(|prompt| {
            let conversation = completions::conversation(request, prompt);
            plan::conversation(&conversation, model, user, response_id, max_tool_block)
        })
        .collect()
}

fn wants_usage(options: &Option<StreamOptions>) -> bool {
    options.as_ref().and_then(|options| options.include_usage) == Some(true)
}

/// A chat body read for the model it names.
struct ReadChat {
    model: Resolved,
    meta: ResponseMeta,
    include_usage: bool,
    plan: Plan<Box<Conversation>>,
}

/// Reads a chat body: Argo's request for the pass-through, or the conversation for the hub;
/// with the model it names as soon as that resolved, even if the rest failed (it labels the
/// request's metrics).
fn read_chat(
    body: &[u8],
    table: Arc<ModelTable>,
    user: &str,
) -> (Option<Resolved>, Result<ReadChat, ApiError>) {
    let client = match passthrough::read_request(body) {
        Ok(client) => client,
        Err(error) => return (None, Err(error)),
    };
    match Resolved::locate(table, client.model()) {
        Ok(model) => (Some(model.clone()), read_for(client, model, user)),
        Err(error) => (None, Err(error)),
    }
}

fn read_for(client: ClientRequest<'_>, model: Resolved, user: &str) -> Result<ReadChat, ApiError> {
    model.require_chat()?;
    let meta = response_meta("chatcmpl", client.model());
    let include_usage = client.include_usage();
    let plan = plan::chat(client, &model, user)?;
    Ok(ReadChat {
        model,
        meta,
        include_usage,
        plan,
    })
}
