//! The session core driven by hand with a virtual clock: a fake shell performs its effects
//! against an in-memory store and records what each connection receives. One test per case the
//! real-server tests (`web/tests/{chat,resume,retries,cluster,push}.rs`) cover, and property
//! tests over interleavings (`props`).

use std::collections::{BTreeMap, HashMap, HashSet};

use mesh::envelope::Envelope;
use protocol::chat::ChatKind;
use protocol::ids::MessageId;
use serde_json::Value;
use store::model::SessionType;

use super::*;

mod cases;
mod presence;
mod props;

/// Milliseconds of virtual time.
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sid() -> SessionId {
    SessionId::from_random([7; 12])
}

fn uid(n: u8) -> UserId {
    UserId::from_random([n; 12])
}

fn view(n: u8) -> MemberView {
    MemberView {
        uid: uid(n),
        nickname: format!("user{n}"),
        avatar: format!("avatar{n}"),
    }
}

fn session(kind: SessionType) -> Session {
    Session {
        id: sid(),
        createuid: uid(1),
        ouid: None,
        name: "room".into(),
        icon: None,
        session_type: kind,
        public: true,
        last_msgid: None,
        last_update: 0,
        dateline: 0,
    }
}

/// The stored text `m<seq>` from member `from`.
fn message(seq: i64, from: u8) -> Message {
    let mut id = [0; 12];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    Message {
        id: MessageId::from_random(id),
        session_id: sid(),
        seq,
        uid: uid(from),
        msg_type: ChatKind::Text,
        content: format!("m{seq}"),
        file_name: String::new(),
        file_type: String::new(),
        fileid: None,
        thumbid: None,
        dateline: 0,
        client_id: None,
        reply_to: None,
    }
}

/// A fake shell: performs the core's effects in order, like `actor.rs`, against `store`.
struct Shell {
    core: Core<ConnId>,
    now: Duration,
    /// Messages a store read sees, by seq.
    store: BTreeMap<i64, Message>,
    /// What each connection received, parsed.
    frames: HashMap<ConnId, Vec<Value>>,
    /// Connections whose outbox refuses every frame.
    full: HashSet<ConnId>,
    closed: Vec<ConnId>,
    reads: Vec<Read>,
    pushed: Vec<Vec<(Arc<[UserId]>, Utf8Bytes)>>,
    published: Vec<Envelope>,
    synced: Vec<bool>,
    resets: Vec<HashSet<UserId>>,
    /// Read marks the core asked to store, in order; each is stored at once.
    marks: Vec<(UserId, i64)>,
    /// Whether an unread reset is still running (the next one is put off).
    resetting: bool,
}

impl Shell {
    /// A group of `members` whose store holds seqs `1..=latest`, loaded and anchored.
    fn new(clustered: bool, members: &[u8], latest: i64) -> Shell {
        let mut core = Core::new(sid(), clustered, 0);
        core.loaded(
            session(SessionType::Group),
            members.iter().map(|&n| view(n)).collect(),
        );
        core.anchored(latest);
        Shell {
            core,
            now: Duration::ZERO,
            store: (1..=latest).map(|seq| (seq, message(seq, 1))).collect(),
            frames: HashMap::new(),
            full: HashSet::new(),
            closed: Vec::new(),
            reads: Vec::new(),
            pushed: Vec::new(),
            published: Vec::new(),
            synced: Vec::new(),
            resets: Vec::new(),
            marks: Vec::new(),
            resetting: false,
        }
    }

    /// One wake of the actor: the input, its effects, then `settle` and its effects.
    fn input(&mut self, input: Input<ConnId>) {
        self.core.handle(input, self.now);
        self.drain();
        self.core.settle();
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(effect) = self.core.poll() {
            self.perform(effect);
        }
    }

    fn perform(&mut self, effect: Effect<ConnId>) {
        match effect {
            Effect::Deliver { to, frame } => {
                for (conn, outbox) in to {
                    assert_eq!(conn, outbox);
                    if self.full.contains(&conn) {
                        self.core.handle(Input::Cut { conn }, self.now);
                    } else {
                        let value = serde_json::from_str(&frame).unwrap_or(Value::Null);
                        self.frames.entry(conn).or_default().push(value);
                    }
                }
            }
            Effect::Close(outbox) => self.closed.push(outbox),
            Effect::Push(deliveries) => self.pushed.push(deliveries),
            Effect::Publish(envelope) => self.published.push(*envelope),
            Effect::Read(read) => {
                self.reads.push(read);
                let page = self.page(&read);
                self.core.handle(
                    Input::Read {
                        read,
                        page: Ok(page),
                    },
                    self.now,
                );
            }
            Effect::ResetUnread(users) if self.resetting => {
                drop(users);
                self.core.handle(Input::ResetBusy, self.now);
            }
            Effect::ResetUnread(users) => self.resets.push((*users).clone()),
            Effect::Sync(subscribed) => self.synced.push(subscribed),
            Effect::MarkRead { uid, upto } => {
                self.marks.push((uid.clone(), upto));
                self.core
                    .handle(Input::Marked { uid, mark: upto }, self.now);
            }
        }
    }

    /// `messages_after(read.after, read.limit)`, rendered as the shell renders it.
    fn page(&self, read: &Read) -> Page {
        let found: Vec<&Message> = self
            .store
            .range(read.after + 1..)
            .take(read.limit as usize)
            .map(|(_, m)| m)
            .collect();
        Page {
            last: found.last().map(|m| m.seq),
            events: found
                .iter()
                .filter(|m| self.core.wants(read, m.seq))
                .map(|m| Event {
                    seq: m.seq,
                    down: self.core.render(m, Sender::default()),
                    client_id: m.client_id.clone(),
                    reply: None,
                })
                .collect(),
        }
    }

    /// Moves the clock to `at`, waking at every deadline on the way.
    fn advance(&mut self, to: Duration) {
        for _ in 0..10_000 {
            match self.core.deadline() {
                Some(due) if due <= to => {
                    self.now = self.now.max(due);
                    self.input(Input::Tick);
                }
                _ => break,
            }
        }
        self.now = self.now.max(to);
    }

    /// Advances the clock by `by`.
    fn wait(&mut self, by: Duration) {
        self.advance(self.now + by);
    }

    /// Member `n` comes online on a fresh connection (resuming after `after`).
    fn online(&mut self, n: u8, after: Option<i64>) -> ConnId {
        self.subscribe(n, after, false)
    }

    /// Member `n` comes online on a fresh connection that asks for extension frames.
    fn online_ext(&mut self, n: u8) -> ConnId {
        self.subscribe(n, None, true)
    }

    fn subscribe(&mut self, n: u8, after: Option<i64>, ext: bool) -> ConnId {
        let conn = ConnId::next();
        let who = Newcomer {
            uid: uid(n),
            sender: view(n).sender(),
            nickname: view(n).nickname,
        };
        self.input(Input::Online {
            conn,
            outbox: conn,
            who,
            wants: Wants { after, ext },
            wall: 0,
        });
        conn
    }

    /// This node stores `m<seq>` for `conn` (the store gave it `seq`).
    fn post(&mut self, seq: i64, conn: Option<ConnId>) {
        let message = message(seq, 1);
        self.store.insert(seq, message.clone());
        self.input(Input::Stored {
            conn,
            message,
            sender: view(1).sender(),
            fresh: true,
            change: Membership::Same,
            reply: None,
        });
    }

    /// Another node stored `m<seq>` (visible in the store) and its envelope arrives now.
    fn remote(&mut self, seq: i64) {
        self.store.insert(seq, message(seq, 2));
        self.arrive(seq);
    }

    /// Only the envelope of `m<seq>` arrives (the store has it or not, as the test set up).
    fn arrive(&mut self, seq: i64) {
        let down = self.core.render(&message(seq, 2), view(2).sender());
        if let Some(envelope) = Envelope::from_chat_down(sid(), seq, &down, Vec::new()) {
            self.input(Input::Remote(Box::new(envelope)));
        }
    }

    /// The contents `conn` received, in order.
    fn contents(&self, conn: ConnId) -> Vec<String> {
        self.frames
            .get(&conn)
            .map(|frames| {
                frames
                    .iter()
                    .map(|f| f["content"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The stored messages `conn` received (`m<seq>`), by seq, in order.
    fn seqs(&self, conn: ConnId) -> Vec<i64> {
        self.contents(conn)
            .iter()
            .filter_map(|c| c.strip_prefix('m')?.parse().ok())
            .collect()
    }

    /// The `msgType`s of the frames `conn` received, in order.
    fn kinds(&self, conn: ConnId) -> Vec<String> {
        self.frames
            .get(&conn)
            .map(|frames| {
                frames
                    .iter()
                    .map(|f| f["msgType"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The frames of kind `kind` that `conn` received.
    fn of_kind(&self, conn: ConnId, kind: &str) -> Vec<Value> {
        self.frames
            .get(&conn)
            .map(|frames| {
                frames
                    .iter()
                    .filter(|f| f["msgType"] == kind)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `seq` fields of the frames `conn` received (resume frames only).
    fn seq_fields(&self, conn: ConnId) -> Vec<i64> {
        self.frames
            .get(&conn)
            .map(|frames| frames.iter().filter_map(|f| f["seq"].as_i64()).collect())
            .unwrap_or_default()
    }
}
