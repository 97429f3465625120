//! Mutexes whose counts outlive a panic.

use std::sync::Mutex;

/// The guard of `mutex`, also after a thread panicked holding it: the counts it guards stay
/// usable.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
