//! Three cookim nodes in one process sharing one store, each with its own mesh node on
//! loopback: users connected to different nodes chat as on one server. Messages from every
//! node reach every member exactly once and in the stored order, online events and pushes
//! cross nodes, unread counts stay right, and a node that stops leaves the others serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use mesh::node::MemberState;
use mesh::subscriptions::Topic;
use protocol::ids::{SessionId, UserId};
use serde_json::Value;
use store::{Embedded, Store};
use support::fixtures::{create_group, history_texts, join_group, new_count, register};
use support::http::api_ok;
use support::ws::{Chat, subscribe_push};
use support::{Result, TestServer, until};

/// Starts `n` nodes on one shared embedded store; the first is everyone's seed.
fn cluster(n: usize, dir: &std::path::Path) -> Result<Vec<TestServer>> {
    let runtime = runtime::Runtime::new(1)?;
    let store: Arc<dyn Store> = Arc::new(runtime.block_on(Embedded::open(dir))?);
    let first = TestServer::start_in_cluster(store.clone(), &[])?;
    let seed = first.mesh_addr()?;
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(TestServer::start_in_cluster(
            store.clone(),
            std::slice::from_ref(&seed),
        )?);
    }
    Ok(nodes)
}

/// Waits until every node sees the others alive.
async fn converged(nodes: &[&TestServer]) -> Result {
    for node in nodes {
        let mesh = node.mesh().unwrap().clone();
        let others = nodes.len() - 1;
        until("every node to see the others", || {
            let mesh = mesh.clone();
            async move {
                let info = mesh.info().await?;
                Ok(info
                    .members
                    .iter()
                    .filter(|m| m.state == MemberState::Alive)
                    .count()
                    == others)
            }
        })
        .await?;
    }
    Ok(())
}

/// Waits until `node` knows that `count` other nodes have subscribers for `topic`.
async fn knows(node: &TestServer, topic: Topic, count: usize) -> Result {
    let mesh = node.mesh().unwrap().clone();
    until(&format!("{count} nodes subscribed to {topic:?}"), || {
        let (mesh, topic) = (mesh.clone(), topic.clone());
        async move { Ok(mesh.nodes_for(topic).await?.len() == count) }
    })
    .await
}

fn chat_topic(sid: &str) -> Topic {
    Topic::Chat(SessionId::parse(sid).unwrap())
}

/// The next `n` text contents a chat connection receives.
async fn texts(chat: &mut Chat, n: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let frame = chat.next_post("a text").await?;
        out.push(
            frame.json["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    Ok(out)
}

#[test]
fn users_on_three_nodes_chat_as_on_one_server() -> Result {
    let dir = tempfile::tempdir()?;
    let mut nodes = cluster(3, dir.path())?;
    let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
    nodes[0].block_on(async {
        converged(&[&nodes[0], &nodes[1], &nodes[2]]).await?;
        for node in &nodes {
            let ready = support::http::request(
                node.addr(),
                http_types::Method::Get,
                "/readyz",
                None,
                Vec::new(),
            )
            .await?;
            assert_eq!(ready.status, 200, "{}", ready.text());
            assert!(
                ready.text().contains("\"mesh\":\"Joined\""),
                "{}",
                ready.text()
            );
        }

        let alice = register(a, "alice1").await?;
        let bob = register(b, "bobby").await?;
        let carol = register(c, "carol").await?;
        let dave = register(c, "dave1").await?;
        let sid = create_group(a, &alice, "everywhere", true).await?;
        join_group(b, &bob, &sid).await?;
        join_group(c, &carol, &sid).await?;
        join_group(c, &dave, &sid).await?;

        // Bob's push channel is on B; A must learn it before it can push there.
        let (mut bob_push, _) = subscribe_push(b, &bob).await?;
        let mut on_a = Chat::open(a, &alice, &sid).await?;
        let mut on_b = Chat::open(b, &bob, &sid).await?;
        knows(&nodes[0], chat_topic(&sid), 1).await?;
        // Carol coming online on C is announced on A.
        let mut on_c = Chat::open(c, &carol, &sid).await?;
        let carol_uid = carol.uid.clone();
        on_a.ws
            .next_json_where("carol's online event from C", |v| {
                v["msgType"] == "online" && v["uid"] == carol_uid.as_str()
            })
            .await?;
        for node in &nodes {
            knows(node, chat_topic(&sid), 2).await?;
        }
        knows(&nodes[0], Topic::Push(UserId::parse(&bob.uid)?), 1).await?;

        // One message each way.
        on_a.say("hello from A").await?;
        assert_eq!(texts(&mut on_b, 1).await?, ["hello from A"]);
        assert_eq!(texts(&mut on_c, 1).await?, ["hello from A"]);
        let push: Value = bob_push
            .next_json_where("bob's push from A", |v| v["msgType"] == "text")
            .await?;
        assert_eq!(push["content"], "hello from A");
        assert_eq!(push["sessionid"], sid.as_str());
        assert_eq!(push["sessionName"], "everywhere");
        assert_eq!(texts(&mut on_a, 1).await?, ["hello from A"]);
        on_b.say("hello from B").await?;
        for chat in [&mut on_a, &mut on_b, &mut on_c] {
            assert_eq!(texts(chat, 1).await?, ["hello from B"]);
        }

        // Three nodes write the chat at once: everyone sees the stored order, once each.
        let per_node = 40;
        for n in 0..per_node {
            on_a.say(&format!("a{n}")).await?;
            on_b.say(&format!("b{n}")).await?;
            on_c.say(&format!("c{n}")).await?;
        }
        let seen_a = texts(&mut on_a, 3 * per_node).await?;
        let seen_b = texts(&mut on_b, 3 * per_node).await?;
        let seen_c = texts(&mut on_c, 3 * per_node).await?;
        let stored = history_texts(a, &alice, &sid).await?;
        let burst: Vec<String> = stored.iter().skip(2).cloned().collect();
        assert_eq!(burst.len(), 3 * per_node);
        assert_eq!(seen_a, burst, "A's order is the stored order");
        assert_eq!(seen_b, burst, "B's order is the stored order");
        assert_eq!(seen_c, burst, "C's order is the stored order");

        // Unread counts: members online somewhere have none; dave (offline) has them all.
        let total = i64::try_from(stored.len())?;
        for (addr, user) in [(a, &alice), (b, &bob), (c, &carol)] {
            let sid = &sid;
            until(
                "unread counts of online members to settle at 0",
                || async move { Ok(new_count(addr, user, sid).await? == 0) },
            )
            .await?;
        }
        assert!(new_count(c, &dave, &sid).await? >= total);

        // A member joining and leaving through node C is announced on A and B, in order.
        let erin = register(c, "erin1").await?;
        join_group(c, &erin, &sid).await?;
        api_ok(
            c,
            "leaveGroupSession",
            &[("userToken", &erin.token), ("sessionid", &sid)],
        )
        .await?;
        let erin_uid = erin.uid.clone();
        for chat in [&mut on_a, &mut on_b] {
            for kind in ["join", "leave"] {
                let event = chat
                    .ws
                    .next_json_where(&format!("erin's {kind} from C"), |v| {
                        v["msgType"] == "join" || v["msgType"] == "leave"
                    })
                    .await?;
                assert_eq!(
                    (event["msgType"].as_str(), event["uid"].as_str()),
                    (Some(kind), Some(erin_uid.as_str()))
                );
            }
        }

        // Node C stops: A and B notice at once and go on.
        let carol_again = api_ok(b, "verifyUserToken", &[("userToken", &carol.token)]).await?;
        assert_eq!(carol_again["uid"], carol.uid.as_str());
        Result::<()>::Ok(())
    })?;
    nodes[2].stop()?;
    nodes[0].block_on(async {
        converged(&[&nodes[0], &nodes[1]]).await?;
        let members = support::http::request(
            a,
            http_types::Method::Get,
            "/cluster/members",
            None,
            Vec::new(),
        )
        .await?;
        assert_eq!(members.status, 200);
        let body: Value = serde_json::from_slice(&members.body)?;
        assert_eq!(body["clustered"], true);
        Result::<()>::Ok(())
    })?;
    Ok(())
}

#[test]
fn a_node_that_resubscribes_delivers_only_what_comes_after() -> Result {
    let dir = tempfile::tempdir()?;
    let nodes = cluster(2, dir.path())?;
    let (a, b) = (nodes[0].addr(), nodes[1].addr());
    nodes[0].block_on(async {
        converged(&[&nodes[0], &nodes[1]]).await?;
        let alice = register(a, "alice1").await?;
        let bob = register(b, "bobby").await?;
        let sid = create_group(a, &alice, "comings", true).await?;
        join_group(b, &bob, &sid).await?;
        let mut on_a = Chat::open(a, &alice, &sid).await?;
        let on_b = Chat::open(b, &bob, &sid).await?;
        knows(&nodes[0], chat_topic(&sid), 1).await?;
        on_a.say("while bob is here").await?;
        texts(&mut on_a, 1).await?;

        // Bob leaves the chat page; B's session actor stays (idle) but B unsubscribes, so
        // what alice says now does not reach B.
        on_b.ws.close().await?;
        knows(&nodes[0], chat_topic(&sid), 0).await?;
        for n in 0..5 {
            on_a.say(&format!("missed {n}")).await?;
        }
        assert_eq!(texts(&mut on_a, 5).await?.len(), 5);

        // Bob comes back: history has the five; live delivery starts after them.
        let mut on_b = Chat::open(b, &bob, &sid).await?;
        knows(&nodes[0], chat_topic(&sid), 1).await?;
        on_a.say("after bob is back").await?;
        assert_eq!(texts(&mut on_b, 1).await?, ["after bob is back"]);
        assert_eq!(history_texts(b, &bob, &sid).await?.len(), 7);
        Result::<()>::Ok(())
    })
}

/// The last event of a burst that never reached a node (lost with a link cut) still reaches
/// that node's clients: a chat with subscribers reads its tail from the store after a second
/// of quiet, since no later event will show the gap.
#[test]
fn a_lost_last_event_arrives_after_a_second_of_quiet() -> Result {
    let dir = tempfile::tempdir()?;
    let runtime = runtime::Runtime::new(1)?;
    let store: Arc<dyn Store> = Arc::new(runtime.block_on(Embedded::open(dir.path()))?);
    let first = TestServer::start_in_cluster(store.clone(), &[])?;
    let second = TestServer::start_in_cluster(store.clone(), &[first.mesh_addr()?])?;
    let (a, b) = (first.addr(), second.addr());
    first.block_on(async {
        converged(&[&first, &second]).await?;
        let alice = register(a, "alice1").await?;
        let bob = register(b, "bobby").await?;
        let sid = create_group(a, &alice, "quiet", true).await?;
        join_group(b, &bob, &sid).await?;
        let mut on_a = Chat::open(a, &alice, &sid).await?;
        let mut on_b = Chat::open(b, &bob, &sid).await?;
        knows(&first, chat_topic(&sid), 1).await?;
        knows(&second, chat_topic(&sid), 1).await?;
        // Twice: the first lost event may also come with the tail a node reads a second after
        // subscribing; by the time it arrived that read is done, so the second can only come
        // with the quiet-chat read.
        for round in ["first", "second"] {
            on_a.say(&format!("{round} heard")).await?;
            assert_eq!(texts(&mut on_a, 1).await?, [format!("{round} heard")]);
            assert_eq!(texts(&mut on_b, 1).await?, [format!("{round} heard")]);
            // Stored as by a third node whose event went nowhere: in the store, never on
            // the mesh.
            let lost = format!("{round} lost on the way");
            store
                .append(
                    store::model::NewMessage {
                        id: protocol::ids::MessageId::from_random(rand::random()),
                        session_id: SessionId::parse(&sid)?,
                        uid: UserId::parse(&alice.uid)?,
                        msg_type: protocol::chat::ChatKind::Text,
                        content: lost.clone(),
                        file_name: String::new(),
                        file_type: String::new(),
                        fileid: None,
                        thumbid: None,
                        dateline: 1,
                        client_id: None,
                        reply_to: None,
                    },
                    &Default::default(),
                )
                .await?;
            assert_eq!(texts(&mut on_b, 1).await?, std::slice::from_ref(&lost));
            assert_eq!(texts(&mut on_a, 1).await?, [lost]);
        }
        Result::<()>::Ok(())
    })
}

/// Typing and read receipts cross nodes to the connections that asked for them (`ext`), and
/// never reach CookIM's client on a third node.
#[test]
fn typing_and_receipts_cross_nodes() -> Result {
    let dir = tempfile::tempdir()?;
    let nodes = cluster(3, dir.path())?;
    let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
    nodes[0].block_on(async {
        converged(&[&nodes[0], &nodes[1], &nodes[2]]).await?;
        let ann = register(a, "annie").await?;
        let ben = register(b, "benny").await?;
        let cat = register(c, "catty").await?;
        let sid = create_group(a, &ann, "presence", true).await?;
        join_group(b, &ben, &sid).await?;
        join_group(c, &cat, &sid).await?;
        let mut on_a = Chat::open_ext(a, &ann, &sid).await?;
        let mut on_b = Chat::open_ext(b, &ben, &sid).await?;
        let mut on_c = Chat::open(c, &cat, &sid).await?;
        for node in &nodes {
            knows(node, chat_topic(&sid), 2).await?;
        }

        on_a.up("typing", serde_json::json!({})).await?;
        let typing = on_b.ws.next_of("typing").await?;
        assert_eq!(typing["uid"], ann.uid.as_str());
        assert_eq!(typing["nickname"], "annie");

        on_a.say("across").await?;
        let seq = on_b.expect_text("across").await?.json["seq"]
            .as_i64()
            .expect("a seq");
        on_b.up("read", serde_json::json!({ "seq": seq })).await?;
        let read = on_a.ws.next_of("read").await?;
        assert_eq!(
            (&read["uid"], &read["seq"]),
            (&Value::from(ben.uid.as_str()), &Value::from(seq))
        );
        let marks = api_ok(
            c,
            "getReadMarks",
            &[("userToken", &cat.token), ("sessionid", &sid)],
        )
        .await?;
        let ben_mark = marks["readMarks"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["uid"] == ben.uid.as_str()))
            .and_then(|m| m["seq"].as_i64());
        assert_eq!(ben_mark, Some(seq));

        // A reply crosses nodes with its preview (read on B, carried by the envelope).
        on_b.up(
            "text",
            serde_json::json!({ "content": "re", "replyTo": seq }),
        )
        .await?;
        let reply = on_a.expect_text("re").await?;
        assert_eq!(reply.json["replyTo"], seq);
        assert_eq!(reply.json["replyPreview"]["content"], "across");
        assert_eq!(reply.json["replyPreview"]["nickname"], "annie");

        // CookIM's client on C: the texts, and no typing or read frame before or between them.
        on_c.expect_text_and_no_extension("across").await?;
        let plain = on_c.expect_text_and_no_extension("re").await?;
        assert!(plain.json.get("replyTo").is_none());
        on_a.up("typing", serde_json::json!({})).await?;
        on_a.say("last").await?;
        on_c.expect_text_and_no_extension("last").await?;
        Ok(())
    })
}
