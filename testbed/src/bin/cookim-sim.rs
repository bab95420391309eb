//! Prints the mesh simulation's figures for `BENCHMARKS.md`, in virtual time: how long until
//! every node of a 5-node LAN cluster declares a killed node down, and how long a new
//! subscription takes to reach every node.
//!
//! `cargo run --release -p cookim-testbed --bin cookim-sim -- [runs]` (default 50 seeds).

use std::time::Duration;

use cookim_testbed::sim::{Sim, SimConfig};
use mesh::subscriptions::Topic;
use protocol::ids::SessionId;

/// Generous bound for each measured wait.
const LIMIT: Duration = Duration::from_secs(60);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let mut detect = Vec::new();
    let mut propagate = Vec::new();
    for (nodes, loss) in [(5, 0.0), (5, 0.05), (20, 0.0)] {
        detect.clear();
        propagate.clear();
        for seed in 1..=runs {
            let mut config = SimConfig::lan(nodes, seed);
            config.loss = loss;
            let mut sim = Sim::new(config);
            sim.run_until(LIMIT, |s| s.membership_converged())?;
            sim.run_for(Duration::from_secs(2));
            let topic = Topic::Chat(SessionId::from_random([9; 12]));
            sim.subscribe(2, topic.clone());
            propagate.push(sim.run_until(LIMIT, |s| s.everyone_routes_to(2, &topic))?);
            sim.run_for(Duration::from_secs(2));
            let victim = sim.core(nodes - 1).id().clone();
            sim.kill(nodes - 1);
            let observers = sim.alive();
            detect.push(sim.run_until(LIMIT, |s| {
                observers.iter().all(|o| {
                    s.downs()
                        .iter()
                        .any(|d| d.observer == *o && d.subject == victim)
                })
            })?);
        }
        report(nodes, loss, "killed node declared down by all", &mut detect);
        report(
            nodes,
            loss,
            "new subscription routed by all",
            &mut propagate,
        );
    }
    Ok(())
}

fn report(nodes: usize, loss: f64, what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    #[expect(clippy::print_stdout, reason = "this binary's output is its report")]
    {
        println!(
            "{nodes} nodes, {:.0}% loss, {what}: min {:?} median {:?} p95 {:?} max {:?} ({} seeds, virtual time)",
            loss * 100.0,
            at(0.0),
            at(0.5),
            at(0.95),
            at(1.0),
            samples.len()
        );
    }
}
