//! The frames of a per-peer link: the reliable, ordered TCP stream one node opens to another
//! to carry envelopes and subscription anti-entropy (SWIM itself stays on UDP).
//!
//! A frame on the wire is a 4-byte big-endian length, then that many bytes: one version byte
//! ([`LINK_VERSION`]) and the postcard encoding of a [`Frame`]. Envelopes inside are the
//! versioned bytes of [`crate::envelope::encode`], so a link and the events it carries are
//! refused cleanly by a peer of another version.
//!
//! Before any frame, the two ends authenticate each other with three [`Handshake`] messages,
//! framed the same way but capped at [`MAX_HANDSHAKE`] bytes, so a peer that has not proved
//! it holds the cluster key can make a node read no more than that (see [`crate::auth`]).
//! Who the peer is comes from the handshake; no frame names its sender.
//!
//! [`decode`] works on a buffer and tells "need more bytes" ([`Decoded::Incomplete`]) from
//! invalid input, checking the length against [`MAX_FRAME`] before anything is allocated.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::{Nonce, Proof};
use crate::envelope::MAX_ENVELOPE;
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::node::Control;

/// The link format this node writes and reads. Version 3 added the authenticating
/// handshake in place of the hello frame; older peers are refused.
pub const LINK_VERSION: u8 = 3;

/// Largest handshake message accepted: two node ids (an advertised `host:port` is far below
/// 300 bytes) with a nonce and a proof.
pub const MAX_HANDSHAKE: usize = 1024;

/// The messages that open a link, in this order; see [`crate::auth`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handshake {
    /// Acceptor to dialer, at once on accepting: who it is, and its fresh nonce.
    Challenge {
        /// The acceptor's run (the dialer checks it is the one it meant to reach).
        acceptor: NodeId,
        /// The acceptor's nonce.
        nonce: Nonce,
    },
    /// Dialer to acceptor: who it is, its fresh nonce, and its proof over both.
    Proof {
        /// The dialer's run.
        dialer: NodeId,
        /// The dialer's nonce.
        nonce: Nonce,
        /// [`crate::auth::Role::Dialer`]'s proof.
        proof: Proof,
    },
    /// Acceptor to dialer: its own proof. Frames follow.
    Accept {
        /// [`crate::auth::Role::Acceptor`]'s proof.
        proof: Proof,
    },
}

/// Largest frame body accepted: an envelope at its limit plus room for the frame around it.
/// A `Control::Entries` answer is bounded by the same limit: the sender splits larger ones.
pub const MAX_FRAME: usize = MAX_ENVELOPE + 1024;

/// One message on a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Subscription anti-entropy for the receiver's core.
    Control(Control),
    /// An encoded [`crate::envelope::Envelope`] for the receiver's local subscribers.
    Envelope(Vec<u8>),
    /// The sender dropped frames for the receiver (the link's queue was full): events the
    /// receiver's subscribers wait for may be missing and should be read from the store.
    Lost,
}

/// What [`decode`] found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, and how many bytes of the buffer it took.
    Frame(Frame, usize),
    /// The buffer holds the start of a frame; read more.
    Incomplete,
}

/// Encodes a frame with its length prefix.
///
/// # Errors
/// [`Error::Size`] if the body would exceed [`MAX_FRAME`]; [`Error::Malformed`] if postcard
/// cannot encode it.
pub fn encode(frame: &Frame) -> Result<Vec<u8>> {
    encode_limited(frame, MAX_FRAME)
}

/// Encodes a handshake message with its length prefix.
///
/// # Errors
/// As [`encode`], with the limit [`MAX_HANDSHAKE`].
pub fn encode_handshake(message: &Handshake) -> Result<Vec<u8>> {
    encode_limited(message, MAX_HANDSHAKE)
}

/// Decodes the handshake message at the front of `buf`.
///
/// # Errors
/// As [`decode`], with the limit [`MAX_HANDSHAKE`].
pub fn decode_handshake(buf: &[u8]) -> Result<Option<(Handshake, usize)>> {
    decode_limited(buf, MAX_HANDSHAKE)
}

fn encode_limited<T: Serialize>(value: &T, limit: usize) -> Result<Vec<u8>> {
    let mut out = postcard::to_extend(value, vec![0, 0, 0, 0, LINK_VERSION])
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let body = out.len() - 4;
    let too_big = Error::Size { size: body, limit };
    if body > limit {
        return Err(too_big);
    }
    let len = u32::try_from(body).map_err(|_| too_big)?;
    if let Some(prefix) = out.get_mut(..4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
    Ok(out)
}

/// Decodes the frame at the front of `buf`.
///
/// # Errors
/// [`Error::Size`] if the length prefix is 0 or above [`MAX_FRAME`] (checked before waiting
/// for the body); [`Error::Version`] for another link version; [`Error::Malformed`] if the
/// body is not one frame exactly.
pub fn decode(buf: &[u8]) -> Result<Decoded> {
    Ok(match decode_limited(buf, MAX_FRAME)? {
        Some((frame, used)) => Decoded::Frame(frame, used),
        None => Decoded::Incomplete,
    })
}

/// The value at the front of `buf` and the bytes it took; `None` if incomplete.
fn decode_limited<T: DeserializeOwned>(buf: &[u8], limit: usize) -> Result<Option<(T, usize)>> {
    let Some((prefix, rest)) = buf.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len == 0 || len > limit {
        return Err(Error::Size { size: len, limit });
    }
    let Some(body) = rest.get(..len) else {
        return Ok(None);
    };
    let (version, body) = body.split_at(1);
    if version != [LINK_VERSION] {
        return Err(Error::Version(version.first().copied().unwrap_or_default()));
    }
    let (value, trailing) =
        postcard::take_from_bytes::<T>(body).map_err(|e| Error::Malformed(e.to_string()))?;
    if !trailing.is_empty() {
        return Err(Error::Malformed(format!(
            "{} bytes after the frame",
            trailing.len()
        )));
    }
    Ok(Some((value, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::Digest;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::Control(Control::Sync {
                digest: Digest::default(),
                reply: true,
            }),
            Frame::Envelope(vec![2, 1, 2, 3]),
            Frame::Lost,
        ]
    }

    #[test]
    fn round_trip_and_split_at_any_offset() -> Result<()> {
        let mut stream = Vec::new();
        for frame in frames() {
            stream.extend(encode(&frame)?);
        }
        // Fed byte by byte, the same frames come out, in order.
        for cut in 0..stream.len() {
            let mut got = Vec::new();
            let mut buf: Vec<u8> = stream.get(..cut).unwrap_or_default().to_vec();
            let mut rest = stream.get(cut..).unwrap_or_default().iter();
            loop {
                match decode(&buf)? {
                    Decoded::Frame(frame, used) => {
                        got.push(frame);
                        buf.drain(..used);
                    }
                    Decoded::Incomplete => match rest.next() {
                        Some(b) => buf.push(*b),
                        None => break,
                    },
                }
            }
            assert_eq!(got, frames(), "cut at {cut}");
            assert!(buf.is_empty());
        }
        Ok(())
    }

    #[test]
    fn bad_lengths_versions_and_bodies_are_refused() -> Result<()> {
        assert!(matches!(decode(&[0, 0, 0, 0]), Err(Error::Size { .. })));
        let too_long = u32::try_from(MAX_FRAME + 1)
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        assert!(matches!(decode(&too_long), Err(Error::Size { .. })));
        // The limit itself is accepted as a length (and waits for the body).
        let limit = u32::try_from(MAX_FRAME).unwrap_or(u32::MAX).to_be_bytes();
        assert_eq!(decode(&limit)?, Decoded::Incomplete);
        let mut frame = encode(&Frame::Envelope(vec![1]))?;
        if let Some(version) = frame.get_mut(4) {
            *version = LINK_VERSION + 1;
        }
        assert!(matches!(decode(&frame), Err(Error::Version(_))));
        assert!(matches!(
            decode(&[0, 0, 0, 2, LINK_VERSION, 0xff]),
            Err(Error::Malformed(_))
        ));
        let mut trailing = encode(&Frame::Lost)?;
        trailing.push(0);
        let len = u32::try_from(trailing.len() - 4).unwrap_or_default();
        if let Some(prefix) = trailing.get_mut(..4) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        assert!(matches!(decode(&trailing), Err(Error::Malformed(_))));
        let big = Frame::Envelope(vec![0; MAX_FRAME]);
        assert!(matches!(encode(&big), Err(Error::Size { .. })));
        Ok(())
    }

    #[test]
    fn handshakes_round_trip_and_are_capped() -> Result<()> {
        let messages = [
            Handshake::Challenge {
                acceptor: NodeId::new("node-a:2551", 17),
                nonce: [1; 32],
            },
            Handshake::Proof {
                dialer: NodeId::new("node-b:2551", 18),
                nonce: [2; 32],
                proof: [3; 32],
            },
            Handshake::Accept { proof: [4; 32] },
        ];
        for message in messages {
            let bytes = encode_handshake(&message)?;
            assert_eq!(decode_handshake(&bytes)?, Some((message, bytes.len())));
            assert_eq!(
                decode_handshake(bytes.get(..bytes.len() - 1).unwrap_or_default())?,
                None
            );
        }
        let at_limit = u32::try_from(MAX_HANDSHAKE)
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        assert_eq!(decode_handshake(&at_limit)?, None);
        let over = u32::try_from(MAX_HANDSHAKE + 1)
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        assert!(matches!(decode_handshake(&over), Err(Error::Size { .. })));
        // A frame is not a handshake, and an old (version 2) hello is another version.
        assert!(decode_handshake(&encode(&Frame::Lost)?).is_err());
        let old_hello = [0, 0, 0, 6, 2, 3, b'a', b':', b'1', 0];
        assert!(matches!(
            decode_handshake(&old_hello),
            Err(Error::Version(2))
        ));
        let big = Handshake::Challenge {
            acceptor: NodeId::new("x".repeat(MAX_HANDSHAKE), 1),
            nonce: [0; 32],
        };
        assert!(matches!(encode_handshake(&big), Err(Error::Size { .. })));
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = decode(&bytes);
            let _ = decode_handshake(&bytes);
        }
    }
}
