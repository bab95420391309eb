//! What each input from the outside does: a connection comes online, catches up or goes;
//! the shell stored a message; another node's event arrives.

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::Envelope;
use protocol::chat::{self, ChatDown, ChatKind, FileFields};
use protocol::ids::UserId;
use protocol::time::Millis;

use super::{Core, Effect, Event, Item, Membership, Newcomer, Resume, Subscriber, Wants};
use crate::outbox::ConnId;
use crate::session::frames::MemberView;
use crate::session::reorder::Reorder;

impl<O: Clone> Core<O> {
    /// [`Input::Online`](super::Input::Online): the others hear of the newcomer, which is
    /// subscribed with its own online event first.
    pub(super) fn online(
        &mut self,
        items: &mut Vec<Item<O>>,
        conn: ConnId,
        outbox: O,
        who: Newcomer,
        wants: Wants,
        wall: Millis,
    ) {
        let down = ChatDown {
            sender: who.sender,
            msg_type: ChatKind::Online,
            content: chat::online_text(&who.nickname),
            file: FileFields::default(),
            dateline: self.dateline(wall),
        };
        let frame = Utf8Bytes::from(down.to_text());
        self.broadcast(items, &frame);
        // The newcomer's own online event comes first on its connection (a resuming one gets
        // what it missed after it): its outbox is empty, so this never fills it.
        items.push(Item::Effect(Effect::Deliver {
            to: vec![(conn, outbox.clone())],
            frame,
        }));
        self.subscribers.insert(
            conn,
            Subscriber {
                uid: who.uid,
                outbox,
                resume: match wants.after {
                    Some(_) => Resume::CatchingUp(Vec::new()),
                    None => Resume::Off,
                },
                has: wants.after.unwrap_or(0),
                ext: wants.ext,
            },
        );
        self.publish_remote(items, &down, 0, &[], None);
    }

    /// [`Input::CaughtUp`](super::Input::CaughtUp): what was held for a resuming connection
    /// goes out, and it gets frames directly from now on.
    pub(super) fn caught_up(&mut self, items: &mut Vec<Item<O>>, conn: ConnId) {
        let Some(subscriber) = self.subscribers.get_mut(&conn) else {
            return;
        };
        let Resume::CatchingUp(held) = std::mem::replace(&mut subscriber.resume, Resume::Live)
        else {
            return;
        };
        for frame in held {
            items.push(Item::Effect(Effect::Deliver {
                to: vec![(conn, subscriber.outbox.clone())],
                frame,
            }));
        }
    }

    /// [`Input::Offline`](super::Input::Offline): the subscriber is forgotten and the others
    /// hear of it.
    pub(super) fn offline(&mut self, items: &mut Vec<Item<O>>, conn: ConnId, wall: Millis) {
        let Some(gone) = self.subscribers.remove(&conn) else {
            return;
        };
        let view = self
            .member(&gone.uid)
            .cloned()
            .unwrap_or_else(|| MemberView::unknown(gone.uid.clone()));
        let down = ChatDown {
            sender: view.sender(),
            msg_type: ChatKind::Offline,
            content: chat::offline_text(&view.nickname),
            file: FileFields::default(),
            dateline: self.dateline(wall),
        };
        self.broadcast(items, &Utf8Bytes::from(down.to_text()));
        self.publish_remote(items, &down, 0, &[], None);
    }

    /// [`Input::Stored`](super::Input::Stored): a message this node stored, fanned out (or,
    /// for a retry, echoed).
    pub(super) fn stored(
        &mut self,
        items: &mut Vec<Item<O>>,
        conn: Option<ConnId>,
        event: Event,
        fresh: bool,
        change: Membership,
    ) {
        if !fresh {
            // A retry of a message stored earlier (same client id): everyone had it then, so
            // only the retrying connection gets the echo it is waiting for, with the `seq` and
            // `clientId` that tell a resuming client which send it acknowledges.
            if self
                .reorder
                .as_ref()
                .and_then(Reorder::last)
                .is_some_and(|last| event.seq > last)
            {
                // Not delivered here yet (it waits behind a gap, or its envelope is still on
                // its way): it goes to every subscriber in order, this connection included,
                // and that is the echo. Sent now it would come before the messages it follows.
                items.push(Item::Order(event));
            } else if let Some(conn) = conn
                && let Some(subscriber) = self.subscribers.get(&conn)
            {
                let frame = Utf8Bytes::from(match subscriber.resume {
                    Resume::Off => event.down.to_text(),
                    Resume::CatchingUp(_) | Resume::Live => event.sequenced(),
                });
                items.push(Item::Effect(Effect::Deliver {
                    to: vec![(conn, subscriber.outbox.clone())],
                    frame,
                }));
            }
            return;
        }
        if let Membership::Joined(view) = &change
            && !self.is_member(&view.uid)
        {
            self.members.push(view.clone());
            self.member_ids.insert(view.uid.clone());
            self.targets = None;
        }
        self.publish(items, event);
        if let Membership::Left(uid) = change {
            items.push(Item::Left(uid));
        }
    }

    /// [`Input::Remote`](super::Input::Remote): live events go out as they come, stored ones
    /// through the reorder buffer.
    pub(super) fn remote(&mut self, items: &mut Vec<Item<O>>, envelope: Envelope) {
        if envelope.session_id != self.sid {
            return;
        }
        if envelope.seq == 0 && envelope.kind.is_extension() {
            self.remote_extension(items, &envelope);
            return;
        }
        let down = envelope.chat_down();
        if envelope.seq == 0 {
            // Online and offline are live-only: no order to keep, nothing to repair.
            self.broadcast(items, &Utf8Bytes::from(down.to_text()));
            return;
        }
        items.push(Item::Order(Event {
            seq: envelope.seq,
            down,
            client_id: None,
            reply: envelope.reply.clone(),
        }));
        let leaver = if envelope.kind == ChatKind::Leave {
            UserId::parse(&envelope.uid).ok()
        } else {
            None
        };
        items.push(Item::AfterRemote(leaver));
    }
}
