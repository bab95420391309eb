//! File bytes on disk, content-addressed: `<data dir>/blobs/<first 2 hex>/<sha256 hex>`.
//!
//! Identical bytes are stored once however often they are uploaded: every `files` row names
//! its blob by hash, and a blob is written only if no `blobs` row vouches for it yet. Blobs are
//! immutable, so a reader never sees one change under it.
//!
//! A blob appears under its final name only complete and on stable storage: bytes go to a
//! temporary name in the same directory, are fsynced, then renamed (atomic within one
//! directory) and the directory is fsynced so the rename itself survives a crash. Its `blobs`
//! row is inserted only after that, so a reader that finds the row always finds the whole blob.
//! A crash can leave two kinds of debris, both invisible to readers: a temporary file (removed
//! by [`sweep_temporaries`] at the next open) or a complete blob without a row (never served;
//! the next upload of the same bytes writes it again, replacing it).
//!
//! Everything here blocks; callers run it inside `blocking::unblock`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::Result;

/// Buffer for hashing a file from disk (migration of version-1 files).
const HASH_BUFFER: usize = 64 * 1024;
/// Temporary files start with this (final names are lowercase hex, never a dot)…
const TEMP_PREFIX: char = '.';
/// …and end with this.
const TEMP_SUFFIX: &str = ".tmp";

/// A blob's name: the SHA-256 of its bytes as 64 lowercase hex digits. Only ever made by
/// hashing or by [`BlobHash::parse`], so it is always safe to use as a path component.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct BlobHash(String);

impl BlobHash {
    /// The hash of `bytes`.
    pub(super) fn of(bytes: &[u8]) -> BlobHash {
        BlobHash::from_digest(Sha256::digest(bytes))
    }

    /// The hash and length of the file at `path`, read in pieces.
    pub(super) fn of_file(path: &Path) -> io::Result<(BlobHash, u64)> {
        let mut file = File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; HASH_BUFFER];
        let mut len = 0u64;
        loop {
            let n = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(buffer.get(..n).unwrap_or_default());
            len += n as u64;
        }
        Ok((BlobHash::from_digest(hasher.finalize()), len))
    }

    /// A stored hash, checked: `None` unless `text` is 64 lowercase hex digits. (It becomes a
    /// path, so a damaged database must not be able to point outside the blob directory.)
    pub(super) fn parse(text: &str) -> Option<BlobHash> {
        let hex = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (text.len() == 64 && hex).then(|| BlobHash(text.to_owned()))
    }

    /// The 64 hex digits.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    fn from_digest(digest: impl fmt::LowerHex) -> BlobHash {
        BlobHash(format!("{digest:x}"))
    }

    /// The shard directory: the first two hex digits (256 directories, so none grows huge).
    fn shard(&self) -> &str {
        // Always 64 ASCII characters (see the constructors), so `get` always succeeds.
        self.0.get(..2).unwrap_or("00")
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a blob's bytes live.
pub(super) fn path_of(blobs_dir: &Path, hash: &BlobHash) -> PathBuf {
    blobs_dir.join(hash.shard()).join(hash.as_str())
}

/// Whether the blob is on disk with the expected length (a cheap check, not a re-hash).
pub(super) fn is_intact(blobs_dir: &Path, hash: &BlobHash, size: u64) -> Result<bool> {
    match fs::metadata(path_of(blobs_dir, hash)) {
        Ok(meta) => Ok(meta.is_file() && meta.len() == size),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` as blob `hash`, atomically and durably (see the module doc). An existing
/// file of that name is replaced: it is either the same bytes or debris nobody vouches for.
pub(super) fn write(blobs_dir: &Path, hash: &BlobHash, bytes: &[u8]) -> Result<()> {
    install(blobs_dir, hash, |temp| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Makes the existing file `source` blob `hash` without copying its bytes where the file
/// system allows (a hard link; a copy otherwise), atomically and durably. `source` stays.
pub(super) fn link(blobs_dir: &Path, hash: &BlobHash, source: &Path) -> Result<()> {
    install(blobs_dir, hash, |temp| {
        if let Err(e) = fs::hard_link(source, temp) {
            tracing::debug!(error = %e, "hard link refused; copying the blob instead");
            fs::copy(source, temp)?;
        }
        // A link's bytes were already durable; a copy's are not. Cheap for the former.
        OpenOptions::new().write(true).open(temp)?.sync_all()
    })
}

/// Creates the blob's shard directory, lets `fill` create the temporary file, then renames it
/// into place and makes the rename durable. The temporary is removed if anything fails.
fn install(
    blobs_dir: &Path,
    hash: &BlobHash,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<()> {
    let dir = blobs_dir.join(hash.shard());
    let new_dir = !dir.exists();
    fs::create_dir_all(&dir)?;
    if new_dir {
        // The new directory's entry must be durable too, or the blob could vanish with it.
        sync_dir(blobs_dir)?;
    }
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{hash}.{:016x}{TEMP_SUFFIX}",
        rand::random::<u64>()
    ));
    let written = fill(&temp).and_then(|()| fs::rename(&temp, path_of(blobs_dir, hash)));
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

/// The whole blob, or `None` if it is not on disk.
pub(super) fn read(blobs_dir: &Path, hash: &BlobHash) -> Result<Option<Vec<u8>>> {
    match fs::read(path_of(blobs_dir, hash)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Up to `len` bytes of the blob from `offset`: fewer only where the file ends. `None` if the
/// blob is not on disk. Allocates at most `len` bytes, whatever the file's size.
pub(super) fn read_range(
    blobs_dir: &Path,
    hash: &BlobHash,
    offset: u64,
    len: usize,
) -> Result<Option<Vec<u8>>> {
    let mut file = match File::open(path_of(blobs_dir, hash)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut out = Vec::with_capacity(len);
    // `take` stops at `len` bytes; `read_to_end` retries interrupted reads and stops at EOF.
    file.take(len as u64).read_to_end(&mut out)?;
    Ok(Some(out))
}

/// Removes temporary files a crash left in the shard directories of `dir`; returns how many.
/// Runs at open, before any write of this process can have started one.
pub(super) fn sweep_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for shard in fs::read_dir(dir)? {
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

/// Makes a directory's entries (creations, renames, removals) durable.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals renames itself.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
