//! The HTTP/websocket edge and the only place errors become statuses or `reject` messages.
//!
//! One port serves CookIM's 31 `/api` routes (async-h1), its static paths, and upgrades
//! `/ws-chat` and `/ws-push` (async-tungstenite). Every websocket is one connection task;
//! every chat with live subscribers on this node is one session actor, the only writer of its
//! chat here: it stores a message first and only then fans it out, never waiting on a slow
//! client. This crate knows nothing of flags or signals (that is `bin`), nor of SQL (that is
//! `store`).
//!
//! # Layout
//! - [`server`]: the listener and per-connection HTTP handling.
//! - `routes`: the `/api` routes, one file per area.
//! - `app`: the edge's state, read by every route and websocket.
//! - `ws`: the two websockets; `session`: the per-chat actor (a pure core in a thin shell);
//!   `registry`: the registry of chats and push channels.
//! - `health`: `/healthz`, `/readyz`, `/cluster/members`.
//! - [`auth`]: tokens (HS256 only) and argon2id passwords; `password`: the hashes themselves,
//!   in one reused buffer per thread.
//! - [`http`]: request bodies and responses.
//! - [`config`]: settings; [`limits`]: rate limits, per-address caps and the hashing pool;
//!   `guard`: read deadlines and pre-authentication byte budgets on client sockets.
//! - `logins`: ended device sessions (tokens refused, sockets closed on every node).
//! - [`error`]: the crate's error enum.
//!
//! # Example
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let runtime = runtime::Runtime::new(0)?;
//! let (trigger, shutdown) = runtime::shutdown();
//! runtime.block_on(async {
//!     let store = Arc::new(store::Embedded::open("./cookim-data".as_ref()).await?);
//!     let config = cookim_web::Config::new("127.0.0.1:8080".parse()?, b"secret".to_vec());
//!     let server = cookim_web::Server::bind(config, store, runtime.spawner(), shutdown).await?;
//!     println!("listening on {}", server.local_addr()?);
//!     server.run().await;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # drop(trigger);
//! # Ok(()) }
//! ```

mod app;
pub mod auth;
mod clock;
pub mod config;
pub mod error;
mod guard;
mod health;
pub mod http;
pub mod limits;
mod logins;
mod outbox;
mod password;
mod registry;
mod replies;
mod routes;
pub mod server;
mod session;
mod static_files;
mod ws;

pub use config::Config;
pub use error::{Error, Result};
pub use limits::{Limits, Rate};
pub use registry::Cluster;
pub use server::Server;
