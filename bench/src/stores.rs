//! The store a store benchmark runs on: embedded in a data dir of its own, or a fresh
//! database on a MongoDB.

use std::path::PathBuf;
use std::sync::Arc;

use store::{Embedded, Mongo, Store};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A store under test and what to say of it.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// `embedded (<dir>)` or `mongo (database <name>)`.
    pub label: String,
    /// A data dir made for this run, to remove at the end.
    pub temporary: Option<PathBuf>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Opens `kind` (`embedded` in `dir`, else a temporary dir; `mongo` at `mongo_uri`, else
/// `$MONGO_URI`, in `database`, else a new one named `<tool>_<random>`).
///
/// # Errors
/// An unknown kind, a missing URI, or the store's own.
pub async fn open(
    tool: &str,
    kind: &str,
    mongo_uri: Option<String>,
    database: Option<String>,
    dir: Option<PathBuf>,
) -> Result<Opened, Error> {
    match kind {
        "embedded" => {
            let temporary = dir
                .is_none()
                .then(|| std::env::temp_dir().join(format!("{tool}-{}", std::process::id())));
            let dir = dir.or_else(|| temporary.clone()).ok_or("no data dir")?;
            std::fs::create_dir_all(&dir)?;
            Ok(Opened {
                store: Arc::new(Embedded::open(&dir).await?),
                label: format!("embedded ({})", dir.display()),
                temporary,
            })
        }
        "mongo" => {
            let uri = mongo_uri
                .or_else(|| std::env::var("MONGO_URI").ok())
                .ok_or("--store mongo needs --mongo-uri or MONGO_URI")?;
            let database =
                database.unwrap_or_else(|| format!("{tool}_{:08x}", rand::random::<u32>()));
            Ok(Opened {
                store: Arc::new(Mongo::connect(&uri, &database).await?),
                label: format!("mongo (database {database})"),
                temporary: None,
            })
        }
        other => Err(format!("unknown store {other:?}: embedded or mongo").into()),
    }
}
