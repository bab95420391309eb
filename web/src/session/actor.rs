//! The shell around a chat's [`Core`]: the mailbox loop, the one timer, and the store, mesh
//! and registry calls the core asks for. Every decision is the core's; this file reads the
//! clock, awaits, and feeds results back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use mesh::envelope::Envelope;
use mesh::subscriptions::Topic;
use protocol::chat::{self, ChatKind, Sender};
use protocol::ids::{MessageId, SessionId, UserId};
use runtime::{Inbox, Shutdown};
use store::model::{MembershipChange, Message, NewMessage, User};

use super::core::{Core, Effect, Event, Input, Membership, Newcomer, Page, Read, ReadKind, Wants};
use super::env::{Env, Upstream};
use super::frames::{MemberView, sender_of};
use super::handle::{Joined, Msg, Post, SESSION_CAPACITY, SessionHandle};
use crate::auth::UserIdentity;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::outbox::{ConnId, Outbox, offer};
use crate::replies::replies_of;

/// What woke a session actor.
#[expect(
    clippy::large_enum_variant,
    reason = "a value on the actor loop's stack for one wake; boxing the message would allocate per message"
)]
enum Wake {
    Msg(Msg),
    /// No message for `session_idle`.
    Idle,
    /// The core's deadline passed.
    Due,
}

/// One chat's actor: the core and what performs its effects.
struct SessionActor<U> {
    env: Arc<Env<U>>,
    me: SessionHandle,
    core: Core<Outbox>,
    /// Time zero of the core's clock.
    origin: Instant,
    /// Set once the registry was asked to retire this actor: it answers nothing that would
    /// give it new work.
    retiring: bool,
    /// Set while an unread reset runs (off the actor, so store writes never delay delivery).
    resetting: Arc<AtomicBool>,
    /// Held until the actor ends, so the server's graceful stop waits for it. Declared last:
    /// fields drop in order, so once every `Shutdown` is gone this actor has already let go
    /// of `env` (and the store in it).
    _done: Shutdown,
}

/// Starts the actor of chat `sid`, incarnation `instance`.
pub(crate) fn spawn<U: Upstream>(
    env: &Arc<Env<U>>,
    sid: SessionId,
    instance: u64,
    done: Shutdown,
) -> SessionHandle {
    let (tx, inbox) = runtime::mailbox(SESSION_CAPACITY);
    let me = SessionHandle { tx, instance };
    let actor = SessionActor {
        core: Core::new(sid, env.mesh.is_some(), env.utc_offset_secs),
        env: env.clone(),
        me: me.clone(),
        origin: Instant::now(),
        retiring: false,
        resetting: Arc::default(),
        _done: done,
    };
    // Detached, holding a `Shutdown`: the actor ends when its mailbox closes (the registry
    // retires it, or closes every mailbox at shutdown) after draining what is queued.
    env.spawner
        .spawn_actor("session", actor.run(inbox))
        .detach();
    me
}

impl<U: Upstream> SessionActor<U> {
    async fn run(mut self, mut inbox: Inbox<Msg>) -> Result<()> {
        let idle = self.env.idle;
        loop {
            let wake = self.core.deadline().map(|d| self.origin + d);
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
                Some(Wake::Due) => self.input(Input::Tick).await,
                Some(Wake::Idle) => {
                    if !self.core.has_subscribers() && !self.retiring {
                        self.retiring = true;
                        let sid = self.core.sid().clone();
                        if !self.env.upstream.retire(sid, self.me.instance).await {
                            break;
                        }
                    }
                }
            }
            self.core.settle();
            self.drain().await;
        }
        self.core.close();
        self.core.settle();
        self.drain().await;
        Ok(())
    }

    /// The core's clock.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Feeds one input, then performs everything it leads to.
    async fn input(&mut self, input: Input<Outbox>) {
        let now = self.now();
        self.core.handle(input, now);
        self.drain().await;
    }

    async fn drain(&mut self) {
        while let Some(effect) = self.core.poll() {
            self.perform(effect).await;
        }
    }

    async fn perform(&mut self, effect: Effect<Outbox>) {
        match effect {
            Effect::Deliver { to, frame } => {
                for (conn, outbox) in to {
                    if !offer(&outbox, &frame) {
                        self.core.handle(Input::Cut { conn }, self.now());
                    }
                }
            }
            Effect::Close(outbox) => {
                outbox.close();
            }
            // The registry only forwards with try_send; waiting here is bounded by its queue.
            Effect::Push(deliveries) => self.env.upstream.push(deliveries).await,
            Effect::Publish(envelope) => {
                if let Some(mesh) = &self.env.mesh
                    && let Err(e) = mesh.publish(*envelope).await
                {
                    tracing::debug!(error = %e, "event not published to the mesh");
                }
            }
            Effect::Read(read) => {
                let page = self.read(&read).await;
                self.core.handle(Input::Read { read, page }, self.now());
            }
            Effect::ResetUnread(users) => {
                if self.resetting.swap(true, Ordering::AcqRel) {
                    self.core.handle(Input::ResetBusy, self.now());
                    return;
                }
                let (store, sid) = (self.env.store.clone(), self.core.sid().clone());
                let resetting = self.resetting.clone();
                let reset = async move {
                    for uid in users.iter() {
                        if let Err(e) = store.mark_read(&sid, uid, None).await {
                            tracing::debug!(error = %e, "unread count not reset");
                        }
                    }
                    resetting.store(false, Ordering::Release);
                };
                self.env.spawner.detach_with(reset, &self._done);
            }
            Effect::MarkRead { uid, upto } => {
                let (store, sid) = (self.env.store.clone(), self.core.sid().clone());
                let me = self.me.clone();
                let write = async move {
                    let mark = match store.mark_read(&sid, &uid, Some(upto)).await {
                        Ok(Some(mark)) => mark,
                        Ok(None) => return,
                        Err(e) => return tracing::debug!(error = %e, "read mark not stored"),
                    };
                    // A user who hides their receipts has their mark stored, never announced.
                    if matches!(store.user(&uid).await, Ok(Some(user)) if !user.hide_receipts) {
                        // Best effort: a busy chat drops one receipt; the mark is stored.
                        let _ = me.tx.try_send(Msg::Marked { uid, mark });
                    }
                };
                self.env.spawner.detach_with(write, &self._done);
            }
            Effect::Sync(subscribe) => {
                let Some(mesh) = &self.env.mesh else { return };
                let topic = Topic::Chat(self.core.sid().clone());
                let sent = if subscribe {
                    mesh.subscribe(topic).await
                } else {
                    mesh.unsubscribe(topic).await
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "subscription change not sent to the mesh");
                }
            }
        }
    }

    /// Performs a read the core asked for, rendering the messages it wants.
    async fn read(&self, read: &Read) -> Result<Page, ()> {
        let sid = self.core.sid();
        let messages = match self
            .env
            .store
            .messages_after(sid, read.after, read.limit)
            .await
        {
            Ok(messages) => messages,
            Err(e) => {
                match read.kind {
                    ReadKind::Gap { upto } => {
                        tracing::warn!(error = %e, after = read.after, upto, "gap not read from the store");
                    }
                    ReadKind::Tail => tracing::debug!(error = %e, "chat tail not re-read"),
                    ReadKind::Unfilled => {
                        tracing::debug!(error = %e, "missing messages not re-read");
                    }
                }
                return Err(());
            }
        };
        let mut replies = replies_of(self.env.store.as_ref(), sid, &messages)
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "reply previews not read");
                HashMap::new()
            });
        let mut events = Vec::new();
        for message in &messages {
            if self.core.wants(read, message.seq) {
                let sender = self.sender_for(&message.uid).await;
                events.push(Event {
                    seq: message.seq,
                    down: self.core.render(message, sender),
                    client_id: message.client_id.clone(),
                    reply: replies.remove(&message.seq),
                });
            }
        }
        Ok(Page {
            last: messages.last().map(|m| m.seq),
            events,
        })
    }

    /// How an event shows its sender: from the members, or the store for a former member.
    async fn sender_for(&self, uid: &UserId) -> Sender {
        if let Some(member) = self.core.member(uid) {
            return member.sender();
        }
        match self.env.store.user(uid).await {
            Ok(Some(user)) => MemberView::from(&user).sender(),
            _ => Sender {
                uid: uid.to_string(),
                ..Sender::default()
            },
        }
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Offline { conn } => {
                let wall = now_ms();
                self.input(Input::Offline { conn, wall }).await;
            }
            Msg::OnlineUsers { reply } => reply.send((*self.core.online_set()).clone()),
            Msg::Reload => self.core.forget_session(),
            Msg::Remote(envelope) => self.remote(envelope).await,
            Msg::CheckTail => self.input(Input::LinkChanged).await,
            Msg::Marked { uid, mark } => self.input(Input::Marked { uid, mark }).await,
            // A retiring actor answers nothing that would give it new work: dropping the reply
            // makes the caller ask the registry again, which spawns a successor.
            _ if self.retiring => {}
            Msg::Online {
                conn,
                who,
                outbox,
                wants,
                reply,
            } => reply.send(self.online(conn, who, outbox, wants).await),
            Msg::Typing { uid, nickname } => {
                if self.core.is_member(&uid) {
                    let wall = now_ms();
                    self.input(Input::Typing {
                        uid,
                        nickname,
                        wall,
                    })
                    .await;
                }
            }
            Msg::ReadUp { uid, seq } => {
                if self.core.is_member(&uid) {
                    self.input(Input::ReadUp { uid, seq }).await;
                }
            }
            Msg::CaughtUp { conn } => self.input(Input::CaughtUp { conn }).await,
            Msg::Post {
                conn,
                who,
                content,
                reply,
            } => reply.send(self.post(conn, who, content).await),
            Msg::Join { uid, reply } => reply.send(self.join(uid).await),
            Msg::Leave { uid, reply } => reply.send(self.leave(uid).await),
        }
    }

    /// Reads what the core lacks: the session and its members, and the chat's latest seq.
    async fn load(&mut self) -> Result<()> {
        let store = &self.env.store;
        let sid = self.core.sid().clone();
        if self.core.needs_session() {
            let session = store
                .session(&sid)
                .await?
                .ok_or_else(|| Error::Denied("session not exist".into()))?;
            let members = store.members(&sid).await?;
            let uids: Vec<UserId> = members.iter().map(|m| m.uid.clone()).collect();
            let users: HashMap<UserId, User> = store
                .users(&uids)
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect();
            let views = members
                .iter()
                .map(|m| match users.get(&m.uid) {
                    Some(user) => MemberView::from(user),
                    None => MemberView::unknown(m.uid.clone()),
                })
                .collect();
            self.core.loaded(session, views);
        }
        if self.core.needs_anchor() {
            let latest = store
                .messages(&sid, 1, 1)
                .await?
                .last()
                .map_or(0, |m| m.seq);
            self.core.anchored(latest);
        }
        Ok(())
    }

    /// The session's name, loading it if needed.
    async fn session_name(&mut self) -> Result<String> {
        self.load().await?;
        self.core
            .session()
            .map(|s| s.name.clone())
            .ok_or_else(|| Error::Denied("session not exist".into()))
    }

    async fn online(
        &mut self,
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
        wants: Wants,
    ) -> Result<Joined> {
        self.core.prepare_online();
        self.load().await?;
        if !self.core.is_member(&who.uid) {
            // Membership may have changed through another path: read it again once.
            self.core.forget_session();
            self.load().await?;
            if !self.core.is_member(&who.uid) {
                return Err(Error::Denied("no privilege in this session".into()));
            }
        }
        let who = Newcomer {
            sender: sender_of(&who),
            nickname: who.nickname,
            uid: who.uid,
        };
        let wall = now_ms();
        self.input(Input::Online {
            conn,
            outbox,
            who,
            wants,
            wall,
        })
        .await;
        Ok(Joined {
            handle: self.me.clone(),
            watermark: self.core.watermark(),
        })
    }

    async fn post(&mut self, conn: ConnId, who: UserIdentity, content: Post) -> Result<Message> {
        self.load().await?;
        if !self.core.is_member(&who.uid) {
            return Err(Error::Denied("no privilege in this session".into()));
        }
        let mut message = NewMessage {
            id: MessageId::from_random(rand::random()),
            session_id: self.core.sid().clone(),
            uid: who.uid.clone(),
            msg_type: ChatKind::Text,
            content: String::new(),
            file_name: String::new(),
            file_type: String::new(),
            fileid: None,
            thumbid: None,
            dateline: now_ms(),
            client_id: None,
            reply_to: None,
        };
        match content {
            Post::Text {
                content,
                client_id,
                reply_to,
            } => {
                message.content = content;
                message.client_id = client_id;
                message.reply_to = reply_to;
            }
            Post::File {
                file_name,
                file_type,
                fileid,
                thumbid,
                reply_to,
            } => {
                message.msg_type = ChatKind::File;
                message.file_name = file_name;
                message.file_type = file_type;
                message.fileid = Some(fileid);
                message.thumbid = thumbid;
                message.reply_to = reply_to;
            }
        }
        if let Some(to) = message.reply_to {
            let found = self.env.store.messages_at(self.core.sid(), &[to]).await?;
            if !found
                .iter()
                .any(|m| matches!(m.msg_type, ChatKind::Text | ChatKind::File))
            {
                return Err(Error::Invalid(format!("no message {to} to reply to")));
            }
        }
        let fresh = message.id.clone();
        let online = self.core.online_set();
        let stored = self.env.store.append(message, &online).await?;
        let reply = match stored.reply_to {
            Some(_) => replies_of(
                self.env.store.as_ref(),
                self.core.sid(),
                std::slice::from_ref(&stored),
            )
            .await?
            .remove(&stored.seq),
            None => None,
        };
        self.input(Input::Stored {
            conn: Some(conn),
            fresh: stored.id == fresh,
            message: stored.clone(),
            sender: sender_of(&who),
            change: Membership::Same,
            reply,
        })
        .await;
        Ok(stored)
    }

    async fn join(&mut self, uid: UserId) -> Result<Option<Message>> {
        let name = self.session_name().await?;
        let user = self
            .env
            .store
            .user(&uid)
            .await?
            .ok_or_else(|| Error::Denied("user not exists".into()))?;
        let change = MembershipChange {
            message_id: MessageId::from_random(rand::random()),
            session_id: self.core.sid().clone(),
            uid,
            content: chat::join_text(&user.nickname, &name),
            dateline: now_ms(),
        };
        let online = self.core.online_set();
        let Some(stored) = self.env.store.join(change, &online).await? else {
            return Ok(None);
        };
        let view = MemberView::from(&user);
        self.input(Input::Stored {
            conn: None,
            message: stored.clone(),
            sender: view.sender(),
            fresh: true,
            change: Membership::Joined(view),
            reply: None,
        })
        .await;
        Ok(Some(stored))
    }

    async fn leave(&mut self, uid: UserId) -> Result<Option<Message>> {
        let name = self.session_name().await?;
        let view = self.core.member(&uid).cloned();
        let nickname = view
            .as_ref()
            .map(|v| v.nickname.clone())
            .unwrap_or_default();
        let change = MembershipChange {
            message_id: MessageId::from_random(rand::random()),
            session_id: self.core.sid().clone(),
            uid: uid.clone(),
            content: chat::leave_text(&nickname, &name),
            dateline: now_ms(),
        };
        let online = self.core.online_set();
        let Some(stored) = self.env.store.leave(change, &online).await? else {
            return Ok(None);
        };
        self.input(Input::Stored {
            conn: None,
            message: stored.clone(),
            sender: view.map(|v| v.sender()).unwrap_or_default(),
            fresh: true,
            change: Membership::Left(uid),
            reply: None,
        })
        .await;
        Ok(Some(stored))
    }

    /// An event another node published for this chat: stored ones need the chat loaded
    /// (afresh after a join or leave there).
    async fn remote(&mut self, envelope: Box<Envelope>) {
        if envelope.session_id != *self.core.sid() {
            return;
        }
        if envelope.seq != 0 {
            if matches!(envelope.kind, ChatKind::Join | ChatKind::Leave) {
                self.core.forget_session();
            }
            if let Err(e) = self.load().await {
                tracing::debug!(error = %e, "remote event for a chat that cannot be loaded");
                return;
            }
        }
        self.input(Input::Remote(envelope)).await;
    }
}
