//! Forged mesh peers. CookIM's own start command (`-h localhost -a P -s localhost:P`, seeds
//! naming only this node) runs one node on the embedded store. Against a real two-node
//! cluster (on the MongoDB at `MONGO_URI`, as clusters need): junk, an unauthenticated hello
//! and a frame claiming 4 GiB on a node's mesh port, and junk datagrams, are refused (the
//! node counts them) and change nothing: each node still lists just the other, alive, and a
//! chat across the two nodes still works. Hundreds of silent TCP connections to the mesh
//! port (link-slot exhaustion) do not stop that either.

use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;

use futures_lite::AsyncWriteExt;
use serde_json::Value;

use crate::servers::one_node_cluster;
use crate::support::canary::chat_works;
use crate::support::fixtures::{join_group, noise};
use crate::support::http::get;
use crate::support::net::{connect_from, next_source};
use crate::support::node::Node;
use crate::support::ws::Chat;
use crate::support::{Result, WAIT, fail, run};

/// The two nodes of the cluster the cases share.
fn cluster() -> Result<&'static (Node, Node)> {
    static PAIR: OnceLock<std::result::Result<(Node, Node), String>> = OnceLock::new();
    match PAIR.get_or_init(|| Node::start_cluster().map_err(|e| e.to_string())) {
        Ok(pair) => Ok(pair),
        Err(e) => fail(e.clone()),
    }
}

fn mesh_addr(node: &Node) -> Result<SocketAddr> {
    match node.mesh_port {
        Some(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        None => fail("the node has no mesh port"),
    }
}

async fn members(node: &Node) -> Result<Value> {
    let reply = get(node.addr, "/cluster/members").await?;
    serde_json::from_slice(&reply.body)
        .map_err(|e| format!("/cluster/members is not JSON ({e}): {reply:?}").into())
}

/// Refusals the node has counted: bad frames and datagrams, failed authentications, evicted
/// handshakes.
fn refusals(members: &Value) -> u64 {
    let t = &members["node"]["transport"];
    let c = &members["node"]["core"];
    [
        &t["auth_failures"],
        &t["bad_frames"],
        &t["datagram_auth_failures"],
        &t["handshakes_evicted"],
        &c["bad_datagrams"],
    ]
    .iter()
    .filter_map(|v| v.as_u64())
    .sum()
}

/// Whether `node` lists exactly one other member, `other`, alive.
async fn sees_only(node: &Node, other: &Node) -> Result<bool> {
    let v = members(node).await?;
    let list = v["node"]["members"].as_array().cloned().unwrap_or_default();
    let addr = format!("127.0.0.1:{}", other.mesh_port.unwrap_or(0));
    Ok(list.len() == 1 && list[0]["addr"] == addr.as_str() && list[0]["state"] == "Alive")
}

/// Waits (polling /cluster/members: membership changes have no event a client can wait for)
/// until each node lists just the other as alive; fails after [`WAIT`], naming `what`.
async fn converged(a: &Node, b: &Node, what: &str) -> Result {
    let deadline = std::time::Instant::now() + WAIT;
    while !(sees_only(a, b).await? && sees_only(b, a).await?) {
        if std::time::Instant::now() > deadline {
            return fail(format!(
                "after {what} the nodes do not list just each other as alive: {} / {}",
                members(a).await?,
                members(b).await?
            ));
        }
        runtime::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A text from alice on node A reaches bobby on node B live, then the usual canary check.
async fn cluster_works(a: &Node, b: &Node, what: &str) -> Result {
    converged(a, b, what).await?;
    let c = &a.canary;
    // Bobby may already be a member from an earlier case; joining twice is refused, harmless.
    let _ = join_group(b.addr, &b.canary.bobby, &c.sid).await;
    let mut alice = Chat::open(a.addr, &c.alice, &c.sid).await?;
    let mut bobby = Chat::open(b.addr, &b.canary.bobby, &c.sid).await?;
    let text = format!("across the mesh after {what}");
    // A text sent before A learns of B's subscription still arrives: B reads the chat's tail
    // a second after subscribing (README, "Clusters").
    alice.say(&text).await?;
    bobby.expect_text(&text).await?;
    alice.ws.close().await?;
    bobby.ws.close().await?;
    chat_works(a, what).await?;
    chat_works(b, what).await
}

/// Writes `bytes` to node A's mesh port and checks that A refused it and the cluster goes on.
async fn forged_tcp(bytes: &[u8], what: &str) -> Result {
    let (a, b) = cluster()?;
    converged(a, b, "starting").await?;
    let before = refusals(&members(a).await?);
    let mut stream = connect_from(next_source(), mesh_addr(a)?).await?;
    // The node may cut us mid-write: a fine answer to junk.
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    drop(stream);
    let deadline = std::time::Instant::now() + WAIT;
    while refusals(&members(a).await?) == before {
        if std::time::Instant::now() > deadline {
            return fail(format!(
                "node A never counted {what} as refused: {}",
                members(a).await?
            ));
        }
        runtime::sleep(std::time::Duration::from_millis(20)).await;
    }
    cluster_works(a, b, what).await
}

#[test]
fn cookims_start_command_runs_one_node_on_the_embedded_store() -> Result {
    let node = one_node_cluster()?;
    run(async {
        let ready = get(node.addr, "/readyz").await?;
        if ready.status != 200 {
            return fail(format!("/readyz answered {ready:?}"));
        }
        chat_works(node, "starting with -s naming only this node").await
    })
}

#[test]
fn junk_on_the_mesh_port_is_refused() -> Result {
    run(forged_tcp(
        &noise(64 * 1024, 7),
        "64 KiB of junk on the mesh port",
    ))
}

#[test]
fn an_unauthenticated_hello_is_refused() -> Result {
    // A length-prefixed frame shaped like a link hello (format byte, a node id, an address)
    // with no valid authentication.
    let mut hello = vec![2u8, 0];
    hello.extend_from_slice(b"\x0f127.0.0.1:9999\x00\x10");
    hello.extend_from_slice(&noise(32, 9));
    let mut frame = (hello.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&hello);
    run(forged_tcp(&frame, "an unauthenticated hello"))
}

#[test]
fn a_frame_claiming_4_gib_is_refused() -> Result {
    run(forged_tcp(
        &[0xff, 0xff, 0xff, 0xff, 2, 0, 0],
        "a frame claiming 4 GiB",
    ))
}

#[test]
fn junk_datagrams_on_the_mesh_port_are_refused() -> Result {
    let (a, b) = cluster()?;
    run(async {
        converged(a, b, "starting").await?;
        let before = refusals(&members(a).await?);
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        for i in 0..200u64 {
            let size = [1, 16, 100, 512, 1400][(i % 5) as usize];
            socket.send_to(&noise(size, i), mesh_addr(a)?)?;
        }
        let deadline = std::time::Instant::now() + WAIT;
        while refusals(&members(a).await?) == before {
            if std::time::Instant::now() > deadline {
                return fail("node A never counted junk datagrams as refused");
            }
            runtime::sleep(std::time::Duration::from_millis(20)).await;
        }
        cluster_works(a, b, "200 junk datagrams").await
    })
}

#[test]
fn hundreds_of_silent_connections_to_the_mesh_port_do_not_stop_the_cluster() -> Result {
    let (a, b) = cluster()?;
    run(async {
        converged(a, b, "starting").await?;
        let target = mesh_addr(a)?;
        let mut held = Vec::new();
        for _ in 0..300 {
            // Accepted or refused, the node must not care: a refusal is its link cap at work.
            if let Ok(stream) = connect_from(next_source(), target).await {
                held.push(stream);
            }
        }
        cluster_works(a, b, "300 silent mesh connections").await?;
        drop(held);
        cluster_works(a, b, "300 closed mesh connections").await
    })
}
