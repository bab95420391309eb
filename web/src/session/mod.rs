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
//! The session knows the registry only as an [`Upstream`] inside the [`Env`] it is spawned
//! with; the registry knows a session only through its [`SessionHandle`].

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::Mesh;
use mesh::envelope::Envelope;
use protocol::ids::{FileId, SessionId, UserId};
use runtime::{Mailbox, Reply, Spawner};
use store::Store;
use store::model::Message;

use crate::auth::UserIdentity;
use crate::error::Result;
use crate::outbox::{ConnId, Outbox};

mod actor;
mod core;
mod frames;
mod reorder;

pub(crate) use actor::spawn;
pub(crate) use frames::message_down;

/// What a session needs from the registry that spawned it. The registry implements it on a
/// narrow handle of its own; the session never sees the registry's messages.
pub(crate) trait Upstream: Send + Sync + 'static {
    /// This session has been idle without subscribers: forget it if `instance` is still the
    /// current one, and close its mailbox. False if the registry is gone.
    fn retire(&self, sid: SessionId, instance: u64) -> impl Future<Output = bool> + Send;

    /// Delivers each frame to its users' `/ws-push` channels on this node.
    fn push(&self, deliveries: Vec<(Arc<[UserId]>, Utf8Bytes)>)
    -> impl Future<Output = ()> + Send;
}

/// Everything a session actor works with, shared by every session of a node.
#[derive(Debug)]
pub(crate) struct Env<U> {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// The mesh, in a cluster.
    pub(crate) mesh: Option<Mesh>,
    /// Where the actor and its unread resets run.
    pub(crate) spawner: Spawner,
    /// The registry, as far as sessions need it.
    pub(crate) upstream: U,
    /// For datelines.
    pub(crate) utc_offset_secs: i32,
    /// How long a session without subscribers lives on (`session_idle`).
    pub(crate) idle: Duration,
}

/// Requests queued for one chat. Senders wait when it is full, which slows the chat's
/// posters (backpressure) rather than growing memory.
const SESSION_CAPACITY: usize = 256;

/// A handle to a session actor.
#[derive(Clone, Debug)]
pub(crate) struct SessionHandle {
    tx: Mailbox<Msg>,
    /// Which incarnation this is, so a late retire cannot remove a successor.
    instance: u64,
}

/// What a member posts: text, or an upload already stored.
#[derive(Clone, Debug)]
pub(crate) enum Post {
    /// A text message, with the sender's own id for it if it gave one.
    Text {
        /// The text.
        content: String,
        /// The sender's own id for it.
        client_id: Option<String>,
    },
    /// A stored upload (and its thumbnail for images).
    File {
        /// As the client named it.
        file_name: String,
        /// Its content type.
        file_type: String,
        /// The stored file.
        fileid: FileId,
        /// The stored thumbnail, for images.
        thumbid: Option<FileId>,
    },
}

/// What [`SessionHandle::online`] answers: the actor, and for a resuming connection the last
/// `seq` delivered live so far (it reads everything up to it from the store, then calls
/// [`SessionHandle::caught_up`]).
#[derive(Debug)]
pub(crate) struct Joined {
    /// The actor to talk to from now on.
    pub(crate) handle: SessionHandle,
    /// The last seq delivered live.
    pub(crate) watermark: i64,
}

/// A session actor's messages.
#[derive(Debug)]
enum Msg {
    Online {
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
        /// `Some` for a resuming connection.
        after: Option<i64>,
        reply: Reply<Result<Joined>>,
    },
    /// A resuming connection has sent what it missed: release what was held for it.
    CaughtUp { conn: ConnId },
    Offline { conn: ConnId },
    Post {
        conn: ConnId,
        who: UserIdentity,
        content: Post,
        reply: Reply<Result<Message>>,
    },
    Join {
        uid: UserId,
        reply: Reply<Result<Option<Message>>>,
    },
    Leave {
        uid: UserId,
        reply: Reply<Result<Option<Message>>>,
    },
    OnlineUsers { reply: Reply<HashSet<UserId>> },
    Reload,
    /// An event another node published for this chat.
    Remote(Box<Envelope>),
    /// A mesh link to this node opened or broke: events on their way may be lost.
    CheckTail,
}

impl SessionHandle {
    /// Which incarnation of the chat's actor this is.
    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }

    /// Closes the mailbox: the actor drains what is queued, then ends.
    pub(crate) fn close(&self) {
        self.tx.close();
    }

    /// Makes `who`'s connection a subscriber (the `online` message), after checking
    /// membership.
    ///
    /// # Errors
    /// The outer error if the actor is gone or retiring (ask the registry again).
    pub(crate) async fn online(
        &self,
        conn: ConnId,
        who: &UserIdentity,
        outbox: &Outbox,
        after: Option<i64>,
    ) -> runtime::Result<Result<Joined>> {
        self.tx
            .request(|reply| Msg::Online {
                conn,
                who: who.clone(),
                outbox: outbox.clone(),
                after,
                reply,
            })
            .await
    }

    /// Posts a message from `who` on connection `conn`; answers once it is stored (and
    /// fanned out).
    ///
    /// # Errors
    /// Not a member, a store failure, or the actor gone.
    pub(crate) async fn post(
        &self,
        conn: ConnId,
        who: &UserIdentity,
        content: Post,
    ) -> Result<Message> {
        self.tx
            .request(|reply| Msg::Post {
                conn,
                who: who.clone(),
                content,
                reply,
            })
            .await?
    }

    /// Adds `uid` to the chat (`None` if already a member).
    ///
    /// # Errors
    /// The outer error if the actor is gone or retiring.
    pub(crate) async fn join(&self, uid: &UserId) -> runtime::Result<Result<Option<Message>>> {
        self.tx
            .request(|reply| Msg::Join {
                uid: uid.clone(),
                reply,
            })
            .await
    }

    /// Removes `uid` from the chat (`None` if not a member).
    ///
    /// # Errors
    /// The outer error if the actor is gone or retiring.
    pub(crate) async fn leave(&self, uid: &UserId) -> runtime::Result<Result<Option<Message>>> {
        self.tx
            .request(|reply| Msg::Leave {
                uid: uid.clone(),
                reply,
            })
            .await
    }

    /// Members with a live `/ws-chat` here (none if the actor is gone).
    pub(crate) async fn online_users(&self) -> HashSet<UserId> {
        self.tx
            .request(|reply| Msg::OnlineUsers { reply })
            .await
            .unwrap_or_default()
    }

    /// Re-read the session and members before the next use.
    pub(crate) async fn reload(&self) {
        // A gone actor has nothing to reload.
        let _ = self.tx.send(Msg::Reload).await;
    }

    /// An event another node published for this chat.
    ///
    /// # Errors
    /// The actor is gone.
    pub(crate) async fn remote(&self, envelope: Box<Envelope>) -> runtime::Result<()> {
        self.tx.send(Msg::Remote(envelope)).await
    }

    /// Read the chat's tail soon; never waits (a chat with a full mailbox has work that ends
    /// in a check).
    pub(crate) fn check_tail(&self) {
        let _ = self.tx.try_send(Msg::CheckTail);
    }

    /// A resuming connection has sent everything up to its watermark.
    pub(crate) async fn caught_up(&self, conn: ConnId) {
        // A gone actor has forgotten the connection.
        let _ = self.tx.send(Msg::CaughtUp { conn }).await;
    }

    /// The connection closed.
    pub(crate) async fn offline(&self, conn: ConnId) {
        // A gone actor has already forgotten every subscriber.
        let _ = self.tx.send(Msg::Offline { conn }).await;
    }
}
