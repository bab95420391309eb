//! The node actor: the only caller of [`NodeCore`], fed one [`Input`] at a time, and the
//! task that reads SWIM datagrams into its mailbox.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_net::UdpSocket;
use futures_lite::FutureExt;
use runtime::{Inbox, Mailbox, Shutdown, Spawner, TrySend};

use super::handshake::{Auth, now_micros};
use super::stats::{Counters, bump};
use super::{Input, MeshInfo, RESOLVE_FAILURE_TTL, RESOLVE_TTL, SubscriptionVersion, links};
use crate::config::{MeshConfig, RECONNECT_MIN};
use crate::envelope::{self, Envelope};
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::link::{self, Frame};
use crate::node::{NodeCore, Output};
use crate::seal::{Opener, Refused, Sealer};
use crate::subscriptions::Topic;

/// What the node actor holds of one peer's link writer.
pub(super) struct LinkQueue {
    /// Encoded frames for the writer, in order.
    pub(super) frames: Mailbox<Vec<u8>>,
    /// Set when a frame was dropped at a full queue: the writer sends [`Frame::Lost`] after
    /// its next batch and clears it.
    pub(super) lost: Arc<AtomicBool>,
}

pub(super) struct NodeActor {
    pub(super) core: NodeCore,
    /// Time zero of the core's clock.
    pub(super) origin: Instant,
    /// Seals our datagrams.
    pub(super) sealer: Sealer,
    /// The key and our run, for link writers.
    pub(super) auth: Arc<Auth>,
    pub(super) udp: UdpSocket,
    /// Each live peer's link writer.
    pub(super) links: HashMap<NodeId, LinkQueue>,
    /// Peer names resolved recently (`None`: the lookup failed; not retried for a while, so
    /// a dead name does not stall the actor on every datagram).
    pub(super) resolved: HashMap<String, (Option<SocketAddr>, Instant)>,
    pub(super) spawner: Spawner,
    pub(super) config: MeshConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) shutdown: Shutdown,
}

/// What woke the node actor.
enum Wake {
    Input(Input),
    Timer,
    Stop,
}

impl NodeActor {
    pub(super) async fn run(mut self, mut inbox: Inbox<Input>) -> Result<()> {
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
pub(super) async fn read_datagrams(
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
