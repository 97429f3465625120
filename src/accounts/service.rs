//! The accounts service: the one user of the store in a running gateway, on the runtime Pingora
//! gives it. It reads the keys again every `accounts.refresh_interval_ms`, sums the ledger's
//! queue into totals and writes them every `accounts.ledger_flush_interval_ms`, and does the
//! admin port's requests in turn.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::time::MissedTickBehavior;

use super::keys;
use super::ledger::{self, Batch, UsageEntry};
use super::state::{Accounts, StoreRequest};
use super::store::Store;
use super::time::unix_now;
use crate::observe::metrics;

/// Rows of totals held in memory while the store cannot take them, at most: past this, entries
/// are dropped and counted. A row is a day, user, key, model, format, endpoint and status, so a
/// lab takes days of an unreachable store to fill it.
const MAX_PENDING_ROWS: usize = 200_000;

pub struct AccountsService(pub Arc<Accounts>);

#[async_trait]
impl BackgroundService for AccountsService {
    async fn start(&self, _shutdown: ShutdownWatch) {
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
        let inboxes = accounts
            .inboxes
            .lock()
            .ok()
            .and_then(|mut inboxes| inboxes.take());
        let Some(mut inboxes) = inboxes else {
            return;
        };
        let mut keys_due = every(accounts.refresh_interval);
        let mut ledger_due = every(accounts.flush_interval);
        let mut drain_due = every(ledger::DRAIN_INTERVAL);
        let mut writer = LedgerWriter::new();
        let (mut migrated, mut first) = (false, true);
        // Runs until the process exits: the drain asks for a last write first
        // (`StoreRequest::FlushLedger`), and requests still finishing after the shutdown signal
        // are counted too.
        loop {
            tokio::select! {
                _ = keys_due.tick() => {
                    accounts.refresh(&store, &mut migrated, first).await;
                    first = false;
                }
                _ = ledger_due.tick(), if migrated => writer.write(&store).await,
                _ = drain_due.tick() => writer.drain(&mut inboxes.usage),
                Some(request) = inboxes.requests.recv() => {
                    if let StoreRequest::FlushLedger { .. } = request {
                        writer.drain(&mut inboxes.usage);
                        writer.write(&store).await;
                    }
                    accounts.answer(&store, request).await;
                }
            }
        }
    }
}

fn every(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// The ledger's totals not yet written: the batch being written (kept, with its id, until the
/// store took it) and what came in since.
struct LedgerWriter {
    instance: String,
    written: u64,
    in_flight: Option<(String, Batch)>,
    pending: Batch,
    store_failing: bool,
}

impl LedgerWriter {
    fn new() -> LedgerWriter {
        LedgerWriter {
            instance: keys::random_text(12),
            written: 0,
            in_flight: None,
            pending: Batch::new(),
            store_failing: false,
        }
    }

    /// Sums what waits in the ledger's queue.
    fn drain(&mut self, queue: &mut tokio::sync::mpsc::Receiver<UsageEntry>) {
        metrics::LEDGER_QUEUE.set(i64::try_from(queue.len()).unwrap_or(i64::MAX));
        while let Ok(entry) = queue.try_recv() {
            self.add(entry);
        }
    }

    fn add(&mut self, entry: UsageEntry) {
        let rows = self.pending.len() + self.in_flight.as_ref().map_or(0, |(_, batch)| batch.len());
        if rows >= MAX_PENDING_ROWS {
            metrics::LEDGER_DROPPED.inc();
            return;
        }
        ledger::add(&mut self.pending, entry);
    }

    /// Writes what is held: the batch a failed write left first (under its id, so that it is
    /// added once even if that write went through), then the rest as a new batch.
    async fn write(&mut self, store: &Store) {
        for _ in 0..2 {
            if self.in_flight.is_none() {
                if self.pending.is_empty() {
                    return;
                }
                self.written += 1;
                let id = format!("{}-{}", self.instance, self.written);
                self.in_flight = Some((id, std::mem::take(&mut self.pending)));
            }
            let Some((id, batch)) = &self.in_flight else {
                return;
            };
            match store.write_batch(id, batch, unix_now()).await {
                Ok(()) => {
                    metrics::LEDGER_ROWS_WRITTEN.inc_by(batch.len() as u64);
                    self.in_flight = None;
                    if std::mem::take(&mut self.store_failing) {
                        log::info!("usage ledger written again");
                    }
                }
                Err(error) => {
                    metrics::ACCOUNTS_STORE_ERRORS
                        .with_label_values(&["write_usage"])
                        .inc();
                    if !std::mem::replace(&mut self.store_failing, true) {
                        log::warn!("{error}; the usage totals are kept and written once it works");
                    }
                    return;
                }
            }
        }
    }
}
