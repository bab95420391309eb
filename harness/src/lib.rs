//! Real cookim nodes driven from outside, as a user or an operator would: the common ground of
//! the fault harness (`testbed/`) and the benchmarks (`bench/`). Never a dependency of the
//! server crates.
//!
//! # Layout
//! - [`client`]: API calls, multipart uploads and websocket connections against a running node.
//! - [`cluster`]: real `cookim` processes (start, wait for the URL, stop, kill -9).
//! - [`report`]: the tools' progress on stderr and JSON results on stdout.
//!
//! # Example
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # smol::block_on(async {
//! let addr: std::net::SocketAddr = "127.0.0.1:8080".parse()?;
//! let user = cookim_harness::client::register(addr, "bench@example.com", "bench", "secret1").await?;
//! println!("registered {}", user.uid);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

pub mod client;
pub mod cluster;
pub mod report;
