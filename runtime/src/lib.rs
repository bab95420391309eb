//! Actors, bounded mailboxes, owned tasks and graceful shutdown on smol; knows nothing of chat.
//!
//! Every long-lived piece of cookim (sessions, the router, the mesh node)
//! is an actor: a private message enum, a bounded [`Mailbox`], one task
//! owning the state and looping on [`Inbox::recv`], and a cheap `Clone`
//! handle with async methods. This crate supplies those parts plus the
//! [`Runtime`] they run on, [`Tasks`] to own children, a
//! [`shutdown`] broadcast with a done count, and timers ([`deadline`],
//! [`Idle`]).
//!
//! What it refuses to do:
//!
//! - **No global state.** There is no global executor, no global shutdown,
//!   no registry of actors by name: a [`Spawner`] and a [`Shutdown`] are
//!   passed in, like mini-redis passes its `Shutdown`.
//! - **No unbounded queues.** Every mailbox has a capacity; a full one
//!   pushes back ([`Mailbox::send`]) or says so ([`Mailbox::try_send`]).
//! - **No `Actor` trait, supervisor trees or restarts.** An actor is a
//!   function; [`Spawner::spawn_actor`] only isolates its failure (logs the
//!   error or panic, closes its mailbox). Whoever owns an actor decides
//!   what a stopped one means.
//! - **No chat, no I/O, no configuration.** It knows no protocol type,
//!   opens no socket and reads no environment; capacities and deadlines
//!   are its callers' named constants or config.
//! - **No tokio**, and no `unsafe`.
//!
//! # Layout
//!
//! - `executor`: [`Runtime`] (executor + named worker
//!   threads), [`Spawner`], [`Task`], [`Tasks`].
//! - `actor`: failure isolation behind [`Spawner::spawn_actor`]; the actor
//!   shape is the example below.
//! - `mailbox`: [`mailbox`], [`Mailbox`], [`Inbox`], [`TrySend`], and the
//!   one-shot [`reply`] / [`Reply`] / [`Answer`].
//! - `race`: [`race`], two futures polled only when their own wakers fire.
//! - `shutdown`: [`shutdown`], [`ShutdownTrigger`], [`Shutdown`].
//! - `timer`: [`sleep`], [`deadline`], [`interval`] / [`Interval`],
//!   [`Idle`], [`Timer`].
//! - `error`: [`Error`], [`Result`].
//!
//! # Example
//!
//! The recommended actor shape, started on a [`Runtime`]:
//!
//! ```
//! # extern crate cookim_runtime as runtime;
//! use runtime::{Inbox, Mailbox, Reply, Runtime};
//!
//! /// Messages are private to the actor's module; the handle is the API.
//! enum Msg {
//!     Add(u64),
//!     Get { reply: Reply<u64> },
//! }
//!
//! /// Handle to a counter actor; cheap to clone.
//! #[derive(Clone, Debug)]
//! pub struct Counter {
//!     tx: Mailbox<Msg>,
//! }
//!
//! impl Counter {
//!     /// Room for this many waiting messages: enough to absorb a burst,
//!     /// small enough that a stuck counter pushes back quickly.
//!     const CAPACITY: usize = 32;
//!
//!     pub fn start(spawner: &runtime::Spawner) -> (Self, runtime::Task<()>) {
//!         let (tx, inbox) = runtime::mailbox(Self::CAPACITY);
//!         let task = spawner.spawn_actor("counter", run(inbox));
//!         (Self { tx }, task)
//!     }
//!
//!     pub async fn add(&self, n: u64) -> runtime::Result<()> {
//!         self.tx.send(Msg::Add(n)).await // Err(Closed): actor gone
//!     }
//!
//!     pub async fn get(&self) -> runtime::Result<u64> {
//!         self.tx.request(|reply| Msg::Get { reply }).await
//!     }
//! }
//!
//! /// The task: owns the state, ends when every handle is dropped.
//! async fn run(mut inbox: Inbox<Msg>) -> Result<(), std::convert::Infallible> {
//!     let mut total = 0;
//!     while let Some(msg) = inbox.recv().await {
//!         match msg {
//!             Msg::Add(n) => total += n,
//!             Msg::Get { reply } => reply.send(total),
//!         }
//!     }
//!     Ok(())
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let rt = Runtime::new(2)?;
//!     let (counter, task) = Counter::start(&rt.spawner());
//!     let total = rt.block_on(async {
//!         counter.add(2).await?;
//!         counter.add(40).await?;
//!         let total = counter.get().await?;
//!         drop(counter); // last handle gone: the actor drains and stops
//!         task.await;
//!         Ok::<_, runtime::Error>(total)
//!     })?;
//!     assert_eq!(total, 42);
//!     Ok(())
//! }
//! ```

mod actor;
mod error;
mod executor;
mod mailbox;
mod race;
mod shutdown;
mod timer;

pub use error::{Error, Result};
pub use executor::{Runtime, Spawner, Task, Tasks};
pub use mailbox::{Answer, Inbox, Mailbox, Reply, TrySend, mailbox, reply};
pub use race::{Race, race};
pub use shutdown::{Shutdown, ShutdownTrigger, shutdown};
pub use timer::{Idle, Interval, Timer, deadline, interval, sleep};
