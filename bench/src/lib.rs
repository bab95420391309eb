//! cookim's benchmarks, the figures behind `BENCHMARKS.md`: the client side of every bench,
//! played against real processes through `harness/`. Never a dependency of the server crates.
//!
//! # Layout
//! - [`load`]: the engine of `cookim-load`, which plays the same load profiles against cookim
//!   and its peers (Node.js `ws`, Socket.IO, `cookim-rawpeer`) over worker processes and
//!   measures delivery latency with an HDR histogram: adapters per system, worker processes,
//!   a coordinator with a progress bar, provisioning, the systems under test as processes.
//! - [`attack`]: a real node attacked while a normal chat runs on it; the engine of
//!   `cookim-attack`.
//! - [`stats`]: latency histograms, RSS, and the JSON result format.
//! - [`stores`]: the store a store benchmark runs on (embedded or MongoDB).
//! - `src/bin/cookim-load/`: the load generator; `src/bin/cookim-charts.rs`: its PNG charts;
//!   `src/bin/cookim-rawpeer.rs`: the raw async-tungstenite broadcast server it compares to;
//!   `peers/`: the Node.js `ws` and Socket.IO servers it compares to.
//! - `src/bin/cookim-attack.rs`: the attacks of "safe to expose" on two builds, side by side.
//! - `src/bin/cookim-clusterbench.rs`: convergence and delivery across a real cluster;
//!   `src/bin/cookim-storebench.rs`: the two stores' operations timed.
//! - `tests/load.rs`: the load generator against real servers, small numbers, no timings.

pub mod attack;
pub mod load;
pub mod stats;
pub mod stores;
