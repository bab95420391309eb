//! The mesh node for real: one actor drives a [`NodeCore`] with UDP datagrams, timers and
//! local commands, and one TCP link per live peer carries envelopes and anti-entropy.
//!
//! - The node actor is the core's only caller. Everything reaches it as one `Input` through
//!   its bounded mailbox: datagrams (from the UDP reader task), control frames (from link
//!   readers), and commands from [`Mesh`] handles. Timers are the core's own ordered queue;
//!   the actor sleeps until [`NodeCore::next_deadline`].
//! - Each live peer gets a link writer task with a bounded queue ([`MeshConfig::link_queue`]):
//!   it dials the peer's advertised `host:port` (resolved at dial time, so a name behind NAT
//!   works), says [`Frame::Hello`], then writes frames in order, batching what is queued. A
//!   full queue drops the frame and counts it: publishers never wait on a slow or dead peer.
//!   A lost frame is repaired by the receiver: its session reads the gap from the store, and
//!   the writer follows its next batch with [`Frame::Lost`], so that a receiver with no later
//!   event to show the gap reads the chat's tail ([`Delivery::Resync`]).
//! - Inbound links are read by one task each: control frames go to the node actor, envelopes
//!   to the application's delivery inbox, waiting when it is full (TCP then pushes back).
//! - On stop, the node leaves the cluster (foca tells a few members), so peers drop it at once
//!   instead of after a suspicion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::{TcpListener, TcpStream, UdpSocket};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use runtime::{Inbox, Mailbox, Reply, Shutdown, Spawner, TrySend};
use serde::Serialize;

use crate::config::{MAX_PACKET, MeshConfig, RECONNECT_MAX, RECONNECT_MIN};
use crate::envelope::{self, Envelope};
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::link::{self, Decoded, Frame};
use crate::node::{Control, CoreStats, MemberView, MeshStatus, NodeCore, Output};
use crate::subscriptions::Topic;

/// Inputs queued for the node actor. Datagrams beyond it are dropped (SWIM tolerates loss);
/// commands wait. A few thousand covers a burst of publishes from every chat at once.
const NODE_CAPACITY: usize = 4096;

/// Inbound links open at once; more are refused (a cluster has far fewer members).
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
    /// Inbound links refused or cut for a bad frame.
    pub bad_frames: u64,
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
        }
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
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
        let origin = Instant::now();
        core.start(Duration::ZERO);

        spawner.detach_with(
            read_datagrams(udp.clone(), tx.clone(), counters.clone()),
            &shutdown,
        );
        spawner.detach_with(
            accept_links(
                tcp,
                spawner.clone(),
                tx.clone(),
                deliver,
                counters.clone(),
                config.connect_timeout,
                shutdown.clone(),
            ),
            &shutdown,
        );
        let actor = NodeActor {
            core,
            origin,
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
        let writer = write_link(
            self.core.id().clone(),
            node,
            frames,
            lost,
            self.counters.clone(),
            self.config.connect_timeout,
            self.config.bind.ip(),
        );
        self.spawner.detach_with(writer, &self.shutdown);
    }

    async fn send_datagram(&mut self, to: &str, bytes: &[u8]) {
        let Some(addr) = self.resolve(to).await else {
            return;
        };
        match self.udp.send_to(bytes, addr).await {
            Ok(_) => {
                bump(&self.counters.datagrams_sent, 1);
                bump(&self.counters.datagram_bytes_sent, bytes.len() as u64);
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

/// Reads SWIM datagrams and hands them to the node actor (dropping them if it is busy).
async fn read_datagrams(udp: UdpSocket, node: Mailbox<Input>, counters: Arc<Counters>) {
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        let (len, _from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from a peer that went away surface here; do not spin on them.
                tracing::debug!(error = %e, "datagram receive failed");
                runtime::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        bump(&counters.datagrams_received, 1);
        let Some(bytes) = buf.get(..len).filter(|_| len <= MAX_PACKET) else {
            bump(&counters.datagrams_dropped, 1);
            continue;
        };
        match node.try_send(Input::Datagram(bytes.to_vec())) {
            Ok(()) => {}
            Err(TrySend::Full(_)) => bump(&counters.datagrams_dropped, 1),
            Err(_) => return,
        }
    }
}

/// Accepts inbound links; each is read by its own task.
async fn accept_links(
    tcp: TcpListener,
    spawner: Spawner,
    node: Mailbox<Input>,
    deliver: Mailbox<Delivery>,
    counters: Arc<Counters>,
    hello_timeout: Duration,
    shutdown: Shutdown,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "mesh accept failed");
                runtime::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        if counters.inbound_links.load(Ordering::Relaxed) >= MAX_INBOUND_LINKS {
            tracing::warn!(%peer, "too many inbound mesh links: refused");
            continue;
        }
        bump(&counters.inbound_links, 1);
        let counters = counters.clone();
        let deliver = deliver.clone();
        let reader = read_link(
            stream,
            node.clone(),
            deliver.clone(),
            counters.clone(),
            hello_timeout,
        );
        spawner.detach_with(
            async move {
                match reader.await {
                    Ok(()) => {}
                    Err(Error::Version(theirs)) => {
                        bump(&counters.bad_frames, 1);
                        // Not a passing fault: nothing flows between these two until one is
                        // upgraded, so say it where an operator looks.
                        tracing::warn!(
                            %peer,
                            theirs,
                            ours = link::LINK_VERSION,
                            "a peer speaks another mesh format version: its events are refused; run one cookim release on every node"
                        );
                    }
                    Err(e) => {
                        bump(&counters.bad_frames, 1);
                        tracing::debug!(error = %e, %peer, "inbound mesh link closed");
                    }
                }
                // What was in flight on it may be lost (never waits: a full inbox already
                // holds work that ends in a check).
                let _ = deliver.try_send(Delivery::Resync);
                counters.inbound_links.fetch_sub(1, Ordering::Relaxed);
            },
            &shutdown,
        );
    }
}

/// Reads one inbound link: a hello, then control frames and envelopes.
async fn read_link(
    mut stream: TcpStream,
    node: Mailbox<Input>,
    deliver: Mailbox<Delivery>,
    counters: Arc<Counters>,
    hello_timeout: Duration,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let hello = runtime::deadline(hello_timeout, next_frame(&mut stream, &mut buf))
        .await
        .map_err(|_| Error::Malformed("no hello in time".into()))??;
    let Some(Frame::Hello(from)) = hello else {
        return Err(Error::Malformed("a link must start with hello".into()));
    };
    // A new link from a peer can mean its last one broke with events in flight.
    deliver.send(Delivery::Resync).await?;
    while let Some(frame) = next_frame(&mut stream, &mut buf).await? {
        match frame {
            Frame::Hello(_) => return Err(Error::Malformed("a second hello".into())),
            Frame::Control(msg) => {
                let from = from.clone();
                node.send(Input::Control { from, msg }).await?;
            }
            Frame::Envelope(bytes) => {
                let envelope = envelope::decode(&bytes)?;
                bump(&counters.envelopes_received, 1);
                deliver.send(Delivery::Envelope(Box::new(envelope))).await?;
            }
            Frame::Lost => deliver.send(Delivery::Resync).await?,
        }
    }
    Ok(())
}

/// The next frame of a link; `None` when the peer closed it between frames.
async fn next_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Frame>> {
    loop {
        if let Decoded::Frame(frame, used) = link::decode(buf)? {
            buf.drain(..used);
            return Ok(Some(frame));
        }
        let start = buf.len();
        buf.resize(start + READ_CHUNK, 0);
        let read = stream.read(buf.get_mut(start..).unwrap_or_default()).await;
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(start);
                return Err(e.into());
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Error::Malformed("link closed inside a frame".into()))
            };
        }
    }
}

/// Writes one peer's link: dial, hello, then queued frames in order, reconnecting with
/// backoff; a [`Frame::Lost`] mark after the batch following a drop. Ends when its queue is
/// dropped (the peer went down) and drained.
async fn write_link(
    me: NodeId,
    peer: NodeId,
    mut frames: Inbox<Vec<u8>>,
    lost: Arc<AtomicBool>,
    counters: Arc<Counters>,
    connect_timeout: Duration,
    source: std::net::IpAddr,
) {
    let (hello, lost_mark) = match (link::encode(&Frame::Hello(me)), link::encode(&Frame::Lost)) {
        (Ok(hello), Ok(lost_mark)) => (hello, lost_mark),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "link frames not encoded");
            return;
        }
    };
    let lost = Lost {
        flag: &lost,
        mark: &lost_mark,
        counter: &counters.lost_marks_sent,
    };
    let mut backoff = RECONNECT_MIN;
    loop {
        let connected = runtime::deadline(connect_timeout, async {
            let mut stream = dial(peer.addr(), source).await?;
            stream.set_nodelay(true)?;
            stream.write_all(&hello).await?;
            Ok::<TcpStream, std::io::Error>(stream)
        })
        .await;
        let mut stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, %peer, "mesh link not connected");
                // A peer that went down and cannot be reached gets nothing more: what is still
                // queued for it is stale (a new run of it is a new member with a new link).
                if frames.is_closed() {
                    return;
                }
                runtime::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
            Err(_) => {
                tracing::debug!(%peer, "mesh link connect timed out");
                if frames.is_closed() {
                    return;
                }
                continue;
            }
        };
        bump(&counters.links_opened, 1);
        backoff = RECONNECT_MIN;
        tracing::debug!(%peer, "mesh link open");
        match pump(&mut stream, &mut frames, &lost).await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, %peer, "mesh link broke; reconnecting"),
        }
    }
}

/// Connects to `addr` (`host:port`). When the mesh is bound to one address rather than all,
/// the link leaves from it too, so the peer, a firewall or a proxy between them sees the node
/// by the address it listens on (a multi-homed host would otherwise pick by route). A
/// loopback bind is used only towards loopback peers, which are the only ones it can reach.
async fn dial(addr: &str, source: std::net::IpAddr) -> std::io::Result<TcpStream> {
    if source.is_unspecified() {
        return TcpStream::connect(addr).await;
    }
    let mut last = None;
    for target in async_net::resolve(addr).await? {
        if target.is_ipv4() != source.is_ipv4() || target.ip().is_loopback() != source.is_loopback()
        {
            continue;
        }
        match connect_from(source, target).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        None => TcpStream::connect(addr).await,
    }
}

/// A non-blocking connect from `source` (any port) to `target`.
async fn connect_from(source: std::net::IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    let stream = async_io::Async::new(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    Ok(TcpStream::from(stream))
}

/// Writes queued frames, batching whatever is already waiting into one write. `Ok` when the
/// queue is closed and drained.
async fn pump(
    stream: &mut TcpStream,
    frames: &mut Inbox<Vec<u8>>,
    lost: &Lost<'_>,
) -> std::io::Result<()> {
    let mut batch = Vec::new();
    loop {
        batch.clear();
        match frames.recv().await {
            Some(frame) => batch.extend(frame),
            None => return stream.flush().await,
        }
        while batch.len() < READ_CHUNK
            && let Some(frame) = frames.try_recv()
        {
            batch.extend(frame);
        }
        if lost.flag.swap(false, Ordering::SeqCst) {
            batch.extend_from_slice(lost.mark);
            bump(lost.counter, 1);
        }
        if batch.is_empty() {
            continue;
        }
        // On failure the batch is lost: the peer reads what it misses from the store when
        // this link comes back (its hello) or its own inbound link breaks.
        stream.write_all(&batch).await?;
    }
}

/// A link's drop mark, as its writer sees it.
struct Lost<'a> {
    flag: &'a AtomicBool,
    /// [`Frame::Lost`], encoded.
    mark: &'a [u8],
    counter: &'a AtomicU64,
}
