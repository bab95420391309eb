//! The `attempts` table: fixed-window counters for login lockout.

use rusqlite::{Connection, params};

use crate::error::{Error, Result};

/// Deletes `key`'s counters older than the previous window, then adds 1 to `(key, window)`,
/// creating it at 1. The caller's write transaction makes both one atomic step.
pub(super) fn record(conn: &Connection, key: &str, window: i64) -> Result<u32> {
    conn.prepare_cached("DELETE FROM attempts WHERE counter_key = ?1 AND time_window < ?2")?
        .execute(params![key, window.saturating_sub(1)])?;
    let count: i64 = conn
        .prepare_cached(
            "INSERT INTO attempts (counter_key, time_window, count) VALUES (?1, ?2, 1) \
             ON CONFLICT (counter_key, time_window) DO UPDATE SET count = count + 1 \
             RETURNING count",
        )?
        .query_row(params![key, window], |row| row.get(0))?;
    u32::try_from(count).map_err(|_| Error::Corrupt(format!("attempts.count: {count}")))
}

pub(super) fn clear(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM attempts WHERE counter_key = ?1")?
        .execute([key])?;
    Ok(())
}

pub(super) fn release(conn: &Connection, key: &str, window: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE attempts SET count = count - 1 \
         WHERE counter_key = ?1 AND time_window = ?2 AND count > 0",
    )?
    .execute(params![key, window])?;
    Ok(())
}
