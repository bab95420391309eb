//! Column lists and row decoders: the one place that knows how a record is laid out in SQLite.
//!
//! Every query selects a record through its `*_COLUMNS` list (tables are always aliased the
//! same way: `u` users, `s` sessions, `msg` messages, `n` notifications, `f` files) and decodes
//! it with the matching function, given the index of the list's first column. Anything stored
//! that this build cannot read (a malformed id, an unknown enum value) is
//! [`Error::Corrupt`], naming the column.

use std::str::FromStr;

use protocol::chat::ChatKind;
use protocol::ids::{FileId, NotificationId, UserId};
use rusqlite::Row;

use super::blobs::BlobHash;
use crate::error::{Error, Result};
use crate::model::{
    AvatarKind, FileMeta, FileOwner, Gender, Message, NoticeType, Notification, Session,
    SessionType, User,
};

/// [`user`]'s columns.
pub(super) const USER_COLUMNS: &str = "u.id, u.login, u.nickname, u.password_hash, u.gender, \
     u.avatar, u.last_login, u.login_count, u.dateline, u.token_generation, u.hide_receipts";

/// [`session`]'s columns.
pub(super) const SESSION_COLUMNS: &str = "s.id, s.createuid, s.ouid, s.name, s.icon, \
     s.session_type, s.public, s.last_msgid, s.last_update, s.dateline";
/// How many columns [`SESSION_COLUMNS`] has.
pub(super) const SESSION_WIDTH: usize = 10;

/// [`message`]'s columns.
pub(super) const MESSAGE_COLUMNS: &str = "msg.id, msg.session_id, msg.seq, msg.uid, \
     msg.msg_type, msg.content, msg.file_name, msg.file_type, msg.fileid, msg.thumbid, \
     msg.dateline, msg.client_id, msg.reply_to";

/// [`notification`]'s columns.
pub(super) const NOTIFICATION_COLUMNS: &str =
    "n.id, n.notice_type, n.senduid, n.recvuid, n.session_id, n.is_read, n.dateline";

/// [`file()`]'s columns.
pub(super) const FILE_COLUMNS: &str =
    "f.id, f.file_name, f.file_type, f.size, f.owner_uid, f.default_avatar, f.dateline";
/// How many columns [`FILE_COLUMNS`] has.
pub(super) const FILE_WIDTH: usize = 7;

/// A user from [`USER_COLUMNS`] starting at `at`.
pub(super) fn user(row: &Row<'_>, at: usize) -> Result<User> {
    Ok(User {
        id: id(row, at)?,
        login: row.get(at + 1)?,
        nickname: row.get(at + 2)?,
        password_hash: row.get(at + 3)?,
        gender: Gender::from_i32(row.get(at + 4)?),
        avatar: id(row, at + 5)?,
        last_login: row.get(at + 6)?,
        login_count: row.get(at + 7)?,
        dateline: row.get(at + 8)?,
        token_generation: number(row, at + 9)?,
        hide_receipts: row.get(at + 10)?,
    })
}

/// A session from [`SESSION_COLUMNS`] starting at `at`.
pub(super) fn session(row: &Row<'_>, at: usize) -> Result<Session> {
    let session_type = match row.get::<_, i64>(at + 5)? {
        0 => SessionType::Private,
        1 => SessionType::Group,
        other => {
            return Err(corrupt(
                row,
                at + 5,
                format!("unknown session type {other}"),
            ));
        }
    };
    Ok(Session {
        id: id(row, at)?,
        createuid: id(row, at + 1)?,
        ouid: optional_id(row, at + 2)?,
        name: row.get(at + 3)?,
        icon: optional_id(row, at + 4)?,
        session_type,
        public: row.get::<_, i64>(at + 6)? != 0,
        last_msgid: optional_id(row, at + 7)?,
        last_update: row.get(at + 8)?,
        dateline: row.get(at + 9)?,
    })
}

/// A message from [`MESSAGE_COLUMNS`] starting at `at`.
pub(super) fn message(row: &Row<'_>, at: usize) -> Result<Message> {
    Ok(Message {
        id: id(row, at)?,
        session_id: id(row, at + 1)?,
        seq: row.get(at + 2)?,
        uid: id(row, at + 3)?,
        msg_type: ChatKind::from_wire(&row.get::<_, String>(at + 4)?),
        content: row.get(at + 5)?,
        file_name: row.get(at + 6)?,
        file_type: row.get(at + 7)?,
        fileid: optional_id(row, at + 8)?,
        thumbid: optional_id(row, at + 9)?,
        dateline: row.get(at + 10)?,
        client_id: row.get(at + 11)?,
        reply_to: row.get(at + 12)?,
    })
}

/// A message from [`MESSAGE_COLUMNS`] starting at `at`, or `None` if a `LEFT JOIN` found
/// none (its id column is NULL).
pub(super) fn optional_message(row: &Row<'_>, at: usize) -> Result<Option<Message>> {
    if row.get::<_, Option<String>>(at)?.is_none() {
        return Ok(None);
    }
    message(row, at).map(Some)
}

/// A notification from [`NOTIFICATION_COLUMNS`] starting at `at`.
pub(super) fn notification(row: &Row<'_>, at: usize) -> Result<Notification> {
    let notice_type: String = row.get(at + 1)?;
    Ok(Notification {
        id: id::<NotificationId>(row, at)?,
        notice_type: NoticeType::from_stored(&notice_type),
        senduid: id(row, at + 2)?,
        recvuid: id(row, at + 3)?,
        session_id: optional_id(row, at + 4)?,
        is_read: row.get::<_, i64>(at + 5)? != 0,
        dateline: row.get(at + 6)?,
    })
}

/// File metadata from [`FILE_COLUMNS`] starting at `at`.
pub(super) fn file(row: &Row<'_>, at: usize) -> Result<FileMeta> {
    let owner_uid: Option<UserId> = optional_id(row, at + 4)?;
    let default_avatar: Option<String> = row.get(at + 5)?;
    let owner = match (owner_uid, default_avatar) {
        (Some(uid), None) => FileOwner::User(uid),
        (None, Some(kind)) => FileOwner::DefaultAvatar(
            avatar_kind(&kind)
                .ok_or_else(|| corrupt(row, at + 5, format!("unknown avatar kind {kind:?}")))?,
        ),
        _ => return Err(corrupt(row, at + 4, "not exactly one owner".to_owned())),
    };
    Ok(FileMeta {
        id: id::<FileId>(row, at)?,
        file_name: row.get(at + 1)?,
        file_type: row.get(at + 2)?,
        size: number(row, at + 3)?,
        owner,
        dateline: row.get(at + 6)?,
    })
}

/// The inverse of [`AvatarKind::as_str`].
pub(super) fn avatar_kind(text: &str) -> Option<AvatarKind> {
    [AvatarKind::Boy, AvatarKind::Girl, AvatarKind::Unknown]
        .into_iter()
        .find(|kind| kind.as_str() == text)
}

/// A stored id of any kind.
pub(super) fn id<T>(row: &Row<'_>, idx: usize) -> Result<T>
where
    T: FromStr<Err = protocol::Error>,
{
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e: protocol::Error| corrupt(row, idx, e.to_string()))
}

/// A nullable blob hash (`f.blob`).
pub(super) fn blob(row: &Row<'_>, idx: usize) -> Result<Option<BlobHash>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => BlobHash::parse(&text)
            .map(Some)
            .ok_or_else(|| corrupt(row, idx, format!("malformed blob hash {text:?}"))),
    }
}

/// A nullable stored id.
fn optional_id<T>(row: &Row<'_>, idx: usize) -> Result<Option<T>>
where
    T: FromStr<Err = protocol::Error>,
{
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|e: protocol::Error| corrupt(row, idx, e.to_string())),
    }
}

/// An unsigned number SQLite stores as `i64`.
fn number<T: TryFrom<i64>>(row: &Row<'_>, idx: usize) -> Result<T> {
    let value: i64 = row.get(idx)?;
    T::try_from(value).map_err(|_| corrupt(row, idx, format!("{value} out of range")))
}

/// [`Error::Corrupt`] naming the column.
fn corrupt(row: &Row<'_>, idx: usize, why: String) -> Error {
    let column = row.as_ref().column_name(idx).unwrap_or("?");
    Error::Corrupt(format!("{column}: {why}"))
}
