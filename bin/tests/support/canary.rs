//! The check every hostile case ends with: two registered users in a group, one sends a text,
//! the other receives it live. A node that crashed, hung, or let one client's abuse spill over
//! onto others fails it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use async_tungstenite::tungstenite::Message;

use super::fixtures::{User, create_group, join_group};
use super::net::register_fresh;
use super::node::Node;
use super::ws::{Chat, Ws};
use super::{Result, fail};

/// Two members of one group, registered when their node started.
#[derive(Clone, Debug)]
pub(crate) struct Canary {
    pub(crate) alice: User,
    pub(crate) bobby: User,
    pub(crate) sid: String,
}

impl Canary {
    /// Registers the two users (each from a source address of its own) and their group.
    pub(crate) async fn new(addr: SocketAddr) -> Result<Canary> {
        let alice = register_fresh(addr, "alice").await?;
        let bobby = register_fresh(addr, "bobby").await?;
        let sid = create_group(addr, &alice, "canaries", true).await?;
        join_group(addr, &bobby, &sid).await?;
        Ok(Canary { alice, bobby, sid })
    }
}

/// Fails unless the node is running and a normal chat works on it: one canary's text reaches
/// the other live (`case` names the text, so concurrent checks on one node never mix up their texts).
pub(crate) async fn chat_works(node: &Node, case: &str) -> Result {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    node.assert_alive()?;
    let c = &node.canary;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The two take turns sending, so per-user text limits last twice as many checks.
    let (from, to) = if n.is_multiple_of(2) {
        (&c.alice, &c.bobby)
    } else {
        (&c.bobby, &c.alice)
    };
    let mut alice = Chat::open(node.addr, from, &c.sid).await?;
    let mut bobby = Chat::open(node.addr, to, &c.sid).await?;
    let text = format!("still chatting after {case} #{n}");
    alice.say(&text).await?;
    bobby
        .expect_text(&text)
        .await
        .map_err(|e| format!("after {case}, a normal chat failed: {e}"))?;
    alice.ws.close().await?;
    bobby.ws.close().await?;
    node.assert_alive()
}

/// The content of the next `reject` on `ws` (skipping other messages).
pub(crate) async fn next_reject(ws: &mut Ws, what: &str) -> Result<String> {
    let reject = ws
        .next_json_where(&format!("a reject for {what}"), |v| {
            v["msgType"] == "reject"
        })
        .await?;
    Ok(reject["content"].as_str().unwrap_or_default().to_owned())
}

/// Waits for a close frame with `code` whose reason starts with `reason` (`""`: any).
pub(crate) async fn expect_close(ws: &mut Ws, code: u16, reason: &str, what: &str) -> Result {
    match ws.next_close().await {
        Ok(Some(frame)) if u16::from(frame.code) == code && frame.reason.starts_with(reason) => {
            Ok(())
        }
        Ok(Some(frame)) => fail(format!(
            "{what}: expected close {code} {reason:?}, got {} {:?}",
            u16::from(frame.code),
            frame.reason.as_str()
        )),
        Ok(None) => fail(format!("{what}: a close frame without a code")),
        Err(e) => fail(format!("{what}: expected close {code} {reason:?}: {e}")),
    }
}

/// The close code for a message too big (1009).
pub(crate) const TOO_BIG: u16 = 1009;
/// The close code for a policy violation (1008).
pub(crate) const POLICY: u16 = 1008;

/// How a server refused something on a websocket.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A `reject` message with this content.
    Reject(String),
    /// A close frame with this code.
    Closed(u16),
}

/// Waits for a `reject` or a close frame (input a server may answer either way); fails on any
/// other message, so input that was accepted fails the case. For sockets that are not in a
/// chat (nothing else arrives on them).
pub(crate) async fn refusal(ws: &mut Ws, what: &str) -> Result<Refusal> {
    match ws
        .next_text_or_close(&format!("the refusal of {what}"))
        .await?
    {
        Message::Text(text) => {
            let v: serde_json::Value = serde_json::from_str(text.as_str())?;
            if v["msgType"] == "reject" {
                Ok(Refusal::Reject(
                    v["content"].as_str().unwrap_or_default().to_owned(),
                ))
            } else {
                fail(format!("{what} was answered with {text}, not refused"))
            }
        }
        Message::Close(Some(frame)) => Ok(Refusal::Closed(u16::from(frame.code))),
        Message::Close(None) => Ok(Refusal::Closed(1005)),
        other => fail(format!("{what} was answered with {other:?}")),
    }
}
