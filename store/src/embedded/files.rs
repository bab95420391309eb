//! File bytes on disk: `<data dir>/files/<first 2 chars of id>/<id>`.
//!
//! A file appears under its final name only complete and on stable storage: bytes go to a
//! temporary name in the same directory, are fsynced, then renamed (atomic within one
//! directory) and the directory is fsynced so the rename itself survives a crash. The metadata
//! row is inserted only after that, so a reader that finds the row always finds the whole
//! file. A crash can leave two kinds of debris, both invisible to readers: a temporary file
//! (removed by [`sweep_temporaries`] at the next open) or a complete file without a row (never
//! served; harmless, like an unreferenced GridFS file).
//!
//! Everything here blocks; callers run it inside `blocking::unblock`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use protocol::ids::FileId;
use rusqlite::{Connection, TransactionBehavior, params};

use super::rows::{self, FILE_COLUMNS};
use super::{conflict, first, in_transaction, lock};
use crate::error::{Error, Result};
use crate::model::{AvatarKind, FileMeta, FileOwner, NewFile};

/// Stores a file: refuse a taken id or an already seeded avatar kind, write the bytes
/// (without holding the connection, so other calls go on meanwhile), then insert the row.
pub(super) fn put(conn: &Mutex<Connection>, files_dir: &Path, file: NewFile) -> Result<FileMeta> {
    let (owner_uid, default_avatar) = match &file.owner {
        FileOwner::User(uid) => (Some(uid.as_str()), None),
        FileOwner::DefaultAvatar(kind) => (None, Some(kind.as_str())),
    };
    let size = i64::try_from(file.bytes.len())
        .map_err(|_| Error::Io(io::Error::other("file larger than 2^63 bytes")))?;
    // Checked first because the rename below would replace bytes an existing row points to.
    // (Ids carry 128 random bits, so two uploads racing on one id do not happen.)
    in_transaction(&mut *lock(conn)?, TransactionBehavior::Deferred, |tx| {
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
        Ok(())
    })?;
    write_atomically(files_dir, &file.id, &file.bytes)?;
    in_transaction(&mut *lock(conn)?, TransactionBehavior::Immediate, |tx| {
        tx.prepare_cached(
            "INSERT INTO files (id, file_name, file_type, size, owner_uid, default_avatar, \
             dateline) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            file.id.as_str(),
            file.file_name,
            file.file_type,
            size,
            owner_uid,
            default_avatar,
            file.dateline,
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
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files f WHERE f.id = ?1"
    ))?;
    first(stmt.query([id.as_str()])?, |row| rows::file(row, 0))
}

/// Metadata and bytes. The row is read under the lock, the bytes after releasing it. Bytes
/// missing or of the wrong length for an existing row are [`Error::Corrupt`].
pub(super) fn get(
    conn: &Mutex<Connection>,
    files_dir: &Path,
    id: &FileId,
) -> Result<Option<(FileMeta, Vec<u8>)>> {
    let Some(meta) = meta(&*lock(conn)?, id)? else {
        return Ok(None);
    };
    let bytes = read(files_dir, id)?
        .ok_or_else(|| Error::Corrupt(format!("file {id} has metadata but no bytes")))?;
    if u64::try_from(bytes.len()).ok() != Some(meta.size) {
        return Err(Error::Corrupt(format!(
            "file {id} has {} bytes, its metadata says {}",
            bytes.len(),
            meta.size
        )));
    }
    Ok(Some((meta, bytes)))
}

pub(super) fn default_avatar(conn: &Connection, kind: AvatarKind) -> Result<Option<FileId>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM files WHERE default_avatar = ?1")?;
    first(stmt.query([kind.as_str()])?, |row| rows::id(row, 0))
}

/// Temporary files start with this (final names are lowercase hex, never a dot)…
const TEMP_PREFIX: char = '.';
/// …and end with this.
const TEMP_SUFFIX: &str = ".tmp";

/// The shard directory of a file: its id's first two characters (256 directories for hex ids,
/// so no directory grows huge).
fn shard_dir(files_dir: &Path, id: &FileId) -> PathBuf {
    // File ids are 32 hex characters (`FileId::parse` guarantees it), so `get` always succeeds.
    files_dir.join(id.as_str().get(..2).unwrap_or("00"))
}

/// Where a file's bytes live.
pub(super) fn path_of(files_dir: &Path, id: &FileId) -> PathBuf {
    shard_dir(files_dir, id).join(id.as_str())
}

/// Writes `bytes` as file `id`, atomically and durably (see the module doc). An existing file
/// of that name is replaced: callers check first that no metadata row claims the id.
fn write_atomically(files_dir: &Path, id: &FileId, bytes: &[u8]) -> Result<()> {
    let dir = shard_dir(files_dir, id);
    let new_dir = !dir.exists();
    fs::create_dir_all(&dir)?;
    if new_dir {
        // The new directory's entry must be durable too, or the file could vanish with it.
        sync_dir(files_dir)?;
    }
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{id}.{:016x}{TEMP_SUFFIX}",
        rand::random::<u64>()
    ));
    let written = write_and_rename(&temp, &path_of(files_dir, id), bytes);
    // Best effort: a leftover is swept at the next open anyway.
    if written.is_err()
        && let Err(e) = fs::remove_file(&temp)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %temp.display(), error = %e, "temporary file not removed");
    }
    written?;
    sync_dir(&dir)?;
    Ok(())
}

fn write_and_rename(temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, target)
}

/// The bytes of file `id`, or `None` if there is no such file.
fn read(files_dir: &Path, id: &FileId) -> Result<Option<Vec<u8>>> {
    match fs::read(path_of(files_dir, id)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes temporary files a crash left behind; returns how many. Runs at open, before any
/// write of this process can have started one.
pub(super) fn sweep_temporaries(files_dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for shard in fs::read_dir(files_dir)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(shard.path())? {
            let entry = entry?;
            if is_temporary(&entry.file_name().to_string_lossy()) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed temporary files left by an interrupted upload"
        );
    }
    Ok(removed)
}

/// Whether a directory entry is one of our temporary files.
pub(super) fn is_temporary(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// Makes a directory's entries (creations, renames) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals renames itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
