//! The store contract (`support/contract/`) run against MongoDB: every check on a fresh
//! database (random name) of the server at `MONGO_URI`, dropped afterwards when it passed.
//!
//! Start the pinned test server (SecantusDB, a MongoDB-wire server) with
//! `eval "$(scripts/mongo-test-server start)" && export MONGO_URI`, or point `MONGO_URI` at a
//! real mongod. Without `MONGO_URI` every test here fails, saying so: a skipped backend must not
//! look like a passing one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod support;

use cookim_store::{Mongo, Result};
use protocol::chat::ChatKind;
use support::contract::{self, for_each_check};

/// The server under test, from `MONGO_URI`.
fn mongo_uri() -> String {
    match std::env::var("MONGO_URI") {
        Ok(uri) if !uri.is_empty() => {
            eprintln!("store tests on MongoDB at {uri}");
            uri
        }
        _ => panic!(
            "MONGO_URI is not set: these tests need a MongoDB-wire server. Start the test \
             server with `eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI` \
             (stop it with `scripts/mongo-test-server stop`), or set MONGO_URI to a mongod."
        ),
    }
}

/// Runs `check` on a new database of the server at `MONGO_URI`.
fn on_fresh_database<F>(check: impl FnOnce(Mongo) -> F) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    let uri = mongo_uri();
    let database = format!("cookim_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    smol::block_on(async {
        let store = Mongo::connect(&uri, &database).await?;
        check(store).await?;
        let store = Mongo::connect(&uri, &database).await?;
        store.drop_database().await
    })
}

macro_rules! mongo_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() -> Result<()> {
                on_fresh_database(|store| async move { contract::$check(&store).await })
            }
        )*
    };
}
for_each_check!(mongo_checks);

/// The checks do not depend on an empty store or on each other.
#[test]
fn all_checks_in_turn_on_one_store() -> Result<()> {
    on_fresh_database(|store| async move { contract::run_all(&store).await })
}

/// Connecting twice creates the indexes twice: a no-op.
#[test]
fn start_up_is_idempotent() -> Result<()> {
    on_fresh_database(|first| async move {
        let _second = Mongo::connect(&mongo_uri(), first.database_name()).await?;
        Ok(())
    })
}

/// Identical bytes are one set of GridFS chunks, however many files share them.
#[test]
fn identical_uploads_share_their_chunks() -> Result<()> {
    use cookim_store::Store;
    use cookim_store::model::{FileOwner, NewFile};
    use protocol::ids::{FileId, UserId};
    let uri = mongo_uri();
    on_fresh_database(|store| async move {
        // Two GridFS chunks' worth.
        let bytes: Vec<u8> = (0..300_000).map(|_| rand::random::<u8>()).collect();
        let mut ids = Vec::new();
        for n in 0..3 {
            let id = FileId::from_random(rand::random());
            store
                .put_file(NewFile {
                    id: id.clone(),
                    file_name: format!("copy {n}.bin"),
                    file_type: String::new(),
                    owner: FileOwner::User(UserId::from_random([1; 12])),
                    dateline: n,
                    bytes: bytes.clone(),
                })
                .await?;
            ids.push(id);
        }
        let name = store.database_name().to_owned();
        let chunks = async_compat::Compat::new(async move {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            client
                .database(&name)
                .collection::<mongodb::bson::Document>("fs.chunks")
                .count_documents(mongodb::bson::doc! {})
                .await
        })
        .await
        .expect("count chunks");
        assert_eq!(chunks, 2);
        for id in &ids {
            assert_eq!(store.file(id).await?.map(|(_, b)| b), Some(bytes.clone()));
            let tail = store.read_file_chunk(id, 299_990, 64).await?;
            assert_eq!(tail.as_deref(), Some(&bytes[299_990..]));
        }
        Ok(())
    })
}

/// History paging, resume, retried sends, chat lists with unread counts, notification counts,
/// a user's logins and the poll for ended logins are each served by an index (the server's
/// `explain`), with data in the collections so an empty-collection shortcut cannot hide a scan.
#[test]
fn history_and_unread_queries_use_indexes() -> Result<()> {
    on_fresh_database(|store| async move {
        contract::run_all(&store).await?;
        let plans = store.query_plans().await?;
        let names: Vec<&str> = plans.iter().map(|p| p.query).collect();
        assert_eq!(
            names,
            [
                "history",
                "after",
                "client-id",
                "joined-sessions",
                "unread-notifications",
                "notifications",
                "active-logins",
                "ended-logins"
            ]
        );
        for plan in &plans {
            eprintln!("{}: indexes {:?}", plan.query, plan.indexes);
            assert!(plan.uses_index(), "{plan:?} is not served by an index");
        }
        Ok(())
    })
}

/// A CookIM database: messages without `seq` or `clientId` are numbered in time order at
/// start-up, history reads them in that order, and the next message follows them.
#[test]
fn cookims_unnumbered_messages_are_numbered_at_start_up() -> Result<()> {
    use cookim_store::Store;
    use cookim_store::model::NewMessage;
    use mongodb::bson::{Document, doc};
    use protocol::ids::{MessageId, UserId};
    let uri = mongo_uri();
    on_fresh_database(|store| async move {
        let uid = UserId::from_random(rand::random());
        let session = group(&store, &uid, "old").await?;
        // CookIM's documents, inserted out of time order, without seq or clientId.
        let datelines = [30_i64, 10, 20];
        let mut cookim = Vec::new();
        for dateline in datelines {
            let id = MessageId::from_random(rand::random());
            cookim.push(doc! {
                "_id": id.as_str(), "uid": uid.as_str(), "sessionid": session.id.as_str(),
                "msgType": "text", "content": format!("at {dateline}"), "fileName": "",
                "fileType": "", "fileid": "", "thumbid": "", "dateline": dateline,
            });
        }
        let name = store.database_name().to_owned();
        async_compat::Compat::new(async {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            let db = client.database(&name);
            // As on a database CookIM made: our unique indexes are not there yet.
            db.collection::<Document>("messages").drop_indexes().await?;
            db.collection::<Document>("messages")
                .insert_many(cookim)
                .await?;
            Ok::<_, mongodb::error::Error>(())
        })
        .await
        .expect("insert CookIM's messages");

        let store = Mongo::connect(&uri, &name).await?;
        let history = store.messages(&session.id, 1, 10).await?;
        let seen: Vec<(i64, &str)> = history
            .iter()
            .map(|m| (m.seq, m.content.as_str()))
            .collect();
        assert_eq!(seen, [(1, "at 10"), (2, "at 20"), (3, "at 30")]);
        assert!(history.iter().all(|m| m.client_id.is_none()));
        let next = store
            .append(
                NewMessage {
                    id: MessageId::from_random(rand::random()),
                    session_id: session.id.clone(),
                    uid: uid.clone(),
                    msg_type: ChatKind::Text,
                    content: "new".into(),
                    file_name: String::new(),
                    file_type: String::new(),
                    fileid: None,
                    thumbid: None,
                    dateline: 40,
                    client_id: None,
                    reply_to: None,
                },
                &Default::default(),
            )
            .await?;
        assert_eq!(next.seq, 4);
        // A second start finds nothing to number.
        let again = Mongo::connect(&uri, &name).await?;
        assert_eq!(again.messages(&session.id, 1, 10).await?.len(), 4);
        Ok(())
    })
}

/// Members written before read marks (an unread counter, no mark) and CookIM's (neither) get
/// the mark that keeps their count at start-up; a second start has nothing to do.
#[test]
fn unread_counters_become_read_marks_at_start_up() -> Result<()> {
    use cookim_store::Store;
    use mongodb::bson::{Document, doc};
    use protocol::ids::UserId;
    let uri = mongo_uri();
    on_fresh_database(|store| async move {
        let (a, b, c) = (
            UserId::from_random(rand::random()),
            UserId::from_random(rand::random()),
            UserId::from_random(rand::random()),
        );
        let session = group(&store, &a, "old").await?;
        let name = store.database_name().to_owned();
        async_compat::Compat::new(async {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            let sessions = client.database(&name).collection::<Document>("sessions");
            sessions
                .update_one(
                    doc! { "_id": session.id.as_str() },
                    doc! { "$set": { "nextSeq": 7_i64, "usersStatus": [
                        { "uid": a.as_str(), "online": false, "newCount": 2 },
                        { "uid": b.as_str(), "online": false },
                        { "uid": c.as_str(), "online": false, "newCount": 50 },
                    ] } },
                )
                .await?;
            Ok::<_, mongodb::error::Error>(())
        })
        .await
        .expect("write the old members");
        let store = Mongo::connect(&uri, &name).await?;
        let found: Vec<(i32, i64)> = store
            .members(&session.id)
            .await?
            .iter()
            .map(|m| (m.new_count, m.read_seq))
            .collect();
        assert_eq!(found, [(2, 5), (0, 7), (7, 0)]);
        assert_eq!(store.mark_read(&session.id, &a, Some(6)).await?, Some(6));
        let again = Mongo::connect(&uri, &name).await?;
        let counts: Vec<i32> = again
            .members(&session.id)
            .await?
            .iter()
            .map(|m| m.new_count)
            .collect();
        assert_eq!(counts, [1, 0, 7]);
        Ok(())
    })
}

/// A single node's embedded store moved into MongoDB through a dump (`cookim export` then
/// `cookim import`), and back.
#[test]
fn an_embedded_store_moves_into_mongodb_and_back() -> Result<()> {
    on_fresh_database(|mongo| async move {
        let dir = tempfile::tempdir()?;
        let embedded = cookim_store::Embedded::open(dir.path()).await?;
        contract::a_dump_moves_everything(&embedded, &mongo).await?;
        let back_dir = tempfile::tempdir()?;
        let back = cookim_store::Embedded::open(back_dir.path()).await?;
        let (mut there, mut back_again) = (Vec::new(), Vec::new());
        cookim_store::dump::export(&mongo, &mut there).await?;
        cookim_store::dump::import(&back, there.as_slice()).await?;
        cookim_store::dump::export(&back, &mut back_again).await?;
        assert!(there == back_again, "MongoDB -> embedded changed the dump");
        Ok(())
    })
}

#[test]
fn a_bad_dump_is_refused() -> Result<()> {
    on_fresh_database(|store| async move { contract::a_bad_dump_is_refused(&store).await })
}

/// A message's number is claimed by storing it: one another node stored a moment ago (the
/// session's `nextSeq` not moved yet) makes the next append take the number after it, and two
/// stores appending at once to one chat (two nodes) leave history numbered 1, 2, 3... with no
/// hole and no number twice.
#[test]
fn numbers_are_claimed_by_the_insert_without_holes() -> Result<()> {
    use cookim_store::Store;
    use cookim_store::model::NewMessage;
    use mongodb::bson::{Document, doc};
    use protocol::ids::{MessageId, UserId};
    let uri = mongo_uri();
    on_fresh_database(|store| async move {
        let uid = UserId::from_random(rand::random());
        let session = group(&store, &uid, "claims").await?;
        let text = |content: String| NewMessage {
            id: MessageId::from_random(rand::random()),
            session_id: session.id.clone(),
            uid: uid.clone(),
            msg_type: ChatKind::Text,
            content,
            file_name: String::new(),
            file_type: String::new(),
            fileid: None,
            thumbid: None,
            dateline: 2,
            client_id: None,
            reply_to: None,
        };
        assert_eq!(
            store
                .append(text("one".into()), &Default::default())
                .await?
                .seq,
            1
        );
        // Another node's message at 2, stored before it moved the session's nextSeq.
        let name = store.database_name().to_owned();
        let id = MessageId::from_random(rand::random());
        let other = doc! {
            "_id": id.as_str(), "uid": uid.as_str(), "sessionid": session.id.as_str(),
            "msgType": "text", "content": "two", "fileName": "", "fileType": "", "fileid": "",
            "thumbid": "", "dateline": 2, "seq": 2_i64, "clientId": id.as_str(),
        };
        async_compat::Compat::new(async {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            client
                .database(&name)
                .collection::<Document>("messages")
                .insert_one(other)
                .await?;
            Ok::<_, mongodb::error::Error>(())
        })
        .await
        .expect("insert another node's message");
        assert_eq!(
            store
                .append(text("three".into()), &Default::default())
                .await?
                .seq,
            3
        );

        // Two nodes at once.
        let second = Mongo::connect(&uri, &name).await?;
        let (a, b) = smol::future::zip(burst(&store, &text, "a"), burst(&second, &text, "b")).await;
        a?;
        b?;
        let history = store.messages(&session.id, 1, 100).await?;
        let mut seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=33).collect::<Vec<i64>>());
        Ok(())
    })
}

/// 15 texts from `node`, one after another.
async fn burst(
    store: &Mongo,
    text: &impl Fn(String) -> cookim_store::model::NewMessage,
    node: &str,
) -> Result<()> {
    use cookim_store::Store;
    for n in 0..15 {
        store
            .append(text(format!("{node} {n}")), &Default::default())
            .await?;
    }
    Ok(())
}

/// A public group created by `uid`.
async fn group(
    store: &Mongo,
    uid: &protocol::ids::UserId,
    name: &str,
) -> Result<cookim_store::model::Session> {
    use cookim_store::Store;
    use cookim_store::model::{NewSession, SessionType};
    store
        .create_session(NewSession {
            id: protocol::ids::SessionId::from_random(rand::random()),
            createuid: uid.clone(),
            ouid: None,
            name: name.into(),
            icon: None,
            session_type: SessionType::Group,
            public: true,
            dateline: 1,
        })
        .await
}

/// Two nodes (two connections) counting failed logins of one key at once: every count from 1
/// to 20 is handed out exactly once, as one node's counts are.
#[test]
fn two_nodes_share_attempt_counters() -> Result<()> {
    let uri = mongo_uri();
    on_fresh_database(|first| async move {
        let second = Mongo::connect(&uri, first.database_name()).await?;
        let key = format!("ip:{}", hex::encode(rand::random::<[u8; 8]>()));
        let (a, b) =
            smol::future::zip(ten_attempts(&first, &key), ten_attempts(&second, &key)).await;
        let mut counts = [a?, b?].concat();
        counts.sort_unstable();
        assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
        Ok(())
    })
}

/// 10 attempts on `key` from `store`, one after another; the counts it got.
async fn ten_attempts(store: &Mongo, key: &str) -> Result<Vec<u32>> {
    use cookim_store::Store;
    let mut counts = Vec::new();
    for _ in 0..10 {
        counts.push(store.record_attempt(key, 3).await?);
    }
    Ok(counts)
}
