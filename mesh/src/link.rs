//! The frames of a per-peer link: the reliable, ordered TCP stream one node opens to another
//! to carry envelopes and subscription anti-entropy (SWIM itself stays on UDP).
//!
//! A frame on the wire is a 4-byte big-endian length, then that many bytes: one version byte
//! ([`LINK_VERSION`]) and the postcard encoding of a [`Frame`]. The first frame of every link
//! is [`Frame::Hello`], naming the dialling node's run. Envelopes inside are the versioned
//! bytes of [`crate::envelope::encode`], so a link and the events it carries are refused
//! cleanly by a peer of another version.
//!
//! [`decode`] works on a buffer and tells "need more bytes" ([`Decoded::Incomplete`]) from
//! invalid input, checking the length against [`MAX_FRAME`] before anything is allocated.

use serde::{Deserialize, Serialize};

use crate::envelope::MAX_ENVELOPE;
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::node::Control;

/// The link format this node writes and reads.
pub const LINK_VERSION: u8 = 2;

/// Largest frame body accepted: an envelope at its limit plus room for the frame around it.
/// A `Control::Entries` answer is bounded by the same limit: the sender splits larger ones.
pub const MAX_FRAME: usize = MAX_ENVELOPE + 1024;

/// One message on a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame: who is dialling.
    Hello(NodeId),
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
    let mut out = postcard::to_extend(frame, vec![0, 0, 0, 0, LINK_VERSION])
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let body = out.len() - 4;
    let too_big = Error::Size {
        size: body,
        limit: MAX_FRAME,
    };
    if body > MAX_FRAME {
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
    let Some((prefix, rest)) = buf.split_first_chunk::<4>() else {
        return Ok(Decoded::Incomplete);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(Error::Size {
            size: len,
            limit: MAX_FRAME,
        });
    }
    let Some(body) = rest.get(..len) else {
        return Ok(Decoded::Incomplete);
    };
    let (version, body) = body.split_at(1);
    if version != [LINK_VERSION] {
        return Err(Error::Version(version.first().copied().unwrap_or_default()));
    }
    let (frame, trailing) =
        postcard::take_from_bytes::<Frame>(body).map_err(|e| Error::Malformed(e.to_string()))?;
    if !trailing.is_empty() {
        return Err(Error::Malformed(format!(
            "{} bytes after the frame",
            trailing.len()
        )));
    }
    Ok(Decoded::Frame(frame, 4 + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::Digest;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::Hello(NodeId::new("node-a:2551", 17)),
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
        let mut trailing = encode(&Frame::Hello(NodeId::from("a:1")))?;
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

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = decode(&bytes);
        }
    }
}
