//! Per-user fairness on a shared gateway: a token bucket for the request rate and a cap on
//! requests in flight. Each instance keeps these counts itself, so with N instances behind a
//! load balancer a user gets up to N times the configured figures, unless `limits.redis_url`
//! is set: then every instance checks one shared set of counts in Redis (`shared`), and its own
//! counts only judge the requests that Redis cannot (unreachable, or too slow to answer).
//! Work that grows with a large request runs on a pool of its own with a share per user
//! (`cpu`). The memory budgets of request bodies and buffered answers are here too (`budget`).
//!
//! May import `config` and `observe`; imported by `edge`, `upstream`, `serve` and the crate
//! root.
//!
//! Every limit, where it is enforced, and what a client gets past it (the `code` of the error
//! envelope, `filters/src/error.rs`); the settings are `limits.*` unless named otherwise:
//!
//! | limit | enforced in | past it |
//! |---|---|---|
//! | `request_head_timeout_ms` | `edge/front_door.rs` | 408 `request_timeout`, connection closed |
//! | `max_request_head_bytes` | `edge/front_door.rs` | 431 `request_header_fields_too_large` |
//! | `max_uri_bytes` | `edge/front_door.rs` | 414 `uri_too_long` |
//! | `max_unauthenticated_connections_per_address` | `edge/front_door.rs` | 429 `too_many_connections` + `Retry-After` |
//! | `max_connections`, `admin.max_connections` | `edge/front_door.rs` (`ConnectionCap`) | 503 `server_busy` + `Retry-After`, connection closed |
//! | `keepalive_timeout_s` | `edge/front_door.rs`, `serve/gateway.rs` | idle connection closed |
//! | `max_body_bytes` | `edge/http.rs` (`read_body`) | 413 `request_too_large`, connection closed |
//! | `client_body_timeout_ms`, `client_body_total_timeout_ms` | `edge/http.rs` | 408 `request_timeout` |
//! | `max_buffered_request_bytes_total`, `_per_user` | `limits/budget.rs`, reserved in `edge/http.rs` | 503 `server_busy` + `Retry-After` |
//! | `per_user_requests_per_minute`, `per_user_burst` | `limits/mod.rs` (`UserLimits`), `limits/shared.rs` with Redis | 429 `rate_limit_exceeded` + `Retry-After` |
//! | `per_user_max_concurrent` | `limits/mod.rs` (`Permit`), `limits/shared.rs` with Redis | 429 `rate_limit_exceeded` + `Retry-After` |
//! | `redis_timeout_ms`, `redis_backoff_ms` | `limits/shared.rs` | none: the check is judged locally |
//! | `cpu_threads`, `cpu_threads_per_user`, `cpu_offload_bytes` | `limits/cpu.rs` (`CpuPool`) | none: the work waits for the user's share |
//! | `max_prompts_per_request` | `serve/handlers/openai.rs` | 400 `too_many_prompts` |
//! | `max_tool_block_bytes` | `serve/handlers/conversation.rs` | none: the block is released as text |
//! | `client_write_timeout_ms` | `serve/gateway.rs` (the stream's writes) | the stream and its Argo request end |
//! | `upstream.max_answer_bytes` | `upstream/mod.rs` | 502 `bad_gateway` |
//! | `upstream.max_buffered_answer_bytes_total`, `_per_user` | `limits/budget.rs`, reserved in `upstream/budget.rs` | 503 `upstream_answers_over_budget` + `Retry-After` |

pub mod budget;
mod cpu;
pub mod lock;
mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argo_filters::ApiError;

use crate::config::Limits;
use shared::{Lease, SharedLimits, Verdict};

pub use cpu::CpuPool;
pub use shared::Upkeep;

pub struct UserLimits {
    /// Tokens added per second; 0 disables the rate limit.
    refill_per_second: f64,
    burst: f64,
    max_concurrent: u32,
    users: Mutex<HashMap<String, UserState>>,
    /// The counts every instance shares, when `limits.redis_url` is set.
    shared: Option<Arc<SharedLimits>>,
}

struct UserState {
    tokens: f64,
    refilled: Instant,
    in_flight: u32,
}

/// Held for the life of an admitted request; dropping it frees the user's concurrency slot.
pub struct Permit {
    _slot: Slot,
}

enum Slot {
    /// A slot in this instance's own count.
    Local {
        limits: Arc<UserLimits>,
        user: String,
    },
    /// A lease in Redis, given back when dropped.
    Shared { _lease: Lease },
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
        let enabled = rate > 0.0 || config.per_user_max_concurrent > 0;
        // The URL was checked with the rest of the configuration.
        let shared = if enabled {
            SharedLimits::new(config, rate / 60.0, burst).unwrap_or_else(|error| {
                log::error!(
                    "per-user limits: Redis unusable ({error}); each instance counts alone"
                );
                None
            })
        } else {
            None
        };
        Arc::new(UserLimits {
            refill_per_second: rate / 60.0,
            burst,
            max_concurrent: config.per_user_max_concurrent,
            users: Mutex::new(HashMap::new()),
            shared,
        })
    }

    /// The background task that keeps the Redis connection and the leases, when limits are
    /// shared.
    pub fn upkeep(&self) -> Option<Upkeep> {
        self.shared
            .as_ref()
            .map(|shared| Upkeep(Arc::clone(shared)))
    }

    fn enabled(&self) -> bool {
        self.refill_per_second > 0.0 || self.max_concurrent > 0
    }

    /// Admits one request for `user`, or says when to come back (429 with Retry-After): by the
    /// shared counts when there are any and Redis answers in time, else by this instance's.
    pub async fn admit(self: &Arc<Self>, user: &str) -> Result<Option<Permit>, ApiError> {
        if !self.enabled() {
            return Ok(None);
        }
        if let Some(shared) = &self.shared {
            if let Some(verdict) = shared.check(user, 1, true).await {
                return self.judge(verdict).map(|lease| {
                    lease.map(|lease| Permit {
                        _slot: Slot::Shared { _lease: lease },
                    })
                });
            }
        }
        self.admit_locally(user)
    }

    fn admit_locally(self: &Arc<Self>, user: &str) -> Result<Option<Permit>, ApiError> {
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
            return Err(self.too_many_in_flight());
        }
        self.take_tokens(state, now, 1.0)?;
        state.in_flight += 1;
        Ok(Some(Permit {
            _slot: Slot::Local {
                limits: Arc::clone(self),
                user: user.to_string(),
            },
        }))
    }

    /// Redis' verdict as this gateway answers it: the same 429s as the local limits.
    fn judge(&self, verdict: Verdict) -> Result<Option<Lease>, ApiError> {
        match verdict {
            Verdict::Admitted(lease) => Ok(lease),
            Verdict::TooManyInFlight => Err(self.too_many_in_flight()),
            Verdict::OutOfTokens(wait_ms) => Err(self.out_of_tokens(wait_ms.div_ceil(1000))),
        }
    }

    fn too_many_in_flight(&self) -> ApiError {
        too_many(
            format!("You have {} requests in flight, the most this gateway allows per user; wait for one to finish", self.max_concurrent),
            1,
        )
    }

    fn out_of_tokens(&self, wait_seconds: u64) -> ApiError {
        too_many(
            format!(
                "Rate limit of {:.0} requests (Argo calls) per minute reached",
                self.refill_per_second * 60.0
            ),
            wait_seconds.max(1),
        )
    }
}

impl UserLimits {
    /// Counts `calls` more Argo calls for a request already admitted (a request that fans out
    /// into several calls spends one rate token per call), all or none; 429 when the user has
    /// not that many left.
    pub async fn charge(&self, user: &str, calls: u32) -> Result<(), ApiError> {
        if self.refill_per_second <= 0.0 || calls == 0 {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            if let Some(verdict) = shared.check(user, calls, false).await {
                return self.judge(verdict).map(drop);
            }
        }
        self.charge_locally(user, calls)
    }

    fn charge_locally(&self, user: &str, calls: u32) -> Result<(), ApiError> {
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
            return Err(self.out_of_tokens(wait));
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

impl Drop for Slot {
    fn drop(&mut self) {
        // A shared lease gives itself back when dropped.
        let Slot::Local { limits, user } = self else {
            return;
        };
        let mut users = limits
            .users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(state) = users.get_mut(user.as_str()) {
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

    /// Without Redis the limits never wait: their futures are ready at once.
    fn now<T>(future: impl std::future::Future<Output = T>) -> T {
        futures::executor::block_on(future)
    }

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
        let permits: Vec<_> = (0..3)
            .map(|_| now(limits.admit("alice")).unwrap())
            .collect();
        let error = now(limits.admit("alice")).err().unwrap();
        assert_eq!(
            (error.status, error.retry_after.as_deref()),
            (429, Some("1"))
        );
        assert!(
            now(limits.admit("bob")).is_ok(),
            "users do not share a bucket"
        );
        drop(permits);
        assert!(
            now(limits.admit("alice")).is_err(),
            "finishing requests returns no rate tokens"
        );
    }

    #[test]
    fn concurrency_cap_frees_slots_when_requests_finish() {
        let limits = limits(0, 0, 2);
        let first = now(limits.admit("alice")).unwrap();
        let _second = now(limits.admit("alice")).unwrap();
        assert_eq!(now(limits.admit("alice")).err().unwrap().status, 429);
        drop(first);
        assert!(now(limits.admit("alice")).unwrap().is_some());
    }

    #[test]
    fn further_calls_of_an_admitted_request_spend_rate_tokens() {
        let limits = limits(60, 3, 0);
        let _permit = now(limits.admit("alice")).unwrap();
        assert_eq!(now(limits.charge("alice", 3)).err().unwrap().status, 429);
        assert!(
            now(limits.charge("alice", 2)).is_ok(),
            "a refused charge takes nothing"
        );
        assert_eq!(now(limits.charge("alice", 1)).err().unwrap().status, 429);
        assert_eq!(now(limits.admit("alice")).err().unwrap().status, 429);
    }

    #[test]
    fn disabled_limits_admit_everything_without_state() {
        let limits = limits(0, 0, 0);
        for _ in 0..100 {
            assert!(now(limits.admit("alice")).unwrap().is_none());
        }
        assert!(limits.users.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn unreachable_redis_leaves_the_local_limits_in_force() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let limits = UserLimits::new(&Limits {
            per_user_requests_per_minute: 60,
            per_user_burst: 2,
            per_user_max_concurrent: 1,
            redis_url: format!("redis://127.0.0.1:{closed}"),
            ..Limits::default()
        });
        let upkeep = limits.upkeep().expect("a shared backend");
        let task = tokio::spawn(async move { upkeep.0.run().await });
        let first = limits.admit("alice").await.unwrap();
        assert!(first.is_some());
        let busy = limits.admit("alice").await.err().unwrap();
        assert_eq!((busy.status, busy.retry_after.as_deref()), (429, Some("1")));
        drop(first);
        assert!(limits.admit("alice").await.unwrap().is_some());
        let out = limits.admit("alice").await.err().unwrap();
        assert_eq!((out.status, out.retry_after.as_deref()), (429, Some("1")));
        assert!(out.message.contains("Rate limit of 60"), "{}", out.message);
        assert_eq!(limits.charge("alice", 1).await.err().unwrap().status, 429);
        task.abort();
    }
}
