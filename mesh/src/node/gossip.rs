//! Subscription updates gossiped as foca custom broadcasts: the handler foca calls for each
//! one, and the state it shares with the core.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foca::{BroadcastHandler, Invalidates};

use crate::error::{Error, Result};
use crate::identity::{NodeId, NodeIdentity};
use crate::subscriptions::{Applied, SubscriptionTable, Topic, Update};

/// State the foca broadcast handler shares with the core. foca owns the handler and offers
/// no way to reach it, so both hold this through an `Arc<Mutex>`; only the thread driving the
/// core ever locks it, never across an await, so the lock is never contended.
#[derive(Debug)]
pub(super) struct Shared {
    /// This node's run.
    pub(super) me: NodeId,
    /// Every node's topics.
    pub(super) table: SubscriptionTable,
    /// Highest update version seen per node: an update at or below it is not re-gossiped.
    pub(super) seen: HashMap<NodeId, u64>,
    /// Live members (updates of other nodes are ignored: a down node's stale gossip must not
    /// bring its entry back).
    pub(super) live: BTreeSet<NodeId>,
    /// Nodes whose gossip showed a gap: sync with them.
    pub(super) gaps: BTreeSet<NodeId>,
    /// How many gaps were seen.
    pub(super) gap_count: u64,
}

pub(super) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding it leaves plain data behind; keep going with it.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key foca dedups custom broadcasts by: a newer change of the same topic of the same
/// node replaces an older one still waiting to be sent.
#[derive(Debug)]
pub(super) struct UpdateKey {
    node: NodeId,
    topic: Topic,
    version: u64,
}

impl Invalidates for UpdateKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.node == other.node && self.topic == other.topic && self.version >= other.version
    }
}

/// foca's broadcast handler: decodes gossiped subscription updates into the shared table.
#[derive(Debug)]
pub(super) struct Gossip {
    pub(super) shared: Arc<Mutex<Shared>>,
}

impl BroadcastHandler<NodeIdentity> for Gossip {
    type Key = UpdateKey;
    type Error = Error;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&NodeIdentity>,
    ) -> Result<Option<UpdateKey>> {
        let (update, rest) = postcard::take_from_bytes::<Update>(data)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(Error::Malformed(format!("{} trailing bytes", rest.len())));
        }
        let key = UpdateKey {
            node: update.node.clone(),
            topic: update.topic.clone(),
            version: update.version,
        };
        let mut shared = lock(&self.shared);
        if sender.is_none() {
            // Our own change, already in the table: queue it for gossip.
            shared.seen.insert(update.node, update.version);
            return Ok(Some(key));
        }
        if update.node == shared.me {
            return Ok(None);
        }
        if shared
            .seen
            .get(&update.node)
            .is_some_and(|v| *v >= update.version)
        {
            return Ok(None);
        }
        shared.seen.insert(update.node.clone(), update.version);
        if shared.live.contains(&update.node) && shared.table.apply_update(&update) == Applied::Gap
        {
            shared.gap_count += 1;
            shared.gaps.insert(update.node);
        }
        // New to us: pass it on even if we could not apply it, others may.
        Ok(Some(key))
    }
}
