//! The usage ledger: every answered request adds its tokens to per-day totals by user, key,
//! model, client format, endpoint and status. Requests only hand their [`UsageEntry`] to a
//! bounded queue ([`Ledger::record`], never waiting); the accounts service sums the queue into
//! totals in memory and writes them in one transaction every `accounts.ledger_flush_interval_ms`
//! and at shutdown. While the store is down the totals keep accumulating and are written once it
//! is back. A full queue drops the entry and counts it (`argo_bridge_ledger_dropped_total`).
//!
//! Each write is a batch with an id of its own, recorded in the same transaction: a batch whose
//! commit went through but whose answer was lost is found on retry and not added twice. A
//! process killed between writes loses at most one interval's totals; SIGTERM loses none.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::observe::metrics;

/// How often the accounts service empties the queue: a queue of 65,536 entries holds this long
/// at over 600,000 requests a second.
pub const DRAIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// One answered request, as the ledger counts it.
#[derive(Debug, Clone)]
pub struct UsageEntry {
    pub at: i64,
    pub user: Arc<str>,
    /// The issued key's id; empty for a configured token.
    pub key_id: Arc<str>,
    pub model: Arc<str>,
    pub client: &'static str,
    pub endpoint: &'static str,
    pub status: u16,
    pub tokens: Tokens,
}

/// Tokens of one request, or summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
    pub cached: u64,
}

/// What one row of the ledger totals: the day and everything a request is counted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// Days since 1970-01-01, UTC (printed only when the row is written).
    pub day: i64,
    pub user: Arc<str>,
    pub key_id: Arc<str>,
    pub model: Arc<str>,
    pub client: &'static str,
    pub endpoint: &'static str,
    pub status: u16,
}

/// A row's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub tokens: Tokens,
}

/// Totals not yet written, by row.
pub type Batch = HashMap<RowKey, Totals>;

/// The requests' side of the ledger: a bounded queue to the accounts service.
pub struct Ledger {
    queue: mpsc::Sender<UsageEntry>,
}

impl Ledger {
    /// The ledger and the receiving end of its queue, which holds `capacity` entries.
    pub fn new(capacity: usize) -> (Ledger, mpsc::Receiver<UsageEntry>) {
        let (queue, inbox) = mpsc::channel(capacity.max(1));
        (Ledger { queue }, inbox)
    }

    /// Counts a request; never waits. A full queue drops the entry, counted.
    pub fn record(&self, entry: UsageEntry) {
        if self.queue.try_send(entry).is_err() {
            metrics::LEDGER_DROPPED.inc();
        }
    }
}

/// Adds `entry` to `batch`.
pub fn add(batch: &mut Batch, entry: UsageEntry) {
    let key = RowKey {
        day: entry.at.div_euclid(86_400),
        user: entry.user,
        key_id: entry.key_id,
        model: entry.model,
        client: entry.client,
        endpoint: entry.endpoint,
        status: entry.status,
    };
    let totals = batch.entry(key).or_default();
    totals.requests += 1;
    totals.tokens.prompt += entry.tokens.prompt;
    totals.tokens.completion += entry.tokens.completion;
    totals.tokens.cached += entry.tokens.cached;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: i64, user: &str, prompt: u64) -> UsageEntry {
        UsageEntry {
            at,
            user: user.into(),
            key_id: "".into(),
            model: "gpt-4o".into(),
            client: "openai",
            endpoint: "chat",
            status: 200,
            tokens: Tokens {
                prompt,
                completion: 2,
                cached: 1,
            },
        }
    }

    #[test]
    fn entries_sum_into_one_row_per_day_and_user() {
        let mut batch = Batch::new();
        add(&mut batch, entry(0, "alice", 10));
        add(&mut batch, entry(3_600, "alice", 5));
        add(&mut batch, entry(86_400, "alice", 1));
        add(&mut batch, entry(0, "bob", 7));
        assert_eq!(batch.len(), 3);
        let first_day = batch
            .iter()
            .find(|(key, _)| key.day == 0 && key.user.as_ref() == "alice")
            .map(|(_, totals)| *totals)
            .unwrap();
        assert_eq!(first_day.requests, 2);
        assert_eq!(
            first_day.tokens,
            Tokens {
                prompt: 15,
                completion: 4,
                cached: 2
            }
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (ledger, _inbox) = Ledger::new(2);
        let dropped = metrics::LEDGER_DROPPED.get();
        for _ in 0..5 {
            ledger.record(entry(0, "alice", 1));
        }
        assert_eq!(metrics::LEDGER_DROPPED.get() - dropped, 3);
    }
}
