//! The one error type of this crate.

/// Why an envelope could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The bytes are empty or longer than the limit; nothing was decoded.
    #[error("envelope of {size} bytes is outside 1..={limit}")]
    Size {
        /// Bytes offered.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The leading version byte is not one this node understands (a newer peer).
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// The body is not a valid postcard envelope.
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
