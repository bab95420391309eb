//! How a mesh node is set up: where it listens, what it advertises, whom it asks to join, and
//! the SWIM timings, each a named default with the reason for its value.

use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use crate::auth::ClusterSecret;
use crate::error::{Error, Result};
use crate::seal::SEAL_OVERHEAD;

/// How often each node probes one member. With [`SUSPECT_TO_DOWN`] this bounds detection: a
/// dead node is probed within a few periods by some member, declared suspect one period later
/// and down [`SUSPECT_TO_DOWN`] after that. The simulation (`cookim-sim`, 100 seeds) measures
/// the time until *every* live node declared a killed one down: 5 nodes median 0.90 s, max
/// 1.49 s; 20 nodes median 1.10 s, max 1.99 s. Shorter periods cost more datagrams.
pub const PROBE_PERIOD: Duration = Duration::from_millis(200);

/// How long a direct probe may take before indirect probes are sent. A LAN round trip is far
/// below a millisecond; 70 ms leaves room for a busy process and is about a third of
/// [`PROBE_PERIOD`], as foca advises.
pub const PROBE_RTT: Duration = Duration::from_millis(70);

/// How long a suspect has to refute the suspicion before it is declared down. It must cover
/// the suspicion reaching the suspect and its refutation spreading back, through loss: with
/// gossip every [`GOSSIP_PERIOD`] to [`GOSSIP_FANOUT`] members that takes a few hundred ms.
/// Checked in the simulation: no false down in 44 runs of 10 virtual minutes at 5 % loss
/// (5, 10 and 20 nodes); at 10 % loss a few appear (the margin). 650 ms and 750 ms were
/// also clean at 5 % but pushed 20-node detection past 2 s.
pub const SUSPECT_TO_DOWN: Duration = Duration::from_millis(600);

/// How many members are asked to probe a silent member indirectly (foca's advice: 3 to 5).
pub const INDIRECT_PROBES: usize = 3;

/// How often membership updates and subscription changes are gossiped besides the probes.
/// Frequent gossip is what makes both a refutation and a new subscription spread within a
/// few hundred ms; on a LAN its cost is a few small datagrams per period.
pub const GOSSIP_PERIOD: Duration = Duration::from_millis(100);

/// How many members each periodic gossip goes to.
pub const GOSSIP_FANOUT: usize = 3;

/// How many times each node piggybacks each update. foca's LAN formula gives 5 for 20 nodes;
/// with 8 the simulation saw a 20-node member miss a down update until the next announce
/// (5 s late), so updates are sent more often: they are a few dozen bytes each.
pub const MAX_TRANSMISSIONS: u8 = 12;

/// How often a node asks one random member for the members it knows (membership
/// anti-entropy, so nobody stays unaware of a member after lost gossip).
pub const ANNOUNCE_PERIOD: Duration = Duration::from_secs(5);

/// How often a node announces itself to members it believes down, so both sides of a healed
/// partition find each other again without a restart.
pub const ANNOUNCE_DOWN_PERIOD: Duration = Duration::from_secs(2);

/// How often a node sends its subscription digest to one random member, which answers with
/// the entries the node lacks (subscription anti-entropy, repairs missed gossip).
pub const ANTI_ENTROPY_PERIOD: Duration = Duration::from_secs(1);

/// How often a node with no live member announces itself to its seeds again.
pub const SEED_RETRY: Duration = Duration::from_secs(1);

/// Largest SWIM datagram sent or accepted, its seal included: under a 1500-byte Ethernet MTU
/// with IP/UDP headers. foca's own packets get [`SEAL_OVERHEAD`] bytes less.
pub const MAX_PACKET: usize = 1400;

/// Envelopes waiting for one peer's link; more are dropped and counted, so a slow or dead
/// peer never blocks a publisher or the other peers. A burst of a few hundred messages to one
/// node fits; a peer that cannot take that much is behind by seconds anyway.
pub const LINK_QUEUE: usize = 1024;

/// Envelopes received from peers and not yet taken by the application; when full, links stop
/// reading (TCP pushes back on the senders).
pub const DELIVERY_QUEUE: usize = 1024;

/// How long connecting (and sending the hello) to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Inbound connections still in the link handshake at once (not yet proved to hold the
/// cluster key); a new one past it evicts the oldest. Real peers finish in one round trip, so
/// a few suffice even when a whole cluster (re)connects at once, and an attacker would have
/// to open this many within that round trip, again and again, to keep a peer out. Each costs
/// a task and a buffer of about [`crate::link::MAX_HANDSHAKE`] bytes.
pub const MAX_HANDSHAKES: usize = 16;

/// First wait before reconnecting a failed link; doubled per failure up to
/// [`RECONNECT_MAX`].
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);

/// Longest wait between reconnect attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// SWIM timings. [`Tuning::default`] is the LAN tuning the simulation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// See [`PROBE_PERIOD`].
    pub probe_period: Duration,
    /// See [`PROBE_RTT`].
    pub probe_rtt: Duration,
    /// See [`SUSPECT_TO_DOWN`].
    pub suspect_to_down: Duration,
    /// See [`INDIRECT_PROBES`].
    pub indirect_probes: usize,
    /// See [`GOSSIP_PERIOD`].
    pub gossip_period: Duration,
    /// See [`GOSSIP_FANOUT`].
    pub gossip_fanout: usize,
    /// See [`MAX_TRANSMISSIONS`].
    pub max_transmissions: u8,
    /// See [`ANNOUNCE_PERIOD`].
    pub announce_period: Duration,
    /// See [`ANNOUNCE_DOWN_PERIOD`].
    pub announce_down_period: Duration,
    /// See [`ANTI_ENTROPY_PERIOD`].
    pub anti_entropy_period: Duration,
    /// See [`SEED_RETRY`].
    pub seed_retry: Duration,
    /// See [`MAX_PACKET`].
    pub max_packet: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            probe_period: PROBE_PERIOD,
            probe_rtt: PROBE_RTT,
            suspect_to_down: SUSPECT_TO_DOWN,
            indirect_probes: INDIRECT_PROBES,
            gossip_period: GOSSIP_PERIOD,
            gossip_fanout: GOSSIP_FANOUT,
            max_transmissions: MAX_TRANSMISSIONS,
            announce_period: ANNOUNCE_PERIOD,
            announce_down_period: ANNOUNCE_DOWN_PERIOD,
            anti_entropy_period: ANTI_ENTROPY_PERIOD,
            seed_retry: SEED_RETRY,
            max_packet: MAX_PACKET,
        }
    }
}

impl Tuning {
    /// foca's configuration for these timings.
    ///
    /// # Errors
    /// [`Error::Config`] if a duration or count is zero, `probe_rtt >= probe_period`, or
    /// `max_packet` leaves no room for a packet after the seal.
    pub fn foca_config(&self) -> Result<foca::Config> {
        let nonzero = |n: usize, what: &str| {
            NonZeroUsize::new(n).ok_or_else(|| Error::Config(format!("{what} must not be zero")))
        };
        for (d, what) in [
            (self.probe_period, "probe_period"),
            (self.probe_rtt, "probe_rtt"),
            (self.suspect_to_down, "suspect_to_down"),
            (self.gossip_period, "gossip_period"),
            (self.announce_period, "announce_period"),
            (self.announce_down_period, "announce_down_period"),
            (self.anti_entropy_period, "anti_entropy_period"),
            (self.seed_retry, "seed_retry"),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{what} must not be zero")));
            }
        }
        if self.probe_rtt >= self.probe_period {
            return Err(Error::Config(
                "probe_rtt must be shorter than probe_period".into(),
            ));
        }
        let max_transmissions = NonZeroU8::new(self.max_transmissions)
            .ok_or_else(|| Error::Config("max_transmissions must not be zero".into()))?;
        Ok(foca::Config {
            probe_period: self.probe_period,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: nonzero(self.indirect_probes, "indirect_probes")?,
            max_transmissions,
            suspect_to_down_after: self.suspect_to_down,
            // Never forget a down identity: renewed identities rejoin anyway, and forgetting
            // would let stale gossip about an old identity back in.
            remove_down_after: None,
            // The seal travels in front of foca's packet, within the same datagram.
            max_packet_size: nonzero(
                self.max_packet.saturating_sub(SEAL_OVERHEAD),
                "max_packet beyond the seal",
            )?,
            notify_down_members: true,
            periodic_announce: Some(foca::PeriodicParams {
                frequency: self.announce_period,
                num_members: nonzero(1, "announce members")?,
            }),
            periodic_announce_to_down_members: Some(foca::PeriodicParams {
                frequency: self.announce_down_period,
                num_members: nonzero(2, "announce-down members")?,
            }),
            periodic_gossip: Some(foca::PeriodicParams {
                frequency: self.gossip_period,
                num_members: nonzero(self.gossip_fanout, "gossip_fanout")?,
            }),
        })
    }
}

/// Everything a mesh node needs to start.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    /// Where to listen: UDP (SWIM) and TCP (envelope links) on the same port. `0.0.0.0:port`
    /// in `--nat` mode; port 0 picks a free one (tests).
    pub bind: SocketAddr,
    /// `host:port` peers use to reach this node, resolved by them (the `-h` host name and the
    /// `-a` port). Empty: the bound address (what tests with port 0 want).
    pub advertise: String,
    /// `host:port` of nodes to join through (`-s`), written as those nodes advertise
    /// themselves (foca accepts a join only if the address matches). The node's own address
    /// may be listed (it is skipped), so every node can get the same list.
    pub seeds: Vec<String>,
    /// SWIM timings.
    pub tuning: Tuning,
    /// See [`LINK_QUEUE`].
    pub link_queue: usize,
    /// See [`DELIVERY_QUEUE`].
    pub delivery_queue: usize,
    /// How long dialling a peer plus the link handshake may take, and how long an inbound
    /// connection has from accept to proving it holds the key. See [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// The key every node of the cluster shares: links and SWIM datagrams from nodes without
    /// it are refused (see [`crate::auth`]).
    pub cluster_secret: ClusterSecret,
}

impl MeshConfig {
    /// A node listening on `bind`, advertised as `advertise`, joining through `seeds`, with
    /// the default tuning and limits, trusting the nodes that hold `cluster_secret`.
    pub fn new(
        bind: SocketAddr,
        advertise: impl Into<String>,
        seeds: Vec<String>,
        cluster_secret: ClusterSecret,
    ) -> MeshConfig {
        MeshConfig {
            bind,
            advertise: advertise.into(),
            seeds,
            tuning: Tuning::default(),
            link_queue: LINK_QUEUE,
            delivery_queue: DELIVERY_QUEUE,
            connect_timeout: CONNECT_TIMEOUT,
            cluster_secret,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_config_never_shows_its_secret() -> TestResult {
        let config = MeshConfig::new(
            "127.0.0.1:0".parse()?,
            "",
            vec![],
            ClusterSecret::new([b'k'; 32])?,
        );
        let shown = format!("{config:?}");
        assert!(shown.contains("ClusterSecret(<redacted>)"), "{shown}");
        assert!(!shown.contains("kkkk"), "{shown}");
        Ok(())
    }

    #[test]
    fn default_tuning_is_valid_and_bad_ones_are_refused() -> TestResult {
        let config = Tuning::default().foca_config()?;
        assert_eq!(config.probe_period, PROBE_PERIOD);
        assert_eq!(config.max_packet_size.get(), MAX_PACKET - SEAL_OVERHEAD);
        let no_room = Tuning {
            max_packet: SEAL_OVERHEAD,
            ..Tuning::default()
        };
        assert!(matches!(no_room.foca_config(), Err(Error::Config(_))));
        let room = Tuning {
            max_packet: SEAL_OVERHEAD + 1,
            ..Tuning::default()
        };
        assert_eq!(room.foca_config()?.max_packet_size.get(), 1);
        let bad = Tuning {
            probe_rtt: PROBE_PERIOD,
            ..Tuning::default()
        };
        assert!(matches!(bad.foca_config(), Err(Error::Config(_))));
        let zero = Tuning {
            gossip_fanout: 0,
            ..Tuning::default()
        };
        assert!(matches!(zero.foca_config(), Err(Error::Config(_))));
        Ok(())
    }
}
