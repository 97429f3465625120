//! Prometheus metrics. Labels are bounded: endpoint and model come from fixed tables, never
//! from raw client input, and no label names a user.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use once_cell::sync::Lazy;
use prometheus::core::{MetricVec, MetricVecBuilder};
use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    Encoder, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    TextEncoder,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_requests_total",
        "Requests answered, by endpoint, client format, model and status",
        &["endpoint", "client", "model", "status"]
    ))
});

pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    registered(register_histogram_vec!(
        "argo_bridge_request_duration_seconds",
        "Time from request to last response byte",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    ))
});

/// The gateway's own time is small: finer buckets than the end-to-end ones.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// See `timing::Timing` for what counts as overhead.
pub static OVERHEAD: Lazy<HistogramVec> = Lazy::new(|| {
    registered(register_histogram_vec!(
        "argo_bridge_overhead_seconds",
        "Gateway time up to the response head, minus the time spent waiting on Argo before it",
        &["endpoint"],
        OVERHEAD_BUCKETS.to_vec()
    ))
});

pub static MODELS_SERVED: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_models",
        "Models served: the configured table merged with Argo's live lists"
    ))
});

pub static MODEL_REFRESH_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_model_refresh_failures_total",
        "Reads of an Argo environment's model list that failed (the last list is kept)",
        &["env"]
    ))
});

pub static MODEL_LIST_READ: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_model_list_read",
        "1 when the last read of the Argo environment's model list succeeded; 0 before the \
         first read and after a failed one (the last list, or the table, is served meanwhile)",
        &["env"]
    ))
});

pub static BUILD_INFO: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_build_info",
        "Always 1; the version label names the running build",
        &["version"]
    ))
});

pub static UPSTREAM_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    registered(register_histogram_vec!(
        "argo_bridge_upstream_duration_seconds",
        "Time spent waiting on Argo",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    ))
});

pub static TIME_TO_FIRST_TOKEN: Lazy<HistogramVec> = Lazy::new(|| {
    registered(register_histogram_vec!(
        "argo_bridge_time_to_first_token_seconds",
        "Streaming: request start to the first fragment from Argo",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    ))
});

pub static UPSTREAM_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_upstream_errors_total",
        "Argo failures by kind",
        &["kind"]
    ))
});

pub static UPSTREAM_RETRIES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_upstream_retries_total",
        "Argo requests retried because nothing reached Argo, by reason",
        &["reason"]
    ))
});

pub static LEARNED_RULES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_learned_rules_total",
        "Parameters Argo refused for a model (HTTP 400) that its later calls leave out, by Argo model id",
        &["model"]
    ))
});

pub static REFUSAL_RETRIES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_refusal_retries_total",
        "Calls made again without a parameter Argo refused (HTTP 400), by Argo model id",
        &["model"]
    ))
});

pub static IN_FLIGHT: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_in_flight_requests",
        "Requests being served now"
    ))
});

/// One request counted in [`IN_FLIGHT`] while this is held. Dropping it counts the request out,
/// also when the request's future is dropped before it ends (a client gone mid-request).
#[must_use = "the request is counted in flight only while the guard is held"]
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> InFlight {
        IN_FLIGHT.inc();
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.dec();
    }
}

pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_tokens_total",
        "Estimated tokens by model and direction",
        &["model", "direction"]
    ))
});

pub static ACCOUNT_KEYS: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_accounts_keys",
        "Issued keys that authenticate now (read from the accounts store)"
    ))
});

pub static ACCOUNTS_STORE_UP: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_accounts_store_up",
        "1 when the last read of the accounts store succeeded, 0 while the gateway serves the \
         last keys it read"
    ))
});

pub static ACCOUNTS_STORE_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_accounts_store_errors_total",
        "Failed operations on the accounts store, by operation",
        &["operation"]
    ))
});

pub static REFUSED_CONNECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_refused_connections_total",
        "Connections answered by the front door before any request was served, by reason",
        &["reason"]
    ))
});

pub static CONNECTIONS_OPEN: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_connections_open",
        "Client connections open now, by listener (api, admin); each is capped \
         (limits.max_connections, admin.max_connections)",
        &["listener"]
    ))
});

pub static BUFFERED_REQUEST_BYTES: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_buffered_request_bytes",
        "Bytes of request bodies reserved in memory now"
    ))
});

pub static BUFFERED_ANSWER_BYTES: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_buffered_answer_bytes",
        "Bytes of buffered Argo answers reserved in memory now"
    ))
});

pub static CLIENT_WRITE_TIMEOUTS: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    registered(prometheus::register_int_counter!(
        "argo_bridge_client_write_timeouts_total",
        "Streams ended (with their Argo requests) because the client stopped reading them for \
         limits.client_write_timeout_ms"
    ))
});

pub static LOG_LINES_DROPPED: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    registered(prometheus::register_int_counter!(
        "argo_bridge_log_lines_dropped_total",
        "Log lines dropped because the log writer fell behind"
    ))
});

pub static LIMIT_BACKEND_FALLBACKS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_limit_backend_fallbacks_total",
        "Per-user limit checks judged by this instance alone because the shared (Redis) backend \
         could not answer, by reason",
        &["reason"]
    ))
});

pub static LIMIT_BACKEND_TRIPS: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    registered(prometheus::register_int_counter!(
        "argo_bridge_limit_backend_trips_total",
        "Times the shared (Redis) limits backend failed a check and was left alone for a \
         while (limits.redis_backoff_ms), its checks judged by this instance meanwhile"
    ))
});

pub static UPSTREAM_UP: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_upstream_up",
        "1 when the Argo environment answered the last readiness probe (GET /v1/models), or \
         took it without answering in time (slow); a failed connection, 502, 503 and 504 are 0",
        &["env"]
    ))
});

pub static UPSTREAM_ADDRESSES: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_upstream_addresses",
        "Addresses the Argo environment's host name has now (0: it has never resolved)",
        &["env"]
    ))
});

pub static UPSTREAM_ADDRESS_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_upstream_address_failures_total",
        "Connections to one of an Argo environment's addresses that failed (the address is then \
         avoided for upstream.address_retry_after_ms)",
        &["env"]
    ))
});

pub static UPSTREAM_DNS_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_upstream_dns_failures_total",
        "Resolutions of an Argo environment's host name that failed (its last addresses are kept)",
        &["env"]
    ))
});

/// A metric registered in the default registry. Registration fails only for an invalid name or
/// label, or a name registered twice, all fixed in this file; [`init`] registers every metric
/// before the gateway serves, so such a bug stops the start and never a request.
#[expect(
    clippy::expect_used,
    reason = "a metric that cannot register is a bug in this file, met at start (init), never while serving"
)]
fn registered<M>(metric: prometheus::Result<M>) -> M {
    metric.expect("metric registers once")
}

/// Registers every metric up front so that a scrape shows them before the first request (and
/// so that a metric that cannot register stops the start, not a request). The `process`
/// feature of the prometheus crate adds `process_*` (CPU, memory, open file descriptors,
/// threads, start time) to the default registry by itself.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    Lazy::force(&REQUESTS);
    Lazy::force(&REQUEST_DURATION);
    Lazy::force(&OVERHEAD);
    Lazy::force(&UPSTREAM_DURATION);
    Lazy::force(&TIME_TO_FIRST_TOKEN);
    Lazy::force(&UPSTREAM_ERRORS);
    Lazy::force(&UPSTREAM_RETRIES);
    Lazy::force(&LEARNED_RULES);
    Lazy::force(&REFUSAL_RETRIES);
    Lazy::force(&UPSTREAM_ADDRESSES);
    Lazy::force(&UPSTREAM_ADDRESS_FAILURES);
    Lazy::force(&UPSTREAM_DNS_FAILURES);
    Lazy::force(&IN_FLIGHT);
    Lazy::force(&TOKENS);
    Lazy::force(&REFUSED_CONNECTIONS);
    for listener in ["api", "admin"] {
        CONNECTIONS_OPEN.with_label_values(&[listener]);
    }
    Lazy::force(&LIMIT_BACKEND_TRIPS);
    Lazy::force(&BUFFERED_REQUEST_BYTES);
    Lazy::force(&BUFFERED_ANSWER_BYTES);
    Lazy::force(&LOG_LINES_DROPPED);
    Lazy::force(&CLIENT_WRITE_TIMEOUTS);
    Lazy::force(&MODELS_SERVED);
    Lazy::force(&MODEL_REFRESH_FAILURES);
    Lazy::force(&MODEL_LIST_READ);
    Lazy::force(&UPSTREAM_UP);
    for reason in ["unavailable", "timeout", "error", "breaker_open"] {
        LIMIT_BACKEND_FALLBACKS.with_label_values(&[reason]);
    }
}

/// Adds `by` to the counter of `vec` with these labels.
pub fn count(vec: &'static IntCounterVec, labels: &[&str], by: u64) {
    COUNTERS.with_borrow_mut(|cache| cache.handle(vec, labels).inc_by(by));
}

/// Observes `seconds` in the histogram of `vec` with these labels.
pub fn time(vec: &'static HistogramVec, labels: &[&str], seconds: f64) {
    HISTOGRAMS.with_borrow_mut(|cache| cache.handle(vec, labels).observe(seconds));
}

thread_local! {
    static COUNTERS: RefCell<Handles<IntCounter>> = RefCell::new(Handles::default());
    static HISTOGRAMS: RefCell<Handles<Histogram>> = RefCell::new(Handles::default());
}

/// The metrics of each label set a worker thread has used, so that a request's counts skip
/// `with_label_values` (which hashes the labels with SipHash and takes the vector's lock: six
/// times a request, it showed in the profile). Bounded as the label sets are.
struct Handles<M> {
    /// Keyed by [`Handles::key`], already a hash: the map's own hashing is foldhash's, not
    /// SipHash's.
    by_key: HashMap<u64, Handle<M>, foldhash::fast::FixedState>,
    hasher: foldhash::fast::FixedState,
}

struct Handle<M> {
    /// The vector's address.
    vec: usize,
    labels: Box<[Box<str>]>,
    metric: M,
}

impl<M> Default for Handles<M> {
    fn default() -> Self {
        Handles {
            by_key: HashMap::default(),
            hasher: foldhash::fast::FixedState::default(),
        }
    }
}

impl<M: Clone> Handles<M> {
    fn handle<B>(&mut self, vec: &'static MetricVec<B>, labels: &[&str]) -> &M
    where
        B: MetricVecBuilder<M = M>,
    {
        let address = std::ptr::from_ref(vec) as usize;
        let key = self.key(address, labels);
        let same = |handle: &Handle<M>| {
            handle.vec == address
                && handle.labels.len() == labels.len()
                && handle.labels.iter().zip(labels).all(|(a, b)| **a == **b)
        };
        let fresh = || Handle {
            vec: address,
            labels: labels.iter().map(|&label| label.into()).collect(),
            metric: vec.with_label_values(labels),
        };
        match self.by_key.entry(key) {
            Entry::Occupied(mut slot) => {
                // Rarely, another label set with the same hash: the newer takes the slot.
                if !same(slot.get()) {
                    slot.insert(fresh());
                }
                &slot.into_mut().metric
            }
            Entry::Vacant(slot) => &slot.insert(fresh()).metric,
        }
    }

    fn key(&self, address: usize, labels: &[&str]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        address.hash(&mut hasher);
        labels.hash(&mut hasher);
        hasher.finish()
    }
}

pub fn render() -> Vec<u8> {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[test]
    fn a_request_is_in_flight_while_its_guard_lives_however_it_ends() {
        let before = IN_FLIGHT.get();
        let first = InFlight::enter();
        let second = InFlight::enter();
        assert_eq!(IN_FLIGHT.get(), before + 2);
        drop(first);
        assert_eq!(IN_FLIGHT.get(), before + 1);
        // A request abandoned half-way (its future dropped unfinished) is counted out too.
        let mut abandoned = Box::pin(async move {
            let _held = second;
            std::future::pending::<()>().await;
        });
        assert!(abandoned.as_mut().now_or_never().is_none());
        assert_eq!(IN_FLIGHT.get(), before + 1);
        drop(abandoned);
        assert_eq!(IN_FLIGHT.get(), before);
    }

    #[test]
    fn cached_handles_count_into_the_series_with_label_values_names() {
        let series = |kind| TOKENS.with_label_values(&["cache-test-model", kind]).get();
        count(&TOKENS, &["cache-test-model", "prompt"], 3);
        count(&TOKENS, &["cache-test-model", "prompt"], 4);
        count(&TOKENS, &["cache-test-model", "completion"], 5);
        assert_eq!((series("prompt"), series("completion")), (7, 5));
        std::thread::spawn(|| count(&TOKENS, &["cache-test-model", "prompt"], 1))
            .join()
            .unwrap();
        assert_eq!(
            series("prompt"),
            8,
            "another thread, its own cache, the same series"
        );
    }

    #[test]
    fn a_label_set_that_hashes_like_another_still_counts_in_its_own_series() {
        let mut handles = Handles::<IntCounter>::default();
        let labels = ["cache-collision-model", "prompt"];
        let address = std::ptr::from_ref::<IntCounterVec>(&TOKENS) as usize;
        let planted = Handle {
            vec: address,
            labels: vec!["someone-else".into(), "prompt".into()].into(),
            metric: TOKENS.with_label_values(&["someone-else", "prompt"]),
        };
        handles
            .by_key
            .insert(handles.key(address, &labels), planted);
        handles.handle(&TOKENS, &labels).inc_by(2);
        assert_eq!(TOKENS.with_label_values(&labels).get(), 2);
        assert_eq!(
            TOKENS.with_label_values(&["someone-else", "prompt"]).get(),
            0
        );
    }
}
