//! Log lines are queued in memory and written to stderr by one writer thread, in batches: a
//! busy gateway makes one write per batch instead of one per request, and a worker thread never
//! waits on stderr (a slow log reader or a full pipe). A batch goes out when it holds 64 KiB,
//! every 100 ms, and before the process exits. The queue is bounded: when the writer falls
//! behind by more than 8 MiB, new lines are dropped and counted
//! (`argo_bridge_log_lines_dropped_total`).

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use prometheus::IntCounter;

const FLUSH_AT_BYTES: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;

static QUEUE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static FULL_BATCH: Condvar = Condvar::new();
/// Where dropped lines are counted ([`count_drops_in`]); none before the logger starts.
static DROPPED: OnceLock<IntCounter> = OnceLock::new();

/// Counts the lines dropped from now on in `counter` (the metrics' own, given by whoever
/// starts the logger: the writer knows no metric).
pub fn count_drops_in(counter: IntCounter) {
    let _ = DROPPED.set(counter);
}

/// The `env_logger` target.
pub struct BatchedStderr;

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        queue(bytes);
        Ok(bytes.len())
    }

    /// `env_logger` flushes after every record; batching is the point, so the writer decides.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Queues whole lines for the writer, or drops and counts them when the queue is full.
pub fn queue(lines: &[u8]) {
    let mut queue = lock_queue();
    if queue.len() + lines.len() > MAX_QUEUED_BYTES {
        drop(queue);
        if let Some(dropped) = DROPPED.get() {
            dropped.inc();
        }
        return;
    }
    queue.extend_from_slice(lines);
    if queue.len() >= FLUSH_AT_BYTES {
        FULL_BATCH.notify_one();
    }
}

fn lock_queue() -> MutexGuard<'static, Vec<u8>> {
    QUEUE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes out what is queued; call before exiting.
pub fn flush() {
    let batch = std::mem::take(&mut *lock_queue());
    write_out(&batch);
}

/// Starts the thread that writes batches out, when one is full or every [`FLUSH_EVERY`].
pub fn start_flusher() {
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(|| loop {
            let batch = {
                let queue = lock_queue();
                let (mut queue, _) = FULL_BATCH
                    .wait_timeout_while(queue, FLUSH_EVERY, |queue| queue.len() < FLUSH_AT_BYTES)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                std::mem::take(&mut *queue)
            };
            write_out(&batch);
        });
    if let Err(e) = spawned {
        eprintln!("argo-bridge: cannot start the log writer ({e}); logs may be delayed");
    }
}

fn write_out(batch: &[u8]) {
    if batch.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(batch);
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_queue_bound_are_dropped_and_counted() {
        let line = [b'x'; 1024];
        let dropped = DROPPED.get_or_init(|| IntCounter::new("dropped", "dropped").unwrap());
        let dropped_before = dropped.get();
        let mut writer = BatchedStderr;
        // No writer thread runs in unit tests: nothing drains the queue.
        for _ in 0..(MAX_QUEUED_BYTES / line.len() + 10) {
            assert_eq!(writer.write(&line).unwrap(), line.len());
        }
        assert!(lock_queue().len() <= MAX_QUEUED_BYTES);
        assert!(dropped.get() >= dropped_before + 10);
        lock_queue().clear();
    }
}
