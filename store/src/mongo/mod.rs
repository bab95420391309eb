//! The MongoDB backend: CookIM's collections (../shared/cookim-api.md §11) shared by every node
//! of a cluster, through the official `mongodb` driver.
//!
//! The driver runs on tokio; cookim runs on smol. Every [`Store`] method runs its whole body
//! (every driver future, cursors collected inside) in one `async_compat::Compat`, which
//! provides a tokio context (its own small runtime when none exists); nothing above `store/`
//! knows tokio is there.
//!
//! # Documents
//! Collections and field names are CookIM's, so a CookIM database is recognisable: `users`,
//! `sessions`, `messages`, `onlines`, `notifications`, GridFS bucket `fs`; `_id`s of the five
//! application collections are strings of 24 hex characters (our ids are the same shape).
//! Where we deviate or add:
//! - `users.password` holds an argon2id PHC string (a 40-hex SHA-1 from CookIM still reads);
//!   `users.tokenGeneration` (long, missing reads as 0) is bumped by logout and password change.
//! - Membership and read marks live in `sessions.usersStatus`, CookIM's array of
//!   `{uid, online}`, each element with an added `readSeq` (long): the last `seq` that member
//!   has read. Their unread count is the session's `nextSeq` minus it, so a message updates no
//!   element but those of members watching the chat. (Before read marks each element had a
//!   `newCount` counter; the upgrade at start-up turns it into the mark that gives the same
//!   count.) Array order is join order
//!   (`$push` appends, a rejoin is a `$pull` then a `$push`). CookIM's
//!   `users.sessionsStatus` (the same counts seen from the user) is written empty and not
//!   maintained: keeping two copies equal needs a multi-document transaction on every message;
//!   one copy can be updated atomically with the message's sequence number (below). "Sessions
//!   of a user" is a query on the multikey index `usersStatus.uid` instead.
//! - `messages.seq` (long) is each message's number, from 1 per session, claimed by the insert
//!   itself: an append inserts the message with the number after the session's `nextSeq` (write
//!   concern `majority` with the journal by default, see [`WriteAck`]) and, if the unique
//!   `(sessionid, seq)` index says another node took it, tries the number after the highest
//!   stored. So a number never exists without its message (no hole in history, not even
//!   while a writer is cut off from the database). `sessions.nextSeq` (long) then moves
//!   forward to it with `lastMsgid`/`lastUpdate`, and the read marks of members watching the
//!   chat with it, in one update of the session.
//! - `sessions.pairKey` (private chats only): both uids sorted, `"a:b"`, unique: two nodes
//!   opening the same private chat at once agree on one session.
//! - `messages.clientId`: the id the sender gave the message, or the message's own id when it
//!   gave none; unique per (session, sender), so a retried send is stored once and the retry
//!   returns the first message.
//! - CookIM's messages (no `seq`, no `clientId`) are numbered in time order at start-up
//!   (`upgrade`), before the unique indexes on both are created.
//! - `onlines._id` is the uid itself (one row per user, upserted without making an id).
//! - Files: our file ids are 128-bit hex strings, not ObjectIds, so `fs.files._id` and
//!   `fs.chunks.files_id` are strings. Identical bytes are stored once: the first upload of some
//!   content gets GridFS chunks under its own id and `metadata.sha256` (hex); a later upload of
//!   the same bytes is an `fs.files` document whose `metadata.bytesOf` names the file holding
//!   the chunks. `metadata.uid` / `metadata.avatar` are CookIM's. `uploadDate` is the caller's
//!   `dateline`. No `md5` (deprecated in GridFS).
//!
//! - `logins` (ours): one document per device's signed-in session, `_id` the 32-hex login id,
//!   `ended` `null` while in use; indexed by user (the device list) and by `ended` (the poll
//!   every node runs for revoked logins).
//! - `attempts` (ours): login-lockout counters `{key, window, count}`, unique on
//!   `(key, window)`, incremented by an upserting `findAndModify`.
//!
//! Indexes are created at start-up (`indexes.rs`); creating an existing one is a no-op.
//!
//! # Write concern
//! Every write to `users`, `sessions` (memberships, unread counts), `messages`, `fs.files`,
//! `fs.chunks`, `logins` and `attempts` waits for the configured [`WriteAck`] (`majority` with
//! the journal by default): those collections are opened with it, so no call site can forget
//! it. A registration, an upload, a join or a sign-out that was answered survives the primary
//! failing over. `onlines` (presence, rewritten at every token and expiring after 15 minutes)
//! and `notifications` (a badge the user can live without) keep the server's default: losing
//! one of their writes in a failover costs little, and waiting for a majority there would
//! add a second wait to every token refresh.
//!
//! # Consistency
//! Each precondition is in the filter of the write it guards (`$ne` on a member before a
//! `$push`, the expected hash in a password swap), never read first. Two known gaps, both
//! needing transactions to close: an append that fails between numbering and inserting leaves a
//! `seq` gap (and counted unreads) behind; two concurrent retries with one client id both take a
//! number, the loser then returns the winner's message, leaving a gap.
//!
//! # Layout
//! - `indexes`: start-up index creation.
//! - `dump`: whole-collection export and import.
//! - `upgrade`: numbering CookIM's messages.
//! - `plans`: the queries of history paging and unread counts, and their `explain`.
//! - `docs`: reading fields out of BSON documents.
//! - `ack`: [`WriteAck`], the configured write concern.
//! - `users`, `sessions`, `messages`, `notifications`, `files`, `logins`, `attempts`: the
//!   operations.

mod ack;
mod attempts;
mod db;
mod docs;
mod dump;
mod files;
mod indexes;
mod logins;
mod messages;
mod notifications;
mod plans;
mod search;
mod sessions;
mod upgrade;
mod users;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_compat::Compat;
use async_trait::async_trait;
use mongodb::Client;
use mongodb::bson::doc;
use mongodb::options::{ClientOptions, CollectionOptions};
use protocol::ids::{FileId, LoginId, SessionId, UserId};

pub use ack::WriteAck;
pub use plans::QueryPlan;

use self::db::Db;
use crate::Store;
use crate::error::Result;
use crate::model::*;

/// How long an operation waits for a usable server before failing with
/// [`Error::Unavailable`](crate::Error::Unavailable) (unless the URI sets `serverSelectionTimeoutMS`).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The MongoDB store (see the module doc). Share it as an `Arc<dyn Store>`.
pub struct Mongo {
    db: Db,
}

impl fmt::Debug for Mongo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mongo")
            .field("database", &self.db.database.name())
            .finish_non_exhaustive()
    }
}

impl Mongo {
    /// Connects to `uri`, checks the server answers, and creates missing indexes in
    /// `database`.
    ///
    /// # Errors
    /// [`Error::Unavailable`](crate::Error::Unavailable) if no server answers within the server selection timeout;
    /// [`Error::Mongo`](crate::Error::Mongo) if the URI is malformed or an index cannot be created.
    pub async fn connect(uri: &str, database: &str) -> Result<Mongo> {
        Mongo::connect_with(uri, database, WriteAck::default()).await
    }

    /// [`Mongo::connect`], acknowledging writes with `ack` instead of `majority`.
    ///
    /// # Errors
    /// As [`Mongo::connect`].
    pub async fn connect_with(uri: &str, database: &str, ack: WriteAck) -> Result<Mongo> {
        Compat::new(async {
            let mut options = ClientOptions::parse(uri).await?;
            options
                .server_selection_timeout
                .get_or_insert(SERVER_SELECTION_TIMEOUT);
            options.app_name.get_or_insert_with(|| "cookim".to_owned());
            let client = Client::with_options(options)?;
            let database = client.database(database);
            database.run_command(doc! { "ping": 1 }).await?;
            let acked = CollectionOptions::builder()
                .write_concern(ack.concern())
                .build();
            let durable = |name: &str| database.collection_with_options(name, acked.clone());
            let db = Db {
                users: durable("users"),
                sessions: durable("sessions"),
                messages: durable("messages"),
                onlines: database.collection("onlines"),
                notifications: database.collection("notifications"),
                files: durable("fs.files"),
                chunks: durable("fs.chunks"),
                logins: durable("logins"),
                attempts: durable("attempts"),
                database,
            };
            upgrade::number_old_messages(&db).await?;
            upgrade::read_marks(&db).await?;
            search::fill_terms(&db).await?;
            indexes::create_all(&db).await?;
            tracing::info!(database = %db.database.name(), %ack, "MongoDB store connected");
            Ok(Mongo { db })
        })
        .await
    }
}

impl Mongo {
    /// The database this store uses.
    pub fn database_name(&self) -> &str {
        self.db.database.name()
    }

    /// How the server runs the queries of history paging and unread counts (from `explain`),
    /// to check that each is served by an index.
    ///
    /// # Errors
    /// As any operation.
    pub async fn query_plans(&self) -> Result<Vec<QueryPlan>> {
        compat(plans::explain_all(&self.db)).await
    }

    /// Drops the whole database: for tests and tools, never called by the server.
    ///
    /// # Errors
    /// As any operation.
    pub async fn drop_database(&self) -> Result<()> {
        compat(async { Ok(self.db.database.drop().await?) }).await
    }
}

/// Runs a store operation with a tokio context for the driver.
fn compat<T>(f: impl Future<Output = Result<T>>) -> Compat<impl Future<Output = Result<T>>> {
    Compat::new(f)
}

#[async_trait]
impl Store for Mongo {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        compat(users::create(&self.db, user)).await
    }

    async fn user(&self, uid: &UserId) -> Result<Option<User>> {
        compat(users::by_id(&self.db, uid)).await
    }

    async fn users(&self, uids: &[UserId]) -> Result<Vec<User>> {
        compat(users::by_ids(&self.db, uids)).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        compat(users::by_login(&self.db, login)).await
    }

    async fn users_by_nickname(&self, nickname: &str, limit: usize) -> Result<Vec<User>> {
        compat(users::by_nickname(&self.db, nickname, limit)).await
    }

    async fn record_login(&self, uid: &UserId, now: Millis) -> Result<()> {
        compat(users::touch(&self.db, uid, now, true)).await
    }

    async fn touch(&self, uid: &UserId, now: Millis) -> Result<()> {
        compat(users::touch(&self.db, uid, now, false)).await
    }

    async fn logout(&self, uid: &UserId) -> Result<()> {
        compat(users::logout(&self.db, uid)).await
    }

    async fn recently_active(&self, since: Millis) -> Result<Vec<UserId>> {
        compat(users::recently_active(&self.db, since)).await
    }

    async fn update_profile(&self, uid: &UserId, update: ProfileUpdate) -> Result<()> {
        compat(users::update_profile(&self.db, uid, update)).await
    }

    async fn replace_password(
        &self,
        uid: &UserId,
        expected_hash: &str,
        new_hash: &str,
    ) -> Result<bool> {
        compat(users::replace_password(
            &self.db,
            uid,
            expected_hash,
            new_hash,
        ))
        .await
    }

    async fn create_login(&self, login: NewLogin) -> Result<Login> {
        compat(logins::create(&self.db, login)).await
    }

    async fn login(&self, id: &LoginId) -> Result<Option<Login>> {
        compat(logins::by_id(&self.db, id)).await
    }

    async fn logins(&self, uid: &UserId) -> Result<Vec<Login>> {
        compat(logins::active(&self.db, uid)).await
    }

    async fn touch_login(&self, id: &LoginId, now: Millis) -> Result<()> {
        compat(logins::touch(&self.db, id, now)).await
    }

    async fn end_logins(
        &self,
        uid: &UserId,
        which: EndLogins,
        now: Millis,
    ) -> Result<Vec<LoginId>> {
        compat(logins::end(&self.db, uid, which, now)).await
    }

    async fn ended_logins_since(&self, since: Millis) -> Result<Vec<(UserId, LoginId, Millis)>> {
        compat(logins::ended_since(&self.db, since)).await
    }

    async fn record_attempt(&self, key: &str, window: i64) -> Result<u32> {
        compat(attempts::record(&self.db, key, window)).await
    }

    async fn clear_attempts(&self, key: &str) -> Result<()> {
        compat(attempts::clear(&self.db, key)).await
    }

    async fn release_attempt(&self, key: &str, window: i64) -> Result<()> {
        compat(attempts::release(&self.db, key, window)).await
    }

    async fn add_friend(&self, uid: &UserId, fuid: &UserId, _now: Millis) -> Result<bool> {
        compat(users::add_friend(&self.db, uid, fuid)).await
    }

    async fn remove_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool> {
        compat(users::remove_friend(&self.db, uid, fuid)).await
    }

    async fn friends(&self, uid: &UserId) -> Result<Vec<User>> {
        compat(users::friends(&self.db, uid)).await
    }

    async fn is_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool> {
        compat(users::is_friend(&self.db, uid, fuid)).await
    }

    async fn create_session(&self, session: NewSession) -> Result<Session> {
        compat(sessions::create(&self.db, session)).await
    }

    async fn private_session(&self, new: NewSession) -> Result<(Session, bool)> {
        compat(sessions::private(&self.db, new)).await
    }

    async fn session(&self, sid: &SessionId) -> Result<Option<Session>> {
        compat(sessions::by_id(&self.db, sid)).await
    }

    async fn update_session(&self, sid: &SessionId, update: SessionUpdate) -> Result<()> {
        compat(sessions::update(&self.db, sid, update)).await
    }

    async fn members(&self, sid: &SessionId) -> Result<Vec<Member>> {
        compat(sessions::members(&self.db, sid)).await
    }

    async fn is_member(&self, sid: &SessionId, uid: &UserId) -> Result<bool> {
        compat(sessions::is_member(&self.db, sid, uid)).await
    }

    async fn public_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>> {
        compat(sessions::public(&self.db, uid)).await
    }

    async fn joined_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>> {
        compat(sessions::joined(&self.db, uid)).await
    }

    async fn join(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>> {
        compat(messages::join(&self.db, change, online)).await
    }

    async fn leave(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>> {
        compat(messages::leave(&self.db, change, online)).await
    }

    async fn append(&self, message: NewMessage, online: &HashSet<UserId>) -> Result<Message> {
        compat(messages::append(&self.db, message, online)).await
    }

    async fn messages(&self, sid: &SessionId, page: u32, count: u32) -> Result<Vec<Message>> {
        compat(messages::page(&self.db, sid, page, count)).await
    }

    async fn messages_after(
        &self,
        sid: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        compat(messages::after(&self.db, sid, after, limit)).await
    }

    async fn search(&self, search: Search) -> Result<Vec<Message>> {
        compat(search::find(&self.db, &search)).await
    }

    async fn messages_at(&self, sid: &SessionId, seqs: &[i64]) -> Result<Vec<Message>> {
        compat(messages::at_seqs(&self.db, sid, seqs)).await
    }

    async fn mark_read(
        &self,
        sid: &SessionId,
        uid: &UserId,
        upto: Option<i64>,
    ) -> Result<Option<i64>> {
        compat(messages::mark_read(&self.db, sid, uid, upto)).await
    }

    async fn notify(&self, notification: Notification) -> Result<()> {
        compat(notifications::insert(&self.db, notification)).await
    }

    async fn unread_notifications(&self, uid: &UserId) -> Result<i64> {
        compat(notifications::unread(&self.db, uid)).await
    }

    async fn take_notifications(
        &self,
        uid: &UserId,
        page: u32,
        count: u32,
    ) -> Result<Vec<Notification>> {
        compat(notifications::take(&self.db, uid, page, count)).await
    }

    async fn put_file(&self, file: NewFile) -> Result<FileMeta> {
        compat(files::put(&self.db, file)).await
    }

    async fn file_meta(&self, id: &FileId) -> Result<Option<FileMeta>> {
        compat(async { Ok(files::meta(&self.db, id).await?.map(|(meta, _)| meta)) }).await
    }

    async fn file(&self, id: &FileId) -> Result<Option<(FileMeta, Vec<u8>)>> {
        compat(files::get(&self.db, id)).await
    }

    async fn read_file_chunk(
        &self,
        id: &FileId,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>> {
        compat(files::read_chunk(&self.db, id, offset, max_len)).await
    }

    async fn default_avatar(&self, kind: AvatarKind) -> Result<Option<FileId>> {
        compat(files::default_avatar(&self.db, kind)).await
    }

    async fn export(
        &self,
        table: crate::dump::Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::dump::Record>> {
        compat(dump::export(&self.db, table, after, limit)).await
    }

    async fn export_files(&self, after: Option<&FileId>, limit: u32) -> Result<Vec<FileMeta>> {
        compat(dump::export_files(&self.db, after, limit)).await
    }

    async fn import(&self, records: Vec<crate::dump::Record>) -> Result<u64> {
        compat(dump::import(&self.db, records)).await
    }

    async fn flush(&self) -> Result<()> {
        // Every write was acknowledged by the server when it returned; nothing is buffered
        // here.
        Ok(())
    }
}
