//! Configuration: `conf/argo-bridge.yaml`, then environment-variable overrides, then validation.
//! Every error names the field that is wrong.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use argo_filters::upstream::resource::Endpoint;

use crate::upstream::Api;
use argo_filters::model_rules::{ModelRule, ModelRules};
use argo_filters::models::{ModelSpec, ModelTable, RetiredModel, UpstreamApi};
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "conf/argo-bridge.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    #[serde(default)]
    pub threads: usize,
    pub upstream: UpstreamConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub readiness: ReadinessConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
    pub models: Vec<ModelSpec>,
    /// Rules for the models Argo lists that no row of `models` knows: the first that matches a
    /// new model's Argo id gives it its parameter columns.
    #[serde(default)]
    pub model_rules: Vec<ModelRule>,
    #[serde(default)]
    pub retired_models: Vec<RetiredModel>,
}

/// Browser origins allowed to call the API (CORS); empty means CORS is off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// TLS on the listener; both empty means plain HTTP (TLS ends at a load balancer).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

/// The optional admin listener: `/metrics`, `/health` and `/ready` away from the API port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Empty: no admin listener. Set: `/metrics` is served there only (404 on the API port).
    #[serde(default)]
    pub listen: String,
    /// Non-empty: `/metrics` wants `Authorization: Bearer <this>` (or the admin token; 401
    /// otherwise).
    #[serde(default)]
    pub metrics_token: String,
    /// The bearer token of mutating admin calls (`POST /models/refresh`): 401 without it. Empty:
    /// those calls are refused (403), whoever asks.
    #[serde(default)]
    pub token: String,
    /// Connections the admin listener holds open at once, besides `limits.max_connections`
    /// (its own share of the descriptor limit); past it new ones get 503 at once.
    #[serde(default = "defaults::admin_max_connections")]
    pub max_connections: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: String::new(),
            metrics_token: String::new(),
            token: String::new(),
            max_connections: defaults::admin_max_connections(),
        }
    }
}

/// The probes behind `/ready` (see `readiness`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessConfig {
    /// Each Argo environment gets `GET {base}/v1/models` this often; 0: no probes, and `/ready`
    /// checks only the configuration.
    #[serde(default = "defaults::probe_interval_ms")]
    pub probe_interval_ms: u64,
    /// A probe not answered within this long counts as down.
    #[serde(default = "defaults::probe_timeout_ms")]
    pub probe_timeout_ms: u64,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            probe_interval_ms: defaults::probe_interval_ms(),
            probe_timeout_ms: defaults::probe_timeout_ms(),
        }
    }
}

/// Graceful shutdown and Pingora's zero-downtime upgrade.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM (or the hand-over of a SIGQUIT upgrade), in-flight requests and open
    /// streams get at most this long to finish; the process exits as soon as none is left.
    #[serde(default = "defaults::grace_period_s")]
    pub grace_period_s: u64,
    /// Then Pingora's runtimes get this long to stop.
    #[serde(default = "defaults::graceful_shutdown_timeout_s")]
    pub graceful_shutdown_timeout_s: u64,
    /// Unix socket through which an old process hands its listeners to a new one (`--upgrade`).
    #[serde(default = "defaults::upgrade_sock")]
    pub upgrade_sock: String,
    /// Where the process id is written at start; empty: nowhere.
    #[serde(default)]
    pub pid_file: String,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period_s: defaults::grace_period_s(),
            graceful_shutdown_timeout_s: defaults::graceful_shutdown_timeout_s(),
            upgrade_sock: defaults::upgrade_sock(),
            pid_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub environments: BTreeMap<String, String>,
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "defaults::read_timeout_ms")]
    pub read_timeout_ms: u64,
    #[serde(default = "defaults::write_timeout_ms")]
    pub write_timeout_ms: u64,
    #[serde(default = "defaults::idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
    #[serde(default)]
    pub ca_file: String,
    /// Bound on a whole buffered (non-streaming) round trip.
    #[serde(default = "defaults::total_timeout_ms")]
    pub total_timeout_ms: u64,
    /// Retries of connect failures (nothing reached Argo), with exponential backoff.
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    #[serde(default = "defaults::retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Bound on the wait for Argo's (final) response head once the request is written,
    /// streaming or not; interim (1xx) heads do not extend it.
    #[serde(default = "defaults::head_timeout_ms")]
    pub head_timeout_ms: u64,
    /// Ceiling on one buffered (non-streaming) Argo answer.
    #[serde(default = "defaults::max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// Ceiling on the bytes of all buffered Argo answers held at once, in this process.
    #[serde(default = "defaults::max_buffered_answer_bytes_total")]
    pub max_buffered_answer_bytes_total: usize,
    /// The most of that one user's answers may hold at once (0: the whole of it).
    #[serde(default = "defaults::max_buffered_answer_bytes_per_user")]
    pub max_buffered_answer_bytes_per_user: usize,
    /// Set, the environment that serves every `streamchat` call, whatever the model's own (the
    /// original bridge sent all streams to dev, "streaming is currently available via the dev
    /// endpoint only"). Empty, the default: the model's environment, since every observation
    /// after June 2026 used prod for every model, streams included (argo-api.md §C).
    #[serde(default)]
    pub streaming_env: String,
    /// The environment that serves every embedding call (the original bridge uses prod).
    /// Empty: the model's environment.
    #[serde(default = "defaults::embeddings_env")]
    pub embeddings_env: String,
    /// Texts per embedding call; larger requests are split into calls made at once.
    #[serde(default = "defaults::embed_batch_size")]
    pub embed_batch_size: usize,
    /// Per environment, the Argo API that serves models whose row names none (`native` when
    /// the environment is not listed).
    #[serde(default)]
    pub default_api: BTreeMap<String, UpstreamApi>,
    /// Argo's model lists are read at start and this often (seconds); 0: never, the table only.
    #[serde(default = "defaults::model_refresh_interval_s")]
    pub model_refresh_interval_s: u64,
    /// Refreshes of the model lists (timed or `POST /models/refresh`) start at least this long
    /// apart (milliseconds); one runs at a time, and callers that asked meanwhile share the
    /// next one.
    #[serde(default = "defaults::model_refresh_min_interval_ms")]
    pub model_refresh_min_interval_ms: u64,
    /// Largest model list read from one environment; a larger one is refused (the last list
    /// is kept, the failure counted).
    #[serde(default = "defaults::max_model_list_bytes")]
    pub max_model_list_bytes: usize,
    /// The username the model list is read as (`Authorization: Bearer`); empty: no credentials,
    /// as argo-proxy reads it.
    #[serde(default)]
    pub model_list_user: String,
    /// Each environment's host name is resolved again this often (seconds), and every address
    /// it gives is used. We know nothing of Argo's DNS (its TTLs, how many addresses its names
    /// carry, how often they change): hence a setting rather than the records' TTLs.
    #[serde(default = "defaults::dns_refresh_interval_s")]
    pub dns_refresh_interval_s: u64,
    /// An address whose connection failed is avoided this long (milliseconds) while the name
    /// has others; every address also gets a TCP connect check this often.
    #[serde(default = "defaults::address_retry_after_ms")]
    pub address_retry_after_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Tokens,
    TokenIsUsername,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// Opt-in: requests with no token, or the token `noop`, are served as this lab user (the
    /// original bridge's `--username`). Empty: every request needs a valid token.
    #[serde(default)]
    pub default_user: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "defaults::keepalive_timeout_s")]
    pub keepalive_timeout_s: u64,
    #[serde(default = "defaults::client_body_timeout_ms")]
    pub client_body_timeout_ms: u64,
    /// Per-user token bucket: sustained requests per minute (0: no limit).
    #[serde(default)]
    pub per_user_requests_per_minute: u32,
    /// Per-user bucket size: requests allowed in a burst (0: same as the per-minute rate).
    #[serde(default)]
    pub per_user_burst: u32,
    /// Per-user cap on requests in flight (0: no cap).
    #[serde(default)]
    pub per_user_max_concurrent: u32,
    /// Redis shared by every instance, so the per-user figures above hold across all of them
    /// (`redis://host:6379/0`, `redis://:password@host`, `unix:///run/redis.sock`). Empty: each
    /// instance keeps its own counts.
    #[serde(default)]
    pub redis_url: String,
    /// Longest wait for Redis on one check; past it the request is judged by this instance's
    /// own limits.
    #[serde(default = "defaults::redis_timeout_ms")]
    pub redis_timeout_ms: u64,
    /// Prefix of every key the limits keep in Redis.
    #[serde(default = "defaults::redis_key_prefix")]
    pub redis_key_prefix: String,
    /// How long a concurrency slot held in Redis outlives its instance: a live instance renews
    /// its slots every third of this, so the slots of a crashed one free themselves after it.
    #[serde(default = "defaults::redis_slot_lease_ms")]
    pub redis_slot_lease_ms: u64,
    /// After three checks in a row that Redis did not answer in time (or answered with an
    /// error), checks are judged locally this long without asking it; then one check tries it
    /// again, and each failed try doubles the wait, up to 16 times this.
    #[serde(default = "defaults::redis_backoff_ms")]
    pub redis_backoff_ms: u64,
    /// The whole request head (request line and headers) must arrive within this long of the
    /// connection opening, or of its first byte on a reused connection.
    #[serde(default = "defaults::request_head_timeout_ms")]
    pub request_head_timeout_ms: u64,
    /// Largest request head accepted (431 beyond).
    #[serde(default = "defaults::max_request_head_bytes")]
    pub max_request_head_bytes: usize,
    /// Longest request target (414 beyond).
    #[serde(default = "defaults::max_uri_bytes")]
    pub max_uri_bytes: usize,
    /// Connections per client address that have not yet made an authenticated request.
    #[serde(default = "defaults::max_unauthenticated_connections_per_address")]
    pub max_unauthenticated_connections_per_address: u32,
    /// Connections the API listener holds open at once, from every client together (503 with
    /// `Retry-After` beyond). Once three quarters are open, an address holding a sixteenth of
    /// them gets no more, so that others still get in. 0: derived from the process's open-file
    /// limit (see [`derived_max_connections`]); `Settings` always holds the number in force.
    #[serde(default)]
    pub max_connections: usize,
    /// The whole request body must arrive within this long of its head.
    #[serde(default = "defaults::client_body_total_timeout_ms")]
    pub client_body_total_timeout_ms: u64,
    /// Request bodies held in memory at once, over all connections (503 beyond).
    #[serde(default = "defaults::max_buffered_request_bytes_total")]
    pub max_buffered_request_bytes_total: usize,
    /// The most of that one user (or one client address, for requests served as the default
    /// user) may hold at once (0: the whole of it).
    #[serde(default = "defaults::max_buffered_request_bytes_per_user")]
    pub max_buffered_request_bytes_per_user: usize,
    /// A write to a streaming client that cannot go on for this long ends the stream and its
    /// Argo request.
    #[serde(default = "defaults::client_write_timeout_ms")]
    pub client_write_timeout_ms: u64,
    /// Threads for work that grows with a request or an answer past `cpu_offload_bytes`
    /// (parsing, translating, counting tokens), so that it never holds the threads that serve
    /// every connection (0: one per core).
    #[serde(default)]
    pub cpu_threads: usize,
    /// The most of those threads one user's work may hold at once (0: half of them, at least
    /// one); more of it waits for the user's own.
    #[serde(default)]
    pub cpu_threads_per_user: usize,
    /// Bodies (and answers) at least this large are worked on by those threads; smaller ones
    /// where they arrive.
    #[serde(default = "defaults::cpu_offload_bytes")]
    pub cpu_offload_bytes: usize,
    /// Prompts in one `/v1/completions` request (each is one Argo call).
    #[serde(default = "defaults::max_prompts_per_request")]
    pub max_prompts_per_request: usize,
    /// Text a prompt-mode tool-call block may hold before it is released as plain text.
    #[serde(default = "defaults::max_tool_block_bytes")]
    pub max_tool_block_bytes: usize,
}

/// Load balancers in front of the gateway, whose word on the client's address is trusted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedProxies {
    /// Their addresses or networks (`10.0.0.0/8`, `127.0.0.1`). From these, the client
    /// address is the one the balancer reports: the PROXY protocol header when
    /// `proxy_protocol` is on, else the last untrusted `X-Forwarded-For` entry.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Trusted peers open every connection with a PROXY protocol (v1 or v2) header.
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: defaults::max_body_bytes(),
            keepalive_timeout_s: defaults::keepalive_timeout_s(),
            client_body_timeout_ms: defaults::client_body_timeout_ms(),
            per_user_requests_per_minute: 0,
            per_user_burst: 0,
            per_user_max_concurrent: 0,
            redis_url: String::new(),
            redis_timeout_ms: defaults::redis_timeout_ms(),
            redis_key_prefix: defaults::redis_key_prefix(),
            redis_slot_lease_ms: defaults::redis_slot_lease_ms(),
            redis_backoff_ms: defaults::redis_backoff_ms(),
            request_head_timeout_ms: defaults::request_head_timeout_ms(),
            max_request_head_bytes: defaults::max_request_head_bytes(),
            max_uri_bytes: defaults::max_uri_bytes(),
            max_unauthenticated_connections_per_address:
                defaults::max_unauthenticated_connections_per_address(),
            max_connections: 0,
            client_body_total_timeout_ms: defaults::client_body_total_timeout_ms(),
            max_buffered_request_bytes_total: defaults::max_buffered_request_bytes_total(),
            max_buffered_request_bytes_per_user: defaults::max_buffered_request_bytes_per_user(),
            client_write_timeout_ms: defaults::client_write_timeout_ms(),
            cpu_threads: 0,
            cpu_threads_per_user: 0,
            cpu_offload_bytes: defaults::cpu_offload_bytes(),
            max_prompts_per_request: defaults::max_prompts_per_request(),
            max_tool_block_bytes: defaults::max_tool_block_bytes(),
        }
    }
}

mod defaults {
    pub fn redis_timeout_ms() -> u64 {
        50
    }
    pub fn redis_key_prefix() -> String {
        "argo-bridge:limits:".to_string()
    }
    pub fn redis_slot_lease_ms() -> u64 {
        30_000
    }
    pub fn connect_timeout_ms() -> u64 {
        5_000
    }
    pub fn read_timeout_ms() -> u64 {
        600_000
    }
    pub fn write_timeout_ms() -> u64 {
        30_000
    }
    pub fn idle_timeout_ms() -> u64 {
        60_000
    }
    pub fn total_timeout_ms() -> u64 {
        900_000
    }
    pub fn retries() -> u32 {
        2
    }
    pub fn retry_backoff_ms() -> u64 {
        100
    }
    pub fn head_timeout_ms() -> u64 {
        read_timeout_ms()
    }
    pub fn max_answer_bytes() -> usize {
        256 * 1024 * 1024
    }
    pub fn max_buffered_answer_bytes_total() -> usize {
        512 * 1024 * 1024
    }
    pub fn max_buffered_answer_bytes_per_user() -> usize {
        max_answer_bytes()
    }
    pub fn pool_size() -> usize {
        128
    }
    pub fn max_body_bytes() -> usize {
        4 * 1024 * 1024
    }
    pub fn keepalive_timeout_s() -> u64 {
        60
    }
    pub fn client_body_timeout_ms() -> u64 {
        30_000
    }
    pub fn model_refresh_interval_s() -> u64 {
        600
    }
    pub fn dns_refresh_interval_s() -> u64 {
        30
    }
    pub fn address_retry_after_ms() -> u64 {
        10_000
    }

    pub fn embeddings_env() -> String {
        "prod".into()
    }
    pub fn embed_batch_size() -> usize {
        16
    }
    pub fn request_head_timeout_ms() -> u64 {
        15_000
    }
    pub fn max_request_head_bytes() -> usize {
        64 * 1024
    }
    pub fn max_uri_bytes() -> usize {
        8 * 1024
    }
    pub fn max_unauthenticated_connections_per_address() -> u32 {
        256
    }
    pub fn admin_max_connections() -> usize {
        64
    }
    pub fn model_refresh_min_interval_ms() -> u64 {
        2_000
    }
    pub fn max_model_list_bytes() -> usize {
        4 * 1024 * 1024
    }
    pub fn redis_backoff_ms() -> u64 {
        5_000
    }
    pub fn client_body_total_timeout_ms() -> u64 {
        60_000
    }
    pub fn max_buffered_request_bytes_total() -> usize {
        256 * 1024 * 1024
    }
    pub fn max_buffered_request_bytes_per_user() -> usize {
        64 * 1024 * 1024
    }
    pub fn client_write_timeout_ms() -> u64 {
        30_000
    }
    pub fn cpu_offload_bytes() -> usize {
        64 * 1024
    }
    pub fn max_prompts_per_request() -> usize {
        16
    }
    pub fn max_tool_block_bytes() -> usize {
        256 * 1024
    }
    pub fn grace_period_s() -> u64 {
        30
    }
    pub fn graceful_shutdown_timeout_s() -> u64 {
        5
    }
    pub fn upgrade_sock() -> String {
        "/tmp/argo-bridge-upgrade.sock".into()
    }
    pub fn probe_interval_ms() -> u64 {
        5_000
    }
    pub fn probe_timeout_ms() -> u64 {
        2_000
    }
}

/// One Argo environment, its URL taken apart. Its host name is resolved while serving
/// (`upstream::AddressBook`), not here: a host that does not resolve yet must not stop the start.
#[derive(Debug, Clone)]
pub struct ArgoEnv {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix of the base URL, without a trailing slash (`/argoapi`).
    pub base_path: String,
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub threads: usize,
    pub upstream: UpstreamConfig,
    pub environments: BTreeMap<String, ArgoEnv>,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub cors: CorsConfig,
    pub tls: TlsConfig,
    pub admin: AdminConfig,
    pub readiness: ReadinessConfig,
    pub shutdown: ShutdownConfig,
    pub trusted_proxies: Vec<IpNet>,
    pub proxy_protocol: bool,
    pub models: ModelTable,
    /// What a model only Argo's live list knows gets (`model_rules`).
    pub model_rules: ModelRules,
}

impl UpstreamConfig {
    /// Where a call to `api` goes for a model of `model_env`. `streaming_env` concerns only the
    /// resource API's `streamchat`: the native endpoints stream in every environment.
    pub fn env_for<'a>(&'a self, api: Api, model_env: &'a str) -> &'a str {
        let routed = match api {
            Api::Resource(Endpoint::StreamChat) => self.streaming_env.as_str(),
            Api::Resource(Endpoint::Embed) | Api::Embeddings => self.embeddings_env.as_str(),
            _ => "",
        };
        if routed.is_empty() {
            model_env
        } else {
            routed
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
    pub fn total_timeout(&self) -> Duration {
        Duration::from_millis(self.total_timeout_ms)
    }
    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn head_timeout(&self) -> Duration {
        Duration::from_millis(self.head_timeout_ms)
    }
    pub fn dns_refresh_interval(&self) -> Duration {
        Duration::from_secs(self.dns_refresh_interval_s)
    }
    pub fn address_retry_after(&self) -> Duration {
        Duration::from_millis(self.address_retry_after_ms)
    }
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(field: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("config field `{field}`: {message}"))
}

/// Loads the file named by `path` (or `ARGO_BRIDGE_CONFIG`, or the default), applies the
/// environment, and validates.
pub fn load(
    path: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let path = path
        .map(str::to_string)
        .or_else(|| env("ARGO_BRIDGE_CONFIG"))
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("cannot read config file {path}: {e}")))?;
    let mut config = parse(&text)?;
    apply_env(&mut config, env)?;
    validate(config)
}

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        err(&field, inner)
    })
}

fn set_text(env: &dyn Fn(&str) -> Option<String>, key: &str, field: &mut String) {
    if let Some(value) = env(key) {
        *field = value;
    }
}

fn set_number<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    field: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = env(key) {
        *field = value
            .parse()
            .map_err(|_| err(key, "must be a whole number"))?;
    }
    Ok(())
}

/// `address` (`host:port`) with another port.
fn with_port(address: &str, port: u16) -> String {
    match address.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{port}"),
        None => format!("{address}:{port}"),
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn apply_env(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    set_text(env, "ARGO_BRIDGE_LISTEN", &mut config.listen);
    if let Some(port) = env("ARGO_BRIDGE_PORT") {
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| err("ARGO_BRIDGE_PORT", "must be a port number"))?;
        config.listen = with_port(&config.listen, port);
    }
    set_text(env, "ARGO_BRIDGE_ADMIN_LISTEN", &mut config.admin.listen);
    // The original bridge's name, then ours.
    set_text(env, "METRICS_TOKEN", &mut config.admin.metrics_token);
    set_text(
        env,
        "ARGO_BRIDGE_METRICS_TOKEN",
        &mut config.admin.metrics_token,
    );
    set_text(env, "ARGO_BRIDGE_ADMIN_TOKEN", &mut config.admin.token);
    set_number(
        env,
        "ARGO_BRIDGE_ADMIN_MAX_CONNECTIONS",
        &mut config.admin.max_connections,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS",
        &mut config.readiness.probe_interval_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS",
        &mut config.readiness.probe_timeout_ms,
    )?;
    set_text(
        env,
        "ARGO_BRIDGE_UPGRADE_SOCK",
        &mut config.shutdown.upgrade_sock,
    );
    set_text(env, "ARGO_BRIDGE_PID_FILE", &mut config.shutdown.pid_file);
    set_text(env, "ARGO_BRIDGE_TLS_CERT", &mut config.tls.cert_file);
    set_text(env, "ARGO_BRIDGE_TLS_KEY", &mut config.tls.key_file);
    set_text(env, "ARGO_BRIDGE_CA_FILE", &mut config.upstream.ca_file);
    set_number(env, "ARGO_BRIDGE_THREADS", &mut config.threads)?;
    set_number(
        env,
        "ARGO_BRIDGE_GRACE_PERIOD_S",
        &mut config.shutdown.grace_period_s,
    )?;
    let upstream = &mut config.upstream;
    set_number(
        env,
        "ARGO_BRIDGE_CONNECT_TIMEOUT_MS",
        &mut upstream.connect_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_READ_TIMEOUT_MS",
        &mut upstream.read_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_TOTAL_TIMEOUT_MS",
        &mut upstream.total_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_HEAD_TIMEOUT_MS",
        &mut upstream.head_timeout_ms,
    )?;
    set_number(env, "ARGO_BRIDGE_RETRIES", &mut upstream.retries)?;
    set_text(
        env,
        "ARGO_BRIDGE_STREAMING_ENV",
        &mut upstream.streaming_env,
    );
    set_text(
        env,
        "ARGO_BRIDGE_EMBEDDINGS_ENV",
        &mut upstream.embeddings_env,
    );
    set_number(
        env,
        "ARGO_BRIDGE_EMBED_BATCH_SIZE",
        &mut upstream.embed_batch_size,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MODEL_REFRESH_INTERVAL_S",
        &mut upstream.model_refresh_interval_s,
    )?;
    set_text(
        env,
        "ARGO_BRIDGE_MODEL_LIST_USER",
        &mut upstream.model_list_user,
    );
    set_number(
        env,
        "ARGO_BRIDGE_MODEL_REFRESH_MIN_INTERVAL_MS",
        &mut upstream.model_refresh_min_interval_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_MODEL_LIST_BYTES",
        &mut upstream.max_model_list_bytes,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_DNS_REFRESH_INTERVAL_S",
        &mut upstream.dns_refresh_interval_s,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_ADDRESS_RETRY_AFTER_MS",
        &mut upstream.address_retry_after_ms,
    )?;
    if let Some(api) = env("ARGO_BRIDGE_UPSTREAM_API") {
        let api = match api.trim() {
            "native" => UpstreamApi::Native,
            "resource" => UpstreamApi::Resource,
            _ => {
                return Err(err(
                    "ARGO_BRIDGE_UPSTREAM_API",
                    "must be native or resource",
                ))
            }
        };
        let names: Vec<String> = upstream.environments.keys().cloned().collect();
        upstream.default_api = names.into_iter().map(|name| (name, api)).collect();
    }
    set_number(
        env,
        "ARGO_BRIDGE_MAX_ANSWER_BYTES",
        &mut upstream.max_answer_bytes,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES",
        &mut upstream.max_buffered_answer_bytes_total,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES_PER_USER",
        &mut upstream.max_buffered_answer_bytes_per_user,
    )?;
    let limits = &mut config.limits;
    set_number(
        env,
        "ARGO_BRIDGE_CLIENT_BODY_TIMEOUT_MS",
        &mut limits.client_body_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_BODY_BYTES",
        &mut limits.max_body_bytes,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_RATE_LIMIT_RPM",
        &mut limits.per_user_requests_per_minute,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_RATE_LIMIT_BURST",
        &mut limits.per_user_burst,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_CONCURRENT_PER_USER",
        &mut limits.per_user_max_concurrent,
    )?;
    set_text(env, "ARGO_BRIDGE_REDIS_URL", &mut limits.redis_url);
    set_number(
        env,
        "ARGO_BRIDGE_REDIS_TIMEOUT_MS",
        &mut limits.redis_timeout_ms,
    )?;
    set_text(
        env,
        "ARGO_BRIDGE_REDIS_KEY_PREFIX",
        &mut limits.redis_key_prefix,
    );
    set_number(
        env,
        "ARGO_BRIDGE_REDIS_SLOT_LEASE_MS",
        &mut limits.redis_slot_lease_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_REDIS_BACKOFF_MS",
        &mut limits.redis_backoff_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_REQUEST_HEAD_TIMEOUT_MS",
        &mut limits.request_head_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_UNAUTHENTICATED_CONNECTIONS",
        &mut limits.max_unauthenticated_connections_per_address,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_CONNECTIONS",
        &mut limits.max_connections,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_CLIENT_BODY_TOTAL_TIMEOUT_MS",
        &mut limits.client_body_total_timeout_ms,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES",
        &mut limits.max_buffered_request_bytes_total,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES_PER_USER",
        &mut limits.max_buffered_request_bytes_per_user,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_CLIENT_WRITE_TIMEOUT_MS",
        &mut limits.client_write_timeout_ms,
    )?;
    set_number(env, "ARGO_BRIDGE_CPU_THREADS", &mut limits.cpu_threads)?;
    set_number(
        env,
        "ARGO_BRIDGE_CPU_THREADS_PER_USER",
        &mut limits.cpu_threads_per_user,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_CPU_OFFLOAD_BYTES",
        &mut limits.cpu_offload_bytes,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_PROMPTS_PER_REQUEST",
        &mut limits.max_prompts_per_request,
    )?;
    set_number(
        env,
        "ARGO_BRIDGE_MAX_TOOL_BLOCK_BYTES",
        &mut limits.max_tool_block_bytes,
    )?;
    if let Some(addresses) = env("ARGO_BRIDGE_TRUSTED_PROXIES") {
        config.trusted_proxies.addresses = split_list(&addresses);
    }
    if let Some(on) = env("ARGO_BRIDGE_PROXY_PROTOCOL") {
        config.trusted_proxies.proxy_protocol = matches!(on.trim(), "1" | "true" | "on" | "yes");
    }
    if let Some(origins) = env("ARGO_BRIDGE_CORS_ORIGINS") {
        config.cors.allowed_origins = split_list(&origins);
    }
    let names: Vec<String> = config.upstream.environments.keys().cloned().collect();
    for name in names {
        if let Some(url) = env(&format!(
            "ARGO_BRIDGE_ARGO_{}_URL",
            name.to_ascii_uppercase()
        )) {
            config.upstream.environments.insert(name, url);
        }
    }
    set_text(
        env,
        "ARGO_BRIDGE_DEFAULT_USER",
        &mut config.auth.default_user,
    );
    if let Some(mode) = env("ARGO_BRIDGE_AUTH_MODE") {
        config.auth.mode = match mode.as_str() {
            "tokens" => AuthMode::Tokens,
            "token_is_username" => AuthMode::TokenIsUsername,
            _ => {
                return Err(err(
                    "ARGO_BRIDGE_AUTH_MODE",
                    "must be `tokens` or `token_is_username`",
                ))
            }
        };
    }
    if let Some(tokens) = env("ARGO_BRIDGE_TOKENS") {
        for pair in tokens
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (token, user) = pair.split_once('=').ok_or_else(|| {
                err(
                    "ARGO_BRIDGE_TOKENS",
                    "entries must look like token=username",
                )
            })?;
            config
                .auth
                .tokens
                .insert(token.trim().to_string(), user.trim().to_string());
        }
    }
    Ok(())
}

pub fn validate(mut config: Config) -> Result<Settings, ConfigError> {
    if config.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "listen",
            format!("`{}` is not an address like 0.0.0.0:8080", config.listen),
        ));
    }
    if !config.admin.listen.is_empty() && config.admin.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "admin.listen",
            format!(
                "`{}` is not an address like 0.0.0.0:9090",
                config.admin.listen
            ),
        ));
    }
    // Two `:0` addresses are two free ports, not one.
    let takes_a_free_port = config.listen.ends_with(":0");
    if config.admin.listen == config.listen && !takes_a_free_port {
        return Err(err("admin.listen", "must differ from `listen`"));
    }
    check_connection_caps(&mut config)?;
    if config.upstream.max_model_list_bytes == 0 {
        return Err(err(
            "upstream.max_model_list_bytes",
            "must be greater than 0",
        ));
    }
    if config.readiness.probe_interval_ms > 0 && config.readiness.probe_timeout_ms == 0 {
        return Err(err("readiness.probe_timeout_ms", "must be greater than 0"));
    }
    let mut environments = BTreeMap::new();
    for (name, url) in &config.upstream.environments {
        let env = parse_base_url(url)
            .map_err(|message| err(&format!("upstream.environments.{name}"), message))?;
        environments.insert(name.clone(), env);
    }
    for (field, name) in [
        ("upstream.streaming_env", &config.upstream.streaming_env),
        ("upstream.embeddings_env", &config.upstream.embeddings_env),
    ] {
        if !name.is_empty() && !environments.contains_key(name) {
            return Err(err(
                field,
                format!("`{name}` is not one of upstream.environments"),
            ));
        }
    }
    for (field, value) in [
        (
            "upstream.dns_refresh_interval_s",
            config.upstream.dns_refresh_interval_s,
        ),
        (
            "upstream.address_retry_after_ms",
            config.upstream.address_retry_after_ms,
        ),
    ] {
        if value == 0 {
            return Err(err(field, "must be greater than 0"));
        }
    }
    if config.upstream.embed_batch_size == 0 {
        return Err(err("upstream.embed_batch_size", "must be at least 1"));
    }
    for name in config.upstream.default_api.keys() {
        if !environments.contains_key(name) {
            return Err(err(
                "upstream.default_api",
                format!("`{name}` is not one of upstream.environments"),
            ));
        }
    }
    for model in &mut config.models {
        if model.upstream.is_none() {
            let default = config.upstream.default_api.get(&model.env).copied();
            model.upstream = Some(default.unwrap_or_default());
        }
    }
    for (index, model) in config.models.iter().enumerate() {
        if !environments.contains_key(&model.env) {
            return Err(err(
                &format!("models[{index}].env"),
                format!(
                    "`{}` (model {}) is not one of upstream.environments",
                    model.env, model.name
                ),
            ));
        }
    }
    let models = ModelTable::new(config.models)
        .and_then(|table| table.with_retired(config.retired_models))
        .map_err(|e| ConfigError(format!("config field {e}")))?;
    let model_rules = ModelRules::new(config.model_rules)
        .map_err(|e| ConfigError(format!("config field {e}")))?;
    for (token, user) in &config.auth.tokens {
        if token.len() < 8 || !is_username(user) {
            return Err(err(
                "auth.tokens",
                "tokens need at least 8 characters and map to a plain username",
            ));
        }
    }
    if !config.auth.default_user.is_empty() {
        if !is_username(&config.auth.default_user) {
            return Err(err("auth.default_user", "must be a plain lab username"));
        }
        log::warn!(
            "auth.default_user is set: requests with no token (or the token `noop`) are served \
             as the configured default user; use this only where every client may act as that user"
        );
    }
    if config.auth.mode == AuthMode::Tokens
        && config.auth.tokens.is_empty()
        && config.auth.default_user.is_empty()
    {
        log::warn!(
            "auth.tokens is empty: every request will be refused until tokens are configured"
        );
    }
    if config.tls.cert_file.is_empty() != config.tls.key_file.is_empty() {
        return Err(err(
            "tls",
            "set both `cert_file` and `key_file`, or neither",
        ));
    }
    for (field, path) in [
        ("tls.cert_file", &config.tls.cert_file),
        ("tls.key_file", &config.tls.key_file),
        ("upstream.ca_file", &config.upstream.ca_file),
    ] {
        if !path.is_empty() && !std::path::Path::new(path).is_file() {
            return Err(err(field, format!("`{path}` is not a readable file")));
        }
    }
    if config.limits.max_body_bytes == 0 {
        return Err(err("limits.max_body_bytes", "must be greater than 0"));
    }
    if config.limits.max_buffered_request_bytes_total < config.limits.max_body_bytes {
        return Err(err(
            "limits.max_buffered_request_bytes_total",
            "must be at least limits.max_body_bytes",
        ));
    }
    let per_user = config.limits.max_buffered_request_bytes_per_user;
    if per_user != 0 && per_user < config.limits.max_body_bytes {
        return Err(err(
            "limits.max_buffered_request_bytes_per_user",
            "must be 0 (no share) or at least limits.max_body_bytes",
        ));
    }
    let per_user = config.upstream.max_buffered_answer_bytes_per_user;
    if per_user != 0 && per_user < config.upstream.max_answer_bytes {
        return Err(err(
            "upstream.max_buffered_answer_bytes_per_user",
            "must be 0 (no share) or at least upstream.max_answer_bytes",
        ));
    }
    if config.limits.client_write_timeout_ms == 0 {
        return Err(err(
            "limits.client_write_timeout_ms",
            "must be greater than 0",
        ));
    }
    crate::limits::check_redis(&config.limits).map_err(|(field, message)| err(field, message))?;
    let trusted_proxies = config
        .trusted_proxies
        .addresses
        .iter()
        .enumerate()
        .map(|(index, text)| {
            IpNet::parse(text).ok_or_else(|| {
                err(
                    &format!("trusted_proxies.addresses[{index}]"),
                    format!("`{text}` is not an address or network like 10.0.0.0/8"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let threads = if config.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        config.threads
    };
    Ok(Settings {
        listen: config.listen,
        threads,
        upstream: config.upstream,
        environments,
        auth: config.auth,
        limits: config.limits,
        cors: config.cors,
        tls: config.tls,
        admin: config.admin,
        readiness: config.readiness,
        shutdown: config.shutdown,
        trusted_proxies,
        proxy_protocol: config.trusted_proxies.proxy_protocol,
        models,
        model_rules,
    })
}

/// An address or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u32,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<IpNet> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(IpNet { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => same_prefix(
                u32::from(net).into(),
                u32::from(addr).into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                same_prefix(u128::from(net), u128::from(addr), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Fills in `limits.max_connections` when it is 0, and checks both connection caps.
fn check_connection_caps(config: &mut Config) -> Result<(), ConfigError> {
    let admin = match config.admin.listen.is_empty() {
        true => 0,
        false => config.admin.max_connections,
    };
    if !config.admin.listen.is_empty() && admin == 0 {
        return Err(err("admin.max_connections", "must be greater than 0"));
    }
    if config.limits.max_connections == 0 {
        config.limits.max_connections = derived_max_connections(open_files_limit(), admin);
    }
    Ok(())
}

/// Descriptors kept for everything but client and Argo connections: listeners, the runtimes'
/// epoll and event descriptors, log files, Redis, name lookups, the tokenizers' files.
pub const RESERVED_DESCRIPTORS: usize = 64;

/// The API's connection cap when `limits.max_connections` is 0: what the open-file limit
/// leaves after [`RESERVED_DESCRIPTORS`] and the admin listener's cap, halved, because each
/// client connection may hold a connection to Argo while its request runs.
pub fn derived_max_connections(open_files: usize, admin_connections: usize) -> usize {
    let left = open_files.saturating_sub(RESERVED_DESCRIPTORS + admin_connections);
    (left / 2).max(16)
}

/// The process's soft limit on open files (`ulimit -n`, `RLIMIT_NOFILE`), read from
/// `/proc/self/limits`; 1024, the usual default, where that cannot be read.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| soft_open_files(&limits))
        .unwrap_or(1024)
}

/// The soft `Max open files` of a `/proc/<pid>/limits` text (`None` when unlimited or absent).
fn soft_open_files(limits: &str) -> Option<usize> {
    let values = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    values.split_whitespace().next()?.parse().ok()
}

fn same_prefix(a: u128, b: u128, prefix: u32, bits: u32) -> bool {
    let shift = bits - prefix;
    shift >= bits || (a >> shift) == (b >> shift)
}

/// Lab usernames: short, and nothing that could smuggle JSON or headers.
pub fn is_username(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

fn parse_base_url(url: &str) -> Result<ArgoEnv, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("`{url}` must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = split_host_port(authority, default_port)?;
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    Ok(ArgoEnv {
        tls,
        host,
        port,
        base_path: path.trim_end_matches('/').to_string(),
    })
}

impl ArgoEnv {
    /// Resolves the host now, blocking: for `check-config` and the start, not for serving.
    pub fn resolve_now(&self) -> Result<Vec<SocketAddr>, String> {
        let addresses = resolve_host(&self.host, self.port).map_err(|e| e.to_string())?;
        match addresses.is_empty() {
            true => Err("no addresses".to_string()),
            false => Ok(addresses),
        }
    }
}

/// The system resolver (`getaddrinfo`), one lookup at a time in the whole process. Lookups are
/// rare (at start and every `dns_refresh_interval_s` per environment), and resolvers loaded
/// into the process are not all safe to call from several threads at once: nss_wrapper, which
/// `tests/dns.rs` preloads, corrupted the heap when two environments resolved together.
pub fn resolve_host(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((host, port).to_socket_addrs()?.collect())
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (
            host,
            port.parse()
                .map_err(|_| format!("`{port}` is not a port number"))?,
        ),
        _ => (authority, default_port),
    };
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn shipped() -> Config {
        parse(&std::fs::read_to_string(DEFAULT_PATH).unwrap()).unwrap()
    }

    #[test]
    fn model_rules_are_checked_at_load() {
        let mut config = shipped();
        let everything_claude = config.model_rules[2].clone();
        assert_eq!(everything_claude.argo_id, "claude*");
        config.model_rules.insert(0, everything_claude);
        let error = validate(config).unwrap_err().0;
        assert!(
            error.contains("model_rules[1]") && error.contains("never applies"),
            "{error}"
        );
    }

    #[test]
    fn shipped_config_is_valid_and_covers_the_spec_models() {
        use argo_filters::models::{Sampling, Thinking};
        // The shipped hosts resolve only inside the lab network: validation does not resolve.
        let settings = validate(shipped()).unwrap();
        let expected = [
            ("gpt-4o", "gpt4o"),
            ("gpt-4.1", "gpt41"),
            ("gpt-4.1-mini", "gpt41mini"),
            ("gpt-4.1-nano", "gpt41nano"),
            ("o1", "gpto1"),
            ("o3", "gpto3"),
            ("o3-mini", "gpto3mini"),
            ("gpt-o3-mini", "gpto3mini"),
            ("o4-mini", "gpto4mini"),
            ("gpt-5", "gpt5"),
            ("gpt-5-mini", "gpt5mini"),
            ("gpt-5-nano", "gpt5nano"),
            ("gpt-5.1", "gpt51"),
            ("gpt-5.2", "gpt52"),
            ("gpt-5.4", "gpt54"),
            ("gpt-5.4-nano", "gpt54nano"),
            ("gpt-5.5", "gpt55"),
            ("gpt-5.4-mini", "gpt54mini"),
            ("gpt-5.6-sol", "gpt56sol"),
            ("gpt-5.6-terra", "gpt56terra"),
            ("gpt-5.6-luna", "gpt56luna"),
            ("gemini-2.5-pro", "gemini25pro"),
            ("gemini-2.5-flash", "gemini25flash"),
            ("gemini-3.5-flash", "gemini35flash"),
            ("gemini-3.1-flash-lite", "gemini31flashlite"),
            ("claude-opus-5", "claudeopus5"),
            ("claude-sonnet-5", "claudesonnet5"),
            ("claude-opus-4.8", "claudeopus48"),
            ("claude-4.8-opus", "claudeopus48"),
            ("claude-opus-4.7", "claudeopus47"),
            ("claude-opus-4.6", "claudeopus46"),
            ("claude-opus-4.5", "claudeopus45"),
            ("claude-4.5-opus", "claudeopus45"),
            ("claude-opus-4.1", "claudeopus41"),
            ("claude-sonnet-4.6", "claudesonnet46"),
            ("claude-sonnet-4.5", "claudesonnet45"),
            ("claude-haiku-4.5", "claudehaiku45"),
            ("claude-4.5-haiku", "claudehaiku45"),
            ("text-embedding-3-small", "v3small"),
            ("text-embedding-3-large", "v3large"),
            ("text-embedding-ada-002", "ada002"),
        ];
        for (name, argo_id) in expected {
            for spelling in [
                name.to_string(),
                argo_id.to_string(),
                format!("argo:{}", name.to_uppercase()),
            ] {
                let model = settings
                    .models
                    .resolve(&spelling)
                    .unwrap_or_else(|| panic!("{spelling} missing"));
                assert_eq!(model.argo_id, argo_id);
            }
        }
        // Argo's live list of September 2026 (argo-api.md §C): 37 models, four aliases above.
        assert_eq!(settings.models.models().len(), expected.len() - 4);
        assert_eq!(settings.models.models().len(), 37);
        // Every observation since June 2026 used prod for every model, streams included.
        assert!(settings.models.environments().all(|env| env == "prod"));
        assert_eq!(settings.upstream.streaming_env, "");
        for name in ["claude-sonnet-5", "claude-opus-5", "claude-opus-4.8"] {
            let model = settings.models.resolve(name).unwrap();
            assert_eq!(model.sampling, Sampling::None, "{name}");
            assert_eq!(model.thinking, Thinking::Adaptive, "{name}");
        }
        for name in [
            "gpt-5.6-sol",
            "gpt-5.6-terra",
            "gpt-5.6-luna",
            "gpt-5.4-mini",
        ] {
            let model = settings.models.resolve(name).unwrap();
            assert!(
                model.reasoning && model.sampling == Sampling::None,
                "{name}"
            );
        }
        assert!(settings.model_rules.find("claudesonnet51").is_some());
        assert!(settings.models.resolve("o3").unwrap().reasoning);
        for retired in [
            "gpt-4",
            "gpt35",
            "claude-sonnet-4",
            "o1-mini",
            "gpt-4o-latest",
        ] {
            let error = settings.models.lookup(retired).unwrap_err();
            assert_eq!(error.status, 404, "{retired}");
            assert!(error.message.contains("retired"), "{}", error.message);
        }
    }

    #[test]
    fn environment_overrides_listen_urls_and_tokens() {
        let mut config = shipped();
        let env = |key: &str| match key {
            "ARGO_BRIDGE_LISTEN" => Some("127.0.0.1:9999".to_string()),
            "ARGO_BRIDGE_ARGO_PROD_URL" => Some("http://127.0.0.1:7001/base/".to_string()),
            "ARGO_BRIDGE_ARGO_DEV_URL" | "ARGO_BRIDGE_ARGO_TEST_URL" => {
                Some("http://127.0.0.1:7002".to_string())
            }
            "ARGO_BRIDGE_TOKENS" => Some("secret-token-1=alice, secret-token-2=bob".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let settings = validate(config).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:9999");
        let prod = &settings.environments["prod"];
        assert_eq!(
            (prod.tls, prod.port, prod.base_path.as_str()),
            (false, 7001, "/base")
        );
        assert_eq!(settings.auth.tokens["secret-token-2"], "bob");
        assert!(settings.admin.listen.is_empty());
        assert_eq!(settings.shutdown.grace_period_s, 30);
    }

    #[test]
    fn argos_names_are_resolved_again_on_settings_of_their_own() {
        let mut config = shipped();
        config.upstream.environments.insert(
            "prod".into(),
            "https://argo-bridge-test.invalid/argoapi".into(),
        );
        let upstream = validate(config.clone()).unwrap().upstream;
        assert_eq!(
            (
                upstream.dns_refresh_interval_s,
                upstream.address_retry_after_ms
            ),
            (30, 10_000)
        );
        let env = |key: &str| match key {
            "ARGO_BRIDGE_DNS_REFRESH_INTERVAL_S" => Some("5".to_string()),
            "ARGO_BRIDGE_ADDRESS_RETRY_AFTER_MS" => Some("0".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        assert_eq!(config.upstream.dns_refresh_interval_s, 5);
        let error = validate(config).unwrap_err().to_string();
        assert!(error.contains("upstream.address_retry_after_ms"), "{error}");
    }

    #[test]
    fn shares_timeouts_and_the_cpu_pool_have_defaults_the_environment_overrides() {
        let mut config = shipped();
        let settings = validate(config.clone()).unwrap();
        let limits = &settings.limits;
        assert_eq!(limits.max_buffered_request_bytes_per_user, 64 * 1024 * 1024);
        assert_eq!(limits.client_write_timeout_ms, 30_000);
        assert_eq!(
            (
                limits.cpu_threads,
                limits.cpu_threads_per_user,
                limits.cpu_offload_bytes
            ),
            (0, 0, 64 * 1024)
        );
        assert_eq!(
            settings.upstream.max_buffered_answer_bytes_per_user,
            256 * 1024 * 1024
        );
        let env = |key: &str| match key {
            "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES_PER_USER" => Some("8388608".to_string()),
            "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES_PER_USER" => Some("0".to_string()),
            "ARGO_BRIDGE_CLIENT_WRITE_TIMEOUT_MS" => Some("2000".to_string()),
            "ARGO_BRIDGE_CPU_THREADS" => Some("4".to_string()),
            "ARGO_BRIDGE_CPU_THREADS_PER_USER" => Some("1".to_string()),
            "ARGO_BRIDGE_CPU_OFFLOAD_BYTES" => Some("1024".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let settings = validate(config.clone()).unwrap();
        let limits = &settings.limits;
        assert_eq!(limits.max_buffered_request_bytes_per_user, 8 * 1024 * 1024);
        assert_eq!(settings.upstream.max_buffered_answer_bytes_per_user, 0);
        assert_eq!(limits.client_write_timeout_ms, 2000);
        assert_eq!(
            (
                limits.cpu_threads,
                limits.cpu_threads_per_user,
                limits.cpu_offload_bytes
            ),
            (4, 1, 1024)
        );
        // A share smaller than one body (or one answer) could never be used whole.
        let mut small = config.clone();
        small.limits.max_buffered_request_bytes_per_user = 1024;
        let error = validate(small).unwrap_err().to_string();
        assert!(
            error.contains("limits.max_buffered_request_bytes_per_user"),
            "{error}"
        );
        config.upstream.max_buffered_answer_bytes_per_user = 1024;
        let error = validate(config).unwrap_err().to_string();
        assert!(
            error.contains("upstream.max_buffered_answer_bytes_per_user"),
            "{error}"
        );
    }

    #[test]
    fn shared_limits_are_off_by_default_and_set_by_the_environment() {
        let mut config = shipped();
        for url in config.upstream.environments.values_mut() {
            *url = "http://127.0.0.1:9".into();
        }
        let limits = validate(config.clone()).unwrap().limits;
        assert!(limits.redis_url.is_empty());
        assert_eq!(limits.redis_timeout_ms, 50);
        assert_eq!(limits.redis_key_prefix, "argo-bridge:limits:");
        assert_eq!(limits.redis_slot_lease_ms, 30_000);
        let env = |key: &str| match key {
            "ARGO_BRIDGE_REDIS_URL" => Some("redis://127.0.0.1:6379/2".to_string()),
            "ARGO_BRIDGE_REDIS_TIMEOUT_MS" => Some("20".to_string()),
            "ARGO_BRIDGE_REDIS_KEY_PREFIX" => Some("lab:".to_string()),
            "ARGO_BRIDGE_REDIS_SLOT_LEASE_MS" => Some("5000".to_string()),
            "ARGO_BRIDGE_RATE_LIMIT_RPM" => Some("30".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let limits = validate(config.clone()).unwrap().limits;
        assert_eq!(limits.redis_url, "redis://127.0.0.1:6379/2");
        assert_eq!(limits.redis_timeout_ms, 20);
        assert_eq!(limits.redis_key_prefix, "lab:");
        assert_eq!(limits.redis_slot_lease_ms, 5000);
        assert_eq!(limits.per_user_requests_per_minute, 30);
        config.limits.redis_url = "mysql://:secret@db".into();
        let error = validate(config).unwrap_err().to_string();
        assert!(error.contains("limits.redis_url"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn environment_sets_the_admin_listener_and_shutdown() {
        let mut config = shipped();
        for url in config.upstream.environments.values_mut() {
            *url = "http://127.0.0.1:9".into();
        }
        let env = |key: &str| match key {
            "ARGO_BRIDGE_ADMIN_LISTEN" => Some("127.0.0.1:9102".to_string()),
            "ARGO_BRIDGE_GRACE_PERIOD_S" => Some("7".to_string()),
            "ARGO_BRIDGE_UPGRADE_SOCK" => Some("/run/x.sock".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let settings = validate(config.clone()).unwrap();
        assert_eq!(settings.admin.listen, "127.0.0.1:9102");
        assert_eq!(settings.shutdown.grace_period_s, 7);
        assert_eq!(settings.shutdown.upgrade_sock, "/run/x.sock");
        config.admin.listen = "nowhere".into();
        assert!(validate(config).unwrap_err().0.contains("admin.listen"));
    }

    #[test]
    fn readiness_probes_and_the_metrics_token_come_from_file_or_environment() {
        let mut config = shipped();
        for url in config.upstream.environments.values_mut() {
            *url = "http://127.0.0.1:9".into();
        }
        let settings = validate(config.clone()).unwrap();
        assert_eq!(settings.readiness.probe_interval_ms, 5_000);
        assert_eq!(settings.readiness.probe_timeout_ms, 2_000);
        assert!(settings.admin.metrics_token.is_empty());
        let original = |key: &str| (key == "METRICS_TOKEN").then(|| "from-the-original".into());
        let mut with_original = config.clone();
        apply_env(&mut with_original, &original).unwrap();
        assert_eq!(with_original.admin.metrics_token, "from-the-original");
        let env = |key: &str| match key {
            "METRICS_TOKEN" => Some("from-the-original".to_string()),
            "ARGO_BRIDGE_METRICS_TOKEN" => Some("ours-wins".to_string()),
            "ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS" => Some("250".to_string()),
            "ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS" => Some("100".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let settings = validate(config.clone()).unwrap();
        assert_eq!(settings.admin.metrics_token, "ours-wins");
        assert_eq!(settings.readiness.probe_interval_ms, 250);
        assert_eq!(settings.readiness.probe_timeout_ms, 100);
        config.readiness.probe_timeout_ms = 0;
        let error = validate(config).unwrap_err().to_string();
        assert!(error.contains("readiness.probe_timeout_ms"), "{error}");
    }

    #[test]
    fn the_connection_cap_leaves_room_for_argo_and_the_admin_port() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1100                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1100));
        assert_eq!(soft_open_files("Max processes 10 10 processes\n"), None);
        // 1,100 descriptors: 64 kept, 64 for the admin port, half the rest for Argo.
        assert_eq!(derived_max_connections(1100, 64), 486);
        assert_eq!(derived_max_connections(1024, 0), 480);
        assert_eq!(derived_max_connections(100, 64), 16);
        let mut config = shipped();
        for url in config.upstream.environments.values_mut() {
            *url = "http://127.0.0.1:9".into();
        }
        let derived = validate(config.clone()).unwrap().limits.max_connections;
        assert_eq!(
            derived,
            derived_max_connections(open_files_limit(), 0),
            "no admin listener in the shipped file"
        );
        let env = |key: &str| match key {
            "ARGO_BRIDGE_MAX_CONNECTIONS" => Some("120".to_string()),
            "ARGO_BRIDGE_ADMIN_LISTEN" => Some("127.0.0.1:9090".to_string()),
            "ARGO_BRIDGE_ADMIN_MAX_CONNECTIONS" => Some("0".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let error = validate(config.clone()).unwrap_err().to_string();
        assert!(error.contains("admin.max_connections"), "{error}");
        config.admin.max_connections = 8;
        assert_eq!(validate(config).unwrap().limits.max_connections, 120);
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert_eq!(IpNet::parse("10.0.0.0/33"), None);
        assert_eq!(IpNet::parse("nonsense"), None);
    }

    #[test]
    fn bad_config_names_the_field() {
        let base = std::fs::read_to_string(DEFAULT_PATH).unwrap();
        let cases = [
            (
                base.replace("listen: \"0.0.0.0:8080\"", "listen: \"nowhere\""),
                "`listen`",
            ),
            (
                base.replace("connect_timeout_ms: 5000", "connect_timeout_ms: soon"),
                "upstream.connect_timeout_ms",
            ),
            (
                base.replace("family: anthropic", "family: mystery"),
                "models[",
            ),
            (
                base.replace(
                    "prod: \"https://apps.inside.anl.gov/argoapi\"",
                    "prod: \"ftp://x\"",
                ),
                "upstream.environments.prod",
            ),
            (base.replace("mode: tokens", "mode: whatever"), "auth.mode"),
            (base.replace("limits:", "limitz:"), "limitz"),
        ];
        for (text, field) in cases {
            let result = parse(&text).and_then(|mut config| {
                for (name, url) in config.upstream.environments.iter_mut() {
                    if name != "prod" || !url.starts_with("ftp") {
                        *url = "http://127.0.0.1:9".into();
                    }
                }
                validate(config)
            });
            let message = result.err().map(|e| e.0).unwrap_or_default();
            assert!(message.contains(field), "expected {field} in: {message}");
        }
        let _ = load(Some("/nonexistent.yaml"), &no_env).err().unwrap();
    }
}
