//! The queries that history paging, unread counts and logins run, defined once: the operations run
//! them and [`Mongo::query_plans`](super::Mongo::query_plans) asks the server to `explain`
//! them, so a test can prove each one is served by an index.

use mongodb::bson::{Bson, Document, doc};
use protocol::ids::{SessionId, UserId};

use crate::model::Millis;

use super::db::Db;
use crate::error::Result;

/// A find (or count) on one collection: the filter and the order.
pub(super) struct Query {
    pub(super) collection: &'static str,
    pub(super) filter: Document,
    /// Empty: any order.
    pub(super) sort: Document,
}

/// History newest first (a page is a skip and a limit of it).
pub(super) fn history(sid: &SessionId) -> Query {
    Query {
        collection: "messages",
        filter: doc! { "sessionid": sid.as_str() },
        sort: doc! { "sessionid": 1, "seq": -1 },
    }
}

/// Messages after `seq`, oldest first (resume after a reconnect).
pub(super) fn after(sid: &SessionId, seq: i64) -> Query {
    Query {
        collection: "messages",
        filter: doc! { "sessionid": sid.as_str(), "seq": { "$gt": seq } },
        sort: doc! { "sessionid": 1, "seq": 1 },
    }
}

/// A sender's earlier message with the same client id (a retried send).
pub(super) fn by_client_id(sid: &SessionId, uid: &UserId, client_id: &str) -> Query {
    Query {
        collection: "messages",
        filter: doc! { "sessionid": sid.as_str(), "uid": uid.as_str(), "clientId": client_id },
        sort: Document::new(),
    }
}

/// A user's chats, newest activity first, with their unread counts inside.
pub(super) fn joined(uid: &UserId) -> Query {
    Query {
        collection: "sessions",
        filter: doc! { "usersStatus.uid": uid.as_str() },
        sort: doc! { "lastUpdate": -1, "_id": 1 },
    }
}

/// A user's unread notifications (counted).
pub(super) fn unread_notifications(uid: &UserId) -> Query {
    Query {
        collection: "notifications",
        filter: doc! { "recvuid": uid.as_str(), "isRead": 0 },
        sort: Document::new(),
    }
}

/// A page of a user's notifications, newest first.
pub(super) fn notifications(uid: &UserId) -> Query {
    Query {
        collection: "notifications",
        filter: doc! { "recvuid": uid.as_str() },
        sort: doc! { "dateline": -1, "_id": -1 },
    }
}

/// A user's logins in use, most recently seen first.
pub(super) fn active_logins(uid: &UserId) -> Query {
    Query {
        collection: "logins",
        filter: doc! { "uid": uid.as_str(), "ended": Bson::Null },
        sort: doc! { "lastSeen": -1, "_id": 1 },
    }
}

/// Logins ended at or after `since`, oldest first (every node polls it).
pub(super) fn ended_logins(since: Millis) -> Query {
    Query {
        collection: "logins",
        filter: doc! { "ended": { "$gte": since } },
        sort: doc! { "ended": 1, "_id": 1 },
    }
}

/// How the server runs one of our queries, from `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// Which query: `history`, `after`, `client-id`, `joined-sessions`,
    /// `unread-notifications`, `notifications`, `active-logins`, `ended-logins`.
    pub query: &'static str,
    /// The indexes the winning plan scans (empty: none).
    pub indexes: Vec<String>,
    /// Whether the winning plan reads the whole collection.
    pub collection_scan: bool,
}

impl QueryPlan {
    /// Whether the query is served by an index alone.
    pub fn uses_index(&self) -> bool {
        !self.indexes.is_empty() && !self.collection_scan
    }
}

/// Explains every query above (for any ids: plans do not depend on the values).
pub(super) async fn explain_all(db: &Db) -> Result<Vec<QueryPlan>> {
    let sid = SessionId::from_random([0; 12]);
    let uid = UserId::from_random([0; 12]);
    let queries = [
        ("history", history(&sid)),
        ("after", after(&sid, 0)),
        ("client-id", by_client_id(&sid, &uid, "c")),
        ("joined-sessions", joined(&uid)),
        ("unread-notifications", unread_notifications(&uid)),
        ("notifications", notifications(&uid)),
        ("active-logins", active_logins(&uid)),
        ("ended-logins", ended_logins(0)),
    ];
    let mut plans = Vec::with_capacity(queries.len());
    for (name, query) in queries {
        let mut find = doc! { "find": query.collection, "filter": query.filter, "limit": 20 };
        if !query.sort.is_empty() {
            find.insert("sort", query.sort);
        }
        let answer = db
            .database
            .run_command(doc! { "explain": find, "verbosity": "queryPlanner" })
            .await?;
        let winning = answer
            .get_document("queryPlanner")
            .and_then(|p| p.get_document("winningPlan"))
            .cloned()
            .unwrap_or_default();
        let mut plan = QueryPlan {
            query: name,
            indexes: Vec::new(),
            collection_scan: false,
        };
        walk(&winning, &mut plan);
        plans.push(plan);
    }
    Ok(plans)
}

/// Collects the stages of a plan tree (`inputStage`, `inputStages`, and the SBE `queryPlan`).
fn walk(stage: &Document, plan: &mut QueryPlan) {
    match stage.get_str("stage") {
        Ok("COLLSCAN") => plan.collection_scan = true,
        Ok("IXSCAN" | "COUNT_SCAN" | "DISTINCT_SCAN" | "IDHACK" | "EXPRESS_IXSCAN") => {
            let index = stage.get_str("indexName").unwrap_or("_id_");
            plan.indexes.push(index.to_owned());
        }
        _ => {}
    }
    for key in ["inputStage", "queryPlan"] {
        if let Ok(child) = stage.get_document(key) {
            walk(child, plan);
        }
    }
    if let Ok(children) = stage.get_array("inputStages") {
        for child in children {
            if let Bson::Document(child) = child {
                walk(child, plan);
            }
        }
    }
}
