//! The nodes the cases share, one per set of flags, each started by the first case that needs
//! it and stopped when the test process exits. A case that cannot get its node fails with the
//! node's own start-up error (an unknown flag names the feature that is missing).

use std::sync::OnceLock;

use crate::support::fixtures::{User, join_group};
use crate::support::net::register_fresh;
use crate::support::node::{Node, shared};
use crate::support::ws::Chat;
use crate::support::{Result, within};

type Cell = OnceLock<std::result::Result<Node, String>>;

/// Default limits, flags CookIM's start command and cookim have always had: cases for
/// behaviour that needs no new flag.
pub(crate) fn classic() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || Node::start(&[]))
}

/// Authentication and request deadlines of one second.
pub(crate) fn deadlines() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || {
        Node::start(&["--auth-timeout", "1", "--request-timeout", "1"])
    })
}

/// Small login, registration and API limits, and a cap of 16 connections per address (room for the
/// canary's connections from 127.0.0.1 while cases run in parallel).
pub(crate) fn limits() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || {
        Node::start(&[
            "--max-login-failures",
            "3",
            "--login-lockout",
            "60",
            "--max-address-failures",
            "6",
            "--limit-logins",
            "8/1m",
            "--limit-registrations",
            "3/1h",
            "--limit-groups",
            "2/1h",
            "--limit-friend-requests",
            "2/1h",
            "--limit-invites",
            "2/1h",
            "--max-per-address",
            "16",
        ])
    })
}

/// Small per-user limits on texts and uploads, and a login limit per address under the
/// default lockout counts (so the limit, not a lockout, is what a login flood meets).
pub(crate) fn sends() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || {
        Node::start(&[
            "--limit-logins",
            "8/1m",
            "--limit-texts",
            "10/1m",
            "--limit-uploads",
            "2/1m",
            "--limit-upload-bytes",
            "64K/1d",
        ])
    })
}

/// A password-hashing queue of one.
pub(crate) fn hash_queue() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || Node::start(&["--hash-queue", "1"]))
}

/// CookIM's own start command: a one-node cluster on the embedded store, `-s` naming itself.
pub(crate) fn one_node_cluster() -> Result<&'static Node> {
    static NODE: Cell = OnceLock::new();
    shared(&NODE, || Node::start_with_mesh(&[]))
}

/// A user of its own, registered from a source address of its own, member of the canary group.
pub(crate) async fn member(node: &Node, nickname: &str) -> Result<User> {
    let user = register_fresh(node.addr, nickname).await?;
    join_group(node.addr, &user, &node.canary.sid).await?;
    Ok(user)
}

/// A fresh member online in the canary group.
pub(crate) async fn online(node: &Node, nickname: &str) -> Result<Chat> {
    let user = member(node, nickname).await?;
    within(
        "a chat to open",
        Chat::open(node.addr, &user, &node.canary.sid),
    )
    .await?
}
