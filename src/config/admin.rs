//! The `admin` and `readiness` sections: the admin listener, who may read `/metrics`, and the
//! probes behind `/ready`.

use serde::Deserialize;

use super::fields::{err, set_number, set_text, ConfigError};

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

impl AdminConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_text(env, "ARGO_BRIDGE_ADMIN_LISTEN", &mut self.listen);
        // The original bridge's name, then ours.
        set_text(env, "METRICS_TOKEN", &mut self.metrics_token);
        set_text(env, "ARGO_BRIDGE_METRICS_TOKEN", &mut self.metrics_token);
        set_text(env, "ARGO_BRIDGE_ADMIN_TOKEN", &mut self.token);
        set_number(
            env,
            "ARGO_BRIDGE_ADMIN_MAX_CONNECTIONS",
            &mut self.max_connections,
        )?;
        Ok(())
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

impl ReadinessConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_number(
            env,
            "ARGO_BRIDGE_READINESS_PROBE_INTERVAL_MS",
            &mut self.probe_interval_ms,
        )?;
        set_number(
            env,
            "ARGO_BRIDGE_READINESS_PROBE_TIMEOUT_MS",
            &mut self.probe_timeout_ms,
        )?;
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.probe_interval_ms > 0 && self.probe_timeout_ms == 0 {
            return Err(err("readiness.probe_timeout_ms", "must be greater than 0"));
        }
        Ok(())
    }
}

mod defaults {
    pub fn admin_max_connections() -> usize {
        64
    }
    pub fn probe_interval_ms() -> u64 {
        5_000
    }
    pub fn probe_timeout_ms() -> u64 {
        2_000
    }
}
