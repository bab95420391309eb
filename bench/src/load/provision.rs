//! Who connects where: rooms of a given size, and for cookim the users, groups and tokens
//! behind them, made through the API (a server we did not start) or in bulk through the
//! store (10,000 users in seconds: one argon2 hash for all, tokens signed with the node's
//! secret) for a server the suite started.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::ids::{SessionId, UserId};
use store::Store;
use store::dump::Record;
use store::model::{AvatarKind, Gender, Member, Session, SessionType, User};

use futures_util::{StreamExt, TryStreamExt};

use super::wire::Conn;
use harness::client::{self, Error, Result};

/// How the connections are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Rooms (groups).
    pub rooms: usize,
    /// Members of each room; each member is one user with one connection.
    pub room_size: usize,
    /// Members of each room that send (the first ones).
    pub senders_per_room: usize,
    /// Idle: cookim users open `/ws-push` (authenticated) instead of a chat.
    pub idle: bool,
    /// cookim users also open `/ws-push` beside their chat (each message then reaches every
    /// member twice: the chat frame and the push frame).
    pub push: bool,
}

impl Layout {
    /// Profile 1: one room of `members`, the first one sending.
    pub fn fanout(members: usize) -> Layout {
        Layout {
            rooms: 1,
            room_size: members,
            senders_per_room: 1,
            idle: false,
            push: false,
        }
    }

    /// Profile 2: `rooms` chats of `size`, every member sending; `push`: see [`Layout::push`].
    pub fn chats(rooms: usize, size: usize, push: bool) -> Layout {
        Layout {
            rooms,
            room_size: size,
            senders_per_room: size,
            idle: false,
            push,
        }
    }

    /// Profile 3: `connections` idle users, one connection each.
    pub fn idle(connections: usize) -> Layout {
        Layout {
            rooms: connections,
            room_size: 1,
            senders_per_room: 0,
            idle: true,
            push: false,
        }
    }

    /// Connections in all.
    pub fn conns(&self) -> usize {
        self.rooms * self.room_size * if self.push && !self.idle { 2 } else { 1 }
    }

    /// Deliveries of one message.
    pub fn deliveries_per_message(&self) -> usize {
        self.room_size * if self.push && !self.idle { 2 } else { 1 }
    }
}

/// Connections for a peer server: users `u<i>` in rooms `r<j>`.
pub fn peer_conns(layout: Layout) -> Vec<Conn> {
    (0..layout.rooms)
        .flat_map(|room| {
            (0..layout.room_size).map(move |member| Conn {
                uid: format!("u{}", room * layout.room_size + member),
                user_token: String::new(),
                room: format!("r{room}"),
                session_token: None,
                sends: member < layout.senders_per_room,
            })
        })
        .collect()
}

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Http(format!("store: {e}"))
}

fn millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes `layout`'s users and groups straight into a cookim store (the node must have
/// started once on it, to seed the default avatars) and signs their tokens with the node's
/// secret.
///
/// # Errors
/// A store error, or no default avatar (the node never started on this store).
pub async fn cookim_bulk(store: &dyn Store, secret: &[u8], layout: Layout) -> Result<Vec<Conn>> {
    let avatar = store
        .default_avatar(AvatarKind::Girl)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            Error::Http("no default avatar: start the node on this store first".into())
        })?;
    let password_hash = web::auth::hash_now("benchpass").map_err(store_error)?;
    let tokens = web::auth::Tokens::new(secret, Duration::from_secs(24 * 3600));
    let now = millis_now();
    let now_secs = (now / 1000) as u64;
    let tag = format!("{:x}", rand::random::<u32>());
    let mut records = Vec::new();
    let mut conns = Vec::with_capacity(layout.conns());
    for room in 0..layout.rooms {
        let sid = SessionId::from_random(rand::random());
        let mut members = Vec::with_capacity(layout.room_size);
        for member in 0..layout.room_size {
            let n = room * layout.room_size + member;
            let uid = UserId::from_random(rand::random());
            let nickname = format!("load{n:05}");
            records.push(Record::User {
                user: User {
                    id: uid.clone(),
                    login: format!("load-{tag}-{n}@bench.local"),
                    nickname: nickname.clone(),
                    password_hash: password_hash.clone(),
                    gender: Gender::Girl,
                    avatar: avatar.clone(),
                    last_login: now,
                    login_count: 1,
                    dateline: now,
                    token_generation: 0,
                    hide_receipts: false,
                },
                friends: Vec::new(),
            });
            let identity = web::auth::UserIdentity {
                uid: uid.clone(),
                nickname,
                avatar: avatar.clone(),
                // A login the store never ended: the bulk users' tokens stay valid.
                login: protocol::ids::LoginId::from_random(rand::random()),
            };
            let user_token = tokens
                .user_token(&identity, now_secs)
                .map_err(store_error)?;
            let session_token = if layout.idle {
                None
            } else {
                let grant = web::auth::SessionGrant {
                    sid: sid.clone(),
                    uid: uid.clone(),
                };
                Some(
                    tokens
                        .session_token(&grant, now_secs)
                        .map_err(store_error)?,
                )
            };
            if layout.push && !layout.idle {
                conns.push(Conn {
                    uid: uid.to_string(),
                    user_token: user_token.clone(),
                    room: sid.to_string(),
                    session_token: None,
                    sends: false,
                });
            }
            conns.push(Conn {
                uid: uid.to_string(),
                user_token,
                room: sid.to_string(),
                session_token,
                sends: member < layout.senders_per_room,
            });
            members.push(Member {
                uid,
                new_count: 0,
                read_seq: 0,
            });
        }
        if layout.idle {
            continue;
        }
        let createuid = members
            .first()
            .map(|m| m.uid.clone())
            .ok_or_else(|| Error::Http("a room needs a member".into()))?;
        records.push(Record::Session {
            session: Session {
                id: sid,
                createuid,
                ouid: None,
                name: format!("load {tag} {room}"),
                icon: None,
                session_type: SessionType::Group,
                public: false,
                last_msgid: None,
                last_update: now,
                dateline: now,
            },
            members,
            last_seq: 0,
        });
    }
    // Users before the sessions that name them; a few thousand records per transaction.
    records.sort_by_key(|r| !matches!(r, Record::User { .. }));
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<Record> = records.by_ref().take(2_000).collect();
        store.import(chunk).await.map_err(store_error)?;
    }
    Ok(conns)
}

/// Makes `layout`'s users and groups through a running node's API (registrations are argon2
/// hashes: fine for a few hundred users, slow for thousands).
///
/// # Errors
/// An API or transport error.
pub async fn cookim_api(addr: SocketAddr, layout: Layout) -> Result<Vec<Conn>> {
    let tag = format!("{:x}", rand::random::<u32>());
    let mut conns = Vec::with_capacity(layout.conns());
    for room in 0..layout.rooms {
        let registrations = (0..layout.room_size).map(|member| {
            let n = room * layout.room_size + member;
            let login = format!("load-{tag}-{n}@bench.local");
            async move { client::register(addr, &login, &format!("load{n:05}"), "benchpass").await }
        });
        // A few at a time: each registration is an argon2 hash on the server.
        let users: Vec<client::User> = futures_util::stream::iter(registrations)
            .buffered(16)
            .try_collect()
            .await?;
        if layout.idle {
            conns.extend(users.into_iter().enumerate().map(|(member, user)| Conn {
                uid: user.uid,
                user_token: user.token,
                room: String::new(),
                session_token: None,
                sends: member < layout.senders_per_room,
            }));
            continue;
        }
        let owner = users
            .first()
            .ok_or_else(|| Error::Http("a room needs a member".into()))?;
        let sid = client::create_group(addr, owner, &format!("load {tag} {room}")).await?;
        let joins = users
            .iter()
            .skip(1)
            .map(|u| client::join_group(addr, u, &sid));
        futures_util::future::try_join_all(joins).await?;
        for (member, user) in users.into_iter().enumerate() {
            if layout.push {
                conns.push(Conn {
                    uid: user.uid.clone(),
                    user_token: user.token.clone(),
                    room: sid.clone(),
                    session_token: None,
                    sends: false,
                });
            }
            let session_token = client::session_token(addr, &user, &sid).await?;
            conns.push(Conn {
                uid: user.uid,
                user_token: user.token,
                room: sid.clone(),
                session_token: Some(session_token),
                sends: member < layout.senders_per_room,
            });
        }
    }
    Ok(conns)
}
