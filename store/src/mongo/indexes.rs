//! Indexes, created at start-up. `createIndexes` with an existing index of the same name and
//! keys is a no-op, so this is idempotent and safe when several nodes start at once. CookIM's
//! own indexes keep their names (`index-<collection>-<field>`); ours are named `cookim-…`.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::db::Db;
use crate::error::Result;

/// `onlines` rows expire after 15 minutes without activity, as CookIM's TTL index.
const ONLINE_TTL: Duration = Duration::from_secs(900);

fn index(name: &str, keys: Document) -> IndexModel {
    with(name, keys, IndexOptions::default())
}

fn unique(name: &str, keys: Document) -> IndexModel {
    with(name, keys, IndexOptions::builder().unique(true).build())
}

/// Unique among the documents that have `field` (others, such as CookIM's, are not indexed).
fn unique_where_present(name: &str, keys: Document, field: &str) -> IndexModel {
    with(
        name,
        keys,
        IndexOptions::builder()
            .unique(true)
            .partial_filter_expression(doc! { field: { "$exists": true } })
            .build(),
    )
}

fn with(name: &str, keys: Document, mut options: IndexOptions) -> IndexModel {
    options.name = Some(name.to_owned());
    IndexModel::builder().keys(keys).options(options).build()
}

async fn create(collection: &Collection<Document>, models: Vec<IndexModel>) -> Result<()> {
    collection.create_indexes(models).await?;
    Ok(())
}

/// Creates every index the store's queries use.
pub(super) async fn create_all(db: &Db) -> Result<()> {
    create(
        &db.users,
        vec![
            unique("index-users-login", doc! { "login": 1 }),
            index("index-users-nickname", doc! { "nickname": 1 }),
        ],
    )
    .await?;
    create(
        &db.sessions,
        vec![
            index("index-sessions-createuid", doc! { "createuid": 1 }),
            index("index-sessions-ouid", doc! { "ouid": 1 }),
            index("index-sessions-lastUpdate", doc! { "lastUpdate": -1 }),
            // Joined sessions of a user (multikey).
            index(
                "cookim-sessions-members",
                doc! { "usersStatus.uid": 1, "lastUpdate": -1 },
            ),
            unique_where_present("cookim-sessions-pair", doc! { "pairKey": 1 }, "pairKey"),
        ],
    )
    .await?;
    create(
        &db.messages,
        vec![
            index("index-messages-uid", doc! { "uid": 1 }),
            index("index-messages-sessionid", doc! { "sessionid": 1 }),
            index("index-messages-dateline", doc! { "dateline": -1 }),
            // History pages and resume. Not partial: every message has a `seq` (CookIM's are
            // numbered at start-up first), and planners that ignore partial indexes use it.
            unique("cookim-messages-history", doc! { "sessionid": 1, "seq": 1 }),
            // Idempotent retries: every message has a `clientId` (its own id if the sender
            // gave none).
            unique(
                "cookim-messages-sender",
                doc! { "sessionid": 1, "uid": 1, "clientId": 1 },
            ),
            // Search (multikey): a query term is an anchored prefix of one of `terms`.
            index("cookim-messages-terms", doc! { "terms": 1, "dateline": -1 }),
        ],
    )
    .await?;
    create(
        &db.onlines,
        vec![
            unique("index-onlines-uid", doc! { "uid": 1 }),
            with(
                "index-onlines-dateline",
                doc! { "dateline": -1 },
                IndexOptions::builder().expire_after(ONLINE_TTL).build(),
            ),
        ],
    )
    .await?;
    create(
        &db.notifications,
        vec![
            index("index-notifications-recvuid", doc! { "recvuid": 1 }),
            index("index-notifications-dateline", doc! { "dateline": -1 }),
            // The unread badge (a count).
            index(
                "cookim-notifications-unread",
                doc! { "recvuid": 1, "isRead": 1 },
            ),
            index(
                "cookim-notifications-inbox",
                doc! { "recvuid": 1, "dateline": -1, "_id": -1 },
            ),
        ],
    )
    .await?;
    create(
        &db.files,
        vec![
            // The GridFS spec's own index.
            index(
                "filename_1_uploadDate_1",
                doc! { "filename": 1, "uploadDate": 1 },
            ),
            unique_where_present(
                "cookim-files-avatar",
                doc! { "metadata.avatar": 1 },
                "metadata.avatar",
            ),
            index("cookim-files-sha256", doc! { "metadata.sha256": 1 }),
        ],
    )
    .await?;
    create(
        &db.chunks,
        vec![unique("files_id_1_n_1", doc! { "files_id": 1, "n": 1 })],
    )
    .await?;
    create(
        &db.logins,
        vec![
            // A user's device list (`ended: null`, newest first) and "end all of them";
            // ended logins sort apart, so a long history does not slow either.
            index(
                "cookim-logins-user",
                doc! { "uid": 1, "ended": 1, "lastSeen": -1, "_id": 1 },
            ),
            // The poll for revoked logins; `null` (in use) sorts before every time.
            index("cookim-logins-ended", doc! { "ended": 1, "_id": 1 }),
        ],
    )
    .await?;
    create(
        &db.attempts,
        vec![unique(
            "cookim-attempts-window",
            doc! { "key": 1, "window": 1 },
        )],
    )
    .await
}
