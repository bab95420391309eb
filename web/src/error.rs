//! The one error type of this crate, and the only place errors become statuses or `errmsg`.

/// Why a web operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed; the client is told "database unavailable" and the cause is logged.
    #[error("store: {0}")]
    Store(#[from] store::Error),
    /// An actor this request needed is gone (shutting down).
    #[error("runtime: {0}")]
    Runtime(#[from] runtime::Error),
    /// Binding or accepting failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A token could not be minted (never for bad input; a key problem).
    #[error("token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The caller may not do this (not a member, bad token...). Nothing changed.
    #[error("{0}")]
    Denied(String),
    /// The caller sent something invalid. Nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// Over a rate limit or a work limit (the text says which and when to retry). Nothing
    /// changed.
    #[error("{0}")]
    Limited(String),
    /// Too much work is queued (password hashing); try again. Nothing changed.
    #[error("server busy, try again")]
    Busy,
    /// An image could not be used (undecodable, too large).
    #[error("image: {0}")]
    Image(#[from] protocol::Error),
}

impl Error {
    /// The text a client sees: the reason for caller mistakes, a generic phrase for our faults
    /// (whose cause is logged here, once).
    pub fn client_message(&self) -> String {
        match self {
            Error::Denied(m) | Error::Invalid(m) | Error::Limited(m) => m.clone(),
            Error::Busy => "server busy, try again".to_owned(),
            Error::Image(e) => format!("image is not usable: {e}"),
            Error::Store(store::Error::Unavailable) => "database unavailable".to_owned(),
            Error::Store(e) => {
                tracing::error!(error = %e, "store failure");
                "database unavailable".to_owned()
            }
            other => {
                tracing::error!(error = %other, "internal failure");
                "internal server error".to_owned()
            }
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fails with [`Error::Invalid`]`(reason)` unless `ok`.
pub(crate) fn ensure(ok: bool, reason: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(reason.to_owned()))
    }
}
