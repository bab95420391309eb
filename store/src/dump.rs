//! Moving a whole store into another: `cookim export` writes a store as a dump, `cookim
//! import` writes a dump into a store, so a single node's embedded data can move into the
//! MongoDB of a cluster (or back) with its history, passwords, unread counts and files.
//!
//! A dump is JSON lines: a header line, then one line per record, table by table (files
//! first, then users, sessions, messages, notifications). Records keep everything as stored:
//! ids, `seq` numbers, password hashes, token generations, unread counts, friends' order;
//! file bytes are hex inside their line. Live state (who is online) is not dumped.
//!
//! Logins and attempt counters are not dumped either, on purpose: a login is a device's
//! session with the deployment that issued its tokens, so after a move users sign in again
//! (the new deployment starts with no sessions to revoke); an attempt counter only matters for
//! its few minutes of window. [`Table`] has no table for them, and an import leaves the
//! target's own as they are.
//!
//! Importing skips a record whose id the target already has, so an interrupted import can be
//! run again. A default avatar the target already has keeps the target's copy, and users and
//! groups that pointed at the dump's copy are pointed at the target's.
//!
//! ```
//! # smol::block_on(async {
//! use cookim_store::{Embedded, Store, dump};
//! let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
//! let (from, to) = (Embedded::open(a.path()).await?, Embedded::open(b.path()).await?);
//! let mut bytes = Vec::new();
//! let written = dump::export(&from, &mut bytes).await?;
//! let read = dump::import(&to, bytes.as_slice()).await?;
//! assert_eq!(written.total(), read.written);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{BufRead, Write};

use protocol::ids::FileId;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Error, Result};
use crate::model::*;

/// The dump format this build writes and reads.
pub const FORMAT: u32 = 1;
/// Records asked of a store at a time.
const PAGE: u32 = 500;
/// Files asked of a store at a time (their bytes are held in memory while written).
const FILE_PAGE: u32 = 16;

/// A table of records (files are listed with [`Store::export_files`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Users with their friends.
    Users,
    /// Sessions with their members.
    Sessions,
    /// Messages.
    Messages,
    /// Notifications.
    Notifications,
}

impl Table {
    /// Every table, in the order a dump holds them.
    pub const ALL: [Table; 4] = [
        Table::Users,
        Table::Sessions,
        Table::Messages,
        Table::Notifications,
    ];
}

/// One record of a table, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Record {
    /// A user and their friends, in their order.
    User {
        /// The user.
        user: User,
        /// Friends, oldest first.
        friends: Vec<protocol::ids::UserId>,
    },
    /// A session, its members in join order with their unread counts, and the last `seq` it
    /// handed out.
    Session {
        /// The session.
        session: Session,
        /// Members.
        members: Vec<Member>,
        /// The last message number handed out (0: none).
        last_seq: i64,
    },
    /// A message.
    Message(Message),
    /// A notification.
    Notification(Notification),
}

impl Record {
    /// The record's id, to page after it.
    pub fn id(&self) -> &str {
        match self {
            Record::User { user, .. } => user.id.as_str(),
            Record::Session { session, .. } => session.id.as_str(),
            Record::Message(m) => m.id.as_str(),
            Record::Notification(n) => n.id.as_str(),
        }
    }
}

/// One line of a dump.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Line {
    /// The first line.
    Header {
        /// [`FORMAT`].
        format: u32,
    },
    /// A file with its bytes (hex).
    File {
        /// Metadata.
        meta: FileMeta,
        /// The bytes, lowercase hex.
        bytes: String,
    },
    /// Any other record.
    Record(Record),
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Files.
    pub files: u64,
    /// Users.
    pub users: u64,
    /// Sessions.
    pub sessions: u64,
    /// Messages.
    pub messages: u64,
    /// Notifications.
    pub notifications: u64,
}

impl Exported {
    /// Records of every kind.
    pub fn total(&self) -> u64 {
        self.files + self.users + self.sessions + self.messages + self.notifications
    }

    fn count(&mut self, table: Table) {
        match table {
            Table::Users => self.users += 1,
            Table::Sessions => self.sessions += 1,
            Table::Messages => self.messages += 1,
            Table::Notifications => self.notifications += 1,
        }
    }
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records written.
    pub written: u64,
    /// Records the target already had (same id), left as they were.
    pub skipped: u64,
}

/// Writes every record of `from` to `out` as a dump.
///
/// # Errors
/// As the store's reads; [`Error::Io`] if writing fails.
pub async fn export(from: &dyn Store, out: &mut dyn Write) -> Result<Exported> {
    let mut exported = Exported::default();
    write_line(out, &Line::Header { format: FORMAT })?;
    let mut after: Option<FileId> = None;
    loop {
        let page = from.export_files(after.as_ref(), FILE_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for meta in page {
            let (meta, bytes) = from.file(&meta.id).await?.ok_or_else(|| {
                Error::Corrupt(format!("file {} vanished during export", meta.id))
            })?;
            write_line(
                out,
                &Line::File {
                    meta,
                    bytes: hex::encode(bytes),
                },
            )?;
            exported.files += 1;
        }
    }
    for table in Table::ALL {
        let mut after: Option<String> = None;
        loop {
            let page = from.export(table, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id().to_owned());
            for record in page {
                write_line(out, &Line::Record(record))?;
                exported.count(table);
            }
        }
    }
    out.flush()?;
    Ok(exported)
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(|e| Error::Io(e.into()))?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes the dump read from `input` into `to`.
///
/// # Errors
/// [`Error::Corrupt`] if the input is not a dump of [`FORMAT`] (naming the line);
/// [`Error::Conflict`] if a record clashes with a different one in the target (a login taken
/// by another user); as the store's writes otherwise.
pub async fn import(to: &dyn Store, input: impl BufRead) -> Result<Imported> {
    let mut imported = Imported::default();
    // Default avatars the target already had: the dump's id -> the target's.
    let mut avatars: HashMap<FileId, FileId> = HashMap::new();
    let mut batch: Vec<Record> = Vec::new();
    let mut header = false;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            Error::Corrupt(if header {
                format!("dump line {}: {e}", n + 1)
            } else {
                format!("not a cookim dump: no header line ({e})")
            })
        })?;
        match parsed {
            Line::Header { format } if format == FORMAT => header = true,
            Line::Header { format } => {
                return Err(Error::Corrupt(format!(
                    "dump format {format}; this build reads format {FORMAT}"
                )));
            }
            _ if !header => {
                return Err(Error::Corrupt(
                    "not a cookim dump: no header line".to_owned(),
                ));
            }
            Line::File { meta, bytes } => {
                let bytes = hex::decode(&bytes)
                    .map_err(|e| Error::Corrupt(format!("dump line {}: {e}", n + 1)))?;
                import_file(to, meta, bytes, &mut avatars, &mut imported).await?;
            }
            Line::Record(mut record) => {
                repoint_avatars(&mut record, &avatars);
                let same_table = batch.first().is_none_or(|first| {
                    std::mem::discriminant(first) == std::mem::discriminant(&record)
                });
                if !same_table || batch.len() >= PAGE as usize {
                    flush_batch(to, &mut batch, &mut imported).await?;
                }
                batch.push(record);
            }
        }
    }
    if !header {
        return Err(Error::Corrupt("not a cookim dump: it is empty".to_owned()));
    }
    flush_batch(to, &mut batch, &mut imported).await?;
    Ok(imported)
}

async fn flush_batch(
    to: &dyn Store,
    batch: &mut Vec<Record>,
    imported: &mut Imported,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let total = batch.len() as u64;
    let written = to.import(std::mem::take(batch)).await?;
    imported.written += written;
    imported.skipped += total - written.min(total);
    Ok(())
}

async fn import_file(
    to: &dyn Store,
    meta: FileMeta,
    bytes: Vec<u8>,
    avatars: &mut HashMap<FileId, FileId>,
    imported: &mut Imported,
) -> Result<()> {
    if u64::try_from(bytes.len()).ok() != Some(meta.size) {
        return Err(Error::Corrupt(format!(
            "file {} has {} bytes in the dump, its metadata says {}",
            meta.id,
            bytes.len(),
            meta.size
        )));
    }
    let file = NewFile {
        id: meta.id.clone(),
        file_name: meta.file_name,
        file_type: meta.file_type,
        owner: meta.owner.clone(),
        dateline: meta.dateline,
        bytes,
    };
    match to.put_file(file).await {
        Ok(_) => imported.written += 1,
        Err(Error::Conflict("file")) => imported.skipped += 1,
        Err(Error::Conflict("default avatar")) => {
            let FileOwner::DefaultAvatar(kind) = meta.owner else {
                return Err(Error::Conflict("default avatar"));
            };
            let theirs = to
                .default_avatar(kind)
                .await?
                .ok_or(Error::Conflict("default avatar"))?;
            avatars.insert(meta.id, theirs);
            imported.skipped += 1;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn repoint_avatars(record: &mut Record, avatars: &HashMap<FileId, FileId>) {
    match record {
        Record::User { user, .. } => {
            if let Some(theirs) = avatars.get(&user.avatar) {
                user.avatar = theirs.clone();
            }
        }
        Record::Session { session, .. } => {
            if let Some(icon) = &session.icon
                && let Some(theirs) = avatars.get(icon)
            {
                session.icon = Some(theirs.clone());
            }
        }
        Record::Message(_) | Record::Notification(_) => {}
    }
}
