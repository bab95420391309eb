//! `cookim-clusterbench`: cluster figures from real `cookim` processes on loopback sharing one
//! MongoDB: delivery latency to members on the sender's node and on other nodes (in the same
//! run), mesh bytes per message, how long a new subscription takes to reach every node, and
//! how long a kill -9 takes to be declared down everywhere.
//!
//! ```text
//! cookim-clusterbench --nodes 5 --members 50 --rate 100 --duration 10 --mongo-uri mongodb://...
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argh::FromArgs;
use cookim_bench::stats::{Percentiles, latency_histogram};
use futures_util::StreamExt;
use harness::client::{self, User, field};
use harness::cluster::{NodeOptions, NodeProcess, cookim_binary, free_mesh_port};
use harness::report;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Cluster latency, propagation and failure detection.
#[derive(FromArgs)]
struct Args {
    /// nodes to start (default 5)
    #[argh(option, default = "5")]
    nodes: usize,
    /// members of the group, spread over the nodes round-robin (default 50)
    #[argh(option, default = "50")]
    members: usize,
    /// messages per second from one sender on the first node (default 100)
    #[argh(option, default = "100")]
    rate: u64,
    /// seconds of sending (default 10)
    #[argh(option, default = "10")]
    duration: u64,
    /// subscription propagation trials (default 20)
    #[argh(option, default = "20")]
    subscription_trials: usize,
    /// kill -9 trials (default 5)
    #[argh(option, default = "5")]
    kill_trials: usize,
    /// the shared MongoDB (default: $MONGO_URI)
    #[argh(option)]
    mongo_uri: Option<String>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = (), E = Error> = std::result::Result<T, E>;

fn main() -> Result {
    let args: Args = argh::from_env();
    smol::block_on(run(args))
}

async fn run(args: Args) -> Result {
    let uri = args
        .mongo_uri
        .clone()
        .or_else(|| std::env::var("MONGO_URI").ok())
        .ok_or("needs --mongo-uri or MONGO_URI")?;
    let bin = cookim_binary()?;
    let root = std::env::temp_dir().join(format!("cookim-clusterbench-{}", rand::random::<u64>()));
    let mut ports = Vec::new();
    for _ in 0..args.nodes.max(2) {
        ports.push(free_mesh_port()?);
    }
    let seeds: Vec<String> = ports
        .iter()
        .take(2)
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let options: Vec<NodeOptions> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| NodeOptions {
            data_dir: root.join(format!("node{i}")),
            host: "127.0.0.1".into(),
            mesh_port: port,
            seeds: seeds.clone(),
            mongo_uri: Some(uri.clone()),
            jwt_secret: "clusterbench secret shared by every node".into(),
            extra: cookim_bench::load::servers::LOAD_FLAGS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            bind: None,
            wrapper: Vec::new(),
        })
        .collect();
    progress(&format!("starting {} nodes", options.len()));
    let mut nodes = Vec::new();
    for o in &options {
        nodes.push(NodeProcess::start(&bin, o.clone())?);
    }
    let result = measure(&args, &bin, &mut nodes).await;
    drop(nodes);
    let _ = std::fs::remove_dir_all(&root);
    let out = result?;
    Ok(report::emit(&out)?)
}

async fn measure(args: &Args, bin: &std::path::Path, nodes: &mut [NodeProcess]) -> Result<Value> {
    let webs: Vec<SocketAddr> = nodes.iter().map(|n| n.web).collect();
    joined(&webs).await?;
    let latency = latency_phase(args, &webs).await?;
    let propagation = subscription_phase(args, &webs).await?;
    let detection = kill_phase(args, bin, nodes).await?;
    Ok(json!({
        "nodes": webs.len(),
        "delivery": latency,
        "subscription_propagation": propagation,
        "kill_detection": detection,
    }))
}

/// The members each node sees, by state.
async fn members(node: SocketAddr) -> Result<Value> {
    Ok(client::get_json(node, "/cluster/members").await?.1)
}

/// Whether `info` shows the run `id` as down (a restarted run has another id).
fn is_down(info: &Value, id: &Value) -> bool {
    info["node"]["members"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| &m["id"] == id && m["state"] == "Down"))
}

fn count_state(info: &Value, state: &str) -> usize {
    info["node"]["members"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["state"] == state).count())
        .unwrap_or_default()
}

async fn joined(webs: &[SocketAddr]) -> Result {
    let deadline = Instant::now() + Duration::from_secs(60);
    for &node in webs {
        loop {
            let (status, _) = client::get_json(node, "/readyz").await?;
            if status == 200 && count_state(&members(node).await?, "Alive") == webs.len() - 1 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{node} never saw the whole cluster").into());
            }
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Mesh bytes sent so far by all nodes: (envelope bytes, SWIM datagram bytes, envelopes).
async fn mesh_bytes(webs: &[SocketAddr]) -> Result<(u64, u64, u64)> {
    let mut total = (0, 0, 0);
    for &node in webs {
        let info = members(node).await?;
        let t = &info["node"]["transport"];
        total.0 += t["envelope_bytes_sent"].as_u64().unwrap_or_default();
        total.1 += t["datagram_bytes_sent"].as_u64().unwrap_or_default();
        total.2 += t["envelopes_sent"].as_u64().unwrap_or_default();
    }
    Ok(total)
}

async fn latency_phase(args: &Args, webs: &[SocketAddr]) -> Result<Value> {
    let tag = rand::random::<u32>();
    let mut users = Vec::new();
    for i in 0..args.members.max(2) {
        let node = webs[i % webs.len()];
        let user = client::register(
            node,
            &format!("cb{tag}-{i}@bench.local"),
            &format!("cb{i:05}"),
            "benchpass",
        )
        .await?;
        users.push((node, user));
    }
    let (owner_node, owner) = users[0].clone();
    let sid = client::create_group(owner_node, &owner, &format!("clusterbench {tag}")).await?;
    for (node, user) in users.iter().skip(1) {
        client::join_group(*node, user, &sid).await?;
    }
    progress(&format!(
        "{} members online over {} nodes",
        users.len(),
        webs.len()
    ));
    let mut sockets = Vec::new();
    for (node, user) in &users {
        let (token, socket) = client::open_chat(*node, user, &sid, Duration::from_secs(30)).await?;
        sockets.push((*node == owner_node, user.clone(), token, socket));
    }
    // Let every node learn every subscription before timing.
    smol::Timer::after(Duration::from_secs(1)).await;
    let same = Arc::new(Mutex::new(latency_histogram()?));
    let cross = Arc::new(Mutex::new(latency_histogram()?));
    let delivered = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let total = args.rate * args.duration;
    let mut readers = Vec::new();
    let mut sender = None;
    for (i, (local, user, token, socket)) in sockets.into_iter().enumerate() {
        let (sink, mut stream) = socket.split();
        if i == 0 {
            sender = Some((user, token, sink));
        }
        let histogram = if local { same.clone() } else { cross.clone() };
        let delivered = delivered.clone();
        readers.push(smol::spawn(async move {
            let mut got = 0;
            while got < total {
                let Some(Ok(async_tungstenite::tungstenite::Message::Text(text))) =
                    stream.next().await
                else {
                    break;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if value["msgType"] != "text" {
                    continue;
                }
                let content = field(&value, "content");
                let Some(sent) = content
                    .split(':')
                    .nth(1)
                    .and_then(|us| us.parse::<u64>().ok())
                else {
                    continue;
                };
                let now = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut h) = histogram.lock() {
                    let _ = h.record(now.saturating_sub(sent).max(1));
                }
                delivered.fetch_add(1, Ordering::Relaxed);
                got += 1;
            }
        }));
    }
    let (user, token, mut sink) = sender.ok_or("no sender")?;
    let before = mesh_bytes(webs).await?;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut next = Instant::now();
    for n in 0..total {
        next += interval;
        let content = format!("{n}:{}", start.elapsed().as_micros());
        let up = json!({"userToken": user.token, "sessionToken": token, "msgType": "text", "content": content});
        sink.send(async_tungstenite::tungstenite::Message::Text(
            up.to_string().into(),
        ))
        .await?;
        if next > Instant::now() {
            smol::Timer::at(next).await;
        }
    }
    let drain = async {
        for reader in readers {
            reader.await;
        }
    };
    futures_lite::FutureExt::or(drain, async {
        smol::Timer::after(Duration::from_secs(10)).await;
    })
    .await;
    let after = mesh_bytes(webs).await?;
    let same = lock_clone(&same)?;
    let cross = lock_clone(&cross)?;
    let (sp, cp) = (Percentiles::of(&same), Percentiles::of(&cross));
    let expected = total * users.len() as u64;
    let got = delivered.load(Ordering::Relaxed);
    let envelope_bytes = after.0.saturating_sub(before.0);
    let envelopes = after.2.saturating_sub(before.2);
    progress(&format!(
        "{total} messages at {}/s: same-node p50 {:.2} ms p99 {:.2} ms; cross-node p50 {:.2} ms p99 {:.2} ms; {got}/{expected} delivered; {} envelope bytes per message",
        args.rate,
        sp.p50_ms,
        sp.p99_ms,
        cp.p50_ms,
        cp.p99_ms,
        envelope_bytes / total.max(1)
    ));
    Ok(json!({
        "members": users.len(),
        "rate": args.rate,
        "messages": total,
        "expected_deliveries": expected,
        "delivered": got,
        "same_node": sp,
        "cross_node": cp,
        "p50_ratio_cross_over_same": cp.p50_ms / sp.p50_ms.max(0.001),
        "p99_ratio_cross_over_same": cp.p99_ms / sp.p99_ms.max(0.001),
        "envelopes_per_message": envelopes as f64 / total.max(1) as f64,
        "envelope_bytes_per_message": envelope_bytes as f64 / total.max(1) as f64,
        "swim_datagram_bytes_during_run": after.1.saturating_sub(before.1),
    }))
}

fn lock_clone(h: &Mutex<Histogram<u64>>) -> Result<Histogram<u64>> {
    h.lock()
        .map(|h| h.clone())
        .map_err(|_| "histogram lock poisoned".into())
}

/// This node's own subscription version, as `observer` knows it.
async fn version_of(observer: SocketAddr, node: &Value) -> Result<u64> {
    let info = members(observer).await?;
    Ok(info["node"]["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| &e["node"] == node)
        .and_then(|e| e["version"].as_u64())
        .unwrap_or_default())
}

async fn subscription_phase(args: &Args, webs: &[SocketAddr]) -> Result<Value> {
    let last = *webs.last().ok_or("no nodes")?;
    let me = members(last).await?["node"]["me"].clone();
    let tag = rand::random::<u32>();
    let user: User = client::register(
        last,
        &format!("sub{tag}@bench.local"),
        "subscriber",
        "benchpass",
    )
    .await?;
    let mut histogram = latency_histogram()?;
    for trial in 0..args.subscription_trials {
        let sid = client::create_group(last, &user, &format!("sub {tag} {trial}")).await?;
        let before = version_of(last, &me).await?;
        let (_, socket) = client::open_chat(last, &user, &sid, Duration::from_secs(30)).await?;
        let opened = Instant::now();
        // The node's own entry moves on once the session actor subscribed.
        let mut own = before;
        while own <= before {
            own = version_of(last, &me).await?;
            if opened.elapsed() > Duration::from_secs(10) {
                return Err("the subscription never showed up locally".into());
            }
        }
        for &other in webs.iter().filter(|w| **w != last) {
            while version_of(other, &me).await? < own {
                if opened.elapsed() > Duration::from_secs(10) {
                    return Err(format!("{other} never learned the subscription").into());
                }
            }
        }
        histogram.record(
            u64::try_from(opened.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        )?;
        drop(socket);
    }
    let p = Percentiles::of(&histogram);
    progress(&format!(
        "a new subscription reached all {} nodes: p50 {:.1} ms, max {:.1} ms ({} trials)",
        webs.len(),
        p.p50_ms,
        p.max_ms,
        p.count
    ));
    Ok(json!({ "trials": p.count, "time_to_all_nodes": p }))
}

async fn kill_phase(
    args: &Args,
    bin: &std::path::Path,
    nodes: &mut [NodeProcess],
) -> Result<Value> {
    let mut histogram = latency_histogram()?;
    let victim = nodes.len() - 1;
    for _ in 0..args.kill_trials {
        let others: Vec<SocketAddr> = nodes.iter().take(victim).map(|n| n.web).collect();
        let id = members(nodes[victim].web).await?["node"]["me"].clone();
        let killed = Instant::now();
        nodes[victim].kill()?;
        for &node in &others {
            while !is_down(&members(node).await?, &id) {
                if killed.elapsed() > Duration::from_secs(30) {
                    return Err(format!("{node} never declared the killed node down").into());
                }
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        }
        histogram.record(
            u64::try_from(killed.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        )?;
        let options = nodes[victim].options.clone();
        nodes[victim] = NodeProcess::start(bin, options)?;
        let webs: Vec<SocketAddr> = nodes.iter().map(|n| n.web).collect();
        joined(&webs).await?;
    }
    let p = Percentiles::of(&histogram);
    progress(&format!(
        "kill -9 declared down by every other node: p50 {:.0} ms, max {:.0} ms ({} trials)",
        p.p50_ms, p.max_ms, p.count
    ));
    Ok(json!({ "trials": p.count, "time_to_down_everywhere": p }))
}

fn progress(text: &str) {
    report::progress("cookim-clusterbench", text);
}
