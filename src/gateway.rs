//! The Pingora `ProxyHttp` implementation. Every request is answered in `request_filter`: the
//! body is read whole (any size up to the limit), translated by `argo_filters`, sent to Argo with
//! the pooled connector, and the translated answer written back. One path for every body size.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argo_filters::argo::Endpoint;
use argo_filters::chat::ToolReplies;
use argo_filters::client::openai_chat;
use argo_filters::hub::{self, Conversation};
use argo_filters::json::parse_request;
use argo_filters::models::{Family, ModelSpec, ModelTable, UpstreamApi};
use argo_filters::notice;
use argo_filters::openai::{
    ChatRequest, CompletionRequest, EmbeddingRequest, EncodingFormat, ResponseMeta, StreamOptions,
};
use argo_filters::stream::{synthesize, SseEncoder, StreamKind};
use argo_filters::tools::prompt::ToolScanner;
use argo_filters::translate::{self, StreamTranslation};
use argo_filters::upstream::resource::TextDecoder;
use argo_filters::upstream::{anthropic, openai_native, passthrough};
use argo_filters::usage::Usage;
use argo_filters::{chat, completions, embeddings, ApiError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::try_join_all;
use http::Method;
use pingora_core::modules::http::compression::ResponseCompressionBuilder;
use pingora_core::modules::http::HttpModules;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType};
use pingora_proxy::{ProxyHttp, Session};
use rand::Rng;
use serde::Serialize;

use crate::access_log::AccessRecord;
use crate::admin::{self, METRICS_CONTENT_TYPE};
use crate::auth::Auth;
use crate::budget::{MemoryBudget, Reservation};
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::cors::{self, AllowList};
use crate::drain::OpenRequest;
use crate::front_door;
use crate::http::{read_body, require_json, send_body, send_error, send_json, BodyLimits};
use crate::limits::{Permit, UserLimits};
use crate::metrics;
use crate::readiness::Readiness;
use crate::streaming::{self, Ending};
use crate::timing::{Timing, OVERHEAD_HEADER};
use crate::upstream::{Api, BufferedAnswer, Call, Upstream};

pub struct State {
    pub settings: Settings,
    pub auth: Auth,
    pub upstream: Upstream,
    pub limits: Arc<UserLimits>,
    pub cors: AllowList,
    /// Request bodies held in memory at once, over all connections.
    pub bodies: Arc<MemoryBudget>,
    /// The model table served: the configured one merged with Argo's live lists.
    pub catalog: Arc<Catalog>,
    /// What the readiness probes found.
    pub readiness: Arc<Readiness>,
}

pub struct Gateway {
    state: Arc<State>,
}

impl Gateway {
    pub fn new(state: Arc<State>) -> Self {
        Gateway { state }
    }
}

/// Per-request facts for metrics and the access log. Nothing here identifies the user.
pub struct RequestCtx {
    timing: Timing,
    request_id: String,
    endpoint: &'static str,
    /// The resolved model: its canonical name is the metrics label, so the label set stays
    /// bounded whatever clients send.
    model: Option<Resolved>,
    status: u16,
    /// How a stream ended, for the access log.
    stream_outcome: &'static str,
    _open: OpenRequest,
    /// The user's rate and concurrency slot, released when the request ends.
    _permit: Option<Permit>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            timing: Timing::start(),
            request_id: new_id("req"),
            endpoint: "other",
            model: None,
            status: 0,
            stream_outcome: "-",
            _open: OpenRequest::new(),
            _permit: None,
        }
    }

    fn init_downstream_modules(&self, modules: &mut HttpModules) {
        modules.add_module(ResponseCompressionBuilder::enable(0));
        if !self.state.cors.is_empty() {
            modules.add_module(Box::new(self.state.cors.clone()));
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> pingora_error::Result<()> {
        let limits = &self.state.settings.limits;
        if client_keeps_alive(session.req_header()) {
            session.set_keepalive(Some(limits.keepalive_timeout_s));
        } else {
            session.set_keepalive(None);
        }
        session.set_read_timeout(Some(Duration::from_millis(limits.client_body_timeout_ms)));
        Ok(())
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora_error::Result<bool> {
        metrics::IN_FLIGHT.inc();
        let outcome = self.route(session, ctx).await;
        metrics::IN_FLIGHT.dec();
        if let Err(error) = outcome {
            ctx.status = error.status;
            record_upstream_failure(ctx, &error);
            if session.response_written().is_none() {
                let overhead = [(OVERHEAD_HEADER, ctx.timing.response_head())];
                send_error(session, &error, &ctx.request_id, &overhead).await;
            }
        }
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> pingora_error::Result<Box<HttpPeer>> {
        Error::e_explain(
            ErrorType::InternalError,
            "argo-bridge answers every request in request_filter",
        )
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|header| header.status.as_u16())
            .unwrap_or(ctx.status);
        let record = AccessRecord {
            request_id: &ctx.request_id,
            method: method_label(&session.req_header().method),
            endpoint: ctx.endpoint,
            model: self.model_label(ctx),
            status,
            stream: ctx.stream_outcome,
            duration: ctx.timing.elapsed(),
            upstream: ctx.timing.upstream(),
            overhead: ctx.timing.overhead(),
        };
        record.log();
        metrics::observe(&record);
    }
}

impl Gateway {
    async fn route(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let method = session.req_header().method.clone();
        let full_path = session.req_header().uri.path().to_string();
        // Clients are configured with base URLs both with and without `/v1`.
        let path = full_path
            .strip_prefix("/v1")
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(&full_path);
        ctx.endpoint = endpoint_label(path);
        if method == Method::OPTIONS && ctx.endpoint != "other" {
            return self.preflight(session, ctx).await;
        }
        let allowed = match ctx.endpoint {
            "chat" | "completions" | "embeddings" => Method::POST,
            "other" => {
                return Err(ApiError::not_found(format!(
                    "Unknown path {}",
                    argo_filters::error::truncate_for_message(&full_path)
                )))
            }
            _ => Method::GET,
        };
        if method != allowed && !(allowed == Method::GET && method == Method::HEAD) {
            return Err(ApiError::method_not_allowed(
                method_label(&method),
                &full_path,
            ));
        }
        match ctx.endpoint {
            "health" => {
                self.reply(session, ctx, 200, br#"{"status":"ok"}"#.to_vec())
                    .await
            }
            "ready" => self.ready(session, ctx).await,
            "metrics" => self.metrics(session, ctx).await,
            "models" => {
                self.authenticate(session)?;
                let id = path.strip_prefix("/models/").map(percent_decode);
                self.models(session, ctx, id.as_deref()).await
            }
            "chat" => self.chat(session, ctx).await,
            "completions" => self.completions(session, ctx).await,
            _ => self.embeddings(session, ctx).await,
        }
    }

    async fn reply(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), ApiError> {
        ctx.status = status;
        let overhead = [(OVERHEAD_HEADER, ctx.timing.response_head())];
        send_json(session, status, body, &ctx.request_id, &overhead).await;
        Ok(())
    }

    /// A CORS preflight: allowed origins get the methods and headers they may use.
    async fn preflight(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let header = |name: &str| {
            session
                .req_header()
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let allowed = header("origin").is_some_and(|origin| self.state.cors.allows(&origin));
        if !allowed {
            return Err(ApiError::new(
                403,
                "invalid_request_error",
                "This origin may not call the API from a browser",
            )
            .with_code("origin_not_allowed"));
        }
        ctx.status = 204;
        let headers = cors::preflight_headers(header("access-control-request-headers").as_deref());
        send_json(session, 204, Vec::new(), &ctx.request_id, &headers).await;
        Ok(())
    }

    /// The start of every API request: who is asking, within their limits, then a bounded
    /// JSON body parsed into `T`.
    async fn accept<T: serde::de::DeserializeOwned>(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(String, T), ApiError> {
        // The body's reservation ends with this function: once parsed, the raw bytes are gone.
        let (user, body, _reservation) = self.accept_body(session, ctx).await?;
        Ok((user, parse_request(&body)?))
    }

    /// [`Self::accept`], with the body as read and its share of the request-body budget, for
    /// a handler that copies most of it to Argo.
    async fn accept_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(String, Bytes, Reservation), ApiError> {
        let user = self.authenticate(session)?;
        ctx._permit = self.state.limits.admit(&user).await?;
        require_json(session)?;
        let limits = &self.state.settings.limits;
        let body_limits = BodyLimits {
            max_bytes: limits.max_body_bytes,
            total_time: Duration::from_millis(limits.client_body_total_timeout_ms),
            budget: &self.state.bodies,
        };
        let (body, reservation) = read_body(session, &body_limits).await?;
        Ok((user, body, reservation))
    }

    fn authenticate(&self, session: &Session) -> Result<String, ApiError> {
        let header = session
            .req_header()
            .headers
            .get("authorization")
            .map(|value| value.as_bytes());
        let user = self.state.auth.user_for(header)?;
        front_door::authenticated();
        Ok(user)
    }

    /// The model a client's name stands for, in the table served now (configured and live).
    fn resolve(&self, ctx: &mut RequestCtx, requested: &str) -> Result<Resolved, ApiError> {
        let table = self.state.catalog.current();
        let position = table.locate(requested)?;
        let resolved = Resolved { table, position };
        ctx.model = Some(resolved.clone());
        Ok(resolved)
    }

    fn model_label<'a>(&self, ctx: &'a RequestCtx) -> &'a str {
        ctx.model.as_ref().map_or("", |model| model.name.as_str())
    }

    async fn ready(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let answer = self.state.readiness.answer(&self.state.settings);
        self.reply(session, ctx, answer.status, answer.body).await
    }

    async fn metrics(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let authorization = session.req_header().headers.get("authorization");
        let authorization = authorization.map(|value| value.as_bytes());
        admin::metrics_access(&self.state.settings.admin, false, authorization)?;
        ctx.status = 200;
        let overhead = [(OVERHEAD_HEADER, ctx.timing.response_head())];
        let body = metrics::render();
        send_body(
            session,
            200,
            METRICS_CONTENT_TYPE,
            body,
            &ctx.request_id,
            &overhead,
        )
        .await;
        Ok(())
    }

    async fn models(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        id: Option<&str>,
    ) -> Result<(), ApiError> {
        let table = self.state.catalog.current();
        let body = match id {
            Some(id) => {
                let model = table.lookup(id)?;
                serde_json::to_vec(&ModelObject::from(model))
            }
            None => {
                let data: Vec<ModelObject> = table.models().iter().map(ModelObject::from).collect();
                serde_json::to_vec(&serde_json::json!({"object": "list", "data": data}))
            }
        };
        let body = body.map_err(|e| ApiError::internal(format!("could not encode models: {e}")))?;
        self.reply(session, ctx, 200, body).await
    }

    /// `/v1/chat/completions`: the model picks the upstream (its table row or its environment's
    /// default): Argo's native Anthropic endpoint for Claude, its native OpenAI endpoint for the
    /// rest, or the legacy resource endpoints.
    async fn chat(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let client = passthrough::read_request(&body)?;
        let model = self.resolve(ctx, client.model())?;
        chat::require_chat_model(&model)?;
        let meta = response_meta("chatcmpl", client.model());
        match (model.api(), model.family) {
            (UpstreamApi::Native, Family::Anthropic) => {
                let conversation = client.conversation()?;
                let include_usage = client.include_usage();
                let stream = client.stream();
                drop(reservation);
                self.chat_anthropic(
                    session,
                    ctx,
                    &user,
                    &model,
                    conversation,
                    stream,
                    include_usage,
                    meta,
                )
                .await
            }
            (UpstreamApi::Native, _) => {
                let argo_body = client.request_body(&model, &user)?;
                let stream = client.stream();
                let include_usage = client.include_usage();
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
            (UpstreamApi::Resource, _) => {
                let request = client.request().clone();
                drop(reservation);
                self.chat_resource(session, ctx, &user, &model, request, meta)
                    .await
            }
        }
    }

    /// Claude over `/v1/messages`, always streamed upstream: Argo refuses long Claude answers
    /// unless streamed, so a client that wants one answer gets the stream collected.
    #[allow(clippy::too_many_arguments)] // each is a distinct piece of the request's state
    async fn chat_anthropic(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        model: &ModelSpec,
        conversation: Conversation,
        stream: bool,
        include_usage: bool,
        meta: ResponseMeta,
    ) -> Result<(), ApiError> {
        let argo_body = anthropic::request_body(&conversation, model, user, true)?;
        let call = Call::new(Api::AnthropicMessages { stream: true }, user);
        if stream {
            let translator = StreamTranslation::new(
                anthropic::SseDecoder::new(),
                openai_chat::encoder(&meta, include_usage),
            )
            .counting(
                conversation.prompt_tokens(model.tokenizer()),
                model.tokenizer(),
            );
            return self
                .relay(session, ctx, &model.env, call, argo_body, translator)
                .await;
        }
        let events = self.call(session, ctx, &model.env, call, argo_body).await?;
        let answer = translate::collect(anthropic::SseDecoder::new(), [&events[..]])?;
        let usage = answer.usage.unwrap_or_else(|| {
            hub::Usage::new(
                conversation.prompt_tokens(model.tokenizer()),
                answer.completion_tokens(model.tokenizer()),
            )
        });
        count_tokens(&model.name, usage.input_tokens, usage.output_tokens);
        let json = openai_chat::answer_json(&answer, &meta, &usage);
        self.reply(session, ctx, 200, json).await
    }

    /// The legacy resource endpoints: `chat`, or `streamchat` for streams it can carry.
    async fn chat_resource(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        model: &ModelSpec,
        request: ChatRequest,
        meta: ResponseMeta,
    ) -> Result<(), ApiError> {
        let endpoint = chat::argo_endpoint(&request, model)?;
        let argo_body = chat::to_argo(&request, model, user, endpoint)?;
        let prompt_tokens = chat::count_prompt_tokens(&request, model);
        let spec = chat::tool_spec(&request)?;
        let tool_replies = ToolReplies::for_request(spec.as_ref(), model);
        let include_usage = wants_usage(&request.stream_options);
        if endpoint == Endpoint::StreamChat {
            let decoder = match tool_replies {
                ToolReplies::Prompt { names } => TextDecoder::with_tool_scanner(
                    ToolScanner::new(names, &meta.id)
                        .with_max_block_bytes(self.state.settings.limits.max_tool_block_bytes),
                ),
                _ => TextDecoder::new(),
            };
            let translator =
                StreamTranslation::new(decoder, openai_chat::encoder(&meta, include_usage))
                    .counting(prompt_tokens, model.tokenizer());
            let call = resource(Endpoint::StreamChat, user);
            return self
                .relay(session, ctx, &model.env, call, argo_body, translator)
                .await;
        }
        let call = resource(Endpoint::Chat, user);
        let answer = self.call(session, ctx, &model.env, call, argo_body).await?;
        let reply = chat::parse_argo_reply(&answer, &tool_replies, &meta.id)?;
        let usage = Usage::new(prompt_tokens, reply.completion_tokens(model.tokenizer()));
        count_tokens(&model.name, usage.prompt_tokens, usage.completion_tokens);
        if request.stream == Some(true) {
            // Argo's streamchat takes no native tools: such requests, and models it cannot
            // stream, get a stream synthesized from the buffered answer.
            ctx.stream_outcome = "synthesized";
            let encoder = SseEncoder::new(StreamKind::Chat, &meta, include_usage);
            return streaming::send_synthesized(
                session,
                &ctx.request_id,
                &ctx.timing.response_head(),
                synthesize(&encoder, &reply, usage),
            )
            .await;
        }
        let json = chat::completion_json(&reply, &meta, usage);
        self.reply(session, ctx, 200, json).await
    }

    async fn completions(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let (user, request): (String, CompletionRequest) = self.accept(session, ctx).await?;
        let model = &*self.resolve(ctx, &request.model)?;
        chat::require_chat_model(model)?;
        let prompts = completions::prompts(&request)?;
        let most = self.state.settings.limits.max_prompts_per_request;
        if prompts.len() > most {
            return Err(ApiError::invalid(
                "prompt",
                format!("Send at most {most} prompts in one request (each is one call to Argo)"),
            )
            .with_code("too_many_prompts"));
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
                    resource(Endpoint::StreamChat, &user),
                    argo_body,
                    StreamTranslation::new(TextDecoder::new(), encoder)
                        .counting(prompt_tokens, model.tokenizer()),
                )
                .await;
        }
        let meta = response_meta("cmpl", &request.model);
        // The admission paid for the first call; every further one is paid before any is made.
        let further_calls = u32::try_from(prompts.len().saturating_sub(1)).unwrap_or(u32::MAX);
        self.state.limits.charge(&user, further_calls).await?;
        let mut replies = Vec::with_capacity(prompts.len());
        for prompt in &prompts {
            let argo_body = completions::to_argo(&request, prompt, model, &user, Endpoint::Chat)?;
            let answer = self
                .call(
                    session,
                    ctx,
                    &model.env,
                    resource(Endpoint::Chat, &user),
                    argo_body,
                )
                .await?;
            replies.push(chat::parse_argo_reply(
                &answer,
                &ToolReplies::None,
                &meta.id,
            )?);
        }
        let json =
            completions::completion_json(&request, &prompts, &replies, &meta, model.tokenizer());
        self.reply(session, ctx, 200, json).await
    }

    async fn embeddings(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let (user, request): (String, EmbeddingRequest) = self.accept(session, ctx).await?;
        let model = &*self.resolve(ctx, &request.model)?;
        let texts = embeddings::inputs(&request, model)?;
        let batch_size = self.state.settings.upstream.embed_batch_size;
        let native = model.api() == UpstreamApi::Native;
        let bodies = texts
            .chunks(batch_size)
            .map(|batch| match native {
                true => openai_native::embeddings_request(batch, model, &user),
                false => embeddings::to_argo(batch, model, &user),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let call = match native {
            true => Call::new(Api::Embeddings, &user),
            false => resource(Endpoint::Embed, &user),
        };
        let answers = self
            .call_all(session, ctx, &model.env, call, bodies)
            .await?;
        let counted = embeddings::count_input_tokens(texts, model);
        let output = embeddings::Output {
            model: &request.model,
            format: request.encoding_format.unwrap_or(EncodingFormat::Float),
            dimensions: request.dimensions,
            expected_vectors: texts.len(),
            prompt_tokens: counted,
        };
        let answers: Vec<&[u8]> = answers.iter().map(|answer| &answer[..]).collect();
        let (json, prompt_tokens) = match native {
            true => openai_native::read_embeddings(&answers, &output)?,
            false => (embeddings::translate_batches(&answers, &output)?, counted),
        };
        count_tokens(&model.name, prompt_tokens, 0);
        self.reply(session, ctx, 200, json).await
    }

    /// A live stream from Argo's `streamchat` (in the streaming environment, else the model's
    /// `model_env`), translated fragment by fragment.
    async fn relay(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        model_env: &str,
        call: Call<'_>,
        body: Vec<u8>,
        mut translator: StreamTranslation,
    ) -> Result<(), ApiError> {
        let env = self.state.settings.upstream.env_for(call.api, model_env);
        let started = Instant::now();
        let upstream_before = ctx.timing.upstream();
        let model = self.model_label(ctx).to_string();
        let labels = [ctx.endpoint, model.as_str()];
        let ending = streaming::relay(
            &self.state.upstream,
            session,
            &ctx.request_id,
            &mut ctx.timing,
            env,
            &call,
            body,
            &mut translator,
            labels,
        )
        .await;
        // The relay counted Argo's wait for its response head; the whole stream is Argo's time.
        let streamed = started.elapsed();
        ctx.timing
            .add_upstream((upstream_before + streamed).saturating_sub(ctx.timing.upstream()));
        metrics::UPSTREAM_DURATION
            .with_label_values(&labels)
            .observe(streamed.as_secs_f64());
        let usage = translator.usage();
        count_tokens(&model, usage.input_tokens, usage.output_tokens);
        ctx.stream_outcome = match ending {
            Ok(Ending::Complete) => "complete",
            Ok(Ending::ClientGone) => "client_gone",
            Ok(Ending::UpstreamFailed(error)) => {
                record_upstream_failure(ctx, &error);
                "upstream_failed"
            }
            Err(error) => return Err(error),
        };
        Ok(())
    }

    /// One buffered Argo round trip: 2xx bodies are returned, anything else mapped to an error.
    /// A client that leaves meanwhile ends it at once (the Argo connection is dropped).
    async fn call(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        env: &str,
        call: Call<'_>,
        body: Vec<u8>,
    ) -> Result<BufferedAnswer, ApiError> {
        let mut answers = self.call_all(session, ctx, env, call, vec![body]).await?;
        answers
            .pop()
            .ok_or_else(|| ApiError::internal("no answer for one call"))
    }

    /// Buffered Argo round trips made at once, answers in the order of `bodies`; the first
    /// failure fails them all (the others are dropped with their connections).
    async fn call_all(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        env: &str,
        call: Call<'_>,
        bodies: Vec<Vec<u8>>,
    ) -> Result<Vec<BufferedAnswer>, ApiError> {
        let upstream = &self.state.upstream;
        let env = self.state.settings.upstream.env_for(call.api, env);
        let started = Instant::now();
        let call = &call;
        let calls = bodies.iter().map(|body| async move {
            let answer = upstream.buffered(env, call, body).await?;
            match notice::is_notice(&answer) {
                true => Err(notice::unregistered_user()),
                false => Ok(answer),
            }
        });
        let result = streaming::unless_client_leaves(session, try_join_all(calls)).await;
        let elapsed = started.elapsed();
        ctx.timing.add_upstream(elapsed);
        metrics::UPSTREAM_DURATION
            .with_label_values(&[ctx.endpoint, self.model_label(ctx)])
            .observe(elapsed.as_secs_f64());
        result
    }
}

fn resource(endpoint: Endpoint, user: &str) -> Call<'_> {
    Call::new(Api::Resource(endpoint), user)
}

fn wants_usage(options: &Option<StreamOptions>) -> bool {
    options.as_ref().and_then(|options| options.include_usage) == Some(true)
}

/// A request's final Argo failure: counted by kind (the `upstream_*` codes, a fixed set),
/// and logged once for the operator with what caused it (the cause names the environment
/// the call went to, which for streams and embeddings need not be the model's).
fn record_upstream_failure(ctx: &RequestCtx, error: &ApiError) {
    let Some(kind) = error.code.filter(|code| code.starts_with("upstream_")) else {
        return;
    };
    metrics::UPSTREAM_ERRORS.with_label_values(&[kind]).inc();
    let cause = error.cause.as_deref().unwrap_or(&error.message);
    log::warn!("request {} failed at Argo: {kind}: {cause}", ctx.request_id);
}

fn count_tokens(model: &str, prompt: u64, completion: u64) {
    metrics::TOKENS
        .with_label_values(&[model, "prompt"])
        .inc_by(prompt);
    metrics::TOKENS
        .with_label_values(&[model, "completion"])
        .inc_by(completion);
}

/// HTTP/1.1 keeps a connection unless told to close; HTTP/1.0 only when asked to keep it.
fn client_keeps_alive(header: &pingora_http::RequestHeader) -> bool {
    let connection = header
        .headers
        .get("connection")
        .map(|value| value.as_bytes().to_ascii_lowercase());
    let says = |word: &[u8]| {
        connection.as_ref().is_some_and(|value| {
            value
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii() == word)
        })
    };
    match header.version {
        http::Version::HTTP_10 | http::Version::HTTP_09 => says(b"keep-alive"),
        _ => !says(b"close"),
    }
}

/// The method for logs and messages: the standard ones by name, anything else as `OTHER`, so
/// that a client cannot write what it likes (or megabytes of it) into them.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

fn endpoint_label(path: &str) -> &'static str {
    match path {
        // `/api/chat/completions`: a path of the original bridge, for its clients.
        "/chat/completions" | "/api/chat/completions" => "chat",
        "/completions" => "completions",
        "/embeddings" => "embeddings",
        "/models" => "models",
        "/health" | "/healthz" => "health",
        "/ready" | "/readyz" => "ready",
        "/metrics" => "metrics",
        _ if path.starts_with("/models/") => "models",
        _ => "other",
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn new_id(prefix: &str) -> String {
    let random: u128 = rand::thread_rng().gen();
    format!("{prefix}-{:024x}", random & ((1u128 << 96) - 1))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn response_meta(prefix: &str, model: &str) -> ResponseMeta {
    ResponseMeta {
        id: new_id(prefix),
        created: unix_now(),
        model: model.to_string(),
    }
}

/// A model of the table a request resolved against (kept whole: the live table may change
/// while the request runs).
#[derive(Clone)]
struct Resolved {
    table: Arc<ModelTable>,
    position: usize,
}

impl std::ops::Deref for Resolved {
    type Target = ModelSpec;

    fn deref(&self) -> &ModelSpec {
        &self.table.models()[self.position]
    }
}

/// `/v1/models` entry in OpenAI's shape.
#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

impl<'a> From<&'a ModelSpec> for ModelObject<'a> {
    fn from(model: &'a ModelSpec) -> Self {
        let owned_by = match model.family {
            Family::Openai => "openai",
            Family::Anthropic => "anthropic",
            Family::Google => "google",
        };
        // A fixed date: Argo does not say when a model appeared.
        ModelObject {
            id: &model.name,
            object: "model",
            created: 1_700_000_000,
            owned_by,
        }
    }
}
