//! The `<#BinaryInfo#>` upload framing of `/ws-chat` (§8.4 of the spec): a UTF-8 JSON header,
//! the 14-byte marker, then the raw file bytes, all in one websocket binary message.
//!
//! The header ends where its JSON object ends, and the marker must follow at once. That is the
//! "careful server" reading of the spec: a file name containing the marker text cannot break
//! the split, and a header that is not one complete JSON object is refused.
//!
//! Like mini-redis's `Frame::check`, [`decode`] tells bytes that stop early
//! ([`Error::Incomplete`]: a prefix of a message that could still be valid) from bytes that can
//! never be a message (every other error), and it checks sizes before looking further: the
//! whole message against the caller's limit, then the header against [`MAX_HEADER`]. The
//! payload is borrowed, never copied, so decoding allocates only for the (bounded) header.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lenient::{self, Size};

/// The separator between header and payload: `<#BinaryInfo#>`.
pub const MARKER: &[u8; 14] = b"<#BinaryInfo#>";

/// The longest JSON header accepted, in bytes (16 KiB).
///
/// The stock client's header is two tokens (a few hundred bytes each), a file name, a MIME type
/// and a number: well under 2 KiB. 16 KiB leaves room for long names in any script while
/// keeping what the JSON parser may allocate per upload small. A header longer than this is
/// refused by looking only at its first `MAX_HEADER` bytes.
pub const MAX_HEADER: usize = 16 * 1024;

/// The only `msgType` an upload may carry.
pub const FILE_MSG_TYPE: &str = "file";

/// The JSON header of an upload.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryHeader {
    /// The sender's user token.
    #[serde(rename = "userToken")]
    pub user_token: String,
    /// The session token.
    #[serde(rename = "sessionToken")]
    pub session_token: String,
    /// Always [`FILE_MSG_TYPE`]; [`decode`] refuses anything else.
    #[serde(rename = "msgType")]
    pub msg_type: String,
    /// Original name; absent for voice recordings.
    #[serde(rename = "fileName", skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Size in bytes. After [`decode`] it always equals the payload length: a declared size
    /// that differs is refused, and a missing one is filled in from the payload.
    #[serde(rename = "fileSize")]
    pub file_size: u64,
    /// Declared MIME type (`""` if the browser did not know).
    #[serde(rename = "fileType")]
    pub file_type: String,
    /// An extension: the `seq` of the message this upload answers (`None` if absent, not
    /// positive or not an integer).
    #[serde(rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
}

impl std::fmt::Debug for BinaryHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinaryHeader")
            .field("msg_type", &self.msg_type)
            .field("file_name", &self.file_name)
            .field("file_size", &self.file_size)
            .field("file_type", &self.file_type)
            .finish_non_exhaustive()
    }
}

/// A decoded upload: the header and a view of the payload inside the frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Upload<'a> {
    /// The header.
    pub header: BinaryHeader,
    /// The file bytes, borrowed from the frame.
    pub payload: &'a [u8],
}

/// Decodes one binary message of at most `limit` bytes.
///
/// Checks run cheapest first, and none reads past what the previous one allowed: the total
/// size, then the header within its first [`MAX_HEADER`] bytes, then the header's fields, the
/// marker, and last the declared size against the payload.
///
/// # Errors
/// - [`Error::TooLarge`] if the message exceeds `limit`, before looking at any byte;
/// - [`Error::HeaderTooLarge`] if the JSON object does not end within [`MAX_HEADER`] bytes;
/// - [`Error::Json`] if the message does not start with a JSON object;
/// - [`Error::InvalidField`] if `msgType` is not `"file"` or `fileSize` is not a whole
///   number of bytes;
/// - [`Error::NoMarker`] if anything but the marker follows the object;
/// - [`Error::SizeMismatch`] if `fileSize` is present and differs from the payload length;
/// - [`Error::Incomplete`] if the message stops before the marker is complete but every byte
///   so far could still begin a valid upload (empty, header cut short, marker cut short).
///   A message cut inside its payload shows as [`Error::SizeMismatch`] with `actual < declared`.
pub fn decode(frame: &[u8], limit: usize) -> Result<Upload<'_>> {
    if frame.len() > limit {
        return Err(Error::TooLarge {
            size: frame.len(),
            limit,
        });
    }
    let (object, header_len) = header(frame)?;
    if object.msg_type != FILE_MSG_TYPE {
        return Err(Error::InvalidField {
            field: "msgType",
            reason: "an upload's msgType must be \"file\"",
        });
    }
    let declared = match object.file_size {
        Size::Absent => None,
        Size::Bytes(n) => Some(n),
        Size::NotWhole => {
            return Err(Error::InvalidField {
                field: "fileSize",
                reason: "not a whole number of bytes",
            });
        }
        Size::NotANumber => {
            return Err(Error::InvalidField {
                field: "fileSize",
                reason: "not a number",
            });
        }
    };
    let rest = frame.get(header_len..).unwrap_or_default();
    let payload = match rest.strip_prefix(MARKER.as_slice()) {
        Some(payload) => payload,
        None if MARKER.starts_with(rest) => return Err(Error::Incomplete),
        None => return Err(Error::NoMarker),
    };
    let actual = payload.len();
    let file_size = match declared {
        Some(declared) if usize::try_from(declared) != Ok(actual) => {
            return Err(Error::SizeMismatch { declared, actual });
        }
        // usize fits in u64 on every target Rust supports.
        _ => actual as u64,
    };
    Ok(Upload {
        header: BinaryHeader {
            user_token: object.user_token,
            session_token: object.session_token,
            msg_type: FILE_MSG_TYPE.to_owned(),
            file_name: object.file_name,
            file_size,
            file_type: object.file_type,
            reply_to: object.reply_to.filter(|seq| *seq > 0),
        },
        payload,
    })
}

/// Parses the header object, looking at no more than the first [`MAX_HEADER`] bytes; returns
/// the object and the number of bytes it took.
fn header(frame: &[u8]) -> Result<(RawHeader, usize)> {
    let window = frame.get(..MAX_HEADER).unwrap_or(frame);
    // More bytes follow the window: running out inside it means the header is too long, not
    // that the message stopped early.
    let cut = window.len() < frame.len();
    // serde_json reports a value of the wrong type only after reading it, so a cut-short
    // string would look like "need more bytes"; anything but `{` is refused here instead.
    match window.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(Error::Json(serde::de::Error::custom(
                "the header is not a JSON object",
            )));
        }
        None if cut => return Err(Error::HeaderTooLarge { limit: MAX_HEADER }),
        None => return Err(Error::Incomplete),
    }
    let mut values = serde_json::Deserializer::from_slice(window).into_iter::<RawHeader>();
    match values.next() {
        Some(Ok(object)) => Ok((object, values.byte_offset())),
        Some(Err(e)) if e.is_eof() && cut => Err(Error::HeaderTooLarge { limit: MAX_HEADER }),
        Some(Err(e)) if e.is_eof() => Err(Error::Incomplete),
        Some(Err(e)) => Err(Error::Json(e)),
        // Unreachable after the `{` check above; kept total rather than asserted.
        None => Err(Error::Incomplete),
    }
}

/// The header's wire shape, decoded leniently field by field (no JSON tree).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHeader {
    #[serde(rename = "userToken", deserialize_with = "lenient::string")]
    user_token: String,
    #[serde(rename = "sessionToken", deserialize_with = "lenient::string")]
    session_token: String,
    #[serde(rename = "msgType", deserialize_with = "lenient::string")]
    msg_type: String,
    #[serde(rename = "fileName", deserialize_with = "lenient::opt_string")]
    file_name: Option<String>,
    #[serde(rename = "fileSize", deserialize_with = "lenient::size")]
    file_size: Size,
    #[serde(rename = "fileType", deserialize_with = "lenient::string")]
    file_type: String,
    #[serde(rename = "replyTo", deserialize_with = "lenient::opt_int")]
    reply_to: Option<i64>,
}

/// Encodes an upload as the stock client does (`JSON.stringify(header)` + marker + bytes).
///
/// The header is written as given; [`decode`] accepts the result only if `header.msg_type` is
/// `"file"` and `header.file_size` equals `payload.len()`.
pub fn encode(header: &BinaryHeader, payload: &[u8]) -> Vec<u8> {
    // A struct of strings and an integer always serializes.
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut frame = Vec::with_capacity(json.len() + MARKER.len() + payload.len());
    frame.extend_from_slice(&json);
    frame.extend_from_slice(MARKER);
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests;
