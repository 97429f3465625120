//! A process-wide budget of bytes held in memory for one purpose (request bodies being read,
//! buffered Argo answers),
//! so that many slow or large requests together cannot exhaust the machine: past the budget a
//! request is refused at once instead of every request slowing down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        }
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or `None` when that would pass the limit.
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
    /// Reserves `more` bytes on top; `false` (and nothing taken) past the limit.
    pub fn grow(&mut self, more: usize) -> bool {
        let taken = self.budget.take(more);
        if taken {
            self.bytes += more;
        }
        taken
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
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
        drop(first);
        assert_eq!(gauge.get(), 0);
        assert!(budget.reserve(100).is_some());
    }
}
