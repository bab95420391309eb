//! `users` and `onlines`: registration, lookups, login bookkeeping, profile, password,
//! friends.

use mongodb::bson::{DateTime, Document, doc};

use super::db::{Db, collect, conflict};
use super::docs;
use crate::error::{Error, Result};
use crate::model::*;
use protocol::ids::UserId;

pub(super) fn decode(d: &Document) -> Result<User> {
    Ok(User {
        id: docs::id(d, "_id")?,
        login: docs::str(d, "login")?.to_owned(),
        nickname: docs::str_or_empty(d, "nickname")?.to_owned(),
        password_hash: docs::str_or_empty(d, "password")?.to_owned(),
        gender: Gender::from_i32(docs::int32(d, "gender")?),
        avatar: docs::id(d, "avatar")?,
        last_login: docs::int(d, "lastLogin")?,
        login_count: docs::int32(d, "loginCount")?,
        dateline: docs::int(d, "dateline")?,
        token_generation: u32::try_from(docs::int(d, "tokenGeneration")?)
            .map_err(|_| Error::Corrupt("tokenGeneration out of range".to_owned()))?,
        hide_receipts: d.get_bool("hideReceipts").unwrap_or(false),
    })
}

pub(super) async fn create(db: &Db, user: NewUser) -> Result<User> {
    let document = doc! {
        "_id": user.id.as_str(),
        "login": &user.login,
        "nickname": &user.nickname,
        "password": &user.password_hash,
        "gender": user.gender.as_i32(),
        "avatar": user.avatar.as_str(),
        "lastLogin": 0_i64,
        "loginCount": 0_i32,
        "sessionsStatus": [],
        "friends": [],
        "dateline": user.dateline,
        "tokenGeneration": 0_i64,
    };
    db.users
        .insert_one(document)
        .await
        .map_err(|e| conflict(e, &[("login", "login"), ("_id", "user")]))?;
    Ok(User {
        id: user.id,
        login: user.login,
        nickname: user.nickname,
        password_hash: user.password_hash,
        gender: user.gender,
        avatar: user.avatar,
        last_login: 0,
        login_count: 0,
        dateline: user.dateline,
        token_generation: 0,
        hide_receipts: false,
    })
}

pub(super) async fn by_id(db: &Db, uid: &UserId) -> Result<Option<User>> {
    db.users
        .find_one(doc! { "_id": uid.as_str() })
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn by_ids(db: &Db, uids: &[UserId]) -> Result<Vec<User>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = uids.iter().map(UserId::as_str).collect();
    let found = collect(db.users.find(doc! { "_id": { "$in": ids } }).await?).await?;
    found.iter().map(decode).collect()
}

pub(super) async fn by_login(db: &Db, login: &str) -> Result<Option<User>> {
    db.users
        .find_one(doc! { "login": login })
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn by_nickname(db: &Db, nickname: &str, limit: usize) -> Result<Vec<User>> {
    let found = db
        .users
        .find(doc! { "nickname": nickname })
        .sort(doc! { "dateline": 1, "_id": 1 })
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await?;
    collect(found).await?.iter().map(decode).collect()
}

/// `lastLogin` = now (and `loginCount` +1 for a login), then the `onlines` row.
pub(super) async fn touch(db: &Db, uid: &UserId, now: Millis, login: bool) -> Result<()> {
    let update = if login {
        doc! { "$set": { "lastLogin": now }, "$inc": { "loginCount": 1_i32 } }
    } else {
        doc! { "$set": { "lastLogin": now } }
    };
    let updated = db
        .users
        .update_one(doc! { "_id": uid.as_str() }, update)
        .await?;
    if updated.matched_count == 0 {
        return Err(Error::NotFound("user"));
    }
    db.onlines
        .update_one(
            doc! { "_id": uid.as_str() },
            doc! { "$set": { "uid": uid.as_str(), "dateline": DateTime::from_millis(now) } },
        )
        .upsert(true)
        .await?;
    Ok(())
}

pub(super) async fn logout(db: &Db, uid: &UserId) -> Result<()> {
    let updated = db
        .users
        .update_one(
            doc! { "_id": uid.as_str() },
            doc! { "$inc": { "tokenGeneration": 1_i64 } },
        )
        .await?;
    if updated.matched_count == 0 {
        return Err(Error::NotFound("user"));
    }
    db.onlines.delete_many(doc! { "uid": uid.as_str() }).await?;
    Ok(())
}

pub(super) async fn recently_active(db: &Db, since: Millis) -> Result<Vec<UserId>> {
    let rows = db
        .onlines
        .find(doc! { "dateline": { "$gte": DateTime::from_millis(since) } })
        .sort(doc! { "dateline": -1, "uid": 1 })
        .await?;
    collect(rows)
        .await?
        .iter()
        .map(|d| docs::id(d, "uid"))
        .collect()
}

pub(super) async fn update_profile(db: &Db, uid: &UserId, update: ProfileUpdate) -> Result<()> {
    let mut set = Document::new();
    if let Some(nickname) = update.nickname {
        set.insert("nickname", nickname);
    }
    if let Some(gender) = update.gender {
        set.insert("gender", gender.as_i32());
    }
    if let Some(avatar) = update.avatar {
        set.insert("avatar", String::from(avatar));
    }
    if let Some(hide) = update.hide_receipts {
        set.insert("hideReceipts", hide);
    }
    let filter = doc! { "_id": uid.as_str() };
    let matched = if set.is_empty() {
        db.users.count_documents(filter).await?
    } else {
        db.users
            .update_one(filter, doc! { "$set": set })
            .await?
            .matched_count
    };
    if matched == 0 {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

pub(super) async fn replace_password(
    db: &Db,
    uid: &UserId,
    expected: &str,
    new: &str,
) -> Result<bool> {
    let updated = db
        .users
        .update_one(
            doc! { "_id": uid.as_str(), "password": expected },
            doc! { "$set": { "password": new }, "$inc": { "tokenGeneration": 1_i64 } },
        )
        .await?;
    Ok(updated.modified_count == 1)
}

pub(super) async fn add_friend(db: &Db, uid: &UserId, fuid: &UserId) -> Result<bool> {
    let updated = db
        .users
        .update_one(
            doc! { "_id": uid.as_str(), "friends": { "$ne": fuid.as_str() } },
            doc! { "$push": { "friends": fuid.as_str() } },
        )
        .await?;
    Ok(updated.modified_count == 1)
}

pub(super) async fn remove_friend(db: &Db, uid: &UserId, fuid: &UserId) -> Result<bool> {
    let updated = db
        .users
        .update_one(
            doc! { "_id": uid.as_str(), "friends": fuid.as_str() },
            doc! { "$pull": { "friends": fuid.as_str() } },
        )
        .await?;
    Ok(updated.modified_count == 1)
}

pub(super) async fn friends(db: &Db, uid: &UserId) -> Result<Vec<User>> {
    let Some(me) = db
        .users
        .find_one(doc! { "_id": uid.as_str() })
        .projection(doc! { "friends": 1 })
        .await?
    else {
        return Ok(Vec::new());
    };
    let order = docs::strings(&me, "friends")?;
    if order.is_empty() {
        return Ok(Vec::new());
    }
    let found = collect(db.users.find(doc! { "_id": { "$in": &order } }).await?).await?;
    let mut users: Vec<User> = found.iter().map(decode).collect::<Result<_>>()?;
    users.sort_by_key(|u| order.iter().position(|f| *f == u.id.as_str()));
    Ok(users)
}

pub(super) async fn is_friend(db: &Db, uid: &UserId, fuid: &UserId) -> Result<bool> {
    let count = db
        .users
        .count_documents(doc! { "_id": uid.as_str(), "friends": fuid.as_str() })
        .await?;
    Ok(count > 0)
}
