//! The one error type of this crate.

/// What went wrong in the mesh.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes (an envelope or a link frame) are empty or longer than the limit; nothing was
    /// decoded.
    #[error("{size} bytes is outside 1..={limit}")]
    Size {
        /// Bytes offered.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The leading version byte is not one this node understands (a newer or older peer).
    #[error("unknown wire version {0}")]
    Version(u8),
    /// The body is not a valid postcard value of the expected type.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The configuration is invalid; nothing was started.
    #[error("invalid mesh configuration: {0}")]
    Config(String),
    /// A socket operation failed (binding at start, or one peer's link).
    #[error("mesh i/o: {0}")]
    Io(#[from] std::io::Error),
    /// foca refused an input (a bad datagram, or a call in the wrong state); its state is
    /// unchanged.
    #[error("swim: {0}")]
    Swim(String),
    /// A link's peer did not prove it holds the cluster key (a wrong proof, another message,
    /// or none in time). The connection was closed before any frame of it was read.
    #[error("link not authenticated: {0}")]
    Auth(String),
    /// Another run than the one dialled answered at a peer's address (it restarted); the
    /// link was not opened. Not an attack: the old run is about to be declared down.
    #[error("another run answers at that address: {0}")]
    WrongPeer(String),
    /// The mesh node actor has stopped.
    #[error("mesh node stopped")]
    Closed,
}

impl From<runtime::Error> for Error {
    fn from(_: runtime::Error) -> Self {
        Error::Closed
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
