//! The transport's counters: atomics bumped by every task, read as one snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[cfg(doc)]
use crate::link::Frame;

/// Counters of the transport, next to the core's.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) datagrams_sent: AtomicU64,
    pub(super) datagram_bytes_sent: AtomicU64,
    pub(super) datagrams_received: AtomicU64,
    pub(super) datagrams_dropped: AtomicU64,
    pub(super) envelopes_sent: AtomicU64,
    pub(super) envelope_bytes_sent: AtomicU64,
    pub(super) envelopes_received: AtomicU64,
    pub(super) envelopes_dropped: AtomicU64,
    pub(super) lost_marks_sent: AtomicU64,
    pub(super) links_opened: AtomicU64,
    pub(super) inbound_links: AtomicU64,
    pub(super) bad_frames: AtomicU64,
    pub(super) auth_failures: AtomicU64,
    pub(super) handshakes_evicted: AtomicU64,
    pub(super) datagram_auth_failures: AtomicU64,
    pub(super) datagram_replays: AtomicU64,
}

/// A snapshot of the transport counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransportStats {
    /// SWIM datagrams sent.
    pub datagrams_sent: u64,
    /// Their bytes.
    pub datagram_bytes_sent: u64,
    /// SWIM datagrams received.
    pub datagrams_received: u64,
    /// Datagrams dropped: the node actor's queue was full, or one was over the size limit.
    pub datagrams_dropped: u64,
    /// Envelopes queued to peers' links.
    pub envelopes_sent: u64,
    /// Their frame bytes (length prefix included).
    pub envelope_bytes_sent: u64,
    /// Envelopes received from peers.
    pub envelopes_received: u64,
    /// Envelopes not sent: a peer's link queue was full.
    pub envelopes_dropped: u64,
    /// [`Frame::Lost`] marks sent after drops, each telling a peer to read what it missed.
    pub lost_marks_sent: u64,
    /// Outbound link connections made (reconnects included).
    pub links_opened: u64,
    /// Authenticated inbound links cut for a bad frame.
    pub bad_frames: u64,
    /// Link handshakes that failed, either side: a peer without the cluster key (or another
    /// link version, or garbage), or an inbound connection that sent no proof in time.
    pub auth_failures: u64,
    /// Inbound connections cut in the handshake to make room for a newer one (too many
    /// unauthenticated connections at once).
    pub handshakes_evicted: u64,
    /// SWIM datagrams refused for a missing or wrong MAC (another cluster key, altered,
    /// garbage).
    pub datagram_auth_failures: u64,
    /// SWIM datagrams refused as replays (a counter seen before, or too old).
    pub datagram_replays: u64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            datagrams_sent: get(&self.datagrams_sent),
            datagram_bytes_sent: get(&self.datagram_bytes_sent),
            datagrams_received: get(&self.datagrams_received),
            datagrams_dropped: get(&self.datagrams_dropped),
            envelopes_sent: get(&self.envelopes_sent),
            envelope_bytes_sent: get(&self.envelope_bytes_sent),
            envelopes_received: get(&self.envelopes_received),
            envelopes_dropped: get(&self.envelopes_dropped),
            lost_marks_sent: get(&self.lost_marks_sent),
            links_opened: get(&self.links_opened),
            bad_frames: get(&self.bad_frames),
            auth_failures: get(&self.auth_failures),
            handshakes_evicted: get(&self.handshakes_evicted),
            datagram_auth_failures: get(&self.datagram_auth_failures),
            datagram_replays: get(&self.datagram_replays),
        }
    }
}

pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
