//! The `logins` table: one row per device's signed-in session.

use protocol::ids::{LoginId, UserId};
use rusqlite::{Connection, Row, params};

use super::{collect, conflict, first, rows};
use crate::error::Result;
use crate::model::{ENDED_LOGINS_LISTED, EndLogins, LOGINS_LISTED, Login, Millis, NewLogin};

/// [`decode`]'s columns.
const LOGIN_COLUMNS: &str = "l.id, l.uid, l.device, l.created, l.last_seen, l.ended";

fn decode(row: &Row<'_>) -> Result<Login> {
    Ok(Login {
        id: rows::id(row, 0)?,
        uid: rows::id(row, 1)?,
        device: row.get(2)?,
        created: row.get(3)?,
        last_seen: row.get(4)?,
        ended: row.get(5)?,
    })
}

pub(super) fn create(conn: &Connection, new: NewLogin) -> Result<Login> {
    conn.prepare_cached(
        "INSERT INTO logins (id, uid, device, created, last_seen, ended) \
         VALUES (?1, ?2, ?3, ?4, ?4, NULL)",
    )?
    .execute(params![
        new.id.as_str(),
        new.uid.as_str(),
        new.device,
        new.created
    ])
    .map_err(|e| conflict(e, &[("logins.id", "login id")]))?;
    Ok(Login {
        id: new.id,
        uid: new.uid,
        device: new.device,
        created: new.created,
        last_seen: new.created,
        ended: None,
    })
}

pub(super) fn by_id(conn: &Connection, id: &LoginId) -> Result<Option<Login>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LOGIN_COLUMNS} FROM logins l WHERE l.id = ?1"
    ))?;
    first(stmt.query([id.as_str()])?, decode)
}

/// The query of [`active`], for the query-plan test.
pub(super) fn active_sql() -> String {
    format!(
        "SELECT {LOGIN_COLUMNS} FROM logins l WHERE l.uid = ?1 AND l.ended IS NULL \
         ORDER BY l.last_seen DESC, l.id LIMIT ?2"
    )
}

pub(super) fn active(conn: &Connection, uid: &UserId) -> Result<Vec<Login>> {
    let limit = i64::try_from(LOGINS_LISTED).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&active_sql())?;
    collect(stmt.query(params![uid.as_str(), limit])?, decode)
}

/// Only logins in use: an ended login keeps the `last_seen` it had when it ended.
pub(super) fn touch(conn: &Connection, id: &LoginId, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE logins SET last_seen = ?2 WHERE id = ?1 AND ended IS NULL AND last_seen < ?2",
    )?
    .execute(params![id.as_str(), now])?;
    Ok(())
}

/// One conditional update; `RETURNING` names exactly the rows it changed, and the caller's
/// write transaction keeps any other call from ending them in between.
pub(super) fn end(
    conn: &Connection,
    uid: &UserId,
    which: &EndLogins,
    now: Millis,
) -> Result<Vec<LoginId>> {
    let (sql, id) = match which {
        EndLogins::One(id) => (
            "UPDATE logins SET ended = ?2 WHERE uid = ?1 AND ended IS NULL AND id = ?3 \
             RETURNING id",
            Some(id),
        ),
        EndLogins::AllBut(id) => (
            "UPDATE logins SET ended = ?2 WHERE uid = ?1 AND ended IS NULL AND id <> ?3 \
             RETURNING id",
            Some(id),
        ),
        EndLogins::All => (
            "UPDATE logins SET ended = ?2 WHERE uid = ?1 AND ended IS NULL RETURNING id",
            None,
        ),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let found = match id {
        Some(id) => stmt.query(params![uid.as_str(), now, id.as_str()])?,
        None => stmt.query(params![uid.as_str(), now])?,
    };
    let mut ended: Vec<LoginId> = collect(found, |row| rows::id(row, 0))?;
    ended.sort();
    Ok(ended)
}

/// The query of [`ended_since`], for the query-plan test.
pub(super) fn ended_since_sql() -> &'static str {
    "SELECT l.uid, l.id, l.ended FROM logins l WHERE l.ended >= ?1 \
     ORDER BY l.ended, l.id LIMIT ?2"
}

pub(super) fn ended_since(
    conn: &Connection,
    since: Millis,
) -> Result<Vec<(UserId, LoginId, Millis)>> {
    let limit = i64::try_from(ENDED_LOGINS_LISTED).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(ended_since_sql())?;
    collect(stmt.query(params![since, limit])?, |row| {
        Ok((rows::id(row, 0)?, rows::id(row, 1)?, row.get(2)?))
    })
}
