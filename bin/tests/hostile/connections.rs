//! The per-address connection cap (`--max-per-address 16`): a 17th connection from one
//! address is refused (HTTP 429 or closed at once), other addresses are served, and a slot
//! frees when a connection closes.

use std::net::IpAddr;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::servers::limits;
use crate::support::canary::chat_works;
use crate::support::net::{connect_from, next_source, ws_from};
use crate::support::node::Node;
use crate::support::{Result, WAIT, fail, run};

/// The node's `--max-per-address`.
const CAP: usize = 16;

/// `GET /ping` from `source`: `Some(status)`, or `None` if the connection was closed without
/// an answer.
async fn ping(node: &Node, source: IpAddr) -> Result<Option<u16>> {
    let mut stream = connect_from(source, node.addr).await?;
    let _ = stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut received = Vec::new();
    let _ = crate::support::within("an answer to /ping", stream.read_to_end(&mut received)).await?;
    let text = String::from_utf8_lossy(&received);
    Ok(text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok()))
}

fn refused(answer: Option<u16>, what: &str) -> Result {
    match answer {
        None | Some(429) => Ok(()),
        Some(status) => fail(format!(
            "{what}: answered {status}, expected 429 or a close"
        )),
    }
}

#[test]
fn a_17th_connection_from_one_address_is_refused() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(connect_from(source, node.addr).await?);
        }
        refused(ping(node, source).await?, "a 17th connection")?;
        match ping(node, next_source()).await? {
            Some(200) => {}
            other => {
                return fail(format!(
                    "another address got {other:?} while one was capped"
                ));
            }
        }
        drop(held);
        chat_works(node, "a capped address").await
    })
}

#[test]
fn websockets_count_toward_the_cap() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(ws_from(source, node.addr, "/ws-push").await?);
        }
        if let Ok(ws) = ws_from(source, node.addr, "/ws-push").await {
            drop(ws);
            return fail("a 17th websocket from one address was accepted");
        }
        drop(held);
        chat_works(node, "capped websockets").await
    })
}

#[test]
fn a_slot_frees_when_a_connection_closes() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(connect_from(source, node.addr).await?);
        }
        refused(ping(node, source).await?, "a 17th connection")?;
        held.pop();
        // The node learns of the close when it reads end of file: poll (bounded) until a new
        // connection from the address is served.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if ping(node, source).await? == Some(200) {
                break;
            }
            if std::time::Instant::now() > deadline {
                return fail("no slot freed after a connection closed");
            }
            runtime::sleep(Duration::from_millis(20)).await;
        }
        drop(held);
        chat_works(node, "a freed slot").await
    })
}
