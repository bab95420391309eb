//! The load generator against real servers: every adapter delivers and counts every message,
//! results from several worker processes add up, and idle connections are held. Small
//! numbers, no timings: the figures themselves are for `scripts/bench`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use cookim_bench::load::servers::peers_dir;
use harness::cluster::{NodeOptions, NodeProcess, cookim_binary, free_mesh_port};
use serde_json::Value;

fn load(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cookim-load"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cookim-load {args:?} failed: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A peer process that prints `listening <port>`.
struct Peer(Child, String);

impl Peer {
    fn start(mut command: Command) -> Peer {
        use std::io::{BufRead, BufReader};
        let mut child = command.arg("0").stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap().to_owned();
        Peer(child, format!("127.0.0.1:{port}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_peer(script: &str) -> Peer {
    let dir: PathBuf = peers_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "run `npm ci` in {} first (scripts/test does)",
        dir.display()
    );
    let mut command = Command::new("node");
    command.arg(dir.join(script));
    Peer::start(command)
}

fn every_round_delivered(result: &Value, members: u64) {
    let sweeps = result["result"]["sweeps"].as_array().unwrap();
    for round in sweeps[0]["rounds"].as_array().unwrap() {
        let sent = round["sent"].as_u64().unwrap();
        assert!(sent > 0, "{round}");
        assert_eq!(round["expected"].as_u64().unwrap(), sent * members);
        assert_eq!(round["delivered"], round["expected"], "{round}");
        assert_eq!(round["latency"]["count"], round["expected"], "{round}");
        assert_eq!(round["rejects"], 0, "{round}");
        assert_eq!(round["dropped"], 0, "{round}");
    }
}

#[test]
fn fanout_reaches_every_member_of_every_peer() {
    let raw = Peer::start(Command::new(env!("CARGO_BIN_EXE_cookim-rawpeer")));
    let ws = node_peer("ws-server.js");
    let sio = node_peer("socketio-server.js");
    for (system, peer) in [("raw", &raw), ("node-ws", &ws), ("socket-io", &sio)] {
        let result = load(&[
            "fanout",
            "--system",
            system,
            "--addr",
            &peer.1,
            "--members",
            "20",
            "--rates",
            "20,40",
            "--duration",
            "1",
        ]);
        assert_eq!(result["system"], system);
        every_round_delivered(&result, 20);
        // A sweep goes on to the next rate while rounds pass (a busy machine can fail the
        // first: p99 over 50 ms), and stops at the first that fails.
        let rounds = result["result"]["sweeps"][0]["rounds"].as_array().unwrap();
        let first_passed = rounds[0]["latency"]["p99_ms"].as_f64().unwrap()
            <= cookim_bench::load::PASS_P99_MS
            && rounds[0]["delivered_ratio"].as_f64().unwrap() >= cookim_bench::load::PASS_DELIVERED;
        assert_eq!(rounds.len(), if first_passed { 2 } else { 1 }, "{rounds:?}");
    }
}

fn cookim_node() -> (NodeProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(
        &cookim_binary().unwrap(),
        NodeOptions {
            data_dir: dir.path().to_owned(),
            host: "127.0.0.1".into(),
            mesh_port: free_mesh_port().unwrap(),
            seeds: Vec::new(),
            mongo_uri: None,
            jwt_secret: "load-test-secret-0123456789abcdef0123".into(),
            extra: cookim_bench::load::servers::LOAD_FLAGS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            bind: None,
            wrapper: Vec::new(),
        },
    )
    .unwrap();
    (node, dir)
}

#[test]
fn cookim_chats_split_over_processes_add_up() {
    let (node, _dir) = cookim_node();
    let addr = node.web.to_string();
    // 4 chats of 3 over 5-connection workers: 3 processes, each with its own source address.
    let result = load(&[
        "chats",
        "--addr",
        &addr,
        "--chats",
        "4",
        "--size",
        "3",
        "--rate",
        "30",
        "--duration",
        "1",
        "--per-process",
        "5",
    ]);
    let round = &result["result"]["round"];
    assert_eq!(round["sent"], 30, "{round}");
    assert_eq!(round["delivered"], 90, "{round}");
    assert_eq!(round["rejects"], 0, "{round}");
    assert_eq!(result["result"]["connect"]["open"], 12);

    let fanout = load(&[
        "fanout",
        "--addr",
        &addr,
        "--members",
        "10",
        "--rates",
        "20",
        "--duration",
        "1",
    ]);
    every_round_delivered(&fanout, 10);

    // With our client's extensions: every member reads every message, the sender types
    // first; every message is still delivered once and nothing is refused.
    let ext = load(&[
        "fanout",
        "--system",
        "cookim-ext",
        "--addr",
        &addr,
        "--members",
        "10",
        "--rates",
        "20",
        "--duration",
        "1",
    ]);
    assert_eq!(ext["system"], "cookim-ext");
    every_round_delivered(&ext, 10);
}

#[test]
fn cookim_idle_connections_are_authenticated_and_held() {
    let (node, _dir) = cookim_node();
    let result = load(&[
        "idle",
        "--addr",
        &node.web.to_string(),
        "--pid",
        &node.pid().to_string(),
        "--levels",
        "20,40",
        "--per-process",
        "25",
    ]);
    let levels = result["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[1]["connect"]["open"], 40, "{result}");
    assert_eq!(levels[1]["connect"]["failed"], 0, "{result}");
    assert_eq!(levels[1]["dropped"], 0, "{result}");
    assert!(levels[1]["rss_kib"].as_u64().unwrap() > 0);
}
