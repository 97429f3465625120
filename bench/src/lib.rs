//! Benchmark harness for argo-bridge: a minimal HTTP/1.1 load generator for loopback, the
//! scenario suite that compares the mock Argo (floor), a bare Pingora proxy (baseline) and the
//! gateway (on Argo's resource and native APIs), wrk runs of the same, and the markdown report
//! (with the criterion microbenchmarks of `argo-filters`).

pub mod http;
pub mod micro;
pub mod mock;
pub mod procfs;
pub mod report;
pub mod run;
pub mod stats;
pub mod suite;
pub mod wrk;
