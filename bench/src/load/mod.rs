//! The load generator behind `cookim-load`: the same load profiles played against cookim and
//! its peers (Node.js `ws`, Socket.IO, a raw async-tungstenite broadcast server).
//!
//! - [`wire`]: the thin per-system adapters (connect, join, send, recognise a delivery).
//! - [`worker`]: one load process; [`coordinator`]: many of them, a progress bar, merged
//!   results.
//! - [`chat`]: a normal 10-member chat beside the real work, its latency timed.
//! - [`provision`]: rooms and, for cookim, users, groups and tokens (API or bulk in the store).
//! - [`servers`]: the systems under test as processes the suite starts.
//!
//! The profiles:
//! 1. fan-out: one room of 1,000, one sender, rates rising until p99 passes 50 ms or fewer
//!    than 95 % of deliveries arrive ([`fanout_sweep`]);
//! 2. many small chats: 10,000 users in 2,000 rooms of 5, every member sending, 2,000 msg/s
//!    in all ([`steady`]);
//! 3. idle: authenticated connections held at rising counts, RSS per connection ([`idle`]);
//! 4. cross-node: profile 2 over a 3-node cookim cluster (connections spread round-robin).

pub mod chat;
pub mod coordinator;
pub mod provision;
pub mod servers;
pub mod wire;
pub mod worker;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::rss_kib;
use coordinator::{ConnectSummary, RoundSummary, Workers};
use harness::client::{Error, Result};

/// A round passes when p99 is at most this and at least [`PASS_DELIVERED`] arrived.
pub const PASS_P99_MS: f64 = 50.0;
/// See [`PASS_P99_MS`].
pub const PASS_DELIVERED: f64 = 0.95;

/// Whether a round passes.
pub fn passes(round: &RoundSummary) -> bool {
    round.latency.p99_ms <= PASS_P99_MS && round.delivered_ratio >= PASS_DELIVERED
}

/// One sweep of rising rates.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// Rounds in the order played; the last one failed unless every rate passed.
    pub rounds: Vec<RoundSummary>,
    /// The highest offered rate that passed.
    pub highest_passing: Option<f64>,
}

/// Plays `rates` in order (each for `duration`) until one fails, `repeats` times.
///
/// # Errors
/// If a worker dies.
pub fn fanout_sweep(
    workers: &mut Workers,
    rates: &[f64],
    duration: Duration,
    repeats: usize,
    room_size: usize,
    round_id: &mut u32,
) -> Result<Vec<Sweep>> {
    let mut sweeps = Vec::new();
    for repeat in 0..repeats.max(1) {
        let mut rounds = Vec::new();
        let mut highest_passing = None;
        for &rate in rates {
            *round_id += 1;
            let round = workers.round(*round_id, rate, duration, room_size)?;
            harness::report::progress(
                "cookim-load",
                &format!(
                    "sweep {}: {rate} msg/s: p50 {:.2} ms, p99 {:.2} ms, {:.1} % delivered, {:.0} deliveries/s",
                    repeat + 1,
                    round.latency.p50_ms,
                    round.latency.p99_ms,
                    100.0 * round.delivered_ratio,
                    round.deliveries_per_s
                ),
            );
            let pass = passes(&round);
            rounds.push(round);
            if !pass {
                break;
            }
            highest_passing = Some(rate);
            // Let queues empty before the next rate.
            std::thread::sleep(Duration::from_millis(500));
        }
        sweeps.push(Sweep {
            rounds,
            highest_passing,
        });
    }
    Ok(sweeps)
}

/// One round at `rate` for `duration`.
///
/// # Errors
/// If a worker dies.
pub fn steady(
    workers: &mut Workers,
    rate: f64,
    duration: Duration,
    room_size: usize,
    round_id: &mut u32,
) -> Result<RoundSummary> {
    *round_id += 1;
    workers.round(*round_id, rate, duration, room_size)
}

/// One level of the idle profile.
#[derive(Clone, Debug, Serialize)]
pub struct IdleLevel {
    /// Connections asked for.
    pub target: usize,
    /// The connect step.
    pub connect: ConnectSummary,
    /// Server RSS before any load connection, KiB (all nodes).
    pub rss_base_kib: u64,
    /// Server RSS with these connections open, KiB.
    pub rss_kib: u64,
    /// `(rss - base) / open`, KiB.
    pub rss_per_connection_kib: f64,
    /// Connections lost while holding them for the settle time.
    pub dropped: u64,
}

/// Opens connections up to each of `levels` in turn and reads the servers' RSS at each.
///
/// # Errors
/// If a worker dies or a server's RSS cannot be read.
pub fn idle(workers: &mut Workers, pids: &[u32], levels: &[usize]) -> Result<Vec<IdleLevel>> {
    let rss = || -> Result<u64> {
        pids.iter()
            .map(|&pid| rss_kib(pid).ok_or_else(|| Error::Http(format!("no RSS for pid {pid}"))))
            .sum()
    };
    let base = rss()?;
    let mut out = Vec::new();
    for &target in levels {
        let connect = workers.connect(target)?;
        // Let allocator caches and the servers' timers settle, then check nothing dropped.
        let settle = Instant::now();
        while settle.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(100));
        }
        workers.poll();
        let now = rss()?;
        out.push(IdleLevel {
            target,
            rss_base_kib: base,
            rss_kib: now,
            rss_per_connection_kib: now.saturating_sub(base) as f64 / connect.open.max(1) as f64,
            dropped: workers.dropped(),
            connect,
        });
        if out.last().is_some_and(|l| l.connect.failed > 0) {
            break;
        }
    }
    Ok(out)
}
