//! Persistence behind one `Store` trait: MongoDB for clusters, embedded for one node.
//!
//! Everything durable — users, friends, sessions and their members with read marks,
//! messages, notifications, the `onlines` record, files, logins (one device's signed-in
//! session each, ended on sign-out and polled by every node to refuse their tokens) and the
//! attempt counters of login lockout — goes through [`Store`]. Live state (who is online in
//! which chat) is not stored: callers pass it in where it matters (see [`Store::append`]).
//! The store reads no clock and makes no ids: callers pass both (a login's times, a counter's
//! window), so every backend behaves the same and tests are exact.
//!
//! The embedded backend ([`Embedded`]) is SQLite (bundled, WAL), with file bytes under the
//! data directory, stored once per distinct content; its blocking calls run on `blocking`'s thread pool, never on the executor.
//! `tests/support/contract/` is the one suite every backend must pass; `tests/contract.rs`
//! runs it on [`Embedded`], `tests/mongo.rs` on [`Mongo`] against the MongoDB-wire server at
//! `MONGO_URI`.
//!
//! # Layout
//! - [`model`]: the records of the spec's data model as typed Rust, and logins.
//! - [`embedded`]: the SQLite backend.
//! - [`mongo`]: the MongoDB backend ([`Mongo`]), for clusters.
//! - [`dump`]: export and import of a whole store (moving a node's data into MongoDB); logins
//!   and attempt counters stay behind.
//! - [`error`]: the crate's error enum.
//!
//! # Example
//! ```
//! # smol::block_on(async {
//! use cookim_store::{Embedded, Store};
//! let dir = tempfile::tempdir()?;
//! let store = Embedded::open(dir.path()).await?;
//! assert!(store.user_by_login("nobody@example.com").await?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dump;
pub mod embedded;
pub mod error;
pub mod model;
pub mod mongo;

use std::collections::HashSet;

use async_trait::async_trait;
use protocol::ids::{FileId, LoginId, SessionId, UserId};

pub use embedded::Embedded;
pub use error::{Error, Result};
use model::*;
pub use mongo::Mongo;

/// The operations cookim needs from a database. Every method is atomic on its own; methods
/// that check a precondition do so in the same transaction or conditional update as the write,
/// so concurrent callers (and, with MongoDB, other nodes) cannot break it.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    // ---- users -------------------------------------------------------------------------

    /// Inserts a user.
    ///
    /// # Errors
    /// [`Error::Conflict`] if the login is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    /// The user with this id.
    async fn user(&self, uid: &UserId) -> Result<Option<User>>;
    /// The users with these ids that exist, in no particular order.
    async fn users(&self, uids: &[UserId]) -> Result<Vec<User>>;
    /// The user with this exact login.
    async fn user_by_login(&self, login: &str) -> Result<Option<User>>;
    /// Users whose nickname equals `nickname` exactly, at most `limit`, oldest first.
    async fn users_by_nickname(&self, nickname: &str, limit: usize) -> Result<Vec<User>>;
    /// A successful login or registration: `loginCount` +1, then as [`Store::touch`].
    ///
    /// # Errors
    /// [`Error::NotFound`] if the user does not exist.
    async fn record_login(&self, uid: &UserId, now: Millis) -> Result<()>;
    /// A token was issued: `lastLogin` = now and the `onlines` row refreshed.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the user does not exist.
    async fn touch(&self, uid: &UserId, now: Millis) -> Result<()>;
    /// Logout: deletes the `onlines` row and bumps the token generation (revoking tokens).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the user does not exist.
    async fn logout(&self, uid: &UserId) -> Result<()>;
    /// Users with an `onlines` row written at or after `since`.
    async fn recently_active(&self, since: Millis) -> Result<Vec<UserId>>;
    /// Applies a profile change.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the user does not exist.
    async fn update_profile(&self, uid: &UserId, update: ProfileUpdate) -> Result<()>;
    /// Replaces the password hash if the stored one still equals `expected_hash` (so two
    /// concurrent changes cannot both win) and bumps the token generation. Returns whether it
    /// was replaced.
    async fn replace_password(
        &self,
        uid: &UserId,
        expected_hash: &str,
        new_hash: &str,
    ) -> Result<bool>;

    // ---- logins (device sessions) ------------------------------------------------------

    /// Inserts a login, last seen when it was created.
    ///
    /// # Errors
    /// [`Error::Conflict`] (`"login id"`) if the id is taken; nothing was written.
    async fn create_login(&self, login: NewLogin) -> Result<Login>;
    /// The login with this id, ended or not.
    ///
    /// # Errors
    /// Only the backend's own failures ([`Error::Unavailable`], …), as every method.
    async fn login(&self, id: &LoginId) -> Result<Option<Login>>;
    /// `uid`'s logins that are not ended, most recently seen first (ties by id), at most
    /// [`LOGINS_LISTED`].
    ///
    /// # Errors
    /// Only the backend's own failures.
    async fn logins(&self, uid: &UserId) -> Result<Vec<Login>>;
    /// The login was used at `now`: its `last_seen` becomes `now` if that is later. A login
    /// that is missing or ended is left as it is, without an error (a token outliving its
    /// login is the caller's check, not a store failure).
    ///
    /// # Errors
    /// Only the backend's own failures.
    async fn touch_login(&self, id: &LoginId, now: Millis) -> Result<()>;
    /// Ends `which` of `uid`'s logins that are not ended yet, `ended` = `now`, and returns the
    /// ids this call ended, in id order. Only `uid`'s logins are touched: `One` naming another
    /// user's login, or one already ended, ends nothing. Of two concurrent calls, each login
    /// is reported by the one that ended it.
    ///
    /// # Errors
    /// Only the backend's own failures; on one, some of the logins may have been ended
    /// (MongoDB ends them one by one), and calling again ends the rest.
    async fn end_logins(&self, uid: &UserId, which: EndLogins, now: Millis)
    -> Result<Vec<LoginId>>;
    /// Every login ended at or after `since`, as `(user, login, ended)`, oldest first (ties by
    /// id), at most [`ENDED_LOGINS_LISTED`]: how nodes learn which tokens to refuse. Served by
    /// an index, as nodes poll it often; when the answer is full, poll again from its last
    /// `ended`.
    ///
    /// # Errors
    /// Only the backend's own failures.
    async fn ended_logins_since(&self, since: Millis) -> Result<Vec<(UserId, LoginId, Millis)>>;

    // ---- attempt counters (login lockout) -----------------------------------------------

    /// Adds 1 to the counter of `(key, window)` and returns its new value; atomic across
    /// concurrent callers and nodes, so `n` concurrent calls on a new pair return exactly
    /// `1..=n`. `window` is the caller's fixed-window number (say `now / window_length`);
    /// counters of `key` for windows before `window - 1` may be deleted by the call, so the
    /// current and the previous window are what stays. `key` is the caller's, at most a few
    /// hundred bytes (the caller caps it).
    ///
    /// # Errors
    /// Only the backend's own failures; then the count may or may not have moved.
    async fn record_attempt(&self, key: &str, window: i64) -> Result<u32>;
    /// Deletes every counter of `key` (a successful login clears its failures).
    ///
    /// # Errors
    /// Only the backend's own failures.
    async fn clear_attempts(&self, key: &str) -> Result<()>;
    /// Takes back one attempt of `(key, window)` (an attempt that turned out not to count,
    /// like a login that succeeded); never below 0, and nothing if there is no counter.
    ///
    /// # Errors
    /// Only the backend's own failures.
    async fn release_attempt(&self, key: &str, window: i64) -> Result<()>;

    // ---- friends (one-way) --------------------------------------------------------------

    /// Adds `fuid` to `uid`'s friends; false if already there. Callers check both exist.
    async fn add_friend(&self, uid: &UserId, fuid: &UserId, now: Millis) -> Result<bool>;
    /// Removes `fuid` from `uid`'s friends; false if it was not there.
    async fn remove_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool>;
    /// `uid`'s friends that still exist, in the order they were added.
    async fn friends(&self, uid: &UserId) -> Result<Vec<User>>;
    /// Whether `fuid` is among `uid`'s friends.
    async fn is_friend(&self, uid: &UserId, fuid: &UserId) -> Result<bool>;

    // ---- sessions -----------------------------------------------------------------------

    /// Inserts a group session (no members yet).
    ///
    /// # Errors
    /// [`Error::Conflict`] if the id is taken.
    async fn create_session(&self, session: NewSession) -> Result<Session>;
    /// The private session between `a` and `b` (either order), created from `new` if there is
    /// none. A unique key on the pair makes two simultaneous first calls agree. Returns the
    /// session and whether it was created. Members are not added here. The pair is
    /// `new.createuid` and `new.ouid` (`None` reads as `createuid` itself).
    async fn private_session(&self, new: NewSession) -> Result<(Session, bool)>;
    /// The session with this id.
    async fn session(&self, sid: &SessionId) -> Result<Option<Session>>;
    /// Applies a group's settings.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the session does not exist.
    async fn update_session(&self, sid: &SessionId, update: SessionUpdate) -> Result<()>;
    /// Members of a session in join order.
    async fn members(&self, sid: &SessionId) -> Result<Vec<Member>>;
    /// Whether `uid` is a member of `sid`.
    async fn is_member(&self, sid: &SessionId, uid: &UserId) -> Result<bool>;
    /// Public group sessions `uid` has not joined, newest activity first, with their last
    /// message.
    async fn public_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>>;
    /// Sessions `uid` has joined, newest activity first, with `uid`'s unread count and the
    /// last message.
    async fn joined_sessions(&self, uid: &UserId) -> Result<Vec<SessionListing>>;

    /// Adds `change.uid` to the session and persists the `join` message, as one atomic step
    /// that also moves the session's `lastUpdate` and the read marks of members in `online`.
    /// The newcomer's mark starts just before the join message (which is unread for them
    /// unless they are in `online`). Returns `None` (and writes nothing) if already a member.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the session does not exist.
    async fn join(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>>;
    /// Removes a member and persists the `leave` message, atomically; `None` if not a member.
    async fn leave(
        &self,
        change: MembershipChange,
        online: &HashSet<UserId>,
    ) -> Result<Option<Message>>;

    // ---- messages -----------------------------------------------------------------------

    /// Persists a message: assigns the next `seq` of its session, sets the session's
    /// `lastMsgid`/`lastUpdate`, and moves the read mark of every member in `online` (watching
    /// the chat) to the message, so it is unread only for the others. If the message has a `client_id` already used by the same sender in the same
    /// session, nothing is written and the first message is returned.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the session does not exist.
    async fn append(&self, message: NewMessage, online: &HashSet<UserId>) -> Result<Message>;
    /// One page of history, oldest first: the session's messages newest first, skipping
    /// `(page - 1) * count`, taking `count`, then reversed. `page` and `count` start at 1.
    async fn messages(&self, sid: &SessionId, page: u32, count: u32) -> Result<Vec<Message>>;
    /// The messages of `sid` with these `seq`s that exist, in `seq` order: what the replies
    /// of a page answer (callers pass a page's worth, not more).
    async fn messages_at(&self, sid: &SessionId, seqs: &[i64]) -> Result<Vec<Message>>;
    /// Messages with `seq > after`, oldest first, at most `limit` (resume after a reconnect).
    async fn messages_after(&self, sid: &SessionId, after: i64, limit: u32)
    -> Result<Vec<Message>>;
    /// Text messages (by their content) and files (by their name) matching `search`, newest
    /// first (ties by id), only from chats `search.uid` is a member of. Each of the query's
    /// terms must begin one of the message's terms (`protocol::search`).
    async fn search(&self, search: Search) -> Result<Vec<Message>>;
    /// Moves `uid`'s read mark in `sid` forward to `upto` (`None`: the chat's last message),
    /// never past the last message and never back. Returns the mark after the call, or `None`
    /// if `uid` is not a member (or there is no such session).
    async fn mark_read(
        &self,
        sid: &SessionId,
        uid: &UserId,
        upto: Option<i64>,
    ) -> Result<Option<i64>>;

    // ---- notifications ------------------------------------------------------------------

    /// Inserts a notification.
    ///
    /// # Errors
    /// [`Error::Conflict`] if the id is taken.
    async fn notify(&self, notification: Notification) -> Result<()>;
    /// How many of `uid`'s notifications are unread.
    async fn unread_notifications(&self, uid: &UserId) -> Result<i64>;
    /// One page of `uid`'s notifications, newest first, returned as they were and then
    /// marked read.
    async fn take_notifications(
        &self,
        uid: &UserId,
        page: u32,
        count: u32,
    ) -> Result<Vec<Notification>>;

    // ---- files --------------------------------------------------------------------------

    /// Stores a file; once this returns, the whole file is durable and readable. A file owned
    /// by [`FileOwner::DefaultAvatar`] becomes that kind's [`Store::default_avatar`].
    ///
    /// Every call makes a new file with its own id, name, type and owner, but a backend keeps
    /// identical bytes once (the embedded store addresses them by SHA-256), so the same
    /// picture sent to ten chats costs its size once.
    ///
    /// # Errors
    /// [`Error::Conflict`] if the id is taken or that default avatar is already seeded.
    async fn put_file(&self, file: NewFile) -> Result<FileMeta>;
    /// A file's metadata.
    async fn file_meta(&self, id: &FileId) -> Result<Option<FileMeta>>;
    /// A file's metadata and all its bytes, in memory: for small files (avatars, pictures to
    /// combine). Serving a file goes through [`Store::read_file_chunk`] instead.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file has metadata but its bytes are missing or not as long as
    /// its metadata says.
    async fn file(&self, id: &FileId) -> Result<Option<(FileMeta, Vec<u8>)>>;
    /// Up to `max_len` bytes of a file, starting `offset` bytes in: how a file is streamed
    /// (64 KiB at a time, say) or an HTTP Range served, without holding the whole file in
    /// memory.
    ///
    /// Returns `None` if there is no such file, else exactly
    /// `min(max_len, size - offset)` bytes: fewer than `max_len` only at the end of the file,
    /// and an empty `Vec` once `offset` is at or past the end (or `max_len` is 0). A file's
    /// bytes never change after [`Store::put_file`], so the chunks of one file always fit
    /// together, and a backend allocates at most `max_len` bytes however large the file.
    /// Get the size from [`Store::file_meta`] first to plan ranges and `Content-Length`.
    ///
    /// ```
    /// # smol::block_on(async {
    /// # use cookim_store::{Embedded, Store, model::*};
    /// # use protocol::ids::{FileId, UserId};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Embedded::open(dir.path()).await?;
    /// # let id = FileId::from_random([7; FileId::RANDOM_BYTES]);
    /// # let owner = FileOwner::User(UserId::from_random([1; UserId::RANDOM_BYTES]));
    /// # let new = NewFile { id: id.clone(), file_name: "a.txt".into(), file_type: "text/plain".into(),
    /// #     owner, dateline: 0, bytes: b"hello, world".to_vec() };
    /// store.put_file(new).await?;
    /// let mut body = Vec::new();
    /// while let Some(chunk) = store.read_file_chunk(&id, body.len() as u64, 5).await? {
    ///     if chunk.is_empty() {
    ///         break; // the end
    ///     }
    ///     body.extend(chunk);
    /// }
    /// assert_eq!(body, b"hello, world");
    /// assert_eq!(store.read_file_chunk(&id, 7, 100).await?, Some(b"world".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file has metadata but its bytes are missing or end before its
    /// metadata says.
    async fn read_file_chunk(
        &self,
        id: &FileId,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>>;
    /// The stored default avatar of this kind, if seeded.
    async fn default_avatar(&self, kind: AvatarKind) -> Result<Option<FileId>>;

    // ---- export and import (see [`dump`]) -------------------------------------------

    /// Up to `limit` records of `table` with ids greater than `after`, in id order.
    async fn export(
        &self,
        table: dump::Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<dump::Record>>;
    /// Up to `limit` files' metadata with ids greater than `after`, in id order.
    async fn export_files(&self, after: Option<&FileId>, limit: u32) -> Result<Vec<FileMeta>>;
    /// Writes records exactly as exported (ids, `seq` numbers, password hashes, unread
    /// counts kept), skipping any whose id the store already has; returns how many it wrote.
    ///
    /// # Errors
    /// [`Error::Conflict`] if a record clashes with another one (a login taken by another
    /// user).
    async fn import(&self, records: Vec<dump::Record>) -> Result<u64>;

    // ---- lifecycle ----------------------------------------------------------------------

    /// Makes everything written so far durable and releases what can be released (graceful
    /// shutdown). The store stays usable.
    async fn flush(&self) -> Result<()>;
}
