//! Who is in the cluster (SWIM via foca) and which node gets which chat envelope.
//!
//! This crate holds cookim's mesh: the versioned, postcard-encoded [`envelope`] a node sends
//! to another for a chat or push event, the replicated [`subscriptions`] table that says which
//! node has subscribers for which chat or user, the sans-IO [`node`] core that runs SWIM and
//! gossips that table, and the [`transport`] that drives it on UDP and TCP. Only nodes holding
//! the cluster's [`ClusterSecret`] take part: links authenticate both ways before their first
//! frame, and SWIM datagrams carry a MAC and a replay counter ([`auth`], [`seal`]). It does not
//! store anything (that is `store`) and does not parse client frames (that is `protocol`).
//!
//! # Layout
//! - [`auth`]: `ClusterSecret` (given, or derived from the token secret) and the pure proofs
//!   of the link handshake; the threat model.
//! - [`config`]: `MeshConfig` and the SWIM tuning, each default with its reason.
//! - [`envelope`]: `Envelope` and its versioned postcard codec.
//! - [`error`]: the crate's error enum.
//! - [`identity`]: `NodeId` (one process run) and the identity foca gossips.
//! - [`link`]: the frames and handshake messages of a per-peer TCP link.
//! - [`node`]: `NodeCore`, the sans-IO state machine (foca, subscription gossip, anti-entropy).
//! - [`refusals`]: which authentication failures to log (once per address per minute).
//! - [`reorder`]: delivers a chat's stored events in sequence order.
//! - [`seal`]: SWIM datagrams sealed with a MAC and a counter; the replay windows.
//! - [`subscriptions`]: `SubscriptionTable`, per-node versioned topic sets with digests.
//! - [`transport`]: `Mesh`, the node actor on UDP + TCP, its links and their handshake.
//!
//! # Example
//! ```
//! use cookim_mesh::subscriptions::{NodeId, SubscriptionTable, Topic};
//! use protocol::ids::SessionId;
//! let chat = Topic::Chat(SessionId::from_random([7; 12]));
//! let mut table = SubscriptionTable::default();
//! table.apply(NodeId::from("node-b"), 1, [chat.clone()].into_iter().collect());
//! assert_eq!(table.nodes_for(&chat), vec![NodeId::from("node-b")]);
//! ```

pub mod auth;
pub mod config;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod link;
pub mod node;
pub mod refusals;
pub mod reorder;
pub mod seal;
pub mod subscriptions;
pub mod transport;

pub use auth::ClusterSecret;
pub use error::{Error, Result};
pub use transport::{Delivery, Mesh, MeshInfo};
