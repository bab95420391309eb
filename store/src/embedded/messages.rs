//! The `messages` table and read marks (the unread counts of §10.2 follow from them).

use std::collections::HashSet;

use protocol::ids::{FileId, SessionId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, MESSAGE_COLUMNS};
use super::search;
use super::{collect, conflict, first};
use crate::error::{Error, Result};
use crate::model::{Message, NewMessage};

/// The members watching a chat, as the JSON array [`append`] takes. Ids are hex, so the array
/// needs no escaping; built before the blocking call (one string instead of a copied set).
pub(super) fn watching(online: &HashSet<UserId>) -> String {
    let mut out = String::with_capacity(2 + online.len() * (UserId::RANDOM_BYTES * 2 + 3));
    out.push('[');
    for (i, uid) in online.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(uid.as_str());
        out.push('"');
    }
    out.push(']');
    out
}

/// Persists a message: dedup by client id, take the session's `next_seq`, insert, move the
/// session's `last_msgid`/`last_update`, move the read marks of the members in `watching` (a
/// JSON array of ids, see [`watching`]) to it. The caller's `BEGIN IMMEDIATE` transaction makes
/// reading and bumping `next_seq` one step, so concurrent appends get distinct, gap-free
/// numbers.
pub(super) fn append(conn: &Connection, new: NewMessage, watching: &str) -> Result<Message> {
    let seq: i64 = conn
        .prepare_cached("SELECT next_seq FROM sessions WHERE id = ?1")?
        .query_row([new.session_id.as_str()], |row| row.get(0))
        .optional()?
        .ok_or(Error::NotFound("session"))?;
    if let Some(client_id) = &new.client_id
        && let Some(earlier) = by_client_id(conn, &new.session_id, &new.uid, client_id)?
    {
        return Ok(earlier);
    }
    conn.prepare_cached(
        "UPDATE sessions SET next_seq = next_seq + 1, last_msgid = ?2, last_update = ?3 \
         WHERE id = ?1",
    )?
    .execute(params![
        new.session_id.as_str(),
        new.id.as_str(),
        new.dateline
    ])?;
    let message = Message {
        id: new.id,
        session_id: new.session_id,
        seq,
        uid: new.uid,
        msg_type: new.msg_type,
        content: new.content,
        file_name: new.file_name,
        file_type: new.file_type,
        fileid: new.fileid,
        thumbid: new.thumbid,
        dateline: new.dateline,
        client_id: new.client_id,
        reply_to: new.reply_to,
    };
    insert(conn, &message, Taken::Fail)?;
    // Members watching the chat have read it (one statement however many; none when nobody
    // watches). Everyone else's count grows by itself: it is the last seq minus their mark.
    if watching != "[]" {
        conn.prepare_cached(
            "UPDATE members SET read_seq = ?2 WHERE session_id = ?1 AND read_seq < ?2 \
             AND uid IN (SELECT value FROM json_each(?3))",
        )?
        .execute(params![message.session_id.as_str(), seq, watching])?;
    }
    Ok(message)
}

/// Whether an insert of a message whose id is taken fails or is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// [`Error::Conflict`] (`"message"`): a new message never reuses an id.
    Fail,
    /// Nothing is written (an import that ran before).
    Skip,
}

/// Inserts a numbered message and indexes its words for search; how many rows it wrote (0
/// for a skipped id).
pub(super) fn insert(conn: &Connection, m: &Message, taken: Taken) -> Result<usize> {
    let sql = match taken {
        Taken::Fail => INSERT,
        Taken::Skip => INSERT_OR_SKIP,
    };
    let added = conn
        .prepare_cached(sql)?
        .execute(params![
            m.id.as_str(),
            m.session_id.as_str(),
            m.seq,
            m.uid.as_str(),
            m.msg_type.as_str(),
            m.content,
            m.file_name,
            m.file_type,
            m.fileid.as_ref().map(FileId::as_str),
            m.thumbid.as_ref().map(FileId::as_str),
            m.dateline,
            m.client_id,
            m.reply_to,
        ])
        .map_err(|e| {
            conflict(
                e,
                &[
                    ("messages.id", "message"),
                    ("messages.session_id", "message seq"),
                ],
            )
        })?;
    if added == 1
        && let Some(text) = search::searchable(m.msg_type.as_str(), &m.content, &m.file_name)
    {
        search::index(conn, conn.last_insert_rowid(), text)?;
    }
    Ok(added)
}

const INSERT: &str = "INSERT INTO messages (id, session_id, seq, uid, msg_type, content, \
     file_name, file_type, fileid, thumbid, dateline, client_id, reply_to) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

const INSERT_OR_SKIP: &str = "INSERT INTO messages (id, session_id, seq, uid, msg_type, \
     content, file_name, file_type, fileid, thumbid, dateline, client_id, reply_to) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (id) DO NOTHING";

/// The messages of `sid` with these seqs, in seq order (those that exist).
pub(super) fn at_seqs(conn: &Connection, sid: &SessionId, seqs: &[i64]) -> Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages msg WHERE msg.session_id = ?1 \
         AND msg.seq IN (SELECT value FROM json_each(?2)) ORDER BY msg.seq"
    ))?;
    let list = serde_json::to_string(seqs).unwrap_or_else(|_| "[]".to_owned());
    collect(stmt.query(params![sid.as_str(), list])?, |row| {
        rows::message(row, 0)
    })
}

fn by_client_id(
    conn: &Connection,
    sid: &SessionId,
    uid: &UserId,
    client_id: &str,
) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages msg \
         WHERE msg.session_id = ?1 AND msg.uid = ?2 AND msg.client_id = ?3"
    ))?;
    first(
        stmt.query(params![sid.as_str(), uid.as_str(), client_id])?,
        |row| rows::message(row, 0),
    )
}

/// The SQL of [`page`] (a function so the index test can check its plan).
pub(super) fn page_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages msg WHERE msg.session_id = ?1 \
         ORDER BY msg.seq DESC LIMIT ?2 OFFSET ?3"
    )
}

/// Newest first through the `(session_id, seq)` index, then reversed to oldest first.
pub(super) fn page(
    conn: &Connection,
    sid: &SessionId,
    limit: i64,
    offset: i64,
) -> Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&page_sql())?;
    let mut page = collect(stmt.query(params![sid.as_str(), limit, offset])?, |row| {
        rows::message(row, 0)
    })?;
    page.reverse();
    Ok(page)
}

pub(super) fn after(
    conn: &Connection,
    sid: &SessionId,
    after: i64,
    limit: u32,
) -> Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages msg \
         WHERE msg.session_id = ?1 AND msg.seq > ?2 ORDER BY msg.seq LIMIT ?3"
    ))?;
    collect(stmt.query(params![sid.as_str(), after, limit])?, |row| {
        rows::message(row, 0)
    })
}

/// Moves a member's read mark forward to `upto` (the last message if `None`), never past the
/// last message; the mark after, `None` if not a member.
pub(super) fn mark_read(
    conn: &Connection,
    sid: &SessionId,
    uid: &UserId,
    upto: Option<i64>,
) -> Result<Option<i64>> {
    conn.prepare_cached(
        "UPDATE members SET read_seq = min(coalesce(?3, s.next_seq - 1), s.next_seq - 1) \
         FROM sessions s WHERE s.id = members.session_id AND members.session_id = ?1 \
         AND members.uid = ?2 AND members.read_seq < min(coalesce(?3, s.next_seq - 1), s.next_seq - 1)",
    )?
    .execute(params![sid.as_str(), uid.as_str(), upto])?;
    Ok(conn
        .prepare_cached("SELECT read_seq FROM members WHERE session_id = ?1 AND uid = ?2")?
        .query_row([sid.as_str(), uid.as_str()], |row| row.get(0))
        .optional()?)
}
