//! Work that grows with a request or an answer (parsing and translating a multi-megabyte body,
//! counting its tokens) must not hold the worker threads that serve every connection: a few
//! large requests would make everyone else wait behind them. Past a size threshold such work
//! runs on Tokio's blocking threads instead, at most `threads` jobs at once, of which one user
//! may hold at most `per_user`: the rest of that user's work waits for the user's own slots, so
//! that another user's big request still finds one. Small work runs where it is, at no cost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock::lock;

use argo_filters::ApiError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct CpuPool {
    /// Jobs running at once, over all users.
    slots: Arc<Semaphore>,
    per_user: usize,
    /// Each user's slots, while the user has work running or waiting.
    users: Mutex<HashMap<Box<str>, Arc<Semaphore>, foldhash::fast::RandomState>>,
    /// Work on fewer bytes than this runs inline.
    threshold: usize,
}

impl CpuPool {
    /// `threads` jobs at once, `per_user` of them for one user (0: half, at least one); work
    /// of `threshold` bytes or more goes to the pool.
    pub fn new(threads: usize, per_user: usize, threshold: usize) -> Arc<Self> {
        let threads = threads.max(1);
        let per_user = match per_user {
            0 => threads / 2,
            per_user => per_user,
        };
        Arc::new(CpuPool {
            slots: Arc::new(Semaphore::new(threads)),
            per_user: per_user.clamp(1, threads),
            users: Mutex::new(HashMap::default()),
            threshold,
        })
    }

    /// Whether work on `size` bytes runs inline.
    pub fn inline(&self, size: usize) -> bool {
        size < self.threshold
    }

    /// `work` (on `size` bytes) for `user`: inline when small, else on a blocking thread once
    /// the user has a slot of its own and the pool one free. The slots are held until the work
    /// ends, even if the request waiting for it is dropped.
    pub async fn run<T: Send + 'static>(
        &self,
        user: &str,
        size: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.inline(size) {
            return Ok(work());
        }
        let user_slots = self.user_slots(user);
        let slots = Slots {
            _user: user_slots.clone().acquire_owned().await.map_err(closed)?,
            _pool: self.slots.clone().acquire_owned().await.map_err(closed)?,
        };
        let done = tokio::task::spawn_blocking(move || {
            let output = work();
            drop(slots);
            output
        })
        .await;
        self.forget_idle(user, user_slots);
        done.map_err(|e| ApiError::internal(format!("work on a large request failed: {e}")))
    }

    fn user_slots(&self, user: &str) -> Arc<Semaphore> {
        let mut users = lock(&self.users);
        if let Some(slots) = users.get(user) {
            return slots.clone();
        }
        let slots = Arc::new(Semaphore::new(self.per_user));
        users.insert(user.into(), slots.clone());
        slots
    }

    /// Drops the user's entry once nothing of the user's runs or waits.
    fn forget_idle(&self, user: &str, slots: Arc<Semaphore>) {
        let mut users = lock(&self.users);
        // The map's reference and ours: no other request of the user holds the entry.
        if Arc::strong_count(&slots) == 2 && slots.available_permits() == self.per_user {
            users.remove(user);
        }
    }

    /// Users with work running or waiting.
    #[cfg(test)]
    fn users(&self) -> usize {
        lock(&self.users).len()
    }
}

/// A job's slots, given back when it ends.
struct Slots {
    _user: OwnedSemaphorePermit,
    _pool: OwnedSemaphorePermit,
}

fn closed(_: tokio::sync::AcquireError) -> ApiError {
    ApiError::internal("the pool for large requests is closed")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn small_work_runs_inline_and_large_work_on_another_thread() {
        let pool = CpuPool::new(2, 1, 1000);
        let here = std::thread::current().id();
        let inline = pool.run("alice", 999, std::thread::current).await.unwrap();
        assert_eq!(inline.id(), here);
        let offloaded = pool.run("alice", 1000, std::thread::current).await.unwrap();
        assert_ne!(offloaded.id(), here);
        assert_eq!(pool.users(), 0, "an idle user leaves no entry");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_user_holds_at_most_its_share_and_another_still_gets_a_slot() {
        let pool = CpuPool::new(2, 1, 0);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let job = |running: Arc<AtomicUsize>, most: Arc<AtomicUsize>| {
            move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                running.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let alice: Vec<_> = (0..4)
            .map(|_| {
                let (pool, job) = (pool.clone(), job(running.clone(), most.clone()));
                tokio::spawn(async move { pool.run("alice", 1, job).await })
            })
            .collect();
        for _ in 0..400 {
            if running.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "alice has one slot of two");
        let started = std::time::Instant::now();
        pool.run("bob", 1, || ()).await.unwrap();
        // Had alice taken both slots, bob would have waited for one of her jobs (300 ms).
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "bob waited for alice's work: {:?}",
            started.elapsed()
        );
        for job in alice {
            job.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(pool.users(), 0);
    }
}
