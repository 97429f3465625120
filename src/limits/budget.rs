//! A process-wide budget of bytes held in memory for one purpose (request bodies being read,
//! buffered Argo answers),
//! so that many slow or large requests together cannot exhaust the machine: past the budget a
//! request is refused at once instead of every request slowing down. A budget may also be
//! shared out ([`SharedBudget`]): each holder (a user, a client address) takes at most its
//! share, so that one client cannot take the whole budget and refuse everyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::limits::lock::lock;

use prometheus::IntGauge;

pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    gauge: IntGauge,
}

/// Bytes reserved from a budget, given back when dropped.
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
    /// The holder's share the bytes also count against, if the budget is shared out.
    share: Option<Share>,
}

impl MemoryBudget {
    pub fn new(limit: usize, gauge: IntGauge) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            gauge,
        })
    }

    /// A reservation of nothing yet, to grow.
    pub fn empty_reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
            share: None,
        }
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or `None` when that would pass the limit.
    #[cfg(test)]
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut reservation = self.empty_reservation();
        reservation.grow(bytes).then_some(reservation)
    }

    fn take(&self, bytes: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok();
        if taken {
            self.gauge.add(gauge_bytes(bytes));
        }
        taken
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.gauge.sub(gauge_bytes(bytes));
    }
}

fn gauge_bytes(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

impl Reservation {
    /// Reserves `more` bytes on top; `false` (and nothing taken) past the limit, or past the
    /// holder's share.
    pub fn grow(&mut self, more: usize) -> bool {
        if let Some(share) = &self.share {
            if !share.take(more) {
                return false;
            }
        }
        let taken = self.budget.take(more);
        if taken {
            self.bytes += more;
        } else if let Some(share) = &self.share {
            share.give_back(more);
        }
        taken
    }

    /// Gives `fewer` of the bytes back (at most all of them).
    pub fn shrink(&mut self, fewer: usize) {
        let fewer = fewer.min(self.bytes);
        self.release(fewer);
        self.bytes -= fewer;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.budget.give_back(bytes);
        if let Some(share) = &self.share {
            share.give_back(bytes);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

/// A budget shared out: every holder may hold at most `share` bytes of it at once.
pub struct SharedBudget {
    budget: Arc<MemoryBudget>,
    share: usize,
    /// What each holder holds now. An entry is looked up once per reservation (its bytes then
    /// move with atomics only), and kept while the holder comes back; past
    /// [`PRUNE_HOLDERS_ABOVE`] entries those that nobody holds are dropped.
    holders: Mutex<HashMap<Box<str>, Arc<AtomicUsize>, foldhash::fast::RandomState>>,
}

/// Entries beyond this many are pruned of holders that hold nothing.
const PRUNE_HOLDERS_ABOVE: usize = 10_000;

/// A reservation's place in its holder's share.
struct Share {
    share: usize,
    held: Arc<AtomicUsize>,
}

impl Share {
    fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.share)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl SharedBudget {
    /// `budget` shared out `share` bytes per holder; a share of 0, or one as large as the
    /// budget, leaves it whole to everyone.
    pub fn new(budget: Arc<MemoryBudget>, share: usize) -> Arc<Self> {
        let share = match share {
            0 => budget.limit,
            share => share.min(budget.limit),
        };
        Arc::new(SharedBudget {
            budget,
            share,
            holders: Mutex::new(HashMap::default()),
        })
    }

    /// A reservation of nothing yet for `holder`, to grow.
    pub fn empty_reservation(&self, holder: &str) -> Reservation {
        let mut reservation = self.budget.empty_reservation();
        if self.share < self.budget.limit {
            reservation.share = Some(Share {
                share: self.share,
                held: self.held_by_holder(holder),
            });
        }
        reservation
    }

    /// Reserves `bytes` for `holder`, or `None` past the budget or the holder's share.
    pub fn reserve(&self, holder: &str, bytes: usize) -> Option<Reservation> {
        let mut reservation = self.empty_reservation(holder);
        reservation.grow(bytes).then_some(reservation)
    }

    fn held_by_holder(&self, holder: &str) -> Arc<AtomicUsize> {
        let mut holders = lock(&self.holders);
        if let Some(held) = holders.get(holder) {
            return Arc::clone(held);
        }
        if holders.len() > PRUNE_HOLDERS_ABOVE {
            holders.retain(|_, held| Arc::strong_count(held) > 1);
        }
        let held = Arc::new(AtomicUsize::new(0));
        holders.insert(holder.into(), Arc::clone(&held));
        held
    }

    /// Bytes `holder` holds now.
    #[cfg(test)]
    pub fn held_by(&self, holder: &str) -> usize {
        lock(&self.holders)
            .get(holder)
            .map_or(0, |held| held.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_limit_and_return_on_drop() {
        let gauge = IntGauge::new("test_budget_bytes", "test").unwrap();
        let budget = MemoryBudget::new(100, gauge.clone());
        let mut first = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none());
        assert!(!first.grow(41));
        assert!(first.grow(40));
        assert_eq!((first.bytes(), gauge.get()), (100, 100));
        first.shrink(30);
        assert_eq!((first.bytes(), gauge.get()), (70, 70));
        drop(first);
        assert_eq!(gauge.get(), 0);
        assert!(budget.reserve(100).is_some());
    }

    #[test]
    fn no_holder_takes_more_than_its_share_and_others_still_get_theirs() {
        let gauge = IntGauge::new("test_shared_bytes", "test").unwrap();
        let shared = SharedBudget::new(MemoryBudget::new(100, gauge.clone()), 40);
        let alice = shared.reserve("alice", 30).unwrap();
        assert!(shared.reserve("alice", 11).is_none(), "past alice's share");
        let mut more = shared.reserve("alice", 10).unwrap();
        assert!(!more.grow(1));
        assert_eq!((shared.held_by("alice"), gauge.get()), (40, 40));
        let bob = shared.reserve("bob", 40).unwrap();
        let carol = shared.reserve("carol", 20).unwrap();
        assert!(
            shared.reserve("dave", 21).is_none(),
            "past the budget itself"
        );
        assert_eq!(shared.held_by("dave"), 0, "a refusal takes nothing");
        drop((alice, more));
        assert_eq!((shared.held_by("alice"), gauge.get()), (0, 60));
        assert!(shared.reserve("alice", 40).is_some());
        drop((bob, carol));
        assert_eq!(gauge.get(), 0);
        assert_eq!(shared.held_by("bob") + shared.held_by("carol"), 0);
    }

    #[test]
    fn holders_that_hold_nothing_are_pruned_past_the_limit() {
        let gauge = IntGauge::new("test_pruned_bytes", "test").unwrap();
        let shared = SharedBudget::new(MemoryBudget::new(1 << 40, gauge), 100);
        let kept = shared.reserve("kept", 10).unwrap();
        for n in 0..=PRUNE_HOLDERS_ABOVE {
            drop(shared.reserve(&format!("user{n}"), 1));
        }
        drop(shared.reserve("one more", 1));
        let holders = lock(&shared.holders).len();
        assert!(holders <= 3, "{holders} holders kept");
        assert_eq!(shared.held_by("kept"), 10);
        drop(kept);
    }

    #[test]
    fn a_share_of_the_whole_budget_keeps_no_holders() {
        let gauge = IntGauge::new("test_whole_bytes", "test").unwrap();
        let shared = SharedBudget::new(MemoryBudget::new(100, gauge), 0);
        let all = shared.reserve("alice", 100).unwrap();
        assert!(all.share.is_none());
        assert!(lock(&shared.holders).is_empty());
    }
}
