//! Who is in the cluster (SWIM via foca) and which node gets which chat envelope.
//!
//! This crate holds the pure parts of cookim's mesh: the versioned, postcard-encoded
//! [`envelope`] a node sends to another for a chat or push event, and the replicated
//! [`subscriptions`] table that says which node has subscribers for which chat or user. Both
//! are plain data and functions, tested without sockets. It does not store anything (that is
//! `store`) and does not parse client frames (that is `protocol`). The SWIM membership and the
//! per-peer links that use these types are built on top of them.
//!
//! # Layout
//! - [`envelope`]: `Envelope` and its versioned postcard codec.
//! - [`subscriptions`]: `SubscriptionTable`, per-node versioned topic sets with digests.
//! - [`error`]: the crate's error enum.
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
