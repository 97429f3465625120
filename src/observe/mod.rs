//! What the gateway tells its operators: the access log and the batched log writer under it,
//! Prometheus metrics, where a request's time goes, and request ids.
//!
//! Imports nothing of the crate but `observe` itself; every other folder may import it.

pub mod access_log;
pub mod log_writer;
pub mod metrics;
pub mod request_id;
pub mod timing;
