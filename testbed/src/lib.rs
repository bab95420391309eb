//! Many nodes in one process or many processes; every run reproducible from a seed.
//!
//! It holds the deterministic mesh simulation ([`sim`]) and the client side of cookim's
//! benchmarks: [`client`], a small HTTP and websocket client for cookim's API, and [`load`],
//! the engine of the `cookim-load` binary, which plays the same load profiles against cookim
//! and its peers (Node.js `ws`, Socket.IO, `cookim-rawpeer`) over worker processes and
//! measures delivery latency with an HDR histogram. It is never a dependency of the server
//! crates.
//!
//! # Layout
//! - [`attack`]: a real node attacked while a normal chat runs on it; the engine of
//!   `cookim-attack`.
//! - [`chaos`]: seeded fault scenarios on real nodes (network namespaces or loopback, the
//!   fault proxy, chat clients, the invariants); the engine of `cookim-testbed`.
//! - [`client`]: API calls, multipart uploads and websocket connections against a running node.
//! - [`cluster`]: real `cookim` processes (start, wait for the URL, stop, kill -9).
//! - [`load`]: the load generator: adapters per system, worker processes, coordinator with a
//!   progress bar, provisioning, the systems under test as processes.
//! - [`report`]: progress on stderr, JSON results on stdout.
//! - [`stats`]: latency histograms and the JSON result format.
//! - [`sim`]: the deterministic mesh simulation (many `NodeCore`s, virtual clock, faulty
//!   network); `testbed/tests/mesh_sim.rs` runs it over fixed seeds.
//! - `src/bin/cookim-testbed.rs`: runs the fault scenarios and prints their tables.
//! - `src/bin/cookim-sim.rs`: prints the simulation's detection and propagation times.
//! - `src/bin/cookim-load/`: the load generator; `src/bin/cookim-charts.rs`: its PNG charts;
//!   `src/bin/cookim-rawpeer.rs`: the raw async-tungstenite broadcast server it compares to;
//!   `peers/`: the Node.js `ws` and Socket.IO servers it compares to.
//! - `src/bin/cookim-attack.rs`: the attacks of "safe to expose" on two builds, side by side.
//!
//! # Example
//! ```no_run
//! # smol::block_on(async {
//! let addr: std::net::SocketAddr = "127.0.0.1:8080".parse()?;
//! let user = cookim_testbed::client::register(addr, "bench@example.com", "bench", "secret1").await?;
//! println!("registered {}", user.uid);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod attack;
pub mod chaos;
pub mod client;
pub mod cluster;
pub mod load;
pub mod report;
pub mod sim;
pub mod stats;
