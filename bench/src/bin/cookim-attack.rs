//! `cookim-attack`: attacks real `cookim` nodes while a normal 10-member chat runs on each, and
//! prints, per attack and binary, the chat's latency, the node's RSS and `/ping` latency, and
//! what the attacker saw: one JSON line each as it finishes, then a summary table.
//!
//! ```text
//! cookim-attack --target before=/path/to/old/cookim --target after=target/release/cookim \
//!     --mongo-uri "$MONGO_URI"
//! ```
//!
//! Each attack is played on every target in turn (before, after, next attack), each on a fresh
//! node, so both meet the machine in the same state.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use cookim_bench::attack::{self, Attack, Outcome, Plan, Target};
use harness::client::{Error, Result};
use harness::report::progress;

/// The "safe to expose" attacks on cookim builds, side by side.
#[derive(FromArgs)]
struct Args {
    /// a build to attack, as LABEL=PATH (repeat: before=...,after=...)
    #[argh(option)]
    target: Vec<String>,
    /// extra flags for one target, as LABEL=FLAGS (space-separated; an older build refuses
    /// flags it does not know)
    #[argh(option)]
    flags: Vec<String>,
    /// attacks, comma-separated (default: none,big-frames,logins,slowloris,silent,flood,mesh)
    #[argh(option)]
    attacks: Option<String>,
    /// seconds of each attack (default 15)
    #[argh(option, default = "15")]
    duration: u64,
    /// seconds of calm chat before each attack (default 5)
    #[argh(option, default = "5")]
    calm: u64,
    /// texts per second in the normal chat (default 10)
    #[argh(option, default = "10.0")]
    rate: f64,
    /// the MongoDB of the mesh attack's one-node cluster (without it the mesh attack is skipped)
    #[argh(option)]
    mongo_uri: Option<String>,
}

/// The targets of the issue: p99 under 50 ms, RSS under 256 MB above idle, nothing forged.
const P99_MS: f64 = 50.0;
const RSS_MIB: f64 = 256.0;

fn main() {
    let args: Args = argh::from_env();
    if let Err(e) = run(args) {
        progress("cookim-attack", &format!("failed: {e}"));
        std::process::exit(1);
    }
}

fn targets(args: &Args) -> Result<Vec<Target>> {
    let split = |text: &str| -> Result<(String, String)> {
        text.split_once('=')
            .map(|(l, r)| (l.to_owned(), r.to_owned()))
            .ok_or_else(|| Error::Http(format!("{text:?} is not LABEL=VALUE")))
    };
    let mut targets = Vec::new();
    for text in &args.target {
        let (label, path) = split(text)?;
        targets.push(Target {
            label,
            bin: PathBuf::from(path),
            extra: Vec::new(),
        });
    }
    for text in &args.flags {
        let (label, flags) = split(text)?;
        let target = targets
            .iter_mut()
            .find(|t| t.label == label)
            .ok_or_else(|| Error::Http(format!("--flags for unknown target {label:?}")))?;
        target.extra = flags.split_whitespace().map(str::to_owned).collect();
    }
    if targets.is_empty() {
        return Err(Error::Http("give at least one --target LABEL=PATH".into()));
    }
    Ok(targets)
}

fn run(args: Args) -> Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let targets = targets(&args)?;
    let attacks: Vec<Attack> = match &args.attacks {
        Some(list) => list
            .split(',')
            .map(|a| a.trim().parse().map_err(Error::Http))
            .collect::<Result<_>>()?,
        None => Attack::ALL.to_vec(),
    };
    let plan = Plan {
        calm: Duration::from_secs(args.calm),
        duration: Duration::from_secs(args.duration),
        rate: args.rate,
        mongo_uri: args.mongo_uri.clone(),
    };
    let mut outcomes = Vec::new();
    for &attack in &attacks {
        if attack == Attack::Mesh && plan.mongo_uri.is_none() {
            progress("cookim-attack", "mesh: skipped (no --mongo-uri)");
            continue;
        }
        for target in &targets {
            progress(
                "cookim-attack",
                &format!("{} on {}", attack.name(), target.label),
            );
            match attack::run(target, attack, &plan) {
                Ok(outcome) => {
                    line(&serde_json::to_string(&outcome)?);
                    outcomes.push(outcome);
                }
                Err(e) => {
                    let failed = serde_json::json!({"attack": attack, "binary": target.label, "error": e.to_string()});
                    line(&failed.to_string());
                }
            }
        }
    }
    for row in table(&outcomes) {
        line(&row);
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the results are the program's output")]
fn line(text: &str) {
    println!("{text}");
}

/// The summary: one row per attack and binary, and whether it meets the targets.
fn table(outcomes: &[Outcome]) -> Vec<String> {
    let mut rows = vec![
        "| attack | binary | chat p50 / p99 / max ms | delivered | forged delivered | RSS idle / before attack / peak MiB (+ over idle) | /ping p99 ms | CPU s node / attacker | targets |".to_owned(),
        "|---|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    for o in outcomes {
        // Every text reaches the 9 members other than its sender.
        let delivered = o.chat.deliveries as f64 / (9 * o.chat.sent).max(1) as f64;
        let growth = o.rss_peak_mib - o.rss_idle_mib;
        let misses: Vec<&str> = [
            (o.chat.latency.p99_ms > P99_MS, "p99"),
            (growth > RSS_MIB, "RSS"),
            (o.chat.foreign > 0, "forged"),
            (delivered < 0.95, "deliveries"),
            (!o.node_alive, "node died"),
        ]
        .into_iter()
        .filter_map(|(missed, what)| missed.then_some(what))
        .collect();
        rows.push(format!(
            "| {} | {} | {:.1} / {:.1} / {:.1} | {:.0} % | {} | {:.0} / {:.0} / {:.0} (+{:.0}) | {:.1} | {:.1} / {:.1} | {} |",
            o.attack.name(),
            o.binary,
            o.chat.latency.p50_ms,
            o.chat.latency.p99_ms,
            o.chat.latency.max_ms,
            100.0 * delivered,
            o.chat.foreign,
            o.rss_idle_mib,
            o.rss_calm_mib,
            o.rss_peak_mib,
            growth,
            o.ping.p99_ms,
            o.node_cpu_s,
            o.attacker_cpu_s,
            if misses.is_empty() {
                "met".to_owned()
            } else {
                format!("missed: {}", misses.join(", "))
            }
        ));
    }
    rows
}
