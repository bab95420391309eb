//! A link's authenticating handshake over a real socket ([`accept`], [`dial`]; the proofs
//! are [`crate::auth`]'s pure functions), and the [`Slots`] that bound inbound connections
//! still in it.
//!
//! An inbound connection costs a slot from accept until it has proved the key: at most
//! [`crate::config::MAX_HANDSHAKES`] at once, each for at most the hello timeout. When they are all taken,
//! a new connection evicts the *oldest* one rather than being refused: silent connections
//! cannot lock real peers out, since a peer's handshake takes one round trip and an attacker
//! would have to open that many connections within it, again and again, to starve it
//! (a real peer then retries with backoff).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{ClusterSecret, LinkTranscript, Nonce, Role};
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::link::{self, Handshake};
use crate::refusals::RefusalLog;

/// Read size during the handshake: a message is at most [`link::MAX_HANDSHAKE`] bytes.
const READ_CHUNK: usize = 512;

/// The acceptor's side: challenge, check the dialer's proof, prove back. Returns the
/// authenticated dialer's run, or `None` if it closed the connection before sending a proof
/// (a dialer that found another run than it meant to reach does that). What was read beyond
/// the handshake is left in `buf`.
///
/// # Errors
/// [`Error::Auth`] if the proof does not hold; [`Error::Version`], [`Error::Size`] or
/// [`Error::Malformed`] for anything but a proof; [`Error::Io`] if the socket fails.
pub(super) async fn accept(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    secret: &ClusterSecret,
    me: &NodeId,
) -> Result<Option<NodeId>> {
    let nonce_a: Nonce = rand::random();
    let challenge = Handshake::Challenge {
        acceptor: me.clone(),
        nonce: nonce_a,
    };
    stream
        .write_all(&link::encode_handshake(&challenge)?)
        .await?;
    let (dialer, nonce_d, proof) = match read(stream, buf).await? {
        None => return Ok(None),
        Some(Handshake::Proof {
            dialer,
            nonce,
            proof,
        }) => (dialer, nonce, proof),
        Some(_) => return Err(Error::Auth("expected a proof".into())),
    };
    let transcript = LinkTranscript {
        dialer: &dialer,
        acceptor: me,
        nonce_a: &nonce_a,
        nonce_d: &nonce_d,
    };
    if !transcript.verify(secret, Role::Dialer, &proof) {
        return Err(Error::Auth(
            "the dialer's proof does not hold (another cluster key?)".into(),
        ));
    }
    let accept = Handshake::Accept {
        proof: transcript.proof(secret, Role::Acceptor),
    };
    stream.write_all(&link::encode_handshake(&accept)?).await?;
    Ok(Some(dialer))
}

/// The dialer's side: answer the challenge of the run `peer`, then check its proof.
///
/// # Errors
/// [`Error::WrongPeer`] if another run answers at `peer`'s address; [`Error::Auth`] if the
/// acceptor's proof does not hold (or it sends something else); [`Error::Io`] if the socket
/// fails or the acceptor closes it (it does when our proof does not hold).
pub(super) async fn dial(
    stream: &mut TcpStream,
    secret: &ClusterSecret,
    me: &NodeId,
    peer: &NodeId,
) -> Result<()> {
    let mut buf = Vec::new();
    let (acceptor, nonce_a) = match read(stream, &mut buf).await? {
        Some(Handshake::Challenge { acceptor, nonce }) => (acceptor, nonce),
        Some(_) => return Err(Error::Auth("expected a challenge".into())),
        None => return Err(closed()),
    };
    if acceptor != *peer {
        return Err(Error::WrongPeer(acceptor.to_string()));
    }
    let nonce_d: Nonce = rand::random();
    let transcript = LinkTranscript {
        dialer: me,
        acceptor: peer,
        nonce_a: &nonce_a,
        nonce_d: &nonce_d,
    };
    let proof = Handshake::Proof {
        dialer: me.clone(),
        nonce: nonce_d,
        proof: transcript.proof(secret, Role::Dialer),
    };
    stream.write_all(&link::encode_handshake(&proof)?).await?;
    match read(stream, &mut buf).await? {
        Some(Handshake::Accept { proof }) if transcript.verify(secret, Role::Acceptor, &proof) => {
            Ok(())
        }
        Some(Handshake::Accept { .. }) => Err(Error::Auth(
            "the acceptor's proof does not hold (another cluster key?)".into(),
        )),
        Some(_) => Err(Error::Auth("expected the acceptor's proof".into())),
        // It refused our proof.
        None => Err(closed()),
    }
}

fn closed() -> Error {
    Error::Io(std::io::ErrorKind::UnexpectedEof.into())
}

/// Reads what the peer sent next (at most `chunk` bytes) onto the end of `buf`: how many
/// bytes, 0 once it closed. `buf` keeps only what was read, also on an error.
pub(super) async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: usize,
) -> Result<usize> {
    let start = buf.len();
    buf.resize(start + chunk, 0);
    let read = stream.read(buf.get_mut(start..).unwrap_or_default()).await;
    let n = read.as_ref().map_or(0, |n| *n);
    buf.truncate(start + n);
    Ok(read?)
}

/// The next handshake message; `None` when the peer closed between messages.
async fn read(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Handshake>> {
    loop {
        if let Some((message, used)) = link::decode_handshake(buf)? {
            buf.drain(..used);
            return Ok(Some(message));
        }
        if read_more(stream, buf, READ_CHUNK).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Error::Malformed("closed inside a handshake message".into()))
            };
        }
    }
}

/// The inbound connections in the handshake, oldest first.
#[derive(Debug)]
pub(super) struct Slots {
    cap: usize,
    inner: Mutex<SlotsInner>,
}

#[derive(Debug, Default)]
struct SlotsInner {
    /// Next slot number (they only grow, so the first is the oldest).
    next: u64,
    /// Each open slot's eviction signal: dropping the sender closes the channel.
    open: BTreeMap<u64, async_channel::Sender<()>>,
}

/// One connection's place in the handshake; it leaves when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    id: u64,
    slots: Arc<Slots>,
    /// Closed when the slot is evicted.
    evicted: async_channel::Receiver<()>,
}

impl Slots {
    /// Room for `cap` connections (at least one).
    pub(super) fn new(cap: usize) -> Arc<Slots> {
        Arc::new(Slots {
            cap: cap.max(1),
            inner: Mutex::new(SlotsInner::default()),
        })
    }

    /// A slot for a new connection, and whether the oldest one was evicted for it.
    pub(super) fn admit(self: &Arc<Self>) -> (Slot, bool) {
        let (signal, evicted) = async_channel::bounded(1);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let evicting = inner.open.len() >= self.cap;
        if evicting {
            // Dropping its sender wakes the oldest handshake, which then gives up.
            inner.open.pop_first();
        }
        let id = inner.next;
        inner.next += 1;
        inner.open.insert(id, signal);
        let slot = Slot {
            id,
            slots: self.clone(),
            evicted,
        };
        (slot, evicting)
    }

    /// Connections in the handshake now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .len()
    }
}

impl Slot {
    /// Completes when this slot has been evicted for a newer connection.
    pub(super) async fn evicted(&self) {
        // Nothing is ever sent: the only outcome is the channel closing.
        let _ = self.evicted.recv().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .remove(&self.id);
    }
}

/// What the tasks that authenticate peers share.
#[derive(Debug)]
pub(super) struct Auth {
    /// The cluster key.
    pub(super) secret: ClusterSecret,
    /// Our run, which links prove themselves to and for.
    pub(super) me: NodeId,
    /// Which refusals to log (shared by the link tasks and the datagram reader; locked
    /// briefly, never across an await).
    pub(super) refusals: Mutex<RefusalLog>,
}

impl Auth {
    /// Logs a peer's failed authentication, at most once per address per interval.
    pub(super) fn refused(&self, ip: IpAddr, error: &Error) {
        let log = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .should_log(ip, Instant::now());
        if !log {
            return;
        }
        match error {
            // Not an attack: nothing flows between these two until one is upgraded, so say
            // it where an operator looks.
            Error::Version(theirs) => tracing::warn!(
                peer = %ip,
                theirs,
                ours = link::LINK_VERSION,
                "a peer speaks another mesh format version: its links are refused; run one cookim release on every node"
            ),
            _ => tracing::warn!(
                peer = %ip,
                error = %error,
                "a mesh peer failed authentication: is it using another cluster secret? (logged once a minute per address)"
            ),
        }
    }
}

/// The wall clock in microseconds since the epoch: where a run's datagram counter starts.
pub(super) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_set_of_slots_evicts_the_oldest_and_a_dropped_slot_leaves() {
        let slots = Slots::new(2);
        let (first, evicted) = slots.admit();
        assert!(!evicted);
        let (second, evicted) = slots.admit();
        assert!(!evicted);
        assert!(!first.evicted.is_closed() && !second.evicted.is_closed());
        let (third, evicted) = slots.admit();
        assert!(evicted, "the third evicts one");
        assert!(first.evicted.is_closed(), "the oldest");
        assert!(!second.evicted.is_closed());
        assert_eq!(slots.len(), 2);
        drop(first);
        assert_eq!(slots.len(), 2, "an evicted slot is already gone");
        drop(second);
        assert_eq!(slots.len(), 1);
        let (_fourth, evicted) = slots.admit();
        assert!(!evicted);
        assert!(!third.evicted.is_closed());
    }
}
