//! The process around the requests: the connection check at start, readiness probes of Argo's
//! environments, and the early exit once a drain has finished.
//!
//! May import `config`, `accounts` (the store's state for `/ready`), `upstream` and `observe`; imported by `serve` and the crate root.

pub mod drain;
pub mod readiness;
pub mod startup_check;
