//! The embedded backend: SQLite (bundled) in `<data dir>/cookim.db`, file bytes under
//! `<data dir>/blobs/`, once per distinct content. For a single node; a cluster shares MongoDB
//! instead.
//!
//! One `rusqlite::Connection` sits behind a `std::sync::Mutex`. Every call locks it inside
//! `blocking::unblock`, so neither SQLite nor the lock ever blocks the executor and no guard
//! lives across an `.await`, and runs as one transaction: `BEGIN IMMEDIATE` for anything that
//! writes, so a read-then-write (next `seq`, membership check, compare-and-swap) cannot
//! interleave with another writer, even one in another process. One connection rather than a
//! pool: SQLite admits one writer at a time anyway, and chat reads are short.
//!
//! Durability: WAL with `synchronous=FULL`, i.e. every commit fsyncs the log. `NORMAL` would
//! survive a process crash, but an OS crash or power cut could lose the last transactions:
//! messages their sender already saw echoed, files [`Store::put_file`] promised were durable.
//! The price of `FULL` is one sequential fsync per write, which chat traffic on one node
//! affords easily.
//!
//! # Layout
//! - `connection`: opening the database (pragmas, migrations), locking, transactions.
//! - `schema`: tables and the `user_version` migration runner.
//! - `legacy`: version 1's `files/` layout and its move into blobs (schema step 2).
//! - `rows`: column lists and row decoders.
//! - `users`, `friends`, `logins`, `attempts`, `sessions`, `messages`, `notifications`: the
//!   queries, one table group each, as blocking functions on a `Connection` that the [`Store`] impl below runs
//!   in a transaction on the blocking pool.
//! - `files`: file metadata rows, each pointing at a blob.
//! - `dump`: whole-table export and import.
//! - `blobs`: content-addressed file bytes on disk (atomic writes, ranged reads).

mod attempts;
mod blobs;
mod connection;
mod dump;
mod files;
mod friends;
mod legacy;
mod logins;
mod messages;
mod notifications;
mod rows;
mod schema;
mod search;
mod sessions;
#[cfg(test)]
mod tests;
mod users;

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use protocol::ids::{FileId, LoginId, SessionId, UserId};
use rusqlite::{Connection, ErrorCode, Row, Rows, Transaction, TransactionBehavior};

use connection::{in_transaction, lock, open_connection};

use crate::Store;
use crate::error::{Error, Result};
use crate::model::*;

/// The database file inside the data directory.
const DB_FILE: &str = "cookim.db";
/// The directory of content-addressed file bytes inside the data directory.
const BLOBS_DIR: &str = "blobs";

/// The SQLite store (see the module doc). Share it as an `Arc<dyn Store>`.
pub struct Embedded {
    /// The data directory: where the database and file bytes live, and all `Debug` shows.
    dir: PathBuf,
    /// The one connection. `Arc` because each call moves a handle into `blocking::unblock`.
    conn: Arc<Mutex<Connection>>,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Embedded {
    /// Opens the store in `data_dir`, creating the directory and database if needed: opens
    /// `cookim.db` in WAL mode, applies pending schema migrations and removes temporary files
    /// an interrupted upload left behind.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory cannot be created or read; [`Error::Sqlite`] if the
    /// database cannot be opened or migrated; [`Error::Corrupt`] if a newer build wrote it.
    pub async fn open(data_dir: &Path) -> Result<Embedded> {
        let dir = data_dir.to_path_buf();
        let conn = blocking::unblock({
            let dir = dir.clone();
            move || open_connection(&dir, schema::MIGRATIONS)
        })
        .await?;
        tracing::info!(dir = %dir.display(), "embedded store open");
        Ok(Embedded {
            dir,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Where file bytes live.
    fn blobs_dir(&self) -> PathBuf {
        self.dir.join(BLOBS_DIR)
    }

    /// Runs `f` on the blocking pool with the connection and the blobs directory.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Mutex<Connection>, &Path) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let blobs_dir = self.blobs_dir();
        blocking::unblock(move || f(&conn, &blobs_dir)).await
    }

    /// Runs `f` in a read transaction: one consistent snapshot for all its statements.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(|conn, _| in_transaction(&mut *lock(conn)?, TransactionBehavior::Deferred, f))
            .await
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed only if `f` succeeds.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(|conn, _| {
            in_transaction(&mut *lock(conn)?, TransactionBehavior::Immediate, f)
        })
        .await
    }
}

/// Turns a unique-key violation into [`Error::Conflict`], naming the key by the first entry of
/// `keys` whose `table.column` the SQLite message mentions; other errors pass through.
fn conflict(e: rusqlite::Error, keys: &[(&str, &'static str)]) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, Some(text)) = &e
        && failure.code == ErrorCode::ConstraintViolation
        && (failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
        && let Some((_, key)) = keys.iter().find(|(column, _)| text.contains(column))
    {
        return Error::Conflict(key);
    }
    Error::Sqlite(e)
}

/// Decodes every row of a query.
fn collect<T>(mut rows: Rows<'_>, decode: impl Fn(&Row<'_>) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Decodes the first row of a query, if any.
fn first<T>(mut rows: Rows<'_>, decode: impl Fn(&Row<'_>) -> Result<T>) -> Result<Option<T>> {
    rows.next()?.map(decode).transpose()
}

/// `LIMIT` and `OFFSET` of page `page` (from 1; 0 reads as 1) of `count` rows.
fn page_bounds(page: u32, count: u32) -> (i64, i64) {
    let offset = u64::from(page.saturating_sub(1)) * u64::from(count);
    // Cannot overflow u64 ((2^32 - 1)^2 < 2^64); clamp absurd pages (they are empty anyway).
    (i64::from(count), i64::try_from(offset).unwrap_or(i64::MAX))
}

#[async_trait]
impl Store for Embedded {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        self.write(move |tx| users::create(tx, user)).await
    }

    async fn user(&self, uid: &UserId) -> Result<Option<User>> {
        let uid = uid.clone();
        self.read(move |tx| users::by_id(tx, &uid)).await
    }

    async fn users(&self, uids: &[UserId]) -> Result<Vec<User>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let uids: BTreeSet<UserId> = uids.iter().cloned().collect();
        self.read(move |tx| users::by_ids(tx, &uids)).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        let login = login.to_owned();
        self.read(move |tx| users::by_login(tx, &login)).await
    }

    async fn users_by_nickname(&self, nickname: &str, limit: usize) -> Result<Vec<User>> {
        let nickname = nickname.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |tx| users::by_nickname(tx, &nickname, limit))
            .await
    }

    async fn record_login(&self, uid: &UserId, now: Millis) -> Result<()> {
        let uid = uid.clone();
        self.write(move |tx| users::touch(tx, &uid, now, true))
            .await
    }

    async fn touch(&self, uid: &UserId, now: Millis) -> Result<()> {
        let uid = uid.clone();
        self.write(move |tx| users::touch(tx, &uid, now, false))
            .await
    }

    async fn logout(&self, uid: &UserId) -> Result<()> {
        let uid = uid.clone();
        self.write(move |tx| users::logout(tx, &uid)).await
    }

    async fn recently_active(&self, since: Millis) -> Result<Vec<UserId>> {
        self.read(move |tx| users::recently_active(tx, since)).await
    }

    async fn update_profile(&self, uid: &UserId, update: ProfileUpdate) -> Result<()> {
        let uid = uid.clone();
        self.write(move |tx| users::update_profile(tx, &uid, update))
            .await
    }

    async fn replace_password(
        &self,
        uid: &UserId,
        expected_hash: &str,
        new_hash: &str,
    ) -> Result<bool> {
        let (uid, expected, new) = (uid.clone(), expected_hash.to_owned(), new_hash.to_owned());
        self.write(move |tx| users::replace_password(tx, &uid, &expected, &new))
            .await
    }

    async fn create_login(&self, login: NewLogin) -> Result<Login> {
        self.write(move |tx| logins::create(tx, login)).await
    }

    async fn login(&self, id: &LoginId) -> Result<Option<Login>> {
        let id = id.clone();
        self.read(move |tx| logins::by_id(tx, &id)).await
    }

    async fn logins(&self, uid: &UserId) -> Result<Vec<Login>> {
        let uid = uid.clone();
        self.read(move |tx| logins::active(tx, &uid)).await
    }

    async fn touch_login(&self, id: &LoginId, now: Millis) -> Result<()> {
        let id = id.clone();
        self.write(move |tx| logins::touch(tx, &id, now)).await
    }

    async fn end_logins(
        &self,
        uid: &UserId,
        which: EndLogins,
        now: Millis,
    ) -> Result<Vec<LoginId>> {
        let uid = uid.clone();
        self.write(move |tx| logins::end(tx, &uid, &which, now))
            .await
    }

    async fn ended_logins_since(&self, since: Millis) -> Result<Vec<(UserId, LoginId, Millis)>> {
        self.read(move |tx| logins::ended_since(tx, since)).await
    }

    async fn record_attempt(&self, key: &str, window: i64) -> Result<u32> {
        let key = key.to_owned();
        self.write(move |tx| attempts::record(tx, &key, window))
            .await
    }

    async fn clear_attempts(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.write(move |tx| attempts::clear(tx, &key)).await
    }

    async fn release_attempt(&self, key: &str, window: i64) -> Result<()> {
        let key = key.to_owned();
        self.write(move |tx| attempts::release(tx, &key, window))
            .await
    }

    async fn add_friend(&self, uid: &UserId, fuid: &UserId, now: Millis) -> Result<bool> {
        let (uid, fuid) = (uid.clone(), fuid.clone());
        self.write(move |tx| friends::add(tx, &uid, &fuid, now))
            .await
    }

    async fn remove_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool> {
        let (uid, fuid) = (uid.clone(), fuid.clone());
        self.write(move |tx| friends::remove(tx, &uid, &fuid)).await
    }

    async fn friends(&self, uid: &UserId) -> Result<Vec<User>> {
        let uid = uid.clone();
        self.read(move |tx| friends::list(tx, &uid)).await
    }

    async fn is_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool> {
        let (uid, fuid) = (uid.clone(), fuid.clone());
        self.read(move |tx| friends::contains(tx, &uid, &fuid))
            .await
    }

    async fn create_session(&self, session: NewSession) -> Result<Session> {
        self.write(move |tx| sessions::create(tx, &session)).await
    }

    async fn private_session(&self, new: NewSession) -> Result<(Session, bool)> {
        self.write(move |tx| sessions::private(tx, &new)).await
    }

    async fn session(&self, sid: &SessionId) -> Result<Option<Session>> {
        let sid = sid.clone();
        self.read(move |tx| sessions::by_id(tx, &sid)).await
    }

    async fn update_session(&self, sid: &SessionId, update: SessionUpdate) -> Result<()> {
        let sid = sid.clone();
        self.write(move |tx| sessions::update(tx, &sid, update))
            .await
    }

    async fn members(&self, sid: &SessionId) -> Result<Vec<Member>> {
        let sid = sid.clone();
        self.read(move |tx| sessions::members(tx, &sid)).await
    }

    async fn is_member(&self, sid: &SessionId, uid: &UserId) -> Result<bool> {
        let (sid, uid) = (sid.clone(), uid.clone());
        self.read(move |tx| sessions::is_member(tx, &sid, &uid))
            .await
    }

    async fn public_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>> {
        let uid = uid.clone();
        self.read(move |tx| sessions::public(tx, &uid)).await
    }

    async fn joined_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>> {
        let uid = uid.clone();
        self.read(move |tx| sessions::joined(tx, &uid)).await
    }

    async fn join(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>> {
        let watching = messages::watching(online);
        self.write(move |tx| sessions::join(tx, change, &watching))
            .await
    }

    async fn leave(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>> {
        let watching = messages::watching(online);
        self.write(move |tx| sessions::leave(tx, change, &watching))
            .await
    }

    async fn append(&self, message: NewMessage, online: &HashSet<UserId>) -> Result<Message> {
        let watching = messages::watching(online);
        self.write(move |tx| messages::append(tx, message, &watching))
            .await
    }

    async fn messages(&self, sid: &SessionId, page: u32, count: u32) -> Result<Vec<Message>> {
        let sid = sid.clone();
        let (limit, offset) = page_bounds(page, count);
        self.read(move |tx| messages::page(tx, &sid, limit, offset))
            .await
    }

    async fn messages_after(
        &self,
        sid: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let sid = sid.clone();
        self.read(move |tx| messages::after(tx, &sid, after, limit))
            .await
    }

    async fn search(&self, search: Search) -> Result<Vec<Message>> {
        self.read(move |tx| search::find(tx, &search)).await
    }

    async fn messages_at(&self, sid: &SessionId, seqs: &[i64]) -> Result<Vec<Message>> {
        let (sid, seqs) = (sid.clone(), seqs.to_vec());
        self.read(move |tx| messages::at_seqs(tx, &sid, &seqs))
            .await
    }

    async fn mark_read(
        &self,
        sid: &SessionId,
        uid: &UserId,
        upto: Option<i64>,
    ) -> Result<Option<i64>> {
        let (sid, uid) = (sid.clone(), uid.clone());
        self.write(move |tx| messages::mark_read(tx, &sid, &uid, upto))
            .await
    }

    async fn notify(&self, notification: Notification) -> Result<()> {
        self.write(move |tx| notifications::insert(tx, &notification))
            .await
    }

    async fn unread_notifications(&self, uid: &UserId) -> Result<i64> {
        let uid = uid.clone();
        self.read(move |tx| notifications::unread(tx, &uid)).await
    }

    async fn take_notifications(
        &self,
        uid: &UserId,
        page: u32,
        count: u32,
    ) -> Result<Vec<Notification>> {
        let uid = uid.clone();
        let (limit, offset) = page_bounds(page, count);
        self.write(move |tx| notifications::take(tx, &uid, limit, offset))
            .await
    }

    async fn put_file(&self, file: NewFile) -> Result<FileMeta> {
        self.blocking(move |conn, blobs_dir| files::put(conn, blobs_dir, file))
            .await
    }

    async fn file_meta(&self, id: &FileId) -> Result<Option<FileMeta>> {
        let id = id.clone();
        self.read(move |tx| files::meta(tx, &id)).await
    }

    async fn file(&self, id: &FileId) -> Result<Option<(FileMeta, Vec<u8>)>> {
        let id = id.clone();
        self.blocking(move |conn, blobs_dir| files::get(conn, blobs_dir, &id))
            .await
    }

    async fn read_file_chunk(
        &self,
        id: &FileId,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>> {
        let id = id.clone();
        self.blocking(move |conn, blobs_dir| {
            files::read_chunk(conn, blobs_dir, &id, offset, max_len)
        })
        .await
    }

    async fn default_avatar(&self, kind: AvatarKind) -> Result<Option<FileId>> {
        self.read(move |tx| files::default_avatar(tx, kind)).await
    }

    async fn export(
        &self,
        table: crate::dump::Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::dump::Record>> {
        let after = after.map(str::to_owned);
        self.read(move |tx| dump::export(tx, table, after.as_deref(), limit))
            .await
    }

    async fn export_files(&self, after: Option<&FileId>, limit: u32) -> Result<Vec<FileMeta>> {
        let after = after.cloned();
        self.read(move |tx| dump::export_files(tx, after.as_ref(), limit))
            .await
    }

    async fn import(&self, records: Vec<crate::dump::Record>) -> Result<u64> {
        self.write(move |tx| dump::import(tx, records)).await
    }

    async fn flush(&self) -> Result<()> {
        self.blocking(|conn, _| {
            let (busy, log, checkpointed): (i64, i64, i64) =
                lock(conn)?.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
            if busy != 0 {
                // Another process holds the database; everything is still durable in the log
                // (synchronous=FULL), just not yet folded into the main file.
                tracing::warn!(log, checkpointed, "embedded store checkpoint incomplete");
            }
            Ok(())
        })
        .await
    }
}
