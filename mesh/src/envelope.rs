//! What one node sends another about a chat: a stored message or a live event, addressed to
//! one chat (and through it to members' push channels). Files travel by id, never as bytes.
//!
//! The wire form is one version byte followed by the postcard encoding, so a node can refuse
//! an envelope from a newer peer instead of misreading it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The envelope format this node writes and reads.
pub const VERSION: u8 = 1;

/// Largest encoded envelope accepted (a text message is capped far below this).
pub const MAX_ENVELOPE: usize = 256 * 1024;

/// Which event an envelope carries (the spec's `msgType`s that cross nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Someone went online in the chat (not stored).
    Online,
    /// A chat connection closed (not stored).
    Offline,
    /// A stored text message.
    Text,
    /// A stored upload.
    File,
    /// A stored join.
    Join,
    /// A stored leave.
    Leave,
}

/// One chat event as it crosses the mesh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The chat (24-hex session id).
    pub session_id: String,
    /// The message's per-chat sequence number for stored events (receivers drop what they
    /// have delivered already); 0 for live-only events.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// Sender id.
    pub uid: String,
    /// Sender nickname.
    pub nickname: String,
    /// Sender avatar file id.
    pub avatar: String,
    /// Text.
    pub content: String,
    /// Upload name.
    pub file_name: String,
    /// Upload type.
    pub file_type: String,
    /// Upload file id.
    pub fileid: String,
    /// Thumbnail file id.
    pub thumbid: String,
    /// Epoch milliseconds at the origin (every node shows the same `dateline`).
    pub dateline: i64,
}

/// Encodes an envelope: version byte, then postcard.
///
/// # Errors
/// [`Error::Malformed`] if postcard cannot encode it (it always can for these fields).
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>> {
    let mut out = vec![VERSION];
    let body = postcard::to_stdvec(envelope).map_err(|e| Error::Malformed(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes an envelope, checking size and version first.
///
/// # Errors
/// [`Error::Size`], [`Error::Version`] or [`Error::Malformed`].
pub fn decode(bytes: &[u8]) -> Result<Envelope> {
    if bytes.is_empty() || bytes.len() > MAX_ENVELOPE {
        return Err(Error::Size {
            size: bytes.len(),
            limit: MAX_ENVELOPE,
        });
    }
    let (version, body) = bytes.split_at(1);
    if version != [VERSION] {
        return Err(Error::Version(version.first().copied().unwrap_or_default()));
    }
    let (envelope, rest) =
        postcard::take_from_bytes(body).map_err(|e| Error::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(content: String, seq: i64) -> Envelope {
        Envelope {
            session_id: "0123456789abcdef01234567".into(),
            seq,
            kind: EventKind::Text,
            uid: "aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            nickname: "alice".into(),
            avatar: "f".repeat(32),
            content,
            file_name: String::new(),
            file_type: String::new(),
            fileid: String::new(),
            thumbid: String::new(),
            dateline: 1_795_621_246_000,
        }
    }

    #[test]
    fn refuses_other_versions_and_sizes() {
        let mut bytes = encode(&sample("hi".into(), 1)).unwrap();
        assert!(decode(&bytes).is_ok());
        bytes[0] = 2;
        assert_eq!(decode(&bytes), Err(Error::Version(2)));
        assert!(matches!(decode(&[]), Err(Error::Size { .. })));
        assert!(matches!(
            decode(&vec![VERSION; MAX_ENVELOPE + 1]),
            Err(Error::Size { .. })
        ));
        let mut trailing = encode(&sample("hi".into(), 1)).unwrap();
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(Error::Malformed(_))));
    }

    proptest! {
        #[test]
        fn round_trip(content in ".*", seq in any::<i64>()) {
            let envelope = sample(content, seq);
            prop_assert_eq!(decode(&encode(&envelope).unwrap()).unwrap(), envelope);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }
    }
}
