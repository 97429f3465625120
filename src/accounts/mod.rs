//! Accounts (`accounts` in the configuration): keys issued and revoked without a restart, kept
//! in a store that is SQLite in a file on one machine or PostgreSQL shared by several instances.
//! With no `accounts` section the gateway has none of this and authenticates with `auth` alone.
//!
//! No request waits on the store: the keys are held in memory ([`keys::KeyRing`]) and read
//! again in the background; while the store is down the last keys read keep serving, and
//! `argo_bridge_accounts_store_up` and `/ready`'s detail say so.
//!
//! Imports `config` and `observe` only; `edge` (authentication), `serve` (admin) and the command
//! line import it.

pub mod commands;
pub mod keys;
pub mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::config::AccountsConfig;
use crate::observe::metrics;
use keys::KeyRing;
use store::Store;

/// The accounts of a running gateway: what is held of the store in memory. The store itself is
/// opened and used only by [`AccountsService`], on its runtime: sqlx's connections belong to
/// the tokio runtime that made them, and Pingora gives each service a runtime of its own.
pub struct Accounts {
    config: AccountsConfig,
    pub ring: KeyRing,
    /// Whether the last read of the store succeeded.
    reachable: AtomicBool,
    refresh_interval: Duration,
}

impl Accounts {
    /// The accounts `config` names, or none. The store is not reached here: a store that is
    /// down at start only delays the keys (the configured tokens serve meanwhile).
    pub fn new(config: &AccountsConfig) -> Result<Option<Arc<Accounts>>, String> {
        if !config.enabled() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Accounts {
            config: config.clone(),
            ring: KeyRing::default(),
            reachable: AtomicBool::new(false),
            refresh_interval: Duration::from_millis(config.refresh_interval_ms),
        })))
    }

    /// Whether the store answered the last read.
    pub fn store_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Reads the live keys into the ring once (migrating the store first, once); on failure
    /// the ring keeps what it had. Logged when the store comes or goes, not on every read.
    async fn refresh(&self, store: &Store, migrated: &mut bool, first: bool) {
        let read = async {
            if !*migrated {
                store.migrate().await?;
                *migrated = true;
            }
            store.live_keys(unix_now()).await
        };
        let result = read.await;
        let was_reachable = self.reachable.swap(result.is_ok(), Ordering::Relaxed);
        metrics::ACCOUNTS_STORE_UP.set(i64::from(result.is_ok()));
        match result {
            Ok(live) => {
                self.ring.replace(live);
                metrics::ACCOUNT_KEYS.set(i64::try_from(self.ring.len()).unwrap_or(i64::MAX));
                if !was_reachable {
                    log::info!("accounts store reached: {} live keys", self.ring.len());
                }
            }
            Err(error) => {
                metrics::ACCOUNTS_STORE_ERRORS
                    .with_label_values(&["read_keys"])
                    .inc();
                if was_reachable || first {
                    log::warn!("{error}; the last keys read keep serving");
                }
            }
        }
    }
}

/// The one user of the store in a running gateway: reads the keys again every
/// `accounts.refresh_interval_ms` until shutdown.
pub struct AccountsService(pub Arc<Accounts>);

#[async_trait]
impl BackgroundService for AccountsService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let accounts = &self.0;
        metrics::ACCOUNTS_STORE_UP.set(0);
        let store = match Store::lazy(&accounts.config) {
            Ok(store) => store,
            Err(error) => {
                metrics::ACCOUNTS_STORE_ERRORS
                    .with_label_values(&["open"])
                    .inc();
                log::error!("{error}; only the configured tokens authenticate");
                return;
            }
        };
        let (mut migrated, mut first) = (false, true);
        loop {
            accounts.refresh(&store, &mut migrated, first).await;
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(accounts.refresh_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
