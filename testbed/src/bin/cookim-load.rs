//! `cookim-load`: drives a running cookim node over its real API and websockets, and reports
//! throughput and delivery latency (or memory per idle connection) as JSON on stdout.
//!
//! ```text
//! cookim-load fanout --addr 127.0.0.1:8080 --members 100 --rate 200 --duration 10
//! cookim-load idle --addr 127.0.0.1:8080 --connections 5000 --pid <server pid>
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argh::FromArgs;
use cookim_testbed::client::{self, Error, Result, Socket, User};
use cookim_testbed::stats::{Percentiles, latency_histogram, rss_kib};
use futures_lite::FutureExt;
use serde_json::{Value, json};

/// Load generator for cookim.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Fanout(Fanout),
    Idle(Idle),
    Upload(Upload),
}

/// Uploads into one group while another group chats: upload throughput for plain files,
/// thumbnails per second for images, and the text latency of the other chat meanwhile.
#[derive(FromArgs)]
#[argh(subcommand, name = "upload")]
struct Upload {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// members of the uploading group, all online (default 10)
    #[argh(option, default = "10")]
    members: usize,
    /// members that upload at the same time (default 2)
    #[argh(option, default = "2")]
    uploaders: usize,
    /// files (and images) each uploader sends (default 20)
    #[argh(option, default = "20")]
    files: usize,
    /// size of each plain file in KiB (default 1024)
    #[argh(option, default = "1024")]
    size_kib: usize,
    /// text messages per second in the other chat (default 20)
    #[argh(option, default = "20")]
    chat_rate: u64,
}

/// One group of N members; senders post at a fixed total rate; every member receives every
/// message (its own as the echo). Measures end-to-end delivery latency.
#[derive(FromArgs)]
#[argh(subcommand, name = "fanout")]
struct Fanout {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// group members, each with one /ws-chat connection (default 100)
    #[argh(option, default = "100")]
    members: usize,
    /// members that send (default 1)
    #[argh(option, default = "1")]
    senders: usize,
    /// messages per second, all senders together (default 100)
    #[argh(option, default = "100")]
    rate: u64,
    /// seconds of sending (default 10)
    #[argh(option, default = "10")]
    duration: u64,
}

/// Opens N authenticated /ws-push connections and reports the server's RSS per connection.
#[derive(FromArgs)]
#[argh(subcommand, name = "idle")]
struct Idle {
    /// server address (host:port)
    #[argh(option)]
    addr: SocketAddr,
    /// connections to open (default 5000)
    #[argh(option, default = "5000")]
    connections: usize,
    /// the server's process id, to read its RSS
    #[argh(option)]
    pid: u32,
}

fn main() {
    let args: Args = argh::from_env();
    let outcome = smol::block_on(async {
        match args.command {
            Command::Fanout(f) => fanout(f).await,
            Command::Idle(i) => idle(i).await,
            Command::Upload(u) => upload(u).await,
        }
    });
    match outcome {
        Ok(result) => report(&result),
        Err(e) => {
            report(&json!({ "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the JSON result is the program's output"
)]
fn report(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[expect(clippy::print_stderr, reason = "progress goes to stderr")]
fn progress(text: &str) {
    eprintln!("cookim-load: {text}");
}

/// A tag unique to this run, so repeated runs against one server do not collide.
fn run_tag() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0)
    )
}

/// Runs `jobs` futures with at most `width` in flight, keeping their order.
async fn bounded<T, F>(width: usize, jobs: Vec<F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    loop {
        let batch: Vec<F> = jobs.by_ref().take(width).collect();
        if batch.is_empty() {
            return Ok(out);
        }
        let tasks: Vec<smol::Task<Result<T>>> = batch.into_iter().map(|f| smol::spawn(f)).collect();
        for task in tasks {
            out.push(task.await?);
        }
    }
}

async fn register_many(addr: SocketAddr, count: usize, tag: &str) -> Result<Vec<User>> {
    let jobs = (0..count)
        .map(|i| {
            let login = format!("load-{tag}-{i}@bench.local");
            let nickname = format!("load{i:05}");
            async move { client::register(addr, &login, &nickname, "benchpass").await }
        })
        .collect();
    bounded(16, jobs).await
}

/// A group of `members` fresh users, all with a `/ws-chat` online in it: the group id and, per
/// member, the user, its session token and its socket (own online event already seen).
async fn online_group(
    addr: SocketAddr,
    members: usize,
    name: &str,
) -> Result<(String, Vec<(User, String, Socket)>)> {
    let tag = run_tag();
    progress(&format!("registering {members} users for {name:?}"));
    let users = register_many(addr, members, &tag).await?;
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

async fn fanout(args: Fanout) -> Result<Value> {
    let addr = args.addr;
    let (_, connections) = online_group(addr, args.members, "fanout").await?;
    progress(&format!(
        "sending {} msg/s for {} s",
        args.rate, args.duration
    ));

    let start = Instant::now();
    let histogram = Arc::new(Mutex::new(
        latency_histogram().map_err(|e| Error::Http(e.to_string()))?,
    ));
    let delivered = Arc::new(AtomicU64::new(0));
    let rejects = Arc::new(AtomicU64::new(0));
    let total = args.rate * args.duration;
    let expected = total * args.members as u64;
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    for (i, (user, session_token, socket)) in connections.into_iter().enumerate() {
        let (mut sink, mut stream) = socket.split();
        let (histogram, delivered, rejects) =
            (histogram.clone(), delivered.clone(), rejects.clone());
        readers.push(smol::spawn(async move {
            // Every member receives every message once (its own as the echo).
            let mut seen = 0;
            while seen < total {
                let Some(value) = next_value(&mut stream).await? else {
                    break;
                };
                match value["msgType"].as_str() {
                    Some("text") => {
                        seen += 1;
                        record_latency(&histogram, &value, start);
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("reject") => {
                        rejects.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Ok::<(), Error>(())
        }));
        if i < args.senders {
            let per_sender =
                total / args.senders as u64 + u64::from((i as u64) < total % args.senders as u64);
            let interval = Duration::from_secs_f64(args.senders as f64 / args.rate.max(1) as f64);
            let token = user.token.clone();
            senders.push(smol::spawn(async move {
                let mut next = Instant::now();
                for n in 0..per_sender {
                    next += interval;
                    let content = format!("{i}-{n}:{}", start.elapsed().as_micros());
                    let up = json!({"userToken": token, "sessionToken": session_token, "msgType": "text", "content": content});
                    sink.send(async_tungstenite::tungstenite::Message::Text(up.to_string().into())).await?;
                    let now = Instant::now();
                    if next > now {
                        smol::Timer::at(next).await;
                    }
                }
                // Keep the sending half open until the readers finish.
                Ok::<_, Error>(sink)
            }));
        }
    }
    let mut sinks = Vec::new();
    for sender in senders {
        sinks.push(sender.await?);
    }
    let sent_secs = start.elapsed().as_secs_f64();
    let drain = async {
        for reader in readers {
            reader.await?;
        }
        Ok::<(), Error>(())
    };
    let drained = drain
        .or(async {
            smol::Timer::after(Duration::from_secs(10)).await;
            Err(Error::Http("drain timeout".into()))
        })
        .await
        .is_ok();
    let elapsed = start.elapsed().as_secs_f64();
    drop(sinks);
    let histogram = histogram
        .lock()
        .map(|h| h.clone())
        .map_err(|_| Error::Http("histogram lock poisoned".into()))?;
    let delivered = delivered.load(Ordering::Relaxed);
    Ok(json!({
        "profile": "fanout",
        "members": args.members,
        "senders": args.senders,
        "offered_rate": args.rate,
        "duration_s": args.duration,
        "sent": total,
        "send_seconds": sent_secs,
        "achieved_send_rate": total as f64 / sent_secs,
        "expected_deliveries": expected,
        "delivered": delivered,
        "delivered_ratio": delivered as f64 / expected.max(1) as f64,
        "deliveries_per_s": delivered as f64 / elapsed,
        "drained": drained,
        "rejects": rejects.load(Ordering::Relaxed),
        "latency": Percentiles::of(&histogram),
    }))
}

async fn idle(args: Idle) -> Result<Value> {
    let addr = args.addr;
    let tag = run_tag();
    let users = register_many(addr, 10, &tag).await?;
    let before = rss_kib(args.pid)
        .ok_or_else(|| Error::Http(format!("cannot read RSS of pid {}", args.pid)))?;
    progress(&format!(
        "opening {} /ws-push connections",
        args.connections
    ));
    let jobs = (0..args.connections)
        .map(|i| {
            let token = users
                .get(i % users.len())
                .map(|u| u.token.clone())
                .unwrap_or_default();
            async move {
                let mut socket = client::connect(addr, "/ws-push").await?;
                client::send_json(&mut socket, &json!({"userToken": token})).await?;
                client::wait_for(&mut socket, Duration::from_secs(60), |v| {
                    v["msgType"] == "accept"
                })
                .await?;
                Ok(socket)
            }
        })
        .collect();
    let started = Instant::now();
    let sockets = bounded(200, jobs).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    // Let allocator caches settle before measuring.
    smol::Timer::after(Duration::from_secs(2)).await;
    let after = rss_kib(args.pid).ok_or_else(|| Error::Http("cannot read RSS".into()))?;
    let per_connection_kib = (after.saturating_sub(before)) as f64 / args.connections as f64;
    let open = sockets.len();
    drop(sockets);
    Ok(json!({
        "profile": "idle",
        "connections": open,
        "connect_seconds": connect_secs,
        "connects_per_s": open as f64 / connect_secs,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_connection_kib": per_connection_kib,
    }))
}

/// The next text frame of a split websocket as JSON; `None` once the socket ends.
async fn next_value(
    stream: &mut async_tungstenite::WebSocketReceiver<async_net::TcpStream>,
) -> Result<Option<Value>> {
    use futures_util::StreamExt;
    while let Some(Ok(message)) = stream.next().await {
        if let async_tungstenite::tungstenite::Message::Text(text) = message {
            return Ok(Some(serde_json::from_str(&text)?));
        }
    }
    Ok(None)
}

/// Records a text message's end-to-end latency: its content is `<id>:<µs since start when sent>`.
fn record_latency(histogram: &Mutex<hdrhistogram::Histogram<u64>>, value: &Value, start: Instant) {
    let sent_us: u64 = value["content"]
        .as_str()
        .and_then(|c| c.split(':').nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let now_us = start.elapsed().as_micros() as u64;
    if let Ok(mut h) = histogram.lock() {
        let _ = h.record(now_us.saturating_sub(sent_us).max(1));
    }
}

/// A noisy RGB PNG of about `bytes` bytes (noise does not compress), for thumbnail work.
fn noise_png(bytes: usize) -> Result<Vec<u8>> {
    let side = ((bytes / 3) as f64).sqrt() as u32;
    let pixels: Vec<u8> = (0..side * side * 3).map(|_| rand::random::<u8>()).collect();
    let image = image::RgbImage::from_raw(side, side, pixels)
        .ok_or_else(|| Error::Http("image buffer".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Http(e.to_string()))?;
    Ok(out.into_inner())
}

/// Latency of a background chat: a sender at `rate` and every member's receipts.
struct BackgroundChat {
    histogram: Arc<Mutex<hdrhistogram::Histogram<u64>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<smol::Task<Result<()>>>,
}

fn background_chat(members: Vec<(User, String, Socket)>, rate: u64) -> Result<BackgroundChat> {
    let start = Instant::now();
    let histogram = Arc::new(Mutex::new(
        latency_histogram().map_err(|e| Error::Http(e.to_string()))?,
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, (user, session_token, socket)) in members.into_iter().enumerate() {
        let (mut sink, mut stream) = socket.split();
        let histogram = histogram.clone();
        tasks.push(smol::spawn(async move {
            while let Some(value) = next_value(&mut stream).await? {
                if value["msgType"] == "text" {
                    record_latency(&histogram, &value, start);
                }
            }
            Ok(())
        }));
        if i == 0 {
            let stop = stop.clone();
            let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
            tasks.push(smol::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let content = format!("{n}:{}", start.elapsed().as_micros());
                    let up = json!({"userToken": user.token, "sessionToken": session_token, "msgType": "text", "content": content});
                    sink.send(async_tungstenite::tungstenite::Message::Text(up.to_string().into())).await?;
                    n += 1;
                    smol::Timer::after(interval).await;
                }
                Ok(())
            }));
        } else {
            // Keep the sending half alive so the socket stays open.
            tasks.push(smol::spawn(async move {
                smol::Timer::never().await;
                drop(sink);
                Ok(())
            }));
        }
    }
    Ok(BackgroundChat {
        histogram,
        stop,
        tasks,
    })
}

impl BackgroundChat {
    /// The latency recorded since the last call, and a fresh start.
    fn take(&self) -> Percentiles {
        match self.histogram.lock() {
            Ok(mut h) => {
                let p = Percentiles::of(&h);
                h.reset();
                p
            }
            Err(_) => Percentiles::default(),
        }
    }
}

/// Sends `count` uploads from each uploader and waits for every echo; returns the seconds from
/// the first send to the last echo.
type Halves = (
    User,
    String,
    async_tungstenite::WebSocketSender<async_net::TcpStream>,
    async_tungstenite::WebSocketReceiver<async_net::TcpStream>,
);

async fn upload_phase(
    group: &mut Vec<Halves>,
    uploaders: usize,
    count: usize,
    file_type: &str,
    payload: &[u8],
) -> Result<f64> {
    let started = Instant::now();
    let mut jobs = Vec::new();
    let mut readers = Vec::new();
    let members = std::mem::take(group);
    for (i, (user, session_token, mut sink, mut stream)) in members.into_iter().enumerate() {
        let expected = uploaders * count;
        // Every member reads every upload (uploads come back to the uploader as its echo).
        readers.push(smol::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                let Some(value) = next_value(&mut stream).await? else {
                    break;
                };
                match value["msgType"].as_str() {
                    Some("file") => seen += 1,
                    Some("reject") => {
                        return Err(Error::Http(format!(
                            "upload rejected: {}",
                            value["content"]
                        )));
                    }
                    _ => {}
                }
            }
            Ok(stream)
        }));
        if i < uploaders {
            let header = protocol::binary::BinaryHeader {
                user_token: user.token.clone(),
                session_token: session_token.clone(),
                msg_type: "file".into(),
                file_name: Some(format!("load-{i}.bin")),
                file_size: payload.len() as u64,
                file_type: file_type.to_owned(),
            };
            let mut frame = protocol::binary::encode(&header, payload);
            // Plain files get distinct bytes (the store keeps identical bytes once, which would
            // flatter the figure); images stay valid and are thumbnailed every time anyway.
            let distinct = !file_type.starts_with("image/") && payload.len() >= 16;
            jobs.push(smol::spawn(async move {
                for n in 0..count {
                    if distinct {
                        let tail = frame.len() - 16;
                        let stamp = [(i as u64).to_le_bytes(), (n as u64).to_le_bytes()].concat();
                        frame[tail..].copy_from_slice(&stamp);
                    }
                    sink.send(async_tungstenite::tungstenite::Message::Binary(
                        frame.clone().into(),
                    ))
                    .await?;
                }
                Ok::<_, Error>((user, session_token, sink))
            }));
        } else {
            jobs.push(smol::spawn(async move { Ok((user, session_token, sink)) }));
        }
    }
    let mut halves = Vec::new();
    for job in jobs {
        halves.push(job.await?);
    }
    let mut streams = Vec::new();
    for reader in readers {
        streams.push(reader.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    for ((user, token, sink), stream) in halves.into_iter().zip(streams) {
        group.push((user, token, sink, stream));
    }
    Ok(elapsed)
}

async fn upload(args: Upload) -> Result<Value> {
    let addr = args.addr;
    let (_, uploads) = online_group(addr, args.members, "uploads").await?;
    let mut uploads: Vec<Halves> = uploads
        .into_iter()
        .map(|(user, token, socket)| {
            let (sink, stream) = socket.split();
            (user, token, sink, stream)
        })
        .collect();
    let (_, chat) = online_group(addr, 10, "chat").await?;
    let chat = background_chat(chat, args.chat_rate)?;
    let file: Vec<u8> = (0..args.size_kib * 1024)
        .map(|_| rand::random::<u8>())
        .collect();
    let uploaders = args.uploaders.clamp(1, args.members);
    progress(&format!(
        "{uploaders} uploaders x {} files of {} KiB",
        args.files, args.size_kib
    ));
    chat.take();
    let files_secs = upload_phase(
        &mut uploads,
        uploaders,
        args.files,
        "application/octet-stream",
        &file,
    )
    .await?;
    let chat_during_files = chat.take();
    let image = noise_png(args.size_kib * 1024)?;
    progress(&format!(
        "{uploaders} uploaders x {} PNG images of {} KiB",
        args.files,
        image.len() / 1024
    ));
    let images_secs =
        upload_phase(&mut uploads, uploaders, args.files, "image/png", &image).await?;
    let chat_during_images = chat.take();
    chat.stop.store(true, Ordering::Relaxed);
    drop(chat.tasks);
    let total_files = (uploaders * args.files) as f64;
    Ok(json!({
        "profile": "upload",
        "members": args.members,
        "uploaders": uploaders,
        "files_per_uploader": args.files,
        "file_bytes": file.len(),
        "upload_seconds": files_secs,
        "upload_mb_per_s": total_files * file.len() as f64 / files_secs / 1e6,
        "deliveries_mb_per_s": total_files * file.len() as f64 * args.members as f64 / files_secs / 1e6,
        "image_bytes": image.len(),
        "image_seconds": images_secs,
        "thumbnails_per_s": total_files / images_secs,
        "chat_rate": args.chat_rate,
        "chat_latency_during_files": chat_during_files,
        "chat_latency_during_images": chat_during_images,
    }))
}
