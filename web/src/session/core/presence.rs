//! The live extensions of a chat, for connections that asked for them (`ext`): who is typing,
//! and read receipts. Neither is stored as a message; a read mark is stored on the member.
//!
//! Both are throttled per user, so a client that sends them on every keystroke or every
//! message costs a bounded amount: a typing event is forwarded at most once per
//! [`TYPING_INTERVAL`]; a read mark is written to the store and announced at most once per
//! [`RECEIPT_INTERVAL`], the latest one winning (a mark asked for inside the window waits for
//! its end). Receipts go out live only in chats of at most [`LIVE_RECEIPTS_MAX_MEMBERS`]
//! members: in a larger group every member's mark to every member would grow with the square
//! of its size, so clients ask `getReadMarks` when they show who has read a message.

use std::collections::HashMap;
use std::time::Duration;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::Envelope;
use protocol::chat::{self, ChatKind, ReadDown, TypingDown};
use protocol::ids::UserId;
use protocol::time::Millis;

use super::{Core, Effect, Item};

/// At most one typing event forwarded per user per chat in this long.
pub(crate) const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// At most one read mark written and announced per user per chat in this long (and at most
/// one forwarded per connection, by the connection itself: `ws::chat`).
pub(crate) const RECEIPT_INTERVAL: Duration = Duration::from_secs(1);

/// Chats with more members than this get no live read receipts (see the module doc).
pub(crate) const LIVE_RECEIPTS_MAX_MEMBERS: usize = 64;

/// Users remembered for the typing throttle before the stale ones are forgotten.
const TYPING_REMEMBERED: usize = 256;

/// One member's read mark as this node knows it.
#[derive(Debug, Default)]
pub(super) struct Mark {
    /// The highest mark known (written here, or heard from another node).
    known: i64,
    /// The highest mark asked of the store from here (written, or being written).
    asked: i64,
    /// When a mark of this user was last written from here.
    written_at: Option<Duration>,
    /// A mark waiting for its window.
    pending: Option<i64>,
}

/// The typing and read-receipt state of a chat.
#[derive(Debug, Default)]
pub(super) struct Presence {
    /// When each user's last typing event was forwarded.
    typing: HashMap<UserId, Duration>,
    /// Read marks of members who sent one.
    marks: HashMap<UserId, Mark>,
    /// When the earliest pending mark may be written.
    due: Option<Duration>,
}

impl Presence {
    /// When a pending mark may be written.
    pub(super) fn deadline(&self) -> Option<Duration> {
        self.due
    }
}

impl<O: Clone> Core<O> {
    /// [`Input::Typing`](super::Input::Typing): forwarded to the others with `ext` (here and on
    /// other nodes) unless this user's last one went out less than [`TYPING_INTERVAL`] ago.
    pub(super) fn typing(
        &mut self,
        items: &mut Vec<Item<O>>,
        uid: UserId,
        nickname: &str,
        wall: Millis,
    ) {
        let now = self.now;
        if let Some(&last) = self.presence.typing.get(&uid)
            && now < last + TYPING_INTERVAL
        {
            return;
        }
        if self.presence.typing.len() >= TYPING_REMEMBERED {
            self.presence
                .typing
                .retain(|_, at| now < *at + TYPING_INTERVAL);
        }
        self.presence.typing.insert(uid.clone(), now);
        let dateline = self.dateline(wall);
        let frame = chat::ext_text(&TypingDown {
            msg_type: ChatKind::Typing,
            uid: uid.as_str(),
            nickname,
            dateline: &dateline,
        });
        self.broadcast_ext(items, &uid, &Utf8Bytes::from(frame));
        if self.clustered {
            let envelope = Envelope::extension(
                self.sid.clone(),
                ChatKind::Typing,
                &uid,
                nickname,
                &dateline,
                0,
            );
            items.push(Item::Effect(Effect::Publish(Box::new(envelope))));
        }
    }

    /// [`Input::ReadUp`](super::Input::ReadUp): `uid` has read up to `seq`. A mark that moves
    /// forward (clamped to the last message delivered here) is written now, or at the end of
    /// this user's [`RECEIPT_INTERVAL`].
    pub(super) fn read_up(&mut self, items: &mut Vec<Item<O>>, uid: UserId, seq: i64) {
        let target = seq.min(self.watermark());
        let now = self.now;
        let mark = self.presence.marks.entry(uid.clone()).or_default();
        if target <= mark.known.max(mark.asked) || mark.pending.is_some_and(|p| target <= p) {
            return;
        }
        match mark.written_at {
            Some(at) if now < at + RECEIPT_INTERVAL => {
                mark.pending = Some(target);
                let due = at + RECEIPT_INTERVAL;
                self.presence.due = Some(self.presence.due.map_or(due, |d| d.min(due)));
            }
            _ => {
                mark.written_at = Some(now);
                mark.asked = target;
                items.push(Item::Effect(Effect::MarkRead { uid, upto: target }));
            }
        }
    }

    /// On [`Input::Tick`](super::Input::Tick): writes the pending marks whose window ended.
    pub(super) fn flush_marks(&mut self, items: &mut Vec<Item<O>>) {
        let now = self.now;
        if self.presence.due.is_none_or(|due| now < due) {
            return;
        }
        let mut next: Option<Duration> = None;
        let mut ready = Vec::new();
        for (uid, mark) in &mut self.presence.marks {
            let Some(pending) = mark.pending else {
                continue;
            };
            let opens = mark.written_at.map_or(now, |at| at + RECEIPT_INTERVAL);
            if opens <= now {
                mark.pending = None;
                mark.written_at = Some(now);
                mark.asked = pending;
                ready.push((uid.clone(), pending));
            } else {
                next = Some(next.map_or(opens, |n| n.min(opens)));
            }
        }
        self.presence.due = next;
        ready.sort();
        for (uid, upto) in ready {
            items.push(Item::Effect(Effect::MarkRead { uid, upto }));
        }
    }

    /// [`Input::Marked`](super::Input::Marked): the store has `uid`'s mark at `mark` (written
    /// here, or another node's receipt): the others with `ext` hear of it, and other nodes too
    /// if it was written here.
    pub(super) fn marked(&mut self, items: &mut Vec<Item<O>>, uid: UserId, mark: i64, local: bool) {
        let known = &mut self.presence.marks.entry(uid.clone()).or_default().known;
        if mark <= *known {
            return;
        }
        *known = mark;
        if self.members.len() > LIVE_RECEIPTS_MAX_MEMBERS {
            return;
        }
        let frame = chat::ext_text(&ReadDown {
            msg_type: ChatKind::Read,
            sessionid: None,
            uid: uid.as_str(),
            seq: mark,
        });
        self.broadcast_ext(items, &uid, &Utf8Bytes::from(frame));
        if local && self.clustered {
            let envelope =
                Envelope::extension(self.sid.clone(), ChatKind::Read, &uid, "", "", mark);
            items.push(Item::Effect(Effect::Publish(Box::new(envelope))));
        }
    }

    /// Another node's typing event or receipt.
    pub(super) fn remote_extension(&mut self, items: &mut Vec<Item<O>>, envelope: &Envelope) {
        let Ok(uid) = UserId::parse(&envelope.uid) else {
            return;
        };
        match envelope.kind {
            ChatKind::Typing => {
                let frame = chat::ext_text(&TypingDown {
                    msg_type: ChatKind::Typing,
                    uid: uid.as_str(),
                    nickname: &envelope.nickname,
                    dateline: &envelope.dateline,
                });
                self.broadcast_ext(items, &uid, &Utf8Bytes::from(frame));
            }
            ChatKind::Read => self.marked(items, uid, envelope.mark, false),
            _ => {}
        }
    }
}
