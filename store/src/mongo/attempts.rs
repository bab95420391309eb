//! `attempts`: fixed-window counters for login lockout, `{key, window, count}`, unique on
//! `(key, window)`.

use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use super::db::{Db, duplicate_key};
use super::docs;
use crate::error::{Error, Result};

/// How many times [`record`] creates a missing counter and tries again. A second miss only
/// happens if the counter is deleted between its creation and the increment (a
/// `clear_attempts` at that moment); three in a row means something keeps deleting it.
const TRIES: u32 = 3;

/// Adds 1 with `$inc` in a `findAndModify` that returns the document after the update: one
/// atomic step on the server however many nodes count at once. Then `key`'s counters older
/// than the previous window are deleted.
///
/// The increment does not upsert. A missing counter is first created at 0 (an upsert with
/// `$setOnInsert`; of concurrent creators one inserts and the others hit the unique index or
/// find it there, both fine), then incremented like any other. An upserting `findAndModify`
/// would save that round trip on a window's first attempt, but two of them racing to create
/// the counter do not both get their count back everywhere: MongoDB before 4.2 fails the
/// loser with a duplicate key (nothing written, so a retry would do), and the pinned test
/// server (SecantusDB) applies the loser's increment yet returns no document, leaving no way
/// to learn the count. Increments of an existing counter are exact on both.
pub(super) async fn record(db: &Db, key: &str, window: i64) -> Result<u32> {
    let counter = doc! { "key": key, "window": window };
    for _ in 0..TRIES {
        if let Some(counted) = increment(db, &counter).await? {
            db.attempts
                .delete_many(doc! { "key": key, "window": { "$lt": window.saturating_sub(1) } })
                .await?;
            let count = docs::int(&counted, "count")?;
            return u32::try_from(count)
                .map_err(|_| Error::Corrupt(format!("attempts count {count}")));
        }
        let created = db
            .attempts
            .update_one(counter.clone(), doc! { "$setOnInsert": { "count": 0_i64 } })
            .upsert(true)
            .await;
        match created {
            Err(e) if duplicate_key(&e).is_none() => return Err(e.into()),
            _ => {}
        }
    }
    tracing::warn!("attempt counter deleted while counting, again and again");
    Err(Error::Unavailable)
}

/// The counter after adding 1, or `None` if it does not exist.
async fn increment(db: &Db, counter: &Document) -> Result<Option<Document>> {
    Ok(db
        .attempts
        .find_one_and_update(counter.clone(), doc! { "$inc": { "count": 1_i64 } })
        .return_document(ReturnDocument::After)
        .await?)
}

pub(super) async fn clear(db: &Db, key: &str) -> Result<()> {
    db.attempts.delete_many(doc! { "key": key }).await?;
    Ok(())
}

pub(super) async fn release(db: &Db, key: &str, window: i64) -> Result<()> {
    db.attempts
        .update_one(
            doc! { "key": key, "window": window, "count": { "$gt": 0_i64 } },
            doc! { "$inc": { "count": -1_i64 } },
        )
        .await?;
    Ok(())
}
