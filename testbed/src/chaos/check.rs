//! The invariants a scenario must keep, checked over what its clients and probes recorded.
//! Pure: the records are plain data (times in milliseconds from the start of the traffic), so
//! every rule is tested on hand-made records too.
//!
//! - **acked in history**: every message a sender saw acknowledged (its echo, with its `seq`)
//!   is in the chat's history, read by every member, under that `seq` and `clientId`.
//! - **stored once**: no `clientId` of a sender appears twice in history (retries are stored
//!   once), and history's `seq`s run 1, 2, 3... with no hole.
//! - **client order**: each client saw the chat's `seq`s exactly once each and in order, over
//!   all its connections (resumed with `after`), through to the end of history. The echo a
//!   retried send gets again (the protocol's acknowledgement of the retry) is not a delivery.
//! - **live delivery**: a client connected when a message was sent, and staying connected, got
//!   it on that connection, unless a fault separated its node from the sender's (from the fault
//!   until the cluster converged after healing it). Loss and delay do not excuse a miss.
//! - **convergence**: after each heal, every node sees every other running node alive and all
//!   hold the same subscription table within the bound; a killed node is seen dead by the
//!   others within the bound.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use super::schedule::{Fault, Kind};

/// How long after its acknowledgement a live message may still arrive (a gap filled from the
/// store after 300 ms, a new subscription's re-read after a second).
pub const LIVE_GRACE_MS: u64 = 2500;

/// One message in history as a member read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// Its number in the chat.
    pub seq: i64,
    /// Sender's user id.
    pub uid: String,
    /// The sender's own id for it, if any.
    pub client_id: Option<String>,
}

/// A text a client sent (first try and retries under one `clientId`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The `clientId`.
    pub client_id: String,
    /// First try.
    pub first_ms: u64,
    /// Tries in all.
    pub attempts: u32,
    /// Its `seq` and when its echo came, with the connection it came on.
    pub acked: Option<Ack>,
    /// The nodes it was sent to (a retry may go to another node).
    pub via: Vec<usize>,
}

/// An acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The stored message's number.
    pub seq: i64,
    /// When the echo came.
    pub at_ms: u64,
    /// The connection (index into [`ClientLog::connections`]) it came on.
    pub conn: usize,
}

/// A stored message a client received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Received {
    /// Its number.
    pub seq: i64,
    /// The connection (index into [`ClientLog::connections`]).
    pub conn: usize,
    /// When.
    pub at_ms: u64,
    /// The repeated echo of one of this client's retried sends (an acknowledgement).
    pub retry_echo: bool,
}

/// One connection of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// The node.
    pub node: usize,
    /// When its `online` was answered.
    pub opened_ms: u64,
    /// When it closed (`None`: open to the end).
    pub closed_ms: Option<u64>,
}

/// Everything one client recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientLog {
    /// Its user id.
    pub uid: String,
    /// Its sends.
    pub sent: Vec<Sent>,
    /// Stored messages received, in arrival order.
    pub received: Vec<Received>,
    /// Its connections, in order.
    pub connections: Vec<Connection>,
    /// The history as this member read it at the end.
    pub history: Vec<Stored>,
}

/// A time during which a fault kept nodes apart: from its start until the cluster converged
/// after it healed (or the bound, if it never did).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The fault.
    pub fault: Fault,
    /// Start.
    pub from_ms: u64,
    /// End.
    pub until_ms: u64,
}

/// A measured time, or a failure to reach the state within the bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// What was waited for.
    pub what: String,
    /// The kind of fault it followed.
    pub kind: Kind,
    /// How long it took (`None`: not within the bound).
    pub took_ms: Option<u64>,
}

/// What a scenario recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Every client's log.
    pub clients: Vec<ClientLog>,
    /// Fault windows (hops excluded).
    pub windows: Vec<Window>,
    /// Convergence after each heal.
    pub convergence: Vec<Probe>,
    /// Detection of each killed node.
    pub detection: Vec<Probe>,
    /// The bound of both.
    pub bound_ms: u64,
}

/// One invariant's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Its name.
    pub name: &'static str,
    /// Cases checked.
    pub checked: u64,
    /// Cases that broke it, with the first few described.
    pub violations: u64,
    /// The first violations, described.
    pub examples: Vec<String>,
}

impl Outcome {
    fn new(name: &'static str) -> Outcome {
        Outcome {
            name,
            checked: 0,
            violations: 0,
            examples: Vec::new(),
        }
    }

    fn check(&mut self, holds: bool, describe: impl FnOnce() -> String) {
        self.checked += 1;
        if !holds {
            self.violations += 1;
            if self.examples.len() < 3 {
                self.examples.push(describe());
            }
        }
    }

    /// Whether it held.
    pub fn held(&self) -> bool {
        self.violations == 0
    }
}

/// Every invariant's outcome plus the scenario's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// In table order.
    pub outcomes: Vec<Outcome>,
    /// Texts sent (distinct `clientId`s).
    pub sent: u64,
    /// Of those, acknowledged.
    pub acked: u64,
    /// Acknowledged but missing from some member's history (counted once per message).
    pub lost: u64,
    /// Messages seen twice by a client, plus `clientId`s stored twice.
    pub duplicates: u64,
    /// Longest convergence after a heal.
    pub worst_convergence_ms: Option<u64>,
    /// Longest detection of a killed node.
    pub worst_detection_ms: Option<u64>,
}

impl Verdict {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(Outcome::held)
    }

    /// The first violated invariant, described.
    pub fn first_violation(&self) -> Option<String> {
        self.outcomes.iter().find(|o| !o.held()).map(|o| {
            format!(
                "{}: {} of {} broke it; {}",
                o.name,
                o.violations,
                o.checked,
                o.examples.join("; ")
            )
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {:<20} {:>8} {:>10}  first violations",
            "invariant", "checked", "violated"
        )?;
        for o in &self.outcomes {
            writeln!(
                f,
                "  {:<20} {:>8} {:>10}  {}",
                o.name,
                o.checked,
                o.violations,
                if o.held() {
                    "ok".to_owned()
                } else {
                    o.examples.join("; ")
                }
            )?;
        }
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
        write!(
            f,
            "  sent {}, acked {}, lost {}, duplicates {}, worst convergence {}, worst detection {}",
            self.sent,
            self.acked,
            self.lost,
            self.duplicates,
            ms(self.worst_convergence_ms),
            ms(self.worst_detection_ms)
        )
    }
}

/// Checks every invariant over `record`.
pub fn check(record: &Record) -> Verdict {
    let mut lost_messages = BTreeSet::new();
    let mut duplicates = 0;

    // Acked in history, for every member.
    let mut in_history = Outcome::new("acked in history");
    for (sender, log) in record.clients.iter().enumerate() {
        for sent in &log.sent {
            let Some(ack) = sent.acked else { continue };
            for (member, reader) in record.clients.iter().enumerate() {
                let found = reader.history.iter().any(|m| {
                    m.seq == ack.seq
                        && m.uid == log.uid
                        && m.client_id.as_deref() == Some(&sent.client_id)
                });
                if !found {
                    lost_messages.insert((sender, sent.client_id.clone()));
                }
                in_history.check(found, || {
                    format!(
                        "client {sender}'s {} (seq {}) not in client {member}'s history",
                        sent.client_id, ack.seq
                    )
                });
            }
        }
    }

    // Stored once, numbered without holes.
    let mut stored_once = Outcome::new("stored once");
    for (member, reader) in record.clients.iter().enumerate() {
        let mut ids = HashMap::new();
        for (i, m) in reader.history.iter().enumerate() {
            let expected = i as i64 + 1;
            stored_once.check(m.seq == expected, || {
                format!(
                    "client {member}'s history has seq {} at place {expected}",
                    m.seq
                )
            });
            if let Some(id) = &m.client_id {
                let first = ids.insert((m.uid.clone(), id.clone()), m.seq);
                if let Some(first) = first {
                    duplicates += 1;
                    stored_once.check(false, || {
                        format!("{id} stored twice (seq {first} and {})", m.seq)
                    });
                }
            }
        }
    }

    // Client order: 1, 2, 3, ... through the end of history, once each.
    let mut order = Outcome::new("client order");
    for (c, log) in record.clients.iter().enumerate() {
        let end = log.history.last().map_or(0, |m| m.seq);
        let mut expected = 1;
        for r in log.received.iter().filter(|r| !r.retry_echo) {
            if r.seq < expected {
                duplicates += 1;
            }
            order.check(r.seq == expected, || {
                format!(
                    "client {c} got seq {} where {expected} was due (connection {})",
                    r.seq, r.conn
                )
            });
            expected = expected.max(r.seq + 1);
        }
        order.check(expected == end + 1, || {
            format!("client {c} ended at seq {} of {end}", expected - 1)
        });
    }

    // Live delivery.
    let mut live = Outcome::new("live delivery");
    for (sender, log) in record.clients.iter().enumerate() {
        for sent in &log.sent {
            let Some(ack) = sent.acked else { continue };
            let mut via = sent.via.clone();
            via.extend(log.connections.get(ack.conn).map(|c| c.node));
            let Some(&from) = via.last() else { continue };
            let span = (sent.first_ms, ack.at_ms + LIVE_GRACE_MS);
            for (c, reader) in record.clients.iter().enumerate() {
                if c == sender {
                    continue;
                }
                for (k, conn) in reader.connections.iter().enumerate() {
                    let connected = conn.opened_ms < span.0
                        && conn.closed_ms.is_none_or(|closed| closed > span.1);
                    let separated = record.windows.iter().any(|w| {
                        w.from_ms <= span.1
                            && w.until_ms >= span.0
                            && via.iter().any(|&x| w.fault.separates(x, conn.node))
                    });
                    if !connected || separated {
                        continue;
                    }
                    let got = reader
                        .received
                        .iter()
                        .any(|r| r.conn == k && r.seq == ack.seq && !r.retry_echo);
                    live.check(got, || {
                        format!(
                            "client {c} on node {} (connection {k}) missed seq {} from node {from}",
                            conn.node, ack.seq
                        )
                    });
                }
            }
        }
    }

    // Convergence and detection within the bound.
    let mut converged = Outcome::new("convergence");
    for probe in record.convergence.iter().chain(&record.detection) {
        converged.check(
            probe.took_ms.is_some_and(|ms| ms <= record.bound_ms),
            || {
                format!(
                    "{} took {} (bound {} ms)",
                    probe.what,
                    probe
                        .took_ms
                        .map_or_else(|| "too long".to_owned(), |ms| format!("{ms} ms")),
                    record.bound_ms
                )
            },
        );
    }

    let sent: u64 = record.clients.iter().map(|c| c.sent.len() as u64).sum();
    let acked: u64 = record
        .clients
        .iter()
        .map(|c| c.sent.iter().filter(|s| s.acked.is_some()).count() as u64)
        .sum();
    let worst = |probes: &[Probe]| probes.iter().filter_map(|p| p.took_ms).max();
    Verdict {
        outcomes: vec![in_history, stored_once, order, live, converged],
        sent,
        acked,
        lost: lost_messages.len() as u64,
        duplicates,
        worst_convergence_ms: worst(&record.convergence),
        worst_detection_ms: worst(&record.detection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: i64, uid: &str, id: &str) -> Stored {
        Stored {
            seq,
            uid: uid.into(),
            client_id: Some(id.into()),
        }
    }

    /// Two clients on nodes 0 and 1; a sends a-1 (seq 1) and a-2 (seq 2), b gets both live.
    fn healthy() -> Record {
        let history = vec![stored(1, "a", "a-1"), stored(2, "a", "a-2")];
        let conn = |node| Connection {
            node,
            opened_ms: 0,
            closed_ms: None,
        };
        let got = |seq: i64, at_ms| Received {
            seq,
            conn: 0,
            at_ms,
            retry_echo: false,
        };
        let sent = |id: &str, seq, at_ms| Sent {
            client_id: id.into(),
            first_ms: at_ms - 5,
            attempts: 1,
            acked: Some(Ack {
                seq,
                at_ms,
                conn: 0,
            }),
            via: vec![0],
        };
        Record {
            clients: vec![
                ClientLog {
                    uid: "a".into(),
                    sent: vec![sent("a-1", 1, 100), sent("a-2", 2, 200)],
                    received: vec![got(1, 100), got(2, 200)],
                    connections: vec![conn(0)],
                    history: history.clone(),
                },
                ClientLog {
                    uid: "b".into(),
                    sent: Vec::new(),
                    received: vec![got(1, 101), got(2, 201)],
                    connections: vec![conn(1)],
                    history,
                },
            ],
            windows: Vec::new(),
            convergence: vec![Probe {
                what: "heal".into(),
                kind: Kind::Split,
                took_ms: Some(300),
            }],
            detection: Vec::new(),
            bound_ms: 10_000,
        }
    }

    fn violated(record: &Record) -> Vec<&'static str> {
        check(record)
            .outcomes
            .iter()
            .filter(|o| !o.held())
            .map(|o| o.name)
            .collect()
    }

    #[test]
    fn a_healthy_record_passes() {
        let verdict = check(&healthy());
        assert!(verdict.passed(), "{verdict}");
        assert_eq!(
            (
                verdict.sent,
                verdict.acked,
                verdict.lost,
                verdict.duplicates
            ),
            (2, 2, 0, 0)
        );
    }

    #[test]
    fn a_lost_message_is_caught() {
        let mut record = healthy();
        record.clients[1].history.pop();
        let verdict = check(&record);
        assert_eq!(verdict.lost, 1);
        assert!(violated(&record).contains(&"acked in history"));
    }

    #[test]
    fn a_duplicate_or_a_gap_is_caught_but_a_retry_echo_is_not() {
        let mut record = healthy();
        record.clients[1].received.push(Received {
            seq: 2,
            conn: 0,
            at_ms: 300,
            retry_echo: false,
        });
        assert_eq!(check(&record).duplicates, 1);
        assert_eq!(violated(&record), ["client order"]);

        let mut record = healthy();
        record.clients[0].received.push(Received {
            seq: 2,
            conn: 0,
            at_ms: 300,
            retry_echo: true,
        });
        assert!(check(&record).passed());

        let mut record = healthy();
        record.clients[1].received.remove(0);
        assert!(violated(&record).contains(&"client order"));
    }

    #[test]
    fn a_client_id_stored_twice_is_caught() {
        let mut record = healthy();
        for client in &mut record.clients {
            client.history.push(stored(3, "a", "a-2"));
        }
        let verdict = check(&record);
        assert!(verdict.duplicates >= 2);
        assert!(violated(&record).contains(&"stored once"));
    }

    #[test]
    fn a_missed_live_message_counts_unless_a_fault_separated_the_nodes() {
        let mut record = healthy();
        // b got seq 2 only after reconnecting: a miss on its first connection.
        record.clients[1].received[1].conn = 1;
        record.clients[1].connections.push(Connection {
            node: 1,
            opened_ms: 5000,
            closed_ms: None,
        });
        assert_eq!(violated(&record), ["live delivery"]);
        // A split between nodes 0 and 1 at that time excuses it; a delay does not.
        record.windows.push(Window {
            fault: Fault::Delay {
                a: 0,
                b: 1,
                ms: 200,
            },
            from_ms: 150,
            until_ms: 900,
        });
        assert_eq!(violated(&record), ["live delivery"]);
        record.windows.push(Window {
            fault: Fault::Split { minority: vec![1] },
            from_ms: 150,
            until_ms: 900,
        });
        assert!(check(&record).passed());
    }

    #[test]
    fn slow_or_missing_convergence_is_caught() {
        let mut record = healthy();
        record.detection.push(Probe {
            what: "node 2 seen dead".into(),
            kind: Kind::Kill,
            took_ms: None,
        });
        assert_eq!(violated(&record), ["convergence"]);
        let mut record = healthy();
        record.bound_ms = 100;
        let verdict = check(&record);
        assert_eq!(verdict.worst_convergence_ms, Some(300));
        assert!(
            verdict
                .first_violation()
                .unwrap()
                .starts_with("convergence")
        );
    }
}
