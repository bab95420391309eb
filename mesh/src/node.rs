//! The sans-IO core of a mesh node: [`NodeCore`] owns foca, the replicated subscription table
//! and one ordered timer queue, takes inputs with an explicit `now`, and returns
//! [`Output`]s for a shell to carry out. It never touches a socket or a clock, so the
//! simulation in `testbed` drives many of them deterministically and the actor in
//! [`crate::transport`] drives one for real.
//!
//! Time is a [`Duration`] since an origin the caller picks (the actor's start, or the
//! simulation's zero); it must not go backwards.
//!
//! # What it does
//! - Membership: SWIM through foca, joined through seed addresses (announced to until a
//!   member answers, and again whenever the node finds itself alone). Its identity renews
//!   itself when the cluster declares it down, so it rejoins on its own.
//! - Subscriptions: every local change is one [`Update`](crate::subscriptions::Update) gossiped as a foca custom broadcast;
//!   peers apply updates in version order. Every [`Tuning::anti_entropy_period`], and when a
//!   member comes up or a gossiped update shows a gap, the node sends its digest over the
//!   link ([`Control::Sync`]); the peer answers with the entries the node lacks
//!   ([`Control::Entries`]). Entries of nodes that are not live members are ignored, and a
//!   member's entry is dropped when it goes down.
//! - Members' liveness is read back from foca after every input and reported as
//!   [`Output::MemberUp`] / [`Output::MemberDown`], so the shell opens and closes links.
//!
//! # Whose word is taken
//! The shell hands the core only datagrams whose seal held ([`crate::seal`]) and control
//! messages from links whose peer proved the cluster key, with that peer's proven run as
//! `from` ([`crate::auth`]). Within that, the core never takes another node's word about
//! *this* node's entry, and ignores entries of nodes that are not live members. It does take
//! entries about a node X from a member other than X: foca re-gossips updates by design and an
//! anti-entropy answer carries every entry the asker lacks, so repair does not wait for X
//! itself. That is sound because every key holder is trusted alike: the key is shared, so a
//! per-entry MAC "by X" could be made by any member and would prove no more than the relaying
//! member's own seal or link proof already does.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::Tuning;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::identity::{NodeId, NodeIdentity};
use crate::subscriptions::{Digest, Entry, SubscriptionTable, Topic};
use gossip::{Gossip, Shared, lock};
pub use view::{CoreStats, MemberState, MemberView, MeshStatus};

mod gossip;
mod view;

/// Subscription anti-entropy, sent over the reliable link (an entry may be far larger than
/// a datagram).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// "This is what I know": answer with newer entries; if `reply`, also send your digest
    /// back when I have something newer than you.
    Sync {
        /// The sender's digest.
        digest: Digest,
        /// Whether the receiver should send its own digest back if the sender knows more.
        reply: bool,
    },
    /// Entries the receiver lacked.
    Entries(Vec<(NodeId, Entry)>),
}

/// What the shell must do after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this SWIM datagram to `to` (a `host:port` to resolve).
    Datagram {
        /// The peer's advertised address.
        to: String,
        /// The packet.
        bytes: Vec<u8>,
    },
    /// Send this control message over the link to `to`.
    Control {
        /// The peer.
        to: NodeId,
        /// The message.
        msg: Control,
    },
    /// `node` is a live member now: links to it may open.
    MemberUp(NodeId),
    /// `node` was declared down or left: close its link, forget its subscriptions.
    MemberDown(NodeId),
}

/// A scheduled event.
#[derive(Debug)]
enum Tick {
    /// One of foca's timers.
    Foca(foca::Timer<NodeIdentity>),
    /// Send our digest to a random member.
    AntiEntropy,
    /// Announce to the seeds if alone.
    SeedRetry,
}

type Swim = Foca<NodeIdentity, PostcardCodec, SmallRng, Gossip>;

/// One mesh node's state machine. See the module docs.
pub struct NodeCore {
    /// The SWIM state machine; this core is its only caller.
    foca: Swim,
    /// Collects what foca asks for during one call; drained right after it.
    runtime: AccumulatingRuntime<NodeIdentity>,
    /// Shared with foca's broadcast handler.
    shared: Arc<Mutex<Shared>>,
    /// Our run.
    me: NodeId,
    /// Where to announce ourselves when alone.
    seeds: Vec<String>,
    /// Timings.
    tuning: Tuning,
    /// Every scheduled event by (due time, insertion order): one ordered scheduler for foca's
    /// timers and ours, so same-time events keep the order they were scheduled in.
    timers: BTreeMap<(Duration, u64), Tick>,
    /// Next insertion number for `timers`.
    timer_seq: u64,
    /// Latest time seen.
    now: Duration,
    /// Picks anti-entropy partners; seeded, so the simulation replays.
    rng: SmallRng,
    /// Live members as last read from foca.
    live: BTreeMap<NodeId, NodeIdentity>,
    /// Whether any member ever answered.
    joined_once: bool,
    /// Whether we left.
    left: bool,
    /// What the shell must do, in order.
    outputs: VecDeque<Output>,
    /// Counters.
    stats: CoreStats,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("me", &self.me)
            .field("live", &self.live.len())
            .finish_non_exhaustive()
    }
}

impl NodeCore {
    /// A node for the run `me`, joining through `seeds` (its own address is skipped), with a
    /// random-number generator seeded with `seed`. Call [`start`](Self::start) next.
    ///
    /// # Errors
    /// [`Error::Config`] if `tuning` is invalid.
    pub fn new(me: NodeId, seeds: Vec<String>, tuning: Tuning, seed: u64) -> Result<NodeCore> {
        let config = tuning.foca_config()?;
        let shared = Arc::new(Mutex::new(Shared {
            me: me.clone(),
            table: SubscriptionTable::default(),
            seen: HashMap::new(),
            live: BTreeSet::new(),
            gaps: BTreeSet::new(),
            gap_count: 0,
        }));
        let foca = Foca::with_custom_broadcast(
            NodeIdentity::new(me.clone()),
            config,
            SmallRng::seed_from_u64(seed),
            PostcardCodec,
            Gossip {
                shared: shared.clone(),
            },
        );
        let seeds = seeds.into_iter().filter(|s| s != me.addr()).collect();
        Ok(NodeCore {
            foca,
            runtime: AccumulatingRuntime::new(),
            shared,
            me,
            seeds,
            tuning,
            timers: BTreeMap::new(),
            timer_seq: 0,
            now: Duration::ZERO,
            rng: SmallRng::seed_from_u64(seed ^ 0x5EED),
            live: BTreeMap::new(),
            joined_once: false,
            left: false,
            outputs: VecDeque::new(),
            stats: CoreStats::default(),
        })
    }

    /// Starts the periodic work and announces to the seeds.
    pub fn start(&mut self, now: Duration) {
        self.now = now;
        self.announce_to_seeds();
        self.schedule(self.tuning.seed_retry, Tick::SeedRetry);
        self.schedule(self.tuning.anti_entropy_period, Tick::AntiEntropy);
    }

    /// Our run.
    pub fn id(&self) -> &NodeId {
        &self.me
    }

    /// A SWIM datagram arrived.
    pub fn handle_datagram(&mut self, bytes: &[u8], now: Duration) {
        self.now = now;
        if let Err(e) = self.foca.handle_data(bytes, &mut self.runtime) {
            self.stats.bad_datagrams += 1;
            tracing::trace!(error = %e, "datagram refused");
        }
        self.after_foca();
    }

    /// A control message arrived over the link from `from`.
    pub fn handle_control(&mut self, from: &NodeId, msg: Control, now: Duration) {
        self.now = now;
        match msg {
            Control::Sync { digest, reply } => {
                let (entries, they_know_more) = {
                    let shared = lock(&self.shared);
                    let entries: Vec<(NodeId, Entry)> = shared
                        .table
                        .newer_than(&digest)
                        .into_iter()
                        .filter(|(n, _)| *n == self.me || shared.live.contains(n))
                        .collect();
                    let ours = shared.table.digest();
                    let more = digest.iter().any(|(n, v)| {
                        shared.live.contains(n) && ours.get(n).is_none_or(|mine| mine < v)
                    });
                    (entries, more)
                };
                if !entries.is_empty() {
                    self.send_control(from.clone(), Control::Entries(entries));
                }
                if reply && they_know_more {
                    let digest = lock(&self.shared).table.digest();
                    self.send_control(
                        from.clone(),
                        Control::Sync {
                            digest,
                            reply: false,
                        },
                    );
                }
            }
            Control::Entries(entries) => {
                let mut shared = lock(&self.shared);
                for (node, entry) in entries {
                    if node != self.me
                        && shared.live.contains(&node)
                        && shared
                            .table
                            .apply(node.clone(), entry.version, entry.topics)
                    {
                        self.stats.entries_repaired += 1;
                        shared.gaps.remove(&node);
                    }
                }
            }
        }
    }

    /// The local subscriber count of `topic` went from 0 to 1.
    pub fn subscribe(&mut self, topic: Topic, now: Duration) {
        self.change(topic, true, now);
    }

    /// The local subscriber count of `topic` went from 1 to 0.
    pub fn unsubscribe(&mut self, topic: Topic, now: Duration) {
        self.change(topic, false, now);
    }

    fn change(&mut self, topic: Topic, subscribed: bool, now: Duration) {
        self.now = now;
        let update = lock(&self.shared)
            .table
            .change_local(&self.me, topic, subscribed);
        let Some(update) = update else { return };
        match postcard::to_stdvec(&update) {
            Ok(bytes) => {
                if let Err(e) = self.foca.add_broadcast(&bytes) {
                    tracing::warn!(error = %e, "subscription update not gossiped");
                }
                // Send it now rather than at the next gossip round.
                if let Err(e) = self.foca.broadcast(&mut self.runtime) {
                    tracing::debug!(error = %e, "broadcast failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "subscription update not encoded"),
        }
        self.after_foca();
    }

    /// Leaves the cluster: tells a few members we are gone. Nothing more is sent afterwards.
    pub fn leave(&mut self, now: Duration) {
        self.now = now;
        if self.left {
            return;
        }
        if let Err(e) = self.foca.leave_cluster(&mut self.runtime) {
            tracing::debug!(error = %e, "leave failed");
        }
        self.left = true;
        self.drain_runtime();
        self.timers.clear();
        let gone: Vec<NodeId> = self.live.keys().cloned().collect();
        self.live.clear();
        lock(&self.shared).live.clear();
        for node in gone {
            self.outputs.push_back(Output::MemberDown(node));
        }
    }

    /// When the next scheduled event is due, if any: call [`advance`](Self::advance) then.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Runs every event due at or before `now`, in order.
    pub fn advance(&mut self, now: Duration) {
        self.now = self.now.max(now);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), tick) = entry.remove_entry();
            self.now = self.now.max(at);
            self.fire(tick);
        }
        self.now = now;
    }

    /// Takes the next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Nodes (other than this one) with subscribers for `topic`.
    pub fn nodes_for(&self, topic: &Topic) -> Vec<NodeId> {
        let mut nodes = lock(&self.shared).table.nodes_for(topic);
        nodes.retain(|n| *n != self.me);
        nodes
    }

    /// A copy of the subscription table as this node knows it.
    pub fn table(&self) -> SubscriptionTable {
        lock(&self.shared).table.clone()
    }

    /// Live members other than this node.
    pub fn live(&self) -> impl Iterator<Item = &NodeId> {
        self.live.keys()
    }

    /// Every member foca knows, including down ones.
    pub fn members(&self) -> Vec<MemberView> {
        self.foca
            .iter_membership_state()
            .map(|m| MemberView {
                id: m.id().node().clone(),
                addr: m.id().node().addr().to_owned(),
                state: match m.state() {
                    foca::State::Alive => MemberState::Alive,
                    foca::State::Suspect => MemberState::Suspect,
                    foca::State::Down => MemberState::Down,
                },
                incarnation: m.incarnation(),
                renewal: m.id().renewal(),
            })
            .collect()
    }

    /// Whether this node is in a cluster.
    pub fn status(&self) -> MeshStatus {
        if self.left {
            MeshStatus::Left
        } else if !self.live.is_empty() {
            MeshStatus::Joined
        } else if !self.joined_once && !self.seeds.is_empty() {
            MeshStatus::Joining
        } else {
            MeshStatus::Alone
        }
    }

    /// The counters.
    pub fn stats(&self) -> CoreStats {
        let mut stats = self.stats;
        stats.gaps = lock(&self.shared).gap_count;
        stats
    }

    fn schedule(&mut self, after: Duration, tick: Tick) {
        self.timer_seq += 1;
        self.timers.insert((self.now + after, self.timer_seq), tick);
    }

    fn fire(&mut self, tick: Tick) {
        if self.left {
            return;
        }
        match tick {
            Tick::Foca(timer) => {
                if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                    tracing::debug!(error = %e, "timer failed");
                }
                self.after_foca();
            }
            Tick::AntiEntropy => {
                self.schedule(self.tuning.anti_entropy_period, Tick::AntiEntropy);
                let peers: Vec<NodeId> = self.live.keys().cloned().collect();
                if !peers.is_empty() {
                    let pick = self.rng.random_range(0..peers.len());
                    if let Some(peer) = peers.get(pick) {
                        self.sync_with(peer.clone());
                    }
                }
            }
            Tick::SeedRetry => {
                self.schedule(self.tuning.seed_retry, Tick::SeedRetry);
                if self.live.is_empty() {
                    self.announce_to_seeds();
                }
            }
        }
    }

    fn announce_to_seeds(&mut self) {
        for seed in self.seeds.clone() {
            // Its real identity is unknown until it answers; foca accepts an announce sent
            // to any identity with its address.
            let probe = NodeIdentity::new(NodeId::new(seed, 0));
            if let Err(e) = self.foca.announce(probe, &mut self.runtime) {
                tracing::debug!(error = %e, "announce failed");
            }
        }
        self.after_foca();
    }

    fn sync_with(&mut self, peer: NodeId) {
        let digest = lock(&self.shared).table.digest();
        self.send_control(
            peer,
            Control::Sync {
                digest,
                reply: true,
            },
        );
    }

    fn send_control(&mut self, to: NodeId, msg: Control) {
        self.stats.controls_sent += 1;
        self.outputs.push_back(Output::Control { to, msg });
    }

    /// Turns what foca asked for into outputs and timers, then reconciles membership.
    fn after_foca(&mut self) {
        self.drain_runtime();
        self.reconcile();
        let gaps = std::mem::take(&mut lock(&self.shared).gaps);
        for node in gaps {
            if self.live.contains_key(&node) {
                self.sync_with(node);
            }
        }
    }

    fn drain_runtime(&mut self) {
        while let Some((to, bytes)) = self.runtime.to_send() {
            self.outputs.push_back(Output::Datagram {
                to: to.node().addr().to_owned(),
                bytes: bytes.to_vec(),
            });
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            if !self.left {
                self.schedule(after, Tick::Foca(timer));
            }
        }
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::Rejoin(id) => {
                    tracing::info!(identity = ?id, "declared down by the cluster; rejoined")
                }
                // Leaving makes foca defunct too: that is the goodbye, not a fault.
                OwnedNotification::Defunct if self.left => tracing::debug!("left the cluster"),
                OwnedNotification::Defunct => tracing::warn!("declared down by the cluster"),
                OwnedNotification::Idle => tracing::info!("no live member left"),
                OwnedNotification::Active => tracing::info!("joined the cluster"),
                _ => {}
            }
        }
    }

    /// Reads the live members back from foca and reports the differences.
    fn reconcile(&mut self) {
        if self.left {
            return;
        }
        let now_live: BTreeMap<NodeId, NodeIdentity> = self
            .foca
            .iter_members()
            .map(|m| (m.id().node().clone(), m.id().clone()))
            .filter(|(n, _)| *n != self.me)
            .collect();
        if now_live.keys().eq(self.live.keys()) {
            self.live = now_live;
            return;
        }
        let gone: Vec<NodeId> = self
            .live
            .keys()
            .filter(|n| !now_live.contains_key(*n))
            .cloned()
            .collect();
        let came: Vec<NodeId> = now_live
            .keys()
            .filter(|n| !self.live.contains_key(*n))
            .cloned()
            .collect();
        self.live = now_live;
        {
            let mut shared = lock(&self.shared);
            shared.live = self.live.keys().cloned().collect();
            for node in &gone {
                shared.table.remove(node);
                shared.seen.remove(node);
            }
        }
        for node in gone {
            tracing::info!(node = %node, "member down");
            self.outputs.push_back(Output::MemberDown(node));
        }
        for node in came {
            tracing::info!(node = %node, "member up");
            self.joined_once = true;
            self.outputs.push_back(Output::MemberUp(node.clone()));
            self.sync_with(node);
        }
    }
}

#[cfg(test)]
mod tests;
