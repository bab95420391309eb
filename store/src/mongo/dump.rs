//! Export and import of whole collections (see [`crate::dump`]).

use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::{Collection, bson};
use protocol::ids::{FileId, UserId};

use super::db::{Db, collect, conflict};
use super::{docs, files, messages, notifications, sessions, users};
use crate::dump::{Record, Table};
use crate::error::Result;
use crate::model::*;

/// A page of `collection` after `after`, in `_id` order.
async fn page(
    collection: &Collection<Document>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Document>> {
    let filter = match after {
        Some(after) => doc! { "_id": { "$gt": after } },
        None => doc! {},
    };
    collect(
        collection
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .await?,
    )
    .await
}

pub(super) async fn export(
    db: &Db,
    table: Table,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Record>> {
    match table {
        Table::Users => page(&db.users, after, limit)
            .await?
            .iter()
            .map(|d| {
                Ok(Record::User {
                    user: users::decode(d)?,
                    friends: match d.get("friends") {
                        Some(_) => docs::strings(d, "friends")?
                            .into_iter()
                            .map(str::parse::<UserId>)
                            .collect::<std::result::Result<_, _>>()?,
                        None => Vec::new(),
                    },
                })
            })
            .collect(),
        Table::Sessions => page(&db.sessions, after, limit)
            .await?
            .iter()
            .map(|d| {
                Ok(Record::Session {
                    session: sessions::decode(d)?,
                    members: sessions::members_of(d)?,
                    last_seq: match d.get("nextSeq") {
                        Some(_) => docs::int(d, "nextSeq")?,
                        None => 0,
                    },
                })
            })
            .collect(),
        Table::Messages => page(&db.messages, after, limit)
            .await?
            .iter()
            .map(|d| messages::decode(d).map(Record::Message))
            .collect(),
        Table::Notifications => page(&db.notifications, after, limit)
            .await?
            .iter()
            .map(|d| notifications::decode(d).map(Record::Notification))
            .collect(),
    }
}

pub(super) async fn export_files(
    db: &Db,
    after: Option<&FileId>,
    limit: u32,
) -> Result<Vec<FileMeta>> {
    page(&db.files, after.map(FileId::as_str), limit)
        .await?
        .iter()
        .map(|d| files::decode(d).map(|(meta, _)| meta))
        .collect()
}

/// Inserts records as they are, a collection at a time, unordered; a duplicate `_id` is a
/// record the target already has and is skipped. Returns documents written.
pub(super) async fn import(db: &Db, records: Vec<Record>) -> Result<u64> {
    let mut by_collection: [(&Collection<Document>, Vec<Document>); 4] = [
        (&db.users, Vec::new()),
        (&db.sessions, Vec::new()),
        (&db.messages, Vec::new()),
        (&db.notifications, Vec::new()),
    ];
    for record in records {
        let (slot, document) = match record {
            Record::User { user, friends } => (0, user_document(&user, &friends)),
            Record::Session {
                session,
                members,
                last_seq,
            } => (1, sessions::full_document(&session, &members, last_seq)),
            Record::Message(m) => (2, messages::document(&m)),
            Record::Notification(n) => (3, notifications::document(&n)),
        };
        by_collection[slot].1.push(document);
    }
    let mut written = 0;
    for (collection, documents) in by_collection {
        if documents.is_empty() {
            continue;
        }
        let total = documents.len() as u64;
        let ids: Vec<Bson> = documents
            .iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        match collection.insert_many(documents).ordered(false).await {
            Ok(done) => written += done.inserted_ids.len() as u64,
            Err(e) => {
                let ErrorKind::InsertMany(failure) = e.kind.as_ref() else {
                    return Err(e.into());
                };
                let errors = failure.write_errors.as_deref().unwrap_or_default();
                if failure.write_concern_error.is_some()
                    || errors.iter().any(|w| w.code != super::db::DUPLICATE_KEY)
                {
                    return Err(e.into());
                }
                // A document refused as a duplicate is one the target already has when its
                // `_id` is there (a server may name another unique index it checked first).
                let refused: Vec<&Bson> = errors.iter().filter_map(|w| ids.get(w.index)).collect();
                let present = collection
                    .count_documents(doc! { "_id": { "$in": refused.clone() } })
                    .await?;
                if present != refused.len() as u64 {
                    return Err(conflict(
                        e,
                        &[("login", "login"), ("pairKey", "private session")],
                    ));
                }
                written += total - present;
            }
        }
    }
    Ok(written)
}

fn user_document(user: &User, friends: &[UserId]) -> Document {
    doc! {
        "_id": user.id.as_str(),
        "login": &user.login,
        "nickname": &user.nickname,
        "password": &user.password_hash,
        "gender": user.gender.as_i32(),
        "avatar": user.avatar.as_str(),
        "lastLogin": user.last_login,
        "loginCount": user.login_count,
        "sessionsStatus": Bson::Array(Vec::new()),
        "friends": friends.iter().map(|f| Bson::String(f.to_string())).collect::<bson::Array>(),
        "dateline": user.dateline,
        "tokenGeneration": i64::from(user.token_generation),
        "hideReceipts": user.hide_receipts,
    }
}
