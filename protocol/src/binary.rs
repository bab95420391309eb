//! The `<#BinaryInfo#>` upload framing of `/ws-chat` (§8.4 of the spec): a UTF-8 JSON header,
//! the 14-byte marker, then the raw file bytes, all in one websocket binary message.
//!
//! The header ends where its JSON object ends, and the marker must follow at once. That is the
//! "careful server" reading of the spec: a file name containing the marker text cannot break
//! the split, and a header that is not one complete JSON object is refused.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::string_field;
use crate::error::{Error, Result};

/// The separator between header and payload: `<#BinaryInfo#>`.
pub const MARKER: &[u8; 14] = b"<#BinaryInfo#>";

/// The JSON header of an upload.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryHeader {
    /// The sender's user token.
    #[serde(rename = "userToken")]
    pub user_token: String,
    /// The session token.
    #[serde(rename = "sessionToken")]
    pub session_token: String,
    /// Always `file` from the stock client.
    #[serde(rename = "msgType")]
    pub msg_type: String,
    /// Original name; absent for voice recordings.
    #[serde(rename = "fileName", skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Declared size in bytes.
    #[serde(rename = "fileSize")]
    pub file_size: u64,
    /// Declared MIME type (`""` if the browser did not know).
    #[serde(rename = "fileType")]
    pub file_type: String,
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
/// # Errors
/// [`Error::TooLarge`] before looking at the bytes if the message exceeds `limit`;
/// [`Error::Json`] if it does not start with a JSON object; [`Error::NoMarker`] if the marker
/// does not follow the object; [`Error::InvalidField`] for a negative or fractional size.
pub fn decode(frame: &[u8], limit: usize) -> Result<Upload<'_>> {
    if frame.len() > limit {
        return Err(Error::TooLarge { size: frame.len(), limit });
    }
    let mut values = serde_json::Deserializer::from_slice(frame).into_iter::<Map<String, Value>>();
    let object = match values.next() {
        Some(object) => object?,
        None => return Err(Error::NoMarker),
    };
    let end = values.byte_offset();
    let rest = frame.get(end..).unwrap_or_default();
    let payload = rest.strip_prefix(MARKER.as_slice()).ok_or(Error::NoMarker)?;
    let file_size = match object.get("fileSize") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().ok_or(Error::InvalidField {
            field: "fileSize",
            reason: "not a whole number of bytes",
        })?,
        Some(_) => {
            return Err(Error::InvalidField { field: "fileSize", reason: "not a number" });
        }
    };
    let file_name = match object.get("fileName") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(Upload {
        header: BinaryHeader {
            user_token: string_field(&object, "userToken"),
            session_token: string_field(&object, "sessionToken"),
            msg_type: string_field(&object, "msgType"),
            file_name,
            file_size,
            file_type: string_field(&object, "fileType"),
        },
        payload,
    })
}

/// Encodes an upload as the stock client does (`JSON.stringify(header)` + marker + bytes).
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(name: Option<&str>) -> BinaryHeader {
        BinaryHeader {
            user_token: "u".into(),
            session_token: "s".into(),
            msg_type: "file".into(),
            file_name: name.map(str::to_owned),
            file_size: 3,
            file_type: "image/png".into(),
        }
    }

    #[test]
    fn spec_example_splits() -> Result<()> {
        let frame = b"{\"userToken\":\"eyJ\",\"sessionToken\":\"eyJ\",\"msgType\":\"file\",\"fileName\":\"cat.png\",\"fileSize\":3,\"fileType\":\"image/png\"}<#BinaryInfo#>\x89PN";
        let up = decode(frame, 1 << 20)?;
        assert_eq!(up.header.file_name.as_deref(), Some("cat.png"));
        assert_eq!(up.header.file_type, "image/png");
        assert_eq!(up.payload, b"\x89PN");
        Ok(())
    }

    #[test]
    fn marker_inside_file_name_does_not_split() -> Result<()> {
        let frame = encode(&header(Some("a<#BinaryInfo#>b")), b"xyz");
        let up = decode(&frame, 1 << 20)?;
        assert_eq!(up.header.file_name.as_deref(), Some("a<#BinaryInfo#>b"));
        assert_eq!(up.payload, b"xyz");
        Ok(())
    }

    #[test]
    fn refusals() {
        assert!(matches!(decode(b"{\"a\":1}", 100), Err(Error::NoMarker)));
        assert!(matches!(decode(b"<#BinaryInfo#>abc", 100), Err(Error::Json(_))));
        assert!(matches!(decode(b"", 100), Err(Error::NoMarker)));
        assert!(matches!(decode(b"{\"fileSize\":-1}<#BinaryInfo#>", 100), Err(Error::InvalidField { .. })));
        let frame = encode(&header(None), &[0; 50]);
        assert!(matches!(decode(&frame, frame.len() - 1), Err(Error::TooLarge { .. })));
        assert!(decode(&frame, frame.len()).is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(name in proptest::option::of(".*"), payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let h = header(name.as_deref());
            let frame = encode(&h, &payload);
            let up = decode(&frame, usize::MAX).unwrap();
            prop_assert_eq!(up.header, h);
            prop_assert_eq!(up.payload, payload.as_slice());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, 128);
        }
    }
}
