//! The coordinator: splits the connections over worker processes (each its own source address
//! on loopback), tells them when to connect and when to send, draws a live progress bar from
//! their counters, and merges their rounds into one result.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::wire::{Conn, System};
use super::worker::{Command, Progress, Report, Round, Setup};
use crate::stats::{Percentiles, latency_histogram};
use harness::client::{Error, Result};

/// How connections are spread over processes.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// Most connections per worker process (each may hold ~20,000 descriptors here).
    pub per_process: usize,
    /// Give each worker its own 127.0.1.x source address (loopback targets only).
    pub source_addresses: bool,
    /// Connections each worker opens at once.
    pub concurrency: usize,
}

impl Default for Spread {
    fn default() -> Spread {
        Spread {
            per_process: 9_000,
            source_addresses: true,
            concurrency: 128,
        }
    }
}

struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    conns: usize,
    senders: usize,
    progress: Progress,
}

/// Running worker processes.
pub struct Workers {
    workers: Vec<WorkerProcess>,
    reports: mpsc::Receiver<(usize, Report)>,
    bar: Bar,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("processes", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// The merged outcome of a connect step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConnectSummary {
    /// Connections open.
    pub open: usize,
    /// Connections that failed to open, in all.
    pub failed: usize,
    /// Seconds the step took (the slowest worker).
    pub seconds: f64,
    /// Connections opened per second in this step.
    pub per_second: f64,
    /// Connections lost after opening, in all.
    pub dropped: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// The merged outcome of a round.
#[derive(Clone, Debug, Serialize)]
pub struct RoundSummary {
    /// Offered messages per second.
    pub offered_rate: f64,
    /// Messages sent.
    pub sent: u64,
    /// Achieved send rate.
    pub sent_per_s: f64,
    /// Deliveries expected (each message times its room's size).
    pub expected: u64,
    /// Deliveries counted.
    pub delivered: u64,
    /// `delivered / expected`.
    pub delivered_ratio: f64,
    /// Deliveries per second, from the start of the round to its last delivery.
    pub deliveries_per_s: f64,
    /// Deliveries of earlier rounds that came during this one.
    pub late: u64,
    /// `reject` frames.
    pub rejects: u64,
    /// Connections lost, in all.
    pub dropped: u64,
    /// End-to-end latency.
    pub latency: Percentiles,
}

impl Workers {
    /// Spawns the worker processes (this executable with `worker_args`) for `conns` on
    /// `system` at `addrs`.
    ///
    /// # Errors
    /// If a process cannot be spawned or fed.
    pub fn spawn(
        worker_args: &[&str],
        system: System,
        addrs: &[SocketAddr],
        conns: Vec<Conn>,
        spread: Spread,
    ) -> Result<Workers> {
        // At least one process per core (each is one thread), unless that leaves them tiny.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let processes = conns
            .len()
            .div_ceil(spread.per_process.max(1))
            .max(cores.min(conns.len().div_ceil(100)))
            .max(1);
        let mut shares: Vec<Vec<Conn>> = vec![Vec::new(); processes];
        for (i, conn) in conns.into_iter().enumerate() {
            if let Some(share) = shares.get_mut(i % processes) {
                share.push(conn);
            }
        }
        let loopback = addrs.iter().all(|a| a.ip().is_loopback());
        let exe = std::env::current_exe()?;
        let (tx, reports) = mpsc::channel();
        let mut workers = Vec::new();
        for (i, share) in shares.into_iter().enumerate() {
            let source = (spread.source_addresses && loopback)
                .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 1, (i % 250 + 1) as u8)));
            let setup = Setup {
                system,
                addrs: addrs.to_vec(),
                source,
                conns: share,
                concurrency: spread.concurrency,
            };
            let mut child = Process::new(&exe)
                .args(worker_args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdin = child
                .stdin
                .take()
                .ok_or_else(|| Error::Http("worker has no stdin".into()))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| Error::Http("worker has no stdout".into()))?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Ok(report) = serde_json::from_str::<Report>(&line) else {
                        continue;
                    };
                    if tx.send((i, report)).is_err() {
                        break;
                    }
                }
            });
            let mut worker = WorkerProcess {
                child,
                stdin,
                conns: setup.conns.len(),
                senders: setup.conns.iter().filter(|c| c.sends).count(),
                progress: Progress::default(),
            };
            worker.send(&setup)?;
            workers.push(worker);
        }
        Ok(Workers {
            workers,
            reports,
            bar: Bar::new(),
        })
    }

    /// Connections in all.
    pub fn conns(&self) -> usize {
        self.workers.iter().map(|w| w.conns).sum()
    }

    /// Opens connections until `upto` of them (spread evenly) are open or failed.
    ///
    /// # Errors
    /// If a worker dies.
    pub fn connect(&mut self, upto: usize) -> Result<ConnectSummary> {
        let total = self.conns();
        let upto = upto.min(total);
        let before: usize = self.workers.iter().map(|w| w.progress.open as usize).sum();
        // Worker i holds connections i, i+n, i+2n... of the whole list.
        let processes = self.workers.len().max(1);
        for (i, worker) in self.workers.iter_mut().enumerate() {
            let share = upto / processes + usize::from(i < upto % processes);
            worker.send(&Command::Connect { upto: share })?;
        }
        let label = format!("connecting {upto}");
        let done = self.collect(
            &label,
            upto as u64,
            |p| p.open,
            |r| match r {
                Report::Connected(c) => Some(c),
                _ => None,
            },
        )?;
        let mut summary = ConnectSummary::default();
        for c in &done {
            summary.open += c.open;
            summary.failed += c.failed;
            summary.seconds = summary.seconds.max(c.seconds);
            if summary.first_error.is_none() {
                summary.first_error.clone_from(&c.first_error);
            }
        }
        summary.per_second =
            (summary.open.saturating_sub(before)) as f64 / summary.seconds.max(1e-6);
        summary.dropped = self.workers.iter().map(|w| w.progress.dropped).sum();
        Ok(summary)
    }

    /// Reads the progress reports waiting, without blocking.
    pub fn poll(&mut self) {
        while let Ok((i, report)) = self.reports.try_recv() {
            if let (Report::Progress(p), Some(worker)) = (report, self.workers.get_mut(i)) {
                worker.progress = p;
            }
        }
    }

    /// Connections lost so far, as last reported.
    pub fn dropped(&self) -> u64 {
        self.workers.iter().map(|w| w.progress.dropped).sum()
    }

    /// Plays one round: `rate` messages per second in all for `duration`, each delivered to
    /// `room_size` connections.
    ///
    /// # Errors
    /// If a worker dies.
    pub fn round(
        &mut self,
        id: u32,
        rate: f64,
        duration: Duration,
        room_size: usize,
    ) -> Result<RoundSummary> {
        let senders: usize = self.workers.iter().map(|w| w.senders).sum();
        let start_at_us = super::wire::now_us() + 300_000;
        let mut planned = 0u64;
        for worker in &mut self.workers {
            let share = rate * worker.senders as f64 / senders.max(1) as f64;
            planned += (share * duration.as_secs_f64()).round() as u64;
            worker.send(&Command::Round(Round {
                id,
                start_at_us,
                rate: share,
                duration_s: duration.as_secs_f64(),
                drain_s: 20.0,
            }))?;
        }
        let expected = planned * room_size as u64;
        let label = format!("{rate:.0} msg/s");
        let done = self.collect(
            &label,
            expected,
            |p| p.delivered,
            |r| match r {
                Report::RoundDone(d) => Some(d),
                _ => None,
            },
        )?;
        let mut histogram = latency_histogram().map_err(|e| Error::Http(e.to_string()))?;
        let (mut sent, mut delivered, mut late, mut rejects, mut dropped, mut last) =
            (0, 0, 0, 0, 0, start_at_us);
        let mut send_seconds: f64 = 0.0;
        for d in &done {
            sent += d.sent;
            delivered += d.delivered;
            late += d.late;
            rejects += d.rejects;
            dropped += d.dropped;
            last = last.max(d.last_delivery_us);
            send_seconds = send_seconds.max(d.send_seconds);
            for &(value, count) in &d.histogram {
                let _ = histogram.record_n(value, count);
            }
        }
        let span = (last.saturating_sub(start_at_us)) as f64 / 1e6;
        Ok(RoundSummary {
            offered_rate: rate,
            sent,
            sent_per_s: sent as f64 / send_seconds.max(1e-6),
            expected: sent * room_size as u64,
            delivered,
            delivered_ratio: delivered as f64 / (sent * room_size as u64).max(1) as f64,
            deliveries_per_s: delivered as f64 / span.max(1e-6),
            late,
            rejects,
            dropped,
            latency: Percentiles::of(&histogram),
        })
    }

    /// Waits for one `T` from every worker, drawing progress meanwhile.
    fn collect<T>(
        &mut self,
        label: &str,
        goal: u64,
        count: impl Fn(&Progress) -> u64,
        pick: impl Fn(Report) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut got: Vec<Option<T>> = (0..self.workers.len()).map(|_| None).collect();
        let started = Instant::now();
        while got.iter().any(Option::is_none) {
            match self.reports.recv_timeout(Duration::from_millis(250)) {
                Ok((i, Report::Progress(p))) => {
                    if let Some(worker) = self.workers.get_mut(i) {
                        worker.progress = p;
                    }
                }
                Ok((i, report)) => {
                    if let (Some(slot), Some(value)) = (got.get_mut(i), pick(report)) {
                        *slot = Some(value);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Http("every worker exited".into()));
                }
            }
            for worker in &mut self.workers {
                if let Some(status) = worker.child.try_wait()? {
                    return Err(Error::Http(format!("a worker exited: {status}")));
                }
            }
            let done: u64 = self.workers.iter().map(|w| count(&w.progress)).sum();
            let dropped = self.dropped();
            self.bar.draw(label, done, goal, started.elapsed(), dropped);
        }
        self.bar.finish();
        Ok(got.into_iter().flatten().collect())
    }

    /// Closes every connection and waits for the workers to exit.
    pub fn quit(mut self) {
        for worker in &mut self.workers {
            let _ = worker.send(&Command::Quit);
        }
        for worker in &mut self.workers {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(worker.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }
}

impl WorkerProcess {
    fn send(&mut self, value: &impl Serialize) -> Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.stdin.write_all(&line)?;
        Ok(self.stdin.flush()?)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if matches!(worker.child.try_wait(), Ok(None)) {
                let _ = worker.child.kill();
                let _ = worker.child.wait();
            }
        }
    }
}

/// A progress bar on stderr: redrawn in place on a terminal, a line every 2 s otherwise.
struct Bar {
    terminal: bool,
    last: Option<Instant>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn draw(&mut self, label: &str, done: u64, goal: u64, elapsed: Duration, dropped: u64) {
        let every = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        const WIDTH: usize = 30;
        let fraction = (done as f64 / goal.max(1) as f64).clamp(0.0, 1.0);
        let filled = (fraction * WIDTH as f64) as usize;
        let line = format!(
            "[{}{}] {:>3.0}% {label}: {done}/{goal} in {:.1} s{}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            fraction * 100.0,
            elapsed.as_secs_f64(),
            if dropped > 0 {
                format!(", {dropped} dropped")
            } else {
                String::new()
            }
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
    }

    fn finish(&mut self) {
        if self.terminal && self.last.is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
        self.last = None;
    }
}
