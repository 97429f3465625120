//! OpenAI's `/v1/chat/completions` and `/v1/completions`.

use argo_filters::argo::Endpoint;
use argo_filters::completions;
use argo_filters::error::ErrorCode;
use argo_filters::models::{Family, UpstreamApi};
use argo_filters::openai::{CompletionRequest, StreamOptions};
use argo_filters::stream::{SseEncoder, StreamKind};
use argo_filters::translate::StreamTranslation;
use argo_filters::upstream::passthrough;
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::ApiError;
use pingora_proxy::Session;

use super::conversation::{Client, Turn};
use crate::gateway::{count_tokens, resource_call, response_meta, Gateway, RequestCtx};
use crate::upstream::{Api, Call};

impl Gateway {
    /// `/v1/chat/completions`. A model on Argo's native OpenAI endpoint gets the client's body
    /// with least rewriting ([`passthrough`]); the rest goes through the hub.
    pub(crate) async fn chat_completions(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let client = passthrough::read_request(&body)?;
        let model = self.resolve(ctx, client.model())?;
        model.require_chat()?;
        let meta = response_meta("chatcmpl", client.model());
        let include_usage = client.include_usage();
        if model.api() == UpstreamApi::Resource || model.family == Family::Anthropic {
            let conversation = client.into_conversation()?;
            drop(reservation);
            let turn = Turn {
                user: &user,
                model,
                conversation,
                client: Client::OpenAiChat { include_usage },
                meta,
            };
            return self.converse(session, ctx, turn).await;
        }
        let argo_body = client.request_body(&model, &user)?;
        let stream = client.stream();
        drop(reservation);
        let call = Call::new(Api::OpenAiChat { stream }, &user);
        if stream {
            let translator = passthrough::stream(&meta, include_usage);
            return self
                .relay(session, ctx, &model.env, call, argo_body, translator)
                .await;
        }
        let answer = self.call(session, ctx, &model.env, call, argo_body).await?;
        let (json, usage) = passthrough::relay_answer(&answer, &meta)?;
        if let Some(usage) = usage {
            count_tokens(&model.name, usage.input_tokens, usage.output_tokens);
        }
        self.reply(session, ctx, 200, json).await
    }

    /// `/v1/completions`, over the resource endpoints: one Argo call per prompt.
    pub(crate) async fn completions(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let (user, request): (String, CompletionRequest) = self.accept(session, ctx).await?;
        let model = &*self.resolve(ctx, &request.model)?;
        model.require_chat()?;
        let prompts = completions::prompts(&request)?;
        let most = self.state.settings.limits.max_prompts_per_request;
        if prompts.len() > most {
            return Err(ApiError::invalid(
                "prompt",
                format!("Send at most {most} prompts in one request (each is one call to Argo)"),
            )
            .with_code(ErrorCode::TooManyPrompts));
        }
        if request.stream == Some(true) {
            let argo_body =
                completions::to_argo(&request, prompts[0], model, &user, Endpoint::StreamChat)?;
            let meta = response_meta("cmpl", &request.model);
            let encoder = SseEncoder::new(
                StreamKind::Completion,
                &meta,
                wants_usage(&request.stream_options),
            );
            let prompt_tokens = model.tokenizer().count(prompts[0]);
            let env = model.env.clone();
            return self
                .relay(
                    session,
                    ctx,
                    &env,
                    resource_call(Endpoint::StreamChat, &user),
                    argo_body,
                    StreamTranslation::new(TextDecoder::new(), encoder)
                        .counting(move || prompt_tokens, model.tokenizer()),
                )
                .await;
        }
        let meta = response_meta("cmpl", &request.model);
        // The admission paid for the first call; every further one is paid before any is made.
        let further_calls = u32::try_from(prompts.len().saturating_sub(1)).unwrap_or(u32::MAX);
        self.state.limits.charge(&user, further_calls).await?;
        let mut answers = Vec::with_capacity(prompts.len());
        for prompt in &prompts {
            let argo_body = completions::to_argo(&request, prompt, model, &user, Endpoint::Chat)?;
            let body = self
                .call(
                    session,
                    ctx,
                    &model.env,
                    resource_call(Endpoint::Chat, &user),
                    argo_body,
                )
                .await?;
            answers.push(resource::read_answer(&body, &ToolReplies::None, &meta.id)?);
        }
        let json =
            completions::completion_json(&request, &prompts, &answers, &meta, model.tokenizer());
        self.reply(session, ctx, 200, json).await
    }
}

fn wants_usage(options: &Option<StreamOptions>) -> bool {
    options.as_ref().and_then(|options| options.include_usage) == Some(true)
}
