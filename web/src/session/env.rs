//! What a session actor works with: the store, the mesh, a spawner, and the registry as far as
//! a session needs it ([`Upstream`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::Mesh;
use protocol::ids::{SessionId, UserId};
use runtime::Spawner;
use store::Store;

/// What a session needs from the registry that spawned it. The registry implements it on a
/// narrow handle of its own; the session never sees the registry's messages.
pub(crate) trait Upstream: Send + Sync + 'static {
    /// This session has been idle without subscribers: forget it if `instance` is still the
    /// current one, and close its mailbox. False if the registry is gone.
    fn retire(&self, sid: SessionId, instance: u64) -> impl Future<Output = bool> + Send;

    /// Delivers each frame to its users' `/ws-push` channels on this node.
    fn push(&self, deliveries: Vec<(Arc<[UserId]>, Utf8Bytes)>) -> impl Future<Output = ()> + Send;
}

/// Everything a session actor works with, shared by every session of a node.
#[derive(Debug)]
pub(crate) struct Env<U> {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// The mesh, in a cluster.
    pub(crate) mesh: Option<Mesh>,
    /// Where the actor and its unread resets run.
    pub(crate) spawner: Spawner,
    /// The registry, as far as sessions need it.
    pub(crate) upstream: U,
    /// For datelines.
    pub(crate) utc_offset_secs: i32,
    /// How long a session without subscribers lives on (`session_idle`).
    pub(crate) idle: Duration,
}
