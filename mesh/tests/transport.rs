//! Real mesh nodes on loopback (UDP + TCP on port 0): they find each other through a seed,
//! replicate subscriptions, and deliver envelopes only where subscribers are, in order; a node
//! that stops leaves and the others notice at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Instant;

use cookim_mesh::Delivery;
use cookim_mesh::node::{MemberState, MeshStatus};
use cookim_mesh::subscriptions::Topic;
use protocol::ids::{SessionId, UserId};
use runtime::Runtime;
use support::{Result, TestNode, WAIT, alive, envelope, target, until};

#[test]
fn three_nodes_join_replicate_subscriptions_and_deliver_only_where_needed() -> Result {
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        assert_eq!(a.info().await?.status, MeshStatus::Alone);
        let mut b = TestNode::start(&runtime, &[&a]).await?;
        let mut c = TestNode::start(&runtime, &[&a]).await?;
        for node in [&a, &b, &c] {
            until("every node to see two live members", || async {
                Ok(alive(&node.info().await?) == 2)
            })
            .await?;
            assert_eq!(node.info().await?.status, MeshStatus::Joined);
        }

        let chat = SessionId::from_random([1; 12]);
        let other = SessionId::from_random([2; 12]);
        let (u1, u2) = (UserId::from_random([3; 12]), UserId::from_random([4; 12]));
        b.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        b.mesh.subscribe(Topic::Push(u1.clone())).await?;
        c.mesh.subscribe(Topic::Chat(other.clone())).await?;
        c.mesh.subscribe(Topic::Push(u2.clone())).await?;
        until("A to learn B's and C's subscriptions", || async {
            Ok(
                a.mesh.nodes_for(Topic::Chat(chat.clone())).await? == vec![b.mesh.id().clone()]
                    && a.mesh.nodes_for(Topic::Push(u2.clone())).await?
                        == vec![c.mesh.id().clone()],
            )
        })
        .await?;

        // One event for `chat`, pushed to u1 and u2: B gets the chat part and u1 only, C
        // (no subscriber for `chat`) gets only the push to u2.
        let event = envelope(&chat, 1, "hello", vec![target(&u1), target(&u2)]);
        a.mesh.publish(event.clone()).await?;
        let at_b = b.next("B's copy").await?;
        assert!(at_b.to_chat);
        assert_eq!(at_b.push_to, vec![target(&u1)]);
        assert_eq!(at_b.content, "hello");
        let at_c = c.next("C's copy").await?;
        assert!(!at_c.to_chat, "C has no subscriber for that chat");
        assert_eq!(at_c.push_to, vec![target(&u2)]);

        // Nothing for `chat` reaches C: the next thing C sees is an event of `other`.
        a.mesh
            .publish(envelope(&chat, 2, "only B", Vec::new()))
            .await?;
        a.mesh
            .publish(envelope(&other, 1, "for C", Vec::new()))
            .await?;
        assert_eq!(c.next("C's next").await?.content, "for C");
        assert_eq!(b.next("B's next").await?.content, "only B");

        // Many events over one link arrive complete and in order.
        for seq in 3..=1002 {
            a.mesh
                .publish(envelope(&chat, seq, "burst", Vec::new()))
                .await?;
        }
        for seq in 3..=1002 {
            assert_eq!(b.next("the burst").await?.seq, seq);
        }

        // An unsubscribed chat is no longer sent to B.
        b.mesh.unsubscribe(Topic::Chat(chat.clone())).await?;
        until("A to learn B unsubscribed", || async {
            Ok(a.mesh
                .nodes_for(Topic::Chat(chat.clone()))
                .await?
                .is_empty())
        })
        .await?;

        // C stops: it leaves, and A and B drop it (and its subscriptions) at once.
        let c_id = c.mesh.id().clone();
        let stopped = Instant::now();
        c.stop().await?;
        for node in [&a, &b] {
            until("C to be gone", || async {
                Ok(alive(&node.info().await?) == 1)
            })
            .await?;
            assert!(
                node.mesh
                    .nodes_for(Topic::Chat(other.clone()))
                    .await?
                    .is_empty()
            );
            assert!(
                !node
                    .info()
                    .await?
                    .members
                    .iter()
                    .any(|m| m.id == c_id && m.state == MemberState::Alive)
            );
        }
        assert!(stopped.elapsed() < WAIT);
        let stats = a.info().await?.transport;
        assert!(stats.envelopes_sent >= 1003, "{stats:?}");
        assert_eq!(stats.envelopes_dropped, 0, "{stats:?}");
        a.stop().await?;
        b.stop().await?;
        Ok(())
    })
}

#[test]
fn garbage_on_the_link_port_is_refused_and_the_node_goes_on() -> Result {
    use std::io::Write;
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        let mut b = TestNode::start(&runtime, &[&a]).await?;
        until("A and B to meet", || async {
            Ok(alive(&a.info().await?) == 1)
        })
        .await?;
        let addr = a.mesh.local_addr();
        // No hello; a huge length; garbage datagrams.
        for bytes in [b"GET / HTTP/1.1\r\n\r\n".to_vec(), vec![0xff; 16]] {
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.write_all(&bytes)?;
        }
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        for _ in 0..100 {
            udp.send_to(&[0xde, 0xad, 0xbe, 0xef], addr)?;
        }
        let chat = SessionId::from_random([9; 12]);
        a.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        b.learns_subscribers(Topic::Chat(chat.clone())).await?;
        b.mesh
            .publish(envelope(&chat, 1, "still fine", Vec::new()))
            .await?;
        assert_eq!(a.next("the envelope").await?.content, "still fine");
        until(
            "the bad connections and datagrams to be counted",
            || async {
                let stats = a.info().await?.transport;
                Ok(stats.auth_failures >= 2 && stats.datagram_auth_failures >= 1)
            },
        )
        .await?;
        assert_eq!(
            a.info().await?.core.bad_datagrams,
            0,
            "foca saw none of them"
        );
        a.stop().await?;
        b.stop().await?;
        Ok(())
    })
}

/// A sender whose link queue to a slow peer overflows drops envelopes, and then tells the
/// peer so on the same link: the peer gets a resync (to read what it missed from the store)
/// without the link breaking, even when no later envelope would show the gap.
#[test]
fn a_peer_that_missed_envelopes_at_a_full_queue_is_told_to_resync() -> Result {
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start_with(&runtime, &[], |c| c.link_queue = 1).await?;
        let mut b = TestNode::start_with(&runtime, &[&a], |c| c.delivery_queue = 1).await?;
        until("A and B to meet", || async {
            Ok(alive(&a.info().await?) == 1 && alive(&b.info().await?) == 1)
        })
        .await?;
        let chat = SessionId::parse(&"c".repeat(24))?;
        b.mesh.subscribe(Topic::Chat(chat.clone())).await?;
        a.learns_subscribers(Topic::Chat(chat.clone())).await?;
        a.mesh
            .publish(envelope(&chat, 1, "hello", Vec::new()))
            .await?;
        assert_eq!(b.next("the first envelope").await?.seq, 1);
        // What the link's opening signalled is behind us.
        while b.deliveries.try_recv().is_some() {}
        let opened = a.info().await?.transport.links_opened;

        // B takes nothing while A publishes far more than TCP buffers and a queue of one
        // hold: A must drop some.
        let big = "x".repeat(100 * 1024);
        let mut seq = 1;
        while a.info().await?.transport.envelopes_dropped == 0 && seq < 2000 {
            seq += 1;
            a.mesh
                .publish(envelope(&chat, seq, &big, Vec::new()))
                .await?;
        }
        assert!(a.info().await?.transport.envelopes_dropped > 0);

        // B catches up: whatever arrives, a resync comes after the drop.
        let mut last = 1;
        loop {
            match runtime::deadline(WAIT, b.deliveries.recv()).await {
                Ok(Some(Delivery::Envelope(e))) => {
                    assert!(e.seq > last, "{} after {last}", e.seq);
                    last = e.seq;
                }
                Ok(Some(Delivery::Resync)) => break,
                other => return Err(format!("expected a resync, got {other:?}").into()),
            }
        }
        assert!(last < seq, "every envelope arrived: nothing was missed");
        let stats = a.info().await?.transport;
        assert_eq!(stats.links_opened, opened, "the link broke: {stats:?}");
        assert!(stats.lost_marks_sent >= 1, "{stats:?}");
        a.stop().await?;
        b.stop().await
    })
}

/// A link opening (its handshake), a mark of frames the sender dropped on it, and its
/// closing are each handed to the application as a resync, which re-reads what lost events
/// would have carried.
#[test]
fn links_opening_marked_lost_and_closing_are_reported() -> Result {
    use cookim_mesh::identity::NodeId;
    use cookim_mesh::link::{self, Frame};
    use futures_lite::AsyncWriteExt;
    let runtime = Runtime::new(2)?;
    runtime.block_on(async {
        let mut a = TestNode::start(&runtime, &[]).await?;
        let mut stream = async_net::TcpStream::connect(a.mesh.local_addr()).await?;
        let (acceptor, held) = support::dial_by_hand(
            &mut stream,
            &NodeId::from("127.0.0.1:9"),
            &support::secret()?,
        )
        .await?;
        assert_eq!(&acceptor, a.mesh.id());
        assert!(held, "the acceptor proves the same key");
        let mut next = async |what: &str| match runtime::deadline(WAIT, a.deliveries.recv()).await {
            Ok(Some(Delivery::Resync)) => Ok(()),
            other => Err(format!("expected a resync for {what}, got {other:?}")),
        };
        next("the handshake").await?;
        stream.write_all(&link::encode(&Frame::Lost)?).await?;
        next("the lost mark").await?;
        drop(stream);
        next("the closing").await?;
        let stats = a.info().await?.transport;
        assert_eq!((stats.bad_frames, stats.auth_failures), (0, 0), "{stats:?}");
        a.stop().await
    })
}
