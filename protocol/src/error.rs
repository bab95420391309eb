//! The one error type of this crate.

/// Everything that can go wrong while decoding or encoding CookIM's wire formats.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A text frame or header is not the JSON object the spec describes. Nothing was decoded.
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An id is not in the expected form (wrong length, not lowercase hex, path characters).
    #[error("invalid {kind} id")]
    InvalidId {
        /// Which kind of id was expected.
        kind: &'static str,
    },
    /// A binary message has something other than the `<#BinaryInfo#>` marker right after its
    /// JSON header. Nothing was decoded.
    #[error("binary message has no <#BinaryInfo#> marker after its header")]
    NoMarker,
    /// A binary message stops before its header and marker are complete, and every byte so far
    /// could still begin a valid upload (mini-redis's `Incomplete`). A whole websocket message
    /// never grows, so the server refuses it like any invalid upload; a streaming reader would
    /// wait for more bytes instead. Nothing was decoded.
    #[error("binary message is cut short before the end of its header")]
    Incomplete,
    /// A binary message's JSON header does not end within the first `limit` bytes; the rest
    /// was not parsed. Nothing was decoded.
    #[error("binary message header is longer than {limit} bytes")]
    HeaderTooLarge {
        /// The header limit in force ([`crate::binary::MAX_HEADER`]).
        limit: usize,
    },
    /// A binary message's header declares a `fileSize` other than the payload's length (a
    /// message cut inside its payload shows as `actual < declared`). Nothing was decoded.
    #[error("header declares {declared} bytes but {actual} follow the marker")]
    SizeMismatch {
        /// The `fileSize` of the header.
        declared: u64,
        /// The bytes after the marker.
        actual: usize,
    },
    /// A binary message is larger than the configured limit; refused before looking at its bytes.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size that was offered.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A header field has an impossible value (a negative file size, a `msgType` other than
    /// `"file"` on an upload). Nothing was decoded.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The wire name of the field.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An image could not be decoded, was refused by the decode limits (checked against its
    /// header before any pixel buffer is allocated), or could not be encoded.
    #[error("image refused: {0}")]
    Image(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
