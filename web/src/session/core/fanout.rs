//! How the core hands events out: live frames to every subscriber, stored events through the
//! reorder buffer in `seq` order (each frame serialized once), to the registry's push channels
//! and to the mesh.

use std::sync::Arc;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::{Envelope, PushTarget};
use protocol::chat::{ChatDown, Reply};
use protocol::ids::UserId;

use super::{
    Core, Effect, Event, GAP_PAGE, Item, MAX_CATCH_UP_HELD, QUIET_TAIL_CHECK, Read, ReadKind,
    Resume, Subscriber, Targets,
};
use crate::outbox::ConnId;
use crate::session::frames::{push_frames, push_targets};
use crate::session::reorder::Step;

impl<O: Clone> Core<O> {
    /// Sends a live-only frame (online, offline) to every subscriber.
    pub(super) fn broadcast(&mut self, items: &mut Vec<Item<O>>, frame: &Utf8Bytes) {
        let mut to = Vec::new();
        self.subscribers
            .retain(|&conn, s| deliver(items, &mut to, conn, s, frame));
        if !to.is_empty() {
            items.push(Item::Effect(Effect::Deliver {
                to,
                frame: frame.clone(),
            }));
        }
    }

    /// Sends an extension frame (typing, a receipt) to the subscribers that asked for them,
    /// but for `about`'s own connections.
    pub(super) fn broadcast_ext(
        &mut self,
        items: &mut Vec<Item<O>>,
        about: &UserId,
        frame: &Utf8Bytes,
    ) {
        let mut to = Vec::new();
        self.subscribers.retain(|&conn, s| {
            !s.ext || &s.uid == about || deliver(items, &mut to, conn, s, frame)
        });
        if !to.is_empty() {
            items.push(Item::Effect(Effect::Deliver {
                to,
                frame: frame.clone(),
            }));
        }
    }

    /// Sends a stored event: CookIM's frame to plain subscribers, the frame with `seq` to
    /// resuming ones (each serialized once, and only if someone needs it).
    pub(super) fn broadcast_stored(&mut self, items: &mut Vec<Item<O>>, event: &Event) {
        let mut plain: Option<Utf8Bytes> = None;
        let mut sequenced: Option<Utf8Bytes> = None;
        let (mut to_plain, mut to_sequenced) = (Vec::new(), Vec::new());
        self.subscribers.retain(|&conn, s| match s.resume {
            Resume::Off => {
                let frame = plain.get_or_insert_with(|| Utf8Bytes::from(event.down.to_text()));
                deliver(items, &mut to_plain, conn, s, frame)
            }
            Resume::CatchingUp(_) | Resume::Live if event.seq <= s.has => true,
            Resume::CatchingUp(_) | Resume::Live => {
                let frame = sequenced.get_or_insert_with(|| Utf8Bytes::from(event.sequenced()));
                deliver(items, &mut to_sequenced, conn, s, frame)
            }
        });
        for (to, frame) in [(to_plain, plain), (to_sequenced, sequenced)] {
            if let Some(frame) = frame
                && !to.is_empty()
            {
                items.push(Item::Effect(Effect::Deliver { to, frame }));
            }
        }
    }

    /// Fans a stored event out: to every member's push channels and to the mesh at once,
    /// and to this node's chat subscribers in `seq` order.
    pub(super) fn publish(&mut self, items: &mut Vec<Item<O>>, event: Event) {
        let (targets, uids) = self.cached_targets();
        let deliveries = push_frames(&self.sid, &event.down, &targets, &uids);
        if !deliveries.is_empty() {
            items.push(Item::Effect(Effect::Push(deliveries)));
        }
        self.publish_remote(
            items,
            &event.down,
            event.seq,
            &targets,
            event.reply.as_ref(),
        );
        items.push(Item::Order(event));
    }

    /// Hands an event to the mesh (in a cluster), which sends it to the nodes with
    /// subscribers for this chat or for `push_to`'s push channels.
    pub(super) fn publish_remote(
        &self,
        items: &mut Vec<Item<O>>,
        down: &ChatDown,
        seq: i64,
        push_to: &[PushTarget],
        reply: Option<&Reply>,
    ) {
        if !self.clustered {
            return;
        }
        if let Some(mut envelope) =
            Envelope::from_chat_down(self.sid.clone(), seq, down, push_to.to_vec())
        {
            envelope.reply = reply.cloned();
            items.push(Item::Effect(Effect::Publish(Box::new(envelope))));
        }
    }

    /// The push targets and their ids, built once per membership.
    fn cached_targets(&mut self) -> Targets {
        if let Some(cached) = &self.targets {
            return cached.clone();
        }
        let targets = match &self.session {
            Some(session) => push_targets(session, &self.members),
            None => Vec::new(),
        };
        let uids: Arc<[UserId]> = targets.iter().map(|t| t.uid.clone()).collect();
        let built = (Arc::new(targets), uids);
        self.targets = Some(built.clone());
        built
    }

    /// Passes a stored event through the reorder buffer to local subscribers.
    pub(super) fn order(&mut self, items: &mut Vec<Item<O>>, event: Event) {
        if self.clustered && !self.subscribers.is_empty() {
            self.quiet_check_at = Some(self.now + QUIET_TAIL_CHECK);
        }
        let steps = match &mut self.reorder {
            Some(reorder) => reorder.push(event.seq, event, self.now),
            None => vec![Step::Deliver(event.seq, event)],
        };
        self.steps(items, steps);
    }

    /// What the reorder buffer said to do, as agenda items.
    pub(super) fn steps(&mut self, items: &mut Vec<Item<O>>, steps: Vec<Step<Event>>) {
        for step in steps {
            items.push(match step {
                Step::Deliver(_, event) => Item::Broadcast(event),
                Step::Missing { after, upto } => Item::Effect(Effect::Read(Read {
                    kind: ReadKind::Gap { upto },
                    after,
                    limit: page_limit(upto - after),
                })),
            });
        }
    }
}

/// Hands a frame to one subscriber: held while it catches up (added to `to` otherwise).
/// False if the subscriber must be dropped (too much held: its outbox is closed).
fn deliver<O: Clone>(
    items: &mut Vec<Item<O>>,
    to: &mut Vec<(ConnId, O)>,
    conn: ConnId,
    subscriber: &mut Subscriber<O>,
    frame: &Utf8Bytes,
) -> bool {
    match &mut subscriber.resume {
        Resume::CatchingUp(held) if held.len() < MAX_CATCH_UP_HELD => {
            held.push(frame.clone());
            true
        }
        Resume::CatchingUp(_) => {
            tracing::warn!("a resuming connection fell too far behind: closing it");
            items.push(Item::Effect(Effect::Close(subscriber.outbox.clone())));
            false
        }
        Resume::Off | Resume::Live => {
            to.push((conn, subscriber.outbox.clone()));
            true
        }
    }
}

/// How many messages to read for `wanted` seqs: all of them, at most a page.
pub(super) fn page_limit(wanted: i64) -> u32 {
    u32::try_from(wanted).unwrap_or(u32::MAX).min(GAP_PAGE)
}
