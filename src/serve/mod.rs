//! Serving requests: the one route table, the Pingora gateway that dispatches on it, one handler
//! module per client format, server-sent events to the client, and the admin listener (with
//! the accounts' keys).
//!
//! May import every other folder (`edge`, `accounts`, `limits`, `upstream`, `lifecycle`,
//! `observe`, `config`); only the crate root imports it.

pub mod admin;
pub mod admin_keys;
pub mod gateway;
pub mod handlers;
pub mod routes;
pub mod streaming;
