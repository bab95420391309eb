//! Many nodes in one process or many processes; every run reproducible from a seed.
//!
//! It holds the deterministic mesh simulation ([`sim`]) and the client side of cookim's benchmarks: [`client`], a small HTTP
//! and websocket client for cookim's API, and the `cookim-load` binary built on it, which
//! provisions users and chats through the real API, drives `/ws-chat` and `/ws-push` at a
//! target rate, and measures delivery latency with an HDR histogram. It is never a dependency
//! of the server crates.
//!
//! # Layout
//! - [`client`]: API calls, multipart uploads and websocket connections against a running node.
//! - [`cluster`]: real `cookim` processes (start, wait for the URL, stop, kill -9).
//! - [`report`]: progress on stderr, JSON results on stdout.
//! - [`stats`]: latency histograms and the JSON result format.
//! - [`sim`]: the deterministic mesh simulation (many `NodeCore`s, virtual clock, faulty
//!   network); `testbed/tests/mesh_sim.rs` runs it over fixed seeds.
//! - `src/bin/cookim-sim.rs`: prints the simulation's detection and propagation times.
//! - `src/bin/cookim-load.rs`: the load generator.
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

pub mod client;
pub mod cluster;
pub mod load;
pub mod report;
pub mod sim;
pub mod stats;
