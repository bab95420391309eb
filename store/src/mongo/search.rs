//! Message search without a text index (the MongoDB-wire test servers have none, and Atlas
//! Search is not MongoDB): each text and file message carries `terms`, its search terms cut by
//! `protocol::search`, in an ordinary multikey index (`cookim-messages-terms`). A query term
//! is an anchored regular expression on `terms` (a prefix), which that index serves on any
//! MongoDB.

use mongodb::bson::{Bson, Document, doc};
use protocol::search;

use super::db::{Db, collect};
use super::messages::decode;
use crate::error::Result;
use crate::model::{Message, Search};

/// The `terms` of a message document (`None` if nothing of it is searchable).
pub(super) fn terms_of(msg_type: &str, content: &str, file_name: &str) -> Option<Vec<String>> {
    let text = match msg_type {
        "text" => content,
        "file" => file_name,
        _ => return None,
    };
    Some(search::terms(text))
}

/// An anchored regular expression matching terms that begin with `term`, everything but
/// letters and digits escaped.
fn prefix(term: &str) -> String {
    let mut out = String::from("^");
    for c in term.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Messages matching `search` in chats its user is a member of, newest first.
pub(super) async fn find(db: &Db, search: &Search) -> Result<Vec<Message>> {
    if search.terms.is_empty() || search.limit == 0 {
        return Ok(Vec::new());
    }
    let mut sessions = collect(
        db.sessions
            .find(doc! { "usersStatus.uid": search.uid.as_str() })
            .projection(doc! { "_id": 1 })
            .await?,
    )
    .await?
    .into_iter()
    .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
    .collect::<Vec<_>>();
    if let Some(only) = &search.session {
        sessions.retain(|s| s == only.as_str());
    }
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let mut all: Vec<Document> = search
        .terms
        .iter()
        .map(|t| doc! { "terms": { "$regex": prefix(t) } })
        .collect();
    if let Some(before) = &search.before {
        all.push(doc! { "$or": [
            { "dateline": { "$lt": before.dateline } },
            { "dateline": before.dateline, "_id": { "$lt": before.id.as_str() } },
        ] });
    }
    let filter = doc! { "sessionid": { "$in": sessions }, "$and": all };
    let found = db
        .messages
        .find(filter)
        .sort(doc! { "dateline": -1, "_id": -1 })
        .limit(i64::from(search.limit))
        .await?;
    collect(found).await?.iter().map(decode).collect()
}

/// Start-up: gives every text and file message without `terms` its terms (messages from
/// CookIM or from before search); one query finds out that there is nothing to do.
pub(super) async fn fill_terms(db: &Db) -> Result<u64> {
    let missing = doc! { "msgType": { "$in": ["text", "file"] }, "terms": { "$exists": false } };
    if db.messages.find_one(missing.clone()).await?.is_none() {
        return Ok(0);
    }
    let mut filled = 0;
    loop {
        let page = collect(
            db.messages
                .find(missing.clone())
                .projection(doc! { "msgType": 1, "content": 1, "fileName": 1 })
                .limit(1_000)
                .await?,
        )
        .await?;
        if page.is_empty() {
            break;
        }
        for d in page {
            let text = |key: &str| d.get_str(key).unwrap_or_default().to_owned();
            let terms =
                terms_of(&text("msgType"), &text("content"), &text("fileName")).unwrap_or_default();
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            db.messages
                .update_one(doc! { "_id": id }, doc! { "$set": { "terms": terms } })
                .await?;
            filled += 1;
        }
    }
    tracing::info!(filled, "search terms given to stored messages");
    Ok(filled)
}
