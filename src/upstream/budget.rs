//! Buffered (non-streaming) Argo answers hold their memory against a process-wide budget
//! (`crate::limits::budget`), of which each user may take a share: each answer reserves what it
//! allocates before allocating it, and gives it back when dropped, so that many large answers
//! at once are refused instead of exhausting memory.
//!
//! An answer of announced length is read into one buffer of that length. Any other grows as it
//! is read, in segments of at most [`MAX_SEGMENT_BYTES`] that are never copied while the answer
//! grows, and is joined into one buffer at its end, each segment freed as soon as it is copied:
//! what an answer holds (and reserves) is what it has read, plus at most one segment's spare
//! room, never the doubled allocation (and the copy of the old one beside it) of a growing
//! vector.

use std::ops::Deref;

use crate::limits::budget::Reservation;

/// Taking more would exceed the budget.
#[derive(Debug, PartialEq, Eq)]
pub struct OverBudget;

/// The first segment of an answer of unknown length: a short chat answer fits.
const FIRST_SEGMENT_BYTES: usize = 4 * 1024;
/// Segments grow with the answer up to this size.
const MAX_SEGMENT_BYTES: usize = 1024 * 1024;

/// A buffered Argo answer. Its share of the budget is held for as long as the answer lives, not
/// only while it is read: callers keep the body while they translate it, which is when the
/// memory peaks (body plus translation), so releasing it earlier would let that peak grow
/// without bound.
pub struct BufferedAnswer {
    body: Vec<u8>,
    /// The budget taken: the body's allocated capacity.
    _reservation: Reservation,
}

/// An answer being read.
pub struct AnswerBuffer {
    /// The segment being filled, allocated at its final capacity.
    last: Vec<u8>,
    /// The full segments before it, if any.
    full: Vec<Vec<u8>>,
    len: usize,
    /// The budget taken: the segments' capacities.
    reservation: Reservation,
}

impl AnswerBuffer {
    /// An answer of unknown length, its memory taken as it grows.
    pub fn new(reservation: Reservation) -> Self {
        AnswerBuffer {
            last: Vec::new(),
            full: Vec::new(),
            len: 0,
            reservation,
        }
    }

    /// An answer of announced `length`, its memory taken now, at once.
    pub fn with_length(mut reservation: Reservation, length: usize) -> Result<Self, OverBudget> {
        if !reservation.grow(length) {
            return Err(OverBudget);
        }
        Ok(AnswerBuffer {
            last: Vec::with_capacity(length),
            full: Vec::new(),
            len: 0,
            reservation,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `bytes`, filling the last segment's room first and taking a new segment (and
    /// its budget) for the rest.
    pub fn append(&mut self, mut bytes: &[u8]) -> Result<(), OverBudget> {
        while !bytes.is_empty() {
            let room = self.last.capacity() - self.last.len();
            if room == 0 {
                self.add_segment()?;
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.last.extend_from_slice(now);
            self.len += now.len();
            bytes = rest;
        }
        Ok(())
    }

    /// A segment as large as the answer so far, within the bounds: its spare room is never
    /// more than what was read.
    fn add_segment(&mut self) -> Result<(), OverBudget> {
        let size = self.len.clamp(FIRST_SEGMENT_BYTES, MAX_SEGMENT_BYTES);
        if !self.reservation.grow(size) {
            return Err(OverBudget);
        }
        let full = std::mem::replace(&mut self.last, Vec::with_capacity(size));
        if full.capacity() > 0 {
            self.full.push(full);
        }
        Ok(())
    }

    /// The whole answer in one buffer. Segments are copied one by one into a buffer of the
    /// answer's length, each freed once copied, so that the join holds the answer once, not
    /// twice; the spare room of the last segment goes back to the budget.
    pub fn finish(mut self) -> BufferedAnswer {
        let held = self.reservation.bytes();
        let body = match self.full.is_empty() {
            true => self.last,
            false => {
                let mut body = Vec::with_capacity(self.len);
                for segment in self.full.drain(..) {
                    body.extend_from_slice(&segment);
                }
                body.extend_from_slice(&self.last);
                drop(self.last);
                body
            }
        };
        self.reservation
            .shrink(held.saturating_sub(body.capacity()));
        BufferedAnswer {
            body,
            _reservation: self.reservation,
        }
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
    use std::sync::Arc;

    use super::*;
    use crate::limits::budget::{MemoryBudget, SharedBudget};

    fn budget(limit: usize) -> Arc<MemoryBudget> {
        MemoryBudget::new(
            limit,
            prometheus::IntGauge::new("test_answers", "test").unwrap(),
        )
    }

    #[test]
    fn answers_hold_their_bytes_until_dropped() {
        let budget = budget(100);
        let mut first = AnswerBuffer::with_length(budget.empty_reservation(), 60).unwrap();
        first.append(b"hello").unwrap();
        let first = first.finish();
        assert_eq!((&*first, budget.used()), (b"hello".as_slice(), 60));
        assert_eq!(
            AnswerBuffer::with_length(budget.empty_reservation(), 41).err(),
            Some(OverBudget)
        );
        assert_eq!(budget.used(), 60, "a refusal takes nothing");
        let second = AnswerBuffer::with_length(budget.empty_reservation(), 40).unwrap();
        drop(first);
        assert_eq!(budget.used(), 40);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_answer_of_unknown_length_holds_what_it_read_plus_at_most_one_segment() {
        let budget = budget(64 * 1024 * 1024);
        let mut answer = AnswerBuffer::new(budget.empty_reservation());
        let piece: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut expected = Vec::new();
        for _ in 0..2_000 {
            answer.append(&piece).unwrap();
            expected.extend_from_slice(&piece);
            let spare = budget.used() - answer.len();
            assert!(
                spare <= answer.len().max(FIRST_SEGMENT_BYTES),
                "{spare} spare bytes for {} read",
                answer.len()
            );
            assert!(spare <= MAX_SEGMENT_BYTES);
        }
        let answer = answer.finish();
        assert_eq!(&*answer, &expected[..]);
        assert_eq!(
            budget.used(),
            expected.len(),
            "the join gives the spare room back"
        );
        drop(answer);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_short_answer_is_one_segment() {
        let budget = budget(1000 * 1024);
        let mut answer = AnswerBuffer::new(budget.empty_reservation());
        answer.append(b"short").unwrap();
        answer.append(b" answer").unwrap();
        assert_eq!(budget.used(), FIRST_SEGMENT_BYTES);
        let answer = answer.finish();
        assert_eq!(&*answer, b"short answer");
        assert_eq!(budget.used(), FIRST_SEGMENT_BYTES);
    }

    #[test]
    fn past_the_budget_an_append_fails_and_takes_nothing_more() {
        let budget = budget(20 * 1024);
        let mut answer = AnswerBuffer::new(budget.empty_reservation());
        answer.append(&[7; 8 * 1024]).unwrap();
        let used = budget.used();
        assert_eq!(answer.append(&[7; 16 * 1024]), Err(OverBudget));
        assert!(budget.used() <= 20 * 1024);
        drop(answer);
        assert_eq!(budget.used(), 0);
        assert!(used > 0);
    }

    #[test]
    fn each_user_holds_at_most_its_share_of_answers() {
        let shared = SharedBudget::new(budget(100 * 1024), 40 * 1024);
        let mut alice = AnswerBuffer::new(shared.empty_reservation("alice"));
        assert_eq!(alice.append(&[1; 50 * 1024]), Err(OverBudget));
        let mut bob = AnswerBuffer::new(shared.empty_reservation("bob"));
        bob.append(&[2; 30 * 1024]).unwrap();
        assert_eq!(bob.finish().len(), 30 * 1024);
    }

    #[test]
    fn concurrent_answers_never_hold_more_than_the_limit() {
        let budget = budget(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let answer = AnswerBuffer::with_length(budget.empty_reservation(), 300);
                        if answer.is_ok() {
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
