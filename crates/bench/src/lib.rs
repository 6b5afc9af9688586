//! coffer's benchmarks: the signed load generator and its pieces, shared by the
//! `coffer-bench` binary and the Criterion micro-benchmarks in `benches/`.
//!
//! - [`requests`]: requests signed as each cloud's SDK signs them.
//! - [`load`]: a fixed concurrency over keep-alive connections, latency histograms.
//! - [`cpu`]: a server process's CPU time, for CPU per request.
//! - [`seed`]: filling a stopped server's data dir with many secrets.

pub mod cpu;
pub mod load;
pub mod requests;
pub mod seed;
