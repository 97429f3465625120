//! The accounts of a running gateway: the keys held in memory, whether the store answered, the
//! queues to the accounts service, and what the service does with an admin request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::keys::{self, KeyRing};
use super::ledger::{Ledger, UsageEntry};
use super::store::{self, Grouping, KeyRecord, Store, UsageLine};
use super::time::unix_now;
use crate::config::AccountsConfig;
use crate::observe::metrics;

/// The accounts of a running gateway: what is held of the store in memory. The store itself is
/// opened and used only by [`AccountsService`], on its runtime: sqlx's connections belong to
/// the tokio runtime that made them, and Pingora gives each service a runtime of its own.
pub struct Accounts {
    pub(super) config: AccountsConfig,
    pub ring: KeyRing,
    /// Whether the last read of the store succeeded.
    reachable: AtomicBool,
    pub(super) refresh_interval: Duration,
    pub(super) flush_interval: Duration,
    /// What the admin port asks of the store, done by [`AccountsService`] in turn.
    requests: mpsc::Sender<StoreRequest>,
    pub ledger: Ledger,
    /// The receiving ends of both queues, taken by the service when it starts.
    pub(super) inboxes: Mutex<Option<Inboxes>>,
}

pub(super) struct Inboxes {
    pub(super) requests: mpsc::Receiver<StoreRequest>,
    pub(super) usage: mpsc::Receiver<UsageEntry>,
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
    Usage {
        since_day: String,
        by: Grouping,
        reply: oneshot::Sender<Result<Vec<UsageLine>, RequestError>>,
    },
    /// Writes every total the ledger holds now (the last thing before the process exits).
    FlushLedger { reply: oneshot::Sender<()> },
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
        let (requests, request_inbox) = mpsc::channel(PENDING_REQUESTS);
        let (ledger, usage_inbox) = Ledger::new(config.ledger_queue);
        Ok(Some(Arc::new(Accounts {
            config: config.clone(),
            ring: KeyRing::default(),
            reachable: AtomicBool::new(false),
            refresh_interval: Duration::from_millis(config.refresh_interval_ms),
            flush_interval: Duration::from_millis(config.ledger_flush_interval_ms),
            requests,
            ledger,
            inboxes: Mutex::new(Some(Inboxes {
                requests: request_inbox,
                usage: usage_inbox,
            })),
        })))
    }

    /// Writes the ledger's totals now and waits (at most `limit`) until they are written: for
    /// the drain, before the process exits.
    pub async fn flush_ledger(&self, limit: Duration) {
        let (reply, done) = oneshot::channel();
        if self.ask(StoreRequest::FlushLedger { reply }) {
            let _ = tokio::time::timeout(limit, done).await;
        }
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
    pub(super) async fn refresh(&self, store: &Store, migrated: &mut bool, first: bool) {
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
    pub(super) async fn answer(&self, store: &Store, request: StoreRequest) {
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
            StoreRequest::Usage {
                since_day,
                by,
                reply,
            } => {
                let _ = reply.send(store.usage(&since_day, by).await.map_err(failed));
            }
            // The service writes the ledger itself before it answers this.
            StoreRequest::FlushLedger { reply } => {
                let _ = reply.send(());
            }
        }
    }
}
