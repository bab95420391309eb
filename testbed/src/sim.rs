//! A deterministic simulation of many mesh nodes in one thread: real [`NodeCore`]s, a virtual
//! clock, one ordered event queue and a network that drops, delays, duplicates and partitions
//! by rule. The same seed replays the same run, event for event; no sockets, no sleeps.
//!
//! The network has two kinds of traffic, as the real shell does:
//! - SWIM datagrams: each one is lost with probability `loss`, duplicated with probability
//!   `duplicate`, and delayed uniformly within `latency`.
//! - Link messages (subscription anti-entropy): reliable and ordered per pair of nodes, like a
//!   TCP connection, with the same delays; lost only across a partition or to a dead node (a
//!   broken connection).
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use cookim_testbed::sim::{Sim, SimConfig};
//! let mut sim = Sim::new(SimConfig::lan(5, 0xC00C1E));
//! sim.run_until(Duration::from_secs(20), |s| s.membership_converged()).unwrap();
//! assert!(sim.membership_converged());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use mesh::config::Tuning;
use mesh::identity::NodeId;
use mesh::node::{Control, NodeCore, Output};
use mesh::subscriptions::{SubscriptionTable, Topic};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// The port every simulated node advertises (addresses differ by host name).
const PORT: u16 = 2551;

/// How a simulation is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How many nodes start.
    pub nodes: usize,
    /// Seeds the network and every node's RNG.
    pub seed: u64,
    /// Shortest and longest one-way delay.
    pub latency: (Duration, Duration),
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// The nodes' SWIM tuning.
    pub tuning: Tuning,
}

impl SimConfig {
    /// `nodes` nodes on a LAN (0.2-5 ms one way, no loss) with the default tuning.
    pub fn lan(nodes: usize, seed: u64) -> SimConfig {
        SimConfig {
            nodes,
            seed,
            latency: (Duration::from_micros(200), Duration::from_millis(5)),
            loss: 0.0,
            duplicate: 0.0,
            tuning: Tuning::default(),
        }
    }
}

/// Something in flight.
#[derive(Debug)]
enum Event {
    Datagram {
        to: usize,
        bytes: Vec<u8>,
    },
    Control {
        from: NodeId,
        to: usize,
        msg: Control,
    },
}

/// One simulated node.
struct SimNode {
    core: NodeCore,
    /// `false` once killed: it neither receives nor runs timers.
    alive: bool,
    /// Partition group; traffic only flows within a group.
    group: u32,
}

/// A member-down observation: at `at`, `observer` saw `subject` go down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownSeen {
    /// Virtual time.
    pub at: Duration,
    /// The node index that saw it.
    pub observer: usize,
    /// Who went down.
    pub subject: NodeId,
}

/// Why a run stopped before its condition held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// The simulation's seed, to replay it.
    pub seed: u64,
    /// Virtual time at the end.
    pub at: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "condition not met by {:?} (replay with seed {:#x})",
            self.at, self.seed
        )
    }
}

impl std::error::Error for Timeout {}

/// The simulation.
pub struct Sim {
    config: SimConfig,
    rng: SmallRng,
    now: Duration,
    nodes: Vec<SimNode>,
    by_addr: HashMap<String, usize>,
    /// In-flight traffic by (arrival time, insertion order).
    queue: BTreeMap<(Duration, u64), Event>,
    seq: u64,
    /// Latest arrival per (from, to) link, so link messages stay in order.
    link_clock: HashMap<(usize, usize), Duration>,
    downs: Vec<DownSeen>,
    datagrams: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Starts `config.nodes` nodes at time 0, all given node 0 and node 1 as seeds.
    pub fn new(config: SimConfig) -> Sim {
        let mut sim = Sim {
            rng: SmallRng::seed_from_u64(config.seed),
            config,
            now: Duration::ZERO,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            link_clock: HashMap::new(),
            downs: Vec::new(),
            datagrams: 0,
        };
        for _ in 0..sim.config.nodes {
            sim.add_node();
        }
        sim
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Virtual time now.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// How many nodes were ever started (indexes `0..len`).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was started.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Datagrams sent so far.
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }

    fn addr(i: usize) -> String {
        format!("node-{i}:{PORT}")
    }

    /// Starts one more node (seeded with nodes 0 and 1); returns its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let core = self.make_core(i);
        self.by_addr.insert(Sim::addr(i), i);
        self.nodes.push(SimNode {
            core,
            alive: true,
            group: 0,
        });
        self.route(i);
        i
    }

    fn make_core(&mut self, i: usize) -> NodeCore {
        let seeds = vec![Sim::addr(0), Sim::addr(1)];
        // The run's start time tells a restart from its predecessor.
        let started = u64::try_from(self.now.as_millis()).unwrap_or(u64::MAX) + 1;
        let me = NodeId::new(Sim::addr(i), started);
        let node_seed = self.config.seed ^ ((i as u64 + 1) << 32) ^ started;
        let mut core = match NodeCore::new(me, seeds, self.config.tuning.clone(), node_seed) {
            Ok(core) => core,
            Err(e) => unreachable!("the simulation's tuning is valid: {e}"),
        };
        core.start(self.now);
        core
    }

    /// Kills node `i` (no leave): it stops answering at once.
    pub fn kill(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.alive = false;
        }
    }

    /// Restarts a killed node `i` as a new process run at the same address.
    pub fn restart(&mut self, i: usize) {
        let core = self.make_core(i);
        if let Some(node) = self.nodes.get_mut(i) {
            node.core = core;
            node.alive = true;
        }
        self.route(i);
    }

    /// Node `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(i) {
            node.core.leave(now);
        }
        self.route(i);
        self.kill(i);
    }

    /// Splits the network: traffic flows only within each group; nodes in no group form one
    /// more group.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for node in &mut self.nodes {
            node.group = u32::MAX;
        }
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                if let Some(node) = self.nodes.get_mut(i) {
                    node.group = g as u32;
                }
            }
        }
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        for node in &mut self.nodes {
            node.group = 0;
        }
    }

    /// Changes datagram loss from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.config.loss = loss;
    }

    /// Node `i`'s core.
    ///
    /// # Panics
    /// If `i` is out of range (a bug in the test).
    pub fn core(&self, i: usize) -> &NodeCore {
        &self.nodes[i].core
    }

    /// Node `i` subscribes to `topic` now.
    pub fn subscribe(&mut self, i: usize, topic: Topic) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(i) {
            node.core.subscribe(topic, now);
        }
        self.route(i);
    }

    /// Node `i` unsubscribes from `topic` now.
    pub fn unsubscribe(&mut self, i: usize, topic: Topic) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(i) {
            node.core.unsubscribe(topic, now);
        }
        self.route(i);
    }

    /// Indexes of live nodes.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive)
            .collect()
    }

    /// Every member-down observation so far.
    pub fn downs(&self) -> &[DownSeen] {
        &self.downs
    }

    /// Whether every live node sees exactly the other live nodes of its partition group as
    /// live members.
    pub fn membership_converged(&self) -> bool {
        self.alive().into_iter().all(|i| {
            let me = &self.nodes[i];
            let expected: Vec<&NodeId> = self
                .alive()
                .into_iter()
                .filter(|j| *j != i && self.nodes[*j].group == me.group)
                .map(|j| self.nodes[j].core.id())
                .collect();
            let seen: Vec<&NodeId> = me.core.live().collect();
            let mut expected = expected;
            expected.sort();
            seen == expected
        })
    }

    /// Whether every live node has the same subscription table.
    pub fn tables_agree(&self) -> bool {
        let tables: Vec<SubscriptionTable> = self
            .alive()
            .into_iter()
            .map(|i| self.nodes[i].core.table())
            .collect();
        tables.windows(2).all(|w| w[0] == w[1])
    }

    /// Whether every live node other than `i` routes `topic` to node `i`.
    pub fn everyone_routes_to(&self, i: usize, topic: &Topic) -> bool {
        let target = self.nodes[i].core.id();
        self.alive()
            .into_iter()
            .filter(|j| *j != i)
            .all(|j| self.nodes[j].core.nodes_for(topic).contains(target))
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.step_until(until, |_| false);
    }

    /// Runs until `done` holds (checked after every event) or `limit` of virtual time passed;
    /// returns how long it took.
    ///
    /// # Errors
    /// [`Timeout`] naming the seed if `done` never held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        done: impl Fn(&Sim) -> bool,
    ) -> Result<Duration, Timeout> {
        let start = self.now;
        if done(self) {
            return Ok(Duration::ZERO);
        }
        if self.step_until(start + limit, done) {
            Ok(self.now - start)
        } else {
            Err(Timeout {
                seed: self.config.seed,
                at: self.now,
            })
        }
    }

    /// Processes events in time order up to `until`; returns `true` as soon as `done` holds.
    fn step_until(&mut self, until: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        loop {
            let next_event = self.queue.keys().next().map(|(t, _)| *t);
            let next_timer = self
                .nodes
                .iter()
                .filter(|n| n.alive)
                .filter_map(|n| n.core.next_deadline())
                .min();
            let next = match (next_event, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_event == Some(next)
                && let Some(((_, _), event)) = self.queue.pop_first()
            {
                self.deliver(event);
            } else {
                for i in 0..self.nodes.len() {
                    if self.nodes[i].alive
                        && self.nodes[i]
                            .core
                            .next_deadline()
                            .is_some_and(|t| t <= next)
                    {
                        self.nodes[i].core.advance(next);
                        self.route(i);
                    }
                }
            }
            if done(self) {
                return true;
            }
        }
        self.now = self.now.max(until);
        false
    }

    fn deliver(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Datagram { to, bytes } => {
                if let Some(node) = self.nodes.get_mut(to)
                    && node.alive
                {
                    node.core.handle_datagram(&bytes, now);
                    self.route(to);
                }
            }
            Event::Control { from, to, msg } => {
                if let Some(node) = self.nodes.get_mut(to)
                    && node.alive
                {
                    node.core.handle_control(&from, msg, now);
                    self.route(to);
                }
            }
        }
    }

    fn delay(&mut self) -> Duration {
        let (lo, hi) = self.config.latency;
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(self.rng.random_range(0..=span))
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.nodes[a].group == self.nodes[b].group
    }

    /// Takes node `i`'s outputs and puts them on the network.
    fn route(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].core.poll_output() {
            match out {
                Output::Datagram { to, bytes } => {
                    self.datagrams += 1;
                    let Some(&j) = self.by_addr.get(&to) else {
                        continue;
                    };
                    if !self.connected(i, j) || self.rng.random_bool(self.config.loss) {
                        continue;
                    }
                    let copies = if self.rng.random_bool(self.config.duplicate) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let at = self.now + self.delay();
                        self.push(
                            at,
                            Event::Datagram {
                                to: j,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
                Output::Control { to, msg } => {
                    let Some(&j) = self.by_addr.get(to.addr()) else {
                        continue;
                    };
                    // A link reaches only the run it was opened to, and not across a partition.
                    if !self.connected(i, j) || self.nodes[j].core.id() != &to {
                        continue;
                    }
                    let at = self.now + self.delay();
                    let clock = self.link_clock.entry((i, j)).or_default();
                    let at = at.max(*clock);
                    *clock = at;
                    let from = self.nodes[i].core.id().clone();
                    self.push(at, Event::Control { from, to: j, msg });
                }
                Output::MemberDown(subject) => self.downs.push(DownSeen {
                    at: self.now,
                    observer: i,
                    subject,
                }),
                Output::MemberUp(_) => {}
            }
        }
    }
}
