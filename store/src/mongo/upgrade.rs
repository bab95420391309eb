//! Brings data written by CookIM or by earlier cookim builds up to our shape at start-up,
//! before the unique indexes that need it are created: CookIM's messages have no `seq` and no
//! `clientId`; members written before read marks have a `newCount` counter and no `readSeq`.
//!
//! Each session's unnumbered messages are numbered in `dateline` (then `_id`) order from a
//! block of numbers reserved with one `$inc` of the session's `nextSeq`, so numbers are never
//! handed out twice, even when several nodes start at once on the same CookIM database (each
//! message is numbered by the first update that finds it unnumbered; a node that loses that
//! race leaves a gap in its block). Each gets `clientId` = its own id (see the module doc of
//! `mongo`). A database written by cookim has nothing to number: one query finds that out.

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::db::{Db, collect};
use super::docs;
use crate::error::Result;

/// Numbers every message lacking a `seq`; returns how many were numbered.
pub(super) async fn number_old_messages(db: &Db) -> Result<u64> {
    let unnumbered = doc! { "seq": { "$exists": false } };
    if db.messages.find_one(unnumbered.clone()).await?.is_none() {
        return Ok(0);
    }
    let sessions = db.messages.distinct("sessionid", unnumbered).await?;
    let mut numbered = 0;
    for sid in sessions {
        let Bson::String(sid) = sid else { continue };
        let found = db
            .messages
            .find(doc! { "sessionid": &sid, "seq": { "$exists": false } })
            .sort(doc! { "dateline": 1, "_id": 1 })
            .projection(doc! { "_id": 1 })
            .await?;
        let ids: Vec<String> = collect(found)
            .await?
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect();
        let Ok(count) = i64::try_from(ids.len()) else {
            continue;
        };
        // Reserve `count` numbers; a session CookIM lost (messages without their session)
        // gets a session-less block from 1, which no append can collide with.
        let last = match db
            .sessions
            .find_one_and_update(doc! { "_id": &sid }, doc! { "$inc": { "nextSeq": count } })
            .return_document(ReturnDocument::After)
            .projection(doc! { "nextSeq": 1 })
            .await?
        {
            Some(session) => docs::int(&session, "nextSeq")?,
            None => count,
        };
        for (seq, id) in (last - count + 1..).zip(&ids) {
            let done = db
                .messages
                .update_one(
                    doc! { "_id": id, "seq": { "$exists": false } },
                    doc! { "$set": { "seq": seq, "clientId": id } },
                )
                .await?;
            numbered += done.modified_count;
        }
    }
    tracing::info!(numbered, "numbered messages written by CookIM");
    Ok(numbered)
}

/// Gives every `usersStatus` element without a `readSeq` the mark that keeps its unread count:
/// the session's `nextSeq` minus its `newCount` (CookIM's members, which have neither, have
/// read everything). One query finds out that there is nothing to do.
///
/// Each session's array is replaced only if it is still the array read, so a join or leave
/// on another node in between is not lost (that session is upgraded at the next start-up, or
/// by the node that wrote it).
pub(super) async fn read_marks(db: &Db) -> Result<u64> {
    let unmarked = doc! { "usersStatus": { "$elemMatch": { "readSeq": { "$exists": false } } } };
    if db.sessions.find_one(unmarked.clone()).await?.is_none() {
        return Ok(0);
    }
    let found = db
        .sessions
        .find(unmarked)
        .projection(doc! { "usersStatus": 1, "nextSeq": 1 })
        .await?;
    let mut upgraded = 0;
    for session in collect(found).await? {
        let last = docs::int(&session, "nextSeq")?;
        let before = docs::docs(&session, "usersStatus")?;
        let after: Vec<Document> = before
            .iter()
            .map(|m| {
                let mut m = (*m).clone();
                if !m.contains_key("readSeq") {
                    let count = docs::int(&m, "newCount")?;
                    m.insert("readSeq", (last - count).max(0));
                }
                m.remove("newCount");
                Ok(m)
            })
            .collect::<Result<_>>()?;
        let before: Vec<Document> = before.into_iter().cloned().collect();
        let done = db
            .sessions
            .update_one(
                doc! { "_id": session.get("_id").cloned().unwrap_or(Bson::Null), "usersStatus": before },
                doc! { "$set": { "usersStatus": after } },
            )
            .await?;
        upgraded += done.modified_count;
    }
    tracing::info!(upgraded, "sessions given read marks");
    Ok(upgraded)
}
