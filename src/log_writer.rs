//! Log lines are gathered in memory and written to stderr in batches: a busy gateway then makes
//! one write per batch instead of one per request. A batch goes out when it holds 64 KiB, every
//! 100 ms, and before the process exits.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

const FLUSH_AT_BYTES: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The `env_logger` target.
pub struct BatchedStderr;

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = PENDING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.extend_from_slice(bytes);
        if pending.len() >= FLUSH_AT_BYTES {
            write_out(&mut pending);
        }
        Ok(bytes.len())
    }

    /// `env_logger` flushes after every record; batching is the point, so the flusher decides.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes out what is pending; call before exiting.
pub fn flush() {
    let mut pending = PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    write_out(&mut pending);
}

/// Starts the thread that writes batches out every [`FLUSH_EVERY`].
pub fn start_flusher() {
    let spawned = std::thread::Builder::new()
        .name("log-flusher".into())
        .spawn(|| loop {
            std::thread::sleep(FLUSH_EVERY);
            flush();
        });
    if let Err(e) = spawned {
        eprintln!("argo-bridge: cannot start the log flusher ({e}); logs may be delayed");
    }
}

fn write_out(pending: &mut Vec<u8>) {
    if pending.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(pending);
    let _ = stderr.flush();
    pending.clear();
}
