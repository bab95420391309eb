//! The version-1 file layout, `<data dir>/files/<first 2 chars of id>/<id>` with one copy of
//! the bytes per upload, and how schema step 2 moves it into content-addressed blobs.
//!
//! The move is crash-safe because nothing is deleted before it is committed. Inside step 2's
//! transaction every version-1 file is hashed and hard-linked (copied where links are
//! impossible) into `blobs/`, and its row is pointed at the blob; the originals stay. Only
//! after the commit does [`remove_leftovers`] delete `files/`, at every open, so a crash
//! anywhere either rolls the step back (the new blobs are unvouched debris, redone by the retry)
//! or leaves a `files/` that the next open deletes.
//!
//! Everything here blocks; it runs inside `Embedded::open`'s `blocking::unblock`.

use std::fs;
use std::io;
use std::path::Path;

use protocol::ids::FileId;
use rusqlite::{Transaction, params};

use super::blobs::{self, BlobHash};
use super::{BLOBS_DIR, collect};
use crate::error::Result;

/// Version 1's directory of file bytes inside the data directory.
pub(super) const LEGACY_DIR: &str = "files";

/// Where version 1 kept a file's bytes.
pub(super) fn path_of(legacy_dir: &Path, id: &FileId) -> std::path::PathBuf {
    // File ids are 32 hex characters (`FileId::parse` guarantees it), so `get` always succeeds.
    legacy_dir
        .join(id.as_str().get(..2).unwrap_or("00"))
        .join(id.as_str())
}

/// Hashes every version-1 file, links it into `blobs/` (once per distinct content) and records
/// the blob in its row; runs inside step 2's transaction, after the `blobs` table and the
/// `files.blob` column exist. A row whose bytes are missing keeps a `NULL` blob, so reading it
/// stays [`Error::Corrupt`](crate::Error::Corrupt) as it was, and the store still opens.
pub(super) fn move_into_blobs(tx: &Transaction<'_>, data_dir: &Path) -> Result<()> {
    let legacy_dir = data_dir.join(LEGACY_DIR);
    let blobs_dir = data_dir.join(BLOBS_DIR);
    fs::create_dir_all(&blobs_dir)?;
    let ids = collect(
        tx.prepare("SELECT id FROM files ORDER BY id")?.query([])?,
        |row| Ok(row.get::<_, String>(0)?),
    )?;
    let (mut moved, mut missing, mut distinct) = (0usize, 0usize, 0usize);
    for text in ids {
        // Only a well-formed id may become a path; version 1 never stored another.
        let Ok(id) = FileId::parse(&text) else {
            tracing::warn!(id = %text, "version-1 file row with a malformed id left without bytes");
            missing += 1;
            continue;
        };
        let source = path_of(&legacy_dir, &id);
        let (hash, size) = match BlobHash::of_file(&source) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(file = %id, "version-1 file has metadata but no bytes");
                missing += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let size = i64::try_from(size).map_err(|_| io::Error::other("file over 2^63 bytes"))?;
        let new = tx
            .prepare_cached(
                "INSERT INTO blobs (hash, size) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![hash.as_str(), size])?
            == 1;
        if new {
            // Replaces any blob file a rolled-back earlier attempt left: unvouched debris.
            blobs::link(&blobs_dir, &hash, &source)?;
            distinct += 1;
        }
        tx.prepare_cached("UPDATE files SET blob = ?1 WHERE id = ?2")?
            .execute(params![hash.as_str(), id.as_str()])?;
        moved += 1;
    }
    tracing::info!(
        moved,
        missing,
        blobs = distinct,
        "version-1 files moved into content-addressed blobs"
    );
    Ok(())
}

/// Deletes version 1's `files/` directory, if any, once step 2 is committed: every byte in it
/// that a row referenced is in a blob by then, and the rest (crash debris) was never served.
/// Failing to delete it only wastes space, so that is logged, not fatal.
pub(super) fn remove_leftovers(data_dir: &Path) {
    let legacy_dir = data_dir.join(LEGACY_DIR);
    match fs::remove_dir_all(&legacy_dir) {
        Ok(()) => {
            tracing::info!(dir = %legacy_dir.display(), "removed the version-1 file directory");
            if let Err(e) = blobs::sync_dir(data_dir) {
                tracing::warn!(error = %e, "data directory not synced after removing files/");
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            dir = %legacy_dir.display(),
            error = %e,
            "version-1 file directory not removed; it is no longer used"
        ),
    }
}
