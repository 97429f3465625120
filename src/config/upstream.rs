//! The `upstream` section: Argo's environments (their URLs taken apart here, resolved while
//! serving), timeouts, retries, answer sizes, which environment and API serve what, and the
//! model lists' refresh.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use argo_filters::models::UpstreamApi;
use serde::Deserialize;

use super::fields::{err, set_number, set_text, ConfigError};

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

impl UpstreamConfig {
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

    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_text(env, "ARGO_BRIDGE_CA_FILE", &mut self.ca_file);
        set_number(
            env,
            "ARGO_BRIDGE_CONNECT_TIMEOUT_MS",
            &mut self.connect_timeout_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_READ_TIMEOUT_MS",
            &mut self.read_timeout_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_TOTAL_TIMEOUT_MS",
            &mut self.total_timeout_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_HEAD_TIMEOUT_MS",
            &mut self.head_timeout_ms,
        )?;
        set_number(env, "ARGO_BRIDGE_RETRIES", &mut self.retries)?;
        set_text(env, "ARGO_BRIDGE_STREAMING_ENV", &mut self.streaming_env);
        set_text(env, "ARGO_BRIDGE_EMBEDDINGS_ENV", &mut self.embeddings_env);
        set_number(
            env,
            "ARGO_BRIDGE_EMBED_BATCH_SIZE",
            &mut self.embed_batch_size,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MODEL_REFRESH_INTERVAL_S",
            &mut self.model_refresh_interval_s,
        )?;
        set_text(
            env,
            "ARGO_BRIDGE_MODEL_LIST_USER",
            &mut self.model_list_user,
        );
        set_number(
            env,
            "ARGO_BRIDGE_MODEL_REFRESH_MIN_INTERVAL_MS",
            &mut self.model_refresh_min_interval_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_MODEL_LIST_BYTES",
            &mut self.max_model_list_bytes,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_DNS_REFRESH_INTERVAL_S",
            &mut self.dns_refresh_interval_s,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_ADDRESS_RETRY_AFTER_MS",
            &mut self.address_retry_after_ms,
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
            let names: Vec<String> = self.environments.keys().cloned().collect();
            self.default_api = names.into_iter().map(|name| (name, api)).collect();
        }
        set_number(
            env,
            "ARGO_BRIDGE_MAX_ANSWER_BYTES",
            &mut self.max_answer_bytes,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES",
            &mut self.max_buffered_answer_bytes_total,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_BUFFERED_ANSWERS_BYTES_PER_USER",
            &mut self.max_buffered_answer_bytes_per_user,
        )?;
        let names: Vec<String> = self.environments.keys().cloned().collect();
        for name in names {
            if let Some(url) = env(&format!(
                "ARGO_BRIDGE_ARGO_{}_URL",
                name.to_ascii_uppercase()
            )) {
                self.environments.insert(name, url);
            }
        }
        Ok(())
    }

    /// Checks the section; its environments taken apart.
    pub fn validate(&self) -> Result<BTreeMap<String, ArgoEnv>, ConfigError> {
        if self.max_model_list_bytes == 0 {
            return Err(err(
                "upstream.max_model_list_bytes",
                "must be greater than 0",
            ));
        }
        let mut environments = BTreeMap::new();
        for (name, url) in &self.environments {
            let env = parse_base_url(url)
                .map_err(|message| err(&format!("upstream.environments.{name}"), message))?;
            environments.insert(name.clone(), env);
        }
        for (field, name) in [
            ("upstream.streaming_env", &self.streaming_env),
            ("upstream.embeddings_env", &self.embeddings_env),
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
                self.dns_refresh_interval_s,
            ),
            (
                "upstream.address_retry_after_ms",
                self.address_retry_after_ms,
            ),
        ] {
            if value == 0 {
                return Err(err(field, "must be greater than 0"));
            }
        }
        if self.embed_batch_size == 0 {
            return Err(err("upstream.embed_batch_size", "must be at least 1"));
        }
        for name in self.default_api.keys() {
            if !environments.contains_key(name) {
                return Err(err(
                    "upstream.default_api",
                    format!("`{name}` is not one of upstream.environments"),
                ));
            }
        }
        let per_user = self.max_buffered_answer_bytes_per_user;
        if per_user != 0 && per_user < self.max_answer_bytes {
            return Err(err(
                "upstream.max_buffered_answer_bytes_per_user",
                "must be 0 (no share) or at least upstream.max_answer_bytes",
            ));
        }
        if !self.ca_file.is_empty() && !std::path::Path::new(&self.ca_file).is_file() {
            return Err(err(
                "upstream.ca_file",
                format!("`{}` is not a readable file", self.ca_file),
            ));
        }
        Ok(environments)
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

mod defaults {
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
    pub fn model_refresh_min_interval_ms() -> u64 {
        2_000
    }
    pub fn max_model_list_bytes() -> usize {
        4 * 1024 * 1024
    }
}
