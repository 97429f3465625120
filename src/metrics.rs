//! Prometheus metrics. Labels are bounded: endpoint and model come from fixed tables, never
//! from raw client input, and no label names a user.

use once_cell::sync::Lazy;
use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, Encoder, HistogramVec,
    IntCounterVec, IntGauge, TextEncoder,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "argo_bridge_requests_total",
        "Requests answered, by endpoint, model and status",
        &["endpoint", "model", "status"]
    )
    .expect("metric registers once")
});

pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "argo_bridge_request_duration_seconds",
        "Time from request to last response byte",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static UPSTREAM_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "argo_bridge_upstream_duration_seconds",
        "Time spent waiting on Argo",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static TIME_TO_FIRST_TOKEN: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "argo_bridge_time_to_first_token_seconds",
        "Streaming: request start to the first fragment from Argo",
        &["endpoint", "model"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

pub static UPSTREAM_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "argo_bridge_upstream_errors_total",
        "Argo failures by kind",
        &["kind"]
    )
    .expect("metric registers once")
});

pub static UPSTREAM_RETRIES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "argo_bridge_upstream_retries_total",
        "Argo requests retried because nothing reached Argo, by reason",
        &["reason"]
    )
    .expect("metric registers once")
});

pub static IN_FLIGHT: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "argo_bridge_in_flight_requests",
        "Requests being served now"
    )
    .expect("metric registers once")
});

pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "argo_bridge_tokens_total",
        "Estimated tokens by model and direction",
        &["model", "direction"]
    )
    .expect("metric registers once")
});

pub fn render() -> Vec<u8> {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    out
}
