//! The per-user limits kept in Redis, so that they hold across every instance of the gateway.
//!
//! Each check is one Lua script (`ADMIT`), run with EVALSHA (redis-rs sends the script itself
//! once when Redis answers NOSCRIPT), that reads and updates a user's two keys atomically, on
//! Redis' clock so that the instances' clocks do not matter:
//! - `{prefix}{user}:rate`, a hash `{tokens, at}`: the token bucket. It expires when it would be
//!   full again, so an idle user leaves nothing behind and a missing key means a full bucket.
//! - `{prefix}{user}:slots`, a sorted set: one member (a lease) per request in flight, scored
//!   with the time its lease ends.
//!
//! Why leases rather than a counter: a counter that each request's end decrements is leaked for
//! good by an instance that crashes (or loses Redis) between a request's admission and its end,
//! and a TTL on the whole counter would also forget the other instances' live requests. A lease
//! lapses by itself: admission first drops the lapsed ones, an instance renews the leases of its
//! running requests every third of the lease time (`Upkeep`), and deletes a lease when its
//! request ends (in a spawned task: a request's end never waits for Redis). So a crashed
//! instance's slots free themselves within one lease time (`limits.redis_slot_lease_ms`), and
//! the key expires a lease time after its last use.
//!
//! Nothing here fails a request: any error, or no answer within `limits.redis_timeout_ms`,
//! makes the caller judge that request by the instance's own limits (`UserLimits`). That is
//! counted (`argo_bridge_limit_backend_fallbacks_total`), logged once at `warn` when it starts
//! and at `info` when Redis is back. The connection is made and remade in the background, never
//! by a request. Neither usernames nor the Redis URL (it may hold a password) are logged.
//!
//! A Redis that takes connections but stalls would cost every request the whole timeout, so
//! three checks in a row that time out or fail trip a breaker ([`Breaker`]): the checks that
//! follow are judged locally at once, without asking Redis, for `limits.redis_backoff_ms`; then
//! one check tries Redis again, and each failed try doubles the wait (up to 16 times). Each trip
//! is counted (`argo_bridge_limit_backend_trips_total`) and logged once at `warn`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_timeout::fast_timeout::fast_timeout;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Script};
use tokio::sync::{watch, Notify};

use super::lock::lock;
use crate::config::Limits;
use crate::observe::metrics;

/// Takes one request's rate tokens and, when asked, a concurrency slot: all or nothing.
/// KEYS[1]: the bucket, KEYS[2]: the leases. ARGV: tokens refilled per millisecond (0: no rate
/// limit), bucket size, tokens to take, most leases (0: take none), lease milliseconds, the new
/// lease's member. Answers `{1, 0}` admitted, `{0, 0}` too many in flight, `{0, ms}` out of
/// tokens for that many milliseconds.
const ADMIT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local refill = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local most = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= most then
    return {0, 0}
  end
end
if refill > 0 then
  local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * refill)
  if tokens < cost then
    return {0, math.max(1, math.ceil((cost - tokens) / refill))}
  end
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / refill) + 1000)
end
if most > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[6])
  redis.call('PEXPIRE', KEYS[2], lease + 1000)
end
return {1, 0}
";

/// Renews this instance's leases that still exist (a lapsed one stays lapsed). KEYS: lease
/// sets; ARGV[1]: lease milliseconds; ARGV[i + 1]: the lease in KEYS[i].
const RENEW: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lease = tonumber(ARGV[1])
local renewed = 0
for i, key in ipairs(KEYS) do
  renewed = renewed + redis.call('ZADD', key, 'XX', 'CH', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease + 1000)
end
return renewed
";

/// A connection attempt runs in the background, so it may take longer than one check.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between connection attempts while Redis is unreachable.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Renewals and releases hold no request: they may wait longer than a check.
const UPKEEP_TIMEOUT: Duration = Duration::from_secs(1);
/// Leases renewed per script call.
const RENEW_BATCH: usize = 256;
/// The breaker's wait grows to at most this many times `limits.redis_backoff_ms`.
const MAX_BACKOFF_FACTOR: u32 = 16;
/// Failed checks in a row that open the breaker.
const FAILURES_TO_TRIP: u32 = 3;

pub struct SharedLimits {
    client: Client,
    prefix: String,
    timeout: Duration,
    lease: Duration,
    refill_per_ms: f64,
    burst: f64,
    max_concurrent: u32,
    admit_script: Script,
    renew_script: Script,
    link: watch::Sender<Link>,
    /// Wakes the upkeep task to reconnect at once when a check finds the connection broken.
    wake: Notify,
    /// Checks are being judged locally; cleared (and logged) when Redis answers again.
    degraded: AtomicBool,
    /// Keeps checks away from a Redis that failed one, for a while.
    breaker: Breaker,
    /// Names this instance's leases: random, so that instances never collide.
    instance: String,
    next_lease: AtomicU64,
    /// This instance's leases for requests still running, by number: their sets' keys.
    leases: Mutex<HashMap<u64, String>>,
}

#[derive(Clone)]
enum Link {
    /// The first connection attempt has not finished: checks wait for it (within their timeout).
    Starting,
    Up {
        connection: MultiplexedConnection,
        generation: u64,
    },
    Down,
}

/// What Redis decided.
pub enum Verdict {
    /// Admitted, holding a lease when a concurrency slot was asked for.
    Admitted(Option<Lease>),
    TooManyInFlight,
    /// Out of rate tokens for this many milliseconds.
    OutOfTokens(u64),
}

/// Why a check was judged locally; the label of the fallback counter.
#[derive(Debug)]
enum Fault {
    Unavailable,
    Timeout,
    Error(String),
    /// The connection broke: checks find none until the upkeep task has made a new one.
    Dropped(String),
    /// Not asked: the breaker is open after a failure.
    BreakerOpen,
}

impl Fault {
    fn label(&self) -> &'static str {
        match self {
            Fault::Unavailable => "unavailable",
            Fault::Timeout => "timeout",
            Fault::Error(_) | Fault::Dropped(_) => "error",
            Fault::BreakerOpen => "breaker_open",
        }
    }

    /// A failure of a Redis still connected, which keeps the next checks away from it. Without
    /// a connection a check falls back at once, costing nothing.
    fn trips(&self) -> bool {
        matches!(self, Fault::Timeout | Fault::Error(_))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unavailable => write!(f, "no connection"),
            Fault::Timeout => write!(f, "no answer in time"),
            Fault::Error(cause) | Fault::Dropped(cause) => write!(f, "{cause}"),
            Fault::BreakerOpen => write!(f, "left alone after a failure"),
        }
    }
}

/// A circuit breaker in front of Redis: closed, every check asks it; open (after
/// [`FAILURES_TO_TRIP`] failed checks in a row), none does until the wait is over; then the
/// first check to come tries it, and the others keep away while that one runs (at most one
/// check timeout). One late answer on a busy machine must not turn the limits local for a
/// whole wait, hence a few failures in a row rather than one.
struct Breaker {
    first_wait: Duration,
    state: Mutex<BreakerState>,
}

struct BreakerState {
    /// Checks do not ask Redis before this; `None`: closed.
    open_until: Option<Instant>,
    /// Failed checks since the last answered one.
    failures: u32,
    /// The wait of the next trip.
    next_wait: Duration,
}

impl Breaker {
    fn new(first_wait: Duration) -> Self {
        Breaker {
            first_wait,
            state: Mutex::new(BreakerState {
                open_until: None,
                failures: 0,
                next_wait: first_wait,
            }),
        }
    }

    /// Whether a check may ask Redis now. Past the wait, the first caller may, and holds the
    /// others off for `trial` (its timeout).
    fn allows(&self, trial: Duration) -> bool {
        let mut state = lock(&self.state);
        let now = Instant::now();
        match state.open_until {
            None => true,
            Some(until) if now >= until => {
                state.open_until = Some(now + trial);
                true
            }
            Some(_) => false,
        }
    }

    /// Redis answered a check: closed again, with the first wait.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.open_until = None;
        state.failures = 0;
        state.next_wait = self.first_wait;
    }

    /// Redis failed a check. The breaker opens (and this says for how long) on the
    /// [`FAILURES_TO_TRIP`]th failure in a row, or when a try after a wait fails; each trip
    /// doubles the next wait.
    fn failed(&self) -> Option<Duration> {
        let mut state = lock(&self.state);
        state.failures += 1;
        if state.open_until.is_none() && state.failures < FAILURES_TO_TRIP {
            return None;
        }
        let wait = state.next_wait;
        state.open_until = Some(Instant::now() + wait);
        state.next_wait = (wait * 2).min(self.first_wait * MAX_BACKOFF_FACTOR);
        Some(wait)
    }
}

/// A concurrency slot held in Redis for one request; dropping it gives the slot back.
pub struct Lease {
    shared: Arc<SharedLimits>,
    number: u64,
}

impl SharedLimits {
    /// `None` when `limits.redis_url` is empty. The URL was checked by `check_url`.
    pub fn new(
        config: &Limits,
        refill_per_second: f64,
        burst: f64,
    ) -> Result<Option<Arc<Self>>, String> {
        if config.redis_url.is_empty() {
            return Ok(None);
        }
        let client = Client::open(config.redis_url.as_str()).map_err(|error| describe(&error))?;
        Ok(Some(Arc::new(SharedLimits {
            client,
            prefix: config.redis_key_prefix.clone(),
            timeout: Duration::from_millis(config.redis_timeout_ms),
            lease: Duration::from_millis(config.redis_slot_lease_ms),
            refill_per_ms: refill_per_second / 1000.0,
            burst,
            max_concurrent: config.per_user_max_concurrent,
            admit_script: Script::new(ADMIT),
            renew_script: Script::new(RENEW),
            link: watch::Sender::new(Link::Starting),
            wake: Notify::new(),
            degraded: AtomicBool::new(false),
            breaker: Breaker::new(Duration::from_millis(config.redis_backoff_ms)),
            instance: format!("{:016x}", rand::random::<u64>()),
            next_lease: AtomicU64::new(0),
            leases: Mutex::new(HashMap::new()),
        })))
    }

    /// Takes `cost` rate tokens and, with `slot`, a concurrency slot for `user`. `None`: Redis
    /// could not say (counted and logged); judge this one locally.
    pub async fn check(self: &Arc<Self>, user: &str, cost: u32, slot: bool) -> Option<Verdict> {
        if !self.breaker.allows(self.timeout) {
            self.fell_back(&Fault::BreakerOpen);
            return None;
        }
        let keys = Keys::new(&self.prefix, user);
        let lease = (slot && self.max_concurrent > 0)
            .then(|| self.next_lease.fetch_add(1, Ordering::Relaxed));
        let member = lease.map(|number| self.member(number));
        let answer = fast_timeout(self.timeout, self.run_check(&keys, cost, member.as_deref()))
            .await
            .unwrap_or(Err(Fault::Timeout));
        let (allowed, wait_ms) = match answer {
            Ok(answer) => answer,
            Err(fault) => {
                // The script may have run and taken a lease before the time ran out.
                if let Some(member) = member {
                    self.release(keys.slots, member);
                }
                if fault.trips() {
                    self.failed(&fault);
                }
                self.fell_back(&fault);
                return None;
            }
        };
        self.breaker.close();
        self.recovered();
        Some(match (allowed, wait_ms) {
            (1, _) => Verdict::Admitted(lease.map(|number| {
                lock(&self.leases).insert(number, keys.slots);
                Lease {
                    shared: Arc::clone(self),
                    number,
                }
            })),
            (_, 0) => Verdict::TooManyInFlight,
            (_, wait_ms) => Verdict::OutOfTokens(u64::try_from(wait_ms).unwrap_or(1)),
        })
    }

    async fn run_check(
        &self,
        keys: &Keys,
        cost: u32,
        member: Option<&str>,
    ) -> Result<(i64, i64), Fault> {
        let (mut connection, generation) = self.connection().await?;
        let mut call = self.admit_script.prepare_invoke();
        call.key(&keys.rate)
            .key(&keys.slots)
            .arg(self.refill_per_ms)
            .arg(self.burst)
            .arg(cost)
            .arg(if member.is_some() {
                self.max_concurrent
            } else {
                0
            })
            .arg(lease_ms(self.lease))
            .arg(member.unwrap_or(""));
        call.invoke_async(&mut connection)
            .await
            .map_err(|error| self.broken(&error, generation))
    }

    /// The live connection; while the first attempt runs, waits for it.
    async fn connection(&self) -> Result<(MultiplexedConnection, u64), Fault> {
        let mut receiver = self.link.subscribe();
        let link = receiver
            .wait_for(|link| !matches!(link, Link::Starting))
            .await
            .map_err(|_| Fault::Unavailable)?;
        match &*link {
            Link::Up {
                connection,
                generation,
            } => Ok((connection.clone(), *generation)),
            _ => Err(Fault::Unavailable),
        }
    }

    /// A failed call: a broken connection is dropped (the upkeep task makes a new one).
    fn broken(&self, error: &RedisError, generation: u64) -> Fault {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            let dropped = self.link.send_if_modified(|link| match link {
                Link::Up { generation: g, .. } if *g == generation => {
                    *link = Link::Down;
                    true
                }
                _ => false,
            });
            if dropped {
                self.wake.notify_one();
            }
            return Fault::Dropped(describe(error));
        }
        Fault::Error(describe(error))
    }

    fn fell_back(&self, fault: &Fault) {
        metrics::LIMIT_BACKEND_FALLBACKS
            .with_label_values(&[fault.label()])
            .inc();
        self.outage(fault);
    }

    /// Tells the breaker of `fault`; when that opens it, one `warn` line and a count.
    fn failed(&self, fault: &Fault) {
        let Some(wait) = self.breaker.failed() else {
            return;
        };
        metrics::LIMIT_BACKEND_TRIPS.inc();
        self.degraded.store(true, Ordering::SeqCst);
        log::warn!(
            "per-user limits: Redis failed a check ({fault}); it is not asked again for {} ms, \
             each instance applies its own limits meanwhile",
            wait.as_millis()
        );
    }

    fn outage(&self, cause: &dyn fmt::Display) {
        if !self.degraded.swap(true, Ordering::SeqCst) {
            log::warn!(
                "per-user limits: Redis cannot be used ({cause}); each instance applies its own \
                 limits until it is back"
            );
        }
    }

    fn recovered(&self) {
        if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::SeqCst) {
            log::info!("per-user limits: Redis is back; the limits are shared again");
        }
    }

    fn member(&self, number: u64) -> String {
        format!("{}-{number}", self.instance)
    }

    /// Deletes a lease in a task of its own; if that fails, the lease lapses by itself.
    fn release(&self, key: String, member: String) {
        let mut connection = match &*self.link.borrow() {
            Link::Up { connection, .. } => connection.clone(),
            _ => return,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut command = redis::cmd("ZREM");
            command.arg(key).arg(member);
            let remove = command.query_async::<i64>(&mut connection);
            if let Ok(Err(error)) = fast_timeout(UPKEEP_TIMEOUT, remove).await {
                log::debug!("per-user limits: a lease was not released: {error}");
            }
        });
    }

    /// Renews the leases of this instance's running requests.
    async fn renew(&self) {
        let held: Vec<(String, String)> = lock(&self.leases)
            .iter()
            .map(|(number, key)| (key.clone(), self.member(*number)))
            .collect();
        for batch in held.chunks(RENEW_BATCH) {
            let Ok((mut connection, generation)) = self.connection().await else {
                return;
            };
            let mut call = self.renew_script.prepare_invoke();
            call.arg(lease_ms(self.lease));
            for (key, member) in batch {
                call.key(key).arg(member);
            }
            match fast_timeout(UPKEEP_TIMEOUT, call.invoke_async::<i64>(&mut connection)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    let fault = self.broken(&error, generation);
                    log::debug!("per-user limits: leases not renewed: {fault}");
                    return;
                }
                Err(_) => {
                    log::debug!("per-user limits: leases not renewed in time");
                    return;
                }
            }
        }
    }

    fn is_up(&self) -> bool {
        matches!(*self.link.borrow(), Link::Up { .. })
    }

    /// Connects, and reconnects whenever the connection breaks; renews leases meanwhile.
    pub(super) async fn run(&self) {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        let mut generation = 0;
        let mut announced = false;
        loop {
            if !self.is_up() {
                let attempt = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config);
                match fast_timeout(CONNECT_TIMEOUT, attempt).await {
                    Ok(Ok(connection)) => {
                        generation += 1;
                        self.link.send_replace(Link::Up {
                            connection,
                            generation,
                        });
                        if !announced {
                            log::info!("per-user limits: shared across instances through Redis");
                            announced = true;
                        }
                        // A new connection: whatever failed on the old one, ask Redis again.
                        self.breaker.close();
                        self.recovered();
                    }
                    failed => {
                        self.link.send_replace(Link::Down);
                        let cause = match failed {
                            Ok(Err(error)) => describe(&error),
                            _ => "connecting timed out".to_string(),
                        };
                        self.outage(&cause);
                        log::debug!("per-user limits: cannot connect to Redis: {cause}");
                    }
                }
            }
            let pause = if self.is_up() {
                self.renew().await;
                self.lease / 3
            } else {
                RETRY_EVERY
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let key = lock(&self.shared.leases).remove(&self.number);
        if let Some(key) = key {
            self.shared.release(key, self.shared.member(self.number));
        }
    }
}

/// The background task of the shared limits: a Pingora background service.
pub struct Upkeep(pub Arc<SharedLimits>);

#[async_trait]
impl BackgroundService for Upkeep {
    /// Runs for the life of the process: requests still draining after a shutdown signal keep
    /// their leases renewed.
    async fn start(&self, _shutdown: ShutdownWatch) {
        self.0.run().await;
    }
}

/// A user's keys.
struct Keys {
    rate: String,
    slots: String,
}

impl Keys {
    fn new(prefix: &str, user: &str) -> Keys {
        Keys {
            rate: format!("{prefix}{user}:rate"),
            slots: format!("{prefix}{user}:slots"),
        }
    }
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

/// The error's kind and message: never the URL, which may hold a password.
fn describe(error: &RedisError) -> String {
    format!("{:?}: {}", error.kind(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Limits {
        Limits {
            per_user_requests_per_minute: 60,
            per_user_burst: 2,
            per_user_max_concurrent: 1,
            redis_url: url.to_string(),
            ..Limits::default()
        }
    }

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap()
    }

    fn fallbacks() -> u64 {
        ["unavailable", "timeout", "error", "breaker_open"]
            .iter()
            .map(|label| {
                metrics::LIMIT_BACKEND_FALLBACKS
                    .with_label_values(&[label])
                    .get()
            })
            .sum()
    }

    #[test]
    fn the_breaker_keeps_checks_away_then_lets_one_try() {
        let breaker = Breaker::new(Duration::from_millis(40));
        let trial = Duration::from_millis(30);
        assert!(breaker.allows(trial), "closed");
        assert_eq!(breaker.failed(), None);
        breaker.close();
        assert_eq!(
            breaker.failed(),
            None,
            "an answer in between starts the count again"
        );
        assert_eq!(breaker.failed(), None);
        assert!(
            breaker.allows(trial),
            "closed until the third failure in a row"
        );
        assert_eq!(breaker.failed(), Some(Duration::from_millis(40)));
        assert!(!breaker.allows(trial), "open");
        std::thread::sleep(Duration::from_millis(50));
        assert!(breaker.allows(trial), "one try after the wait");
        assert!(!breaker.allows(trial), "the others keep away while it runs");
        assert_eq!(
            breaker.failed(),
            Some(Duration::from_millis(80)),
            "a failed try opens it again at once, for twice as long"
        );
        for _ in 0..8 {
            breaker.failed();
        }
        assert_eq!(
            breaker.failed(),
            Some(Duration::from_millis(40 * u64::from(MAX_BACKOFF_FACTOR)))
        );
        breaker.close();
        assert!(breaker.allows(trial));
        for _ in 1..FAILURES_TO_TRIP {
            breaker.failed();
        }
        assert_eq!(
            breaker.failed(),
            Some(Duration::from_millis(40)),
            "closing resets the wait"
        );
        // A try whose check was dropped does not keep the breaker shut: after its timeout
        // another check tries.
        std::thread::sleep(Duration::from_millis(50));
        assert!(breaker.allows(trial));
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allows(trial));
    }

    #[test]
    fn keys_name_the_user_under_the_prefix() {
        let keys = Keys::new("argo-bridge:limits:", "alice");
        assert_eq!(keys.rate, "argo-bridge:limits:alice:rate");
        assert_eq!(keys.slots, "argo-bridge:limits:alice:slots");
    }

    #[test]
    fn no_url_no_backend() {
        assert!(SharedLimits::new(&config(""), 1.0, 2.0).unwrap().is_none());
    }

    #[test]
    fn leases_of_one_instance_are_distinct() {
        let shared = SharedLimits::new(&config("redis://127.0.0.1:1"), 1.0, 2.0)
            .unwrap()
            .unwrap();
        let other = SharedLimits::new(&config("redis://127.0.0.1:1"), 1.0, 2.0)
            .unwrap()
            .unwrap();
        assert_ne!(shared.member(0), shared.member(1));
        assert_ne!(shared.member(0), other.member(0));
    }

    #[tokio::test]
    async fn unreachable_redis_is_a_counted_fallback_not_an_error() {
        let url = format!("redis://127.0.0.1:{}", closed_port());
        let shared = SharedLimits::new(&config(&url), 1.0, 2.0).unwrap().unwrap();
        let upkeep = Arc::clone(&shared);
        let task = tokio::spawn(async move { upkeep.run().await });
        let before = fallbacks();
        for _ in 0..3 {
            assert!(shared.check("alice", 1, true).await.is_none());
        }
        assert!(fallbacks() >= before + 3);
        assert!(shared.degraded.load(Ordering::SeqCst));
        assert!(lock(&shared.leases).is_empty(), "no lease kept");
        task.abort();
    }

    #[tokio::test]
    async fn a_check_waits_for_the_first_connection_at_most_its_timeout() {
        let mut limits = config("redis://127.0.0.1:1");
        limits.redis_timeout_ms = 30;
        let shared = SharedLimits::new(&limits, 1.0, 2.0).unwrap().unwrap();
        // No upkeep task: the link stays `Starting`.
        let started = std::time::Instant::now();
        assert!(shared.check("alice", 1, false).await.is_none());
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
