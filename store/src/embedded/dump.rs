//! Export and import of whole tables (see [`crate::dump`]).
//!
//! Everything here blocks; callers run it inside `blocking::unblock`, in one transaction.

use protocol::ids::{FileId, UserId};
use rusqlite::{Connection, params};

use super::messages::{self, Taken};
use super::rows::{
    self, FILE_COLUMNS, MESSAGE_COLUMNS, NOTIFICATION_COLUMNS, SESSION_COLUMNS, SESSION_WIDTH,
    USER_COLUMNS,
};
use super::{collect, conflict, sessions};
use crate::dump::{Record, Table};
use crate::error::Result;
use crate::model::*;

/// A page of `table` after `after` (ids are lowercase hex: byte order is id order).
pub(super) fn export(
    conn: &Connection,
    table: Table,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Record>> {
    let after = after.unwrap_or("");
    match table {
        Table::Users => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT ?2"
            ))?;
            let users = collect(stmt.query(params![after, limit])?, |row| rows::user(row, 0))?;
            let mut friends =
                conn.prepare_cached("SELECT fuid FROM friends WHERE uid = ?1 ORDER BY ord")?;
            users
                .into_iter()
                .map(|user| {
                    let list = collect(friends.query([user.id.as_str()])?, |row| {
                        rows::id::<UserId>(row, 0)
                    })?;
                    Ok(Record::User {
                        user,
                        friends: list,
                    })
                })
                .collect()
        }
        Table::Sessions => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS}, s.next_seq FROM sessions s WHERE s.id > ?1 \
                 ORDER BY s.id LIMIT ?2"
            ))?;
            let found = collect(stmt.query(params![after, limit])?, |row| {
                Ok((rows::session(row, 0)?, row.get::<_, i64>(SESSION_WIDTH)?))
            })?;
            found
                .into_iter()
                .map(|(session, next_seq)| {
                    Ok(Record::Session {
                        members: sessions::members(conn, &session.id)?,
                        session,
                        last_seq: next_seq - 1,
                    })
                })
                .collect()
        }
        Table::Messages => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages msg WHERE msg.id > ?1 \
                 ORDER BY msg.id LIMIT ?2"
            ))?;
            collect(stmt.query(params![after, limit])?, |row| {
                rows::message(row, 0).map(Record::Message)
            })
        }
        Table::Notifications => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.id > ?1 \
                 ORDER BY n.id LIMIT ?2"
            ))?;
            collect(stmt.query(params![after, limit])?, |row| {
                rows::notification(row, 0).map(Record::Notification)
            })
        }
    }
}

/// A page of file metadata after `after`.
pub(super) fn export_files(
    conn: &Connection,
    after: Option<&FileId>,
    limit: u32,
) -> Result<Vec<FileMeta>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files f WHERE f.id > ?1 ORDER BY f.id LIMIT ?2"
    ))?;
    collect(
        stmt.query(params![after.map_or("", FileId::as_str), limit])?,
        |row| rows::file(row, 0),
    )
}

/// Inserts records as they are; an id already present is skipped. Returns rows written.
pub(super) fn import(conn: &Connection, records: Vec<Record>) -> Result<u64> {
    let mut written = 0;
    for record in records {
        let inserted = match record {
            Record::User { user, friends } => user_row(conn, &user, &friends)?,
            Record::Session {
                session,
                members,
                last_seq,
            } => session_row(conn, &session, &members, last_seq)?,
            Record::Message(m) => messages::insert(conn, &m, Taken::Skip)?,
            Record::Notification(n) => conn
                .prepare_cached(
                    "INSERT INTO notifications (id, notice_type, senduid, recvuid, session_id, \
                     is_read, dateline) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    n.id.as_str(),
                    n.notice_type.as_str(),
                    n.senduid.as_str(),
                    n.recvuid.as_str(),
                    n.session_id.as_ref().map(|s| s.as_str()),
                    n.is_read,
                    n.dateline,
                ])?,
        };
        written += inserted as u64;
    }
    Ok(written)
}

fn user_row(conn: &Connection, user: &User, friends: &[UserId]) -> Result<usize> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (id, login, nickname, password_hash, gender, avatar, last_login, \
             login_count, dateline, token_generation, hide_receipts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            user.id.as_str(),
            user.login,
            user.nickname,
            user.password_hash,
            user.gender.as_i32(),
            user.avatar.as_str(),
            user.last_login,
            user.login_count,
            user.dateline,
            user.token_generation,
            user.hide_receipts,
        ])
        .map_err(|e| conflict(e, &[("users.login", "login")]))?;
    if inserted == 1 {
        let mut add = conn.prepare_cached(
            "INSERT INTO friends (uid, fuid, dateline, ord) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )?;
        for (ord, fuid) in friends.iter().enumerate() {
            add.execute(params![
                user.id.as_str(),
                fuid.as_str(),
                user.dateline,
                ord as i64
            ])?;
        }
    }
    Ok(inserted)
}

fn session_row(
    conn: &Connection,
    session: &Session,
    members: &[Member],
    last_seq: i64,
) -> Result<usize> {
    let pair = match (&session.session_type, &session.ouid) {
        (SessionType::Private, Some(ouid)) => Some(sessions::pair_key(&session.createuid, ouid)),
        _ => None,
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sessions (id, createuid, ouid, name, icon, session_type, public, \
             last_msgid, last_update, dateline, next_seq, pair_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            session.id.as_str(),
            session.createuid.as_str(),
            session.ouid.as_ref().map(UserId::as_str),
            session.name,
            session.icon.as_ref().map(FileId::as_str),
            session.session_type.as_i32(),
            session.public,
            session.last_msgid.as_ref().map(|m| m.as_str()),
            session.last_update,
            session.dateline,
            last_seq + 1,
            pair,
        ])
        .map_err(|e| conflict(e, &[("sessions.pair_key", "private session")]))?;
    if inserted == 1 {
        let mut add = conn.prepare_cached(
            "INSERT INTO members (session_id, uid, read_seq, ord) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )?;
        for (ord, member) in members.iter().enumerate() {
            // The mark that gives the exported count (dumps from before read marks have
            // only the count).
            let read_seq = (last_seq - i64::from(member.new_count)).max(0);
            add.execute(params![
                session.id.as_str(),
                member.uid.as_str(),
                read_seq,
                ord as i64
            ])?;
        }
    }
    Ok(inserted)
}
