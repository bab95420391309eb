//! GridFS bucket `fs`, written by hand (chunks of [`CHUNK_SIZE`] in `fs.chunks`, then the
//! `fs.files` document, as the GridFS spec orders them) so that identical bytes are stored
//! once (`metadata.sha256`, `metadata.bytesOf`: see the module doc) and a ranged read fetches
//! only the chunks it covers.

use mongodb::bson::{Binary, Bson, DateTime, Document, doc, spec::BinarySubtype};
use protocol::ids::{FileId, UserId};
use sha2::{Digest, Sha256};

use super::db::{Db, collect, conflict};
use super::docs;
use crate::error::{Error, Result};
use crate::model::*;

/// GridFS's default chunk size (255 KiB): under the 16 MiB document limit with room to spare,
/// and what other GridFS clients write.
const CHUNK_SIZE: usize = 255 * 1024;

fn owner_doc(owner: &FileOwner) -> Document {
    match owner {
        FileOwner::User(uid) => doc! { "uid": uid.as_str() },
        FileOwner::DefaultAvatar(kind) => doc! { "avatar": kind.as_str() },
    }
}

/// A file's metadata and the id its chunks are stored under.
pub(super) fn decode(d: &Document) -> Result<(FileMeta, String)> {
    let metadata = docs::doc(d, "metadata")?;
    let owner = match (metadata.get("uid"), metadata.get("avatar")) {
        (Some(Bson::String(uid)), _) => FileOwner::User(uid.parse::<UserId>()?),
        (_, Some(Bson::String(kind))) => FileOwner::DefaultAvatar(match kind.as_str() {
            "boy" => AvatarKind::Boy,
            "girl" => AvatarKind::Girl,
            _ => AvatarKind::Unknown,
        }),
        _ => return Err(Error::Corrupt("file without an owner".to_owned())),
    };
    let id: FileId = docs::id(d, "_id")?;
    let holder = match metadata.get("bytesOf") {
        Some(Bson::String(holder)) => holder.clone(),
        _ => id.as_str().to_owned(),
    };
    let size = u64::try_from(docs::int(d, "length")?)
        .map_err(|_| Error::Corrupt("negative file length".to_owned()))?;
    Ok((
        FileMeta {
            id,
            file_name: docs::str_or_empty(d, "filename")?.to_owned(),
            file_type: docs::str_or_empty(d, "contentType")?.to_owned(),
            size,
            owner,
            dateline: docs::int(d, "uploadDate")?,
        },
        holder,
    ))
}

pub(super) async fn put(db: &Db, file: NewFile) -> Result<FileMeta> {
    // Checked first so a refused upload writes no chunks; the unique keys of the final insert
    // settle a race.
    if db
        .files
        .count_documents(doc! { "_id": file.id.as_str() })
        .await?
        > 0
    {
        return Err(Error::Conflict("file"));
    }
    if let FileOwner::DefaultAvatar(kind) = file.owner
        && db
            .files
            .count_documents(doc! { "metadata.avatar": kind.as_str() })
            .await?
            > 0
    {
        return Err(Error::Conflict("default avatar"));
    }
    let hash = hex::encode(Sha256::digest(&file.bytes));
    let length = i64::try_from(file.bytes.len())
        .map_err(|_| Error::Corrupt("file larger than 2^63 bytes".to_owned()))?;
    let holder = db
        .files
        .find_one(doc! {
            "metadata.sha256": &hash,
            "metadata.bytesOf": { "$exists": false },
            "length": length,
        })
        .projection(doc! { "_id": 1 })
        .await?;
    let mut metadata = owner_doc(&file.owner);
    metadata.insert("sha256", &hash);
    let wrote_chunks = match holder {
        Some(holder) => {
            metadata.insert("bytesOf", docs::str(&holder, "_id")?);
            false
        }
        None => {
            let chunks: Vec<Document> = file
                .bytes
                .chunks(CHUNK_SIZE)
                .enumerate()
                .map(|(n, bytes)| {
                    doc! {
                        "files_id": file.id.as_str(),
                        "n": i32::try_from(n).unwrap_or(i32::MAX),
                        "data": Binary { subtype: BinarySubtype::Generic, bytes: bytes.to_vec() },
                    }
                })
                .collect();
            if !chunks.is_empty() {
                db.chunks.insert_many(chunks).await?;
            }
            true
        }
    };
    let document = doc! {
        "_id": file.id.as_str(),
        "length": length,
        "chunkSize": i32::try_from(CHUNK_SIZE).unwrap_or(i32::MAX),
        "uploadDate": DateTime::from_millis(file.dateline),
        "filename": &file.file_name,
        "contentType": &file.file_type,
        "metadata": metadata,
    };
    if let Err(e) = db.files.insert_one(document).await {
        if wrote_chunks {
            db.chunks
                .delete_many(doc! { "files_id": file.id.as_str() })
                .await?;
        }
        return Err(conflict(
            e,
            &[("avatar", "default avatar"), ("_id", "file")],
        ));
    }
    Ok(FileMeta {
        id: file.id,
        file_name: file.file_name,
        file_type: file.file_type,
        size: file.bytes.len() as u64,
        owner: file.owner,
        dateline: file.dateline,
    })
}

pub(super) async fn meta(db: &Db, id: &FileId) -> Result<Option<(FileMeta, String)>> {
    db.files
        .find_one(doc! { "_id": id.as_str() })
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Bytes `[offset, offset + len)` of the chunks stored under `holder` (`len` already fits).
async fn read_range(
    db: &Db,
    holder: &str,
    chunk_size: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let end = offset + len;
    let first = offset / chunk_size;
    let last = (end - 1) / chunk_size;
    let found = db
        .chunks
        .find(doc! {
            "files_id": holder,
            "n": { "$gte": i64::try_from(first).unwrap_or(i64::MAX), "$lte": i64::try_from(last).unwrap_or(i64::MAX) },
        })
        .sort(doc! { "files_id": 1, "n": 1 })
        .await?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    for (expected, chunk) in (first..).zip(collect(found).await?) {
        let n = u64::try_from(docs::int(&chunk, "n")?).unwrap_or(u64::MAX);
        let data = match chunk.get("data") {
            Some(Bson::Binary(b)) => &b.bytes,
            _ => {
                return Err(Error::Corrupt(format!(
                    "file {holder}: chunk {n} has no data"
                )));
            }
        };
        if n != expected {
            return Err(Error::Corrupt(format!(
                "file {holder}: chunk {expected} missing"
            )));
        }
        let start = n * chunk_size;
        let from = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
        let to = usize::try_from(end.min(start + chunk_size) - start).unwrap_or(usize::MAX);
        let piece = data
            .get(from..to.min(data.len()))
            .ok_or_else(|| Error::Corrupt(format!("file {holder}: chunk {n} too short")))?;
        out.extend_from_slice(piece);
    }
    if out.len() as u64 != len {
        return Err(Error::Corrupt(format!(
            "file {holder}: shorter than its length"
        )));
    }
    Ok(out)
}

pub(super) async fn read_chunk(
    db: &Db,
    id: &FileId,
    offset: u64,
    max_len: usize,
) -> Result<Option<Vec<u8>>> {
    let Some(found) = db.files.find_one(doc! { "_id": id.as_str() }).await? else {
        return Ok(None);
    };
    let (meta, holder) = decode(&found)?;
    let chunk_size = u64::try_from(docs::int(&found, "chunkSize")?)
        .ok()
        .filter(|&size| size > 0)
        .ok_or_else(|| Error::Corrupt(format!("file {id}: bad chunkSize")))?;
    if offset >= meta.size {
        return Ok(Some(Vec::new()));
    }
    let len = (meta.size - offset).min(max_len as u64);
    read_range(db, &holder, chunk_size, offset, len)
        .await
        .map(Some)
}

pub(super) async fn get(db: &Db, id: &FileId) -> Result<Option<(FileMeta, Vec<u8>)>> {
    let Some(found) = db.files.find_one(doc! { "_id": id.as_str() }).await? else {
        return Ok(None);
    };
    let (meta, _) = decode(&found)?;
    let size = usize::try_from(meta.size)
        .map_err(|_| Error::Corrupt(format!("file {id}: too large for memory")))?;
    let bytes = read_chunk(db, id, 0, size).await?.unwrap_or_default();
    Ok(Some((meta, bytes)))
}

pub(super) async fn default_avatar(db: &Db, kind: AvatarKind) -> Result<Option<FileId>> {
    let found = db
        .files
        .find_one(doc! { "metadata.avatar": kind.as_str() })
        .projection(doc! { "_id": 1 })
        .await?;
    found.as_ref().map(|d| docs::id(d, "_id")).transpose()
}
