//! Prometheus metrics. Labels are bounded: endpoint and model come from fixed tables, never
//! from raw client input, and no label names a user.

use once_cell::sync::Lazy;
use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    Encoder, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, TextEncoder,
};

use crate::access_log::AccessRecord;

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

pub static IN_FLIGHT: Lazy<IntGauge> = Lazy::new(|| {
    registered(register_int_gauge!(
        "argo_bridge_in_flight_requests",
        "Requests being served now"
    ))
});

pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_tokens_total",
        "Estimated tokens by model and direction",
        &["model", "direction"]
    ))
});

pub static REFUSED_CONNECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    registered(register_int_counter_vec!(
        "argo_bridge_refused_connections_total",
        "Connections answered by the front door before any request was served, by reason",
        &["reason"]
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

pub static UPSTREAM_UP: Lazy<IntGaugeVec> = Lazy::new(|| {
    registered(register_int_gauge_vec!(
        "argo_bridge_upstream_up",
        "1 when the Argo environment answered the last readiness probe (GET /v1/models; a \
         failed connection, a timeout, 502, 503 and 504 are 0)",
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
    Lazy::force(&UPSTREAM_ADDRESSES);
    Lazy::force(&UPSTREAM_ADDRESS_FAILURES);
    Lazy::force(&UPSTREAM_DNS_FAILURES);
    Lazy::force(&IN_FLIGHT);
    Lazy::force(&TOKENS);
    Lazy::force(&REFUSED_CONNECTIONS);
    Lazy::force(&BUFFERED_REQUEST_BYTES);
    Lazy::force(&BUFFERED_ANSWER_BYTES);
    Lazy::force(&LOG_LINES_DROPPED);
    Lazy::force(&MODELS_SERVED);
    Lazy::force(&MODEL_REFRESH_FAILURES);
    Lazy::force(&UPSTREAM_UP);
    for reason in ["unavailable", "timeout", "error"] {
        LIMIT_BACKEND_FALLBACKS.with_label_values(&[reason]);
    }
}

/// Records one answered request (called once, from the access-log hook).
pub fn observe(record: &AccessRecord) {
    let status = record.status.to_string();
    REQUESTS
        .with_label_values(&[record.endpoint, record.client, record.model, &status])
        .inc();
    REQUEST_DURATION
        .with_label_values(&[record.endpoint, record.model])
        .observe(record.duration.as_secs_f64());
    OVERHEAD
        .with_label_values(&[record.endpoint])
        .observe(record.overhead.as_secs_f64());
}

pub fn render() -> Vec<u8> {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}
