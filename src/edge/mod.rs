//! The edge: what every connection and request meets before any route runs. The front door
//! (connection caps, head deadline and size, PROXY protocol), bearer tokens and issued keys to
//! lab users, CORS, and bounded reads of a request body with JSON replies.
//!
//! May import `config`, `accounts`, `limits` and `observe`; imported by `serve` and the crate
//! root. Nothing here knows a route, a handler or Argo.

pub mod auth;
pub mod connections;
pub mod cors;
pub mod front_door;
pub mod http;
pub mod proxy_protocol;
