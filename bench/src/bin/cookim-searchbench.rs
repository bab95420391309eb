//! `cookim-searchbench`: how fast `searchMessages` answers over a large store, through the
//! same `Store::search` the route calls.
//!
//! ```text
//! cookim-searchbench --messages 1000000 --chats 1000 --member-of 50 --queries 2000
//! cookim-searchbench --store mongo --mongo-uri mongodb://... --messages 100000
//! ```
//!
//! The store is filled in bulk (the dump importer's batched path, not timed): `--messages`
//! texts of 6 to 14 words spread over `--chats` chats, words drawn from a vocabulary of 20,000
//! with Zipf's law (as in real text, a few words are everywhere and most are rare), one
//! searcher a member of `--member-of` chats. Then `--queries` searches of a page of 20 are
//! timed, a third each: one word (drawn the same way, so common words come up often), the
//! first three letters of one, and two words.

use std::path::PathBuf;
use std::time::Instant;

use argh::FromArgs;
use cookim_bench::stats::{Percentiles, latency_histogram};
use cookim_bench::stores;
use harness::report;
use protocol::chat::ChatKind;
use protocol::ids::{MessageId, SessionId, UserId};
use serde_json::json;
use store::Store;
use store::dump::Record;
use store::model::{Member, Message, Search, Session, SessionType};

/// Search latency over a large store.
#[derive(FromArgs)]
struct Args {
    /// the store: embedded or mongo
    #[argh(option, default = "String::from(\"embedded\")")]
    store: String,
    /// the MongoDB URI for --store mongo (default: $MONGO_URI)
    #[argh(option)]
    mongo_uri: Option<String>,
    /// data dir for the embedded store (default: a temporary one)
    #[argh(option)]
    dir: Option<PathBuf>,
    /// messages stored
    #[argh(option, default = "1_000_000")]
    messages: u64,
    /// chats they are spread over
    #[argh(option, default = "1_000")]
    chats: u64,
    /// chats the searcher is a member of
    #[argh(option, default = "50")]
    member_of: u64,
    /// timed searches
    #[argh(option, default = "2_000")]
    queries: u64,
}

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = (), E = Error> = std::result::Result<T, E>;

/// Distinct words of the generated text.
const VOCABULARY: usize = 20_000;

fn main() -> Result {
    let args: Args = argh::from_env();
    smol::block_on(run(args))
}

async fn run(args: Args) -> Result {
    let opened = stores::open(
        "searchbench",
        &args.store,
        args.mongo_uri.clone(),
        None,
        args.dir.clone(),
    )
    .await?;
    progress(&format!("store: {}", opened.label));
    let store = opened.store.clone();
    let words = Zipf::new(VOCABULARY);
    let searcher = UserId::from_random(rand::random());
    let started = Instant::now();
    fill(store.as_ref(), &args, &words, &searcher).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    progress(&format!(
        "{} messages in {} chats stored in {fill_secs:.0} s",
        args.messages, args.chats
    ));

    let mut kinds = Vec::new();
    let mut all = latency_histogram()?;
    for kind in ["one word", "a prefix of 3 letters", "two words"] {
        let mut histogram = latency_histogram()?;
        let mut found = 0u64;
        for _ in 0..args.queries / 3 {
            let query = match kind {
                "one word" => words.sample(),
                "two words" => format!("{} {}", words.sample(), words.sample()),
                _ => words.sample().chars().take(3).collect(),
            };
            let search = Search {
                uid: searcher.clone(),
                session: None,
                terms: protocol::search::query_terms(&query),
                before: None,
                limit: 20,
            };
            let at = Instant::now();
            found += store.search(search).await?.len() as u64;
            let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            histogram.record(micros.max(1))?;
            all.record(micros.max(1))?;
        }
        let p = Percentiles::of(&histogram);
        progress(&format!(
            "{kind}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.1} results a query",
            p.p50_ms,
            p.p99_ms,
            p.max_ms,
            found as f64 / (args.queries / 3).max(1) as f64
        ));
        kinds.push(json!({ "query": kind, "latency": p, "results_per_query": found as f64 / (args.queries / 3).max(1) as f64 }));
    }
    let out = json!({
        "store": args.store,
        "messages": args.messages,
        "chats": args.chats,
        "member_of": args.member_of,
        "fill_secs": fill_secs,
        "queries": kinds,
        "all": Percentiles::of(&all),
    });
    report::emit(&out)?;
    if let Some(dir) = &opened.temporary {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Stores the chats and messages in batches.
async fn fill(store: &dyn Store, args: &Args, words: &Zipf, searcher: &UserId) -> Result {
    let other = UserId::from_random(rand::random());
    let chats: Vec<SessionId> = (0..args.chats)
        .map(|_| SessionId::from_random(rand::random()))
        .collect();
    let per_chat = args.messages.div_ceil(args.chats.max(1));
    let sessions = chats
        .iter()
        .enumerate()
        .map(|(n, sid)| {
            let member = |uid: &UserId| Member {
                uid: uid.clone(),
                new_count: 0,
                read_seq: 0,
            };
            let mut members = vec![member(&other)];
            if (n as u64) < args.member_of {
                members.push(member(searcher));
            }
            Record::Session {
                session: Session {
                    id: sid.clone(),
                    createuid: other.clone(),
                    ouid: None,
                    name: format!("chat {n}"),
                    icon: None,
                    session_type: SessionType::Group,
                    public: false,
                    last_msgid: None,
                    last_update: 0,
                    dateline: 0,
                },
                members,
                last_seq: i64::try_from(per_chat).unwrap_or(i64::MAX),
            }
        })
        .collect();
    store.import(sessions).await?;
    let mut done = 0u64;
    let batch = 5_000u64;
    while done < args.messages {
        let records = (done..(done + batch).min(args.messages))
            .map(|n| {
                let chat = n % args.chats.max(1);
                let len = 6 + (rand::random::<u32>() % 9) as usize;
                let content = (0..len)
                    .map(|_| words.sample())
                    .collect::<Vec<_>>()
                    .join(" ");
                Record::Message(Message {
                    id: MessageId::from_random(rand::random()),
                    session_id: chats[chat as usize].clone(),
                    seq: i64::try_from(n / args.chats.max(1) + 1).unwrap_or(i64::MAX),
                    uid: other.clone(),
                    msg_type: ChatKind::Text,
                    content,
                    file_name: String::new(),
                    file_type: String::new(),
                    fileid: None,
                    thumbid: None,
                    dateline: 1_700_000_000_000 + i64::try_from(n).unwrap_or(0),
                    client_id: None,
                    reply_to: None,
                })
            })
            .collect();
        store.import(records).await?;
        done = (done + batch).min(args.messages);
        if done.is_multiple_of(100_000) {
            progress(&format!("{done} messages stored"));
        }
    }
    Ok(())
}

/// Words by Zipf's law over a generated vocabulary.
struct Zipf {
    words: Vec<String>,
    /// Cumulative weights, the last 1.
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(size: usize) -> Zipf {
        let words = (0..size).map(word).collect();
        let total: f64 = (1..=size).map(|r| 1.0 / r as f64).sum();
        let mut sum = 0.0;
        let cumulative = (1..=size)
            .map(|r| {
                sum += 1.0 / r as f64 / total;
                sum
            })
            .collect();
        Zipf { words, cumulative }
    }

    fn sample(&self) -> String {
        let x: f64 = rand::random();
        let at = self.cumulative.partition_point(|c| *c < x);
        self.words[at.min(self.words.len() - 1)].clone()
    }
}

/// The `n`th word: syllables, so prefixes are shared as in a language.
fn word(n: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "an", "el", "or", "us", "ba", "ve",
        "zu", "ho", "ji", "fa", "ce",
    ];
    let mut n = n + SYLLABLES.len();
    let mut out = String::new();
    while n > 0 {
        out.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    out
}

fn progress(text: &str) {
    report::progress("cookim-searchbench", text);
}
