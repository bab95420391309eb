//! What the core reports of itself: its status, its members and its counters.

use serde::Serialize;

use crate::identity::NodeId;

/// Whether the node is part of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MeshStatus {
    /// Seeds were given and no member has answered yet.
    Joining,
    /// At least one other member is live.
    Joined,
    /// No other live member: no seeds were given, or every member left or died. The node
    /// keeps serving its own users and keeps announcing to its seeds.
    Alone,
    /// [`NodeCore::leave`](crate::node::NodeCore::leave) was called.
    Left,
}

/// A member's liveness as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; down unless it refutes in time.
    Suspect,
    /// Declared down (or left).
    Down,
}

/// One member, for a members endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// Its run.
    pub id: NodeId,
    /// Its advertised `host:port`.
    pub addr: String,
    /// Liveness.
    pub state: MemberState,
    /// SWIM incarnation (raised each time it refutes a suspicion).
    pub incarnation: u16,
    /// How many times it renewed its identity (rejoined after being declared down).
    pub renewal: u32,
}

/// Counters of the core, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CoreStats {
    /// Datagrams foca refused (garbage, too big, from a down member, from ourselves).
    pub bad_datagrams: u64,
    /// Control messages sent (sync and entries).
    pub controls_sent: u64,
    /// Entries applied from anti-entropy (missed gossip repaired).
    pub entries_repaired: u64,
    /// Gossiped updates that showed a gap.
    pub gaps: u64,
}
