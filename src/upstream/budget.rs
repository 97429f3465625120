//! The process-wide budget for buffered (non-streaming) Argo answers: each answer reserves the
//! memory it allocates before allocating it, and gives it back when it is dropped, so that many
//! large answers at once are refused instead of exhausting memory.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes of buffered answers held at once, against a limit.
pub struct AnswerBudget {
    limit: usize,
    held: AtomicUsize,
}

/// Taking more would exceed the budget.
#[derive(Debug, PartialEq, Eq)]
pub struct OverBudget;

impl AnswerBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(AnswerBudget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    fn take(&self, bytes: usize) -> Result<(), OverBudget> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .map(drop)
            .map_err(|_| OverBudget)
    }

    fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A buffered Argo answer. Its share of the budget is held for as long as the answer lives, not
/// only while it is read: callers keep the body while they translate it, which is when the
/// memory peaks (body plus translation), so releasing it earlier would let that peak grow
/// without bound.
pub struct BufferedAnswer {
    body: Vec<u8>,
    budget: Arc<AnswerBudget>,
    /// Bytes taken from the budget: the body's allocated capacity.
    reserved: usize,
}

impl BufferedAnswer {
    pub fn new(budget: Arc<AnswerBudget>) -> Self {
        BufferedAnswer {
            body: Vec::new(),
            budget,
            reserved: 0,
        }
    }

    /// Makes room for `capacity` bytes in all, taking the growth from the budget first.
    pub fn reserve_total(&mut self, capacity: usize) -> Result<(), OverBudget> {
        if capacity <= self.reserved {
            return Ok(());
        }
        self.budget.take(capacity - self.reserved)?;
        self.reserved = capacity;
        self.body.reserve_exact(capacity - self.body.len());
        Ok(())
    }

    /// Appends `bytes`, growing the allocation (and the reservation) by doubling, up to `ceiling`.
    pub fn append(&mut self, bytes: &[u8], ceiling: usize) -> Result<(), OverBudget> {
        let needed = self.body.len() + bytes.len();
        if needed > self.reserved {
            self.reserve_total(needed.max(self.reserved * 2).min(ceiling.max(needed)))?;
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

impl Drop for BufferedAnswer {
    fn drop(&mut self) {
        self.budget.give_back(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_hold_their_bytes_until_dropped() {
        let budget = AnswerBudget::new(100);
        let mut first = BufferedAnswer::new(budget.clone());
        first.reserve_total(60).unwrap();
        first.append(b"hello", 100).unwrap();
        assert_eq!((&*first, budget.held()), (b"hello".as_slice(), 60));
        let mut second = BufferedAnswer::new(budget.clone());
        assert_eq!(second.reserve_total(41), Err(OverBudget));
        assert_eq!(budget.held(), 60, "a refusal takes nothing");
        second.reserve_total(40).unwrap();
        drop(first);
        assert_eq!(budget.held(), 40);
        drop(second);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn appending_grows_by_doubling_within_the_ceiling() {
        let budget = AnswerBudget::new(1000);
        let mut answer = BufferedAnswer::new(budget.clone());
        answer.append(&[1; 10], 1000).unwrap();
        assert_eq!(budget.held(), 10);
        answer.append(&[2; 1], 1000).unwrap();
        assert_eq!(budget.held(), 20);
        answer.append(&[3; 15], 30).unwrap();
        assert_eq!((answer.len(), budget.held()), (26, 30));
        assert_eq!(answer.append(&[4; 980], 2000), Err(OverBudget));
        assert_eq!((answer.len(), budget.held()), (26, 30));
    }

    #[test]
    fn concurrent_answers_never_hold_more_than_the_limit() {
        let budget = AnswerBudget::new(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let mut answer = BufferedAnswer::new(budget.clone());
                        if answer.reserve_total(300).is_ok() {
                            assert!(budget.held() <= 1000);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(budget.held(), 0);
    }
}
