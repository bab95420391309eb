//! The session actor: one per chat with live subscribers on this node.
//!
//! It is the only writer of its chat on this node, so the order it stores messages in is the
//! order every subscriber sees them. For each event it (1) persists it when the spec says so
//! (text, join, leave) and only then (2) fans it out: to this chat's `/ws-chat` subscribers
//! directly with `try_send`, and to every member's `/ws-push` channel through the registry.
//! Online and offline events are not stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_tungstenite::tungstenite::Utf8Bytes;
use futures_lite::FutureExt;
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
        reply: Reply<Result<SessionHandle>>,
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
}

struct SessionActor {
    shared: Arc<Shared>,
    sid: SessionId,
    me: SessionHandle,
    /// `None` until loaded (lazily, so spawning never waits on the store).
    session: Option<Session>,
    members: Vec<MemberView>,
    subscribers: HashMap<ConnId, Subscriber>,
    retiring: bool,
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
            let next = async { inbox.recv().await.map(Some) }
                .or(async {
                    runtime::sleep(idle).await;
                    Some(None)
                })
                .await;
            match next {
                None => break,
                Some(Some(msg)) => self.handle(msg).await,
                Some(None) => {
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
        }
        Ok(())
    }

    async fn handle(&mut self, msg: SessionMsg) {
        match msg {
            SessionMsg::Offline { conn } => self.offline(conn),
            SessionMsg::OnlineUsers { reply } => reply.send(self.online_set()),
            SessionMsg::Reload => self.session = None,
            // A retiring actor answers nothing that would give it new work: dropping the reply
            // makes the caller ask the registry again, which spawns a successor.
            _ if self.retiring => {}
            SessionMsg::Online {
                conn,
                who,
                outbox,
                reply,
            } => reply.send(self.online(conn, who, outbox).await),
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
        }
        self.session
            .as_ref()
            .ok_or_else(|| Error::Denied("session not exist".into()))
    }

    fn is_member(&self, uid: &UserId) -> bool {
        self.members.iter().any(|m| &m.uid == uid)
    }

    fn online_set(&self) -> HashSet<UserId> {
        self.subscribers.values().map(|s| s.uid.clone()).collect()
    }

    fn dateline(&self, ms: i64) -> String {
        timestr(ms, self.shared.config.utc_offset_secs)
    }

    async fn online(
        &mut self,
        conn: ConnId,
        who: UserIdentity,
        outbox: Outbox,
    ) -> Result<SessionHandle> {
        self.load().await?;
        if !self.is_member(&who.uid) {
            // Membership may have changed through another path: read it again once.
            self.session = None;
            self.load().await?;
            if !self.is_member(&who.uid) {
                return Err(Error::Denied("no privilege in this session".into()));
            }
        }
        self.subscribers.insert(
            conn,
            Subscriber {
                uid: who.uid.clone(),
                outbox,
            },
        );
        let down = ChatDown {
            sender: sender_of(&who),
            msg_type: ChatKind::Online,
            content: chat::online_text(&who.nickname),
            file: FileFields::default(),
            dateline: self.dateline(now_ms()),
        };
        self.broadcast(&down);
        Ok(self.me.clone())
    }

    fn offline(&mut self, conn: ConnId) {
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
        let stored = self
            .shared
            .store
            .append(message, &self.online_set())
            .await?;
        if stored.id == fresh {
            self.publish(&stored, sender_of(&who)).await;
        } else {
            // A retry of a message stored earlier (same client id): everyone had it then, so
            // only the retrying connection gets the echo it is waiting for.
            let frame = Utf8Bytes::from(self.down_of(&stored, sender_of(&who)).to_text());
            if let Some(subscriber) = self.subscribers.get(&conn)
                && !offer(&subscriber.outbox, &frame)
            {
                self.subscribers.remove(&conn);
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
        let Some(stored) = self.shared.store.join(change, &self.online_set()).await? else {
            return Ok(None);
        };
        let view = MemberView::from(&user);
        if !self.is_member(&uid) {
            self.members.push(view.clone());
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
        let Some(stored) = self.shared.store.leave(change, &self.online_set()).await? else {
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
        self.subscribers.retain(|_, s| s.uid != uid);
        Ok(Some(stored))
    }

    /// Sends a `/ws-chat` frame to every subscriber; a full outbox cuts that one connection.
    fn broadcast(&mut self, down: &ChatDown) {
        let frame = Utf8Bytes::from(down.to_text());
        self.subscribers.retain(|_, s| offer(&s.outbox, &frame));
    }

    /// Fans a stored event out to chat subscribers and to every member's push channels.
    async fn publish(&mut self, stored: &Message, sender: Sender) {
        let down = self.down_of(stored, sender);
        self.broadcast(&down);
        let deliveries = self.push_frames(&down);
        if !deliveries.is_empty() {
            // The registry only forwards with try_send; waiting here is bounded by its queue.
            let _ = self
                .shared
                .registry
                .send(RegistryMsg::Push { deliveries })
                .await;
        }
    }

    /// The `/ws-chat` frame of a stored event.
    fn down_of(&self, stored: &Message, sender: Sender) -> ChatDown {
        ChatDown {
            sender: sender.clone(),
            msg_type: ChatKind::from_wire(&stored.msg_type),
            content: stored.content.clone(),
            file: FileFields {
                file_name: stored.file_name.clone(),
                file_type: stored.file_type.clone(),
                fileid: stored
                    .fileid
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                thumbid: stored
                    .thumbid
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            },
            dateline: self.dateline(stored.dateline),
        }
    }

    /// One push frame per member, with the session's name and icon resolved for that member.
    fn push_frames(&self, down: &ChatDown) -> Vec<(UserId, Utf8Bytes)> {
        let Some(session) = &self.session else {
            return Vec::new();
        };
        let file_info =
            (down.msg_type == ChatKind::File).then(|| PushDown::file_info_for(&down.file.thumbid));
        let make = |name: String, icon: String| {
            let push = PushDown {
                sender: down.sender.clone(),
                session: PushSession {
                    sessionid: self.sid.to_string(),
                    session_name: name,
                    session_icon: icon,
                },
                msg_type: down.msg_type.clone(),
                content: down.content.clone(),
                file: down.file.clone(),
                dateline: down.dateline.clone(),
                file_info: file_info.clone(),
            };
            Utf8Bytes::from(push.to_text())
        };
        match session.session_type {
            SessionType::Group => {
                let icon = session
                    .icon
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let frame = make(session.name.clone(), icon);
                self.members
                    .iter()
                    .map(|m| (m.uid.clone(), frame.clone()))
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
                    (viewer.uid.clone(), make(name, icon))
                })
                .collect(),
        }
    }
}

fn sender_of(who: &UserIdentity) -> Sender {
    Sender {
        uid: who.uid.to_string(),
        nickname: who.nickname.clone(),
        avatar: who.avatar.to_string(),
    }
}
