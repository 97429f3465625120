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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::config::AccountsConfig;
use crate::observe::metrics;
use keys::KeyRing;
use store::{KeyRecord, Store};
use tokio::sync::{mpsc, oneshot};

/// The accounts of a running gateway: what is held of the store in memory. The store itself is
/// opened and used only by [`AccountsService`], on its runtime: sqlx's connections belong to
/// the tokio runtime that made them, and Pingora gives each service a runtime of its own.
pub struct Accounts {
    config: AccountsConfig,
    pub ring: KeyRing,
    /// Whether the last read of the store succeeded.
    reachable: AtomicBool,
    refresh_interval: Duration,
    /// What the admin port asks of the store, done by [`AccountsService`] in turn.
    requests: mpsc::Sender<StoreRequest>,
    inbox: Mutex<Option<mpsc::Receiver<StoreRequest>>>,
}

/// A change or a read of the store asked for on the admin port.
pub enum StoreRequest {
    CreateKey {
        user: String,
        name: String,
        expires: Option<String>,
        reply: oneshot::Sender<Result<(String, KeyRecord), RequestError>>,
    },
    ListKeys {
        user: Option<String>,
        reply: oneshot::Sender<Result<Vec<KeyRecord>, RequestError>>,
    },
    RevokeKey {
        id: String,
        reply: oneshot::Sender<Result<bool, RequestError>>,
    },
}

/// Why a [`StoreRequest`] was not done: the request was wrong, or the store failed.
#[derive(Debug)]
pub enum RequestError {
    Invalid(String),
    Store(String),
}

/// Requests waiting for the store at most: more are refused at once (the admin port is for
/// operators, not a queue).
const PENDING_REQUESTS: usize = 64;

impl Accounts {
    /// The accounts `config` names, or none. The store is not reached here: a store that is
    /// down at start only delays the keys (the configured tokens serve meanwhile).
    pub fn new(config: &AccountsConfig) -> Result<Option<Arc<Accounts>>, String> {
        if !config.enabled() {
            return Ok(None);
        }
        let (requests, inbox) = mpsc::channel(PENDING_REQUESTS);
        Ok(Some(Arc::new(Accounts {
            config: config.clone(),
            ring: KeyRing::default(),
            reachable: AtomicBool::new(false),
            refresh_interval: Duration::from_millis(config.refresh_interval_ms),
            requests,
            inbox: Mutex::new(Some(inbox)),
        })))
    }

    /// Hands `request` to the accounts service; false when too many are waiting already.
    pub fn ask(&self, request: StoreRequest) -> bool {
        self.requests.try_send(request).is_ok()
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

impl Accounts {
    /// Does one admin request on the store. A change is read back into the ring before the
    /// answer goes out, so that it shows on this instance at once.
    async fn answer(&self, store: &Store, request: StoreRequest) {
        let failed = |error: store::StoreError| {
            metrics::ACCOUNTS_STORE_ERRORS
                .with_label_values(&["admin"])
                .inc();
            RequestError::Store(error.to_string())
        };
        match request {
            StoreRequest::CreateKey {
                user,
                name,
                expires,
                reply,
            } => {
                let created = match keys::issue(&user, &name, expires.as_deref(), unix_now()) {
                    Ok((key, record)) => store
                        .insert_key(&record)
                        .await
                        .map(|()| (key, record))
                        .map_err(failed),
                    Err(message) => Err(RequestError::Invalid(message)),
                };
                if created.is_ok() {
                    self.refresh(store, &mut true, false).await;
                }
                let _ = reply.send(created);
            }
            StoreRequest::ListKeys { user, reply } => {
                let _ = reply.send(store.keys(user.as_deref()).await.map_err(failed));
            }
            StoreRequest::RevokeKey { id, reply } => {
                let revoked = store.revoke_key(&id, unix_now()).await.map_err(failed);
                if matches!(revoked, Ok(true)) {
                    self.refresh(store, &mut true, false).await;
                }
                let _ = reply.send(revoked);
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
        let inbox = accounts
            .inbox
            .lock()
            .ok()
            .and_then(|mut inbox| inbox.take());
        let Some(mut inbox) = inbox else {
            return;
        };
        let (mut migrated, mut first) = (false, true);
        loop {
            accounts.refresh(&store, &mut migrated, first).await;
            first = false;
            let next_read = tokio::time::sleep(accounts.refresh_interval);
            tokio::pin!(next_read);
            loop {
                tokio::select! {
                    _ = &mut next_read => break,
                    Some(request) = inbox.recv() => accounts.answer(&store, request).await,
                    _ = shutdown.changed() => return,
                }
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
