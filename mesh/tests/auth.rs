//! Cluster authentication on real sockets (loopback, port 0): nodes sharing the key join and
//! deliver; a node with another key, a peer of the old link format and a hand-written client
//! without the key get nothing through; replayed SWIM datagrams are refused; silent
//! connections cannot lock a real peer out. Every refusal shows in the counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cookim_mesh::ClusterSecret;
use cookim_mesh::config::{MAX_HANDSHAKES, MeshConfig};
use cookim_mesh::envelope;
use cookim_mesh::identity::NodeId;
use cookim_mesh::link::{self, Frame};
use cookim_mesh::node::{MemberState, MeshStatus};
use cookim_mesh::subscriptions::Topic;
use futures_lite::AsyncWriteExt;
use protocol::ids::SessionId;
use runtime::Runtime;
use support::{Result, TestNode, WAIT, alive, closed_by_peer, envelope, until};

fn other_key() -> Result<ClusterSecret> {
    Ok(ClusterSecret::new(
        b"another cluster's key, 32+ bytes long",
    )?)
}

fn with_other_key(config: &mut MeshConfig) {
    if let Ok(key) = other_key() {
        config.cluster_secret = key;
    }
}

#[test]
fn nodes_sharing_the_key_join_and_deliver_and_a_node_with_another_key_never_joins() -> Result {
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        let mut b = TestNode::start(&runtime, &[&a]).await?;
        let mut c = TestNode::start_with(&runtime, &[&a], with_other_key).await?;
        until("A and B to meet", || async {
            Ok(alive(&a.info().await?) == 1 && alive(&b.info().await?) == 1)
        })
        .await?;
        until("A to refuse C's announcements", || async {
            Ok(a.info().await?.transport.datagram_auth_failures >= 2)
        })
        .await?;

        let chat = SessionId::from_random([5; 12]);
        a.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        c.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        b.learns_subscribers(Topic::Chat(chat.clone())).await?;
        b.mesh
            .publish(envelope(&chat, 1, "for A", Vec::new()))
            .await?;
        assert_eq!(a.next("B's envelope").await?.content, "for A");

        // C is alone: nobody knows it, it knows nobody, and nobody sends it anything.
        let c_id = c.mesh.id().clone();
        for node in [&a, &b] {
            let info = node.info().await?;
            assert_eq!(alive(&info), 1);
            assert!(!info.members.iter().any(|m| m.id == c_id), "{info:?}");
        }
        assert_eq!(
            b.mesh.nodes_for(Topic::Chat(chat.clone())).await?,
            vec![a.mesh.id().clone()],
            "C's subscription never reached B"
        );
        let info = c.info().await?;
        assert_eq!(info.status, MeshStatus::Joining);
        assert!(
            !info.members.iter().any(|m| m.state == MemberState::Alive),
            "{info:?}"
        );
        assert_eq!(info.transport.links_opened, 0, "{info:?}");
        assert!(
            c.mesh
                .nodes_for(Topic::Chat(chat.clone()))
                .await?
                .is_empty()
        );
        // Nothing published where C listens reaches it.
        c.mesh
            .publish(envelope(&chat, 2, "from C", Vec::new()))
            .await?;
        b.mesh
            .publish(envelope(&chat, 3, "for A again", Vec::new()))
            .await?;
        assert_eq!(a.next("B's second envelope").await?.content, "for A again");
        assert!(c.deliveries.try_recv().is_none());
        assert_eq!(c.info().await?.transport.envelopes_sent, 0);
        a.stop().await?;
        b.stop().await?;
        c.stop().await
    })
}

/// A peer of the old link format (a hello naming any node, then an envelope) and a peer
/// that speaks the handshake with another key are both cut before a frame of theirs is read.
#[test]
fn hand_written_peers_without_the_key_are_cut_and_deliver_nothing() -> Result {
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        let mut b = TestNode::start(&runtime, &[&a]).await?;
        let chat = SessionId::from_random([6; 12]);
        a.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        b.learns_subscribers(Topic::Chat(chat.clone())).await?;
        let forged = link::encode(&Frame::Envelope(envelope::encode(&envelope(
            &chat,
            99,
            "forged",
            Vec::new(),
        ))?))?;

        // Link format 2: a hello frame naming 127.0.0.1:9, then an envelope.
        let mut old = async_net::TcpStream::connect(a.mesh.local_addr()).await?;
        let addr = b"127.0.0.1:9";
        let mut hello = vec![0, 0, 0, 3 + addr.len() as u8 + 1, 2, 0, addr.len() as u8];
        hello.extend_from_slice(addr);
        hello.push(0);
        old.write_all(&hello).await?;
        old.write_all(&forged).await?;
        closed_by_peer(&mut old, "the old-format peer").await?;

        // The handshake spoken right, with another key.
        let mut wrong = async_net::TcpStream::connect(a.mesh.local_addr()).await?;
        let me = NodeId::new("127.0.0.1:9", 1);
        let (acceptor, held) = support::dial_by_hand(&mut wrong, &me, &other_key()?).await?;
        assert_eq!(&acceptor, a.mesh.id());
        assert!(!held, "A proved nothing to a peer without its key");
        let _ = wrong.write_all(&forged).await;
        closed_by_peer(&mut wrong, "the peer with another key").await?;

        until("both refusals to be counted", || async {
            Ok(a.info().await?.transport.auth_failures >= 2)
        })
        .await?;
        // What A delivers next is B's envelope: nothing forged came before it.
        b.mesh
            .publish(envelope(&chat, 1, "real", Vec::new()))
            .await?;
        assert_eq!(a.next("B's envelope").await?.content, "real");
        let stats = a.info().await?.transport;
        assert_eq!(stats.auth_failures, 2, "{stats:?}");
        assert_eq!(stats.bad_frames, 0, "{stats:?}");
        a.stop().await?;
        b.stop().await
    })
}

/// 256 connections that never speak hold at most [`MAX_HANDSHAKES`] handshake slots (the
/// oldest are evicted): a real peer still links and delivers, and the silent ones left are
/// cut at the deadline.
#[test]
fn silent_connections_do_not_lock_a_real_peer_out() -> Result {
    const SILENT: usize = 256;
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        let mut silent = Vec::with_capacity(SILENT);
        for _ in 0..SILENT {
            silent.push(async_net::TcpStream::connect(a.mesh.local_addr()).await?);
        }
        until("A to accept every silent connection", || async {
            let evicted = a.info().await?.transport.handshakes_evicted;
            Ok(evicted == (SILENT - MAX_HANDSHAKES) as u64)
        })
        .await?;

        let mut b = TestNode::start(&runtime, &[&a]).await?;
        let chat = SessionId::from_random([8; 12]);
        a.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        b.learns_subscribers(Topic::Chat(chat.clone())).await?;
        b.mesh
            .publish(envelope(&chat, 1, "got in", Vec::new()))
            .await?;
        assert_eq!(a.next("B's envelope").await?.content, "got in");

        // The newest silent connection was never evicted: the deadline cuts it.
        let mut last = silent.pop().ok_or("no silent connection")?;
        closed_by_peer(&mut last, "the last silent connection").await?;
        until(
            "the silent ones cut at the deadline to be counted",
            || async { Ok(a.info().await?.transport.auth_failures >= 1) },
        )
        .await?;
        a.stop().await?;
        b.stop().await
    })
}

/// A SWIM datagram captured on the wire is accepted once by a node that never saw it, and
/// refused when played again; altered, it is refused as forged.
#[test]
fn a_replayed_swim_datagram_is_refused() -> Result {
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        // A announces itself to a "seed" that is a raw socket: that is the capture.
        let tap = async_net::UdpSocket::bind("127.0.0.1:0").await?;
        let tap_addr = tap.local_addr()?.to_string();
        let mut a = TestNode::start_with(&runtime, &[], |c| c.seeds = vec![tap_addr]).await?;
        let mut buf = vec![0u8; 2048];
        let (len, _) = runtime::deadline(WAIT, tap.recv_from(&mut buf))
            .await
            .map_err(|_| "A announced nothing")??;
        let captured = buf.get(..len).ok_or("short datagram")?.to_vec();

        let mut b = TestNode::start(&runtime, &[]).await?;
        let to = b.mesh.local_addr();
        tap.send_to(&captured, to).await?;
        tap.send_to(&captured, to).await?;
        until("B to receive both copies", || async {
            Ok(b.info().await?.transport.datagrams_received >= 2)
        })
        .await?;
        let stats = b.info().await?.transport;
        assert_eq!(stats.datagram_replays, 1, "{stats:?}");
        assert_eq!(stats.datagram_auth_failures, 0, "{stats:?}");

        let mut altered = captured.clone();
        if let Some(byte) = altered.last_mut() {
            *byte ^= 1;
        }
        tap.send_to(&altered, to).await?;
        until("B to refuse the altered copy", || async {
            Ok(b.info().await?.transport.datagram_auth_failures == 1)
        })
        .await?;
        assert_eq!(b.info().await?.transport.datagram_replays, 1);
        a.stop().await?;
        b.stop().await
    })
}
