//! Stored files: one `files` row per upload (its own id, name, type and owner) pointing at a
//! content-addressed blob (`blobs`), so identical bytes sent twice are on disk once.
//!
//! A row is inserted only after its blob is complete on disk and vouched for by a `blobs` row
//! (see the `blobs` module), so a reader that finds the row always finds the whole file.
//! Uploads hash and write without holding the connection, so other calls go on meanwhile.
//!
//! Everything here blocks; callers run it inside `blocking::unblock`.

use std::io;
use std::path::Path;
use std::sync::Mutex;

use protocol::ids::FileId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::blobs::{self, BlobHash};
use super::rows::{self, FILE_COLUMNS, FILE_WIDTH};
use super::{conflict, first, in_transaction, lock};
use crate::error::{Error, Result};
use crate::model::{AvatarKind, FileMeta, FileOwner, NewFile};

/// Stores a file: hash the bytes, refuse a taken id or an already seeded avatar kind, write the
/// blob unless an intact one with that hash is already stored, then insert the rows.
pub(super) fn put(conn: &Mutex<Connection>, blobs_dir: &Path, file: NewFile) -> Result<FileMeta> {
    let (owner_uid, default_avatar) = match &file.owner {
        FileOwner::User(uid) => (Some(uid.as_str()), None),
        FileOwner::DefaultAvatar(kind) => (None, Some(kind.as_str())),
    };
    let size = i64::try_from(file.bytes.len())
        .map_err(|_| Error::Io(io::Error::other("file larger than 2^63 bytes")))?;
    let hash = BlobHash::of(&file.bytes);
    // Checked before writing so a refused upload costs no disk write. The insert below checks
    // again (unique keys), which settles the rare race between two uploads.
    let stored_size = in_transaction(&mut *lock(conn)?, TransactionBehavior::Deferred, |tx| {
        if tx
            .prepare_cached("SELECT 1 FROM files WHERE id = ?1")?
            .exists([file.id.as_str()])?
        {
            return Err(Error::Conflict("file"));
        }
        if default_avatar.is_some()
            && tx
                .prepare_cached("SELECT 1 FROM files WHERE default_avatar = ?1")?
                .exists([default_avatar])?
        {
            return Err(Error::Conflict("default avatar"));
        }
        let stored: Option<i64> = tx
            .prepare_cached("SELECT size FROM blobs WHERE hash = ?1")?
            .query_row([hash.as_str()], |row| row.get(0))
            .optional()?;
        Ok(stored)
    })?;
    let intact = match stored_size {
        Some(stored) => blobs::is_intact(blobs_dir, &hash, stored.unsigned_abs())?,
        None => false,
    };
    if !intact {
        if stored_size.is_some() {
            // Someone removed or truncated it by hand; the upload heals it for every row.
            tracing::warn!(blob = %hash, "stored blob missing or damaged; rewriting it");
        }
        blobs::write(blobs_dir, &hash, &file.bytes)?;
    }
    in_transaction(&mut *lock(conn)?, TransactionBehavior::Immediate, |tx| {
        tx.prepare_cached("INSERT INTO blobs (hash, size) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![hash.as_str(), size])?;
        tx.prepare_cached(
            "INSERT INTO files (id, file_name, file_type, size, owner_uid, default_avatar, \
             dateline, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            file.id.as_str(),
            file.file_name,
            file.file_type,
            size,
            owner_uid,
            default_avatar,
            file.dateline,
            hash.as_str(),
        ])
        .map_err(|e| {
            conflict(
                e,
                &[
                    ("files.id", "file"),
                    ("files.default_avatar", "default avatar"),
                ],
            )
        })?;
        Ok(())
    })?;
    Ok(FileMeta {
        size: size.unsigned_abs(),
        id: file.id,
        file_name: file.file_name,
        file_type: file.file_type,
        owner: file.owner,
        dateline: file.dateline,
    })
}

pub(super) fn meta(conn: &Connection, id: &FileId) -> Result<Option<FileMeta>> {
    Ok(meta_and_blob(conn, id)?.map(|(meta, _)| meta))
}

/// A file's metadata and its blob. The blob is `None` only for a version-1 file whose bytes
/// were already gone when the store moved files into blobs (see `legacy`).
fn meta_and_blob(conn: &Connection, id: &FileId) -> Result<Option<(FileMeta, Option<BlobHash>)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS}, f.blob FROM files f WHERE f.id = ?1"
    ))?;
    first(stmt.query([id.as_str()])?, |row| {
        Ok((rows::file(row, 0)?, rows::blob(row, FILE_WIDTH)?))
    })
}

/// Metadata and bytes. The row is read under the lock, the bytes after releasing it. Bytes
/// missing or of the wrong length for an existing row are [`Error::Corrupt`].
pub(super) fn get(
    conn: &Mutex<Connection>,
    blobs_dir: &Path,
    id: &FileId,
) -> Result<Option<(FileMeta, Vec<u8>)>> {
    let Some((meta, blob)) = meta_and_blob(&*lock(conn)?, id)? else {
        return Ok(None);
    };
    let bytes = match blob {
        Some(blob) => blobs::read(blobs_dir, &blob)?,
        None => None,
    }
    .ok_or_else(|| no_bytes(id))?;
    if u64::try_from(bytes.len()).ok() != Some(meta.size) {
        return Err(Error::Corrupt(format!(
            "file {id} has {} bytes, its metadata says {}",
            bytes.len(),
            meta.size
        )));
    }
    Ok(Some((meta, bytes)))
}

/// `min(max_len, size - offset)` bytes of a file from `offset` (see
/// [`Store::read_file_chunk`](crate::Store::read_file_chunk)). The row is read under the lock,
/// the bytes after releasing it; a blob shorter than its metadata says is [`Error::Corrupt`].
pub(super) fn read_chunk(
    conn: &Mutex<Connection>,
    blobs_dir: &Path,
    id: &FileId,
    offset: u64,
    max_len: usize,
) -> Result<Option<Vec<u8>>> {
    let Some((meta, blob)) = meta_and_blob(&*lock(conn)?, id)? else {
        return Ok(None);
    };
    let remaining = meta.size.saturating_sub(offset);
    // A remainder beyond usize (32-bit targets) is more than `max_len` anyway.
    let len = usize::try_from(remaining).map_or(max_len, |remaining| remaining.min(max_len));
    if len == 0 {
        return Ok(Some(Vec::new()));
    }
    let bytes = match blob {
        Some(blob) => blobs::read_range(blobs_dir, &blob, offset, len)?,
        None => None,
    }
    .ok_or_else(|| no_bytes(id))?;
    if bytes.len() != len {
        return Err(Error::Corrupt(format!(
            "file {id} ends before byte {}, its metadata says it has {}",
            offset + len as u64,
            meta.size
        )));
    }
    Ok(Some(bytes))
}

fn no_bytes(id: &FileId) -> Error {
    Error::Corrupt(format!("file {id} has metadata but no bytes"))
}

pub(super) fn default_avatar(conn: &Connection, kind: AvatarKind) -> Result<Option<FileId>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM files WHERE default_avatar = ?1")?;
    first(stmt.query([kind.as_str()])?, |row| rows::id(row, 0))
}
