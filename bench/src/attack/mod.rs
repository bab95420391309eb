//! The engine of `cookim-attack`: a real `cookim` node attacked while a normal chat runs on it,
//! for the "safe to expose" benchmark (BENCHMARKS.md, "Under attack").
//!
//! For each attack the node is started fresh ([`run`]): its idle RSS is read, a 10-member group
//! is made through the API and chats ([`crate::load::chat`]: one member sends a text every
//! 100 ms, every other member's receipt is timed), first calmly, then while the attack runs;
//! meanwhile [`sample`] reads the node's RSS and times `GET /ping` every 100 ms. The attacker
//! runs on a thread of its own, from loopback addresses of its own (`127.0.0.2` and up), so
//! the chat's address is never the one a node's per-address limits hold against it.
//!
//! - [`web`]: attacks on the web port (huge frames, logins, slowloris, silent sockets, a flood).
//! - [`mesh`]: a forged mesh peer (silent links, an old-format hello and envelope, datagrams).
//! - [`sample`]: RSS and `/ping` samplers.

pub mod mesh;
pub mod sample;
pub mod web;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::load::chat::{self, ChatOptions, ChatWindow};
use crate::stats::{Percentiles, rss_kib};
use harness::client::{Error, Result};
use harness::cluster::{NodeOptions, NodeProcess, free_mesh_port};

/// One attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// No attack: the chat alone, for reference.
    None,
    /// 30 anonymous `/ws-chat` sockets each sending an 8 MB JSON text frame, again and again.
    BigFrames,
    /// 300 `loginUser` requests for logins that do not exist, always in flight.
    Logins,
    /// 500 connections sending a request head one byte a second.
    Slowloris,
    /// 1,000 websockets that never authenticate.
    Silent,
    /// An authenticated member of another group sending texts as fast as it can.
    Flood,
    /// A forged mesh peer: silent links, an old hello and a forged envelope, datagrams.
    Mesh,
}

impl Attack {
    /// Every attack, in the order a run plays them.
    pub const ALL: [Attack; 7] = [
        Attack::None,
        Attack::BigFrames,
        Attack::Logins,
        Attack::Slowloris,
        Attack::Silent,
        Attack::Flood,
        Attack::Mesh,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::BigFrames => "big-frames",
            Attack::Logins => "logins",
            Attack::Slowloris => "slowloris",
            Attack::Silent => "silent",
            Attack::Flood => "flood",
            Attack::Mesh => "mesh",
        }
    }
}

impl std::str::FromStr for Attack {
    type Err = String;
    fn from_str(s: &str) -> Result<Attack, String> {
        Attack::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown attack {s:?}"))
    }
}

/// A `cookim` binary under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// `before` or `after`, as results name it.
    pub label: String,
    /// The binary.
    pub bin: PathBuf,
    /// Flags for this binary only (an older binary refuses flags it does not know).
    pub extra: Vec<String>,
}

/// How long each phase lasts, and where a cluster's store is.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The chat alone before the attack.
    pub calm: Duration,
    /// The attack.
    pub duration: Duration,
    /// The chat's texts per second.
    pub rate: f64,
    /// The MongoDB of the mesh attack's one-node cluster (`None`: the mesh attack is skipped).
    pub mongo_uri: Option<String>,
}

/// The token secret the attacked nodes get (32 bytes or more, as clusters require).
pub const SECRET: &str = "cookim-attack-bench-secret-0123456789abcdef";

/// What one attack on one binary showed.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Which attack.
    pub attack: Attack,
    /// Which binary (`before`, `after`).
    pub binary: String,
    /// The chat before the attack.
    pub calm: ChatWindow,
    /// The chat during the attack.
    pub chat: ChatWindow,
    /// Node RSS before any client, MiB.
    pub rss_idle_mib: f64,
    /// Node RSS when the attack started (after the chat was made and ran calmly), MiB: what
    /// the chat's registrations (argon2) and sockets left, which the allocator keeps.
    pub rss_calm_mib: f64,
    /// Highest RSS sampled during the attack, MiB.
    pub rss_peak_mib: f64,
    /// `GET /ping` during the attack (a failed or 5 s slow ping counts as 5 s).
    pub ping: Percentiles,
    /// Pings that failed or timed out.
    pub ping_failures: u64,
    /// CPU seconds the node used during the attack.
    pub node_cpu_s: f64,
    /// CPU seconds the attacker's thread used (it shares the machine with the node).
    pub attacker_cpu_s: f64,
    /// Whether the node was still running at the end.
    pub node_alive: bool,
    /// What the attacker saw, by kind (close codes, statuses, refusals).
    pub attacker: BTreeMap<String, u64>,
    /// Attack-specific findings (mesh counters).
    pub extra: serde_json::Value,
}

/// What an attacker counts: events by kind, and connections open now and at most; and the
/// signal to stop.
#[derive(Debug)]
pub struct Tally {
    events: Mutex<BTreeMap<String, u64>>,
    open: AtomicU64,
    peak_open: AtomicU64,
    /// Dropped to stop the attack: every task's [`Tally::stopped`] then returns at once.
    stop_tx: Mutex<Option<async_channel::Sender<()>>>,
    stop_rx: async_channel::Receiver<()>,
}

impl Tally {
    fn new() -> Tally {
        let (stop_tx, stop_rx) = async_channel::bounded(1);
        Tally {
            events: Mutex::default(),
            open: AtomicU64::default(),
            peak_open: AtomicU64::default(),
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
        }
    }

    /// Returns when the attack should end (race a task's work with it).
    pub async fn stopped(&self) {
        let _ = self.stop_rx.recv().await;
    }

    /// Counts one `what`.
    pub fn note(&self, what: impl Into<String>) {
        if let Ok(mut events) = self.events.lock() {
            *events.entry(what.into()).or_default() += 1;
        }
    }

    /// A connection opened (kept open until [`Tally::closed`]).
    pub fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(now, Ordering::Relaxed);
    }

    /// A connection counted by [`Tally::opened`] closed.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the attack should end.
    pub fn stopping(&self) -> bool {
        self.stop_rx.is_closed()
    }

    fn stop(&self) {
        if let Ok(mut tx) = self.stop_tx.lock() {
            tx.take();
        }
    }

    fn summary(&self) -> BTreeMap<String, u64> {
        let mut events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events.insert(
            "peak open connections".into(),
            self.peak_open.load(Ordering::Relaxed),
        );
        events
    }
}

/// `text` with its numbers written `N`, so that "retry in 12 ms" and "retry in 13 ms" count
/// as one kind of answer.
pub fn without_numbers(text: &str) -> String {
    let mut kind = String::with_capacity(text.len());
    for c in text.chars() {
        match (c.is_ascii_digit(), kind.ends_with('N')) {
            (true, true) => {}
            (true, false) => kind.push('N'),
            (false, _) => kind.push(c),
        }
    }
    kind
}

/// The attacker's `n`th loopback source address, `127.0.0.(2 + n)`: never the chat's.
pub fn source(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n))
}

/// Where the chat's members register from: one address each, `127.0.1.(1 + i)`, so a node's
/// registration limit per address (10 an hour by default) is never reached.
fn member_sources() -> Vec<IpAddr> {
    (1..=10)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 1, i)))
        .collect()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Plays `attack` against a fresh node of `target`.
///
/// # Errors
/// If the node cannot start or the chat cannot be made.
pub fn run(target: &Target, attack: Attack, plan: &Plan) -> Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let mesh_port = free_mesh_port().map_err(|e| Error::Http(e.to_string()))?;
    let mut options = NodeOptions {
        data_dir: dir.path().to_owned(),
        host: "127.0.0.1".into(),
        mesh_port,
        seeds: Vec::new(),
        mongo_uri: None,
        jwt_secret: SECRET.into(),
        extra: target.extra.clone(),
        bind: None,
        wrapper: Vec::new(),
    };
    let mut fake_seed = None;
    if attack == Attack::Mesh {
        let uri = plan
            .mongo_uri
            .clone()
            .ok_or_else(|| Error::Http("the mesh attack needs --mongo-uri".into()))?;
        // A one-node cluster: its own address and a second seed, which is the attacker's
        // UDP socket (it hears the node's datagrams there, to play them back).
        let fake = free_mesh_port().map_err(|e| Error::Http(e.to_string()))?;
        options.seeds = vec![options.mesh_addr(), format!("127.0.0.1:{fake}")];
        options.mongo_uri = Some(uri);
        fake_seed = Some(fake);
    }
    let mut node =
        NodeProcess::start(&target.bin, options).map_err(|e| Error::Http(e.to_string()))?;
    let (addr, pid) = (node.web, node.pid());
    // Let the node finish starting (store, mesh) before its idle RSS is read.
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = rss_kib(pid).ok_or_else(|| Error::Http("no RSS for the node".into()))?;
    let outcome = smol::block_on(async {
        let (sid, members) = chat::online_group(addr, 10, "attack", &member_sources()).await?;
        let victims = members.iter().map(|(user, _, _)| user.clone()).collect();
        let chat = chat::background_chat(
            members,
            ChatOptions {
                rate: plan.rate,
                time_echo: false,
            },
        )?;
        smol::Timer::after(plan.calm).await;
        let calm = chat.take();
        let rss_calm = rss_kib(pid).unwrap_or_default();
        let node_cpu = cpu_seconds(&format!("/proc/{pid}/stat"));
        let sampler = sample::Sampler::start(addr, pid);
        let context = web::Context {
            addr,
            mesh: SocketAddr::from(([127, 0, 0, 1], mesh_port)),
            fake_seed,
            sid,
            victims,
        };
        let attacker = spawn_attacker(attack, context);
        smol::Timer::after(plan.duration).await;
        let chat_window = chat.take();
        let (attacker, extra, attacker_cpu_s) = attacker.finish();
        let node_cpu_s = cpu_seconds(&format!("/proc/{pid}/stat")) - node_cpu;
        let samples = sampler.finish().await;
        let extra = match attack {
            Attack::Mesh => mesh::counters(addr).await,
            _ => extra,
        };
        chat.stop();
        Ok::<_, Error>(Outcome {
            attack,
            binary: target.label.clone(),
            calm,
            chat: chat_window,
            rss_idle_mib: mib(rss_idle),
            rss_calm_mib: mib(rss_calm),
            rss_peak_mib: mib(samples.rss_peak_kib),
            ping: samples.ping,
            ping_failures: samples.ping_failures,
            node_cpu_s,
            attacker_cpu_s,
            node_alive: rss_kib(pid).is_some(),
            attacker,
            extra,
        })
    });
    let _ = node.stop(Duration::from_secs(10));
    outcome
}

/// The attacker thread, and how to stop it.
struct Attacker {
    tally: std::sync::Arc<Tally>,
    /// Returns the findings and the thread's CPU seconds.
    thread: std::thread::JoinHandle<(serde_json::Value, f64)>,
}

/// User plus system CPU seconds from a `/proc/.../stat` file (0 if unreadable). The fields
/// count clock ticks of `USER_HZ`, which is 100 on Linux for every architecture we run on.
fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Starts `attack` on a thread of its own with its own executor, so the attacker's work is
/// not queued behind the chat's (or the other way round) inside this process.
fn spawn_attacker(attack: Attack, context: web::Context) -> Attacker {
    let tally = std::sync::Arc::new(Tally::new());
    let theirs = tally.clone();
    let thread = std::thread::spawn(move || {
        let ex = smol::LocalExecutor::new();
        let findings = smol::block_on(ex.run(async {
            match attack {
                Attack::None => serde_json::Value::Null,
                Attack::Mesh => mesh::attack(&ex, &context, &theirs).await,
                web_attack => web::attack(&ex, web_attack, &context, &theirs).await,
            }
        }));
        (findings, cpu_seconds("/proc/thread-self/stat"))
    });
    Attacker { tally, thread }
}

impl Attacker {
    /// Stops the attack, waits for its tasks to end, returns the tally and any findings.
    fn finish(self) -> (BTreeMap<String, u64>, serde_json::Value, f64) {
        self.tally.stop();
        let (extra, cpu) = self.thread.join().unwrap_or((serde_json::Value::Null, 0.0));
        (self.tally.summary(), extra, cpu)
    }
}
