//! The `users` and `onlines` tables.

use std::collections::BTreeSet;

use protocol::ids::{FileId, UserId};
use rusqlite::{Connection, params};

use super::rows::{self, USER_COLUMNS};
use super::{collect, conflict, first};
use crate::error::{Error, Result};
use crate::model::{Gender, Millis, NewUser, ProfileUpdate, User};

pub(super) fn create(conn: &Connection, new: NewUser) -> Result<User> {
    let user = User {
        id: new.id,
        login: new.login,
        nickname: new.nickname,
        password_hash: new.password_hash,
        gender: new.gender,
        avatar: new.avatar,
        last_login: 0,
        login_count: 0,
        dateline: new.dateline,
        token_generation: 0,
        hide_receipts: false,
    };
    conn.prepare_cached(
        "INSERT INTO users (id, login, nickname, password_hash, gender, avatar, last_login, \
         login_count, dateline, token_generation) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
    ])
    .map_err(|e| conflict(e, &[("users.login", "login"), ("users.id", "user")]))?;
    Ok(user)
}

pub(super) fn by_id(conn: &Connection, uid: &UserId) -> Result<Option<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"
    ))?;
    first(stmt.query([uid.as_str()])?, |row| rows::user(row, 0))
}

/// One lookup per id through the primary key (no `IN` list to build, and the statement stays
/// cached whatever the number of ids).
pub(super) fn by_ids(conn: &Connection, uids: &BTreeSet<UserId>) -> Result<Vec<User>> {
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        out.extend(by_id(conn, uid)?);
    }
    Ok(out)
}

pub(super) fn by_login(conn: &Connection, login: &str) -> Result<Option<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.login = ?1"
    ))?;
    first(stmt.query([login])?, |row| rows::user(row, 0))
}

pub(super) fn by_nickname(conn: &Connection, nickname: &str, limit: i64) -> Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.nickname = ?1 \
         ORDER BY u.dateline, u.id LIMIT ?2"
    ))?;
    collect(stmt.query(params![nickname, limit])?, |row| {
        rows::user(row, 0)
    })
}

/// Sets `lastLogin` and refreshes the `onlines` row, counting a login if asked.
pub(super) fn touch(conn: &Connection, uid: &UserId, now: Millis, count_login: bool) -> Result<()> {
    let sql = if count_login {
        "UPDATE users SET last_login = ?2, login_count = login_count + 1 WHERE id = ?1"
    } else {
        "UPDATE users SET last_login = ?2 WHERE id = ?1"
    };
    if conn
        .prepare_cached(sql)?
        .execute(params![uid.as_str(), now])?
        == 0
    {
        return Err(Error::NotFound("user"));
    }
    conn.prepare_cached(
        "INSERT INTO onlines (uid, dateline) VALUES (?1, ?2) \
         ON CONFLICT (uid) DO UPDATE SET dateline = excluded.dateline",
    )?
    .execute(params![uid.as_str(), now])?;
    Ok(())
}

pub(super) fn logout(conn: &Connection, uid: &UserId) -> Result<()> {
    let bumped = conn
        .prepare_cached("UPDATE users SET token_generation = token_generation + 1 WHERE id = ?1")?
        .execute([uid.as_str()])?;
    if bumped == 0 {
        return Err(Error::NotFound("user"));
    }
    conn.prepare_cached("DELETE FROM onlines WHERE uid = ?1")?
        .execute([uid.as_str()])?;
    Ok(())
}

pub(super) fn recently_active(conn: &Connection, since: Millis) -> Result<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid FROM onlines WHERE dateline >= ?1 ORDER BY dateline DESC, uid",
    )?;
    collect(stmt.query([since])?, |row| rows::id(row, 0))
}

pub(super) fn update_profile(conn: &Connection, uid: &UserId, update: ProfileUpdate) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE users SET nickname = coalesce(?2, nickname), gender = coalesce(?3, gender), \
             avatar = coalesce(?4, avatar), hide_receipts = coalesce(?5, hide_receipts) \
             WHERE id = ?1",
        )?
        .execute(params![
            uid.as_str(),
            update.nickname,
            update.gender.map(Gender::as_i32),
            update.avatar.as_ref().map(FileId::as_str),
            update.hide_receipts,
        ])?;
    if changed == 0 {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

/// Compare-and-swap in one conditional update.
pub(super) fn replace_password(
    conn: &Connection,
    uid: &UserId,
    expected_hash: &str,
    new_hash: &str,
) -> Result<bool> {
    let replaced = conn
        .prepare_cached(
            "UPDATE users SET password_hash = ?3, token_generation = token_generation + 1 \
             WHERE id = ?1 AND password_hash = ?2",
        )?
        .execute(params![uid.as_str(), expected_hash, new_hash])?;
    Ok(replaced == 1)
}
