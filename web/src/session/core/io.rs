//! The core's interface: the inputs it takes and the effects it returns, and the data they
//! carry.

use std::collections::HashSet;
use std::sync::Arc;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::Envelope;
use protocol::chat::{ChatDown, Reply, Sender};
use protocol::ids::UserId;
use protocol::time::Millis;
use store::model::Message;

use crate::outbox::ConnId;
use crate::session::frames::MemberView;

/// A stored event ready for local subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its place in the chat.
    pub(crate) seq: i64,
    /// Its `/ws-chat` frame, as data.
    pub(crate) down: ChatDown,
    /// The sender's own id for it (local messages and store reads; the mesh does not carry
    /// it).
    pub(crate) client_id: Option<String>,
    /// For a reply: what it answers.
    pub(crate) reply: Option<Reply>,
}

impl Event {
    /// The frame with `seq` (and `clientId`, and a reply's `replyTo` and preview).
    pub(crate) fn sequenced(&self) -> String {
        self.down
            .to_text_with_seq(self.seq, self.client_id.as_deref(), self.reply.as_ref())
    }
}

/// Why the store is read, which says what the core does with the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// Seqs up to `upto` never came over the mesh (a reorder gap given up on).
    Gap {
        /// The last missing seq.
        upto: i64,
    },
    /// The chat's tail: what the mesh may have failed to bring (after subscribing, a quiet
    /// spell, or a link change).
    Tail,
    /// Seqs an earlier gap fill did not find, read again.
    Unfilled,
}

/// A store read the shell performs: `messages_after(sid, after, limit)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    /// Why (and so which messages the core keeps: see [`Core::wants`](super::Core::wants)).
    pub(crate) kind: ReadKind,
    /// Messages after this seq.
    pub(crate) after: i64,
    /// At most this many.
    pub(crate) limit: u32,
}

/// What a read found, rendered by the shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    /// The seq of the last message read (kept or not); `None` if the page was empty.
    pub(crate) last: Option<i64>,
    /// The messages the core [`wants`](super::Core::wants), oldest first.
    pub(crate) events: Vec<Event>,
}

/// What a connection asks for when it comes online: the extensions of CookIM's protocol it
/// speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wants {
    /// `Some` for a resuming connection: the last seq it has.
    pub(crate) after: Option<i64>,
    /// Extension frames (typing, read receipts).
    pub(crate) ext: bool,
}

/// Who comes online: the token's identity.
#[derive(Clone, Debug)]
pub(crate) struct Newcomer {
    /// The user.
    pub(crate) uid: UserId,
    /// How they show as a sender.
    pub(crate) sender: Sender,
    /// Their nickname, for the online text.
    pub(crate) nickname: String,
}

/// What happened to a chat, told to its core.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one input at a time, moved straight into the core; boxing would allocate per message"
)]
pub(crate) enum Input<O> {
    /// A connection subscribes (after the shell loaded the chat and checked membership). It
    /// receives its own online event first.
    Online {
        /// The connection.
        conn: ConnId,
        /// Its outbox.
        outbox: O,
        /// Who.
        who: Newcomer,
        /// Whether it resumes, and whether it asked for extension frames.
        wants: Wants,
        /// The wall clock, for the event's dateline.
        wall: Millis,
    },
    /// A resuming connection has sent everything up to its watermark.
    CaughtUp {
        /// The connection.
        conn: ConnId,
    },
    /// A connection closed.
    Offline {
        /// The connection.
        conn: ConnId,
        /// The wall clock, for the event's dateline.
        wall: Millis,
    },
    /// The shell stored a message (a post, join or leave) for `conn` (if any).
    Stored {
        /// The connection that posted it, for a retry's echo.
        conn: Option<ConnId>,
        /// The stored message.
        message: Message,
        /// How its sender shows.
        sender: Sender,
        /// False for a retry the store recognised (same client id): nothing new was stored.
        fresh: bool,
        /// What it changed in the members.
        change: Membership,
        /// For a reply: what it answers (the shell read the preview).
        reply: Option<Reply>,
    },
    /// An event another node published for this chat.
    Remote(Box<Envelope>),
    /// A store read's answer (`Err` if the read failed; the shell logged why).
    Read {
        /// The read performed.
        read: Read,
        /// What it found.
        page: Result<Page, ()>,
    },
    /// A mesh link to this node opened or broke: events on their way may be lost.
    LinkChanged,
    /// The shell's clock reached [`Core::deadline`](super::Core::deadline).
    Tick,
    /// An offer to this connection's outbox failed: it is full (the shell closed it) or gone.
    Cut {
        /// The connection.
        conn: ConnId,
    },
    /// A [`Effect::ResetUnread`] was not started: the previous one still runs.
    ResetBusy,
    /// A member is composing (from one of their connections here).
    Typing {
        /// Who.
        uid: UserId,
        /// Their nickname, for the frame.
        nickname: String,
        /// The wall clock, for the frame's dateline.
        wall: Millis,
    },
    /// A member says they have read up to `seq`.
    ReadUp {
        /// Who.
        uid: UserId,
        /// The last seq read.
        seq: i64,
    },
    /// The shell stored a [`Effect::MarkRead`]: `uid`'s mark is now `mark`.
    Marked {
        /// Whose.
        uid: UserId,
        /// The mark the store holds.
        mark: i64,
    },
}

/// How a stored message changes the members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// Not at all (a text or file).
    Same,
    /// This user joined.
    Joined(MemberView),
    /// This user left.
    Left(UserId),
}

/// What the shell does, in order.
#[derive(Debug)]
pub(crate) enum Effect<O> {
    /// Offer `frame` to each outbox (never waiting); tell [`Input::Cut`] for each refused.
    Deliver {
        /// The subscribers and their outboxes.
        to: Vec<(ConnId, O)>,
        /// The frame, serialized once.
        frame: Utf8Bytes,
    },
    /// Close this outbox: a resuming connection fell too far behind (already forgotten).
    Close(O),
    /// Hand these frames to the registry for its push channels (a group's members share one).
    Push(Vec<(Arc<[UserId]>, Utf8Bytes)>),
    /// Publish this event to the mesh.
    Publish(Box<Envelope>),
    /// Read the store and answer with [`Input::Read`] before polling again.
    Read(Read),
    /// Reset these users' unread counts in this chat (off the actor); if the last reset
    /// still runs, answer [`Input::ResetBusy`] instead.
    ResetUnread(Arc<HashSet<UserId>>),
    /// Tell the mesh this node now has (`true`) or no longer has subscribers for the chat.
    Sync(bool),
    /// Move `uid`'s read mark forward to `upto` in the store (off the actor), then answer
    /// with [`Input::Marked`] (unless the user hides their receipts).
    MarkRead {
        /// Whose.
        uid: UserId,
        /// The last seq read.
        upto: i64,
    },
}
