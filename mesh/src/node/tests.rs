//! Two or three cores wired back to back: no network faults (that is the simulation's job in
//! `testbed`), just the core's own rules.

use super::*;
use crate::error::Error;
use protocol::ids::SessionId;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn chat(n: u8) -> Topic {
    Topic::Chat(SessionId::from_random([n; 12]))
}

/// Cores addressed by index; `drop_datagrams` loses every SWIM datagram while set.
struct Wire {
    cores: Vec<NodeCore>,
    now: Duration,
    drop_datagrams: bool,
    drop_controls: bool,
}

impl Wire {
    fn new(n: usize) -> Result<Wire, Error> {
        Wire::with_tuning(n, Tuning::default())
    }

    fn with_tuning(n: usize, tuning: Tuning) -> Result<Wire, Error> {
        let seeds = vec!["n0:1".to_owned()];
        let cores = (0..n)
            .map(|i| {
                let mut core = NodeCore::new(
                    NodeId::new(format!("n{i}:1"), 1),
                    seeds.clone(),
                    tuning.clone(),
                    i as u64,
                )?;
                core.start(Duration::ZERO);
                Ok(core)
            })
            .collect::<Result<_, Error>>()?;
        Ok(Wire {
            cores,
            now: Duration::ZERO,
            drop_datagrams: false,
            drop_controls: false,
        })
    }

    /// The core at `addr`; `None` for an address no core has (what is sent there is lost,
    /// as on a network).
    fn index(&self, addr: &str) -> Option<usize> {
        self.cores.iter().position(|c| c.id().addr() == addr)
    }

    /// Delivers outputs (instantly) and fires timers until `until`.
    fn run_until(&mut self, until: Duration) {
        loop {
            self.route();
            let next = self.cores.iter().filter_map(|c| c.next_deadline()).min();
            match next {
                Some(t) if t <= until => {
                    self.now = t;
                    for core in &mut self.cores {
                        core.advance(t);
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn route(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.cores.len() {
                while let Some(out) = self.cores[i].poll_output() {
                    moved = true;
                    match out {
                        Output::Datagram { to, bytes } if !self.drop_datagrams => {
                            let Some(j) = self.index(&to) else { continue };
                            let now = self.now;
                            self.cores[j].handle_datagram(&bytes, now);
                        }
                        Output::Control { to, msg } if !self.drop_controls => {
                            let Some(j) = self.index(to.addr()) else {
                                continue;
                            };
                            let from = self.cores[i].id().clone();
                            let now = self.now;
                            self.cores[j].handle_control(&from, msg, now);
                        }
                        _ => {}
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }
}

#[test]
fn nodes_join_through_a_seed_and_learn_subscriptions() -> TestResult {
    let mut wire = Wire::new(3)?;
    assert_eq!(wire.cores[1].status(), MeshStatus::Joining);
    assert_eq!(wire.cores[0].status(), MeshStatus::Alone);
    wire.run_until(Duration::from_secs(2));
    for core in &wire.cores {
        assert_eq!(core.status(), MeshStatus::Joined);
        assert_eq!(core.live().count(), 2, "{core:?}");
    }
    let t = wire.now;
    wire.cores[2].subscribe(chat(7), t);
    wire.run_until(t + Duration::from_millis(500));
    let n2 = wire.cores[2].id().clone();
    assert_eq!(wire.cores[0].nodes_for(&chat(7)), vec![n2.clone()]);
    assert_eq!(wire.cores[1].nodes_for(&chat(7)), vec![n2]);
    assert!(wire.cores[2].nodes_for(&chat(7)).is_empty(), "never itself");
    let t = wire.now;
    wire.cores[2].unsubscribe(chat(7), t);
    wire.run_until(t + Duration::from_millis(500));
    assert!(wire.cores[0].nodes_for(&chat(7)).is_empty());
    Ok(())
}

#[test]
fn anti_entropy_repairs_lost_gossip() -> TestResult {
    // Each update is gossiped once, right away; that datagram is lost.
    let tuning = Tuning {
        max_transmissions: 1,
        ..Tuning::default()
    };
    let mut wire = Wire::with_tuning(2, tuning)?;
    wire.run_until(Duration::from_secs(2));
    wire.drop_datagrams = true;
    let t = wire.now;
    wire.cores[1].subscribe(chat(1), t);
    wire.cores[1].subscribe(chat(2), t);
    wire.route();
    wire.drop_datagrams = false;
    assert!(wire.cores[0].nodes_for(&chat(1)).is_empty());
    wire.run_until(t + ANTI_ENTROPY_WAIT);
    assert_eq!(wire.cores[0].table(), wire.cores[1].table());
    assert!(wire.cores[0].stats().entries_repaired > 0);
    Ok(())
}

/// Two anti-entropy periods: each node syncs with a random member once per period.
const ANTI_ENTROPY_WAIT: Duration = Duration::from_millis(2100);

#[test]
fn entries_of_unknown_nodes_are_ignored_and_own_entry_is_never_overwritten() -> TestResult {
    let mut core = NodeCore::new(NodeId::from("a:1"), vec![], Tuning::default(), 1)?;
    core.start(Duration::ZERO);
    core.subscribe(chat(1), Duration::ZERO);
    let stranger = NodeId::from("z:1");
    let entries = vec![
        (
            stranger.clone(),
            Entry {
                version: 3,
                topics: [chat(2)].into(),
            },
        ),
        (
            NodeId::from("a:1"),
            Entry {
                version: 99,
                topics: BTreeSet::new(),
            },
        ),
    ];
    core.handle_control(&stranger, Control::Entries(entries), Duration::ZERO);
    assert!(core.nodes_for(&chat(2)).is_empty());
    assert_eq!(
        core.table()
            .entry(&NodeId::from("a:1"))
            .ok_or("no entry")?
            .version,
        1
    );
    assert_eq!(core.status(), MeshStatus::Alone);
    Ok(())
}

#[test]
fn a_sync_is_answered_with_newer_entries_and_a_digest_back() -> TestResult {
    let mut core = NodeCore::new(NodeId::from("a:1"), vec![], Tuning::default(), 1)?;
    core.subscribe(chat(1), Duration::ZERO);
    while core.poll_output().is_some() {}
    let asker = NodeId::from("b:1");
    let digest: Digest = [(NodeId::from("c:1"), 4)].into();
    core.handle_control(
        &asker,
        Control::Sync {
            digest,
            reply: true,
        },
        Duration::ZERO,
    );
    let Some(Output::Control {
        to,
        msg: Control::Entries(entries),
    }) = core.poll_output()
    else {
        panic!("expected entries");
    };
    assert_eq!(to, asker);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, NodeId::from("a:1"));
    // c is not a live member here, so what the asker knows of it is not asked for.
    assert_eq!(core.poll_output(), None);
    Ok(())
}

#[test]
fn garbage_datagrams_are_counted_not_fatal() -> TestResult {
    let mut core = NodeCore::new(NodeId::from("a:1"), vec![], Tuning::default(), 1)?;
    core.start(Duration::ZERO);
    for bytes in [&b""[..], &[0xff; 3], &[0u8; 2000]] {
        core.handle_datagram(bytes, Duration::ZERO);
    }
    assert_eq!(core.stats().bad_datagrams, 3);
    Ok(())
}
