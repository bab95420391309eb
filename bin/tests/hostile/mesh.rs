//! The mesh port of CookIM's own start command (`-h localhost -a P -s localhost:P`: a
//! one-node cluster on the embedded store): junk, an unauthenticated hello, a frame claiming
//! 4 GiB and UDP junk change nothing (this node stays the only member), and hundreds of
//! silent TCP connections do not stop the node serving.

use std::net::{SocketAddr, UdpSocket};

use futures_lite::AsyncWriteExt;
use serde_json::Value;

use crate::servers::one_node_cluster;
use crate::support::canary::chat_works;
use crate::support::fixtures::noise;
use crate::support::http::get;
use crate::support::net::{connect_from, next_source};
use crate::support::node::Node;
use crate::support::{Result, fail, run};

fn mesh_addr(node: &Node) -> Result<SocketAddr> {
    match node.mesh_port {
        Some(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        None => fail("the node has no mesh port"),
    }
}

/// Fails unless `/cluster/members` lists this node alone and `/readyz` is 200.
async fn alone_and_ready(node: &Node, what: &str) -> Result {
    let members = get(node.addr, "/cluster/members").await?;
    let v: Value = serde_json::from_slice(&members.body)
        .map_err(|e| format!("/cluster/members is not JSON ({e}): {members:?}"))?;
    let count = v["members"].as_array().map_or(0, Vec::len);
    if count > 1 {
        return fail(format!("after {what} the node lists {count} members: {v}"));
    }
    let ready = get(node.addr, "/readyz").await?;
    if ready.status != 200 {
        return fail(format!("after {what} /readyz answered {ready:?}"));
    }
    chat_works(node, what).await
}

/// Writes `bytes` to the mesh port over TCP and leaves the connection open while checking.
async fn send_tcp(bytes: &[u8], what: &str) -> Result {
    let node = one_node_cluster()?;
    let mut stream = connect_from(next_source(), mesh_addr(node)?).await?;
    // The node may cut us mid-write: that is a fine answer to junk.
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    alone_and_ready(node, what).await
}

#[test]
fn cookims_start_command_runs_one_node_on_the_embedded_store() -> Result {
    let node = one_node_cluster()?;
    run(alone_and_ready(node, "starting as a one-node cluster"))
}

#[test]
fn junk_on_the_mesh_port_changes_nothing() -> Result {
    run(send_tcp(
        &noise(64 * 1024, 7),
        "64 KiB of junk on the mesh port",
    ))
}

#[test]
fn an_unauthenticated_hello_changes_nothing() -> Result {
    // A length-prefixed frame shaped like a link hello (format byte, a node id, an address)
    // with no valid authentication.
    let mut hello = vec![2u8, 0];
    hello.extend_from_slice(b"\x0fmallory:9999\x00\x10");
    hello.extend_from_slice(&noise(32, 9));
    let mut frame = (hello.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&hello);
    run(send_tcp(&frame, "an unauthenticated hello"))
}

#[test]
fn a_frame_claiming_4_gib_is_not_allocated() -> Result {
    run(send_tcp(
        &[0xff, 0xff, 0xff, 0xff, 2, 0, 0],
        "a frame claiming 4 GiB",
    ))
}

#[test]
fn junk_datagrams_on_the_mesh_port_change_nothing() -> Result {
    let node = one_node_cluster()?;
    run(async {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        for i in 0..200u64 {
            let size = [1, 16, 100, 512, 1400, 9000][(i % 6) as usize];
            socket.send_to(&noise(size, i), mesh_addr(node)?)?;
        }
        alone_and_ready(node, "200 junk datagrams").await
    })
}

#[test]
fn hundreds_of_silent_connections_to_the_mesh_port_do_not_stop_the_node() -> Result {
    let node = one_node_cluster()?;
    run(async {
        let target = mesh_addr(node)?;
        let mut held = Vec::new();
        for _ in 0..300 {
            // Accepted or refused, the node must not care: a refusal is its link cap at work.
            if let Ok(stream) = connect_from(next_source(), target).await {
                held.push(stream);
            }
        }
        alone_and_ready(node, "300 silent mesh connections").await?;
        drop(held);
        alone_and_ready(node, "300 closed mesh connections").await
    })
}
