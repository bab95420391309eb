//! `cookim-storebench`: how fast a store persists chat messages and serves history pages, on
//! the embedded store or MongoDB, through the same `Store` trait the server uses.
//!
//! ```text
//! cookim-storebench --store embedded --messages 20000 --writers 1,16 --history 1000000
//! cookim-storebench --store mongo --mongo-uri mongodb://127.0.0.1:27017 --history 1000000
//! ```
//!
//! Writes: each writer appends to its own group (as a session actor does, one append at a
//! time, waiting for the acknowledgement), so `--writers` is the number of busy chats.
//! History: one chat is filled to `--history` messages in bulk (the dump importer's batched
//! path, not timed), then the pages a client asks for are timed: the newest page, deep pages,
//! and a resume read by `seq`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use argh::FromArgs;
use cookim_bench::stats::{Percentiles, latency_histogram};
use cookim_bench::stores;
use harness::report;
use hdrhistogram::Histogram;
use protocol::ids::{FileId, MessageId, SessionId, UserId};
use serde_json::{Value, json};
use store::Store;
use store::dump::Record;
use store::model::{
    Gender, MembershipChange, Message, NewMessage, NewSession, NewUser, SessionType,
};

/// Store throughput and latency.
#[derive(FromArgs)]
struct Args {
    /// the store: embedded or mongo
    #[argh(option, default = "String::from(\"embedded\")")]
    store: String,
    /// the MongoDB URI for --store mongo (default: $MONGO_URI)
    #[argh(option)]
    mongo_uri: Option<String>,
    /// the MongoDB database (default: a fresh one per run)
    #[argh(option)]
    database: Option<String>,
    /// data dir for the embedded store (default: a temporary one)
    #[argh(option)]
    dir: Option<PathBuf>,
    /// messages appended per writer count
    #[argh(option, default = "10_000")]
    messages: u64,
    /// comma-separated writer counts (concurrent chats), e.g. 1,16
    #[argh(option, default = "String::from(\"1,16\")")]
    writers: String,
    /// messages in the history chat (0: skip the history part)
    #[argh(option, default = "0")]
    history: u64,
    /// page size for history reads (the web client asks for 20)
    #[argh(option, default = "20")]
    page_size: u32,
    /// timed reads per page position
    #[argh(option, default = "200")]
    reads: u32,
}

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = (), E = Error> = std::result::Result<T, E>;

fn main() -> Result {
    let args: Args = argh::from_env();
    smol::block_on(run(args))
}

async fn run(args: Args) -> Result {
    let opened = stores::open(
        "storebench",
        &args.store,
        args.mongo_uri.clone(),
        args.database.clone(),
        args.dir.clone(),
    )
    .await?;
    progress(&format!("store: {}", opened.label));
    let store = opened.store.clone();
    let writers: Vec<u64> = args
        .writers
        .split(',')
        .map(|w| w.trim().parse::<u64>())
        .collect::<Result<_, _>>()?;
    let mut writes = Vec::new();
    for &count in &writers {
        writes.push(write_phase(&store, count.max(1), args.messages).await?);
    }
    let history = if args.history > 0 {
        Some(history_phase(&store, &args).await?)
    } else {
        None
    };
    let out = json!({ "store": args.store, "writes": writes, "history": history });
    report::emit(&out)?;
    if let Some(dir) = &opened.temporary {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// `writers` chats each appending `messages / writers` messages one after another.
async fn write_phase(store: &Arc<dyn Store>, writers: u64, messages: u64) -> Result<Value> {
    let per_writer = (messages / writers).max(1);
    let mut chats = Vec::new();
    for _ in 0..writers {
        chats.push(group_with_member(store.as_ref()).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = chats
        .into_iter()
        .map(|(sid, uid)| {
            let store = store.clone();
            smol::spawn(async move {
                let mut histogram = latency_histogram()?;
                let online = HashSet::new();
                for n in 0..per_writer {
                    let begun = Instant::now();
                    store
                        .append(
                            text(&sid, &uid, n, format!("message {n} of a busy chat")),
                            &online,
                        )
                        .await?;
                    histogram.record(micros(begun))?;
                }
                Ok::<Histogram<u64>, Error>(histogram)
            })
        })
        .collect();
    let mut all = latency_histogram()?;
    for task in tasks {
        all.add(task.await?)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let total = per_writer * writers;
    let rate = total as f64 / secs;
    let latency = Percentiles::of(&all);
    progress(&format!(
        "writes: {writers} chat(s), {total} messages in {secs:.1} s = {rate:.0} msg/s; \
         append p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        latency.p50_ms, latency.p99_ms, latency.p999_ms, latency.max_ms
    ));
    Ok(json!({
        "writers": writers,
        "messages": total,
        "seconds": secs,
        "messages_per_second": rate,
        "append_latency": latency,
    }))
}

/// Fills one chat to `--history` messages, then times the reads a client makes.
async fn history_phase(store: &Arc<dyn Store>, args: &Args) -> Result<Value> {
    let (sid, uid) = group_with_member(store.as_ref()).await?;
    // The member's join message is seq 1; imported messages follow it.
    let first = store.messages_after(&sid, 0, 10).await?.len() as i64;
    let started = Instant::now();
    let batch = 5_000u64;
    let mut done = 0u64;
    while done < args.history {
        let records: Vec<Record> = (done..(done + batch).min(args.history))
            .map(|n| {
                let seq = first + 1 + n as i64;
                Record::Message(Message {
                    id: MessageId::from_random(rand::random()),
                    session_id: sid.clone(),
                    seq,
                    uid: uid.clone(),
                    msg_type: protocol::chat::ChatKind::Text,
                    content: format!("history message {seq}, about as long as a chat line"),
                    file_name: String::new(),
                    file_type: String::new(),
                    fileid: None,
                    thumbid: None,
                    dateline: 1_700_000_000_000 + seq,
                    client_id: None,
                    reply_to: None,
                })
            })
            .collect();
        done += records.len() as u64;
        store.import(records).await?;
        if done.is_multiple_of(100_000) || done == args.history {
            progress(&format!(
                "history: {done} messages stored ({:.0} s)",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let fill_secs = started.elapsed().as_secs_f64();
    let total = first as u64 + args.history;
    let count = args.page_size;
    let mut reads = Vec::new();
    let pages_in_chat = (total / u64::from(count)).max(1);
    for page in [1u64, 10, 100, 1_000, pages_in_chat / 2] {
        if page > pages_in_chat {
            continue;
        }
        let page = u32::try_from(page)?;
        let p = timed_reads(args.reads, count, &format!("page {page}"), || {
            store.messages(&sid, page, count)
        })
        .await?;
        progress(&format!(
            "history page {page} ({count} per page, skips {}): p50 {:.2} ms, p99 {:.2} ms",
            u64::from(page - 1) * u64::from(count),
            p.p50_ms,
            p.p99_ms
        ));
        reads.push(json!({ "read": format!("listMessages page {page}"), "latency": p }));
    }
    for after in [total as i64 - i64::from(count), total as i64 / 2] {
        let p = timed_reads(args.reads, count, &format!("after {after}"), || {
            store.messages_after(&sid, after, count)
        })
        .await?;
        progress(&format!(
            "resume after seq {after}: p50 {:.2} ms, p99 {:.2} ms",
            p.p50_ms, p.p99_ms
        ));
        reads.push(json!({ "read": format!("messages after seq {after}"), "latency": p }));
    }
    Ok(json!({
        "messages": total,
        "fill_seconds": fill_secs,
        "page_size": count,
        "reads": reads,
    }))
}

/// Runs `read` `times` times, checking each returns `count` messages; its latency.
async fn timed_reads<F, Fut>(times: u32, count: u32, what: &str, read: F) -> Result<Percentiles>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = store::Result<Vec<Message>>>,
{
    let mut histogram = latency_histogram()?;
    for _ in 0..times {
        let begun = Instant::now();
        let got = read().await?;
        histogram.record(micros(begun))?;
        if got.len() != count as usize {
            return Err(format!("{what}: {} messages, not {count}", got.len()).into());
        }
    }
    Ok(Percentiles::of(&histogram))
}

/// A new user in a new group of its own.
async fn group_with_member(store: &dyn Store) -> Result<(SessionId, UserId)> {
    let uid = UserId::from_random(rand::random());
    store
        .create_user(NewUser {
            id: uid.clone(),
            login: format!("{}@bench.example", uid.as_str()),
            nickname: format!("bench{}", &uid.as_str()[..6]),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            gender: Gender::Boy,
            avatar: FileId::from_random(rand::random()),
            dateline: 1_700_000_000_000,
        })
        .await?;
    let sid = SessionId::from_random(rand::random());
    store
        .create_session(NewSession {
            id: sid.clone(),
            createuid: uid.clone(),
            ouid: None,
            name: format!("bench {}", &sid.as_str()[..6]),
            icon: None,
            session_type: SessionType::Group,
            public: true,
            dateline: 1_700_000_000_000,
        })
        .await?;
    store
        .join(
            MembershipChange {
                message_id: MessageId::from_random(rand::random()),
                session_id: sid.clone(),
                uid: uid.clone(),
                content: "bench join session".to_owned(),
                dateline: 1_700_000_000_000,
            },
            &HashSet::new(),
        )
        .await?;
    Ok((sid, uid))
}

fn text(sid: &SessionId, uid: &UserId, n: u64, content: String) -> NewMessage {
    NewMessage {
        id: MessageId::from_random(rand::random()),
        session_id: sid.clone(),
        uid: uid.clone(),
        msg_type: protocol::chat::ChatKind::Text,
        content,
        file_name: String::new(),
        file_type: String::new(),
        fileid: None,
        thumbid: None,
        dateline: 1_700_000_000_000 + n as i64,
        client_id: None,
        reply_to: None,
    }
}

fn progress(text: &str) {
    report::progress("cookim-storebench", text);
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}
