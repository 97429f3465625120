//! The Pingora `ProxyHttp` implementation. Every request is answered in `request_filter`: the
//! body is read whole (any size up to the limit), translated by `argo_filters`, sent to Argo with
//! the pooled connector, and the translated answer written back. One path for every body size.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argo_filters::error::ErrorCode;
use argo_filters::json::parse_request;
use argo_filters::models::{ModelSpec, ModelTable};
use argo_filters::notice;
use argo_filters::openai::ResponseMeta;
use argo_filters::translate::StreamTranslation;
use argo_filters::ApiError;
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::{try_join_all, BoxFuture};
use pingora_core::modules::http::HttpModules;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_proxy::{ProxyHttp, Session};

use argo_filters::hub::Usage;

use crate::accounts::ledger::{Tokens, UsageEntry};
use crate::accounts::Accounts;
use crate::config::Settings;
use crate::edge::auth::{Auth, Identity};
use crate::edge::cors::{self, AllowList};
use crate::edge::front_door;
use crate::edge::http::{read_body, require_json, send_body, send_error, send_json, BodyLimits};
use crate::lifecycle::drain::OpenRequest;
use crate::lifecycle::readiness::Readiness;
use crate::limits::budget::{MemoryBudget, Reservation, SharedBudget};
use crate::limits::{CpuPool, Permit, UserLimits};
use crate::observe::access_log::AccessRecord;
use crate::observe::metrics;
use crate::observe::request_id::new_id;
use crate::observe::timing::{Timing, OVERHEAD_HEADER};
use crate::serve::admin::{self, METRICS_CONTENT_TYPE};
use crate::serve::handlers;
use crate::serve::routes::{self, ClientFormat, Handler, Listener};
use crate::serve::streaming::{self, Ending};
use crate::upstream::catalog::Catalog;
use crate::upstream::{client_agent, BufferedAnswer, Call, Upstream};

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
    /// The accounts store's keys and usage ledger, when `accounts` is configured.
    pub accounts: Option<Arc<Accounts>>,
}

pub struct Gateway {
    pub(crate) state: Arc<State>,
    /// The budget of request bodies (and of what streams keep of them), shared out per user.
    bodies: Arc<SharedBudget>,
    /// Where work that grows with a large request runs.
    cpu: Arc<CpuPool>,
}

/// A handler's request reader for [`Gateway::accept_read`]: from the body, the model table and
/// the user, the model the request names (for the metrics, also when the request is refused)
/// and the parse.
pub(crate) type RequestReader<R> =
    fn(&[u8], Arc<ModelTable>, &str) -> (Option<Resolved>, Result<R, ApiError>);

impl Gateway {
    pub fn new(state: Arc<State>) -> Self {
        let limits = &state.settings.limits;
        let bodies = SharedBudget::new(
            Arc::clone(&state.bodies),
            limits.max_buffered_request_bytes_per_user,
        );
        let threads = match limits.cpu_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads => threads,
        };
        let cpu = CpuPool::new(
            threads,
            limits.cpu_threads_per_user,
            limits.cpu_offload_bytes,
        );
        Gateway { state, bodies, cpu }
    }
}

/// Per-request facts for metrics and the access log. Nothing here identifies the user.
pub struct RequestCtx {
    pub(crate) timing: Timing,
    pub(crate) request_id: String,
    endpoint: &'static str,
    /// The API the client speaks: its errors are written in that API's envelope.
    format: ClientFormat,
    /// The resolved model: its canonical name is the metrics label, so the label set stays
    /// bounded whatever clients send.
    model: Option<Resolved>,
    status: u16,
    /// How a stream ended, for the access log.
    pub(crate) stream_outcome: &'static str,
    _open: OpenRequest,
    /// The user's rate and concurrency slot, released when the request ends.
    _permit: Option<Permit>,
    /// Who sent the request, once authenticated: the usage ledger counts it for them.
    identity: Option<Identity>,
    /// The tokens the answer used, for the usage ledger.
    usage: Tokens,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            timing: Timing::start(),
            request_id: new_id("req"),
            endpoint: "other",
            format: ClientFormat::OpenAi,
            model: None,
            status: 0,
            stream_outcome: "-",
            _open: OpenRequest::new(),
            _permit: None,
            identity: None,
            usage: Tokens::default(),
        }
    }

    /// Only CORS, when origins are allowed. Pingora's default adds a response compression
    /// module at level 0 (off): it did nothing here but cost every request its context.
    fn init_downstream_modules(&self, modules: &mut HttpModules) {
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
        let in_flight = metrics::InFlight::enter();
        let outcome = self.route(session, ctx).await;
        drop(in_flight);
        if ctx.stream_outcome == CLIENT_STALLED {
            // Pingora would end the chunked body, a write without a deadline to a client that
            // reads nothing: the connection is dropped instead (an error from the client's side
            // is not answered, and its connection not kept).
            return Err(Error::create(
                ErrorType::WriteError,
                ErrorSource::Downstream,
                Some("the client stopped reading its stream".into()),
                None,
            ));
        }
        if let Err(error) = outcome {
            ctx.status = error.status;
            record_upstream_failure(ctx, &error);
            if session.response_written().is_none() {
                let overhead = [(OVERHEAD_HEADER, ctx.timing.response_head())];
                let body = handlers::error_body(ctx.format, &error);
                send_error(session, &error, body, &ctx.request_id, &overhead).await;
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

    /// A stalled client's stream is logged once, by the relay, with the request's id.
    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _error: &Error) -> bool {
        ctx.stream_outcome == CLIENT_STALLED
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|header| header.status.as_u16())
            .unwrap_or(ctx.status);
        let record = AccessRecord {
            request_id: &ctx.request_id,
            method: routes::method_label(&session.req_header().method),
            endpoint: ctx.endpoint,
            client: ctx.format.label(),
            model: self.model_label(ctx),
            status,
            stream: ctx.stream_outcome,
            duration: ctx.timing.elapsed(),
            upstream: ctx.timing.upstream(),
            overhead: ctx.timing.overhead(),
        };
        record.log();
        record.observe();
        self.count_in_ledger(ctx, status);
    }
}

impl Gateway {
    async fn route(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        let matched = match routes::find(Listener::Api, &method, &path) {
            Ok(matched) => matched,
            Err(unmatched) => {
                ctx.format = unmatched.format;
                return Err(*unmatched.error);
            }
        };
        ctx.endpoint = matched.endpoint;
        ctx.format = matched.format;
        if matched.preflight {
            return self.preflight(session, ctx).await;
        }
        let model = matched.model.as_deref().unwrap_or_default();
        match matched.handler {
            Handler::Root => {
                let name = concat!(
                    r#"{"name":"argo-bridge","version":""#,
                    env!("CARGO_PKG_VERSION"),
                    r#""}"#
                );
                self.reply(session, ctx, 200, name.as_bytes().to_vec())
                    .await
            }
            Handler::Health => {
                self.reply(session, ctx, 200, br#"{"status":"ok"}"#.to_vec())
                    .await
            }
            Handler::Ready => self.ready(session, ctx).await,
            Handler::Metrics => self.metrics(session, ctx).await,
            Handler::ListModels => handlers::models::list(self, session, ctx).await,
            Handler::GetModel => handlers::models::get(self, session, ctx, model).await,
            Handler::ChatCompletions => handlers::openai::chat(self, session, ctx).await,
            Handler::Completions => handlers::openai::completions(self, session, ctx).await,
            Handler::Embeddings => handlers::embeddings::create(self, session, ctx).await,
            Handler::Responses => handlers::responses::create(self, session, ctx).await,
            Handler::GenerateContent => {
                handlers::google::generate_content(self, session, ctx, model, false).await
            }
            Handler::StreamGenerateContent => {
                handlers::google::generate_content(self, session, ctx, model, true).await
            }
            Handler::GoogleCountTokens => {
                handlers::google::count_tokens(self, session, ctx, model).await
            }
            Handler::Messages => handlers::anthropic::messages(self, session, ctx).await,
            Handler::CountTokens => handlers::anthropic::count_tokens(self, session, ctx).await,
            // The table serves it on the admin listener only.
            Handler::RefreshModels
            | Handler::ListKeys
            | Handler::CreateKey
            | Handler::RevokeKey
            | Handler::UsageReport => Err(ApiError::not_found("Unknown path")),
        }
    }

    pub(crate) async fn reply(
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
            .with_code(ErrorCode::OriginNotAllowed));
        }
        ctx.status = 204;
        let headers = cors::preflight_headers(header("access-control-request-headers").as_deref());
        send_json(session, 204, Vec::new(), &ctx.request_id, &headers).await;
        Ok(())
    }

    /// The start of every API request: who is asking, within their limits, then a bounded
    /// JSON body parsed into `T`, with the body's size.
    pub(crate) async fn accept<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(String, T, usize), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let size = body.len();
        // The body's reservation ends with the parse: then the raw bytes are gone.
        let parse = move |_: &str| {
            let parsed = parse_request(&body);
            drop((body, reservation));
            parsed
        };
        let parsed = self.offload(session, &user, size, parse).await??;
        Ok((user, parsed, size))
    }

    /// `work` on `size` bytes for `user` (given to it): inline when small, else on the pool
    /// for large work (see [`CpuPool`]), unless the client leaves while it waits for its turn.
    pub(crate) async fn offload<T: Send + 'static>(
        &self,
        session: &mut Session,
        user: &str,
        size: usize,
        work: impl FnOnce(&str) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.cpu.inline(size) {
            return Ok(work(user));
        }
        let owner: Box<str> = user.into();
        let run = Box::pin(self.cpu.run(user, size, move || work(&owner)));
        streaming::unless_client_leaves(session, run).await
    }

    /// [`Self::accept_body`] read by a handler's request reader `read` (the model the request
    /// names, and the parse), on the pool for large work when the body is large. The body and
    /// its reservation end with the read; the model, when the request names one, is recorded
    /// for the metrics and the access log. The user, the parse and the body's size.
    pub(crate) async fn accept_read<R: Send + 'static>(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        read: RequestReader<R>,
    ) -> Result<(String, R, usize), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let size = body.len();
        let table = self.models();
        let work = move |user: &str| {
            let read = read(&body, table, user);
            drop((body, reservation));
            read
        };
        let (model, read) = self.offload(session, &user, size, work).await?;
        if let Some(model) = &model {
            self.resolved(ctx, model);
        }
        Ok((user, read?, size))
    }

    /// [`Self::accept`], with the body as read and its share of the request-body budget, for
    /// a handler that copies most of it to Argo.
    pub(crate) async fn accept_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(String, Bytes, Reservation), ApiError> {
        let user = self.authenticate(session, ctx)?;
        ctx._permit = self.state.limits.admit(&user).await?;
        require_json(session)?;
        let limits = &self.state.settings.limits;
        let holder = self.holder(session, &user);
        let body_limits = BodyLimits {
            max_bytes: limits.max_body_bytes,
            total_time: Duration::from_millis(limits.client_body_total_timeout_ms),
            budget: &self.bodies,
            holder: &holder,
        };
        let (body, reservation) = read_body(session, &body_limits).await?;
        Ok((user, body, reservation))
    }

    /// Whose share of the body budget a request's memory counts against: its user's, or, for a
    /// request served as the default user (no token of its own), its client address's.
    fn holder<'a>(&self, session: &Session, user: &'a str) -> Cow<'a, str> {
        if user != self.state.settings.auth.default_user {
            return Cow::Borrowed(user);
        }
        let address = session.client_addr().and_then(|addr| addr.as_inet());
        Cow::Owned(match address {
            Some(address) => format!("address {}", address.ip()),
            None => "address unknown".to_string(),
        })
    }

    /// Reserves `bytes` that a stream keeps for as long as it runs from `user`'s share of the
    /// body budget: 503 when they do not fit.
    pub(crate) fn reserve_held(
        &self,
        session: &Session,
        user: &str,
        bytes: usize,
    ) -> Result<Reservation, ApiError> {
        let holder = self.holder(session, user);
        self.bodies
            .reserve(&holder, bytes)
            .ok_or_else(crate::edge::http::bodies_over_budget)
    }

    /// The lab user of the request's token, sent as the client's API sends it: a bearer
    /// token, Anthropic's `x-api-key`, or Google's `x-goog-api-key` or `key=` parameter.
    pub(crate) fn authenticate(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
    ) -> Result<String, ApiError> {
        let request = session.req_header();
        let header = |name: &str| request.headers.get(name).map(|value| value.as_bytes());
        let auth = &self.state.auth;
        let identity = match ctx.format {
            ClientFormat::OpenAi | ClientFormat::Responses => auth.user_for(header("authorization")),
            ClientFormat::Anthropic => auth.user_for_token(
                header("x-api-key").or_else(|| bearer(header("authorization"))),
                "Missing API key: send `x-api-key: <your token>` or `Authorization: Bearer <your token>`",
            ),
            ClientFormat::Google => auth.user_for_token(
                header("x-goog-api-key")
                    .or_else(|| query_key(request.uri.query()))
                    .or_else(|| bearer(header("authorization"))),
                "Missing API key: send `x-goog-api-key: <your token>` or `Authorization: Bearer <your token>`",
            ),
        }?;
        front_door::authenticated();
        // Kept for the usage ledger only: without accounts the name is not copied.
        if self.state.accounts.is_some() {
            ctx.identity = Some(identity.clone());
        }
        Ok(identity.user)
    }

    /// Adds an authenticated request to the usage ledger, when there is one.
    fn count_in_ledger(&self, ctx: &mut RequestCtx, status: u16) {
        let (Some(accounts), Some(identity)) = (&self.state.accounts, ctx.identity.take()) else {
            return;
        };
        accounts.ledger.record(UsageEntry {
            at: crate::accounts::unix_now(),
            user: identity.user.into(),
            key_id: identity.key_id.unwrap_or_else(|| Arc::from("")),
            model: self.model_label(ctx).into(),
            client: ctx.format.label(),
            endpoint: ctx.endpoint,
            status,
            tokens: ctx.usage,
        });
    }

    /// The model a client's name stands for, in the table served now (configured and live).
    pub(crate) fn resolve(
        &self,
        ctx: &mut RequestCtx,
        requested: &str,
    ) -> Result<Resolved, ApiError> {
        let resolved = Resolved::locate(self.state.catalog.current(), requested)?;
        ctx.model = Some(resolved.clone());
        Ok(resolved)
    }

    /// The request is for `model` (resolved off the request's thread): its metrics' label.
    pub(crate) fn resolved(&self, ctx: &mut RequestCtx, model: &Resolved) {
        ctx.model = Some(model.clone());
    }

    /// The table served now, to resolve models in.
    pub(crate) fn models(&self) -> Arc<ModelTable> {
        self.state.catalog.current()
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

    /// Relays a stream from Argo to the client, translated. Its future is kilobytes (the
    /// Argo connection, the translator, the client's session), so it is boxed here: the
    /// futures of every handler that may stream, and so of every request, stay small.
    pub(crate) fn relay<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut RequestCtx,
        model_env: &'a str,
        call: Call<'a>,
        body: Vec<u8>,
        translator: StreamTranslation,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(self.relay_stream(session, ctx, model_env, call, body, translator))
    }

    async fn relay_stream(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        model_env: &str,
        call: Call<'_>,
        body: Vec<u8>,
        mut translator: StreamTranslation,
    ) -> Result<(), ApiError> {
        let env = self.state.settings.upstream.env_for(call.api, model_env);
        let (agent, resolved) = (client_agent_of(session), ctx.model.clone());
        let call = call.for_client(agent.as_deref(), argo_id(&resolved));
        let started = Instant::now();
        let upstream_before = ctx.timing.upstream();
        let model = self.model_label(ctx).to_string();
        let labels = [ctx.endpoint, model.as_str()];
        // A client that stops reading must not hold the stream, and its Argo connection, for
        // as long as Argo keeps sending.
        let write_timeout = self.state.settings.limits.client_write_timeout_ms;
        session.set_write_timeout(Some(Duration::from_millis(write_timeout)));
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
        metrics::time(&metrics::UPSTREAM_DURATION, &labels, streamed.as_secs_f64());
        count_usage(ctx, &model, &translator.usage());
        ctx.stream_outcome = match ending {
            Ok(Ending::Complete) => "complete",
            Ok(Ending::ClientGone) => "client_gone",
            Ok(Ending::ClientStalled) => {
                metrics::CLIENT_WRITE_TIMEOUTS.inc();
                log::warn!(
                    "request {}: the client read nothing of its stream for {write_timeout} ms \
                     (limits.client_write_timeout_ms); the stream and its Argo request end",
                    ctx.request_id
                );
                CLIENT_STALLED
            }
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
    pub(crate) async fn call(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        env: &str,
        call: Call<'_>,
        body: Vec<u8>,
    ) -> Result<BufferedAnswer, ApiError> {
        let env = self.state.settings.upstream.env_for(call.api, env);
        let (agent, resolved) = (client_agent_of(session), ctx.model.clone());
        let call = call.for_client(agent.as_deref(), argo_id(&resolved));
        // Boxed: a future handed down is held by each async fn it passes through, so inline
        // its kilobytes would be copied into every one of them.
        let answer = Box::pin(self.answer(env, &call, &body));
        self.wait_upstream(session, ctx, answer).await
    }

    /// Buffered Argo round trips made at once, answers in the order of `bodies`; the first
    /// failure fails them all (the others are dropped with their connections).
    pub(crate) async fn call_all(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        env: &str,
        call: Call<'_>,
        bodies: Vec<Vec<u8>>,
    ) -> Result<Vec<BufferedAnswer>, ApiError> {
        let env = self.state.settings.upstream.env_for(call.api, env);
        let (agent, resolved) = (client_agent_of(session), ctx.model.clone());
        let call = call.for_client(agent.as_deref(), argo_id(&resolved));
        let answers = try_join_all(bodies.iter().map(|body| self.answer(env, &call, body)));
        self.wait_upstream(session, ctx, answers).await
    }

    /// One round trip's answer; Argo's notice to an unknown user is the client's 403.
    async fn answer(
        &self,
        env: &str,
        call: &Call<'_>,
        body: &[u8],
    ) -> Result<BufferedAnswer, ApiError> {
        let answer = self.state.upstream.buffered(env, call, body).await?;
        match notice::is_notice(&answer) {
            true => Err(notice::unregistered_user()),
            false => Ok(answer),
        }
    }

    /// Waits on Argo, or stops at once when the client leaves; the wait is Argo's time.
    async fn wait_upstream<T>(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        upstream: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let result = streaming::unless_client_leaves(session, upstream).await;
        let elapsed = started.elapsed();
        ctx.timing.add_upstream(elapsed);
        let labels = [ctx.endpoint, self.model_label(ctx)];
        metrics::time(&metrics::UPSTREAM_DURATION, &labels, elapsed.as_secs_f64());
        result
    }
}

/// The access log's word for a stream whose client stopped reading it.
const CLIENT_STALLED: &str = "client_stalled";

/// Argo's id of the model a request resolved to.
fn argo_id(model: &Option<Resolved>) -> Option<&str> {
    model.as_ref().map(|model| model.argo_id.as_str())
}

/// The client program's `User-Agent`, cleaned for Argo's (see [`client_agent`]).
fn client_agent_of(session: &Session) -> Option<String> {
    let agent = session.req_header().headers.get(http::header::USER_AGENT)?;
    client_agent(agent.as_bytes())
}

/// A request's final Argo failure: counted by kind (its code, one of the fixed set of
/// [`ErrorCode::is_upstream`] codes), and logged once for the operator with what caused it (the
/// cause names the environment the call went to, which for streams and embeddings need not be
/// the model's).
fn record_upstream_failure(ctx: &RequestCtx, error: &ApiError) {
    let Some(kind) = upstream_failure_kind(error) else {
        return;
    };
    metrics::UPSTREAM_ERRORS.with_label_values(&[kind]).inc();
    let cause = error.cause.as_deref().unwrap_or(&error.message);
    log::warn!("request {} failed at Argo: {kind}: {cause}", ctx.request_id);
}

/// The `kind` label `argo_bridge_upstream_errors_total` counts an error under: its code, when
/// that is an Argo failure; none for the gateway's own and the request's errors.
fn upstream_failure_kind(error: &ApiError) -> Option<&'static str> {
    error
        .code
        .filter(|code| code.is_upstream())
        .map(ErrorCode::as_str)
}

/// An answer's tokens: counted in the metrics under its model, and added to what the usage
/// ledger counts for the request.
pub(crate) fn count_usage(ctx: &mut RequestCtx, model: &str, usage: &Usage) {
    metrics::count(&metrics::TOKENS, &[model, "prompt"], usage.input_tokens);
    metrics::count(
        &metrics::TOKENS,
        &[model, "completion"],
        usage.output_tokens,
    );
    ctx.usage.prompt += usage.input_tokens;
    ctx.usage.completion += usage.output_tokens;
    ctx.usage.cached += usage.cached_input_tokens.unwrap_or(0);
}

fn bearer(authorization: Option<&[u8]>) -> Option<&[u8]> {
    authorization.and_then(crate::edge::auth::bearer_token)
}

/// Google's `?key=<token>`.
fn query_key(query: Option<&str>) -> Option<&[u8]> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|key| !key.is_empty())
        .map(str::as_bytes)
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn response_meta(prefix: &str, model: &str) -> ResponseMeta {
    ResponseMeta {
        id: new_id(prefix),
        created: unix_now(),
        model: model.to_string(),
    }
}

/// A model of the table a request resolved against (kept whole: the live table may change
/// while the request runs).
#[derive(Clone)]
pub(crate) struct Resolved {
    table: Arc<ModelTable>,
    position: usize,
}

impl Resolved {
    /// The model `requested` stands for in `table`.
    pub(crate) fn locate(table: Arc<ModelTable>, requested: &str) -> Result<Self, ApiError> {
        let position = table.locate(requested)?;
        Ok(Resolved { table, position })
    }
}

impl std::ops::Deref for Resolved {
    type Target = ModelSpec;

    fn deref(&self) -> &ModelSpec {
        &self.table.models()[self.position]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn argo_failures_are_counted_under_their_upstream_code_and_nothing_else_is() {
        let labels: BTreeSet<&str> = ErrorCode::ALL
            .iter()
            .filter_map(|&code| upstream_failure_kind(&ApiError::bad_gateway("x").with_code(code)))
            .collect();
        let upstream: BTreeSet<&str> = [
            "upstream_answers_over_budget",
            "upstream_bad_status",
            "upstream_connect_timeout",
            "upstream_cut_off",
            "upstream_head_timeout",
            "upstream_invalid_answer",
            "upstream_overloaded",
            "upstream_rate_limited",
            "upstream_rejected",
            "upstream_stream_error",
            "upstream_timeout",
            "upstream_tls_error",
            "upstream_total_timeout",
            "upstream_truncated",
            "upstream_unreachable",
            "upstream_unresolved",
            "upstream_user_not_registered",
            "upstream_write_timeout",
        ]
        .into();
        assert_eq!(labels, upstream);
        // The gateway's own failures and the request's are not Argo's.
        for error in [
            ApiError::bad_gateway("no more precise code"),
            ApiError::internal("x"),
            ApiError::rate_limited("the user's own limit"),
            ApiError::invalid("messages", "x"),
            ApiError::new(502, "upstream_error", "no code at all"),
        ] {
            assert_eq!(upstream_failure_kind(&error), None, "{error:?}");
        }
        assert_eq!(
            upstream_failure_kind(&argo_filters::error::from_argo_status(503, b"", None)),
            Some("upstream_bad_status")
        );
    }
}
