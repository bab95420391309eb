//! `cookim-load`: plays load profiles over the real protocol against cookim and its peers
//! (Node.js `ws`, Socket.IO, a raw async-tungstenite server) and reports delivery latency
//! (HDR histogram), deliveries per second, connect rate, errors, rejects and memory per idle
//! connection as JSON on stdout, with a live progress bar on stderr. Connections are spread
//! over worker processes (this binary's `worker` subcommand), each with its own 127.0.1.x
//! source address.
//!
//! ```text
//! cookim-load suite --out bench-results/load             # every profile, every system
//! cookim-load fanout --addr 127.0.0.1:8080 --members 100 --rates 100,200,500
//! cookim-load chats --addr 127.0.0.1:8080 --chats 200 --size 5 --rate 500
//! cookim-load idle --addr 127.0.0.1:8080 --pid <server pid> --levels 1000,5000
//! cookim-load upload --addr 127.0.0.1:8080
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use argh::FromArgs;
use cookim_bench::load;
use cookim_bench::load::chat::{ChatOptions, background_chat, next_value, online_group};
use cookim_bench::load::coordinator::{Spread, Workers};
use cookim_bench::load::provision::{self, Layout};
use cookim_bench::load::servers::{self, Server};
use cookim_bench::load::wire::System;
use harness::client::{Error, Result, User};
use serde_json::{Value, json};

mod upload;

use upload::upload;

/// Load generator for cookim.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Suite(Suite),
    Fanout(Fanout),
    Chats(Chats),
    Idle(Idle),
    Upload(Upload),
    Worker(WorkerArgs),
}

/// Uploads into one group while another group chats: upload throughput for plain files,
/// thumbnails per second for images, and the text latency of the other chat meanwhile.
#[derive(FromArgs)]
#[argh(subcommand, name = "upload")]
struct Upload {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// members of the uploading group, all online (default 10)
    #[argh(option, default = "10")]
    members: usize,
    /// members that upload at the same time (default 2)
    #[argh(option, default = "2")]
    uploaders: usize,
    /// files (and images) each uploader sends (default 20)
    #[argh(option, default = "20")]
    files: usize,
    /// size of each plain file in KiB (default 1024)
    #[argh(option, default = "1024")]
    size_kib: usize,
    /// text messages per second in the other chat (default 20)
    #[argh(option, default = "20")]
    chat_rate: u64,
}

/// Plays every profile against every system, one after another, starting and stopping each
/// server itself: cookim (release binary next to this one, or $COOKIM_BIN), the Node.js `ws`
/// and Socket.IO peers (bench/peers, `npm ci` first) and cookim-rawpeer. Writes one JSON
/// file per system and profile into --out and the whole suite as JSON on stdout.
#[derive(FromArgs)]
#[argh(subcommand, name = "suite")]
struct Suite {
    /// systems, comma-separated (default cookim,node-ws,socket-io,raw)
    #[argh(option, default = "String::from(\"cookim,node-ws,socket-io,raw\")")]
    systems: String,
    /// profiles, comma-separated: fanout, chats, idle, cross (default fanout,chats,idle; cross needs --mongo-uri)
    #[argh(option, default = "String::from(\"fanout,chats,idle\")")]
    profiles: String,
    /// fan-out rates in msg/s, rising (default 50,100,200,300,500,700,1000,1500,2000,3000)
    #[argh(
        option,
        default = "String::from(\"50,100,200,300,500,700,1000,1500,2000,3000\")"
    )]
    rates: String,
    /// fan-out room size (default 1000)
    #[argh(option, default = "1000")]
    members: usize,
    /// seconds per rate (default 10)
    #[argh(option, default = "10")]
    duration: u64,
    /// sweeps per system, to show the spread (default 2)
    #[argh(option, default = "2")]
    repeats: usize,
    /// users of the many-chats profile (default 10000)
    #[argh(option, default = "10000")]
    users: usize,
    /// members per chat of the many-chats profile (default 5)
    #[argh(option, default = "5")]
    chat_size: usize,
    /// msg/s of the many-chats profile, all chats together (default 2000)
    #[argh(option, default = "2000")]
    chat_rate: u64,
    /// idle connection counts, rising (default 5000,10000,19900)
    #[argh(option, default = "String::from(\"5000,10000,19900\")")]
    idle_levels: String,
    /// msg/s of the cross-node profile (default: --chat-rate)
    #[argh(option)]
    cross_rate: Option<u64>,
    /// the MongoDB of the cross-node profile's 3-node cluster
    #[argh(option)]
    mongo_uri: Option<String>,
    /// where the JSON results go (default bench-results/load)
    #[argh(option, default = "String::from(\"bench-results/load\")")]
    out: String,
}

/// Profile 1 against a running server: one room, one sender, rising rates until p99 > 50 ms.
#[derive(FromArgs)]
#[argh(subcommand, name = "fanout")]
struct Fanout {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// what runs there: cookim (users made through its API), node-ws, socket-io or raw
    #[argh(option, default = "System::Cookim")]
    system: System,
    /// room size (default 100)
    #[argh(option, default = "100")]
    members: usize,
    /// rates in msg/s, rising (default 100,200,500,1000)
    #[argh(option, default = "String::from(\"100,200,500,1000\")")]
    rates: String,
    /// seconds per rate (default 10)
    #[argh(option, default = "10")]
    duration: u64,
    /// sweeps (default 1)
    #[argh(option, default = "1")]
    repeats: usize,
    /// most connections per load process (default 9000)
    #[argh(option, default = "9000")]
    per_process: usize,
}

/// Profile 2 against a running server: many small chats, every member sending.
#[derive(FromArgs)]
#[argh(subcommand, name = "chats")]
struct Chats {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// what runs there (default cookim)
    #[argh(option, default = "System::Cookim")]
    system: System,
    /// chats (default 20)
    #[argh(option, default = "20")]
    chats: usize,
    /// members per chat (default 5)
    #[argh(option, default = "5")]
    size: usize,
    /// msg/s in all (default 100)
    #[argh(option, default = "100")]
    rate: u64,
    /// cookim: every user also opens /ws-push, and counts its push frames as deliveries
    #[argh(switch)]
    push: bool,
    /// seconds (default 10)
    #[argh(option, default = "10")]
    duration: u64,
    /// most connections per load process (default 9000)
    #[argh(option, default = "9000")]
    per_process: usize,
}

/// Profile 3 against a running server: idle authenticated connections, RSS per connection.
#[derive(FromArgs)]
#[argh(subcommand, name = "idle")]
struct Idle {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// what runs there (default cookim)
    #[argh(option, default = "System::Cookim")]
    system: System,
    /// the server's process id, to read its RSS
    #[argh(option)]
    pid: u32,
    /// connection counts, rising (default 1000)
    #[argh(option, default = "String::from(\"1000\")")]
    levels: String,
    /// most connections per load process (default 9000)
    #[argh(option, default = "9000")]
    per_process: usize,
}

/// Internal: one load process, driven over stdin and stdout by the others.
#[derive(FromArgs)]
#[argh(subcommand, name = "worker")]
struct WorkerArgs {}

fn main() {
    let args: Args = argh::from_env();
    let outcome = match args.command {
        Command::Worker(_) => match cookim_bench::load::worker::run() {
            Ok(()) => return,
            Err(e) => Err(e),
        },
        Command::Suite(s) => suite(s),
        Command::Fanout(f) => fanout(f),
        Command::Chats(c) => chats(c),
        Command::Idle(i) => idle(i),
        Command::Upload(u) => smol::block_on(upload(u)),
    };
    match outcome {
        Ok(result) => report(&result),
        Err(e) => {
            report(&json!({ "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the JSON result is the program's output"
)]
fn report(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[expect(clippy::print_stderr, reason = "progress goes to stderr")]
fn progress(text: &str) {
    eprintln!("cookim-load: {text}");
}

fn list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim()
                .parse()
                .map_err(|_| Error::Http(format!("cannot read {t:?} in {text:?}")))
        })
        .collect()
}

const WORKER: &[&str] = &["worker"];

/// Connects everything, then plays a sweep or one round.
fn play(
    system: System,
    addrs: &[SocketAddr],
    conns: Vec<cookim_bench::load::wire::Conn>,
    per_process: usize,
    play: &Play,
) -> Result<Value> {
    let spread = Spread {
        per_process,
        ..Spread::default()
    };
    let mut workers = Workers::spawn(WORKER, system, addrs, conns, spread)?;
    let total = workers.conns();
    let connect = workers.connect(total)?;
    progress(&format!(
        "{system:?}: {} connections open in {:.1} s ({:.0}/s), {} failed",
        connect.open, connect.seconds, connect.per_second, connect.failed
    ));
    if connect.failed > 0 {
        workers.quit();
        return Err(Error::Http(format!(
            "{} connections failed: {}",
            connect.failed,
            connect.first_error.unwrap_or_default()
        )));
    }
    let mut round_id = 0;
    let outcome = match play {
        Play::Sweep {
            rates,
            duration,
            repeats,
            room_size,
        } => {
            let sweeps = load::fanout_sweep(
                &mut workers,
                rates,
                *duration,
                *repeats,
                *room_size,
                &mut round_id,
            )?;
            json!({"connect": connect, "sweeps": sweeps})
        }
        Play::Steady {
            rate,
            duration,
            room_size,
        } => {
            let round = load::steady(&mut workers, *rate, *duration, *room_size, &mut round_id)?;
            json!({"connect": connect, "round": round})
        }
    };
    workers.quit();
    Ok(outcome)
}

enum Play {
    Sweep {
        rates: Vec<f64>,
        duration: Duration,
        repeats: usize,
        room_size: usize,
    },
    Steady {
        rate: f64,
        duration: Duration,
        room_size: usize,
    },
}

fn external_conns(
    system: System,
    addr: SocketAddr,
    layout: Layout,
) -> Result<Vec<cookim_bench::load::wire::Conn>> {
    match system {
        System::Cookim | System::CookimExt => smol::block_on(provision::cookim_api(addr, layout)),
        _ => Ok(provision::peer_conns(layout)),
    }
}

fn fanout(args: Fanout) -> Result<Value> {
    let layout = Layout::fanout(args.members);
    let conns = external_conns(args.system, args.addr, layout)?;
    let result = play(
        args.system,
        &[args.addr],
        conns,
        args.per_process,
        &Play::Sweep {
            rates: list(&args.rates)?,
            duration: Duration::from_secs(args.duration),
            repeats: args.repeats,
            room_size: args.members,
        },
    )?;
    Ok(
        json!({"profile": "fanout", "system": args.system, "members": args.members, "result": result}),
    )
}

fn chats(args: Chats) -> Result<Value> {
    let layout = Layout::chats(args.chats, args.size, args.push && args.system.is_cookim());
    let conns = external_conns(args.system, args.addr, layout)?;
    let result = play(
        args.system,
        &[args.addr],
        conns,
        args.per_process,
        &Play::Steady {
            rate: args.rate as f64,
            duration: Duration::from_secs(args.duration),
            room_size: layout.deliveries_per_message(),
        },
    )?;
    Ok(
        json!({"profile": "chats", "system": args.system, "chats": args.chats, "size": args.size, "result": result}),
    )
}

fn idle(args: Idle) -> Result<Value> {
    let levels: Vec<usize> = list(&args.levels)?;
    let most = levels.iter().copied().max().unwrap_or(0);
    let layout = Layout::idle(most);
    let conns = external_conns(args.system, args.addr, layout)?;
    let spread = Spread {
        per_process: args.per_process,
        ..Spread::default()
    };
    let mut workers = Workers::spawn(WORKER, args.system, &[args.addr], conns, spread)?;
    let levels = load::idle(&mut workers, &[args.pid], &levels)?;
    workers.quit();
    Ok(json!({"profile": "idle", "system": args.system, "levels": levels}))
}

/// Conns for `layout` on a server the suite started: bulk through the store for cookim.
fn suite_conns(
    system: System,
    server: &Server,
    mongo_uri: Option<&str>,
    layout: Layout,
) -> Result<Vec<cookim_bench::load::wire::Conn>> {
    if !system.is_cookim() {
        return Ok(provision::peer_conns(layout));
    }
    smol::block_on(async {
        let store: std::sync::Arc<dyn store::Store> = match (mongo_uri, server.data_dir()) {
            (Some(uri), _) => std::sync::Arc::new(
                store::Mongo::connect(uri, "cookim")
                    .await
                    .map_err(|e| Error::Http(e.to_string()))?,
            ),
            (None, Some(dir)) => std::sync::Arc::new(
                store::Embedded::open(dir)
                    .await
                    .map_err(|e| Error::Http(e.to_string()))?,
            ),
            (None, None) => return Err(Error::Http("cookim without a store".into())),
        };
        let started = Instant::now();
        let conns =
            provision::cookim_bulk(store.as_ref(), servers::SUITE_SECRET.as_bytes(), layout)
                .await?;
        progress(&format!(
            "provisioned {} users in {} groups through the store in {:.1} s",
            conns.len(),
            if layout.idle { 0 } else { layout.rooms },
            started.elapsed().as_secs_f64()
        ));
        Ok(conns)
    })
}

fn suite(args: Suite) -> Result<Value> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let systems: Vec<System> = list(&args.systems)?;
    let profiles: Vec<String> = list(&args.profiles)?;
    let rates: Vec<f64> = list(&args.rates)?;
    let idle_levels: Vec<usize> = list(&args.idle_levels)?;
    let out = std::path::PathBuf::from(&args.out);
    std::fs::create_dir_all(&out)?;
    let duration = Duration::from_secs(args.duration);
    let mut results = serde_json::Map::new();
    for profile in &profiles {
        for &system in &systems {
            if profile == "cross" && (!system.is_cookim() || args.mongo_uri.is_none()) {
                continue;
            }
            progress(&format!("== {profile} on {}", system.name()));
            let started = Instant::now();
            let outcome = suite_profile(&args, profile, system, &rates, &idle_levels, duration);
            let value = match outcome {
                Ok(value) => value,
                Err(e) => {
                    progress(&format!("{profile} on {} failed: {e}", system.name()));
                    json!({"error": e.to_string()})
                }
            };
            let value = json!({
                "profile": profile,
                "system": system,
                "seconds": started.elapsed().as_secs_f64(),
                "result": value,
            });
            std::fs::write(
                out.join(format!("{profile}-{}.json", system.name())),
                serde_json::to_vec_pretty(&value)?,
            )?;
            results.insert(format!("{profile}/{}", system.name()), value);
        }
    }
    Ok(json!({
        "machine": machine(),
        "date": today(),
        "results": results,
    }))
}

fn suite_profile(
    args: &Suite,
    profile: &str,
    system: System,
    rates: &[f64],
    idle_levels: &[usize],
    duration: Duration,
) -> Result<Value> {
    let (nodes, mongo, extra): (usize, Option<&str>, &[&str]) = match profile {
        "cross" => (3, args.mongo_uri.as_deref(), &[]),
        "idle" => (1, None, &["--max-connections", "19990"]),
        _ => (1, None, &[]),
    };
    let mut server = Server::start(system, nodes, mongo, extra)?;
    let addrs = server.addrs();
    let value = match profile {
        "fanout" => {
            let layout = Layout::fanout(args.members);
            let conns = suite_conns(system, &server, mongo, layout)?;
            play(
                system,
                &addrs,
                conns,
                Spread::default().per_process,
                &Play::Sweep {
                    rates: rates.to_vec(),
                    duration,
                    repeats: args.repeats,
                    room_size: args.members,
                },
            )?
        }
        "chats" | "cross" => {
            let layout = Layout::chats(args.users / args.chat_size.max(1), args.chat_size, false);
            let conns = suite_conns(system, &server, mongo, layout)?;
            let rate = if profile == "cross" {
                args.cross_rate.unwrap_or(args.chat_rate)
            } else {
                args.chat_rate
            };
            play(
                system,
                &addrs,
                conns,
                Spread::default().per_process,
                &Play::Steady {
                    rate: rate as f64,
                    duration,
                    room_size: args.chat_size,
                },
            )?
        }
        "idle" => {
            let most = idle_levels.iter().copied().max().unwrap_or(0);
            let layout = Layout::idle(most);
            let conns = suite_conns(system, &server, mongo, layout)?;
            let mut workers = Workers::spawn(WORKER, system, &addrs, conns, Spread::default())?;
            let levels = load::idle(&mut workers, &server.pids(), idle_levels)?;
            workers.quit();
            json!({"levels": levels})
        }
        other => return Err(Error::Http(format!("unknown profile {other:?}"))),
    };
    server.stop();
    Ok(value)
}

/// Cores, memory and kernel, for the record.
fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next()?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"cores": cores, "memory_gib": mem_kib / (1024 * 1024), "cpu": model, "kernel": kernel.trim()})
}

/// Today as YYYY-MM-DD (UTC).
fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}
