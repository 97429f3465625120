//! Early exit once drained. On SIGTERM (or after a SIGQUIT upgrade hands the listeners over)
//! Pingora stops accepting, then sleeps the whole grace period before stopping its runtimes,
//! which cancels whatever still runs. This watcher ends the process as soon as no request is
//! open any more, so a drain takes as long as the slowest open request, never the full grace
//! period when nothing is left. Before it exits, the usage ledger writes what it holds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::accounts::Accounts;

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Counts one request from its parsed head until its context is dropped, which Pingora does
/// only after the response has been finished and flushed.
pub struct OpenRequest(());

impl OpenRequest {
    pub fn new() -> Self {
        OPEN.fetch_add(1, Ordering::SeqCst);
        OpenRequest(())
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ends the process once drained; with accounts, after the ledger's last write.
pub struct DrainWatcher(pub Option<Arc<Accounts>>);

/// How long the ledger's last write may hold the exit up.
const LAST_WRITE: Duration = Duration::from_secs(5);

/// A connection accepted just before the shutdown may still be sending its request head:
/// the count must stay at zero this long before the process exits.
const SETTLE: Duration = Duration::from_millis(250);
const POLL: Duration = Duration::from_millis(50);

#[async_trait]
impl BackgroundService for DrainWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        log::info!("draining: {} open requests", OPEN.load(Ordering::SeqCst));
        let mut idle_for = Duration::ZERO;
        while idle_for < SETTLE {
            tokio::time::sleep(POLL).await;
            idle_for = if OPEN.load(Ordering::SeqCst) == 0 {
                idle_for + POLL
            } else {
                Duration::ZERO
            };
        }
        if let Some(accounts) = &self.0 {
            accounts.flush_ledger(LAST_WRITE).await;
        }
        log::info!("drained: every request finished, exiting");
        crate::observe::log_writer::flush();
        std::process::exit(0);
    }
}
