//! `notifications`: insert, count unread, take a page and mark it read.

use mongodb::bson::{Document, doc};
use protocol::ids::{SessionId, UserId};

use super::db::{Db, collect, conflict, page_bounds};
use super::{docs, plans};
use crate::error::Result;
use crate::model::*;

pub(super) fn decode(d: &Document) -> Result<Notification> {
    Ok(Notification {
        id: docs::id(d, "_id")?,
        notice_type: NoticeType::from_stored(docs::str_or_empty(d, "noticeType")?),
        senduid: docs::id(d, "senduid")?,
        recvuid: docs::id(d, "recvuid")?,
        session_id: docs::opt_id::<SessionId>(d, "sessionid")?,
        is_read: docs::int(d, "isRead")? != 0,
        dateline: docs::int(d, "dateline")?,
    })
}

pub(super) fn document(n: &Notification) -> Document {
    doc! {
        "_id": n.id.as_str(),
        "noticeType": n.notice_type.as_str(),
        "senduid": n.senduid.as_str(),
        "recvuid": n.recvuid.as_str(),
        "sessionid": n.session_id.as_ref().map_or("", SessionId::as_str),
        "isRead": i32::from(n.is_read),
        "dateline": n.dateline,
    }
}

pub(super) async fn insert(db: &Db, n: Notification) -> Result<()> {
    db.notifications
        .insert_one(document(&n))
        .await
        .map_err(|e| conflict(e, &[("_id", "notification")]))?;
    Ok(())
}

pub(super) async fn unread(db: &Db, uid: &UserId) -> Result<i64> {
    let count = db
        .notifications
        .count_documents(plans::unread_notifications(uid).filter)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

pub(super) async fn take(
    db: &Db,
    uid: &UserId,
    page: u32,
    count: u32,
) -> Result<Vec<Notification>> {
    let (skip, limit) = page_bounds(page, count);
    let query = plans::notifications(uid);
    let found = db
        .notifications
        .find(query.filter)
        .sort(query.sort)
        .skip(skip)
        .limit(limit)
        .await?;
    let taken: Vec<Notification> = collect(found)
        .await?
        .iter()
        .map(decode)
        .collect::<Result<_>>()?;
    let unread: Vec<&str> = taken
        .iter()
        .filter(|n| !n.is_read)
        .map(|n| n.id.as_str())
        .collect();
    if !unread.is_empty() {
        db.notifications
            .update_many(
                doc! { "_id": { "$in": unread } },
                doc! { "$set": { "isRead": 1_i32 } },
            )
            .await?;
    }
    Ok(taken)
}
