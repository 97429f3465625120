//! Per-user fairness on a shared gateway: a token bucket for the request rate and a cap on
//! requests in flight. State is per instance; with N instances behind a load balancer a user
//! gets up to N times the configured figures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argo_filters::ApiError;

use crate::config::Limits;

pub struct UserLimits {
    /// Tokens added per second; 0 disables the rate limit.
    refill_per_second: f64,
    burst: f64,
    max_concurrent: u32,
    users: Mutex<HashMap<String, UserState>>,
}

struct UserState {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// Held for the life of an admitted request; dropping it frees the user's concurrency slot.
pub struct Permit {
    limits: Arc<UserLimits>,
    user: String,
}

/// Entries beyond this many users are pruned of idle, fully refilled ones.
const PRUNE_ABOVE: usize = 10_000;

impl UserLimits {
    pub fn new(config: &Limits) -> Arc<Self> {
        let rate = config.per_user_requests_per_minute as f64;
        let burst = if config.per_user_burst > 0 {
            config.per_user_burst as f64
        } else {
            rate
        };
        Arc::new(UserLimits {
            refill_per_second: rate / 60.0,
            burst,
            max_concurrent: config.per_user_max_concurrent,
            users: Mutex::new(HashMap::new()),
        })
    }

    fn enabled(&self) -> bool {
        self.refill_per_second > 0.0 || self.max_concurrent > 0
    }

    /// Admits one request for `user`, or says when to come back (429 with Retry-After).
    pub fn admit(self: &Arc<Self>, user: &str) -> Result<Option<Permit>, ApiError> {
        if !self.enabled() {
            return Ok(None);
        }
        let now = Instant::now();
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if users.len() > PRUNE_ABOVE {
            users.retain(|_, state| state.in_flight > 0 || state.tokens_at(now, self) < self.burst);
        }
        let state = users
            .entry(user.to_string())
            .or_insert_with(|| UserState::full(self.burst, now));
        if self.max_concurrent > 0 && state.in_flight >= self.max_concurrent {
            return Err(too_many(
                format!("You have {} requests in flight, the most this gateway allows per user; wait for one to finish", self.max_concurrent),
                1,
            ));
        }
        self.take_tokens(state, now, 1.0)?;
        state.in_flight += 1;
        Ok(Some(Permit {
            limits: Arc::clone(self),
            user: user.to_string(),
        }))
    }
}

impl UserLimits {
    /// Counts `calls` more Argo calls for a request already admitted (a request that fans out
    /// into several calls spends one rate token per call), all or none; 429 when the user has
    /// not that many left.
    pub fn charge(&self, user: &str, calls: u32) -> Result<(), ApiError> {
        if self.refill_per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = users
            .entry(user.to_string())
            .or_insert_with(|| UserState::full(self.burst, now));
        self.take_tokens(state, now, f64::from(calls))
    }

    fn take_tokens(&self, state: &mut UserState, now: Instant, count: f64) -> Result<(), ApiError> {
        if self.refill_per_second <= 0.0 {
            return Ok(());
        }
        state.tokens = state.tokens_at(now, self);
        state.refilled = now;
        if state.tokens < count {
            let wait = ((count - state.tokens) / self.refill_per_second)
                .ceil()
                .max(1.0) as u64;
            return Err(too_many(
                format!(
                    "Rate limit of {:.0} requests (Argo calls) per minute reached",
                    self.refill_per_second * 60.0
                ),
                wait,
            ));
        }
        state.tokens -= count;
        Ok(())
    }
}

impl UserState {
    fn full(burst: f64, now: Instant) -> Self {
        UserState {
            tokens: burst,
            refilled: now,
            in_flight: 0,
        }
    }

    fn tokens_at(&self, now: Instant, limits: &UserLimits) -> f64 {
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        (self.tokens + elapsed * limits.refill_per_second).min(limits.burst)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut users = self
            .limits
            .users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(state) = users.get_mut(&self.user) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

fn too_many(message: String, retry_after_seconds: u64) -> ApiError {
    let mut error = ApiError::rate_limited(message);
    error.retry_after = Some(retry_after_seconds.to_string());
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32, max_concurrent: u32) -> Arc<UserLimits> {
        UserLimits::new(&Limits {
            per_user_requests_per_minute: per_minute,
            per_user_burst: burst,
            per_user_max_concurrent: max_concurrent,
            ..Limits::default()
        })
    }

    #[test]
    fn burst_then_429_with_retry_after_per_user() {
        let limits = limits(60, 3, 0);
        let permits: Vec<_> = (0..3).map(|_| limits.admit("alice").unwrap()).collect();
        let error = limits.admit("alice").err().unwrap();
        assert_eq!(
            (error.status, error.retry_after.as_deref()),
            (429, Some("1"))
        );
        assert!(limits.admit("bob").is_ok(), "users do not share a bucket");
        drop(permits);
        assert!(
            limits.admit("alice").is_err(),
            "finishing requests returns no rate tokens"
        );
    }

    #[test]
    fn concurrency_cap_frees_slots_when_requests_finish() {
        let limits = limits(0, 0, 2);
        let first = limits.admit("alice").unwrap();
        let _second = limits.admit("alice").unwrap();
        assert_eq!(limits.admit("alice").err().unwrap().status, 429);
        drop(first);
        assert!(limits.admit("alice").unwrap().is_some());
    }

    #[test]
    fn further_calls_of_an_admitted_request_spend_rate_tokens() {
        let limits = limits(60, 3, 0);
        let _permit = limits.admit("alice").unwrap();
        assert_eq!(limits.charge("alice", 3).err().unwrap().status, 429);
        assert!(
            limits.charge("alice", 2).is_ok(),
            "a refused charge takes nothing"
        );
        assert_eq!(limits.charge("alice", 1).err().unwrap().status, 429);
        assert_eq!(limits.admit("alice").err().unwrap().status, 429);
    }

    #[test]
    fn disabled_limits_admit_everything_without_state() {
        let limits = limits(0, 0, 0);
        for _ in 0..100 {
            assert!(limits.admit("alice").unwrap().is_none());
        }
        assert!(limits.users.lock().unwrap().is_empty());
    }
}
