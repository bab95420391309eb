//! The `friends` table: one-way lists in the order friends were added.

use protocol::ids::UserId;
use rusqlite::{Connection, params};

use super::collect;
use super::rows::{self, USER_COLUMNS};
use crate::error::Result;
use crate::model::{Millis, User};

/// `ord` is one past the user's current last, computed in the insert itself, so the list
/// order is the order of (serialised) additions.
pub(super) fn add(conn: &Connection, uid: &UserId, fuid: &UserId, now: Millis) -> Result<bool> {
    let added = conn
        .prepare_cached(
            "INSERT INTO friends (uid, fuid, dateline, ord) VALUES (?1, ?2, ?3, \
             (SELECT coalesce(max(ord), 0) + 1 FROM friends WHERE uid = ?1)) \
             ON CONFLICT (uid, fuid) DO NOTHING",
        )?
        .execute(params![uid.as_str(), fuid.as_str(), now])?;
    Ok(added == 1)
}

pub(super) fn remove(conn: &Connection, uid: &UserId, fuid: &UserId) -> Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM friends WHERE uid = ?1 AND fuid = ?2")?
        .execute([uid.as_str(), fuid.as_str()])?;
    Ok(removed == 1)
}

/// The inner join drops friends whose user row does not exist.
pub(super) fn list(conn: &Connection, uid: &UserId) -> Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM friends fr JOIN users u ON u.id = fr.fuid \
         WHERE fr.uid = ?1 ORDER BY fr.ord"
    ))?;
    collect(stmt.query([uid.as_str()])?, |row| rows::user(row, 0))
}

pub(super) fn contains(conn: &Connection, uid: &UserId, fuid: &UserId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM friends WHERE uid = ?1 AND fuid = ?2")?
        .exists([uid.as_str(), fuid.as_str()])?)
}
