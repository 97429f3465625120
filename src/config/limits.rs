//! The `limits` section: request sizes and deadlines, per-user rates and caps, the optional
//! shared (Redis) counts, connection caps and the CPU pool. `limits/mod.rs` (the crate's
//! `limits` folder) tells where each is enforced.

use serde::Deserialize;

use super::fields::{err, set_number, set_text, ConfigError};

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
    /// limit (see [`super::derived_max_connections`]); `Settings` always holds the number in force.
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

impl Limits {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_number(
            env,
            "ARGO_BRIDGE_CLIENT_BODY_TIMEOUT_MS",
            &mut self.client_body_timeout_ms,
        )?;
        set_number(env, "ARGO_BRIDGE_MAX_BODY_BYTES", &mut self.max_body_bytes)?;
        set_number(
            env,
            "ARGO_BRIDGE_RATE_LIMIT_RPM",
            &mut self.per_user_requests_per_minute,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_RATE_LIMIT_BURST",
            &mut self.per_user_burst,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_CONCURRENT_PER_USER",
            &mut self.per_user_max_concurrent,
        )?;
        set_text(env, "ARGO_BRIDGE_REDIS_URL", &mut self.redis_url);
        set_number(
            env,
            "ARGO_BRIDGE_REDIS_TIMEOUT_MS",
            &mut self.redis_timeout_ms,
        )?;
        set_text(
            env,
            "ARGO_BRIDGE_REDIS_KEY_PREFIX",
            &mut self.redis_key_prefix,
        );
        set_number(
            env,
            "ARGO_BRIDGE_REDIS_SLOT_LEASE_MS",
            &mut self.redis_slot_lease_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_REDIS_BACKOFF_MS",
            &mut self.redis_backoff_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_REQUEST_HEAD_TIMEOUT_MS",
            &mut self.request_head_timeout_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_UNAUTHENTICATED_CONNECTIONS",
            &mut self.max_unauthenticated_connections_per_address,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_CONNECTIONS",
            &mut self.max_connections,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_CLIENT_BODY_TOTAL_TIMEOUT_MS",
            &mut self.client_body_total_timeout_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES",
            &mut self.max_buffered_request_bytes_total,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_BUFFERED_REQUEST_BYTES_PER_USER",
            &mut self.max_buffered_request_bytes_per_user,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_CLIENT_WRITE_TIMEOUT_MS",
            &mut self.client_write_timeout_ms,
        )?;
        set_number(env, "ARGO_BRIDGE_CPU_THREADS", &mut self.cpu_threads)?;
        set_number(
            env,
            "ARGO_BRIDGE_CPU_THREADS_PER_USER",
            &mut self.cpu_threads_per_user,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_CPU_OFFLOAD_BYTES",
            &mut self.cpu_offload_bytes,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_PROMPTS_PER_REQUEST",
            &mut self.max_prompts_per_request,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_MAX_TOOL_BLOCK_BYTES",
            &mut self.max_tool_block_bytes,
        )?;
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(err("limits.max_body_bytes", "must be greater than 0"));
        }
        if self.max_buffered_request_bytes_total < self.max_body_bytes {
            return Err(err(
                "limits.max_buffered_request_bytes_total",
                "must be at least limits.max_body_bytes",
            ));
        }
        let per_user = self.max_buffered_request_bytes_per_user;
        if per_user != 0 && per_user < self.max_body_bytes {
            return Err(err(
                "limits.max_buffered_request_bytes_per_user",
                "must be 0 (no share) or at least limits.max_body_bytes",
            ));
        }
        if self.client_write_timeout_ms == 0 {
            return Err(err(
                "limits.client_write_timeout_ms",
                "must be greater than 0",
            ));
        }
        check_redis(self).map_err(|(field, message)| err(field, message))?;
        Ok(())
    }
}

/// Checks `limits.redis_url` and its companions, naming the field that is wrong.
fn check_redis(config: &Limits) -> Result<(), (&'static str, String)> {
    if config.redis_url.is_empty() {
        return Ok(());
    }
    // The message of a bad URL is the crate's, which does not repeat the URL.
    redis::Client::open(config.redis_url.as_str()).map_err(|error| {
        (
            "limits.redis_url",
            format!("not a usable Redis URL: {error}"),
        )
    })?;
    if config.redis_timeout_ms == 0 {
        return Err(("limits.redis_timeout_ms", "must be greater than 0".into()));
    }
    if config.redis_backoff_ms == 0 {
        return Err(("limits.redis_backoff_ms", "must be greater than 0".into()));
    }
    if config.redis_slot_lease_ms < 1_000 {
        return Err((
            "limits.redis_slot_lease_ms",
            "must be at least 1000 (a lease is renewed every third of it)".into(),
        ));
    }
    if config.redis_key_prefix.is_empty() {
        return Err((
            "limits.redis_key_prefix",
            "must not be empty: the keys would mix with others in the database".into(),
        ));
    }
    Ok(())
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
    pub fn max_body_bytes() -> usize {
        4 * 1024 * 1024
    }
    pub fn keepalive_timeout_s() -> u64 {
        60
    }
    pub fn client_body_timeout_ms() -> u64 {
        30_000
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Limits {
        Limits {
            redis_url: url.to_string(),
            ..Limits::default()
        }
    }

    #[test]
    fn urls_and_companions_are_checked_without_echoing_the_url() {
        assert!(check_redis(&config("")).is_ok());
        assert!(check_redis(&config("redis://127.0.0.1:6379/0")).is_ok());
        assert!(check_redis(&config("unix:///run/redis.sock")).is_ok());
        let (field, message) = check_redis(&config("http://:hunter2@example")).unwrap_err();
        assert_eq!(field, "limits.redis_url");
        assert!(!message.contains("hunter2"), "{message}");
        let mut zero = config("redis://127.0.0.1");
        zero.redis_timeout_ms = 0;
        assert_eq!(check_redis(&zero).unwrap_err().0, "limits.redis_timeout_ms");
        let mut eager = config("redis://127.0.0.1");
        eager.redis_backoff_ms = 0;
        assert_eq!(
            check_redis(&eager).unwrap_err().0,
            "limits.redis_backoff_ms"
        );
        let mut short = config("redis://127.0.0.1");
        short.redis_slot_lease_ms = 10;
        assert_eq!(
            check_redis(&short).unwrap_err().0,
            "limits.redis_slot_lease_ms"
        );
        let mut bare = config("redis://127.0.0.1");
        bare.redis_key_prefix.clear();
        assert_eq!(check_redis(&bare).unwrap_err().0, "limits.redis_key_prefix");
    }
}
