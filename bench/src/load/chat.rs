//! A normal chat beside a benchmark's real work: a group of fresh users made through the API,
//! all online on `/ws-chat`, one of them sending texts at a steady rate, every member's
//! receipts timed. `cookim-load upload` runs it while files are uploaded; `cookim-attack`
//! while the node is attacked.
//!
//! A text's content is `<n>:<µs since the chat started when sent>`; a text whose content is not
//! one of ours (a forged envelope's, say) is counted as foreign, never timed.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_net::TcpStream;
use async_tungstenite::WebSocketReceiver;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::stats::{Percentiles, latency_histogram};
use harness::client::{self, Error, Result, Socket, User};

/// Runs `jobs` futures on smol's executor with at most `width` in flight, keeping their order.
///
/// # Errors
/// The first job's error.
pub async fn bounded<T, F>(width: usize, jobs: Vec<F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    loop {
        let batch: Vec<F> = jobs.by_ref().take(width.max(1)).collect();
        if batch.is_empty() {
            return Ok(out);
        }
        let tasks: Vec<smol::Task<Result<T>>> = batch.into_iter().map(smol::spawn).collect();
        for task in tasks {
            out.push(task.await?);
        }
    }
}

/// A tag unique to this run, so repeated runs against one node do not collide.
pub fn run_tag() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0)
    )
}

/// Registers `count` users `load-<tag>-<i>`; user `i` registers from `sources[i % len]` (empty:
/// the default address). A node allows few registrations per address (10 an hour by default),
/// so a group bigger than that registers from several `127.x.y.z`.
///
/// # Errors
/// The first failed registration.
pub async fn register_many(
    addr: SocketAddr,
    count: usize,
    tag: &str,
    sources: &[IpAddr],
) -> Result<Vec<User>> {
    let jobs = (0..count)
        .map(|i| {
            let login = format!("load-{tag}-{i}@bench.local");
            let nickname = format!("load{i:05}");
            let source = (!sources.is_empty()).then(|| sources[i % sources.len()]);
            async move { client::register_from(addr, source, &login, &nickname, "benchpass").await }
        })
        .collect();
    // A few at a time: each registration is an argon2 hash on the server.
    bounded(16, jobs).await
}

/// One member of an online group: the user, its session token and its open `/ws-chat`.
pub type Member = (User, String, Socket);

/// A group of `members` fresh users (registered as [`register_many`] does), all with a
/// `/ws-chat` online in it: the group id and the members (own online event already seen).
///
/// # Errors
/// An API or websocket error, or an online event that does not come within 30 s.
pub async fn online_group(
    addr: SocketAddr,
    members: usize,
    name: &str,
    sources: &[IpAddr],
) -> Result<(String, Vec<Member>)> {
    let tag = run_tag();
    let users = register_many(addr, members, &tag, sources).await?;
    let owner = users
        .first()
        .cloned()
        .ok_or_else(|| Error::Http("a group needs at least 1 member".into()))?;
    let sid = client::create_group(addr, &owner, &format!("{name} {tag}")).await?;
    let joins = users
        .iter()
        .skip(1)
        .map(|u| {
            let (user, sid) = (u.clone(), sid.clone());
            async move { client::join_group(addr, &user, &sid).await }
        })
        .collect();
    bounded(16, joins).await?;
    let connects = users
        .iter()
        .map(|u| {
            let (user, sid) = (u.clone(), sid.clone());
            async move {
                let (session_token, socket) =
                    client::open_chat(addr, &user, &sid, Duration::from_secs(30)).await?;
                Ok((user, session_token, socket))
            }
        })
        .collect();
    Ok((sid, bounded(32, connects).await?))
}

/// The next text frame of a split websocket as JSON; `None` once the socket ends.
///
/// # Errors
/// A frame that is not JSON.
pub async fn next_value(stream: &mut WebSocketReceiver<TcpStream>) -> Result<Option<Value>> {
    while let Some(Ok(message)) = stream.next().await {
        if let Message::Text(text) = message {
            return Ok(Some(serde_json::from_str(&text)?));
        }
    }
    Ok(None)
}

/// How the chat runs.
#[derive(Clone, Copy, Debug)]
pub struct ChatOptions {
    /// Texts per second from the first member.
    pub rate: f64,
    /// Whether the sender's own echo is timed too (`false`: only the other members').
    pub time_echo: bool,
}

/// What the chat saw since the last [`BackgroundChat::take`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChatWindow {
    /// Latency of our texts, send to receipt.
    pub latency: Percentiles,
    /// Texts the sender sent.
    pub sent: u64,
    /// Texts of ours received (by the members timed).
    pub deliveries: u64,
    /// Texts received that we did not send (forged ones), by any member.
    pub foreign: u64,
    /// Member sockets that have closed since the chat started.
    pub sockets_lost: u64,
    /// Texts the sender could not send since the chat started (its socket failed).
    pub send_failed: bool,
}

#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    deliveries: AtomicU64,
    foreign: AtomicU64,
    sockets_lost: AtomicU64,
    send_failed: AtomicBool,
}

/// A chat running in the background on smol's executor; stops when dropped.
#[derive(Debug)]
pub struct BackgroundChat {
    histogram: Arc<Mutex<hdrhistogram::Histogram<u64>>>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    /// The members' readers and the sender; cancelled when dropped.
    _tasks: Vec<smol::Task<()>>,
}

/// Starts `members`' chat: the first one sends at `options.rate`, everyone's receipts are timed.
///
/// # Errors
/// If the histogram cannot be made (never for its bounds).
pub fn background_chat(members: Vec<Member>, options: ChatOptions) -> Result<BackgroundChat> {
    let start = Instant::now();
    let histogram = Arc::new(Mutex::new(
        latency_histogram().map_err(|e| Error::Http(e.to_string()))?,
    ));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, (user, session_token, socket)) in members.into_iter().enumerate() {
        let (mut sink, mut stream) = socket.split();
        let (reader_histogram, reader_tally) = (histogram.clone(), tally.clone());
        let timed = i != 0 || options.time_echo;
        tasks.push(smol::spawn(async move {
            while let Ok(Some(value)) = next_value(&mut stream).await {
                if value["msgType"] == "text" {
                    receipt(&reader_histogram, &reader_tally, &value, start, timed);
                }
            }
            reader_tally.sockets_lost.fetch_add(1, Ordering::Relaxed);
        }));
        if i == 0 {
            let (stop, tally) = (stop.clone(), tally.clone());
            let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
            tasks.push(smol::spawn(async move {
                let mut next = Instant::now();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let content = format!("{n}:{}", start.elapsed().as_micros());
                    let up = json!({"userToken": user.token, "sessionToken": session_token, "msgType": "text", "content": content});
                    if sink.send(Message::Text(up.to_string().into())).await.is_err() {
                        tally.send_failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    n += 1;
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                    // A fixed schedule: a late send does not delay the ones after it.
                    next += interval;
                    smol::Timer::at(next.max(Instant::now())).await;
                }
            }));
        } else {
            // Keep the sending half alive so the socket stays open.
            tasks.push(smol::spawn(async move {
                smol::Timer::never().await;
                drop(sink);
            }));
        }
    }
    Ok(BackgroundChat {
        histogram,
        tally,
        stop,
        _tasks: tasks,
    })
}

/// Times a text of ours (`<n>:<µs since start>`), or counts a foreign one.
fn receipt(
    histogram: &Mutex<hdrhistogram::Histogram<u64>>,
    tally: &Tally,
    value: &Value,
    start: Instant,
    timed: bool,
) {
    let sent_us: Option<u64> = value["content"]
        .as_str()
        .and_then(|c| c.split_once(':'))
        .filter(|(n, _)| n.parse::<u64>().is_ok())
        .and_then(|(_, t)| t.parse().ok());
    let Some(sent_us) = sent_us else {
        tally.foreign.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if !timed {
        return;
    }
    tally.deliveries.fetch_add(1, Ordering::Relaxed);
    let now_us = start.elapsed().as_micros() as u64;
    if let Ok(mut h) = histogram.lock() {
        let _ = h.record(now_us.saturating_sub(sent_us).max(1));
    }
}

impl BackgroundChat {
    /// What was seen since the last call (latency and counts start afresh).
    pub fn take(&self) -> ChatWindow {
        let latency = match self.histogram.lock() {
            Ok(mut h) => {
                let p = Percentiles::of(&h);
                h.reset();
                p
            }
            Err(_) => Percentiles::default(),
        };
        ChatWindow {
            latency,
            sent: self.tally.sent.swap(0, Ordering::Relaxed),
            deliveries: self.tally.deliveries.swap(0, Ordering::Relaxed),
            foreign: self.tally.foreign.swap(0, Ordering::Relaxed),
            sockets_lost: self.tally.sockets_lost.load(Ordering::Relaxed),
            send_failed: self.tally.send_failed.load(Ordering::Relaxed),
        }
    }

    /// Stops sending (the sockets close when the chat is dropped).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_are_timed_and_others_counted_as_foreign() -> Result<(), Box<dyn std::error::Error>> {
        let histogram = Mutex::new(latency_histogram()?);
        let tally = Tally::default();
        let start = Instant::now();
        let ours = json!({"msgType": "text", "content": "3:0"});
        receipt(&histogram, &tally, &ours, start, true);
        receipt(&histogram, &tally, &ours, start, false);
        for forged in ["forged 1", "forged:12", "", "7"] {
            let value = json!({"msgType": "text", "content": forged});
            receipt(&histogram, &tally, &value, start, true);
        }
        assert_eq!(tally.deliveries.load(Ordering::Relaxed), 1);
        assert_eq!(tally.foreign.load(Ordering::Relaxed), 4);
        assert_eq!(histogram.lock().map_err(|_| "poisoned")?.len(), 1);
        Ok(())
    }
}
