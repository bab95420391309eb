//! One load process: opens its share of the connections, sends its share of each round's
//! messages on a fixed schedule, and counts what comes back. It is told what to do in JSON
//! lines on stdin ([`Command`]) and answers in JSON lines on stdout ([`Report`]), so a
//! coordinator can spread connections over several processes (each may hold at most ~20,000
//! file descriptors here) and several source addresses.
//!
//! Every connection is one task that reads frames and, for senders, writes what the round's
//! schedule hands it through a small bounded queue. Frames are classified by substring
//! ([`wire::classify`]), not parsed, so the client stays cheaper than the servers it loads.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::wire::{self, Conn, Frame, Socket, System};
use crate::stats::latency_histogram;
use harness::client::{Error, Result};

/// What a worker is given first (one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Setup {
    /// The system under test.
    pub system: System,
    /// Its nodes; each connection goes to `addrs[conn index % addrs.len()]`.
    pub addrs: Vec<SocketAddr>,
    /// The source address of every connection, if not the default.
    pub source: Option<IpAddr>,
    /// This worker's connections, in the order they are opened.
    pub conns: Vec<Conn>,
    /// Connections opened at once.
    pub concurrency: usize,
}

/// What the coordinator asks next.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Open connections until this many of this worker's are open (or failed).
    Connect {
        /// Connections to have tried, in all.
        upto: usize,
    },
    /// Send and count one round.
    Round(Round),
    /// Close everything and exit.
    Quit,
}

/// One round of sending.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Round {
    /// Round number, carried in every message so late ones are not counted twice.
    pub id: u32,
    /// Wall-clock µs when every worker starts sending.
    pub start_at_us: u64,
    /// This worker's messages per second.
    pub rate: f64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Longest wait for deliveries after sending ends.
    pub drain_s: f64,
}

/// What a worker says.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// Counters so far (every 250 ms).
    Progress(Progress),
    /// A `Connect` finished.
    Connected(Connected),
    /// A round finished.
    RoundDone(RoundDone),
}

/// Running counters.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Open connections.
    pub open: u64,
    /// Messages sent this round.
    pub sent: u64,
    /// Messages received this round.
    pub delivered: u64,
    /// Connections the server closed or that failed after opening.
    pub dropped: u64,
}

/// The outcome of a `Connect`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Connected {
    /// Open now.
    pub open: usize,
    /// Failed to open, in all.
    pub failed: usize,
    /// Seconds this `Connect` took.
    pub seconds: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// The outcome of a round.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RoundDone {
    /// Messages sent.
    pub sent: u64,
    /// Seconds from the first send to the last.
    pub send_seconds: f64,
    /// Messages of this round received.
    pub delivered: u64,
    /// Messages of earlier rounds received during this one.
    pub late: u64,
    /// `reject` frames received.
    pub rejects: u64,
    /// Connections lost, in all.
    pub dropped: u64,
    /// Wall-clock µs of the last delivery of this round.
    pub last_delivery_us: u64,
    /// Latency histogram in µs: `(value, count)` pairs.
    pub histogram: Vec<(u64, u64)>,
}

/// What every connection task updates.
struct Shared {
    system: System,
    round: AtomicU32,
    open: AtomicU64,
    sent: AtomicU64,
    delivered: AtomicU64,
    late: AtomicU64,
    rejects: AtomicU64,
    dropped: AtomicU64,
    last_delivery_us: AtomicU64,
    closing: AtomicBool,
    histogram: Mutex<Histogram<u64>>,
}

impl Shared {
    fn progress(&self) -> Progress {
        Progress {
            open: self.open.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn record(&self, sent_us: u64) {
        let now = wire::now_us();
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.last_delivery_us.fetch_max(now, Ordering::Relaxed);
        if let Ok(mut histogram) = self.histogram.lock() {
            let _ = histogram.record(now.saturating_sub(sent_us).max(1));
        }
    }
}

fn say(report: &Report) -> Result<()> {
    let mut line = serde_json::to_vec(report)?;
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line)?;
    Ok(out.flush()?)
}

/// Runs a worker on stdin and stdout until `Quit` or the end of stdin.
///
/// Everything runs on this one thread (a local executor driving the reactor): no task is
/// woken across threads. Several worker processes use several cores.
///
/// # Errors
/// A malformed command, or stdout closed.
pub fn run() -> Result<()> {
    let executor = std::rc::Rc::new(smol::LocalExecutor::new());
    smol::block_on(executor.run(async {
        use futures_lite::AsyncBufReadExt;
        let mut lines = smol::io::BufReader::new(smol::Unblock::new(std::io::stdin())).lines();
        let Some(setup) = lines.next().await else {
            return Ok(());
        };
        let setup: Setup = serde_json::from_str(&setup?)?;
        let mut worker = Worker::new(setup, executor.clone())?;
        let ticker = {
            let shared = worker.shared.clone();
            executor.spawn(async move {
                loop {
                    smol::Timer::after(Duration::from_millis(250)).await;
                    if say(&Report::Progress(shared.progress())).is_err() {
                        break;
                    }
                }
            })
        };
        while let Some(line) = lines.next().await {
            match serde_json::from_str::<Command>(&line?)? {
                Command::Connect { upto } => {
                    let connected = worker.connect(upto).await;
                    say(&Report::Connected(connected))?;
                }
                Command::Round(round) => {
                    let done = worker.round(round).await;
                    say(&Report::RoundDone(done))?;
                }
                Command::Quit => break,
            }
        }
        worker.shared.closing.store(true, Ordering::Relaxed);
        drop(ticker);
        Ok(())
    }))
}

struct Worker {
    setup: Setup,
    shared: Arc<Shared>,
    tried: usize,
    failed: usize,
    first_error: Option<String>,
    executor: std::rc::Rc<smol::LocalExecutor<'static>>,
    tasks: Vec<smol::Task<()>>,
    senders: Vec<(async_channel::Sender<String>, usize)>,
}

impl Worker {
    fn new(setup: Setup, executor: std::rc::Rc<smol::LocalExecutor<'static>>) -> Result<Worker> {
        let histogram = latency_histogram().map_err(|e| Error::Http(e.to_string()))?;
        Ok(Worker {
            shared: Arc::new(Shared {
                system: setup.system,
                round: AtomicU32::new(0),
                open: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                late: AtomicU64::new(0),
                rejects: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                last_delivery_us: AtomicU64::new(0),
                closing: AtomicBool::new(false),
                histogram: Mutex::new(histogram),
            }),
            setup,
            tried: 0,
            failed: 0,
            first_error: None,
            executor,
            tasks: Vec::new(),
            senders: Vec::new(),
        })
    }

    async fn connect(&mut self, upto: usize) -> Connected {
        let started = Instant::now();
        let upto = upto.min(self.setup.conns.len());
        let (system, source) = (self.setup.system, self.setup.source);
        let addrs = self.setup.addrs.clone();
        let base = self.tried.min(upto);
        let batch: Vec<(usize, Conn)> = (base..upto)
            .filter_map(|index| Some((index, self.setup.conns.get(index)?.clone())))
            .collect();
        let opens = batch.into_iter().filter_map(|(index, conn)| {
            let addr = *addrs.get(index % addrs.len().max(1))?;
            Some(async move {
                let extensions = Extensions {
                    read: wire::extension_frame(system, &conn, "read"),
                    typing: wire::extension_frame(system, &conn, "typing"),
                };
                (
                    index,
                    (conn.sends, extensions),
                    wire::open(system, addr, source, &conn).await,
                )
            })
        });
        let mut opened =
            futures_util::stream::iter(opens).buffer_unordered(self.setup.concurrency.max(1));
        while let Some((index, (sends, extensions), outcome)) = opened.next().await {
            match outcome {
                Ok(socket) => {
                    let outgoing = if sends {
                        let (tx, rx) = async_channel::bounded(64);
                        self.senders.push((tx, index));
                        Some(rx)
                    } else {
                        None
                    };
                    self.shared.open.fetch_add(1, Ordering::Relaxed);
                    self.tasks.push(self.executor.spawn(drive(
                        socket,
                        outgoing,
                        extensions,
                        self.shared.clone(),
                    )));
                }
                Err(e) => {
                    self.failed += 1;
                    self.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        self.tried = self.tried.max(upto);
        Connected {
            open: self.shared.open.load(Ordering::Relaxed) as usize,
            failed: self.failed,
            seconds: started.elapsed().as_secs_f64(),
            first_error: self.first_error.clone(),
        }
    }

    async fn round(&mut self, round: Round) -> RoundDone {
        let shared = &self.shared;
        shared.round.store(round.id, Ordering::Relaxed);
        for counter in [
            &shared.sent,
            &shared.delivered,
            &shared.late,
            &shared.rejects,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        shared.last_delivery_us.store(0, Ordering::Relaxed);
        if let Ok(mut histogram) = shared.histogram.lock() {
            histogram.reset();
        }
        let now = wire::now_us();
        if round.start_at_us > now {
            smol::Timer::after(Duration::from_micros(round.start_at_us - now)).await;
        }
        let started = Instant::now();
        let total = (round.rate * round.duration_s).round() as u64;
        if !self.senders.is_empty() && total > 0 {
            let interval = Duration::from_secs_f64(1.0 / round.rate);
            let mut next = started;
            for n in 0..total {
                let Some((tx, conn)) = self
                    .senders
                    .get(n as usize % self.senders.len())
                    .and_then(|(tx, index)| Some((tx, self.setup.conns.get(*index)?)))
                else {
                    break;
                };
                let frame = wire::chat_frame(shared.system, conn, &wire::content(round.id, n));
                // A full queue means the server reads slower than we send: wait, and the
                // latency (stamped above) shows it.
                if tx.send(frame).await.is_ok() {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                next += interval;
                if next > Instant::now() {
                    smol::Timer::at(next).await;
                }
            }
        }
        let send_seconds = started.elapsed().as_secs_f64();
        // Wait until deliveries stop for two seconds, or the drain limit.
        let drain_until = Instant::now() + Duration::from_secs_f64(round.drain_s);
        let mut last = shared.delivered.load(Ordering::Relaxed);
        let mut quiet_since = Instant::now();
        while Instant::now() < drain_until && quiet_since.elapsed() < Duration::from_secs(2) {
            smol::Timer::after(Duration::from_millis(50)).await;
            let now = shared.delivered.load(Ordering::Relaxed);
            if now != last {
                last = now;
                quiet_since = Instant::now();
            }
        }
        let histogram = shared
            .histogram
            .lock()
            .map(|h| {
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect()
            })
            .unwrap_or_default();
        RoundDone {
            sent: shared.sent.load(Ordering::Relaxed),
            send_seconds,
            delivered: shared.delivered.load(Ordering::Relaxed),
            late: shared.late.load(Ordering::Relaxed),
            rejects: shared.rejects.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            last_delivery_us: shared.last_delivery_us.load(Ordering::Relaxed),
            histogram,
        }
    }
}

enum Event {
    In(Option<std::result::Result<Message, async_tungstenite::tungstenite::Error>>),
    Out(Option<String>),
}

/// How often a `cookim-ext` connection sends a read mark at most, as our web client does (it
/// marks what it shows 300 ms after the last message arrived).
const READ_EVERY: Duration = Duration::from_millis(300);

/// The extension frames a `cookim-ext` connection sends (none for other systems).
struct Extensions {
    /// Sent for a message received, at most every [`READ_EVERY`]: "read up to the newest".
    read: Option<String>,
    /// Sent before every message it sends.
    typing: Option<String>,
}

/// One connection: counts what arrives, answers Engine.IO pings, writes what it is handed
/// (and, for `cookim-ext`, reads every message and types before sending).
async fn drive(
    mut socket: Socket,
    mut outgoing: Option<async_channel::Receiver<String>>,
    extensions: Extensions,
    shared: Arc<Shared>,
) {
    let mut read_at: Option<Instant> = None;
    loop {
        let event = match &outgoing {
            Some(rx) => {
                let incoming = async { Event::In(socket.next().await) };
                incoming
                    .or(async { Event::Out(rx.recv().await.ok()) })
                    .await
            }
            None => Event::In(socket.next().await),
        };
        let reply = match event {
            Event::Out(Some(text)) => {
                if let Some(typing) = &extensions.typing
                    && socket
                        .send(Message::Text(typing.clone().into()))
                        .await
                        .is_err()
                {
                    break;
                }
                Some(text)
            }
            Event::Out(None) => {
                outgoing = None;
                None
            }
            Event::In(Some(Ok(Message::Text(text)))) => {
                match wire::classify(shared.system, &text) {
                    Frame::Chat { sent_us, round } => {
                        if round == shared.round.load(Ordering::Relaxed) {
                            shared.record(sent_us);
                        } else {
                            shared.late.fetch_add(1, Ordering::Relaxed);
                        }
                        match &extensions.read {
                            Some(read) if read_at.is_none_or(|at| at.elapsed() >= READ_EVERY) => {
                                read_at = Some(Instant::now());
                                Some(read.clone())
                            }
                            _ => None,
                        }
                    }
                    Frame::Reject => {
                        shared.rejects.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Frame::Ping => Some("3".to_owned()),
                    Frame::Other => None,
                }
            }
            Event::In(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
            Event::In(Some(Ok(_))) => None,
        };
        if let Some(text) = reply
            && socket.send(Message::Text(text.into())).await.is_err()
        {
            break;
        }
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
    if !shared.closing.load(Ordering::Relaxed) {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
