//! `sessions`: groups, private pairs, members (`usersStatus`) and chat lists.

use std::collections::HashMap;

use mongodb::bson::{Document, doc};
use protocol::ids::{FileId, MessageId, SessionId, UserId};

use super::db::{Db, collect, conflict};
use super::{docs, messages, plans};
use crate::error::{Error, Result};
use crate::model::*;

pub(super) fn decode(d: &Document) -> Result<Session> {
    Ok(Session {
        id: docs::id(d, "_id")?,
        createuid: docs::id(d, "createuid")?,
        ouid: docs::opt_id(d, "ouid")?,
        name: docs::str_or_empty(d, "sessionName")?.to_owned(),
        icon: docs::opt_id::<FileId>(d, "sessionIcon")?,
        session_type: if docs::int(d, "sessionType")? == 0 {
            SessionType::Private
        } else {
            SessionType::Group
        },
        public: docs::int(d, "publicType")? == 1,
        last_msgid: docs::opt_id::<MessageId>(d, "lastMsgid")?,
        last_update: docs::int(d, "lastUpdate")?,
        dateline: docs::int(d, "dateline")?,
    })
}

/// The new session's document; `pair` only for private chats.
fn document(new: &NewSession, pair: Option<String>) -> Document {
    let mut d = doc! {
        "_id": new.id.as_str(),
        "createuid": new.createuid.as_str(),
        "ouid": new.ouid.as_ref().map_or("", UserId::as_str),
        "sessionName": &new.name,
        "sessionIcon": new.icon.as_ref().map_or("", FileId::as_str),
        "sessionType": new.session_type.as_i32(),
        "publicType": i32::from(new.public),
        "usersStatus": [],
        "lastMsgid": "",
        "lastUpdate": new.dateline,
        "dateline": new.dateline,
        "nextSeq": 0_i64,
    };
    if let Some(pair) = pair {
        d.insert("pairKey", pair);
    }
    d
}

fn created(new: NewSession) -> Session {
    Session {
        id: new.id,
        createuid: new.createuid,
        ouid: new.ouid,
        name: new.name,
        icon: new.icon,
        session_type: new.session_type,
        public: new.public,
        last_msgid: None,
        last_update: new.dateline,
        dateline: new.dateline,
    }
}

pub(super) async fn create(db: &Db, new: NewSession) -> Result<Session> {
    db.sessions
        .insert_one(document(&new, None))
        .await
        .map_err(|e| conflict(e, &[("_id", "session")]))?;
    Ok(created(new))
}

pub(super) async fn private(db: &Db, new: NewSession) -> Result<(Session, bool)> {
    let pair = pair_key(&new.createuid, new.ouid.as_ref().unwrap_or(&new.createuid));
    match db
        .sessions
        .insert_one(document(&new, Some(pair.clone())))
        .await
    {
        Ok(_) => Ok((created(new), true)),
        Err(e) if super::db::duplicate_key(&e).is_some_and(|m| m.contains("pair")) => {
            let found = db.sessions.find_one(doc! { "pairKey": &pair }).await?;
            let found =
                found.ok_or_else(|| Error::Corrupt(format!("private session {pair} vanished")))?;
            Ok((decode(&found)?, false))
        }
        Err(e) => Err(conflict(e, &[("_id", "session")])),
    }
}

pub(super) async fn by_id(db: &Db, sid: &SessionId) -> Result<Option<Session>> {
    db.sessions
        .find_one(doc! { "_id": sid.as_str() })
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn update(db: &Db, sid: &SessionId, update: SessionUpdate) -> Result<()> {
    let mut set = doc! { "sessionName": update.name, "publicType": i32::from(update.public) };
    if let Some(icon) = update.icon {
        set.insert("sessionIcon", String::from(icon));
    }
    let updated = db
        .sessions
        .update_one(doc! { "_id": sid.as_str() }, doc! { "$set": set })
        .await?;
    if updated.matched_count == 0 {
        return Err(Error::NotFound("session"));
    }
    Ok(())
}

/// A private chat's key: both uids sorted, `"a:b"`.
fn pair_key(a: &UserId, b: &UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// A session's whole document as exported (see [`crate::dump`]).
pub(super) fn full_document(session: &Session, members: &[Member], last_seq: i64) -> Document {
    let new = NewSession {
        id: session.id.clone(),
        createuid: session.createuid.clone(),
        ouid: session.ouid.clone(),
        name: session.name.clone(),
        icon: session.icon.clone(),
        session_type: session.session_type,
        public: session.public,
        dateline: session.dateline,
    };
    let pair = match (session.session_type, &session.ouid) {
        (SessionType::Private, Some(ouid)) => Some(pair_key(&session.createuid, ouid)),
        _ => None,
    };
    let mut d = document(&new, pair);
    let members: Vec<Document> = members
        .iter()
        .map(|m| {
            // The mark that gives the exported count (dumps from before read marks have only
            // the count).
            let read_seq = (last_seq - i64::from(m.new_count)).max(0);
            doc! { "uid": m.uid.as_str(), "online": false, "readSeq": read_seq }
        })
        .collect();
    d.insert("usersStatus", members);
    d.insert(
        "lastMsgid",
        session.last_msgid.as_ref().map_or("", MessageId::as_str),
    );
    d.insert("lastUpdate", session.last_update);
    d.insert("nextSeq", last_seq);
    d
}

/// The members of a session document (with `usersStatus` and `nextSeq`), in join order.
pub(super) fn members_of(d: &Document) -> Result<Vec<Member>> {
    let last = docs::int(d, "nextSeq")?;
    docs::docs(d, "usersStatus")?
        .into_iter()
        .map(|m| member(m, last))
        .collect()
}

/// One `usersStatus` element, its unread count derived from its mark and the session's last
/// `seq`.
fn member(d: &Document, last: i64) -> Result<Member> {
    let read_seq = docs::int(d, "readSeq")?;
    Ok(Member {
        uid: docs::id(d, "uid")?,
        new_count: i32::try_from((last - read_seq).max(0)).unwrap_or(i32::MAX),
        read_seq,
    })
}

pub(super) async fn members(db: &Db, sid: &SessionId) -> Result<Vec<Member>> {
    let found = db
        .sessions
        .find_one(doc! { "_id": sid.as_str() })
        .projection(doc! { "usersStatus": 1, "nextSeq": 1 })
        .await?;
    match found {
        Some(d) => members_of(&d),
        None => Ok(Vec::new()),
    }
}

pub(super) async fn is_member(db: &Db, sid: &SessionId, uid: &UserId) -> Result<bool> {
    let count = db
        .sessions
        .count_documents(doc! { "_id": sid.as_str(), "usersStatus.uid": uid.as_str() })
        .await?;
    Ok(count > 0)
}

/// Sessions matching `filter`, newest activity first, each with `uid`'s unread count (if a
/// member) and its last message.
async fn listings(db: &Db, filter: Document, uid: &UserId) -> Result<Vec<SessionListing>> {
    // Every listing has the order of the joined-sessions query (the one `explain`ed).
    let order = plans::joined(uid).sort;
    let found = collect(db.sessions.find(filter).sort(order).await?).await?;
    let mut sessions = Vec::with_capacity(found.len());
    for d in &found {
        let count = members_of(d)?
            .into_iter()
            .find(|m| m.uid == *uid)
            .map_or(0, |m| m.new_count);
        sessions.push((decode(d)?, count));
    }
    let last_ids: Vec<&MessageId> = sessions
        .iter()
        .filter_map(|(s, _)| s.last_msgid.as_ref())
        .collect();
    let mut last: HashMap<MessageId, Message> = messages::by_ids(db, &last_ids)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    Ok(sessions
        .into_iter()
        .map(|(session, new_count)| SessionListing {
            last_message: session.last_msgid.as_ref().and_then(|id| last.remove(id)),
            session,
            new_count,
        })
        .collect())
}

pub(super) async fn public(db: &Db, uid: &UserId) -> Result<Vec<SessionListing>> {
    let filter = doc! {
        "sessionType": 1,
        "publicType": 1,
        "usersStatus.uid": { "$ne": uid.as_str() },
    };
    let mut listed = listings(db, filter, uid).await?;
    for listing in &mut listed {
        listing.new_count = 0;
    }
    Ok(listed)
}

pub(super) async fn joined(db: &Db, uid: &UserId) -> Result<Vec<SessionListing>> {
    listings(db, plans::joined(uid).filter, uid).await
}
