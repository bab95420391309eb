//! The registry of this node's live chats and push channels.
//!
//! One registry actor owns two maps: chat id -> [`session`](crate::session) actor handle, and
//! user id -> that user's `/ws-push` outboxes. Session actors are spawned on first use and
//! retire after `session_idle` without subscribers. A caller that reaches a retiring actor
//! gets no answer and simply asks again ([`Registry::call`]), which spawns a fresh one.
//! Sessions reach the registry only through [`Port`], the narrow handle it gives them.
//!
//! In a cluster the registry tells the mesh which users' push channels are open here, and a
//! delivery task hands what other nodes publish to the chat's session actor (if it runs
//! here) and to the targeted users' push channels.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Weak};

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::subscriptions::Topic;
use mesh::{Delivery, Mesh};
use protocol::ids::{SessionId, UserId};
use runtime::{Inbox, Mailbox, Reply, Shutdown, Spawner};
use store::Store;
use store::model::Message;

use crate::auth::UserIdentity;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::outbox::{ConnId, Outbox, offer};
use crate::session::{self, Env, Joined, SessionHandle, Upstream, Wants};

/// Messages queued for the registry. It only does map lookups and `try_send`s, so a short
/// queue suffices; senders wait (backpressure) when it is full.
const REGISTRY_CAPACITY: usize = 1024;

/// How long the delivery of another node's event may wait for a busy chat's mailbox.
const REMOTE_DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// How often a request is retried when it lands on a retiring session actor.
const RETRIES: usize = 3;

/// The registry actor's messages.
enum Msg {
    /// The session actor for `sid`, spawned if needed.
    Session {
        sid: SessionId,
        reply: Reply<SessionHandle>,
    },
    /// The session actor for `sid` if one is running.
    Lookup {
        sid: SessionId,
        reply: Reply<Option<SessionHandle>>,
    },
    /// A session actor has been idle: forget it (if it is still the current one) and close
    /// its mailbox so it drains and stops.
    Retire { sid: SessionId, instance: u64 },
    /// A `/ws-push` connection subscribed: queue `accept` on it, then deliver to it.
    PushSubscribe {
        uid: UserId,
        conn: ConnId,
        outbox: Outbox,
        accept: Utf8Bytes,
    },
    /// A `/ws-push` connection closed.
    PushUnsubscribe { uid: UserId, conn: ConnId },
    /// Deliver each frame to its users' push channels (a group's members share one frame).
    Push {
        deliveries: Vec<(Arc<[UserId]>, Utf8Bytes)>,
    },
    /// Events for this node may be lost (a mesh link to it opened or broke, or a peer dropped
    /// some at a full link queue): every chat here reads its tail shortly.
    CheckTails,
}

/// What sessions get of the registry: a retire request and push deliveries, nothing else.
#[derive(Debug)]
pub(crate) struct Port {
    tx: Mailbox<Msg>,
}

impl Upstream for Port {
    async fn retire(&self, sid: SessionId, instance: u64) -> bool {
        self.tx.send(Msg::Retire { sid, instance }).await.is_ok()
    }

    async fn push(&self, deliveries: Vec<(Arc<[UserId]>, Utf8Bytes)>) {
        // The registry only forwards with try_send; waiting here is bounded by its queue.
        let _ = self.tx.send(Msg::Push { deliveries }).await;
    }
}

/// This node's place in a cluster: the mesh node and what other nodes send it.
#[derive(Debug)]
pub struct Cluster {
    /// The running mesh node.
    pub mesh: Mesh,
    /// Envelopes other nodes published for subscribers here, and word of links changing.
    pub deliveries: Inbox<Delivery>,
}

/// A cheap handle to this node's chats and push channels.
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    tx: Mailbox<Msg>,
    /// What every session works with (the registry actor holds it weakly).
    env: Arc<Env<Port>>,
    config: Arc<Config>,
}

impl Registry {
    /// Starts the registry actor.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        config: Config,
        spawner: Spawner,
        shutdown: Shutdown,
        cluster: Option<Cluster>,
    ) -> (Registry, runtime::Task<()>) {
        let (tx, inbox) = runtime::mailbox(REGISTRY_CAPACITY);
        let (mesh, deliveries) = match cluster {
            Some(cluster) => (Some(cluster.mesh), Some(cluster.deliveries)),
            None => (None, None),
        };
        let env = Arc::new(Env {
            store,
            mesh,
            spawner: spawner.clone(),
            upstream: Port { tx: tx.clone() },
            utc_offset_secs: config.utc_offset_secs,
            idle: config.session_idle,
        });
        if let Some(deliveries) = deliveries {
            spawner.detach_with(deliver_remote(tx.clone(), deliveries), &shutdown);
        }
        let task = spawner.spawn_actor(
            "registry",
            run_registry(Arc::downgrade(&env), inbox, shutdown),
        );
        let config = Arc::new(config);
        (Registry { tx, env, config }, task)
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.env.store
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The mesh, in a cluster.
    pub(crate) fn mesh(&self) -> Option<&Mesh> {
        self.env.mesh.as_ref()
    }

    /// Sends a request to the session actor of `sid`, retrying on a fresh actor if the one it
    /// reached was retiring.
    async fn call<T, F, Fut>(&self, sid: &SessionId, ask: F) -> Result<T>
    where
        F: Fn(SessionHandle) -> Fut,
        Fut: Future<Output = runtime::Result<T>>,
    {
        let mut last = runtime::Error::Closed;
        for _ in 0..RETRIES {
            let handle = self
                .tx
                .request(|reply| Msg::Session {
                    sid: sid.clone(),
                    reply,
                })
                .await?;
            match ask(handle).await {
                Ok(value) => return Ok(value),
                Err(e @ (runtime::Error::Closed | runtime::Error::NoReply)) => last = e,
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.into())
    }

    /// Makes `who`'s connection a subscriber of `sid` (the `online` message), after checking
    /// membership. Returns the actor to talk to from now on.
    pub(crate) async fn online(
        &self,
        sid: &SessionId,
        conn: ConnId,
        who: &UserIdentity,
        outbox: &Outbox,
        wants: Wants,
    ) -> Result<Joined> {
        self.call(sid, |handle| async move {
            handle.online(conn, who, outbox, wants).await
        })
        .await?
    }

    /// Adds `uid` to the group `sid` (no-op returning `None` if already a member).
    pub(crate) async fn join(&self, sid: &SessionId, uid: &UserId) -> Result<Option<Message>> {
        self.call(sid, |handle| async move { handle.join(uid).await })
            .await?
    }

    /// Removes `uid` from `sid` (`None` if not a member).
    pub(crate) async fn leave(&self, sid: &SessionId, uid: &UserId) -> Result<Option<Message>> {
        self.call(sid, |handle| async move { handle.leave(uid).await })
            .await?
    }

    /// Members with a live `/ws-chat` in `sid` on this node.
    pub(crate) async fn online_users(&self, sid: &SessionId) -> Result<HashSet<UserId>> {
        match self.lookup(sid).await? {
            Some(handle) => Ok(handle.online_users().await),
            None => Ok(HashSet::new()),
        }
    }

    /// Tells a running session actor to re-read its session and members.
    pub(crate) async fn reload(&self, sid: &SessionId) -> Result<()> {
        if let Some(handle) = self.lookup(sid).await? {
            handle.reload().await;
        }
        Ok(())
    }

    /// The session actor of `sid`, if one runs.
    async fn lookup(&self, sid: &SessionId) -> Result<Option<SessionHandle>> {
        Ok(self
            .tx
            .request(|reply| Msg::Lookup {
                sid: sid.clone(),
                reply,
            })
            .await?)
    }

    /// Registers a `/ws-push` connection of `uid`. The registry queues `accept` on it as it
    /// registers it, so the accept precedes every push on the connection and no event stored
    /// after the client saw the accept can miss it.
    pub(crate) async fn subscribe_push(
        &self,
        uid: &UserId,
        conn: ConnId,
        outbox: &Outbox,
        accept: Utf8Bytes,
    ) -> Result<()> {
        let msg = Msg::PushSubscribe {
            uid: uid.clone(),
            conn,
            outbox: outbox.clone(),
            accept,
        };
        Ok(self.tx.send(msg).await?)
    }

    /// Forgets a `/ws-push` connection.
    pub(crate) async fn unsubscribe_push(&self, uid: &UserId, conn: ConnId) {
        // During shutdown the registry may be gone already; then there is nothing to forget.
        let _ = self
            .tx
            .send(Msg::PushUnsubscribe {
                uid: uid.clone(),
                conn,
            })
            .await;
    }
}

/// The registry actor's state.
struct RegistryActor {
    env: Weak<Env<Port>>,
    sessions: HashMap<SessionId, SessionHandle>,
    pushes: HashMap<UserId, Vec<(ConnId, Outbox)>>,
    next_instance: u64,
    /// Cloned into every session actor, so the server's `wait_done` waits for them too.
    shutdown: Shutdown,
}

async fn run_registry(
    env: Weak<Env<Port>>,
    mut inbox: runtime::Inbox<Msg>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let mut registry = RegistryActor {
        env,
        sessions: HashMap::new(),
        pushes: HashMap::new(),
        next_instance: 0,
        shutdown: shutdown.clone(),
    };
    loop {
        let msg = futures_lite::future::or(async { inbox.recv().await }, async {
            shutdown.wait().await;
            None
        })
        .await;
        let Some(msg) = msg else { break };
        registry.handle(msg).await;
    }
    // Each session actor holds a handle to itself, so dropping ours would not stop it:
    // closing its mailbox does, once it has drained what is queued.
    for (_, handle) in registry.sessions.drain() {
        handle.close();
    }
    Ok(())
}

impl RegistryActor {
    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Session { sid, reply } => {
                if let Some(handle) = self.sessions.get(&sid) {
                    reply.send(handle.clone());
                    return;
                }
                let Some(env) = self.env.upgrade() else {
                    return;
                };
                self.next_instance += 1;
                let handle =
                    session::spawn(&env, sid.clone(), self.next_instance, self.shutdown.clone());
                self.sessions.insert(sid, handle.clone());
                reply.send(handle);
            }
            Msg::Lookup { sid, reply } => reply.send(self.sessions.get(&sid).cloned()),
            Msg::Retire { sid, instance } => {
                if self
                    .sessions
                    .get(&sid)
                    .is_some_and(|h| h.instance() == instance)
                    && let Some(handle) = self.sessions.remove(&sid)
                {
                    handle.close();
                }
            }
            Msg::PushSubscribe {
                uid,
                conn,
                outbox,
                accept,
            } => {
                if offer(&outbox, &accept) {
                    let list = self.pushes.entry(uid.clone()).or_default();
                    list.push((conn, outbox));
                    if list.len() == 1 {
                        self.tell_mesh(Topic::Push(uid), true).await;
                    }
                }
            }
            Msg::PushUnsubscribe { uid, conn } => {
                if let Some(list) = self.pushes.get_mut(&uid) {
                    list.retain(|(c, _)| *c != conn);
                    if list.is_empty() {
                        self.pushes.remove(&uid);
                        self.tell_mesh(Topic::Push(uid), false).await;
                    }
                }
            }
            Msg::CheckTails => {
                for handle in self.sessions.values() {
                    handle.check_tail();
                }
            }
            Msg::Push { deliveries } => {
                for (uids, frame) in deliveries {
                    for uid in uids.iter() {
                        if let Some(list) = self.pushes.get(uid) {
                            for (_, outbox) in list {
                                offer(outbox, &frame);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Tells the mesh (in a cluster) that this node gained or lost `topic`'s subscribers.
    async fn tell_mesh(&self, topic: Topic, subscribed: bool) {
        let Some(mesh) = self.env.upgrade().and_then(|e| e.mesh.clone()) else {
            return;
        };
        let sent = if subscribed {
            mesh.subscribe(topic).await
        } else {
            mesh.unsubscribe(topic).await
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "push subscription not sent to the mesh");
        }
    }
}

/// Hands envelopes from other nodes to the chat's session actor here (if one runs: it has
/// the subscribers) and to the targeted users' push channels.
async fn deliver_remote(registry: Mailbox<Msg>, mut deliveries: Inbox<Delivery>) {
    while let Some(delivery) = deliveries.recv().await {
        let envelope = match delivery {
            Delivery::Envelope(envelope) => envelope,
            Delivery::Resync => {
                if registry.send(Msg::CheckTails).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if !envelope.push_to.is_empty() {
            // Targets that see the session alike (a group's members) share one frame, made
            // once: the frame depends on the target only through the session's name and icon.
            let mut alike: HashMap<(&str, &str), (Vec<UserId>, Utf8Bytes)> = HashMap::new();
            for target in &envelope.push_to {
                alike
                    .entry((&target.session_name, &target.session_icon))
                    .or_insert_with(|| {
                        let frame = Utf8Bytes::from(envelope.push_down(target).to_text());
                        (Vec::new(), frame)
                    })
                    .0
                    .push(target.uid.clone());
            }
            let frames = alike
                .into_values()
                .map(|(uids, frame)| (Arc::from(uids), frame))
                .collect();
            if registry
                .send(Msg::Push { deliveries: frames })
                .await
                .is_err()
            {
                return;
            }
        }
        if !envelope.to_chat {
            continue;
        }
        let sid = envelope.session_id.clone();
        let sid_for_log = sid.clone();
        let Ok(handle) = registry.request(|reply| Msg::Lookup { sid, reply }).await else {
            return;
        };
        if let Some(handle) = handle {
            // One stuck chat (its store write hangs) must not hold up every other chat's
            // deliveries: give it a moment, then drop the event; the chat reads the gap from
            // the store when the next event shows it. A retiring actor takes nothing either.
            let sent = runtime::deadline(REMOTE_DELIVERY_WAIT, handle.remote(envelope)).await;
            if sent.is_err() {
                tracing::warn!(sid = %sid_for_log, "a chat is not taking events from other nodes: one dropped");
            }
        }
    }
}
