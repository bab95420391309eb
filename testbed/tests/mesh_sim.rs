//! The mesh under the deterministic simulation: many real `NodeCore`s, a virtual clock and a
//! faulty network, each scenario over fixed seeds. A failure names its seed; a seed that once
//! failed is pinned below as its own test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cookim_testbed::sim::{Sim, SimConfig};
use mesh::subscriptions::Topic;
use protocol::ids::{SessionId, UserId};

/// Seeds every scenario runs over (CI time stays small: each run is virtual time).
const SEEDS: [u64; 6] = [1, 2, 3, 0xC00C1E, 0xF0CA, 0xDEAD_BEEF];

/// The bound: a dead node is declared down by every live node within this.
const DETECTION_BOUND: Duration = Duration::from_secs(2);

/// Generous limits for things with no stated bound (joins, healing).
const CONVERGE: Duration = Duration::from_secs(30);

fn chat(n: u8) -> Topic {
    Topic::Chat(SessionId::from_random([n; 12]))
}

fn push(n: u8) -> Topic {
    Topic::Push(UserId::from_random([n; 12]))
}

fn converged(sim: &mut Sim) {
    sim.run_until(CONVERGE, |s| s.membership_converged())
        .unwrap_or_else(|e| panic!("membership did not converge: {e}"));
}

/// Subscribes a spread of topics on every node and waits until every table agrees.
fn subscribe_spread(sim: &mut Sim) {
    for i in sim.alive() {
        sim.subscribe(i, chat(i as u8 % 4));
        sim.subscribe(i, push(i as u8));
    }
    sim.run_until(CONVERGE, |s| s.tables_agree())
        .unwrap_or_else(|e| panic!("tables did not agree: {e}"));
}

#[test]
fn clusters_of_5_to_20_converge_and_agree() {
    for n in [5, 12, 20] {
        for seed in SEEDS {
            let mut sim = Sim::new(SimConfig::lan(n, seed));
            converged(&mut sim);
            subscribe_spread(&mut sim);
            for i in 1..n {
                assert!(
                    sim.everyone_routes_to(i, &push(i as u8)),
                    "n={n} seed={seed:#x}: push topic of node {i} not routed"
                );
            }
            assert!(
                sim.downs().is_empty(),
                "n={n} seed={seed:#x}: {:?}",
                sim.downs()
            );
        }
    }
}

/// Kills node `victim` and returns how long until every live node declared it down.
fn detection_time(sim: &mut Sim, victim: usize) -> Duration {
    let subject = sim.core(victim).id().clone();
    let killed_at = sim.now();
    sim.kill(victim);
    let observers = sim.alive();
    sim.run_until(CONVERGE, |s| {
        observers.iter().all(|o| {
            s.downs()
                .iter()
                .any(|d| d.observer == *o && d.subject == subject)
        })
    })
    .unwrap_or_else(|e| panic!("victim never declared down: {e}"));
    sim.now() - killed_at
}

#[test]
fn a_killed_node_is_declared_down_everywhere_within_2_s_and_its_entries_dropped() {
    for n in [5, 20] {
        for seed in SEEDS {
            let mut sim = Sim::new(SimConfig::lan(n, seed));
            converged(&mut sim);
            subscribe_spread(&mut sim);
            sim.run_for(Duration::from_secs(3));
            let victim = n - 2;
            let took = detection_time(&mut sim, victim);
            assert!(
                took <= DETECTION_BOUND,
                "n={n} seed={seed:#x}: declared down after {took:?}"
            );
            let victim_id = sim.core(victim).id().clone();
            for i in sim.alive() {
                assert!(sim.core(i).table().entry(&victim_id).is_none());
                assert!(
                    !sim.core(i)
                        .nodes_for(&push(victim as u8))
                        .contains(&victim_id)
                );
            }
            assert!(sim.tables_agree(), "seed={seed:#x}");
        }
    }
}

#[test]
fn a_partition_2_3_heals_and_tables_agree_afterwards() {
    for seed in SEEDS {
        let mut sim = Sim::new(SimConfig::lan(5, seed));
        converged(&mut sim);
        subscribe_spread(&mut sim);
        sim.partition(&[&[0, 1], &[2, 3, 4]]);
        // Each side sees the other go down and carries on alone.
        sim.run_until(CONVERGE, |s| s.membership_converged())
            .unwrap_or_else(|e| panic!("sides did not settle: {e}"));
        // Subscriptions change on both sides during the partition.
        sim.subscribe(0, chat(40));
        sim.unsubscribe(3, push(3));
        sim.subscribe(4, chat(44));
        sim.run_for(Duration::from_secs(2));
        sim.heal();
        let took = sim
            .run_until(CONVERGE, |s| s.membership_converged() && s.tables_agree())
            .unwrap_or_else(|e| panic!("partition did not heal: {e}"));
        assert!(sim.everyone_routes_to(0, &chat(40)), "seed={seed:#x}");
        assert!(sim.everyone_routes_to(4, &chat(44)), "seed={seed:#x}");
        assert!(sim.core(1).nodes_for(&push(3)).is_empty(), "seed={seed:#x}");
        eprintln!("seed {seed:#x}: healed in {took:?}");
    }
}

#[test]
fn five_percent_loss_for_ten_virtual_minutes_downs_nobody() {
    for seed in SEEDS.iter().take(3) {
        let mut config = SimConfig::lan(5, *seed);
        config.loss = 0.05;
        config.duplicate = 0.01;
        let mut sim = Sim::new(config);
        converged(&mut sim);
        subscribe_spread(&mut sim);
        sim.run_for(Duration::from_secs(600));
        assert!(
            sim.downs().is_empty(),
            "seed={seed:#x}: false downs {:?}",
            sim.downs()
        );
        assert!(sim.membership_converged() && sim.tables_agree());
    }
}

#[test]
fn five_percent_loss_with_twelve_nodes_downs_nobody() {
    let mut config = SimConfig::lan(12, 7);
    config.loss = 0.05;
    let mut sim = Sim::new(config);
    converged(&mut sim);
    subscribe_spread(&mut sim);
    sim.run_for(Duration::from_secs(300));
    assert!(
        sim.downs().is_empty(),
        "seed=7: false downs {:?}",
        sim.downs()
    );
}

#[test]
fn delays_duplicates_and_loss_still_converge_and_detect() {
    for seed in SEEDS {
        let mut config = SimConfig::lan(8, seed);
        config.latency = (Duration::from_millis(1), Duration::from_millis(30));
        config.loss = 0.05;
        config.duplicate = 0.05;
        let mut sim = Sim::new(config);
        converged(&mut sim);
        subscribe_spread(&mut sim);
        let took = detection_time(&mut sim, 5);
        assert!(
            took <= Duration::from_secs(3),
            "seed={seed:#x}: declared down after {took:?}"
        );
        sim.run_until(CONVERGE, |s| s.membership_converged() && s.tables_agree())
            .unwrap_or_else(|e| panic!("did not settle after the kill: {e}"));
    }
}

#[test]
fn a_new_subscription_reaches_every_node_quickly() {
    for seed in SEEDS {
        let mut sim = Sim::new(SimConfig::lan(5, seed));
        converged(&mut sim);
        sim.subscribe(3, chat(99));
        let took = sim
            .run_until(CONVERGE, |s| s.everyone_routes_to(3, &chat(99)))
            .unwrap();
        assert!(
            took < Duration::from_millis(500),
            "seed={seed:#x}: {took:?}"
        );
    }
}

#[test]
fn a_graceful_leave_is_seen_at_once_and_a_restart_rejoins() {
    for seed in SEEDS {
        let mut sim = Sim::new(SimConfig::lan(5, seed));
        converged(&mut sim);
        subscribe_spread(&mut sim);
        let leaver = sim.core(2).id().clone();
        sim.leave(2);
        let took = sim
            .run_until(CONVERGE, |s| {
                s.alive()
                    .iter()
                    .all(|i| !s.core(*i).live().any(|n| *n == leaver))
            })
            .unwrap();
        assert!(
            took < Duration::from_millis(500),
            "seed={seed:#x}: {took:?}"
        );
        // The same address comes back as a new run and is routed to again.
        sim.restart(2);
        sim.subscribe(2, chat(77));
        sim.run_until(CONVERGE, |s| {
            s.membership_converged() && s.tables_agree() && s.everyone_routes_to(2, &chat(77))
        })
        .unwrap_or_else(|e| panic!("restart did not rejoin: {e}"));
    }
}

#[test]
fn a_node_falsely_declared_down_renews_itself_and_rejoins() {
    for seed in SEEDS {
        let mut sim = Sim::new(SimConfig::lan(5, seed));
        converged(&mut sim);
        subscribe_spread(&mut sim);
        // Cut node 4 off long enough to be declared down, then let it back.
        sim.partition(&[&[0, 1, 2, 3], &[4]]);
        sim.run_until(CONVERGE, |s| s.membership_converged())
            .unwrap();
        sim.heal();
        sim.run_until(CONVERGE, |s| s.membership_converged() && s.tables_agree())
            .unwrap_or_else(|e| panic!("cut-off node did not rejoin: {e}"));
        assert!(sim.everyone_routes_to(4, &push(4)), "seed={seed:#x}");
    }
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = || {
        let mut config = SimConfig::lan(6, 42);
        config.loss = 0.05;
        let mut sim = Sim::new(config);
        sim.run_for(Duration::from_secs(20));
        sim.kill(3);
        sim.run_for(Duration::from_secs(5));
        (sim.datagrams(), sim.downs().to_vec())
    };
    assert_eq!(run(), run());
}

/// The long version of the loss test (44 runs of 10 virtual minutes, ~20 s in release):
/// `cargo test --release -p cookim-testbed --test mesh_sim -- --ignored`. With the default
/// tuning it found no false down at 5 % loss; at 10 % loss it finds a few (the margin).
#[test]
#[ignore = "soak: run in release by hand"]
fn soak_five_percent_loss_many_seeds() {
    for (n, seeds) in [(5usize, 1..=30u64), (10, 31..=40), (20, 41..=44)] {
        for seed in seeds {
            let mut config = SimConfig::lan(n, seed);
            config.loss = 0.05;
            let mut sim = Sim::new(config);
            converged(&mut sim);
            sim.run_for(Duration::from_secs(600));
            assert!(
                sim.downs().is_empty(),
                "n={n} seed={seed:#x}: false downs {:?}",
                sim.downs()
            );
        }
    }
}
