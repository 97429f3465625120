//! Accounts (`accounts` in the configuration): keys issued and revoked without a restart, kept
//! in a store that is SQLite in a file on one machine or PostgreSQL shared by several instances.
//! With no `accounts` section the gateway has none of this and authenticates with `auth` alone.
//!
//! Every authenticated request is counted in a usage ledger there (`ledger.rs`).
//!
//! No request waits on the store: the keys are held in memory ([`keys::KeyRing`]) and read
//! again in the background, and usage goes to a queue the background service empties
//! (`service.rs`, the store's one user); while the store is down the last keys read keep
//! serving, and `argo_bridge_accounts_store_up` and `/ready`'s detail say so.
//!
//! Imports `config` and `observe` only; `edge` (authentication), `lifecycle` (readiness, the
//! drain's last ledger write), `serve` (the gateway and admin) and the command line import it.

pub mod commands;
pub mod keys;
pub mod ledger;
mod service;
mod state;
pub mod store;
pub mod time;

pub use service::AccountsService;
pub use state::{Accounts, RequestError, StoreRequest};
pub use time::unix_now;
