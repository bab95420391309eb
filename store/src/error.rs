//! The one error type of this crate.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique key is taken (for example a registration with an existing login). Nothing was
    /// written.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The record an update refers to does not exist. Nothing was written.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The embedded database failed; the operation's transaction was rolled back.
    #[error("embedded database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// MongoDB refused or failed an operation (not a connection problem: those are
    /// [`Error::Unavailable`]).
    #[error("MongoDB error: {0}")]
    Mongo(mongodb::error::Error),
    /// Reading or writing the data directory failed.
    #[error("data directory error: {0}")]
    Io(#[from] std::io::Error),
    /// A stored value is not what this version can read (for example a malformed id).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database cannot be used right now (MongoDB unreachable; or the embedded store's
    /// connection was left by a call that panicked, whose transaction was rolled back). Nothing
    /// was written; retrying later may succeed.
    #[error("database unavailable")]
    Unavailable,
}

impl From<protocol::Error> for Error {
    fn from(e: protocol::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}

impl From<mongodb::error::Error> for Error {
    /// Server selection and network failures mean "the database is not reachable now":
    /// [`Error::Unavailable`], which the edge answers as "database unavailable". Duplicate
    /// keys are mapped where the key is known (`mongo::conflict`); what is left is a bug or a
    /// server refusal, kept whole for the log.
    fn from(e: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        match e.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => {
                tracing::warn!(error = %e, "MongoDB unreachable");
                Error::Unavailable
            }
            _ => Error::Mongo(e),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
