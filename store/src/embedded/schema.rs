//! The SQLite schema as numbered migration steps, and the runner that applies them.
//!
//! `PRAGMA user_version` records how many steps a database has had. Step `i` (0-based) takes it
//! from version `i` to `i + 1`. Steps are only ever appended: a released step is never edited,
//! because databases in the field already ran it. Version 8 is added by appending a step to
//! [`MIGRATIONS`].

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::legacy;
use crate::error::{Error, Result};

/// Every migration step, oldest first.
pub(super) const MIGRATIONS: &[Step] = &[
    Step::Sql(V1),
    Step::Code(v2),
    Step::Sql(V3),
    Step::Sql(V4),
    Step::Code(v5),
    Step::Sql(V6),
    Step::Sql(V7),
];

/// The first version whose file bytes live in `blobs/`: from it on, version 1's `files/`
/// directory is a leftover.
pub(super) const BLOBS_VERSION: usize = 2;

/// One migration step.
#[derive(Clone, Copy)]
pub(super) enum Step {
    /// A batch of SQL.
    Sql(&'static str),
    /// Code, for a step that must touch the data directory (given) as well as the database.
    /// It runs inside the step's transaction; whatever it does to files must be harmless if
    /// that transaction rolls back.
    Code(fn(&Transaction<'_>, &Path) -> Result<()>),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Sql(sql) => f.debug_tuple("Sql").field(sql).finish(),
            Step::Code(_) => f.write_str("Code(..)"),
        }
    }
}

/// Version 1: the initial schema (§11 of the spec, one table per collection plus `members`
/// and `friends` for what MongoDB keeps in arrays).
///
/// `STRICT` tables make SQLite refuse a value of the wrong type instead of storing it. Ids are
/// the 24/32-hex strings of `protocol::ids`. Foreign keys are declared only where the store
/// itself checks the referenced row in the same transaction (so they never fire in normal use
/// and only guard against bugs): a MongoDB backend cannot enforce more, and both must accept
/// the same calls.
const V1: &str = "
CREATE TABLE users (
    id               TEXT    PRIMARY KEY NOT NULL,
    login            TEXT    NOT NULL UNIQUE,
    nickname         TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    gender           INTEGER NOT NULL,
    avatar           TEXT    NOT NULL,
    last_login       INTEGER NOT NULL,
    login_count      INTEGER NOT NULL,
    dateline         INTEGER NOT NULL,
    token_generation INTEGER NOT NULL
) STRICT;
CREATE INDEX users_nickname ON users (nickname, dateline, id);

CREATE TABLE onlines (
    uid      TEXT    PRIMARY KEY NOT NULL REFERENCES users (id),
    dateline INTEGER NOT NULL
) STRICT;
CREATE INDEX onlines_dateline ON onlines (dateline);

-- ord: position in the user's list. Not rowid: VACUUM may renumber rowids.
CREATE TABLE friends (
    uid      TEXT    NOT NULL,
    fuid     TEXT    NOT NULL,
    dateline INTEGER NOT NULL,
    ord      INTEGER NOT NULL,
    PRIMARY KEY (uid, fuid)
) STRICT;
CREATE INDEX friends_order ON friends (uid, ord);

-- next_seq: the seq the next message gets, so appends never scan messages.
-- pair_key: private sessions only, the two uids sorted and joined; UNIQUE makes two
-- simultaneous first calls of private_session agree (NULLs never conflict).
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY NOT NULL,
    createuid    TEXT    NOT NULL,
    ouid         TEXT,
    name         TEXT    NOT NULL,
    icon         TEXT,
    session_type INTEGER NOT NULL,
    public       INTEGER NOT NULL,
    last_msgid   TEXT,
    last_update  INTEGER NOT NULL,
    dateline     INTEGER NOT NULL,
    next_seq     INTEGER NOT NULL DEFAULT 1,
    pair_key     TEXT    UNIQUE
) STRICT;
CREATE INDEX sessions_listing ON sessions (public, session_type, last_update DESC, id);

CREATE TABLE members (
    session_id TEXT    NOT NULL REFERENCES sessions (id),
    uid        TEXT    NOT NULL,
    new_count  INTEGER NOT NULL DEFAULT 0,
    ord        INTEGER NOT NULL,
    PRIMARY KEY (session_id, uid)
) STRICT;
CREATE INDEX members_uid ON members (uid);
CREATE INDEX members_order ON members (session_id, ord);

CREATE TABLE messages (
    id         TEXT    PRIMARY KEY NOT NULL,
    session_id TEXT    NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL,
    uid        TEXT    NOT NULL,
    msg_type   TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    file_name  TEXT    NOT NULL,
    file_type  TEXT    NOT NULL,
    fileid     TEXT,
    thumbid    TEXT,
    dateline   INTEGER NOT NULL,
    client_id  TEXT
) STRICT;
-- Serves history paging and resume (named so a test can check the query plan uses it).
CREATE UNIQUE INDEX messages_seq ON messages (session_id, seq);
-- Idempotent retries; rows without a client id never conflict (NULLs are distinct).
CREATE UNIQUE INDEX messages_client ON messages (session_id, uid, client_id);

CREATE TABLE notifications (
    id          TEXT    PRIMARY KEY NOT NULL,
    notice_type TEXT    NOT NULL,
    senduid     TEXT    NOT NULL,
    recvuid     TEXT    NOT NULL,
    session_id  TEXT,
    is_read     INTEGER NOT NULL,
    dateline    INTEGER NOT NULL
) STRICT;
CREATE INDEX notifications_recv ON notifications (recvuid, dateline DESC, id DESC);

-- Exactly one owner: an uploader or a default-avatar kind (at most one file per kind).
CREATE TABLE files (
    id             TEXT    PRIMARY KEY NOT NULL,
    file_name      TEXT    NOT NULL,
    file_type      TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    owner_uid      TEXT,
    default_avatar TEXT    UNIQUE,
    dateline       INTEGER NOT NULL,
    CHECK ((owner_uid IS NULL) <> (default_avatar IS NULL))
) STRICT;
";

/// Version 2: file bytes are content-addressed, stored once per distinct content.
///
/// `blobs` has one row per blob file under `<data dir>/blobs/`, inserted only once the file is
/// complete on disk; a row is what makes a blob file trusted (one without a row is crash debris
/// and gets overwritten). No reference count: nothing deletes files yet, and when something
/// does, `files_blob` counts a blob's references exactly, where a stored counter could drift.
///
/// `files.blob` is `NULL` only for a version-1 row whose bytes were already missing when this
/// step ran: reading it stays an error, as it was, instead of the whole store failing to open.
/// (A column added by `ALTER TABLE` cannot be `NOT NULL` without a default; the check that new
/// rows always have a blob is `files::put`.)
const V2: &str = "
CREATE TABLE blobs (
    hash TEXT    PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

ALTER TABLE files ADD COLUMN blob TEXT REFERENCES blobs (hash);
CREATE INDEX files_blob ON files (blob);
";

/// Step 2: [`V2`], then version 1's files moved into blobs (`legacy::move_into_blobs`).
fn v2(tx: &Transaction<'_>, data_dir: &Path) -> Result<()> {
    tx.execute_batch(V2)?;
    legacy::move_into_blobs(tx, data_dir)
}

/// Version 3: logins (one device's signed-in session each) and the attempt counters of login
/// lockout. New tables only, so the step is the same on a new database and on one with data.
///
/// `logins.ended` is `NULL` while the login is in use. `logins_active` is partial (only logins
/// in use): it serves a user's device list in `last_seen` order and "end all of a user's
/// logins" without walking the ended ones, which pile up. `logins_ended` serves the poll for
/// ended logins (its `ended >= ?` implies `ended IS NOT NULL`, which SQLite needs to use a
/// partial index).
///
/// `attempts` holds one counter per (key, fixed window); `WITHOUT ROWID` since the key is the
/// primary key and rows are tiny. Columns are not called `key` and `window`: both are SQL
/// keywords.
const V3: &str = "
CREATE TABLE logins (
    id        TEXT    PRIMARY KEY NOT NULL,
    uid       TEXT    NOT NULL,
    device    TEXT    NOT NULL,
    created   INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    ended     INTEGER
) STRICT;
CREATE INDEX logins_active ON logins (uid, last_seen DESC, id) WHERE ended IS NULL;
CREATE INDEX logins_ended ON logins (ended, id) WHERE ended IS NOT NULL;

CREATE TABLE attempts (
    counter_key TEXT    NOT NULL,
    time_window INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (counter_key, time_window)
) STRICT, WITHOUT ROWID;
";

/// Version 4: read marks replace unread counters. A member's `read_seq` is the last `seq` they
/// have read; their unread count is the session's last `seq` (`next_seq - 1`) minus it, so a
/// message writes no member row (it wrote one per member not watching). Each member's mark
/// is set so that their count stays what it was.
const V4: &str = "
ALTER TABLE members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
UPDATE members SET read_seq = max(0, (SELECT s.next_seq - 1 FROM sessions s
    WHERE s.id = members.session_id) - new_count);
ALTER TABLE members DROP COLUMN new_count;
";

/// Version 5: message search, an FTS5 index of every text's and file name's terms (see
/// `search`), filled from the messages already stored.
fn v5(tx: &Transaction<'_>, _data_dir: &Path) -> Result<()> {
    super::search::create_and_fill(tx)
}

/// Version 6: a user may hide their read receipts.
const V6: &str = "ALTER TABLE users ADD COLUMN hide_receipts INTEGER NOT NULL DEFAULT 0;";

/// Version 7: replies: the `seq` of the message a message answers.
const V7: &str = "ALTER TABLE messages ADD COLUMN reply_to INTEGER;";

/// Brings the database in `data_dir` up to `steps.len()`, one transaction per step, and
/// returns the version it ended at.
///
/// Each step re-reads the version inside its own `BEGIN IMMEDIATE` transaction, so two
/// processes opening the same database at once cannot run a step twice; a step that fails
/// rolls back whole, leaving the previous version intact.
///
/// # Errors
/// [`Error::Corrupt`] if the database is newer than `steps` (written by a later build);
/// [`Error::Sqlite`] if a step fails.
pub(super) fn migrate(conn: &mut Connection, data_dir: &Path, steps: &[Step]) -> Result<usize> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        if version > steps.len() {
            return Err(Error::Corrupt(format!(
                "database schema version {version} is newer than this build knows ({})",
                steps.len()
            )));
        }
        let Some(step) = steps.get(version) else {
            return Ok(version);
        };
        match step {
            Step::Sql(sql) => tx.execute_batch(sql)?,
            Step::Code(run) => run(&tx, data_dir)?,
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "embedded store schema migrated");
    }
}

/// The schema version recorded in the database (0 for a new file).
pub(super) fn user_version(conn: &Connection) -> Result<usize> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    usize::try_from(version)
        .map_err(|_| Error::Corrupt(format!("negative schema version {version}")))
}
