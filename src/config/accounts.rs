//! The `accounts` section: the store of issued keys (and, with it, the usage ledger and budgets).
//! Unset, the gateway has no accounts and authenticates with `auth` alone.

use serde::Deserialize;

use super::fields::{err, set_number, set_text, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// SQLite in this file, created with its schema on first start: one machine, nothing to
    /// install. Ignored when `database_url` is set.
    pub path: String,
    /// A PostgreSQL URL (`postgres://user:password@host/db`), for several instances that share
    /// keys, ledger and budgets.
    pub database_url: String,
    /// How often each instance reads the keys again: a revoked or expired key is refused on
    /// every instance within this time (an expired key at once, its expiry is checked on each
    /// request).
    pub refresh_interval_ms: u64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            path: String::new(),
            database_url: String::new(),
            refresh_interval_ms: 2_000,
        }
    }
}

impl AccountsConfig {
    /// Whether a store is configured.
    pub fn enabled(&self) -> bool {
        !self.path.is_empty() || !self.database_url.is_empty()
    }

    /// The store's URL for sqlx: the PostgreSQL URL, or the SQLite file (created when missing).
    pub fn url(&self) -> String {
        match self.database_url.is_empty() {
            false => self.database_url.clone(),
            true => format!("sqlite://{}?mode=rwc", self.path),
        }
    }

    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_text(env, "ARGO_BRIDGE_ACCOUNTS_PATH", &mut self.path);
        set_text(env, "ARGO_BRIDGE_DATABASE_URL", &mut self.database_url);
        set_number(
            env,
            "ARGO_BRIDGE_ACCOUNTS_REFRESH_INTERVAL_MS",
            &mut self.refresh_interval_ms,
        )
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        if !url.is_empty() && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(err(
                "accounts.database_url",
                "must be a PostgreSQL URL (postgres://...); for SQLite set accounts.path",
            ));
        }
        if !(100..=600_000).contains(&self.refresh_interval_ms) {
            return Err(err(
                "accounts.refresh_interval_ms",
                "must be between 100 and 600000",
            ));
        }
        Ok(())
    }
}
