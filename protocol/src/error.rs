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
    /// A binary message has no `<#BinaryInfo#>` marker after its JSON header.
    #[error("binary message has no <#BinaryInfo#> marker")]
    NoMarker,
    /// A binary message is larger than the configured limit; refused before copying.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size that was offered.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A header field has an impossible value (for example a negative file size).
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The wire name of the field.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An image could not be decoded, was refused by the decode limits, or could not be encoded.
    #[error("image refused: {0}")]
    Image(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
