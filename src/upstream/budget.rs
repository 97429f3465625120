//! Buffered (non-streaming) Argo answers hold their memory against a process-wide budget
//! (`crate::budget`): each answer reserves what it allocates before allocating it, and gives it
//! back when dropped, so that many large answers at once are refused instead of exhausting
//! memory.

use std::ops::Deref;
use std::sync::Arc;

use crate::budget::{MemoryBudget, Reservation};

/// Taking more would exceed the budget.
#[derive(Debug, PartialEq, Eq)]
pub struct OverBudget;

/// A buffered Argo answer. Its share of the budget is held for as long as the answer lives, not
/// only while it is read: callers keep the body while they translate it, which is when the
/// memory peaks (body plus translation), so releasing it earlier would let that peak grow
/// without bound.
pub struct BufferedAnswer {
    body: Vec<u8>,
    /// The budget taken: the body's allocated capacity.
    reservation: Reservation,
}

impl BufferedAnswer {
    pub fn new(budget: &Arc<MemoryBudget>) -> Self {
        BufferedAnswer {
            body: Vec::new(),
            reservation: budget.empty_reservation(),
        }
    }

    /// Makes room for `capacity` bytes in all, taking the growth from the budget first.
    pub fn reserve_total(&mut self, capacity: usize) -> Result<(), OverBudget> {
        let reserved = self.reservation.bytes();
        if capacity <= reserved {
            return Ok(());
        }
        if !self.reservation.grow(capacity - reserved) {
            return Err(OverBudget);
        }
        self.body.reserve_exact(capacity - self.body.len());
        Ok(())
    }

    /// Appends `bytes`, growing the allocation (and the reservation) by doubling, up to `ceiling`.
    pub fn append(&mut self, bytes: &[u8], ceiling: usize) -> Result<(), OverBudget> {
        let needed = self.body.len() + bytes.len();
        let reserved = self.reservation.bytes();
        if needed > reserved {
            self.reserve_total(needed.max(reserved * 2).min(ceiling.max(needed)))?;
        }
        self.body.extend_from_slice(bytes);
        Ok(())
    }
}

impl Deref for BufferedAnswer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: usize) -> Arc<MemoryBudget> {
        MemoryBudget::new(
            limit,
            prometheus::IntGauge::new("test_answers", "test").unwrap(),
        )
    }

    #[test]
    fn answers_hold_their_bytes_until_dropped() {
        let budget = budget(100);
        let mut first = BufferedAnswer::new(&budget);
        first.reserve_total(60).unwrap();
        first.append(b"hello", 100).unwrap();
        assert_eq!((&*first, budget.used()), (b"hello".as_slice(), 60));
        let mut second = BufferedAnswer::new(&budget);
        assert_eq!(second.reserve_total(41), Err(OverBudget));
        assert_eq!(budget.used(), 60, "a refusal takes nothing");
        second.reserve_total(40).unwrap();
        drop(first);
        assert_eq!(budget.used(), 40);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn appending_grows_by_doubling_within_the_ceiling() {
        let budget = budget(1000);
        let mut answer = BufferedAnswer::new(&budget);
        answer.append(&[1; 10], 1000).unwrap();
        assert_eq!(budget.used(), 10);
        answer.append(&[2; 1], 1000).unwrap();
        assert_eq!(budget.used(), 20);
        answer.append(&[3; 15], 30).unwrap();
        assert_eq!((answer.len(), budget.used()), (26, 30));
        assert_eq!(answer.append(&[4; 980], 2000), Err(OverBudget));
        assert_eq!((answer.len(), budget.used()), (26, 30));
    }

    #[test]
    fn concurrent_answers_never_hold_more_than_the_limit() {
        let budget = budget(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let mut answer = BufferedAnswer::new(&budget);
                        if answer.reserve_total(300).is_ok() {
                            assert!(budget.used() <= 1000);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(budget.used(), 0);
    }
}
