//! Internals of the embedded store: schema versions, pragmas, query plans, lock poisoning;
//! file bytes on disk in `file_storage`, the move of version-1 files in `version_1_files`.
//! Behaviour every backend shares is in `tests/contract.rs`.

mod file_storage;
mod version_1_files;

use std::fs;

use super::*;

fn uid(n: u8) -> UserId {
    UserId::from_random([n; UserId::RANDOM_BYTES])
}

fn new_user(n: u8) -> NewUser {
    NewUser {
        id: uid(n),
        login: format!("user{n}@example.com"),
        nickname: format!("user{n}"),
        password_hash: "hash".to_owned(),
        gender: Gender::Girl,
        avatar: FileId::from_random([n; FileId::RANDOM_BYTES]),
        dateline: 1,
    }
}

fn upload(id: &FileId, bytes: &[u8]) -> NewFile {
    NewFile {
        id: id.clone(),
        file_name: "a.bin".to_owned(),
        file_type: "application/octet-stream".to_owned(),
        owner: FileOwner::User(uid(1)),
        dateline: 5,
        bytes: bytes.to_vec(),
    }
}

fn file_id(n: u8) -> FileId {
    FileId::from_random([n; FileId::RANDOM_BYTES])
}

/// Every entry under `<dir>/<sub>/`, as `shard/name`.
fn entries(dir: &Path, sub: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for shard in fs::read_dir(dir.join(sub))? {
        let shard = shard?;
        for entry in fs::read_dir(shard.path())? {
            out.push(format!(
                "{}/{}",
                shard.file_name().to_string_lossy(),
                entry?.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Where the blob of `bytes` lives, as `shard/hash`.
fn blob_entry(bytes: &[u8]) -> String {
    let hash = blobs::BlobHash::of(bytes);
    format!("{}/{hash}", &hash.as_str()[..2])
}

#[test]
fn migrations_are_idempotent_on_reopen() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        store.create_user(new_user(1)).await?;
        let version = schema::user_version(&*lock(&store.conn)?)?;
        assert_eq!(version, schema::MIGRATIONS.len());
        // Running the runner again on a current database does nothing.
        assert_eq!(
            schema::migrate(&mut *lock(&store.conn)?, dir.path(), schema::MIGRATIONS)?,
            version
        );
        drop(store);

        let store = Embedded::open(dir.path()).await?;
        assert_eq!(schema::user_version(&*lock(&store.conn)?)?, version);
        assert_eq!(
            store.user(&uid(1)).await?.map(|u| u.login),
            Some("user1@example.com".into())
        );
        Ok(())
    })
}

#[test]
fn a_later_step_runs_once_on_top_of_existing_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    users::create(&conn, new_user(2))?;
    drop(conn);

    let mut steps = schema::MIGRATIONS.to_vec();
    steps.push(schema::Step::Sql(
        "ALTER TABLE users ADD COLUMN motto TEXT NOT NULL DEFAULT '';",
    ));
    let conn = open_connection(dir.path(), &steps)?;
    assert_eq!(schema::user_version(&conn)?, steps.len());
    let motto: String = conn.query_row(
        "SELECT motto FROM users WHERE id = ?1",
        [uid(2).as_str()],
        |row| row.get(0),
    )?;
    assert_eq!(motto, "");
    drop(conn);
    // Reopening does not run the step again (it would fail: duplicate column).
    let conn = open_connection(dir.path(), &steps)?;
    assert_eq!(schema::user_version(&conn)?, steps.len());
    drop(conn);

    // The older build refuses the newer database instead of misreading it.
    let refused = open_connection(dir.path(), schema::MIGRATIONS);
    assert!(matches!(refused, Err(Error::Corrupt(_))), "{refused:?}");
    Ok(())
}

#[test]
fn version_4_turns_unread_counters_into_read_marks_that_keep_the_counts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), &schema::MIGRATIONS[..3])?;
    // A version-3 chat: its last message is seq 7; one member has 3 unread, one none, one
    // more than the chat has (a counter that drifted).
    conn.execute_batch(&format!(
        "INSERT INTO sessions (id, createuid, name, session_type, public, last_update, \
         dateline, next_seq) VALUES ('{sid}', '{a}', 'g', 1, 1, 0, 0, 8);
         INSERT INTO members (session_id, uid, new_count, ord) VALUES
            ('{sid}', '{a}', 3, 1), ('{sid}', '{b}', 0, 2), ('{sid}', '{c}', 99, 3);",
        sid = SessionId::from_random([9; SessionId::RANDOM_BYTES]),
        a = uid(1),
        b = uid(2),
        c = uid(3),
    ))?;
    drop(conn);
    let conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    let members = sessions::members(&conn, &SessionId::from_random([9; SessionId::RANDOM_BYTES]))?;
    let found: Vec<(i32, i64)> = members.iter().map(|m| (m.new_count, m.read_seq)).collect();
    assert_eq!(found, vec![(3, 4), (0, 7), (7, 0)]);
    Ok(())
}

#[test]
fn pragmas_are_in_force() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    assert_eq!(mode, "wal");
    let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    assert_eq!(synchronous, 2, "FULL");
    let foreign_keys: i64 = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
    assert_eq!(foreign_keys, 1);
    Ok(())
}

#[test]
fn history_paging_uses_the_seq_index() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", messages::page_sql()))?;
    let plan = collect(stmt.query(params_for_plan())?, |row| {
        Ok(row.get::<_, String>(3)?)
    })?
    .join("\n");
    assert!(plan.contains("messages_seq"), "{plan}");
    assert!(
        !plan.contains("TEMP B-TREE"),
        "sorts instead of walking the index: {plan}"
    );
    Ok(())
}

fn params_for_plan() -> impl rusqlite::Params {
    rusqlite::params!["000000000000000000000000", 10, 0]
}

/// Version 3 (logins, attempts) on a database that already has data.
#[test]
fn a_version_2_database_gains_logins_and_attempts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), &schema::MIGRATIONS[..2])?;
    users::create(&conn, new_user(6))?;
    drop(conn);
    smol::block_on(async {
        let store = Embedded::open(dir.path()).await?;
        assert_eq!(
            schema::user_version(&*lock(&store.conn)?)?,
            schema::MIGRATIONS.len()
        );
        assert!(store.user(&uid(6)).await?.is_some(), "data kept");
        let login = NewLogin {
            id: LoginId::from_random([6; LoginId::RANDOM_BYTES]),
            uid: uid(6),
            device: "phone".to_owned(),
            created: 10,
        };
        store.create_login(login.clone()).await?;
        assert_eq!(store.logins(&uid(6)).await?.len(), 1);
        assert_eq!(store.record_attempt("k", 1).await?, 1);
        Ok(())
    })
}

/// Runs `EXPLAIN QUERY PLAN` on `sql` and returns the plan's lines.
fn plan_of(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    Ok(collect(stmt.query(params)?, |row| Ok(row.get::<_, String>(3)?))?.join("\n"))
}

#[test]
fn login_queries_walk_their_indexes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    for (sql, index, params) in [
        (
            logins::active_sql(),
            "logins_active",
            rusqlite::params!["0", 200],
        ),
        (
            logins::ended_since_sql().to_owned(),
            "logins_ended",
            rusqlite::params![0, 10_000],
        ),
    ] {
        let plan = plan_of(&conn, &sql, params)?;
        assert!(plan.contains(index), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorts: {plan}");
    }
    Ok(())
}

/// The poll's cap at N and N + 1 (too many rows for the contract suite's MongoDB run).
#[test]
fn ended_logins_are_polled_at_most_the_cap_at_a_time() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut conn = open_connection(dir.path(), schema::MIGRATIONS)?;
    let tx = conn.transaction()?;
    for n in 0..=ENDED_LOGINS_LISTED {
        let n = u32::try_from(n).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut random = [0; LoginId::RANDOM_BYTES];
        random[..4].copy_from_slice(&n.to_be_bytes());
        let id = LoginId::from_random(random);
        let created = logins::create(
            &tx,
            NewLogin {
                id: id.clone(),
                uid: uid(7),
                device: String::new(),
                created: 1,
            },
        )?;
        logins::end(
            &tx,
            &uid(7),
            &EndLogins::One(created.id),
            100 + i64::from(n),
        )?;
    }
    tx.commit()?;
    let polled = logins::ended_since(&conn, 0)?;
    assert_eq!(polled.len(), ENDED_LOGINS_LISTED);
    assert_eq!(polled.last().map(|(_, _, ended)| *ended), Some(100 + 9_999));
    let rest = logins::ended_since(&conn, 100 + 10_000)?;
    assert_eq!(rest.len(), 1, "the newest, on the next poll");
    Ok(())
}

#[test]
fn a_malformed_stored_id_is_corrupt() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        lock(&store.conn)?.execute(
            "INSERT INTO users (id, login, nickname, password_hash, gender, avatar, last_login, \
             login_count, dateline, token_generation) \
             VALUES ('../../etc', 'x@example.com', 'x', 'h', 1, 'nope', 0, 0, 0, 0)",
            [],
        )?;
        let read = store.user_by_login("x@example.com").await;
        assert!(
            matches!(&read, Err(Error::Corrupt(why)) if why.contains("id")),
            "{read:?}"
        );
        Ok(())
    })
}

#[test]
fn a_poisoned_lock_fails_one_call_then_recovers() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let conn = Arc::clone(&store.conn);
        let crashed = std::thread::spawn(move || {
            let _guard = conn.lock();
            panic!("a call panics while holding the connection");
        })
        .join();
        assert!(crashed.is_err());
        assert!(matches!(store.user(&uid(3)).await, Err(Error::Unavailable)));
        store.create_user(new_user(3)).await?;
        assert!(store.user(&uid(3)).await?.is_some());
        Ok(())
    })
}

#[test]
fn flush_empties_the_log_and_keeps_the_store_usable() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        store.create_user(new_user(4)).await?;
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        assert!(fs::metadata(&wal)?.len() > 0);
        store.flush().await?;
        assert_eq!(fs::metadata(&wal)?.len(), 0);
        store.create_user(new_user(5)).await?;
        assert_eq!(store.users(&[uid(4), uid(5)]).await?.len(), 2);
        Ok(())
    })
}

#[test]
fn debug_shows_the_directory_only() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let text = format!("{store:?}");
        assert!(text.starts_with("Embedded { dir: "), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        Ok(())
    })
}
