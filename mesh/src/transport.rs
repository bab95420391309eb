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
//!
//! # Layout
//! This file holds the handle ([`Mesh`]) and what it answers; `actor` the node actor and the
//! datagram reader; `links` the link writers and readers; `handshake` the links'
//! authentication and the slots that bound it; `stats` the counters.

mod actor;
mod handshake;
mod links;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::{TcpListener, UdpSocket};
use runtime::{Inbox, Mailbox, Reply, Shutdown, Spawner};
use serde::Serialize;

use crate::config::MeshConfig;
use crate::envelope::Envelope;
use crate::error::{Error, Result};
use crate::identity::NodeId;
#[cfg(doc)]
use crate::link::Frame;
use crate::node::{Control, CoreStats, MemberView, MeshStatus, NodeCore};
use crate::refusals::RefusalLog;
use crate::seal::Sealer;
use crate::subscriptions::Topic;
use actor::{NodeActor, read_datagrams};
use handshake::Auth;
pub use stats::TransportStats;
use stats::{Counters, bump};

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
