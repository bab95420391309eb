//! The `notifications` table.

use protocol::ids::{SessionId, UserId};
use rusqlite::{Connection, params};

use super::rows::{self, NOTIFICATION_COLUMNS};
use super::{collect, conflict};
use crate::error::Result;
use crate::model::Notification;

pub(super) fn insert(conn: &Connection, n: &Notification) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO notifications (id, notice_type, senduid, recvuid, session_id, is_read, \
         dateline) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        n.id.as_str(),
        n.notice_type.as_str(),
        n.senduid.as_str(),
        n.recvuid.as_str(),
        n.session_id.as_ref().map(SessionId::as_str),
        n.is_read,
        n.dateline,
    ])
    .map_err(|e| conflict(e, &[("notifications.id", "notification")]))?;
    Ok(())
}

pub(super) fn unread(conn: &Connection, uid: &UserId) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM notifications WHERE recvuid = ?1 AND is_read = 0")?
        .query_row([uid.as_str()], |row| row.get(0))?)
}

/// Reads a page newest first (ties by id), then marks its unread rows read; the returned
/// values are from before the marking. The caller's write transaction makes it one step.
pub(super) fn take(
    conn: &Connection,
    uid: &UserId,
    limit: i64,
    offset: i64,
) -> Result<Vec<Notification>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.recvuid = ?1 \
         ORDER BY n.dateline DESC, n.id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let page = collect(stmt.query(params![uid.as_str(), limit, offset])?, |row| {
        rows::notification(row, 0)
    })?;
    let mut mark = conn.prepare_cached("UPDATE notifications SET is_read = 1 WHERE id = ?1")?;
    for n in page.iter().filter(|n| !n.is_read) {
        mark.execute([n.id.as_str()])?;
    }
    Ok(page)
}
