//! OpenAI's `/v1/chat/completions` and `/v1/completions`.

use std::sync::Arc;

use argo_filters::error::ErrorCode;
use argo_filters::hub::Conversation;
use argo_filters::models::{Family, ModelTable, UpstreamApi};
use argo_filters::openai::{CompletionRequest, ResponseMeta, StreamOptions};
use argo_filters::stream::{SseEncoder, StreamKind};
use argo_filters::translate::StreamTranslation;
use argo_filters::upstream::passthrough::{self, ClientRequest};
use argo_filters::upstream::resource::completions;
use argo_filters::upstream::resource::Endpoint;
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::{Client, Turn};
use crate::serve::gateway::{
    count_usage, resource_call, response_meta, Gateway, RequestCtx, Resolved,
};
use crate::upstream::{Api, Call};

/// `/v1/chat/completions`. A model on Argo's native OpenAI endpoint gets the client's body
/// with least rewriting ([`passthrough`]); the rest goes through the hub. The client's
/// body and its parse are gone once Argo's request is made (a large one is read on the
/// pool for large work).
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
        route,
    } = read;
    let (argo_body, stream) = match route {
        Route::Hub(conversation) => {
            let turn = Turn {
                model,
                conversation: *conversation,
                client: Client::OpenAiChat { include_usage },
                meta,
                size,
            };
            return gateway.converse(session, ctx, &user, turn).await;
        }
        Route::PassThrough { argo_body, stream } => (argo_body, stream),
    };
    let call = Call::new(Api::OpenAiChat { stream }, &user);
    if stream {
        let translator = passthrough::stream(&meta, include_usage);
        return gateway
            .relay(session, ctx, &model.env, call, argo_body, translator)
            .await;
    }
    let answer = gateway
        .call(session, ctx, &model.env, call, argo_body)
        .await?;
    let size = answer.len();
    let relay = move |_: &str| passthrough::relay_answer(&answer, &meta);
    let (json, usage) = gateway.offload(session, &user, size, relay).await??;
    if let Some(usage) = usage {
        count_usage(&model.name, usage.input_tokens, usage.output_tokens);
    }
    gateway.reply(session, ctx, 200, json).await
}

/// `/v1/completions`, over the resource endpoints: one Argo call per prompt. Work that
/// grows with a large request (Argo's requests, the counts of the prompts) runs on the
/// pool for large work; a stream keeps nothing of the request.
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
    if request.stream == Some(true) {
        let env = model.env.clone();
        let prepare = move |user: &str| stream_completion(&request, &model, user);
        let (argo_body, translator) = gateway.offload(session, &user, size, prepare).await??;
        let call = resource_call(Endpoint::StreamChat, &user);
        return gateway
            .relay(session, ctx, &env, call, argo_body, translator)
            .await;
    }
    // The admission paid for the first call; every further one is paid before any is made.
    let further_calls = u32::try_from(prompts.saturating_sub(1)).unwrap_or(u32::MAX);
    gateway.state.limits.charge(&user, further_calls).await?;
    let (resolved, meta) = (model.clone(), response_meta("cmpl", &request.model));
    let prepare = move |user: &str| {
        let bodies = argo_completions(&request, &resolved, user);
        (request, bodies)
    };
    let (request, bodies) = gateway.offload(session, &user, size, prepare).await?;
    let mut answers = Vec::with_capacity(prompts);
    for argo_body in bodies? {
        let call = resource_call(Endpoint::Chat, &user);
        let body = gateway
            .call(session, ctx, &model.env, call, argo_body)
            .await?;
        answers.push(resource::read_answer(&body, &ToolReplies::None, &meta.id)?);
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

/// Argo's request for a streamed completion of the first prompt, and its translation (the
/// prompt counted now, as the request is not kept).
fn stream_completion(
    request: &CompletionRequest,
    model: &Resolved,
    user: &str,
) -> Result<(Vec<u8>, StreamTranslation), ApiError> {
    let prompt = completions::prompts(request)?[0];
    let argo_body = completions::to_argo(request, prompt, model, user, Endpoint::StreamChat)?;
    let meta = response_meta("cmpl", &request.model);
    let encoder = SseEncoder::new(
        StreamKind::Completion,
        &meta,
        wants_usage(&request.stream_options),
    );
    let prompt_tokens = model.tokenizer().count(prompt);
    let translator = StreamTranslation::new(TextDecoder::new(), encoder)
        .counting(move || prompt_tokens, model.tokenizer());
    Ok((argo_body, translator))
}

/// Argo's requests, one per prompt.
fn argo_completions(
    request: &CompletionRequest,
    model: &Resolved,
    user: &str,
) -> Result<Vec<Vec<u8>>, ApiError> {
    completions::prompts(request)?
        .into_iter()
        .map(|prompt| completions::to_argo(request, prompt, model, user, Endpoint::Chat))
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
    route: Route,
}

enum Route {
    /// Through the hub: Claude, the models of the resource API, and Gemini with parallel tool
    /// calls in its history (sent one at a time).
    Hub(Box<Conversation>),
    /// Argo's request is the client's body, rewritten.
    PassThrough { argo_body: Vec<u8>, stream: bool },
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
    let hub = model.api() == UpstreamApi::Resource
        || model.family == Family::Anthropic
        || (model.family == Family::Google && client.has_parallel_tool_calls());
    let route = if hub {
        Route::Hub(Box::new(client.into_conversation()?))
    } else {
        Route::PassThrough {
            argo_body: client.request_body(&model, user)?,
            stream: client.stream(),
        }
    };
    Ok(ReadChat {
        model,
        meta,
        include_usage,
        route,
    })
}
