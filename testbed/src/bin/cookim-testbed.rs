//! `cookim-testbed`: seeded fault scenarios against real `cookim` nodes (each in its own
//! network namespace, or on loopback where namespaces cannot be made), with chat clients on
//! every node; after each scenario a table of the invariants, at the end the run's totals.
//! Exits 1 if any invariant broke, naming the seed and the invariant.
//!
//! ```text
//! eval "$(scripts/mongo-test-server start)" && export MONGO_URI
//! cookim-testbed run --seed 1 --scenarios 100            # the full run (RELIABILITY.md)
//! cookim-testbed run --seed 37 --scenarios 1             # replay one seed
//! cookim-testbed show --seed 37                          # its schedule, without running it
//! ```

use std::time::Duration;

use argh::FromArgs;
use cookim_testbed::chaos::schedule::Scenario;
use cookim_testbed::chaos::summary::Summary;
use cookim_testbed::chaos::{Options, Testbed};
use futures_lite::FutureExt;
use serde_json::json;

/// Seeded fault scenarios against real cookim nodes.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Run(Run),
    Show(Show),
}

/// Run scenarios: seeds S, S+1, ... S+N-1 (or the seeds listed), each reproducible alone.
#[derive(FromArgs)]
#[argh(subcommand, name = "run")]
struct Run {
    /// first seed (default 1)
    #[argh(option, default = "1")]
    seed: u64,
    /// comma-separated seeds to run instead of --seed and --scenarios
    #[argh(option)]
    seeds: Option<String>,
    /// how many scenarios (default 1)
    #[argh(option, default = "1")]
    scenarios: u64,
    /// nodes (default 3, at least 3)
    #[argh(option, default = "3")]
    nodes: usize,
    /// chat clients, spread over the nodes (default 6)
    #[argh(option, default = "6")]
    clients: usize,
    /// bound in ms on convergence after a heal and on detecting a dead node (default 10000)
    #[argh(option, default = "10_000")]
    bound_ms: u64,
    /// put the nodes on loopback addresses even where network namespaces work
    #[argh(switch)]
    loopback: bool,
    /// the shared MongoDB (default: env MONGO_URI)
    #[argh(option)]
    mongo_uri: Option<String>,
    /// write every scenario's outcome and the totals here as JSON
    #[argh(option)]
    json: Option<std::path::PathBuf>,
}

/// Print a seed's schedule without running it.
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
struct Show {
    /// the seed
    #[argh(option)]
    seed: u64,
    /// nodes (default 3)
    #[argh(option, default = "3")]
    nodes: usize,
    /// chat clients (default 6)
    #[argh(option, default = "6")]
    clients: usize,
}

#[expect(clippy::print_stdout, reason = "the tables are the tool's output")]
fn print(text: &str) {
    println!("{text}");
}

fn describe(scenario: &Scenario) -> String {
    let mut lines = vec![format!(
        "seed {}: {} nodes, {} clients (homes {:?}), a text every {} ms per client",
        scenario.seed, scenario.nodes, scenario.clients, scenario.homes, scenario.send_every_ms
    )];
    for step in &scenario.steps {
        let lasts = if step.lasts.is_zero() {
            String::new()
        } else {
            format!(" for {:.1} s", step.lasts.as_secs_f64())
        };
        lines.push(format!(
            "  at {:>5.1} s: {}{lasts}",
            step.at.as_secs_f64(),
            step.fault
        ));
    }
    lines.push(format!(
        "  traffic stops at {:.1} s",
        scenario.traffic_ends().as_secs_f64()
    ));
    lines.join("\n")
}

fn main() -> std::process::ExitCode {
    let args: Args = argh::from_env();
    match args.command {
        Command::Show(show) => {
            print(&describe(&Scenario::generate(
                show.seed,
                show.nodes,
                show.clients,
            )));
            std::process::ExitCode::SUCCESS
        }
        // Ctrl-C or SIGTERM drops the run: its nodes are killed, its namespaces and data dirs
        // removed (as at its end), instead of being left behind.
        Command::Run(run) => match smol::block_on(play(run).or(interrupted())) {
            Ok(true) => std::process::ExitCode::SUCCESS,
            Ok(false) => std::process::ExitCode::from(1),
            Err(e) => {
                print(&format!("cookim-testbed: {e}"));
                std::process::ExitCode::from(2)
            }
        },
    }
}

/// `a to b` for a run of consecutive seeds, else the list.
fn describe_seeds(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(first), Some(last)) if last - first + 1 == seeds.len() as u64 => {
            format!("{first} to {last}")
        }
        _ => seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Resolves with an error at SIGINT or SIGTERM.
async fn interrupted() -> Result<bool, Box<dyn std::error::Error>> {
    use futures_lite::StreamExt;
    let mut signals =
        async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
    let name = match signals.next().await {
        Some(Ok(async_signal::Signal::Int)) => "SIGINT",
        _ => "SIGTERM",
    };
    Err(format!("stopped by {name}; nodes, namespaces and data dirs removed").into())
}

async fn play(run: Run) -> Result<bool, Box<dyn std::error::Error>> {
    let mongo_uri = run
        .mongo_uri
        .or_else(|| std::env::var("MONGO_URI").ok())
        .ok_or("no MongoDB: give --mongo-uri or set MONGO_URI (scripts/mongo-test-server start)")?;
    let testbed = Testbed::start(Options {
        nodes: run.nodes,
        clients: run.clients,
        bound: Duration::from_millis(run.bound_ms),
        loopback: run.loopback,
        mongo_uri,
    })
    .await?;
    print(&format!("cookim-testbed: {}", testbed.placement()));
    let seeds: Vec<u64> = match &run.seeds {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--seeds {list:?}: {e}"))?,
        None => (run.seed..run.seed.saturating_add(run.scenarios)).collect(),
    };
    let mut summary = Summary::default();
    let mut outcomes = Vec::new();
    for seed in seeds.iter().copied() {
        let scenario = Scenario::generate(seed, run.nodes, run.clients);
        print(&describe(&scenario));
        let outcome = testbed.run(&scenario).await?;
        print(&format!("{}", outcome.verdict));
        match outcome.verdict.first_violation() {
            None => print(&format!(
                "seed {seed}: passed in {:.1} s",
                outcome.took.as_secs_f64()
            )),
            Some(violation) => print(&format!(
                "seed {seed}: FAILED: {violation}\n  replay: cookim-testbed run --seed {seed} --scenarios 1"
            )),
        }
        summary.add(&outcome);
        outcomes.push(json!({
            "seed": seed,
            "scenario": outcome.scenario,
            "verdict": outcome.verdict,
            "proxy": outcome.proxy,
            "took_ms": outcome.took.as_millis() as u64,
            // Everything the clients saw, for a seed that failed.
            "record": (!outcome.verdict.passed()).then_some(&outcome.record),
        }));
    }
    print(&format!(
        "\ncookim-testbed: {} scenarios (seeds {})\n{summary}",
        summary.scenarios,
        describe_seeds(&seeds)
    ));
    for (seed, violation) in &summary.failures {
        print(&format!("FAILED seed {seed}: {violation}"));
    }
    if let Some(path) = run.json {
        let out = json!({
            "placement": testbed.placement(),
            "seeds": seeds,
            "summary": summary,
            "scenarios": outcomes,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    Ok(summary.failures.is_empty())
}
