//! Three real `cookim` processes on loopback sharing the MongoDB test server: users on
//! different nodes chat in a group and privately, pushes cross nodes; kill -9 one node and
//! the other two go on at once; restart it and it rejoins and delivers again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::client::{self, Socket, User, field};
use harness::cluster::{NodeOptions, NodeProcess, cookim_binary, free_mesh_port};
use serde_json::json;

type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// Bounds every wait; a passing run never comes close.
const WAIT: Duration = Duration::from_secs(20);

fn mongo_uri() -> Result<String> {
    std::env::var("MONGO_URI").map_err(|_| {
        "MONGO_URI is not set: start the test server with eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI (scripts/test does this)".into()
    })
}

/// Polls `check` until it holds; the deadline names what never happened.
async fn until<F, Fut>(what: &str, mut check: F) -> Result
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        smol::Timer::after(Duration::from_millis(20)).await;
    }
}

/// Live members this node sees.
async fn alive(node: SocketAddr) -> Result<usize> {
    let (_, body) = client::get_json(node, "/cluster/members").await?;
    Ok(body["node"]["members"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["state"] == "Alive").count())
        .unwrap_or_default())
}

async fn joined(nodes: &[SocketAddr], others: usize) -> Result {
    for &node in nodes {
        until(
            "every node to see the others alive and be ready",
            || async move {
                let (status, ready) = client::get_json(node, "/readyz").await?;
                Ok(status == 200 && ready["mesh"] == "Joined" && alive(node).await? == others)
            },
        )
        .await?;
    }
    Ok(())
}

/// The next text content on a chat socket.
async fn next_text(socket: &mut Socket) -> Result<String> {
    let frame = client::wait_for(socket, WAIT, |v| v["msgType"] == "text").await?;
    Ok(field(&frame, "content"))
}

async fn say(socket: &mut Socket, user: &User, session_token: &str, text: &str) -> Result {
    let up = json!({"userToken": user.token, "sessionToken": session_token, "msgType": "text", "content": text});
    Ok(client::send_json(socket, &up).await?)
}

/// Sends `text` from `from` until `to` receives it: right after a node (re)joins, the other
/// nodes learn its subscriptions within a gossip round, and a message sent before that is
/// stored but not carried live (it is in history).
async fn say_until_heard(from: (&mut Socket, &User, &str), to: &mut Socket, text: &str) -> Result {
    let (socket, user, token) = from;
    let deadline = Instant::now() + WAIT;
    for n in 0.. {
        let attempt = format!("{text} #{n}");
        say(socket, user, token, &attempt).await?;
        let heard = client::wait_for(to, Duration::from_millis(500), |v| {
            v["msgType"] == "text" && v["content"] == attempt.as_str()
        })
        .await;
        if heard.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{text:?} never crossed").into());
        }
    }
    Ok(())
}

#[test]
fn three_processes_chat_survive_a_kill_and_a_restart() -> Result {
    let uri = mongo_uri()?;
    let bin = cookim_binary()?;
    let root = std::env::temp_dir().join(format!("cookim-cluster-{}", rand::random::<u64>()));
    let ports = [free_mesh_port()?, free_mesh_port()?, free_mesh_port()?];
    let seed = format!("127.0.0.1:{}", ports[0]);
    let options = |i: usize| NodeOptions {
        data_dir: root.join(format!("node{i}")),
        host: "127.0.0.1".into(),
        mesh_port: ports[i],
        seeds: vec![seed.clone()],
        mongo_uri: Some(uri.clone()),
        jwt_secret: "cluster test secret shared by every node".into(),
        extra: Vec::new(),
        bind: None,
        wrapper: Vec::new(),
    };
    let mut nodes: Vec<NodeProcess> = (0..3)
        .map(|i| NodeProcess::start(&bin, options(i)))
        .collect::<Result<_, _>>()?;
    let result = smol::block_on(run(&bin, &mut nodes, options(2)));
    drop(nodes);
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn run(bin: &Path, nodes: &mut [NodeProcess], restart_as: NodeOptions) -> Result {
    let (a, b, c) = (nodes[0].web, nodes[1].web, nodes[2].web);
    joined(&[a, b, c], 2).await?;

    let tag = rand::random::<u32>();
    let alice = client::register(a, &format!("alice{tag}@c.test"), "alice", "secret1").await?;
    let bob = client::register(b, &format!("bob{tag}@c.test"), "bobby", "secret1").await?;
    let carol = client::register(c, &format!("carol{tag}@c.test"), "carol", "secret1").await?;
    let sid = client::create_group(a, &alice, &format!("cluster {tag}")).await?;
    client::join_group(b, &bob, &sid).await?;
    client::join_group(c, &carol, &sid).await?;

    let mut bob_push = client::connect(b, "/ws-push").await?;
    client::send_json(&mut bob_push, &json!({"userToken": bob.token})).await?;
    client::wait_for(&mut bob_push, WAIT, |v| v["msgType"] == "accept").await?;
    let (ta, mut on_a) = client::open_chat(a, &alice, &sid, WAIT).await?;
    let (tb, mut on_b) = client::open_chat(b, &bob, &sid, WAIT).await?;
    let (tc, mut on_c) = client::open_chat(c, &carol, &sid, WAIT).await?;

    // A group across three nodes, once the subscriptions have spread.
    say_until_heard((&mut on_a, &alice, &ta), &mut on_c, "warm-up A->C").await?;
    say_until_heard((&mut on_c, &carol, &tc), &mut on_b, "warm-up C->B").await?;
    client::wait_for(&mut bob_push, WAIT, |v| v["msgType"] == "text").await?;
    say(&mut on_b, &bob, &tb, "from B").await?;
    for socket in [&mut on_a, &mut on_c] {
        let text = client::wait_for(socket, WAIT, |v| v["content"] == "from B").await?;
        assert_eq!(text["uid"], bob.uid.as_str());
    }
    say(&mut on_a, &alice, &ta, "from A").await?;
    let push = client::wait_for(&mut bob_push, WAIT, |v| v["content"] == "from A").await?;
    assert_eq!(push["sessionid"], sid.as_str());

    // A private chat between A and C.
    let private = client::api(
        a,
        "getPrivateSession",
        &[("userToken", &alice.token), ("ouid", &carol.uid)],
    )
    .await?;
    let psid = field(&private, "sessionid");
    let (pa, mut priv_a) = client::open_chat(a, &alice, &psid, WAIT).await?;
    let (_, mut priv_c) = client::open_chat(c, &carol, &psid, WAIT).await?;
    say_until_heard((&mut priv_a, &alice, &pa), &mut priv_c, "private A->C").await?;

    // kill -9 node C: A and B carry on at once, and soon agree C is gone.
    let killed = Instant::now();
    nodes[2].kill()?;
    say(&mut on_a, &alice, &ta, "after the kill").await?;
    assert_eq!(
        next_text_skipping(&mut on_b, "after the kill").await?,
        "after the kill"
    );
    joined(&[a, b], 1).await?;
    eprintln!("C no longer alive for A and B after {:?}", killed.elapsed());

    // Restart C (same mesh port): it rejoins and delivers again.
    let restarted = NodeProcess::start(bin, restart_as)?;
    let c = restarted.web;
    nodes[2] = restarted;
    joined(&[a, b, c], 2).await?;
    let (tc, mut on_c) = client::open_chat(c, &carol, &sid, WAIT).await?;
    say_until_heard((&mut on_b, &bob, &tb), &mut on_c, "B->C after the restart").await?;
    say_until_heard(
        (&mut on_c, &carol, &tc),
        &mut on_a,
        "C->A after the restart",
    )
    .await?;

    // Everything acknowledged is in history once.
    let history = client::api(
        a,
        "listMessages",
        &[
            ("userToken", &alice.token),
            ("sessionid", &sid),
            ("count", "200"),
        ],
    )
    .await?;
    let texts: Vec<String> = history["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["msgType"] == "text")
        .map(|m| field(m, "content"))
        .collect::<Vec<_>>();
    for wanted in ["from B", "from A", "after the kill"] {
        assert_eq!(
            texts.iter().filter(|t| *t == wanted).count(),
            1,
            "{wanted}: {texts:?}"
        );
    }
    Ok(())
}

/// The text `want`, skipping other texts (warm-up retries may still be arriving).
async fn next_text_skipping(socket: &mut Socket, want: &str) -> Result<String> {
    loop {
        let text = next_text(socket).await?;
        if text == want {
            return Ok(text);
        }
    }
}

#[test]
fn nat_mode_nodes_reach_each_other_by_their_advertised_names() -> Result {
    let uri = mongo_uri()?;
    let bin = cookim_binary()?;
    let root = std::env::temp_dir().join(format!("cookim-nat-{}", rand::random::<u64>()));
    let ports = [free_mesh_port()?, free_mesh_port()?];
    // `localhost` is the only name these machines resolve; peers dial it, never an address.
    let seed = format!("localhost:{}", ports[0]);
    let options = |i: usize| NodeOptions {
        data_dir: root.join(format!("node{i}")),
        host: "localhost".into(),
        mesh_port: ports[i],
        seeds: vec![seed.clone()],
        mongo_uri: Some(uri.clone()),
        jwt_secret: "nat test secret shared by every node".into(),
        extra: vec!["--nat".into()],
        bind: None,
        wrapper: Vec::new(),
    };
    let nodes: Vec<NodeProcess> = (0..2)
        .map(|i| NodeProcess::start(&bin, options(i)))
        .collect::<Result<_, _>>()?;
    let (a, b) = (nodes[0].web, nodes[1].web);
    let result = smol::block_on(async {
        joined(&[a, b], 1).await?;
        let (_, members) = client::get_json(a, "/cluster/members").await?;
        let me = members["node"]["me"].to_string();
        assert!(me.contains(&format!("localhost:{}", ports[0])), "{members}");
        let tag = rand::random::<u32>();
        let ann = client::register(a, &format!("ann{tag}@c.test"), "annie", "secret1").await?;
        let ben = client::register(b, &format!("ben{tag}@c.test"), "benny", "secret1").await?;
        let sid = client::create_group(a, &ann, &format!("nat {tag}")).await?;
        client::join_group(b, &ben, &sid).await?;
        let (ta, mut on_a) = client::open_chat(a, &ann, &sid, WAIT).await?;
        let (_, mut on_b) = client::open_chat(b, &ben, &sid, WAIT).await?;
        say_until_heard((&mut on_a, &ann, &ta), &mut on_b, "across NAT").await
    });
    drop(nodes);
    let _ = std::fs::remove_dir_all(&root);
    result
}
