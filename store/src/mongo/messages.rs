//! `messages` and the numbering, read marks and membership changes that go with them.

use std::collections::HashSet;

use mongodb::bson::{Bson, Document, doc};
use protocol::chat::ChatKind;
use protocol::ids::{FileId, MessageId, SessionId, UserId};

use super::db::{Db, collect, conflict, page_bounds};
use super::{docs, plans, search};
use crate::error::{Error, Result};
use crate::model::*;

pub(super) fn decode(d: &Document) -> Result<Message> {
    Ok(Message {
        id: docs::id(d, "_id")?,
        session_id: docs::id(d, "sessionid")?,
        seq: docs::int(d, "seq")?,
        uid: docs::id(d, "uid")?,
        msg_type: ChatKind::from_wire(docs::str_or_empty(d, "msgType")?),
        content: docs::str_or_empty(d, "content")?.to_owned(),
        file_name: docs::str_or_empty(d, "fileName")?.to_owned(),
        file_type: docs::str_or_empty(d, "fileType")?.to_owned(),
        fileid: docs::opt_id::<FileId>(d, "fileid")?,
        thumbid: docs::opt_id::<FileId>(d, "thumbid")?,
        dateline: docs::int(d, "dateline")?,
        // A message's own id stands in for a client id the sender did not give.
        client_id: match (d.get("clientId"), d.get("_id")) {
            (Some(Bson::String(c)), Some(Bson::String(id))) if c == id => None,
            (Some(Bson::String(c)), _) => Some(c.clone()),
            _ => None,
        },
        reply_to: match d.get("replyTo") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(docs::int(d, "replyTo")?),
        },
    })
}

pub(super) fn document(m: &Message) -> Document {
    let mut d = doc! {
        "_id": m.id.as_str(),
        "uid": m.uid.as_str(),
        "sessionid": m.session_id.as_str(),
        "msgType": m.msg_type.as_str(),
        "content": &m.content,
        "fileName": &m.file_name,
        "fileType": &m.file_type,
        "fileid": m.fileid.as_ref().map_or("", FileId::as_str),
        "thumbid": m.thumbid.as_ref().map_or("", FileId::as_str),
        "dateline": m.dateline,
        "seq": m.seq,
    };
    d.insert("clientId", m.client_id.as_deref().unwrap_or(m.id.as_str()));
    if let Some(terms) = search::terms_of(m.msg_type.as_str(), &m.content, &m.file_name) {
        d.insert("terms", terms);
    }
    if let Some(reply_to) = m.reply_to {
        d.insert("replyTo", reply_to);
    }
    d
}

/// The messages of `sid` with these seqs, in seq order (those that exist).
pub(super) async fn at_seqs(db: &Db, sid: &SessionId, seqs: &[i64]) -> Result<Vec<Message>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let found = db
        .messages
        .find(doc! { "sessionid": sid.as_str(), "seq": { "$in": seqs } })
        .sort(doc! { "sessionid": 1, "seq": 1 })
        .await?;
    collect(found).await?.iter().map(decode).collect()
}

/// How many times an append tries the next number before giving up (each failure means
/// another writer stored a message in the same chat in between).
const MAX_CLAIMS: u32 = 64;

/// Numbers `message` (its `seq` is ignored) by claiming the next `seq` of its session with the
/// insert itself: the unique `(sessionid, seq)` index decides between writers on different
/// nodes, so a number exists only once its message does. History never has a hole, not even
/// for a moment (a writer cut off between taking a number and storing its message would leave
/// one, and readers on other nodes would deliver what follows before it). Then it moves the
/// session's `nextSeq`/`lastMsgid`/`lastUpdate` forward and the read marks of the members in
/// `watching` to the message, in the same one-document update (nothing for the others: their
/// unread count is the last `seq` minus their mark).
async fn record(db: &Db, mut message: Message, watching: &HashSet<&str>) -> Result<Message> {
    let sid = message.session_id.as_str().to_owned();
    let session = db
        .sessions
        .find_one(doc! { "_id": &sid })
        .projection(doc! { "nextSeq": 1 })
        .await?
        .ok_or(Error::NotFound("session"))?;
    // `nextSeq` is the last number handed out as far as the session knows; it may lag behind
    // a message stored a moment ago, never run ahead of history (but for numbers reserved by
    // an upgrade, which the next message must not take).
    let mut next = docs::int(&session, "nextSeq")? + 1;
    let mut claims = 0;
    loop {
        message.seq = next;
        let inserted = db.messages.insert_one(document(&message)).await;
        match inserted.map_err(|e| {
            conflict(
                e,
                &[
                    ("cookim-messages-history", "seq"),
                    ("clientId", "client id"),
                    ("_id", "message"),
                ],
            )
        }) {
            Ok(_) => break,
            Err(Error::Conflict("seq")) if claims < MAX_CLAIMS => {
                claims += 1;
                next = next.max(last_seq(db, &message.session_id).await? + 1);
            }
            Err(e) => return Err(e),
        }
    }
    let watching: Vec<&str> = watching.iter().copied().collect();
    let read = doc! { "usersStatus.$[m].readSeq": message.seq };
    let members = vec![doc! { "m.uid": { "$in": &watching } }];
    let mut moved_on = doc! {
        "$set": { "nextSeq": message.seq, "lastMsgid": message.id.as_str(), "lastUpdate": message.dateline },
    };
    if !watching.is_empty() {
        moved_on.insert("$max", read.clone());
    }
    let mut update = db.sessions.update_one(
        doc! { "_id": &sid, "nextSeq": { "$lt": message.seq } },
        moved_on,
    );
    if !watching.is_empty() {
        update = update.array_filters(members.clone());
    }
    let moved = update.await?;
    if moved.matched_count == 0 && !watching.is_empty() {
        // A later message got there first: only the read marks.
        db.sessions
            .update_one(doc! { "_id": &sid }, doc! { "$max": read })
            .array_filters(members)
            .await?;
    }
    Ok(message)
}

/// The highest `seq` stored in `sid` (0 for none).
async fn last_seq(db: &Db, sid: &SessionId) -> Result<i64> {
    let query = plans::history(sid);
    let last = db
        .messages
        .find_one(query.filter)
        .sort(query.sort)
        .projection(doc! { "seq": 1 })
        .await?;
    last.map_or(Ok(0), |d| docs::int(&d, "seq"))
}

fn event(change: MembershipChange, kind: ChatKind) -> Message {
    Message {
        id: change.message_id,
        session_id: change.session_id,
        seq: 0,
        uid: change.uid,
        msg_type: kind,
        content: change.content,
        file_name: String::new(),
        file_type: String::new(),
        fileid: None,
        thumbid: None,
        dateline: change.dateline,
        client_id: None,
        reply_to: None,
    }
}

async fn session_exists(db: &Db, sid: &SessionId) -> Result<bool> {
    Ok(db
        .sessions
        .count_documents(doc! { "_id": sid.as_str() })
        .await?
        > 0)
}

pub(super) async fn join(
    db: &Db,
    change: MembershipChange,
    online: &HashSet<UserId>,
) -> Result<Option<Message>> {
    let uid = change.uid.as_str().to_owned();
    // The newcomer's mark starts before the join message, which is unread for them unless they
    // watch (then `record` moves it).
    let last = db
        .sessions
        .find_one(doc! { "_id": change.session_id.as_str() })
        .projection(doc! { "nextSeq": 1 })
        .await?
        .map_or(Ok(0), |d| docs::int(&d, "nextSeq"))?;
    let pushed = db
        .sessions
        .update_one(
            doc! { "_id": change.session_id.as_str(), "usersStatus.uid": { "$ne": &uid } },
            doc! { "$push": { "usersStatus": { "uid": &uid, "online": false, "readSeq": last } } },
        )
        .await?;
    if pushed.matched_count == 0 {
        return if session_exists(db, &change.session_id).await? {
            Ok(None)
        } else {
            Err(Error::NotFound("session"))
        };
    }
    let watching: HashSet<&str> = online.iter().map(UserId::as_str).collect();
    Ok(Some(
        record(db, event(change, ChatKind::Join), &watching).await?,
    ))
}

pub(super) async fn leave(
    db: &Db,
    change: MembershipChange,
    online: &HashSet<UserId>,
) -> Result<Option<Message>> {
    let pulled = db
        .sessions
        .update_one(
            doc! { "_id": change.session_id.as_str(), "usersStatus.uid": change.uid.as_str() },
            doc! { "$pull": { "usersStatus": { "uid": change.uid.as_str() } } },
        )
        .await?;
    if pulled.matched_count == 0 {
        return if session_exists(db, &change.session_id).await? {
            Ok(None)
        } else {
            Err(Error::NotFound("session"))
        };
    }
    let watching: HashSet<&str> = online.iter().map(UserId::as_str).collect();
    Ok(Some(
        record(db, event(change, ChatKind::Leave), &watching).await?,
    ))
}

async fn by_client_id(db: &Db, new: &NewMessage, client_id: &str) -> Result<Option<Message>> {
    db.messages
        .find_one(plans::by_client_id(&new.session_id, &new.uid, client_id).filter)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn append(db: &Db, new: NewMessage, online: &HashSet<UserId>) -> Result<Message> {
    if let Some(client_id) = &new.client_id
        && let Some(first) = by_client_id(db, &new, client_id).await?
    {
        return Ok(first);
    }
    let message = Message {
        id: new.id.clone(),
        session_id: new.session_id.clone(),
        seq: 0,
        uid: new.uid.clone(),
        msg_type: new.msg_type.clone(),
        content: new.content.clone(),
        file_name: new.file_name.clone(),
        file_type: new.file_type.clone(),
        fileid: new.fileid.clone(),
        thumbid: new.thumbid.clone(),
        dateline: new.dateline,
        client_id: new.client_id.clone(),
        reply_to: new.reply_to,
    };
    let watching: HashSet<&str> = online.iter().map(UserId::as_str).collect();
    match record(db, message, &watching).await {
        // A concurrent retry won the race; it holds the number.
        Err(Error::Conflict("client id")) => {
            let client_id = new.client_id.as_deref().unwrap_or_default();
            by_client_id(db, &new, client_id)
                .await?
                .ok_or(Error::Conflict("message"))
        }
        other => other,
    }
}

pub(super) async fn by_ids(db: &Db, ids: &[&MessageId]) -> Result<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    let found = collect(db.messages.find(doc! { "_id": { "$in": ids } }).await?).await?;
    found.iter().map(decode).collect()
}

pub(super) async fn page(db: &Db, sid: &SessionId, page: u32, count: u32) -> Result<Vec<Message>> {
    let (skip, limit) = page_bounds(page, count);
    let query = plans::history(sid);
    let found = db
        .messages
        .find(query.filter)
        .sort(query.sort)
        .skip(skip)
        .limit(limit)
        .await?;
    let mut messages: Vec<Message> = collect(found)
        .await?
        .iter()
        .map(decode)
        .collect::<Result<_>>()?;
    messages.reverse();
    Ok(messages)
}

pub(super) async fn after(
    db: &Db,
    sid: &SessionId,
    after: i64,
    limit: u32,
) -> Result<Vec<Message>> {
    let query = plans::after(sid, after);
    let found = db
        .messages
        .find(query.filter)
        .sort(query.sort)
        .limit(i64::from(limit))
        .await?;
    collect(found).await?.iter().map(decode).collect()
}

/// Moves a member's read mark forward to `upto` (the last message if `None`), never past the
/// last message; the mark after, `None` if not a member.
pub(super) async fn mark_read(
    db: &Db,
    sid: &SessionId,
    uid: &UserId,
    upto: Option<i64>,
) -> Result<Option<i64>> {
    let member = doc! { "_id": sid.as_str(), "usersStatus.uid": uid.as_str() };
    let Some(found) = db
        .sessions
        .find_one(member.clone())
        .projection(doc! { "nextSeq": 1, "usersStatus.$": 1 })
        .await?
    else {
        return Ok(None);
    };
    let last = docs::int(&found, "nextSeq")?;
    let now = docs::docs(&found, "usersStatus")?
        .first()
        .map_or(Ok(0), |m| docs::int(m, "readSeq"))?;
    let target = upto.unwrap_or(last).min(last);
    if target <= now {
        return Ok(Some(now));
    }
    db.sessions
        .update_one(member, doc! { "$max": { "usersStatus.$.readSeq": target } })
        .await?;
    Ok(Some(target))
}
