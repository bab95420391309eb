//! `logins`: one document per device's signed-in session.
//!
//! `{_id, uid, device, created, lastSeen, ended}`: times are longs (epoch ms), `ended` is
//! `null` while the login is in use.

use mongodb::bson::{Bson, Document, doc};
use protocol::ids::{LoginId, UserId};

use super::db::{Db, collect, conflict};
use super::{docs, plans};
use crate::error::Result;
use crate::model::*;

fn decode(d: &Document) -> Result<Login> {
    Ok(Login {
        id: docs::id(d, "_id")?,
        uid: docs::id(d, "uid")?,
        device: docs::str_or_empty(d, "device")?.to_owned(),
        created: docs::int(d, "created")?,
        last_seen: docs::int(d, "lastSeen")?,
        ended: match d.get("ended") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(docs::int(d, "ended")?),
        },
    })
}

pub(super) async fn create(db: &Db, new: NewLogin) -> Result<Login> {
    let document = doc! {
        "_id": new.id.as_str(),
        "uid": new.uid.as_str(),
        "device": &new.device,
        "created": new.created,
        "lastSeen": new.created,
        "ended": Bson::Null,
    };
    db.logins
        .insert_one(document)
        .await
        .map_err(|e| conflict(e, &[("_id", "login id")]))?;
    Ok(Login {
        id: new.id,
        uid: new.uid,
        device: new.device,
        created: new.created,
        last_seen: new.created,
        ended: None,
    })
}

pub(super) async fn by_id(db: &Db, id: &LoginId) -> Result<Option<Login>> {
    db.logins
        .find_one(doc! { "_id": id.as_str() })
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn active(db: &Db, uid: &UserId) -> Result<Vec<Login>> {
    let query = plans::active_logins(uid);
    let found = db
        .logins
        .find(query.filter)
        .sort(query.sort)
        .limit(i64::try_from(LOGINS_LISTED).unwrap_or(i64::MAX))
        .await?;
    collect(found).await?.iter().map(decode).collect()
}

/// The condition on `lastSeen` keeps it from moving backwards; the one on `ended` leaves an
/// ended login as it was when it ended.
pub(super) async fn touch(db: &Db, id: &LoginId, now: Millis) -> Result<()> {
    db.logins
        .update_one(
            doc! { "_id": id.as_str(), "ended": Bson::Null, "lastSeen": { "$lt": now } },
            doc! { "$set": { "lastSeen": now } },
        )
        .await?;
    Ok(())
}

/// Each login is ended by its own conditional update (`ended: null` in the filter), so the
/// ids returned are exactly those this call ended even when another call ends some of the
/// same logins at the same moment. (One `updateMany` cannot say which documents it changed.)
pub(super) async fn end(
    db: &Db,
    uid: &UserId,
    which: EndLogins,
    now: Millis,
) -> Result<Vec<LoginId>> {
    let candidates = match which {
        EndLogins::One(id) => vec![id],
        EndLogins::AllBut(keep) => in_use(db, uid, Some(&keep)).await?,
        EndLogins::All => in_use(db, uid, None).await?,
    };
    let mut ended = Vec::new();
    for id in candidates {
        let updated = db
            .logins
            .update_one(
                doc! { "_id": id.as_str(), "uid": uid.as_str(), "ended": Bson::Null },
                doc! { "$set": { "ended": now } },
            )
            .await?;
        if updated.modified_count == 1 {
            ended.push(id);
        }
    }
    ended.sort();
    Ok(ended)
}

/// The ids of `uid`'s logins in use, but `keep`.
async fn in_use(db: &Db, uid: &UserId, keep: Option<&LoginId>) -> Result<Vec<LoginId>> {
    let mut filter = doc! { "uid": uid.as_str(), "ended": Bson::Null };
    if let Some(keep) = keep {
        filter.insert("_id", doc! { "$ne": keep.as_str() });
    }
    let found = db.logins.find(filter).projection(doc! { "_id": 1 }).await?;
    collect(found)
        .await?
        .iter()
        .map(|d| docs::id(d, "_id"))
        .collect()
}

pub(super) async fn ended_since(db: &Db, since: Millis) -> Result<Vec<(UserId, LoginId, Millis)>> {
    let query = plans::ended_logins(since);
    let found = db
        .logins
        .find(query.filter)
        .sort(query.sort)
        .projection(doc! { "uid": 1, "ended": 1 })
        .limit(i64::try_from(ENDED_LOGINS_LISTED).unwrap_or(i64::MAX))
        .await?;
    collect(found)
        .await?
        .iter()
        .map(|d| {
            Ok((
                docs::id(d, "uid")?,
                docs::id(d, "_id")?,
                docs::int(d, "ended")?,
            ))
        })
        .collect()
}
