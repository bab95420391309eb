//! Who a node is: a [`NodeId`] that is stable for one process run, and the [`NodeIdentity`]
//! foca gossips, which adds a renewal counter so a node declared down can rejoin.
//!
//! The advertised address is a `host:port` *string*, resolved by the peers that dial it, so a
//! node behind NAT or in a container (`--nat`) can advertise a host name instead of its
//! private address. Two identities with the same address are the same node in foca's eyes
//! (`Identity::Addr`); the newer process run wins, and within one run the higher renewal wins.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One process run of a cluster node: its advertised `host:port` plus when the run started.
///
/// The start time tells a restarted process (same address, later start) from the one it
/// replaces, so stale gossip about the old run can never override the new one. It is the
/// key of the subscription table and of per-peer links.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId {
    /// `host:port` where peers reach this node (UDP for SWIM, TCP for envelopes).
    addr: String,
    /// Epoch milliseconds (or virtual milliseconds in the simulation) when this run started.
    started: u64,
}

impl NodeId {
    /// A node advertised at `addr` whose run started at `started` (epoch ms).
    pub fn new(addr: impl Into<String>, started: u64) -> NodeId {
        NodeId {
            addr: addr.into(),
            started,
        }
    }

    /// The advertised `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// When this run started (epoch ms).
    pub fn started(&self) -> u64 {
        self.started
    }
}

impl From<&str> for NodeId {
    /// A node at `addr` with start time 0 (for tests and examples).
    fn from(addr: &str) -> Self {
        NodeId::new(addr, 0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.addr, self.started)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The identity foca gossips for a node: its [`NodeId`] plus how many times it renewed
/// itself after being declared down.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The run this identity belongs to.
    node: NodeId,
    /// Raised by [`foca::Identity::renew`]; a higher one replaces a lower one.
    renewal: u32,
}

impl NodeIdentity {
    /// The first identity of a run.
    pub fn new(node: NodeId) -> NodeIdentity {
        NodeIdentity { node, renewal: 0 }
    }

    /// The run.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// How many times this run renewed its identity.
    pub fn renewal(&self) -> u32 {
        self.renewal
    }

    /// Which of two identities for the same address is the more recent.
    fn rank(&self) -> (u64, u32) {
        (self.node.started, self.renewal)
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.node, self.renewal)
    }
}

impl foca::Identity for NodeIdentity {
    /// The advertised address: one live identity per address.
    type Addr = String;

    fn renew(&self) -> Option<Self> {
        Some(NodeIdentity {
            node: self.node.clone(),
            renewal: self.renewal.wrapping_add(1),
        })
    }

    fn addr(&self) -> String {
        self.node.addr.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.rank() > adversary.rank()
    }
}

#[cfg(test)]
mod tests {
    use foca::Identity;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    use super::*;

    #[test]
    fn renewal_wins_over_the_old_identity() -> TestResult {
        let first = NodeIdentity::new(NodeId::new("a:1", 10));
        let renewed = first.renew().ok_or("not renewed")?;
        assert_eq!(renewed.node(), first.node());
        assert_eq!(renewed.renewal(), 1);
        assert_eq!(renewed.addr(), first.addr());
        assert!(renewed.win_addr_conflict(&first));
        assert!(!first.win_addr_conflict(&renewed));
        assert_ne!(renewed, first);
        Ok(())
    }

    #[test]
    fn a_restarted_process_wins_over_any_renewal_of_the_old_run() -> TestResult {
        let mut old = NodeIdentity::new(NodeId::new("a:1", 10));
        for _ in 0..5 {
            old = old.renew().ok_or("not renewed")?;
        }
        let restarted = NodeIdentity::new(NodeId::new("a:1", 11));
        assert!(restarted.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&restarted));
        Ok(())
    }

    #[test]
    fn postcard_round_trip() -> TestResult {
        let id = NodeIdentity::new(NodeId::new("cookim-2:2551", 1_795_621_246_000));
        let bytes = postcard::to_stdvec(&id)?;
        assert_eq!(postcard::from_bytes::<NodeIdentity>(&bytes)?, id);
        assert_eq!(id.node().to_string(), "cookim-2:2551@1795621246000");
        Ok(())
    }
}
