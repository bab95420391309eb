//! One chat's delivery logic as a state machine: no `async`, no clock, no store, no socket.
//!
//! [`Core`] holds the chat's subscribers (and where each resuming one stands), the members and
//! session as last read, the [`Reorder`] buffer of stored events, the seqs a gap fill did not
//! find, and four deadlines (unread reset, recheck, quiet-chat tail read, and the last tail
//! read that paces link-change reads). The shell ([`super::actor`]) feeds it one [`Input`] at
//! a time with `now` (time since the actor started), then drains [`Core::poll`] and performs
//! each [`Effect`] in order, feeding results back as inputs:
//!
//! | input | effects it may lead to |
//! |---|---|
//! | [`Input::Online`] / [`Input::Offline`] | `Deliver` the live frame, `Publish` it |
//! | [`Input::CaughtUp`] | `Deliver` the frames held for a resuming connection |
//! | [`Input::Stored`] (a post, join or leave the shell stored) | `Push`, `Publish`, `Deliver` in `seq` order, `Read` a gap |
//! | [`Input::Remote`] (another node's event) | `Deliver` (in `seq` order), `Read` a gap |
//! | [`Input::Read`] (a store read's page) | `Deliver`, another `Read` |
//! | [`Input::Tick`] (a [`Core::deadline`] passed) | `Read` a gap, the tail or unfilled seqs, `ResetUnread` |
//! | [`Input::LinkChanged`] | (a tail read planned) |
//! | [`Input::Cut`] / [`Input::ResetBusy`] | (state only) |
//!
//! plus [`Core::settle`], called after every wake, which may `Sync` the mesh topic. Any
//! delivery may also `Close` a resuming connection that fell too far behind.
//!
//! A `Read` suspends the rest of the agenda: what its answer leads to is done before anything
//! queued behind it, as if the core had awaited the read where it asked for it (work behind a
//! read is evaluated when reached, against the state the read left). Store reads the
//! shell does before an input (loading the session and members, anchoring the reorder buffer
//! at the chat's latest seq, storing a post) stay in the shell, which asks the core what is
//! needed ([`Core::needs_session`], [`Core::needs_anchor`], [`Core::is_member`]).
//!
//! `O` is the shell's handle on a connection's outbox: the core keeps it with the subscriber
//! and hands it back in effects, never calls it. A refused offer comes back as
//! [`Input::Cut`] after the effect.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::PushTarget;
use protocol::chat::{ChatDown, Sender};
use protocol::ids::{SessionId, UserId};
use protocol::time::{Millis, timestr};
use store::model::{Message, Session};

use super::frames::{MemberView, message_down};
use super::reorder::Reorder;
use crate::outbox::ConnId;

mod fanout;
mod inputs;
mod io;
mod presence;
mod repair;

pub(crate) use io::{Effect, Event, Input, Membership, Newcomer, Page, Read, ReadKind, Wants};
pub(crate) use presence::RECEIPT_INTERVAL;
#[cfg(test)]
pub(crate) use presence::{LIVE_RECEIPTS_MAX_MEMBERS, TYPING_INTERVAL};
#[cfg(test)]
mod tests;

/// How long stored events from other nodes may wait behind a gap before the gap is read from
/// the store. Links are ordered, so a gap means two nodes wrote the chat at once (the other
/// event is milliseconds away) or a frame was lost (then the store has it).
pub(crate) const REORDER_HOLD: Duration = Duration::from_millis(300);

/// Events held behind one gap at most; one more reads the gap from the store at once.
pub(crate) const REORDER_MAX_HELD: usize = 512;

/// After another node's message reached members online here, their unread counts (which that
/// node raised) are reset this much later, once for a whole burst: one store write per member
/// per second at most, however busy the chat.
pub(crate) const UNREAD_RESET_DELAY: Duration = Duration::from_secs(1);

/// Messages read from the store at a time when filling a gap.
pub(crate) const GAP_PAGE: u32 = 500;

/// Live frames held for a connection while it catches up; more cut it (it resumes again).
pub(crate) const MAX_CATCH_UP_HELD: usize = 1024;

/// How long after subscribing (or after a gap fill that found a message missing) the chat's
/// tail is read from the store again: messages other nodes stored before they learned of this
/// node's subscription, or that were numbered but not yet visible, are delivered then.
pub(crate) const RECHECK_DELAY: Duration = Duration::from_secs(1);

/// In a cluster, how long a chat with subscribers here stays quiet after a stored event before
/// its tail is read from the store once: a gap shows only when a later event arrives, so the
/// last event of a burst lost on its way (a link cut, a partition) would otherwise never come.
/// A busy chat costs nothing (each event pushes the check back); a quiet one one indexed read.
pub(crate) const QUIET_TAIL_CHECK: Duration = Duration::from_secs(1);

/// How long after a mesh link to this node opened or broke (or a peer said it dropped events
/// for it) a chat with subscribers reads its tail (see [`Input::LinkChanged`]).
pub(crate) const LINK_CHANGE_CHECK: Duration = Duration::from_millis(300);

/// A chat reads its tail for link changes at most this often: a flapping link, or a peer far
/// behind that keeps marking its link as lossy, must not become a stream of store reads on a
/// node with many chats.
pub(crate) const RESYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Re-reads of a seq a gap fill did not find before it is given up (it was never stored).
pub(crate) const RECHECK_TRIES: u8 = 3;

/// Seqs waiting for a re-read at most.
pub(crate) const MAX_UNFILLED: usize = 1024;

/// One subscribed connection.
#[derive(Debug)]
struct Subscriber<O> {
    uid: UserId,
    outbox: O,
    /// Whether it resumes (gets `seq` on stored events) and where it stands.
    resume: Resume,
    /// The last `seq` a resuming connection said it has: stored events up to it are not sent
    /// again (this node's live order may be behind the client, e.g. when the client comes
    /// from a node that heard of them sooner).
    has: i64,
    /// Whether it asked for extension frames (typing, read receipts).
    ext: bool,
}

/// A connection's part in the resume extension (`after` on `online`).
#[derive(Debug)]
enum Resume {
    /// A CookIM client: plain frames.
    Off,
    /// Its connection task is still sending the stored messages it missed; live frames (with
    /// `seq`) wait here, at most [`MAX_CATCH_UP_HELD`].
    CatchingUp(Vec<Utf8Bytes>),
    /// Caught up: frames with `seq` go straight to its outbox.
    Live,
}

/// Work waiting behind a read, done in order as [`Core::poll`] reaches it.
#[derive(Debug)]
enum Item<O> {
    /// Ready for the shell.
    Effect(Effect<O>),
    /// Pass a stored event through the reorder buffer.
    Order(Event),
    /// Send a stored event to subscribers now (already in order, or late rather than never).
    Broadcast(Event),
    /// Re-read what the mesh did not bring: the tail if asked, then unfilled seqs.
    Recheck,
    /// The unfilled half of a recheck, planned once the tail read is done.
    Unfilled,
    /// A quiet chat's tail read (if anyone still follows it).
    QuietCheck,
    /// After a local leave was ordered: the leaver saw their own leave event, and stops
    /// receiving this chat.
    Left(UserId),
    /// After another node's stored event was ordered: a leaver (as for a local leave) stops
    /// receiving this chat, and the unread counts that node raised for members online here
    /// are reset soon.
    AfterRemote(Option<UserId>),
}

/// A chat's push targets and their ids, shared by every message until membership changes.
type Targets = (Arc<Vec<PushTarget>>, Arc<[UserId]>);

/// What identifies a set of subscribers: their count and the sum of their connection ids.
type SubscribersKey = (usize, u64);

/// The state of one chat on this node.
#[derive(Debug)]
pub(crate) struct Core<O> {
    sid: SessionId,
    /// Whether this node is in a cluster (events are published; tails are read).
    clustered: bool,
    /// For datelines.
    utc_offset_secs: i32,
    /// `None` until loaded, or after something made it stale.
    session: Option<Session>,
    members: Vec<MemberView>,
    /// The members' ids, for a membership check that does not walk a large group.
    member_ids: HashSet<UserId>,
    subscribers: HashMap<ConnId, Subscriber<O>>,
    /// Stored events in `seq` order for local subscribers; `None` until anchored at the
    /// chat's latest `seq` when first needed.
    reorder: Option<Reorder<Event>>,
    /// Whether the mesh knows this node has subscribers for the chat.
    subscribed: bool,
    /// When to reset the unread counts of members online here.
    unread_reset: Option<Duration>,
    /// When to re-read the store (see [`RECHECK_DELAY`]).
    recheck_at: Option<Duration>,
    /// Whether the recheck reads the chat's tail (after subscribing).
    recheck_tail: bool,
    /// When to read the chat's tail after the last stored event (see [`QUIET_TAIL_CHECK`]).
    quiet_check_at: Option<Duration>,
    /// When that last happened (see [`RESYNC_INTERVAL`]).
    tail_read_at: Option<Duration>,
    /// Seqs a gap fill did not find, with the re-reads tried so far.
    unfilled: BTreeMap<i64, u8>,
    /// Push targets while members and session stay as they are: a 1,000-member group's
    /// message must not rebuild them.
    targets: Option<Targets>,
    /// The users online here, keyed by the subscribers it was built from.
    online: Option<(SubscribersKey, Arc<HashSet<UserId>>)>,
    /// Typing and read receipts.
    presence: presence::Presence,
    /// What [`poll`](Self::poll) hands out next.
    agenda: VecDeque<Item<O>>,
    /// The `now` of the last input.
    now: Duration,
}

impl<O: Clone> Core<O> {
    /// A chat with nothing loaded and no subscribers.
    pub(crate) fn new(sid: SessionId, clustered: bool, utc_offset_secs: i32) -> Core<O> {
        Core {
            sid,
            clustered,
            utc_offset_secs,
            session: None,
            members: Vec::new(),
            member_ids: HashSet::new(),
            subscribers: HashMap::new(),
            reorder: None,
            subscribed: false,
            unread_reset: None,
            recheck_at: None,
            recheck_tail: false,
            quiet_check_at: None,
            tail_read_at: None,
            unfilled: BTreeMap::new(),
            targets: None,
            online: None,
            presence: presence::Presence::default(),
            agenda: VecDeque::new(),
            now: Duration::ZERO,
        }
    }

    /// The chat.
    pub(crate) fn sid(&self) -> &SessionId {
        &self.sid
    }

    /// The session as loaded, if it is.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Whether the shell must read the session and members before the next input.
    pub(crate) fn needs_session(&self) -> bool {
        self.session.is_none()
    }

    /// Whether the shell must read the chat's latest seq ([`anchored`](Self::anchored)).
    pub(crate) fn needs_anchor(&self) -> bool {
        self.reorder.is_none()
    }

    /// The session and its members, as read.
    pub(crate) fn loaded(&mut self, session: Session, members: Vec<MemberView>) {
        self.session = Some(session);
        self.member_ids = members.iter().map(|m| m.uid.clone()).collect();
        self.members = members;
        self.targets = None;
    }

    /// Everything stored up to `latest` is history; live delivery starts after it.
    pub(crate) fn anchored(&mut self, latest: i64) {
        self.reorder = Some(Reorder::new(Some(latest), REORDER_HOLD, REORDER_MAX_HELD));
    }

    /// Forgets the session and members (they changed elsewhere): read them again.
    pub(crate) fn forget_session(&mut self) {
        self.session = None;
    }

    /// Before a connection comes online: in a cluster, a chat without subscribers here was not
    /// subscribed, so joins, leaves and messages on other nodes did not reach it. Read the
    /// members afresh, and start live delivery after the chat's latest message.
    pub(crate) fn prepare_online(&mut self) {
        if self.subscribers.is_empty() && self.clustered {
            self.session = None;
            self.reorder = None;
        }
    }

    /// Whether `uid` is a member, as last read.
    pub(crate) fn is_member(&self, uid: &UserId) -> bool {
        self.member_ids.contains(uid)
    }

    /// A member as last read.
    pub(crate) fn member(&self, uid: &UserId) -> Option<&MemberView> {
        self.members.iter().find(|m| &m.uid == uid)
    }

    /// Whether any connection here follows the chat.
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// The last seq delivered live (a resuming connection reads up to it from the store).
    pub(crate) fn watermark(&self) -> i64 {
        self.reorder.as_ref().and_then(Reorder::last).unwrap_or(0)
    }

    /// The users online here (shared until the subscribers change).
    pub(crate) fn online_set(&mut self) -> Arc<HashSet<UserId>> {
        let key = (
            self.subscribers.len(),
            self.subscribers
                .keys()
                .fold(0u64, |sum, conn| sum.wrapping_add(conn.raw())),
        );
        if let Some((built, set)) = &self.online
            && *built == key
        {
            return set.clone();
        }
        let set: Arc<HashSet<UserId>> =
            Arc::new(self.subscribers.values().map(|s| s.uid.clone()).collect());
        self.online = Some((key, set.clone()));
        set
    }

    /// The `/ws-chat` frame of a stored message.
    pub(crate) fn render(&self, message: &Message, sender: Sender) -> ChatDown {
        message_down(message, sender, self.dateline(message.dateline))
    }

    /// Whether the page of `read` needs the message at `seq` (the shell renders only those).
    pub(crate) fn wants(&self, read: &Read, seq: i64) -> bool {
        match read.kind {
            ReadKind::Gap { upto } => seq <= upto,
            ReadKind::Tail => true,
            ReadKind::Unfilled => self.unfilled.contains_key(&seq),
        }
    }

    /// When [`Input::Tick`] has work: a reorder gap to give up on, unread counts to reset, a
    /// recheck or a tail read.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        let gap = self.reorder.as_ref().and_then(Reorder::deadline);
        [
            gap,
            self.unread_reset,
            self.recheck_at,
            self.quiet_check_at,
            self.presence.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Takes one input at `now` (time since the shell started; never decreasing). What it
    /// leads to comes from [`poll`](Self::poll), before anything queued earlier.
    pub(crate) fn handle(&mut self, input: Input<O>, now: Duration) {
        self.now = self.now.max(now);
        let mut items = Vec::new();
        match input {
            Input::Online {
                conn,
                outbox,
                who,
                wants,
                wall,
            } => self.online(&mut items, conn, outbox, who, wants, wall),
            Input::CaughtUp { conn } => self.caught_up(&mut items, conn),
            Input::Offline { conn, wall } => self.offline(&mut items, conn, wall),
            Input::Stored {
                conn,
                message,
                sender,
                fresh,
                change,
                reply,
            } => {
                let event = Event {
                    seq: message.seq,
                    down: self.render(&message, sender),
                    client_id: message.client_id,
                    reply,
                };
                self.stored(&mut items, conn, event, fresh, change);
            }
            Input::Remote(envelope) => self.remote(&mut items, *envelope),
            Input::Read { read, page } => self.read(&mut items, read, page),
            Input::LinkChanged => self.link_changed(),
            Input::Tick => self.tick(&mut items),
            Input::Cut { conn } => {
                self.subscribers.remove(&conn);
            }
            Input::ResetBusy => self.unread_reset = Some(self.now + UNREAD_RESET_DELAY),
            Input::Typing {
                uid,
                nickname,
                wall,
            } => self.typing(&mut items, uid, &nickname, wall),
            Input::ReadUp { uid, seq } => self.read_up(&mut items, uid, seq),
            Input::Marked { uid, mark } => self.marked(&mut items, uid, mark, true),
        }
        for item in items.into_iter().rev() {
            self.agenda.push_front(item);
        }
    }

    /// The next effect to perform, in order; `None` when nothing is left. After an
    /// [`Effect::Read`], answer with [`Input::Read`] before polling again.
    pub(crate) fn poll(&mut self) -> Option<Effect<O>> {
        while let Some(item) = self.agenda.pop_front() {
            let mut items = Vec::new();
            match item {
                Item::Effect(effect) => return Some(effect),
                Item::Order(event) => self.order(&mut items, event),
                Item::Broadcast(event) => self.broadcast_stored(&mut items, &event),
                Item::Recheck => self.recheck(&mut items),
                Item::Unfilled => self.unfilled_read(&mut items),
                Item::Left(uid) => {
                    self.members.retain(|m| m.uid != uid);
                    self.member_ids.remove(&uid);
                    self.targets = None;
                    self.subscribers.retain(|_, s| s.uid != uid);
                }
                Item::AfterRemote(leaver) => {
                    if let Some(leaver) = leaver {
                        self.subscribers.retain(|_, s| s.uid != leaver);
                    }
                    if !self.subscribers.is_empty() && self.unread_reset.is_none() {
                        self.unread_reset = Some(self.now + UNREAD_RESET_DELAY);
                    }
                }
                Item::QuietCheck => {
                    if !self.subscribers.is_empty() {
                        self.tail_read_at = Some(self.now);
                        self.recheck_tail = true;
                        self.recheck(&mut items);
                    }
                }
            }
            for item in items.into_iter().rev() {
                self.agenda.push_front(item);
            }
        }
        None
    }

    /// After every wake: tells the mesh (in a cluster) whether this node has subscribers for
    /// the chat, when that changed. A new subscription reads the tail shortly.
    pub(crate) fn settle(&mut self) {
        let want = !self.subscribers.is_empty();
        if !self.clustered || want == self.subscribed {
            return;
        }
        self.subscribed = want;
        if want {
            self.recheck_tail = true;
            self.recheck_at = Some(self.now + RECHECK_DELAY);
        }
        self.agenda.push_back(Item::Effect(Effect::Sync(want)));
    }

    /// The actor is ending: forget every subscriber (then [`settle`](Self::settle)).
    pub(crate) fn close(&mut self) {
        self.subscribers.clear();
    }

    fn dateline(&self, ms: Millis) -> String {
        timestr(ms, self.utc_offset_secs)
    }
}
