//! The Argo client: Pingora's pooled transport connector (TCP or TLS), a lean HTTP/1.1
//! exchange on top (one write per request, small read buffers), explicit timeouts, and errors
//! mapped to what a client can act on (502 unreachable or broken, 503 too many large answers
//! held at once, 504 too slow). Also which environment serves a call (`call`), Argo's addresses
//! (`addresses`) and the model table merged with Argo's live lists (`catalog`).
//!
//! May import `config`, `limits` and `observe`; imported by `lifecycle`, `serve` and the crate
//! root. Nothing here knows a client format's wire.

mod addresses;
mod budget;
mod call;
pub mod catalog;
mod connection;
mod learned;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argo_filters::error::from_argo_status;
use argo_filters::error::ErrorCode;
use argo_filters::upstream::refusal;
use argo_filters::ApiError;
use bytes::Bytes;
use pingora_core::connectors::{ConnectorOptions, TransportConnector};
use pingora_core::protocols::Stream;
use pingora_core::upstreams::peer::{HttpPeer, Peer};
use pingora_error::{Error, ErrorType};
use pingora_timeout::fast_timeout::fast_timeout;

use crate::config::{ArgoEnv, UpstreamConfig};
use crate::limits::budget::{MemoryBudget, SharedBudget};
use crate::observe::metrics;
pub use addresses::{AddressBook, AddressKeeper, Environment, SystemResolver};
use budget::AnswerBuffer;
pub use budget::BufferedAnswer;
pub use call::{client_agent, Api, Call};
use connection::{Connection, Timeouts, HEAD_TIMEDOUT, TOTAL_TIMEDOUT};
use learned::LEARNED;

/// Most of an Argo error body kept in an error's cause.
const MAX_CAUSE_BODY_BYTES: usize = 2 * 1024;

pub struct Upstream {
    connector: TransportConnector,
    config: UpstreamConfig,
    /// Where each environment is now; shared by every client of the process.
    addresses: Arc<AddressBook>,
    /// Shared by every buffered answer of this process, each user taking at most its share.
    answer_budget: Arc<SharedBudget>,
}

/// One request in flight to Argo, response header already read.
pub struct Exchange {
    connection: Connection,
    /// The connection pool's key for the connection, to give it back.
    pool_key: u64,
    pub env: String,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, addresses: Arc<AddressBook>) -> Self {
        let mut options = ConnectorOptions::new(config.pool_size);
        if !config.ca_file.is_empty() {
            options.ca_file = Some(config.ca_file.clone());
        }
        Upstream {
            connector: TransportConnector::new(Some(options)),
            config: config.clone(),
            addresses,
            answer_budget: SharedBudget::new(
                MemoryBudget::new(
                    config.max_buffered_answer_bytes_total,
                    metrics::BUFFERED_ANSWER_BYTES.clone(),
                ),
                config.max_buffered_answer_bytes_per_user,
            ),
        }
    }

    /// Sends `body` as `call` to the environment `env_name` and reads the response head.
    ///
    /// Retried, because Argo cannot have received the whole request: a connect failure goes at
    /// once to another address of the environment while one is usable, else is retried (up to
    /// `upstream.retries` times, with exponential backoff); a pooled connection that broke
    /// while the request was being written is replaced once, at once. Once the request is
    /// written it is never sent again, whatever happens next: a POST must not reach Argo twice.
    /// With a `deadline`, every wait of the exchange (connecting, retrying, writing, reading the
    /// answer to its end) ends by then.
    pub async fn send(
        &self,
        env_name: &str,
        call: &Call<'_>,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Exchange, ApiError> {
        let place = self.addresses.get(env_name).ok_or_else(|| {
            ApiError::internal(format!("model environment `{env_name}` is not configured"))
        })?;
        let env = place.env();
        let path = format!("{}{}", env.base_path, call.path());
        let request = wire::encode_request_for(
            call.method(),
            &path,
            &env.host,
            &call.headers(),
            body,
            call.client_agent,
        );
        let mut attempts = Attempts::default();
        loop {
            let target = place.pick().ok_or_else(|| unresolved(place))?;
            if target.despite_failures {
                log::debug!("every address of Argo {env_name} is out; trying one anyway");
            }
            let peer = peer(env, target.addr, &self.config);
            let failure = match self.try_send(&peer, &request, deadline).await {
                Ok(connection) => {
                    return Ok(Exchange {
                        connection,
                        pool_key: peer.reuse_hash(),
                        env: env_name.to_string(),
                    })
                }
                Err(failure) => failure,
            };
            if let Failure::Connect(_) = failure {
                place.connect_failed(target.addr);
            }
            let wait = self.again(&mut attempts, failure, place)?;
            if !wait.is_zero() {
                let left =
                    deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
                if let Some(left) = left.filter(|left| *left <= wait) {
                    // The next attempt would come after the deadline.
                    tokio::time::sleep(left).await;
                    return Err(self.map_error(&connection::timed_out(TOTAL_TIMEDOUT), env_name));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// [`Self::send`] for a model's call, leaving out what Argo refused for the model before
    /// ([`learned`]), and learning from a refusal: when Argo answers 400 naming a parameter of
    /// the request that may be left out ([`refusal::refused_parameter`]), the call is made
    /// once more without it. A 400 means nothing was generated and nothing reached the client
    /// (a stream's refusal is its head), so that is safe; it happens at most once a call, and
    /// the second answer stands, whatever it is. A 400 that is not such a refusal is read and
    /// returned as the client's error.
    pub async fn send_adapting(
        &self,
        env_name: &str,
        call: &Call<'_>,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Exchange, ApiError> {
        let Some(model) = call.model.filter(|_| call.learns_refusals()) else {
            return self.send(env_name, call, body, deadline).await;
        };
        let adapted = LEARNED
            .for_model(model)
            .and_then(|params| refusal::without_members(body, &params));
        let body = adapted.as_deref().unwrap_or(body);
        let mut exchange = self.send(env_name, call, body, deadline).await?;
        if exchange.status() != 400 {
            return Ok(exchange);
        }
        let answer = exchange.read_to_end_for(self, call.user).await;
        let env = exchange.env.clone();
        self.release(exchange);
        let answer = answer?;
        let refused = refusal::refused_parameter(&answer);
        let again = refused.as_ref().and_then(|refused| {
            refusal::without_members(body, std::slice::from_ref(&refused.parameter))
        });
        let (Some(refused), Some(again)) = (refused, again) else {
            return Err(rejection(&env, 400, &answer, None));
        };
        if refused.always {
            LEARNED.learn(model, &refused.parameter);
        }
        metrics::REFUSAL_RETRIES.with_label_values(&[model]).inc();
        log::debug!(
            "Argo {env} refused `{}` for {model}; calling again without it",
            refused.parameter
        );
        self.send(env_name, call, &again, deadline).await
    }

    /// After a failed attempt: how long to wait before the next one, or the client's error.
    fn again(
        &self,
        attempts: &mut Attempts,
        failure: Failure,
        place: &Environment,
    ) -> Result<Duration, ApiError> {
        let env_name = place.name();
        match failure {
            Failure::Connect(_)
                if attempts.other_addresses < MAX_OTHER_ADDRESSES && place.has_usable() =>
            {
                attempts.other_addresses += 1;
                metrics::UPSTREAM_RETRIES
                    .with_label_values(&["other_address"])
                    .inc();
                Ok(Duration::ZERO)
            }
            Failure::Connect(e) if attempts.connect_retries < self.config.retries => {
                let backoff = self.config.retry_backoff() * 2u32.pow(attempts.connect_retries);
                attempts.connect_retries += 1;
                metrics::UPSTREAM_RETRIES
                    .with_label_values(&["connect"])
                    .inc();
                log::warn!(
                    "connecting to Argo {env_name} failed ({}), retry {} in {backoff:?}",
                    e.etype().as_str(),
                    attempts.connect_retries
                );
                Ok(backoff)
            }
            Failure::Stale(e) if !attempts.stale_retry_used => {
                attempts.stale_retry_used = true;
                metrics::UPSTREAM_RETRIES
                    .with_label_values(&["stale_connection"])
                    .inc();
                log::debug!(
                    "pooled connection to Argo {env_name} broke while sending, retrying: {e}"
                );
                Ok(Duration::ZERO)
            }
            Failure::Connect(e) | Failure::Stale(e) | Failure::Other(e) => {
                Err(self.map_error(&e, env_name))
            }
        }
    }

    /// One attempt. A pooled connection that Argo closed while it was idle never gets here:
    /// Pingora's `reused_stream` polls a pooled connection once before handing it out and drops
    /// it on end of stream, an error or unexpected bytes (`test_reusable_stream`), then takes
    /// another or connects.
    async fn try_send(
        &self,
        peer: &HttpPeer,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Connection, Failure> {
        let (mut stream, reused) = match self.connector.reused_stream(peer).await {
            Some(pooled) => (pooled, true),
            // A new connection's future (TCP, then TLS) is several KiB: boxed, so that every
            // request that finds a pooled connection does not carry it and copy it about.
            None => (self.connect(peer, deadline).await?, false),
        };
        let write_timeout = self.config.write_timeout();
        match connection::send_request(&mut stream, request, write_timeout, deadline).await {
            Ok(()) => {}
            Err(e) if reused && e.etype() == &ErrorType::WriteError => {
                return Err(Failure::Stale(e))
            }
            Err(e) => return Err(Failure::Other(e)),
        }
        let timeouts = Timeouts {
            read: self.config.read_timeout(),
            head: self.config.head_timeout(),
            deadline,
        };
        Connection::read_head(stream, timeouts)
            .await
            .map_err(Failure::Other)
    }

    /// A new connection, within the peer's connect timeouts and by `deadline`.
    async fn connect(&self, peer: &HttpPeer, deadline: Option<Instant>) -> Result<Stream, Failure> {
        let connecting = Box::pin(self.connector.new_stream(peer));
        let connected = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match fast_timeout(left, connecting).await {
                    Ok(connected) => connected,
                    Err(_) => return Err(Failure::Other(connection::timed_out(TOTAL_TIMEDOUT))),
                }
            }
            None => connecting.await,
        };
        connected.map_err(|e| {
            if is_connect_failure(&e) {
                Failure::Connect(e)
            } else {
                Failure::Other(e)
            }
        })
    }

    /// One buffered round trip: the 2xx body (holding its share of the budget for buffered
    /// answers until it is dropped), or the error the client should see.
    /// Bounded by `upstream.total_timeout_ms`, so a slow drip cannot hold a request forever:
    /// the deadline goes with the exchange, into the limit of each of its waits, rather than
    /// onto a timer of its own around it (which was one more timer for every request).
    pub async fn buffered(
        &self,
        env: &str,
        call: &Call<'_>,
        body: &[u8],
    ) -> Result<BufferedAnswer, ApiError> {
        let deadline = Instant::now() + self.config.total_timeout();
        let mut exchange = self.send_adapting(env, call, body, Some(deadline)).await?;
        if !exchange.is_success() {
            return Err(self.reject_for(exchange, call.user).await);
        }
        let answer = exchange.read_to_end_for(self, call.user).await;
        self.release(exchange);
        answer
    }

    /// Reads a non-2xx answer to one of the gateway's own calls and maps it to an error.
    pub async fn reject(&self, exchange: Exchange) -> ApiError {
        self.reject_for(exchange, "").await
    }

    /// Reads a non-2xx answer (within `user`'s share of the answers' budget) and maps it to
    /// the client's error (429 keeps its Retry-After).
    pub async fn reject_for(&self, mut exchange: Exchange, user: &str) -> ApiError {
        let status = exchange.status();
        let retry_after = exchange.retry_after().map(str::to_string);
        let answer = exchange.read_to_end_for(self, user).await;
        let env = exchange.env.clone();
        self.release(exchange);
        match answer {
            Ok(body) => rejection(&env, status, &body, retry_after.as_deref()),
            Err(error) => error,
        }
    }

    /// Returns a fully read connection to the pool; anything else is closed (dropped).
    pub fn release(&self, exchange: Exchange) {
        if exchange.connection.is_reusable() {
            self.connector.release_stream(
                exchange.connection.into_stream(),
                exchange.pool_key,
                Some(self.config.idle_timeout()),
            );
        }
    }

    /// The client's error for a failed exchange; its cause keeps the whole error chain.
    pub fn map_error(&self, error: &Error, env: &str) -> ApiError {
        self.describe(error, env)
            .with_cause(format!("Argo {env}: {error}"))
    }

    fn describe(&self, error: &Error, env: &str) -> ApiError {
        let seconds = |d: Duration| d.as_secs_f64();
        match error.etype() {
            ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => ApiError::gateway_timeout(format!(
                "Argo ({env}) did not accept a connection within {:.1}s; try again later",
                seconds(self.config.connect_timeout())
            ))
            .with_code(ErrorCode::UpstreamConnectTimeout),
            ErrorType::ReadTimedout => ApiError::gateway_timeout(format!(
                "Argo ({env}) sent nothing for {:.0}s; the model may be overloaded, try again or shorten the request",
                seconds(self.config.read_timeout())
            )),
            etype if etype == &TOTAL_TIMEDOUT => ApiError::gateway_timeout(format!(
                "Argo ({env}) did not finish answering within {:.0}s; try a shorter request",
                seconds(self.config.total_timeout())
            ))
            .with_code(ErrorCode::UpstreamTotalTimeout),
            etype if etype == &HEAD_TIMEDOUT => ApiError::gateway_timeout(format!(
                "Argo ({env}) did not start answering within {:.1}s; the model may be overloaded, try again later or shorten the request",
                seconds(self.config.head_timeout())
            ))
            .with_code(ErrorCode::UpstreamHeadTimeout),
            ErrorType::WriteTimedout => {
                ApiError::gateway_timeout(format!("Argo ({env}) stopped accepting the request body; try again later"))
                    .with_code(ErrorCode::UpstreamWriteTimeout)
            }
            ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
                ApiError::bad_gateway(format!("Could not connect to Argo ({env}); it may be down, try again later"))
                    .with_code(ErrorCode::UpstreamUnreachable)
            }
            ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert | ErrorType::HandshakeError => {
                ApiError::bad_gateway(format!("TLS with Argo ({env}) failed; ask the gateway operator to check its CA bundle"))
                    .with_code(ErrorCode::UpstreamTlsError)
            }
            ErrorType::InvalidHTTPHeader => ApiError::invalid_answer(format!(
                "Argo ({env}) sent an answer that is not valid HTTP ({}); try again, and report it if it persists",
                error.context.as_ref().map(ToString::to_string).unwrap_or_default()
            )),
            _ => ApiError::bad_gateway(format!("The connection to Argo ({env}) broke off mid-answer; try again"))
                .with_code(ErrorCode::UpstreamCutOff),
        }
    }

    fn answer_too_large(&self, env: &str) -> ApiError {
        ApiError::bad_gateway("Argo's answer is larger than the gateway accepts").with_cause(
            format!(
                "Argo {env}: answer over upstream.max_answer_bytes ({} bytes)",
                self.config.max_answer_bytes
            ),
        )
    }

    fn answers_over_budget(&self, env: &str) -> ApiError {
        let mut error = ApiError::new(
            503,
            "server_error",
            "The gateway is holding too many large Argo answers right now; retry in a moment",
        )
        .with_code(ErrorCode::UpstreamAnswersOverBudget)
        .with_cause(format!(
            "Argo {env}: buffered answers would exceed upstream.max_buffered_answer_bytes_total ({} bytes)",
            self.config.max_buffered_answer_bytes_total
        ));
        error.retry_after = Some("1".to_string());
        error
    }
}

/// The client's error for Argo's non-2xx answer `body`, with the operator's view as its cause.
fn rejection(env: &str, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    from_argo_status(status, body, retry_after).with_cause(rejection_cause(env, status, body))
}

/// The operator's view of a non-2xx answer: where, its status and the start of its body.
fn rejection_cause(env: &str, status: u16, body: &[u8]) -> String {
    let shown = &body[..body.len().min(MAX_CAUSE_BODY_BYTES)];
    format!(
        "Argo {env} answered HTTP {status}: {}",
        String::from_utf8_lossy(shown)
    )
}

/// At most this many connect failures of one request go at once to another address.
const MAX_OTHER_ADDRESSES: u32 = 8;

/// What a request has used of its second chances.
#[derive(Default)]
struct Attempts {
    other_addresses: u32,
    connect_retries: u32,
    stale_retry_used: bool,
}

/// The environment's host has never resolved: the message names the environment, never the
/// host or an address (Argo's addresses are not shown to clients); the cause, for the log, does.
fn unresolved(place: &Environment) -> ApiError {
    let env = place.name();
    ApiError::bad_gateway(format!(
        "Argo ({env}) cannot be reached: the gateway has no address for it yet; try again later"
    ))
    .with_code(ErrorCode::UpstreamUnresolved)
    .with_cause(format!(
        "Argo {env}: host `{}` has not resolved (upstream.environments.{env})",
        place.env().host
    ))
}

/// One of Argo's addresses with the connect timeouts the connector applies; the pool keeps its
/// connections apart from other addresses' (the address is part of the peer's reuse hash).
/// Write, head and read timeouts are the exchange's own; idle expiry is set when a connection
/// goes back to the pool.
fn peer(env: &ArgoEnv, addr: SocketAddr, config: &UpstreamConfig) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, env.tls, env.host.clone());
    peer.options.connection_timeout = Some(config.connect_timeout());
    peer.options.total_connection_timeout = Some(config.connect_timeout() * 2);
    peer
}

/// Why an attempt failed, which decides whether it may be retried.
enum Failure {
    /// No connection was made: nothing reached Argo.
    Connect(Box<Error>),
    /// A pooled connection broke while the request was written: Argo did not get all of it.
    Stale(Box<Error>),
    Other(Box<Error>),
}

fn is_connect_failure(error: &Error) -> bool {
    matches!(
        error.etype(),
        ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::TLSHandshakeTimedout
    )
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status())
    }

    pub fn status(&self) -> u16 {
        self.connection.head().status
    }

    pub fn retry_after(&self) -> Option<&str> {
        self.connection.head().retry_after.as_deref()
    }

    /// The next piece of the body; `None` at the end.
    pub async fn next_chunk(&mut self, upstream: &Upstream) -> Result<Option<Bytes>, ApiError> {
        self.connection
            .next_chunk()
            .await
            .map_err(|e| upstream.map_error(&e, &self.env))
    }

    /// The whole body of an answer to a call of no user's (the tests' own calls).
    #[cfg(test)]
    pub async fn read_to_end(&mut self, upstream: &Upstream) -> Result<BufferedAnswer, ApiError> {
        self.read_to_end_for(upstream, "").await
    }

    /// The whole body, within `upstream.max_answer_bytes`, the process-wide budget for
    /// buffered answers and `user`'s share of it. An announced length is reserved before
    /// anything is read; any other answer takes its budget as it grows.
    pub async fn read_to_end_for(
        &mut self,
        upstream: &Upstream,
        user: &str,
    ) -> Result<BufferedAnswer, ApiError> {
        let ceiling = upstream.config.max_answer_bytes;
        let reservation = upstream.answer_budget.empty_reservation(user);
        let mut answer = match self.connection.announced_length() {
            None => AnswerBuffer::new(reservation),
            Some(length) => match usize::try_from(length) {
                Ok(length) if length <= ceiling => {
                    AnswerBuffer::with_length(reservation, length)
                        .map_err(|_| upstream.answers_over_budget(&self.env))?
                }
                _ => return Err(upstream.answer_too_large(&self.env)),
            },
        };
        while let Some(chunk) = self.next_chunk(upstream).await? {
            if answer.len() + chunk.len() > ceiling {
                return Err(upstream.answer_too_large(&self.env));
            }
            answer
                .append(&chunk)
                .map_err(|_| upstream.answers_over_budget(&self.env))?;
        }
        Ok(answer.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> Upstream {
        let config: UpstreamConfig = yaml_serde::from_str("environments: {}").unwrap();
        let addresses = AddressBook::new(&Default::default(), &config, Arc::new(SystemResolver));
        Upstream::new(&config, addresses)
    }

    /// The upstream of a `prod` environment at `http://argo.test:{port}`, its name in `names`.
    fn upstream_of(names: &Arc<addresses::Names>, port: u16, retries: u32) -> Upstream {
        let yaml = format!("{{environments: {{prod: 'http://argo.test:{port}'}}, retries: {retries}, retry_backoff_ms: 1}}");
        let config: UpstreamConfig = yaml_serde::from_str(&yaml).unwrap();
        let env = ArgoEnv {
            tls: false,
            host: "argo.test".into(),
            port,
            base_path: String::new(),
        };
        let environments = [("prod".to_string(), env)].into();
        let resolver = Arc::clone(names) as Arc<dyn addresses::Resolve>;
        Upstream::new(&config, AddressBook::new(&environments, &config, resolver))
    }

    /// An Argo at `ip` that answers every request with 200 and `{}`.
    fn tiny_argo(ip: &str) -> SocketAddr {
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                use std::io::{Read, Write};
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
            }
        });
        addr
    }

    async fn models(upstream: &Upstream) -> Result<u16, ApiError> {
        let call = Call::new(Api::Models, "alice");
        let mut exchange = upstream.send("prod", &call, b"", None).await?;
        let status = exchange.status();
        exchange.read_to_end(upstream).await?;
        Ok(status)
    }

    #[tokio::test]
    async fn an_unresolved_environment_is_a_502_naming_it_until_its_name_resolves() {
        let names = Arc::new(addresses::Names::default());
        let argo = tiny_argo("127.0.0.1");
        let upstream = upstream_of(&names, argo.port(), 2);
        upstream.addresses.refresh().await;
        let error = models(&upstream).await.unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (502, Some(ErrorCode::UpstreamUnresolved))
        );
        assert!(error.message.contains("Argo (prod)"), "{}", error.message);
        assert!(!error.message.contains("argo.test"), "{}", error.message);
        assert!(error.cause.unwrap().contains("argo.test"));
        names.set("argo.test", &[argo]);
        upstream.addresses.refresh().await;
        assert_eq!(models(&upstream).await.unwrap(), 200);
    }

    #[tokio::test]
    async fn a_dead_address_costs_no_retry_while_another_answers() {
        let names = Arc::new(addresses::Names::default());
        let argo = tiny_argo("127.0.0.2");
        let dead = std::net::TcpListener::bind(("127.0.0.3", argo.port()))
            .map(|listener| listener.local_addr().unwrap())
            .unwrap();
        names.set("argo.test", &[dead, argo]);
        // No retries, as the readiness probes have: the other address still serves.
        let upstream = upstream_of(&names, argo.port(), 0);
        upstream.addresses.refresh().await;
        let failures = metrics::UPSTREAM_ADDRESS_FAILURES.with_label_values(&["prod"]);
        let before = failures.get();
        for _ in 0..4 {
            assert_eq!(models(&upstream).await.unwrap(), 200);
        }
        assert_eq!(
            failures.get(),
            before + 1,
            "the dead address was tried once"
        );
    }

    #[test]
    fn mapped_errors_keep_the_whole_chain_as_their_cause() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let error = Error::because(ErrorType::ReadError, "reading Argo's answer", reset);
        let mapped = upstream().map_error(&error, "prod");
        assert_eq!(
            (mapped.status, mapped.code),
            (502, Some(ErrorCode::UpstreamCutOff))
        );
        let cause = mapped.cause.unwrap_or_default();
        assert!(cause.starts_with("Argo prod: "), "{cause}");
        assert!(cause.contains("reading Argo's answer"), "{cause}");
        assert!(cause.contains("reset by peer"), "{cause}");
    }

    #[test]
    fn a_head_timeout_is_504_with_its_own_code() {
        let error = Error::explain(HEAD_TIMEDOUT, "waiting for Argo's response head");
        let mapped = upstream().map_error(&error, "dev");
        assert_eq!(
            (mapped.status, mapped.code),
            (504, Some(ErrorCode::UpstreamHeadTimeout))
        );
        assert!(mapped.message.contains("did not start answering"));
    }

    #[test]
    fn rejection_causes_keep_the_status_and_at_most_2_kib_of_the_body() {
        let long = rejection_cause("prod", 500, &[b'x'; 5000]);
        let prefix = "Argo prod answered HTTP 500: ";
        assert!(long.starts_with(prefix));
        assert_eq!(long.len(), prefix.len() + MAX_CAUSE_BODY_BYTES);
        assert_eq!(
            rejection_cause("dev", 503, b"\xffbusy"),
            "Argo dev answered HTTP 503: \u{fffd}busy"
        );
    }
}
