//! The handle to a session actor and its private messages.

use std::collections::HashSet;

use mesh::envelope::Envelope;
use protocol::ids::{FileId, UserId};
use runtime::{Mailbox, Reply};
use store::model::Message;

use super::core::Wants;
use crate::auth::UserIdentity;
use crate::error::Result;
use crate::outbox::{ConnId, Outbox};

/// Requests queued for one chat. Senders wait when it is full, which slows the chat's
/// posters (backpressure) rather than growing memory.
pub(super) const SESSION_CAPACITY: usize = 256;

/// A handle to a session actor.
#[derive(Clone, Debug)]
pub(crate) struct SessionHandle {
    pub(super) tx: Mailbox<Msg>,
    /// Which incarnation this is, so a late retire cannot remove a successor.
    pub(super) instance: u64,
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
        /// The `seq` of the message it answers.
        reply_to: Option<i64>,
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
        /// The `seq` of the message it answers.
        reply_to: Option<i64>,
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

/// A session actor's messages (private to the session module).
#[derive(Debug)]
pub(super) enum Msg {
    Online {
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
        wants: Wants,
        reply: Reply<Result<Joined>>,
    },
    /// A resuming connection has sent what it missed: release what was held for it.
    CaughtUp {
        conn: ConnId,
    },
    Offline {
        conn: ConnId,
    },
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
    OnlineUsers {
        reply: Reply<HashSet<UserId>>,
    },
    Reload,
    /// An event another node published for this chat.
    Remote(Box<Envelope>),
    /// A mesh link to this node opened or broke: events on their way may be lost.
    CheckTail,
    /// A member is composing.
    Typing {
        uid: UserId,
        nickname: String,
    },
    /// A member has read up to `seq`.
    ReadUp {
        uid: UserId,
        seq: i64,
    },
    /// A read mark was stored (by this actor's `MarkRead`).
    Marked {
        uid: UserId,
        mark: i64,
    },
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
        wants: Wants,
    ) -> runtime::Result<Result<Joined>> {
        self.tx
            .request(|reply| Msg::Online {
                conn,
                who: who.clone(),
                outbox: outbox.clone(),
                wants,
                reply,
            })
            .await
    }

    /// `who` is composing: best effort, never waits (dropped if the chat is busy).
    pub(crate) fn typing(&self, who: &UserIdentity) {
        let _ = self.tx.try_send(Msg::Typing {
            uid: who.uid.clone(),
            nickname: who.nickname.clone(),
        });
    }

    /// `who` has read the chat up to `seq`.
    pub(crate) async fn read_up(&self, who: &UserIdentity, seq: i64) {
        // A gone actor has nobody to tell; the next connection reads the mark again.
        let _ = self
            .tx
            .send(Msg::ReadUp {
                uid: who.uid.clone(),
                seq,
            })
            .await;
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
