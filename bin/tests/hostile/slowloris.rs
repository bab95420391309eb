//! Slowloris: a request head or body that never finishes, sent all at once or a byte at a
//! time, on the API and on a websocket upgrade. With `--request-timeout 1` the node closes
//! each such connection (a 408 first is allowed) and keeps serving everyone else.

use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};

use crate::servers::deadlines;
use crate::support::canary::chat_works;
use crate::support::net::{Ended, connect_from, next_source, wait_closed};
use crate::support::{Result, fail, run, within};

fn closed_quietly(ended: &Ended, what: &str) -> Result {
    match ended.status() {
        None | Some(408) => Ok(()),
        Some(status) => fail(format!(
            "{what}: the node answered {status} to an unfinished request"
        )),
    }
}

async fn unfinished(bytes: &[u8], what: &str) -> Result {
    let node = deadlines()?;
    let stream = connect_from(next_source(), node.addr).await?;
    let ended = wait_closed(stream, bytes)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    closed_quietly(&ended, what)?;
    chat_works(node, what).await
}

#[test]
fn a_request_head_that_stops_is_cut() -> Result {
    run(unfinished(
        b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        "a request head that stops",
    ))
}

#[test]
fn a_request_body_that_stops_is_cut() -> Result {
    run(unfinished(
        b"POST /api/loginUser HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nlogin=a",
        "a request body that stops",
    ))
}

#[test]
fn a_websocket_upgrade_head_that_stops_is_cut() -> Result {
    run(unfinished(
        b"GET /ws-chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        "a websocket upgrade that stops",
    ))
}

#[test]
fn a_request_head_trickled_a_byte_at_a_time_is_cut() -> Result {
    let node = deadlines()?;
    run(async {
        let mut stream = connect_from(next_source(), node.addr).await?;
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            .await?;
        let mut reader = stream.clone();
        // The trickle is the attack's shape (a byte every 100 ms, never a whole head); the
        // test waits for the node to close the connection, not for any time to pass.
        let trickle = async {
            loop {
                if stream.write_all(b"X").await.is_err() {
                    return Ok(Vec::new());
                }
                runtime::sleep(Duration::from_millis(100)).await;
            }
        };
        let read = async {
            let mut received = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => return Ok::<_, std::io::Error>(received),
                    Ok(n) => received.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
        };
        let received = within("the node to cut a trickled head", read.or(trickle)).await??;
        let ended = Ended {
            received,
            wrote_all: false,
        };
        closed_quietly(&ended, "a trickled head")?;
        chat_works(node, "a trickled request head").await
    })
}
