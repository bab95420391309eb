//! The mesh node for real: one actor drives a [`NodeCore`] with UDP datagrams, timers and
//! local commands, and one TCP link per live peer carries envelopes and anti-entropy.
//!
//! - The node actor is the core's only caller. Everything reaches it as one `Input` through
//!   its bounded mailbox: datagrams (from the UDP reader task), control frames (from link
//!   readers), and commands from [`Mesh`] handles. Timers are the core's own ordered queue;
//!   the actor sleeps until [`NodeCore::next_deadline`].
//! - Each live peer gets a link writer task with a bounded queue ([`MeshConfig::link_queue`]):
//!   it dials the peer's advertised `host:port` (resolved at dial time, so a name behind NAT
//!   works), authenticates (both ends prove they hold the cluster key, see [`crate::auth`]),
//!   then writes frames in order, batching what is queued. A
//!   full queue drops the frame and counts it: publishers never wait on a slow or dead peer.
//!   A lost frame is repaired by the receiver: its session reads the gap from the store, and
//!   the writer follows its next batch with [`Frame::Lost`], so that a receiver with no later
//!   event to show the gap reads the chat's tail ([`Delivery::Resync`]).
//! - Inbound links are read by one task each, once the dialer proved it holds the key within
//!   the hello timeout (at most a few connections are in that state at once, see
//!   `handshake`): control frames go to the node actor as from the run the dialer proved it
//!   is, envelopes to the application's delivery inbox, waiting when it is full (TCP then
//!   pushes back).
//! - SWIM datagrams are sealed with the key and a counter on the way out and opened on the
//!   way in ([`crate::seal`]): forged, altered and replayed ones never reach foca.
//! - On stop, the node leaves the cluster (foca tells a few members), so peers drop it at once
//!   instead of after a suspicion.

mod handshake;
mod links;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::{TcpListener, UdpSocket};
use futures_lite::FutureExt;
use runtime::{Inbox, Mailbox, Reply, Shutdown, Spawner, TrySend};
use serde::Serialize;

use crate::auth::ClusterSecret;
use crate::config::{MeshConfig, RECONNECT_MIN};
use crate::envelope::{self, Envelope};
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::link::{self, Frame};
use crate::node::{Control, CoreStats, MemberView, MeshStatus, NodeCore, Output};
use crate::refusals::RefusalLog;
use crate::seal::{Opener, Refused, Sealer};
use crate::subscriptions::Topic;

/// Inputs queued for the node actor. Datagrams beyond it are dropped (SWIM tolerates loss);
/// commands wait. A few thousand covers a burst of publishes from every chat at once.
const NODE_CAPACITY: usize = 4096;

/// Authenticated inbound links open at once; more are refused (a cluster has far fewer
/// members). Connections still in the handshake count against
/// [`crate::config::MAX_HANDSHAKES`] instead.
const MAX_INBOUND_LINKS: u64 = 256;

/// How long a resolved peer name is trusted before it is resolved again (a restarted
/// container may come back on another address under the same name).
const RESOLVE_TTL: Duration = Duration::from_secs(10);

/// How long a failed lookup is remembered before the name is tried again.
const RESOLVE_FAILURE_TTL: Duration = Duration::from_secs(1);

/// Read buffer of a link reader.
const READ_CHUNK: usize = 64 * 1024;

/// What the mesh hands the application.
#[derive(Debug)]
pub enum Delivery {
    /// An event another node published to this one.
    Envelope(Box<Envelope>),
    /// Events for this node may have been lost: a link from another node opened or closed
    /// (what was in flight on a broken one is gone), or a peer dropped frames for this node at
    /// its full link queue ([`Frame::Lost`]). A lost event shows as a gap only when a later one
    /// arrives: what depends on them (a chat's last messages) should be read again from the
    /// store.
    Resync,
}

/// What the node actor handles, one at a time.
enum Input {
    /// A SWIM datagram arrived.
    Datagram(Vec<u8>),
    /// A control frame arrived over the link from `from`.
    Control { from: NodeId, msg: Control },
    /// A local topic gained its first subscriber.
    Subscribe(Topic),
    /// A local topic lost its last subscriber.
    Unsubscribe(Topic),
    /// Send an event to the nodes with subscribers for it (boxed: an envelope is several
    /// hundred bytes, the other inputs a few dozen).
    Publish(Box<Envelope>),
    /// Report the node's view.
    Info(Reply<MeshInfo>),
    /// Nodes with subscribers for a topic.
    NodesFor(Topic, Reply<Vec<NodeId>>),
}

/// Counters of the transport, next to the core's.
#[derive(Debug, Default)]
struct Counters {
    datagrams_sent: AtomicU64,
    datagram_bytes_sent: AtomicU64,
    datagrams_received: AtomicU64,
    datagrams_dropped: AtomicU64,
    envelopes_sent: AtomicU64,
    envelope_bytes_sent: AtomicU64,
    envelopes_received: AtomicU64,
    envelopes_dropped: AtomicU64,
    lost_marks_sent: AtomicU64,
    links_opened: AtomicU64,
    inbound_links: AtomicU64,
    bad_frames: AtomicU64,
    auth_failures: AtomicU64,
    handshakes_evicted: AtomicU64,
    datagram_auth_failures: AtomicU64,
    datagram_replays: AtomicU64,
}

/// A snapshot of the transport counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransportStats {
    /// SWIM datagrams sent.
    pub datagrams_sent: u64,
    /// Their bytes.
    pub datagram_bytes_sent: u64,
    /// SWIM datagrams received.
    pub datagrams_received: u64,
    /// Datagrams dropped: the node actor's queue was full, or one was over the size limit.
    pub datagrams_dropped: u64,
    /// Envelopes queued to peers' links.
    pub envelopes_sent: u64,
    /// Their frame bytes (length prefix included).
    pub envelope_bytes_sent: u64,
    /// Envelopes received from peers.
    pub envelopes_received: u64,
    /// Envelopes not sent: a peer's link queue was full.
    pub envelopes_dropped: u64,
    /// [`Frame::Lost`] marks sent after drops, each telling a peer to read what it missed.
    pub lost_marks_sent: u64,
    /// Outbound link connections made (reconnects included).
    pub links_opened: u64,
    /// Authenticated inbound links cut for a bad frame.
    pub bad_frames: u64,
    /// Link handshakes that failed, either side: a peer without the cluster key (or another
    /// link version, or garbage), or an inbound connection that sent no proof in time.
    pub auth_failures: u64,
    /// Inbound connections cut in the handshake to make room for a newer one (too many
    /// unauthenticated connections at once).
    pub handshakes_evicted: u64,
    /// SWIM datagrams refused for a missing or wrong MAC (another cluster key, altered,
    /// garbage).
    pub datagram_auth_failures: u64,
    /// SWIM datagrams refused as replays (a counter seen before, or too old).
    pub datagram_replays: u64,
}

impl Counters {
    fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            datagrams_sent: get(&self.datagrams_sent),
            datagram_bytes_sent: get(&self.datagram_bytes_sent),
            datagrams_received: get(&self.datagrams_received),
            datagrams_dropped: get(&self.datagrams_dropped),
            envelopes_sent: get(&self.envelopes_sent),
            envelope_bytes_sent: get(&self.envelope_bytes_sent),
            envelopes_received: get(&self.envelopes_received),
            envelopes_dropped: get(&self.envelopes_dropped),
            lost_marks_sent: get(&self.lost_marks_sent),
            links_opened: get(&self.links_opened),
            bad_frames: get(&self.bad_frames),
            auth_failures: get(&self.auth_failures),
            handshakes_evicted: get(&self.handshakes_evicted),
            datagram_auth_failures: get(&self.datagram_auth_failures),
            datagram_replays: get(&self.datagram_replays),
        }
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// What the tasks that authenticate peers share.
#[derive(Debug)]
struct Auth {
    /// The cluster key.
    secret: ClusterSecret,
    /// Our run, which links prove themselves to and for.
    me: NodeId,
    /// Which refusals to log (shared by the link tasks and the datagram reader; locked
    /// briefly, never across an await).
    refusals: Mutex<RefusalLog>,
}

impl Auth {
    /// Logs a peer's failed authentication, at most once per address per interval.
    fn refused(&self, ip: IpAddr, error: &Error) {
        let log = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .should_log(ip, Instant::now());
        if !log {
            return;
        }
        match error {
            // Not an attack: nothing flows between these two until one is upgraded, so say
            // it where an operator looks.
            Error::Version(theirs) => tracing::warn!(
                peer = %ip,
                theirs,
                ours = link::LINK_VERSION,
                "a peer speaks another mesh format version: its links are refused; run one cookim release on every node"
            ),
            _ => tracing::warn!(
                peer = %ip,
                error = %error,
                "a mesh peer failed authentication: is it using another cluster secret? (logged once a minute per address)"
            ),
        }
    }
}

/// The wall clock in microseconds since the epoch: where a run's datagram counter starts.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// The node's view of the cluster, for health and members endpoints.
#[derive(Clone, Debug, Serialize)]
pub struct MeshInfo {
    /// This node's run.
    pub me: NodeId,
    /// Joining, joined, alone or left.
    pub status: MeshStatus,
    /// Every member foca knows (this node excluded), with its state.
    pub members: Vec<MemberView>,
    /// The subscription table's digest: each node's entry version as this node knows it
    /// (a node's own change has spread once every member shows its new version).
    pub subscriptions: Vec<SubscriptionVersion>,
    /// Core counters.
    pub core: CoreStats,
    /// Transport counters.
    pub transport: TransportStats,
}

/// One node's subscription entry version, as another node knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionVersion {
    /// The node whose entry it is.
    pub node: NodeId,
    /// Its version.
    pub version: u64,
}

/// A handle to the running mesh node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mesh {
    tx: Mailbox<Input>,
    me: NodeId,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Input::Datagram(_) => "Datagram",
            Input::Control { .. } => "Control",
            Input::Subscribe(_) => "Subscribe",
            Input::Unsubscribe(_) => "Unsubscribe",
            Input::Publish(_) => "Publish",
            Input::Info(_) => "Info",
            Input::NodesFor(..) => "NodesFor",
        })
    }
}

impl Mesh {
    /// Binds UDP and TCP on `config.bind` (the same port for both), starts the node actor and
    /// its tasks on `spawner`, and joins through the seeds. Envelopes from other nodes, and
    /// word of links to this node opening and closing, arrive in the returned inbox. The node
    /// leaves the cluster and stops when `shutdown` fires; its tasks hold `shutdown` until
    /// then.
    ///
    /// # Errors
    /// [`Error::Io`] if the ports cannot be bound; [`Error::Config`] if the tuning is invalid.
    pub async fn start(
        config: MeshConfig,
        spawner: &Spawner,
        shutdown: Shutdown,
    ) -> Result<(Mesh, Inbox<Delivery>)> {
        let (udp, tcp) = bind_pair(config.bind).await?;
        let local_addr = udp.local_addr()?;
        let advertise = if config.advertise.is_empty() {
            local_addr.to_string()
        } else {
            config.advertise.clone()
        };
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let me = NodeId::new(advertise, started);
        let mut core = NodeCore::new(
            me.clone(),
            config.seeds.clone(),
            config.tuning.clone(),
            started ^ u64::from(local_addr.port()),
        )?;
        let (tx, inbox) = runtime::mailbox(NODE_CAPACITY);
        let (deliver, deliveries) = runtime::mailbox(config.delivery_queue.max(1));
        let counters = Arc::new(Counters::default());
        let auth = Arc::new(Auth {
            secret: config.cluster_secret.clone(),
            me: me.clone(),
            refusals: Mutex::new(RefusalLog::default()),
        });
        let origin = Instant::now();
        core.start(Duration::ZERO);

        spawner.detach_with(
            read_datagrams(
                udp.clone(),
                tx.clone(),
                counters.clone(),
                auth.clone(),
                config.tuning.max_packet,
            ),
            &shutdown,
        );
        spawner.detach_with(
            links::accept_links(
                tcp,
                spawner.clone(),
                tx.clone(),
                deliver,
                counters.clone(),
                auth.clone(),
                config.connect_timeout,
                shutdown.clone(),
            ),
            &shutdown,
        );
        let actor = NodeActor {
            core,
            origin,
            sealer: Sealer::new(me.addr()),
            auth,
            udp,
            links: HashMap::new(),
            resolved: HashMap::new(),
            spawner: spawner.clone(),
            config,
            counters,
            shutdown: shutdown.clone(),
        };
        spawner.spawn_actor("mesh-node", actor.run(inbox)).detach();
        tracing::info!(node = %me, %local_addr, "mesh node started");
        Ok((Mesh { tx, me, local_addr }, deliveries))
    }

    /// This node's run.
    pub fn id(&self) -> &NodeId {
        &self.me
    }

    /// The bound UDP/TCP address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The local subscriber count of `topic` went from 0 to 1.
    ///
    /// # Errors
    /// [`Error::Closed`] if the node has stopped.
    pub async fn subscribe(&self, topic: Topic) -> Result<()> {
        Ok(self.tx.send(Input::Subscribe(topic)).await?)
    }

    /// The local subscriber count of `topic` went from 1 to 0.
    ///
    /// # Errors
    /// [`Error::Closed`] if the node has stopped.
    pub async fn unsubscribe(&self, topic: Topic) -> Result<()> {
        Ok(self.tx.send(Input::Unsubscribe(topic)).await?)
    }

    /// Sends `envelope` to every other node with subscribers for its chat or its push
    /// targets (each node gets only the push targets subscribed there).
    ///
    /// # Errors
    /// [`Error::Closed`] if the node has stopped.
    pub async fn publish(&self, envelope: Envelope) -> Result<()> {
        Ok(self.tx.send(Input::Publish(Box::new(envelope))).await?)
    }

    /// The node's view of the cluster.
    ///
    /// # Errors
    /// [`Error::Closed`] if the node has stopped.
    pub async fn info(&self) -> Result<MeshInfo> {
        Ok(self.tx.request(Input::Info).await?)
    }

    /// Other nodes with subscribers for `topic`, as this node knows it.
    ///
    /// # Errors
    /// [`Error::Closed`] if the node has stopped.
    pub async fn nodes_for(&self, topic: Topic) -> Result<Vec<NodeId>> {
        Ok(self
            .tx
            .request(|reply| Input::NodesFor(topic, reply))
            .await?)
    }
}

/// Binds UDP and TCP to the same port: the given one, or (port 0) a free one for both (a UDP
/// port whose TCP twin is taken, e.g. by an outgoing connection, is given up for another).
///
/// # Errors
/// [`Error::Io`] if either cannot be bound; with port 0, after 16 tries.
pub async fn bind_pair(bind: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(bind).await?;
        let mut tcp_addr = bind;
        tcp_addr.set_port(udp.local_addr()?.port());
        match TcpListener::bind(tcp_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(e) if bind.port() == 0 => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(|| Error::Config("no free port".into()), Error::from))
}

/// What the node actor holds of one peer's link writer.
struct LinkQueue {
    /// Encoded frames for the writer, in order.
    frames: Mailbox<Vec<u8>>,
    /// Set when a frame was dropped at a full queue: the writer sends [`Frame::Lost`] after
    /// its next batch and clears it.
    lost: Arc<AtomicBool>,
}

struct NodeActor {
    core: NodeCore,
    /// Time zero of the core's clock.
    origin: Instant,
    /// Seals our datagrams.
    sealer: Sealer,
    /// The key and our run, for link writers.
    auth: Arc<Auth>,
    udp: UdpSocket,
    /// Each live peer's link writer.
    links: HashMap<NodeId, LinkQueue>,
    /// Peer names resolved recently (`None`: the lookup failed; not retried for a while, so
    /// a dead name does not stall the actor on every datagram).
    resolved: HashMap<String, (Option<SocketAddr>, Instant)>,
    spawner: Spawner,
    config: MeshConfig,
    counters: Arc<Counters>,
    shutdown: Shutdown,
}

/// What woke the node actor.
enum Wake {
    Input(Input),
    Timer,
    Stop,
}

impl NodeActor {
    async fn run(mut self, mut inbox: Inbox<Input>) -> Result<()> {
        self.flush().await;
        loop {
            let deadline = self.core.next_deadline();
            let origin = self.origin;
            let wake = async { inbox.recv().await.map_or(Wake::Stop, Wake::Input) }
                .or(async {
                    match deadline {
                        Some(at) => {
                            async_io::Timer::at(origin + at).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                    Wake::Timer
                })
                .or(async {
                    self.shutdown.wait().await;
                    Wake::Stop
                })
                .await;
            let now = self.now();
            match wake {
                Wake::Stop => break,
                Wake::Timer => self.core.advance(now),
                Wake::Input(input) => {
                    self.handle(input, now);
                    // A busy inbox always wins the race above: run timers that are due anyway,
                    // so probes and suspicions keep their schedule under load.
                    if self.core.next_deadline().is_some_and(|at| at <= now) {
                        self.core.advance(now);
                    }
                }
            }
            self.flush().await;
        }
        self.core.leave(self.now());
        self.flush().await;
        tracing::info!(node = %self.core.id(), "left the cluster");
        Ok(())
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn handle(&mut self, input: Input, now: Duration) {
        match input {
            Input::Datagram(bytes) => self.core.handle_datagram(&bytes, now),
            Input::Control { from, msg } => self.core.handle_control(&from, msg, now),
            Input::Subscribe(topic) => self.core.subscribe(topic, now),
            Input::Unsubscribe(topic) => self.core.unsubscribe(topic, now),
            Input::Publish(envelope) => self.publish(*envelope),
            Input::Info(reply) => reply.send(MeshInfo {
                me: self.core.id().clone(),
                status: self.core.status(),
                members: self
                    .core
                    .members()
                    .into_iter()
                    .filter(|m| m.id != *self.core.id())
                    .collect(),
                subscriptions: self
                    .core
                    .table()
                    .digest()
                    .into_iter()
                    .map(|(node, version)| SubscriptionVersion { node, version })
                    .collect(),
                core: self.core.stats(),
                transport: self.counters.snapshot(),
            }),
            Input::NodesFor(topic, reply) => reply.send(self.core.nodes_for(&topic)),
        }
    }

    /// Splits an envelope per node: each gets the chat part if it has chat subscribers and
    /// only the push targets subscribed there.
    fn publish(&mut self, envelope: Envelope) {
        let chat_nodes: BTreeSet<NodeId> = if envelope.to_chat {
            self.core
                .nodes_for(&Topic::Chat(envelope.session_id.clone()))
                .into_iter()
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut per_node: BTreeMap<NodeId, Vec<crate::envelope::PushTarget>> =
            chat_nodes.iter().map(|n| (n.clone(), Vec::new())).collect();
        for target in &envelope.push_to {
            for node in self.core.nodes_for(&Topic::Push(target.uid.clone())) {
                per_node.entry(node).or_default().push(target.clone());
            }
        }
        for (node, push_to) in per_node {
            let part = Envelope {
                to_chat: chat_nodes.contains(&node),
                push_to,
                ..envelope.clone()
            };
            match envelope::encode(&part).and_then(|bytes| link::encode(&Frame::Envelope(bytes))) {
                Ok(frame) => {
                    let len = frame.len() as u64;
                    if self.send_frame(&node, frame) {
                        bump(&self.counters.envelopes_sent, 1);
                        bump(&self.counters.envelope_bytes_sent, len);
                    } else {
                        bump(&self.counters.envelopes_dropped, 1);
                    }
                }
                Err(e) => tracing::warn!(error = %e, envelope = %part, "envelope not sent"),
            }
        }
    }

    /// Queues a frame on `node`'s link; false if there is no link or its queue is full.
    fn send_frame(&mut self, node: &NodeId, frame: Vec<u8>) -> bool {
        let Some(link) = self.links.get(node) else {
            return false;
        };
        match link.frames.try_send(frame) {
            Ok(()) => true,
            Err(TrySend::Full(_)) => {
                tracing::debug!(peer = %node, "link queue full: frame dropped");
                link.lost.store(true, Ordering::SeqCst);
                // The writer looks at the mark after each batch. Should it have emptied the
                // queue since the send failed, an empty frame (no bytes on the wire) wakes it.
                let _ = link.frames.try_send(Vec::new());
                false
            }
            Err(_) => {
                self.links.remove(node);
                false
            }
        }
    }

    /// Carries out everything the core asked for.
    async fn flush(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Datagram { to, bytes } => self.send_datagram(&to, &bytes).await,
                Output::Control { to, msg } => match link::encode(&Frame::Control(msg)) {
                    Ok(frame) => {
                        self.send_frame(&to, frame);
                    }
                    Err(e) => tracing::warn!(error = %e, "control frame not encoded"),
                },
                Output::MemberUp(node) => self.open_link(node),
                Output::MemberDown(node) => {
                    // Dropping the queue ends its writer once it has sent what was queued.
                    self.links.remove(&node);
                }
            }
        }
    }

    fn open_link(&mut self, node: NodeId) {
        if self.links.contains_key(&node) {
            return;
        }
        let (queue, frames) = runtime::mailbox(self.config.link_queue.max(1));
        let lost = Arc::new(AtomicBool::new(false));
        self.links.insert(
            node.clone(),
            LinkQueue {
                frames: queue,
                lost: lost.clone(),
            },
        );
        let writer = links::Writer {
            auth: self.auth.clone(),
            peer: node,
            counters: self.counters.clone(),
            connect_timeout: self.config.connect_timeout,
            source: self.config.bind.ip(),
        };
        let writer = links::write_link(writer, frames, lost);
        self.spawner.detach_with(writer, &self.shutdown);
    }

    async fn send_datagram(&mut self, to: &str, bytes: &[u8]) {
        let Some(addr) = self.resolve(to).await else {
            return;
        };
        let sealed = self
            .sealer
            .seal(&self.config.cluster_secret, bytes, now_micros());
        match self.udp.send_to(&sealed, addr).await {
            Ok(_) => {
                bump(&self.counters.datagrams_sent, 1);
                bump(&self.counters.datagram_bytes_sent, sealed.len() as u64);
            }
            Err(e) => tracing::debug!(error = %e, %to, "datagram not sent"),
        }
    }

    /// `host:port` to a socket address: literal addresses directly, names through the
    /// resolver (bounded by the connect timeout) with a short cache.
    async fn resolve(&mut self, to: &str) -> Option<SocketAddr> {
        if let Ok(addr) = to.parse::<SocketAddr>() {
            return Some(addr);
        }
        if let Some((addr, at)) = self.resolved.get(to) {
            let ttl = if addr.is_some() {
                RESOLVE_TTL
            } else {
                RESOLVE_FAILURE_TTL
            };
            if at.elapsed() < ttl {
                return *addr;
            }
        }
        let found = runtime::deadline(self.config.connect_timeout, async_net::resolve(to)).await;
        match found {
            Ok(Ok(addrs)) => {
                // A name may resolve to both families; the socket can use only its own.
                let ipv4 = self.udp.local_addr().is_ok_and(|a| a.is_ipv4());
                let addr = addrs.iter().find(|a| a.is_ipv4() == ipv4).copied();
                self.resolved.insert(to.to_owned(), (addr, Instant::now()));
                addr
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, %to, "peer name not resolved");
                self.resolved.insert(to.to_owned(), (None, Instant::now()));
                None
            }
            Err(_) => {
                tracing::debug!(%to, "peer name resolution timed out");
                self.resolved.insert(to.to_owned(), (None, Instant::now()));
                None
            }
        }
    }
}

/// Reads SWIM datagrams, opens them (see [`crate::seal`]) and hands foca's packets to the
/// node actor (dropping them if it is busy). Datagrams over `max_packet` are dropped.
async fn read_datagrams(
    udp: UdpSocket,
    node: Mailbox<Input>,
    counters: Arc<Counters>,
    auth: Arc<Auth>,
    max_packet: usize,
) {
    let mut buf = vec![0u8; max_packet + 1];
    // The replay windows: this task is their only user.
    let mut opener = Opener::default();
    loop {
        let (len, from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from a peer that went away surface here; do not spin on them.
                tracing::debug!(error = %e, "datagram receive failed");
                runtime::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        bump(&counters.datagrams_received, 1);
        let Some(bytes) = buf.get(..len).filter(|_| len <= max_packet) else {
            bump(&counters.datagrams_dropped, 1);
            continue;
        };
        let payload = match opener.open(&auth.secret, bytes) {
            Ok(payload) => payload,
            Err(Refused::Replayed) => {
                bump(&counters.datagram_replays, 1);
                tracing::debug!(%from, "replayed datagram refused");
                continue;
            }
            Err(refused) => {
                bump(&counters.datagram_auth_failures, 1);
                let error = Error::Auth(format!("datagram {refused:?}"));
                auth.refused(from.ip(), &error);
                continue;
            }
        };
        match node.try_send(Input::Datagram(payload.to_vec())) {
            Ok(()) => {}
            Err(TrySend::Full(_)) => bump(&counters.datagrams_dropped, 1),
            Err(_) => return,
        }
    }
}
