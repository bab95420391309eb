//! The collections and the helpers every part of the MongoDB backend uses: reading a cursor,
//! naming a duplicate key, paging.

use mongodb::bson::Document;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::{Collection, Cursor, Database};

use crate::error::{Error, Result};

/// MongoDB's duplicate-key error code.
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// The collections, as untyped documents (fields are read by `docs`). All but `onlines` and
/// `notifications` are opened with the configured write concern (see the module doc).
pub(super) struct Db {
    pub(super) database: Database,
    pub(super) users: Collection<Document>,
    pub(super) sessions: Collection<Document>,
    pub(super) messages: Collection<Document>,
    pub(super) onlines: Collection<Document>,
    pub(super) notifications: Collection<Document>,
    pub(super) files: Collection<Document>,
    pub(super) chunks: Collection<Document>,
    pub(super) logins: Collection<Document>,
    pub(super) attempts: Collection<Document>,
}

/// Every document of a cursor.
pub(super) async fn collect(mut cursor: Cursor<Document>) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    while cursor.advance().await? {
        out.push(cursor.deserialize_current()?);
    }
    Ok(out)
}

/// Whether `e` is a duplicate-key error; its message names the index.
pub(super) fn duplicate_key(e: &mongodb::error::Error) -> Option<&str> {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
            Some(&w.message)
        }
        ErrorKind::Command(c) if c.code == DUPLICATE_KEY => Some(&c.message),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()?
            .iter()
            .find(|w| w.code == DUPLICATE_KEY)
            .map(|w| w.message.as_str()),
        _ => None,
    }
}

/// Turns a duplicate key into [`Error::Conflict`] named by the first of `keys` whose index
/// name the server's message mentions (`("_id", "user")` for the primary key); other errors
/// as [`From`].
pub(super) fn conflict(e: mongodb::error::Error, keys: &[(&str, &'static str)]) -> Error {
    if let Some(message) = duplicate_key(&e)
        && let Some((_, key)) = keys.iter().find(|(index, _)| message.contains(index))
    {
        return Error::Conflict(key);
    }
    Error::from(e)
}

/// Skip and limit of page `page` (from 1; 0 reads as 1) of `count` documents.
pub(super) fn page_bounds(page: u32, count: u32) -> (u64, i64) {
    (
        u64::from(page.saturating_sub(1)) * u64::from(count),
        i64::from(count),
    )
}
