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

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
