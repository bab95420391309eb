//! The `sessions` and `members` tables: sessions, membership in join order, chat lists.

use protocol::chat::ChatKind;
use protocol::ids::{FileId, SessionId, UserId};
use rusqlite::{Connection, params};

use super::rows::{self, MESSAGE_COLUMNS, SESSION_COLUMNS, SESSION_WIDTH};
use super::{collect, conflict, first, messages};
use crate::error::{Error, Result};
use crate::model::{
    Member, MembershipChange, Message, NewMessage, NewSession, Session, SessionListing,
    SessionUpdate,
};

pub(super) fn create(conn: &Connection, new: &NewSession) -> Result<Session> {
    insert(conn, new, None)?;
    by_id(conn, &new.id)?.ok_or_else(|| Error::Corrupt(format!("session {} vanished", new.id)))
}

/// Insert-or-ignore on the pair key, then read by it: whichever of two racing calls inserts
/// first wins, and both read the winner (the second insert is a no-op, not an error).
pub(super) fn private(conn: &Connection, new: &NewSession) -> Result<(Session, bool)> {
    let other = new.ouid.as_ref().unwrap_or(&new.createuid);
    let pair = pair_key(&new.createuid, other);
    let created = insert(conn, new, Some(&pair))? == 1;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.pair_key = ?1"
    ))?;
    let session = first(stmt.query([&pair])?, |row| rows::session(row, 0))?
        .ok_or_else(|| Error::Corrupt(format!("private session {pair} vanished")))?;
    Ok((session, created))
}

/// The `pair_key` of a private session: both uids sorted, so (a, b) and (b, a) agree.
pub(super) fn pair_key(a: &UserId, b: &UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// Inserts a session row (`pair`: the private-session key) and returns how many rows it
/// inserted: 0 when a session with that pair key already exists.
fn insert(conn: &Connection, new: &NewSession, pair: Option<&str>) -> Result<usize> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, createuid, ouid, name, icon, session_type, public, \
         last_msgid, last_update, dateline, pair_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?8, ?9) \
         ON CONFLICT (pair_key) DO NOTHING",
    )?
    .execute(params![
        new.id.as_str(),
        new.createuid.as_str(),
        new.ouid.as_ref().map(UserId::as_str),
        new.name,
        new.icon.as_ref().map(FileId::as_str),
        new.session_type.as_i32(),
        new.public,
        new.dateline,
        pair,
    ])
    .map_err(|e| conflict(e, &[("sessions.id", "session")]))
}

pub(super) fn by_id(conn: &Connection, sid: &SessionId) -> Result<Option<Session>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"
    ))?;
    first(stmt.query([sid.as_str()])?, |row| rows::session(row, 0))
}

fn exists(conn: &Connection, sid: &SessionId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
        .exists([sid.as_str()])?)
}

pub(super) fn update(conn: &Connection, sid: &SessionId, update: SessionUpdate) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE sessions SET name = ?2, icon = coalesce(?3, icon), public = ?4 WHERE id = ?1",
        )?
        .execute(params![
            sid.as_str(),
            update.name,
            update.icon.as_ref().map(FileId::as_str),
            update.public,
        ])?;
    if changed == 0 {
        return Err(Error::NotFound("session"));
    }
    Ok(())
}

pub(super) fn members(conn: &Connection, sid: &SessionId) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.uid, {NEW_COUNT}, m.read_seq FROM members m JOIN sessions s \
         ON s.id = m.session_id WHERE m.session_id = ?1 ORDER BY m.ord"
    ))?;
    collect(stmt.query([sid.as_str()])?, |row| {
        Ok(Member {
            uid: rows::id(row, 0)?,
            new_count: row.get(1)?,
            read_seq: row.get(2)?,
        })
    })
}

pub(super) fn is_member(conn: &Connection, sid: &SessionId, uid: &UserId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM members WHERE session_id = ?1 AND uid = ?2")?
        .exists([sid.as_str(), uid.as_str()])?)
}

/// Public groups `uid` is not in.
pub(super) fn public(conn: &Connection, uid: &UserId) -> Result<Vec<SessionListing>> {
    listings(
        conn,
        uid,
        "0",
        "",
        "s.public = 1 AND s.session_type = 1 AND NOT EXISTS \
         (SELECT 1 FROM members m WHERE m.session_id = s.id AND m.uid = ?1)",
    )
}

/// The unread count of member row `m` of session row `s`: the last `seq` minus the read mark.
const NEW_COUNT: &str = "max(0, s.next_seq - 1 - m.read_seq)";

/// Sessions `uid` is in, with `uid`'s unread count.
pub(super) fn joined(conn: &Connection, uid: &UserId) -> Result<Vec<SessionListing>> {
    listings(
        conn,
        uid,
        NEW_COUNT,
        "JOIN members m ON m.session_id = s.id",
        "m.uid = ?1",
    )
}

/// Chat-list rows, newest activity first (ties by id, so the order is total), each with its
/// last message by a `LEFT JOIN` on `last_msgid`. `new_count` is the SQL of the unread count,
/// `join` and `filter` complete the query with `?1` the viewer.
fn listings(
    conn: &Connection,
    uid: &UserId,
    new_count: &str,
    join: &str,
    filter: &str,
) -> Result<Vec<SessionListing>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS}, {new_count}, {MESSAGE_COLUMNS} FROM sessions s {join} \
         LEFT JOIN messages msg ON msg.id = s.last_msgid \
         WHERE {filter} ORDER BY s.last_update DESC, s.id"
    ))?;
    collect(stmt.query([uid.as_str()])?, |row| {
        Ok(SessionListing {
            session: rows::session(row, 0)?,
            new_count: row.get(SESSION_WIDTH)?,
            last_message: rows::optional_message(row, SESSION_WIDTH + 1)?,
        })
    })
}

/// Adds the member (last in join order) and appends the `join` message; `None` if already a
/// member.
pub(super) fn join(
    conn: &Connection,
    change: MembershipChange,
    watching: &str,
) -> Result<Option<Message>> {
    if !exists(conn, &change.session_id)? {
        return Err(Error::NotFound("session"));
    }
    let added = conn
        .prepare_cached(
            "INSERT INTO members (session_id, uid, read_seq, ord) VALUES (?1, ?2, \
             (SELECT next_seq - 1 FROM sessions WHERE id = ?1), \
             (SELECT coalesce(max(ord), 0) + 1 FROM members WHERE session_id = ?1)) \
             ON CONFLICT (session_id, uid) DO NOTHING",
        )?
        .execute([change.session_id.as_str(), change.uid.as_str()])?;
    if added == 0 {
        return Ok(None);
    }
    messages::append(conn, membership_message(change, ChatKind::Join), watching).map(Some)
}

/// Removes the member and appends the `leave` message; `None` if not a member.
pub(super) fn leave(
    conn: &Connection,
    change: MembershipChange,
    watching: &str,
) -> Result<Option<Message>> {
    if !exists(conn, &change.session_id)? {
        return Err(Error::NotFound("session"));
    }
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE session_id = ?1 AND uid = ?2")?
        .execute([change.session_id.as_str(), change.uid.as_str()])?;
    if removed == 0 {
        return Ok(None);
    }
    messages::append(conn, membership_message(change, ChatKind::Leave), watching).map(Some)
}

/// The `join`/`leave` message of a membership change.
fn membership_message(change: MembershipChange, msg_type: ChatKind) -> NewMessage {
    NewMessage {
        id: change.message_id,
        session_id: change.session_id,
        uid: change.uid,
        msg_type,
        content: change.content,
        file_name: String::new(),
        file_type: String::new(),
        fileid: None,
        thumbid: None,
        dateline: change.dateline,
        client_id: None,
        reply_to: None,
    }
}
