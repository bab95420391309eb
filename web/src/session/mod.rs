//! One chat with live subscribers on this node: a pure [`core`] in a thin [`actor`] shell.
//!
//! The session actor is the only writer of its chat on this node, so the order it stores
//! messages in is the order every subscriber sees them. For each event it (1) persists it when
//! the spec says so (text, join, leave) and only then (2) fans it out: to this chat's
//! `/ws-chat` subscribers directly with `try_send`, and to every member's `/ws-push` channel
//! through the registry. Online and offline events are not stored.
//!
//! In a cluster it also (3) publishes every event to the mesh, which carries it to the nodes
//! with subscribers for the chat or its members' push channels, and takes the events other
//! nodes stored for this chat. Stored events reach local subscribers through a reorder
//! buffer: in `seq` order, exactly once, with gaps read from the store. Members online here
//! do not keep unread counts that another node's append raised: their counts are reset
//! shortly after.
//!
//! # Layout
//! - `core`: the chat's state machine (subscribers, resume holds, ordering, gaps, deadlines,
//!   unread bookkeeping); takes `now` and inputs, returns effects. Its module doc lists them.
//! - `actor`: the shell: the mailbox loop, the timer, and the store, mesh and registry calls
//!   the core asks for.
//! - `reorder`: delivery in `seq` order, exactly once.
//! - `frames`: the wire shapes of stored messages and pushes.
//!
//! - `env`: what the actor works with ([`Env`]), the registry included as an [`Upstream`].
//! - `handle`: [`SessionHandle`] and the actor's private messages.
//!
//! The session knows the registry only as an [`Upstream`] inside the [`Env`] it is spawned
//! with; the registry knows a session only through its [`SessionHandle`].

mod actor;
mod core;
mod env;
mod frames;
mod handle;
mod reorder;

pub(crate) use self::core::{RECEIPT_INTERVAL, Wants};
pub(crate) use actor::spawn;
pub(crate) use env::{Env, Upstream};
pub(crate) use frames::message_down;
pub(crate) use handle::{Joined, Post, SessionHandle};
