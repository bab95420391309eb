//! The session actor: one per chat with live subscribers on this node.
//!
//! It is the only writer of its chat on this node, so the order it stores messages in is the
//! order every subscriber sees them. For each event it (1) persists it when the spec says so
//! (text, join, leave) and only then (2) fans it out: to this chat's `/ws-chat` subscribers
//! directly with `try_send`, and to every member's `/ws-push` channel through the registry.
//! Online and offline events are not stored.
//!
//! In a cluster it also (3) publishes every event to the mesh, which carries it to the nodes
//! with subscribers for the chat or its members' push channels, and takes the events other
//! nodes stored for this chat. Stored events reach local subscribers through a [`Reorder`]
//! buffer: in `seq` order, exactly once, with gaps read from the store. Members online here
//! do not keep unread counts that another node's append raised: their counts are reset
//! shortly after.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Utf8Bytes;
use futures_lite::FutureExt;
use mesh::envelope::{Envelope, EventKind, PushTarget};
use mesh::reorder::{Reorder, Step};
use mesh::subscriptions::Topic;
use protocol::chat::{self, ChatDown, ChatKind, FileFields, Sender};
use protocol::ids::{FileId, MessageId, SessionId, UserId};
use protocol::push::{PushDown, PushSession};
use protocol::time::timestr;
use runtime::{Inbox, Mailbox, Reply, Shutdown};
use store::model::{MembershipChange, Message, NewMessage, Session, SessionType, User};

use crate::auth::UserIdentity;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::hub::{RegistryMsg, Shared};
use crate::outbox::{ConnId, Outbox, offer};

/// Requests queued for one chat. Senders wait when it is full, which slows the chat's
/// posters (backpressure) rather than growing memory.
const SESSION_CAPACITY: usize = 256;

/// How long stored events from other nodes may wait behind a gap before the gap is read from
/// the store. Links are ordered, so a gap means two nodes wrote the chat at once (the other
/// event is milliseconds away) or a frame was lost (then the store has it).
const REORDER_HOLD: Duration = Duration::from_millis(300);

/// Events held behind one gap at most; one more reads the gap from the store at once.
const REORDER_MAX_HELD: usize = 512;

/// After another node's message reached members online here, their unread counts (which that
/// node raised) are reset this much later, once for a whole burst: one store write per member
/// per second at most, however busy the chat.
const UNREAD_RESET_DELAY: Duration = Duration::from_secs(1);

/// Messages read from the store at a time when filling a gap.
const GAP_PAGE: u32 = 500;

/// Live frames held for a connection while it catches up; more cut it (it resumes again).
const MAX_CATCH_UP_HELD: usize = 1024;

/// How long after subscribing (or after a gap fill that found a message missing) the chat's
/// tail is read from the store again: messages other nodes stored before they learned of this
/// node's subscription, or that were numbered but not yet visible, are delivered then.
const RECHECK_DELAY: Duration = Duration::from_secs(1);

/// In a cluster, how long a chat with subscribers here stays quiet after a stored event before
/// its tail is read from the store once: a gap shows only when a later event arrives, so the
/// last event of a burst lost on its way (a link cut, a partition) would otherwise never come.
/// A busy chat costs nothing (each event pushes the check back); a quiet one one indexed read.
const QUIET_TAIL_CHECK: Duration = Duration::from_secs(1);

/// How long after a mesh link to this node opened or broke (or a peer said it dropped events
/// for it) a chat with subscribers reads its tail (see [`SessionMsg::CheckTail`]).
const LINK_CHANGE_CHECK: Duration = Duration::from_millis(300);

/// A chat reads its tail for link changes at most this often: a flapping link, or a peer far
/// behind that keeps marking its link as lossy, must not become a stream of store reads on a
/// node with many chats.
const RESYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Re-reads of a seq a gap fill did not find before it is given up (it was never stored).
const RECHECK_TRIES: u8 = 3;

/// Seqs waiting for a re-read at most.
const MAX_UNFILLED: usize = 1024;

/// What woke a session actor.
#[expect(
    clippy::large_enum_variant,
    reason = "a value on the actor loop's stack for one wake; boxing the message would allocate per message"
)]
enum Wake {
    Msg(SessionMsg),
    /// No message for `session_idle`.
    Idle,
    /// A reorder gap or an unread reset is due.
    Due,
}

/// A handle to a session actor.
#[derive(Clone, Debug)]
pub(crate) struct SessionHandle {
    pub(crate) tx: Mailbox<SessionMsg>,
    /// Which incarnation this is, so a late `Retire` cannot remove a successor.
    pub(crate) instance: u64,
}

impl SessionHandle {
    /// Posts a message from `who` on connection `conn`; answers once it is stored (and
    /// fanned out).
    pub(crate) async fn post(
        &self,
        conn: ConnId,
        who: &UserIdentity,
        content: Post,
    ) -> Result<Message> {
        self.tx
            .request(|reply| SessionMsg::Post {
                conn,
                who: who.clone(),
                content,
                reply,
            })
            .await?
    }

    /// A resuming connection has sent everything up to its watermark.
    pub(crate) async fn caught_up(&self, conn: ConnId) {
        // A gone actor has forgotten the connection.
        let _ = self.tx.send(SessionMsg::CaughtUp { conn }).await;
    }

    /// The connection closed.
    pub(crate) async fn offline(&self, conn: ConnId) {
        // A gone actor has already forgotten every subscriber.
        let _ = self.tx.send(SessionMsg::Offline { conn }).await;
    }
}

/// What a member posts: text, or an upload already stored.
#[derive(Clone, Debug)]
pub(crate) enum Post {
    /// A text message, with the sender's own id for it if it gave one.
    Text {
        content: String,
        client_id: Option<String>,
    },
    /// A stored upload (and its thumbnail for images).
    File {
        file_name: String,
        file_type: String,
        fileid: FileId,
        thumbid: Option<FileId>,
    },
}

pub(crate) enum SessionMsg {
    Online {
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
        /// `Some` for a resuming connection.
        after: Option<i64>,
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
}

/// A member as events show them.
#[derive(Clone, Debug)]
struct MemberView {
    uid: UserId,
    nickname: String,
    avatar: String,
}

impl From<&User> for MemberView {
    fn from(user: &User) -> Self {
        MemberView {
            uid: user.id.clone(),
            nickname: user.nickname.clone(),
            avatar: user.avatar.to_string(),
        }
    }
}

struct Subscriber {
    uid: UserId,
    outbox: Outbox,
    /// Whether it resumes (gets `seq` on stored events) and where it stands.
    resume: Resume,
    /// The last `seq` a resuming connection said it has: stored events up to it are not sent
    /// again (this node's live order may be behind the client, e.g. when the client comes
    /// from a node that heard of them sooner).
    has: i64,
}

/// A connection's part in the resume extension (`after` on `online`).
enum Resume {
    /// A CookIM client: plain frames.
    Off,
    /// Its connection task is still sending the stored messages it missed; live frames (with
    /// `seq`) wait here, at most [`MAX_CATCH_UP_HELD`].
    CatchingUp(Vec<Utf8Bytes>),
    /// Caught up: frames with `seq` go straight to its outbox.
    Live,
}

/// A stored event on its way to local subscribers.
struct Stored {
    down: ChatDown,
    /// The sender's own id for it (local messages only; the mesh does not carry it).
    client_id: Option<String>,
}

/// What [`SessionHandle::online`] answers: the actor, and for a resuming connection the last
/// `seq` delivered live so far (it reads everything up to it from the store, then calls
/// [`SessionHandle::caught_up`]).
pub(crate) struct Joined {
    pub(crate) handle: SessionHandle,
    pub(crate) watermark: i64,
}

/// A chat's push targets and their ids, shared by every message until membership changes.
type Targets = (Arc<Vec<PushTarget>>, Arc<[UserId]>);

/// What identifies a set of subscribers: their count and the sum of their connection ids.
type SubscribersKey = (usize, u64);

struct SessionActor {
    shared: Arc<Shared>,
    sid: SessionId,
    me: SessionHandle,
    /// `None` until loaded (lazily, so spawning never waits on the store).
    session: Option<Session>,
    members: Vec<MemberView>,
    subscribers: HashMap<ConnId, Subscriber>,
    retiring: bool,
    /// Stored events in `seq` order for local subscribers; `None` until anchored at the
    /// chat's latest `seq` when first needed.
    reorder: Option<Reorder<Stored>>,
    /// Time zero of `reorder`'s clock.
    origin: Instant,
    /// Whether the mesh knows this node has subscribers for the chat.
    subscribed: bool,
    /// When to reset the unread counts of members online here (see [`UNREAD_RESET_DELAY`]).
    unread_reset: Option<Instant>,
    /// Set while a reset runs (off the actor, so store writes never delay delivery).
    resetting: Arc<std::sync::atomic::AtomicBool>,
    /// When to re-read the store (see [`RECHECK_DELAY`]).
    recheck_at: Option<Instant>,
    /// Whether the recheck reads the chat's tail (after subscribing).
    recheck_tail: bool,
    /// When to read the chat's tail after the last stored event (see [`QUIET_TAIL_CHECK`]).
    quiet_check_at: Option<Instant>,
    /// When that last happened (see [`RESYNC_INTERVAL`]).
    tail_read_at: Option<Instant>,
    /// Seqs a gap fill did not find, with the re-reads tried so far.
    unfilled: std::collections::BTreeMap<i64, u8>,
    /// Push targets and their ids while members and session stay as they are (rebuilt after
    /// a load, join or leave): a 1,000-member group's message must not rebuild them.
    targets: Option<Targets>,
    /// The users online here, keyed by the subscribers it was built from (their count and
    /// the sum of their connection ids), so an append does not rebuild it.
    online: Option<(SubscribersKey, Arc<HashSet<UserId>>)>,
    /// Held until the actor ends, so the server's graceful stop waits for it. Declared last:
    /// fields drop in order, so once every `Shutdown` is gone this actor has already let go
    /// of `shared` (and the store in it).
    _done: Shutdown,
}

pub(crate) fn spawn_session(
    shared: &Arc<Shared>,
    sid: SessionId,
    instance: u64,
    done: Shutdown,
) -> SessionHandle {
    let (tx, inbox) = runtime::mailbox(SESSION_CAPACITY);
    let me = SessionHandle { tx, instance };
    let actor = SessionActor {
        shared: shared.clone(),
        sid,
        me: me.clone(),
        session: None,
        members: Vec::new(),
        subscribers: HashMap::new(),
        retiring: false,
        reorder: None,
        origin: Instant::now(),
        subscribed: false,
        unread_reset: None,
        resetting: Arc::default(),
        recheck_at: None,
        recheck_tail: false,
        quiet_check_at: None,
        tail_read_at: None,
        unfilled: std::collections::BTreeMap::new(),
        targets: None,
        online: None,
        _done: done,
    };
    // Detached, holding a `Shutdown`: the actor ends when its mailbox closes (the registry
    // retires it, or closes every mailbox at shutdown) after draining what is queued.
    shared
        .spawner
        .spawn_actor("session", actor.run(inbox))
        .detach();
    me
}

impl SessionActor {
    async fn run(mut self, mut inbox: Inbox<SessionMsg>) -> Result<()> {
        let idle = self.shared.config.session_idle;
        loop {
            let wake = self.next_wake();
            let next = async { inbox.recv().await.map(Wake::Msg) }
                .or(async {
                    runtime::sleep(idle).await;
                    Some(Wake::Idle)
                })
                .or(async {
                    match wake {
                        Some(at) => {
                            runtime::Timer::at(at).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                    Some(Wake::Due)
                })
                .await;
            match next {
                None => break,
                Some(Wake::Msg(msg)) => self.handle(msg).await,
                Some(Wake::Due) => self.due().await,
                Some(Wake::Idle) => {
                    if self.subscribers.is_empty() && !self.retiring {
                        self.retiring = true;
                        let msg = RegistryMsg::Retire {
                            sid: self.sid.clone(),
                            instance: self.me.instance,
                        };
                        if self.shared.registry.send(msg).await.is_err() {
                            break;
                        }
                    }
                }
            }
            self.sync_topic().await;
        }
        self.subscribers.clear();
        self.sync_topic().await;
        Ok(())
    }

    /// The next time [`due`](Self::due) has work: a reorder gap to give up on, or unread
    /// counts to reset.
    fn next_wake(&self) -> Option<Instant> {
        let gap = self
            .reorder
            .as_ref()
            .and_then(Reorder::deadline)
            .map(|d| self.origin + d);
        [gap, self.unread_reset, self.recheck_at, self.quiet_check_at]
            .into_iter()
            .flatten()
            .min()
    }

    async fn due(&mut self) {
        let now = self.origin.elapsed();
        if let Some(reorder) = &mut self.reorder {
            let steps = reorder.poll(now);
            self.apply(steps).await;
        }
        if self.unread_reset.is_some_and(|at| at <= Instant::now()) {
            self.unread_reset = None;
            self.reset_unread();
        }
        if self.recheck_at.is_some_and(|at| at <= Instant::now()) {
            self.recheck_at = None;
            self.recheck().await;
        }
        if self.quiet_check_at.is_some_and(|at| at <= Instant::now()) {
            self.quiet_check_at = None;
            if !self.subscribers.is_empty() {
                self.tail_read_at = Some(Instant::now());
                self.recheck_tail = true;
                self.recheck().await;
            }
        }
    }

    /// Reads from the store what the mesh did not bring: the chat's tail after subscribing,
    /// and seqs a gap fill did not find yet.
    async fn recheck(&mut self) {
        if std::mem::take(&mut self.recheck_tail)
            && let Some(last) = self.reorder.as_ref().and_then(Reorder::last)
        {
            match self
                .shared
                .store
                .messages_after(&self.sid, last, GAP_PAGE)
                .await
            {
                Ok(tail) => {
                    for message in tail {
                        let sender = self.sender_for(&message.uid).await;
                        let down = self.down_of(&message, sender);
                        self.order(message.seq, down, message.client_id.clone())
                            .await;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "chat tail not re-read"),
            }
        }
        let (Some(&first), Some(&last)) = (
            self.unfilled.keys().next(),
            self.unfilled.keys().next_back(),
        ) else {
            return;
        };
        let limit = u32::try_from(last - first + 1)
            .unwrap_or(u32::MAX)
            .min(GAP_PAGE);
        let found = match self
            .shared
            .store
            .messages_after(&self.sid, first - 1, limit)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "missing messages not re-read");
                Vec::new()
            }
        };
        for message in found {
            if self.unfilled.remove(&message.seq).is_some() {
                // Late, and out of order, rather than never.
                let sender = self.sender_for(&message.uid).await;
                let down = self.down_of(&message, sender);
                self.broadcast_stored(&down, message.seq, message.client_id.as_deref());
            }
        }
        self.unfilled.retain(|_, tries| {
            *tries += 1;
            *tries < RECHECK_TRIES
        });
        if !self.unfilled.is_empty() {
            self.recheck_at = Some(Instant::now() + RECHECK_DELAY);
        }
    }

    /// Resets the unread counts of the members online here, in a task of its own; if the last
    /// one still runs, the next delay starts instead.
    fn reset_unread(&mut self) {
        use std::sync::atomic::Ordering;
        if self.resetting.swap(true, Ordering::AcqRel) {
            self.unread_reset = Some(Instant::now() + UNREAD_RESET_DELAY);
            return;
        }
        let (store, sid, users) = (
            self.shared.store.clone(),
            self.sid.clone(),
            self.online_set(),
        );
        let resetting = self.resetting.clone();
        let reset = async move {
            for uid in users.iter() {
                if let Err(e) = store.reset_unread(&sid, uid).await {
                    tracing::debug!(error = %e, "unread count not reset");
                }
            }
            resetting.store(false, Ordering::Release);
        };
        self.shared.spawner.detach_with(reset, &self._done);
    }

    /// Tells the mesh whether this node has subscribers for the chat, when that changed.
    async fn sync_topic(&mut self) {
        let Some(mesh) = &self.shared.mesh else {
            return;
        };
        let want = !self.subscribers.is_empty();
        if want == self.subscribed {
            return;
        }
        self.subscribed = want;
        if want {
            self.recheck_tail = true;
            self.recheck_at = Some(Instant::now() + RECHECK_DELAY);
        }
        let topic = Topic::Chat(self.sid.clone());
        let sent = if want {
            mesh.subscribe(topic).await
        } else {
            mesh.unsubscribe(topic).await
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "subscription change not sent to the mesh");
        }
    }

    async fn handle(&mut self, msg: SessionMsg) {
        match msg {
            SessionMsg::Offline { conn } => self.offline(conn).await,
            SessionMsg::OnlineUsers { reply } => reply.send((*self.online_set()).clone()),
            SessionMsg::Reload => self.session = None,
            SessionMsg::Remote(envelope) => self.remote(*envelope).await,
            SessionMsg::CheckTail => self.check_tail_soon(),
            // A retiring actor answers nothing that would give it new work: dropping the reply
            // makes the caller ask the registry again, which spawns a successor.
            _ if self.retiring => {}
            SessionMsg::Online {
                conn,
                who,
                outbox,
                after,
                reply,
            } => reply.send(self.online(conn, who, outbox, after).await),
            SessionMsg::CaughtUp { conn } => self.caught_up(conn),
            SessionMsg::Post {
                conn,
                who,
                content,
                reply,
            } => reply.send(self.post(conn, who, content).await),
            SessionMsg::Join { uid, reply } => reply.send(self.join(uid).await),
            SessionMsg::Leave { uid, reply } => reply.send(self.leave(uid).await),
        }
    }

    /// Loads the session and its members if not yet loaded (or after a reload).
    async fn load(&mut self) -> Result<&Session> {
        if self.session.is_none() {
            let store = &self.shared.store;
            let session = store
                .session(&self.sid)
                .await?
                .ok_or_else(|| Error::Denied("session not exist".into()))?;
            let members = store.members(&self.sid).await?;
            let uids: Vec<UserId> = members.iter().map(|m| m.uid.clone()).collect();
            let users: HashMap<UserId, User> = store
                .users(&uids)
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect();
            self.members = members
                .iter()
                .map(|m| match users.get(&m.uid) {
                    Some(user) => MemberView::from(user),
                    None => MemberView {
                        uid: m.uid.clone(),
                        nickname: String::new(),
                        avatar: String::new(),
                    },
                })
                .collect();
            self.session = Some(session);
            self.targets = None;
        }
        if self.reorder.is_none() {
            // Everything stored so far is history; live delivery starts after it.
            let latest = self
                .shared
                .store
                .messages(&self.sid, 1, 1)
                .await?
                .last()
                .map_or(0, |m| m.seq);
            self.reorder = Some(Reorder::new(Some(latest), REORDER_HOLD, REORDER_MAX_HELD));
        }
        self.session
            .as_ref()
            .ok_or_else(|| Error::Denied("session not exist".into()))
    }

    fn is_member(&self, uid: &UserId) -> bool {
        self.members.iter().any(|m| &m.uid == uid)
    }

    fn online_set(&mut self) -> Arc<HashSet<UserId>> {
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

    fn dateline(&self, ms: i64) -> String {
        timestr(ms, self.shared.config.utc_offset_secs)
    }

    async fn online(
        &mut self,
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
        after: Option<i64>,
    ) -> Result<Joined> {
        if self.subscribers.is_empty() && self.shared.mesh.is_some() {
            // Until now this node was not subscribed to the chat, so joins, leaves and messages
            // on other nodes did not reach it: read the members afresh, and start live
            // delivery after the chat's latest message (what came before is history).
            self.session = None;
            self.reorder = None;
        }
        self.load().await?;
        if !self.is_member(&who.uid) {
            // Membership may have changed through another path: read it again once.
            self.session = None;
            self.load().await?;
            if !self.is_member(&who.uid) {
                return Err(Error::Denied("no privilege in this session".into()));
            }
        }
        let down = ChatDown {
            sender: sender_of(&who),
            msg_type: ChatKind::Online,
            content: chat::online_text(&who.nickname),
            file: FileFields::default(),
            dateline: self.dateline(now_ms()),
        };
        self.broadcast(&down);
        // The newcomer's own online event comes first on its connection (a resuming one gets
        // what it missed after it): its outbox is empty, so this never fills it.
        let frame = Utf8Bytes::from(down.to_text());
        if offer(&outbox, &frame) {
            self.subscribers.insert(
                conn,
                Subscriber {
                    uid: who.uid.clone(),
                    outbox,
                    resume: match after {
                        Some(_) => Resume::CatchingUp(Vec::new()),
                        None => Resume::Off,
                    },
                    has: after.unwrap_or(0),
                },
            );
        }
        self.publish_remote(&down, 0, &[]).await;
        Ok(Joined {
            handle: self.me.clone(),
            watermark: self.reorder.as_ref().and_then(Reorder::last).unwrap_or(0),
        })
    }

    fn caught_up(&mut self, conn: ConnId) {
        let Some(subscriber) = self.subscribers.get_mut(&conn) else {
            return;
        };
        let Resume::CatchingUp(held) = std::mem::replace(&mut subscriber.resume, Resume::Live)
        else {
            return;
        };
        if !held.iter().all(|frame| offer(&subscriber.outbox, frame)) {
            self.subscribers.remove(&conn);
        }
    }

    async fn offline(&mut self, conn: ConnId) {
        let Some(gone) = self.subscribers.remove(&conn) else {
            return;
        };
        let nickname = self
            .members
            .iter()
            .find(|m| m.uid == gone.uid)
            .map(|m| m.nickname.clone())
            .unwrap_or_default();
        let avatar = self
            .members
            .iter()
            .find(|m| m.uid == gone.uid)
            .map(|m| m.avatar.clone())
            .unwrap_or_default();
        let down = ChatDown {
            sender: Sender {
                uid: gone.uid.to_string(),
                nickname: nickname.clone(),
                avatar,
            },
            msg_type: ChatKind::Offline,
            content: chat::offline_text(&nickname),
            file: FileFields::default(),
            dateline: self.dateline(now_ms()),
        };
        self.broadcast(&down);
        self.publish_remote(&down, 0, &[]).await;
    }

    /// An event another node published for this chat.
    async fn remote(&mut self, envelope: Envelope) {
        if envelope.session_id != self.sid {
            return;
        }
        let down = envelope.chat_down();
        if envelope.seq == 0 {
            // Online and offline are live-only: no order to keep, nothing to repair.
            self.broadcast(&down);
            return;
        }
        if matches!(envelope.kind, EventKind::Join | EventKind::Leave) {
            // Membership changed on another node: read members again.
            self.session = None;
        }
        if let Err(e) = self.load().await {
            tracing::debug!(error = %e, "remote event for a chat that cannot be loaded");
            return;
        }
        self.order(envelope.seq, down, None).await;
        if envelope.kind == EventKind::Leave
            && let Ok(leaver) = UserId::parse(&envelope.uid)
        {
            // As for a local leave: the leaver saw it, and gets nothing more of this chat.
            self.subscribers.retain(|_, s| s.uid != leaver);
        }
        if !self.subscribers.is_empty() && self.unread_reset.is_none() {
            self.unread_reset = Some(Instant::now() + UNREAD_RESET_DELAY);
        }
    }

    /// Reads the chat's tail from the store shortly (if anyone here follows it): a mesh link
    /// opened or broke, or a peer dropped events for this node at its full link queue, and
    /// those events may be lost without a later one to show the gap. Shortly, so the new
    /// link's first events come first and one read serves a burst of link changes.
    fn check_tail_soon(&mut self) {
        if self.subscribers.is_empty() {
            return;
        }
        self.quiet_check_at = Some(resync_at(
            Instant::now(),
            self.quiet_check_at,
            self.tail_read_at,
        ));
    }

    /// Passes a stored event through the reorder buffer to local subscribers.
    async fn order(&mut self, seq: i64, down: ChatDown, client_id: Option<String>) {
        let now = self.origin.elapsed();
        if self.shared.mesh.is_some() && !self.subscribers.is_empty() {
            self.quiet_check_at = Some(Instant::now() + QUIET_TAIL_CHECK);
        }
        let event = Stored { down, client_id };
        let steps = match &mut self.reorder {
            Some(reorder) => reorder.push(seq, event, now),
            None => vec![Step::Deliver(seq, event)],
        };
        self.apply(steps).await;
    }

    async fn apply(&mut self, steps: Vec<Step<Stored>>) {
        for step in steps {
            match step {
                Step::Deliver(seq, event) => {
                    self.broadcast_stored(&event.down, seq, event.client_id.as_deref());
                }
                Step::Missing { after, upto } => self.fill_gap(after, upto).await,
            }
        }
    }

    /// Events `after + 1 ..= upto` never came over the mesh: read them from the store.
    async fn fill_gap(&mut self, mut after: i64, upto: i64) {
        while after < upto {
            let limit = u32::try_from(upto - after)
                .unwrap_or(u32::MAX)
                .min(GAP_PAGE);
            let page = match self
                .shared
                .store
                .messages_after(&self.sid, after, limit)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, after, upto, "gap not read from the store");
                    self.note_unfilled(after + 1, upto + 1);
                    return;
                }
            };
            let Some(last) = page.last().map(|m| m.seq) else {
                self.note_unfilled(after + 1, upto + 1);
                return;
            };
            let mut expected = after + 1;
            for message in page.iter().filter(|m| m.seq <= upto) {
                self.note_unfilled(expected, message.seq);
                expected = message.seq + 1;
                let sender = self.sender_for(&message.uid).await;
                let down = self.down_of(message, sender);
                self.broadcast_stored(&down, message.seq, message.client_id.as_deref());
            }
            if last >= upto {
                self.note_unfilled(expected, upto + 1);
            }
            after = last;
        }
    }

    /// Seqs `from..to` were not in the store when a gap was filled: numbered by another node
    /// but not yet visible, most likely. Re-read them shortly.
    fn note_unfilled(&mut self, from: i64, to: i64) {
        for seq in from..to {
            if self.unfilled.len() >= MAX_UNFILLED {
                break;
            }
            self.unfilled.insert(seq, 0);
        }
        if !self.unfilled.is_empty() && self.recheck_at.is_none() {
            self.recheck_at = Some(Instant::now() + RECHECK_DELAY);
        }
    }

    /// How an event shows its sender: from the members, or the store for a former member.
    async fn sender_for(&self, uid: &UserId) -> Sender {
        if let Some(member) = self.members.iter().find(|m| &m.uid == uid) {
            return Sender {
                uid: member.uid.to_string(),
                nickname: member.nickname.clone(),
                avatar: member.avatar.clone(),
            };
        }
        match self.shared.store.user(uid).await {
            Ok(Some(user)) => {
                let view = MemberView::from(&user);
                Sender {
                    uid: view.uid.to_string(),
                    nickname: view.nickname,
                    avatar: view.avatar,
                }
            }
            _ => Sender {
                uid: uid.to_string(),
                ..Sender::default()
            },
        }
    }

    async fn post(&mut self, conn: ConnId, who: UserIdentity, content: Post) -> Result<Message> {
        self.load().await?;
        if !self.is_member(&who.uid) {
            return Err(Error::Denied("no privilege in this session".into()));
        }
        let mut message = NewMessage {
            id: MessageId::from_random(rand::random()),
            session_id: self.sid.clone(),
            uid: who.uid.clone(),
            msg_type: ChatKind::Text.as_str().to_owned(),
            content: String::new(),
            file_name: String::new(),
            file_type: String::new(),
            fileid: None,
            thumbid: None,
            dateline: now_ms(),
            client_id: None,
        };
        match content {
            Post::Text { content, client_id } => {
                message.content = content;
                message.client_id = client_id;
            }
            Post::File {
                file_name,
                file_type,
                fileid,
                thumbid,
            } => {
                message.msg_type = ChatKind::File.as_str().to_owned();
                message.file_name = file_name;
                message.file_type = file_type;
                message.fileid = Some(fileid);
                message.thumbid = thumbid;
            }
        }
        let fresh = message.id.clone();
        let online = self.online_set();
        let stored = self.shared.store.append(message, &online).await?;
        if stored.id == fresh {
            self.publish(&stored, sender_of(&who)).await;
        } else {
            // A retry of a message stored earlier (same client id): everyone had it then, so
            // only the retrying connection gets the echo it is waiting for, with the `seq` and
            // `clientId` that tell a resuming client which send it acknowledges.
            let down = self.down_of(&stored, sender_of(&who));
            if self
                .reorder
                .as_ref()
                .and_then(Reorder::last)
                .is_some_and(|last| stored.seq > last)
            {
                // Not delivered here yet (it waits behind a gap, or its envelope is still on
                // its way): it goes to every subscriber in order, this connection included,
                // and that is the echo. Sent now it would come before the messages it follows.
                self.order(stored.seq, down, stored.client_id.clone()).await;
                return Ok(stored);
            }
            if let Some(subscriber) = self.subscribers.get(&conn) {
                let frame = Utf8Bytes::from(match subscriber.resume {
                    Resume::Off => down.to_text(),
                    Resume::CatchingUp(_) | Resume::Live => {
                        down.to_text_with_seq(stored.seq, stored.client_id.as_deref())
                    }
                });
                if !offer(&subscriber.outbox, &frame) {
                    self.subscribers.remove(&conn);
                }
            }
        }
        Ok(stored)
    }

    async fn join(&mut self, uid: UserId) -> Result<Option<Message>> {
        let session = self.load().await?.clone();
        let user = self
            .shared
            .store
            .user(&uid)
            .await?
            .ok_or_else(|| Error::Denied("user not exists".into()))?;
        let change = MembershipChange {
            message_id: MessageId::from_random(rand::random()),
            session_id: self.sid.clone(),
            uid: uid.clone(),
            content: chat::join_text(&user.nickname, &session.name),
            dateline: now_ms(),
        };
        let online = self.online_set();
        let Some(stored) = self.shared.store.join(change, &online).await? else {
            return Ok(None);
        };
        let view = MemberView::from(&user);
        if !self.is_member(&uid) {
            self.members.push(view.clone());
            self.targets = None;
        }
        self.publish(
            &stored,
            Sender {
                uid: view.uid.to_string(),
                nickname: view.nickname,
                avatar: view.avatar,
            },
        )
        .await;
        Ok(Some(stored))
    }

    async fn leave(&mut self, uid: UserId) -> Result<Option<Message>> {
        let session = self.load().await?.clone();
        let view = self.members.iter().find(|m| m.uid == uid).cloned();
        let nickname = view
            .as_ref()
            .map(|v| v.nickname.clone())
            .unwrap_or_default();
        let change = MembershipChange {
            message_id: MessageId::from_random(rand::random()),
            session_id: self.sid.clone(),
            uid: uid.clone(),
            content: chat::leave_text(&nickname, &session.name),
            dateline: now_ms(),
        };
        let online = self.online_set();
        let Some(stored) = self.shared.store.leave(change, &online).await? else {
            return Ok(None);
        };
        let sender = view
            .map(|v| Sender {
                uid: v.uid.to_string(),
                nickname: v.nickname,
                avatar: v.avatar,
            })
            .unwrap_or_default();
        // The leaver sees their own leave event, then stops receiving this chat.
        self.publish(&stored, sender).await;
        self.members.retain(|m| m.uid != uid);
        self.targets = None;
        self.subscribers.retain(|_, s| s.uid != uid);
        Ok(Some(stored))
    }

    /// Sends a live-only `/ws-chat` frame (online, offline) to every subscriber; a full
    /// outbox cuts that one connection.
    fn broadcast(&mut self, down: &ChatDown) {
        let frame = Utf8Bytes::from(down.to_text());
        self.subscribers.retain(|_, s| deliver(s, &frame));
    }

    /// Sends a stored event: CookIM's frame to plain subscribers, the frame with `seq` to
    /// resuming ones (each serialized once, and only if someone needs it).
    fn broadcast_stored(&mut self, down: &ChatDown, seq: i64, client_id: Option<&str>) {
        let mut plain: Option<Utf8Bytes> = None;
        let mut sequenced: Option<Utf8Bytes> = None;
        self.subscribers.retain(|_, s| {
            let frame = match s.resume {
                Resume::Off => plain.get_or_insert_with(|| Utf8Bytes::from(down.to_text())),
                Resume::CatchingUp(_) | Resume::Live if seq <= s.has => return true,
                Resume::CatchingUp(_) | Resume::Live => sequenced
                    .get_or_insert_with(|| Utf8Bytes::from(down.to_text_with_seq(seq, client_id))),
            };
            deliver(s, frame)
        });
    }

    /// Fans a stored event out: to every member's push channels here and to the mesh at
    /// once, and to this node's chat subscribers in `seq` order.
    async fn publish(&mut self, stored: &Message, sender: Sender) {
        let down = self.down_of(stored, sender);
        let (targets, uids) = self.cached_targets();
        let deliveries = push_frames(&self.sid, &down, &targets, &uids);
        if !deliveries.is_empty() {
            // The registry only forwards with try_send; waiting here is bounded by its queue.
            let _ = self
                .shared
                .registry
                .send(RegistryMsg::Push { deliveries })
                .await;
        }
        self.publish_remote(&down, stored.seq, &targets).await;
        self.order(stored.seq, down, stored.client_id.clone()).await;
    }

    /// Hands an event to the mesh (in a cluster), which sends it to the nodes with
    /// subscribers for this chat or for `push_to`'s push channels.
    async fn publish_remote(&self, down: &ChatDown, seq: i64, push_to: &[PushTarget]) {
        let Some(mesh) = &self.shared.mesh else {
            return;
        };
        let Some(envelope) =
            Envelope::from_chat_down(self.sid.clone(), seq, down, push_to.to_vec())
        else {
            return;
        };
        if let Err(e) = mesh.publish(envelope).await {
            tracing::debug!(error = %e, "event not published to the mesh");
        }
    }

    /// The `/ws-chat` frame of a stored event.
    fn down_of(&self, stored: &Message, sender: Sender) -> ChatDown {
        message_down(stored, sender, self.dateline(stored.dateline))
    }

    /// [`push_targets`](Self::push_targets) and their ids, built once per membership.
    fn cached_targets(&mut self) -> Targets {
        if let Some(cached) = &self.targets {
            return cached.clone();
        }
        let targets = self.push_targets();
        let uids: Arc<[UserId]> = targets.iter().map(|t| t.uid.clone()).collect();
        let built = (Arc::new(targets), uids);
        self.targets = Some(built.clone());
        built
    }

    /// Every member with the session's name and icon as that member sees it (a private chat
    /// shows the other member).
    fn push_targets(&self) -> Vec<PushTarget> {
        let Some(session) = &self.session else {
            return Vec::new();
        };
        match session.session_type {
            SessionType::Group => {
                let icon = session
                    .icon
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                self.members
                    .iter()
                    .map(|m| PushTarget {
                        uid: m.uid.clone(),
                        session_name: session.name.clone(),
                        session_icon: icon.clone(),
                    })
                    .collect()
            }
            SessionType::Private => self
                .members
                .iter()
                .map(|viewer| {
                    let other = self.members.iter().find(|m| m.uid != viewer.uid);
                    let (name, icon) = other
                        .map(|o| (o.nickname.clone(), o.avatar.clone()))
                        .unwrap_or_default();
                    PushTarget {
                        uid: viewer.uid.clone(),
                        session_name: name,
                        session_icon: icon,
                    }
                })
                .collect(),
        }
    }
}

/// Hands a frame to one subscriber: held while it catches up, else offered to its outbox.
/// False if the subscriber must be dropped (outbox full or closed, or too much held).
fn deliver(subscriber: &mut Subscriber, frame: &Utf8Bytes) -> bool {
    match &mut subscriber.resume {
        Resume::CatchingUp(held) if held.len() < MAX_CATCH_UP_HELD => {
            held.push(frame.clone());
            true
        }
        Resume::CatchingUp(_) => {
            tracing::warn!("a resuming connection fell too far behind: closing it");
            subscriber.outbox.close();
            false
        }
        Resume::Off | Resume::Live => offer(&subscriber.outbox, frame),
    }
}

/// The `/ws-push` frames of an event and who gets each: one frame for everyone when every
/// target sees the session alike (a group: `uids` share it), else one per target (a private
/// chat shows each member the other).
fn push_frames(
    sid: &SessionId,
    down: &ChatDown,
    targets: &[PushTarget],
    uids: &Arc<[UserId]>,
) -> Vec<(Arc<[UserId]>, Utf8Bytes)> {
    let file_info =
        (down.msg_type == ChatKind::File).then(|| PushDown::file_info_for(&down.file.thumbid));
    let frame_for = |target: &PushTarget| {
        let push = PushDown {
            sender: down.sender.clone(),
            session: PushSession {
                sessionid: sid.to_string(),
                session_name: target.session_name.clone(),
                session_icon: target.session_icon.clone(),
            },
            msg_type: down.msg_type.clone(),
            content: down.content.clone(),
            file: down.file.clone(),
            dateline: down.dateline.clone(),
            file_info: file_info.clone(),
        };
        Utf8Bytes::from(push.to_text())
    };
    let Some(first) = targets.first() else {
        return Vec::new();
    };
    let alike = targets
        .iter()
        .all(|t| t.session_name == first.session_name && t.session_icon == first.session_icon);
    if alike {
        return vec![(uids.clone(), frame_for(first))];
    }
    targets
        .iter()
        .map(|target| (Arc::from([target.uid.clone()]), frame_for(target)))
        .collect()
}

/// When a chat told of a link change at `now` reads its tail: [`LINK_CHANGE_CHECK`] later (or
/// at the read already planned, if sooner), but not within [`RESYNC_INTERVAL`] of the last
/// read. One read serves every change before it.
fn resync_at(now: Instant, planned: Option<Instant>, last_read: Option<Instant>) -> Instant {
    let soon = last_read.map_or(now + LINK_CHANGE_CHECK, |last| {
        (now + LINK_CHANGE_CHECK).max(last + RESYNC_INTERVAL)
    });
    planned.map_or(soon, |at| at.min(soon))
}

/// The `/ws-chat` frame of a stored message, as its sender (`sender`) and `dateline` show.
pub(crate) fn message_down(stored: &Message, sender: Sender, dateline: String) -> ChatDown {
    let id = |f: &Option<FileId>| f.as_ref().map(ToString::to_string).unwrap_or_default();
    ChatDown {
        sender,
        msg_type: ChatKind::from_wire(&stored.msg_type),
        content: stored.content.clone(),
        file: FileFields {
            file_name: stored.file_name.clone(),
            file_type: stored.file_type.clone(),
            fileid: id(&stored.fileid),
            thumbid: id(&stored.thumbid),
        },
        dateline,
    }
}

fn sender_of(who: &UserIdentity) -> Sender {
    Sender {
        uid: who.uid.to_string(),
        nickname: who.nickname.clone(),
        avatar: who.avatar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_change_reads_the_tail_soon_but_not_again_within_the_interval() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        // Nothing planned, never read: shortly.
        assert_eq!(resync_at(now, None, None), now + LINK_CHANGE_CHECK);
        // A quiet check already due sooner stays.
        assert_eq!(resync_at(now, Some(now + ms(50)), None), now + ms(50));
        // A later one is brought forward.
        assert_eq!(
            resync_at(now, Some(now + ms(900)), None),
            now + LINK_CHANGE_CHECK
        );
        // Read 200 ms ago: not before a second has passed since.
        let last = now.checked_sub(ms(200)).unwrap_or(now);
        assert_eq!(resync_at(now, None, Some(last)), last + RESYNC_INTERVAL);
        // Read long ago: shortly again.
        let long_ago = now.checked_sub(ms(5000)).unwrap_or(now);
        assert_eq!(
            resync_at(now, None, Some(long_ago)),
            now + LINK_CHANGE_CHECK
        );
        // A burst of changes moves nothing once the read is planned.
        let planned = resync_at(now, None, Some(last));
        for later in [10, 100, 500] {
            assert_eq!(
                resync_at(now + ms(later), Some(planned), Some(last)),
                planned
            );
        }
    }
}
