//! A run's totals over its scenarios: what `cookim-testbed` prints last and what
//! `RELIABILITY.md` publishes.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Outcome;
use super::proxy::ProxyStats;
use super::schedule::Kind;

/// Totals of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Scenarios run.
    pub scenarios: u64,
    /// Of those, with every invariant held.
    pub passed: u64,
    /// Seeds that failed, with the first violated invariant.
    pub failures: Vec<(u64, String)>,
    /// Faults injected per kind.
    pub faults: BTreeMap<Kind, u64>,
    /// Texts sent (distinct `clientId`s).
    pub sent: u64,
    /// Acknowledged.
    pub acked: u64,
    /// Acknowledged and missing from a member's history.
    pub lost: u64,
    /// Delivered twice to a client, or stored twice.
    pub duplicates: u64,
    /// Live deliveries checked (client connections that had to get a message live).
    pub live_checked: u64,
    /// Longest convergence after a heal.
    pub worst_convergence_ms: Option<u64>,
    /// Longest convergence after a heal, per kind of fault healed.
    pub convergence_by_kind: BTreeMap<Kind, u64>,
    /// Longest detection of a killed node.
    pub worst_detection_ms: Option<u64>,
    /// What the proxies did.
    pub proxy: ProxyStats,
}

impl Summary {
    /// Adds one scenario's outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        let v = &outcome.verdict;
        self.scenarios += 1;
        if v.passed() {
            self.passed += 1;
        } else if let Some(first) = v.first_violation() {
            self.failures.push((outcome.scenario.seed, first));
        }
        for step in &outcome.scenario.steps {
            *self.faults.entry(step.fault.kind()).or_insert(0) += 1;
        }
        self.sent += v.sent;
        self.acked += v.acked;
        self.lost += v.lost;
        self.duplicates += v.duplicates;
        self.live_checked += v
            .outcomes
            .iter()
            .find(|o| o.name == "live delivery")
            .map_or(0, |o| o.checked);
        self.worst_convergence_ms = self.worst_convergence_ms.max(v.worst_convergence_ms);
        for probe in &outcome.record.convergence {
            if let Some(took) = probe.took_ms {
                let worst = self.convergence_by_kind.entry(probe.kind).or_insert(0);
                *worst = (*worst).max(took);
            }
        }
        self.worst_detection_ms = self.worst_detection_ms.max(v.worst_detection_ms);
        let p = &mut self.proxy;
        let q = &outcome.proxy;
        p.datagrams_passed += q.datagrams_passed;
        p.datagrams_dropped += q.datagrams_dropped;
        p.datagrams_delayed += q.datagrams_delayed;
        p.connections_refused += q.connections_refused;
        p.connections_cut += q.connections_cut;
    }
}

impl fmt::Display for Summary {
    /// A markdown table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
        writeln!(f, "| | |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| scenarios run | {} ({} passed) |",
            self.scenarios, self.passed
        )?;
        for kind in Kind::all() {
            writeln!(
                f,
                "| faults: {} | {} |",
                kind.name(),
                self.faults.get(&kind).copied().unwrap_or(0)
            )?;
        }
        writeln!(
            f,
            "| messages sent | {} ({} acknowledged) |",
            self.sent, self.acked
        )?;
        writeln!(f, "| messages lost | {} |", self.lost)?;
        writeln!(f, "| duplicates | {} |", self.duplicates)?;
        writeln!(f, "| live deliveries checked | {} |", self.live_checked)?;
        writeln!(
            f,
            "| worst time to converge after heal | {} |",
            ms(self.worst_convergence_ms)
        )?;
        for (kind, worst) in &self.convergence_by_kind {
            writeln!(f, "| - after {} | {worst} ms |", kind.name())?;
        }
        writeln!(
            f,
            "| worst time to detect a dead node | {} |",
            ms(self.worst_detection_ms)
        )?;
        write!(
            f,
            "| proxies | {} datagrams passed, {} dropped, {} delayed; {} connections refused, {} cut |",
            self.proxy.datagrams_passed,
            self.proxy.datagrams_dropped,
            self.proxy.datagrams_delayed,
            self.proxy.connections_refused,
            self.proxy.connections_cut
        )
    }
}
