//! SWIM datagrams sealed with the cluster key: a MAC so only members can speak, and a
//! per-sender counter so a captured datagram cannot be played again.
//!
//! A sealed datagram is [`SEAL_OVERHEAD`] bytes of header, then foca's packet:
//!
//! ```text
//! version (1) | sender (8) | counter (8, big-endian) | tag (16) | payload
//! tag = HMAC-SHA256(key, "cookim-swim-v1" | version | sender | counter | payload)[..16]
//! ```
//!
//! `sender` names the sending node by its advertised address (the first 8 bytes of its
//! SHA-256): the same for every run at that address, so a restarted node continues the
//! window its last run left. The counter is the larger of "last + 1" and the wall clock in
//! microseconds, passed in by the caller: a run sends far fewer than a million datagrams a
//! second, so its counter stays near its clock, and the next run at that address starts above
//! anything the last one sent (unless the clock went back by more than the uptime).
//!
//! The receiver keeps, per sender, the highest counter seen and a bitmap of the
//! [`WINDOW`] below it, as IPsec and WireGuard do: a counter seen before or older than the
//! window is refused, one within it is accepted once (UDP may reorder). Only datagrams whose
//! MAC holds reach the table, so only members fill it; it is still bounded
//! ([`MAX_SENDERS`]), forgetting the sender heard from least recently.

use std::collections::HashMap;

use hmac::Mac;
use sha2::{Digest as _, Sha256};

use crate::auth::{ClusterSecret, HmacSha256};

/// The sealed-datagram format this node writes and reads.
pub const SEAL_VERSION: u8 = 1;

/// Bytes of the truncated MAC: 128 bits, as in most datagram protocols.
pub const TAG_LEN: usize = 16;

/// Header bytes a sealed datagram adds to foca's packet (foca's packet limit is the
/// datagram limit minus this, see [`crate::config::Tuning::foca_config`]).
pub const SEAL_OVERHEAD: usize = 1 + 8 + 8 + TAG_LEN;

/// Counters below a sender's highest that are still accepted once: reordering on a LAN is a
/// few datagrams; 128 leaves room for a burst of probes and gossip in flight at once.
pub const WINDOW: u64 = 128;

/// Senders whose windows are kept. Only members (key holders) get in, and a cluster has
/// far fewer addresses; past it, the least recently heard sender is forgotten, and a
/// datagram it sent within its window could then be accepted once more.
pub const MAX_SENDERS: usize = 1024;

/// The MAC label of a sealed datagram.
const SWIM_LABEL: &[u8] = b"cookim-swim-v1";

/// Which node sealed a datagram: a digest of its advertised address.
pub type Sender = [u8; 8];

/// Why a datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Shorter than the header, or another seal version.
    Malformed,
    /// The MAC does not hold: another key, or altered in transit.
    Forged,
    /// The counter was seen before or is older than the window: a replay.
    Replayed,
}

/// Seals the datagrams of one node run.
#[derive(Debug)]
pub struct Sealer {
    sender: Sender,
    /// The last counter used.
    last: u64,
}

impl Sealer {
    /// A sealer for the node advertised at `addr`.
    pub fn new(addr: &str) -> Sealer {
        Sealer {
            sender: sender_of(addr),
            last: 0,
        }
    }

    /// `payload` sealed under `secret`; `now_micros` is the wall clock in microseconds since
    /// the Unix epoch (see the module docs).
    pub fn seal(&mut self, secret: &ClusterSecret, payload: &[u8], now_micros: u64) -> Vec<u8> {
        self.last = now_micros.max(self.last.saturating_add(1));
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + payload.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&self.sender);
        out.extend_from_slice(&self.last.to_be_bytes());
        let tag = mac(secret, &self.sender, self.last, payload)
            .finalize()
            .into_bytes();
        out.extend(tag.iter().take(TAG_LEN));
        out.extend_from_slice(payload);
        out
    }
}

/// The sender tag of the node advertised at `addr`.
pub fn sender_of(addr: &str) -> Sender {
    let digest = Sha256::new_with_prefix(b"cookim-swim-sender").chain_update(addr.as_bytes());
    let mut sender = [0; 8];
    for (s, d) in sender.iter_mut().zip(digest.finalize()) {
        *s = d;
    }
    sender
}

fn mac(secret: &ClusterSecret, sender: &Sender, counter: u64, payload: &[u8]) -> HmacSha256 {
    let mut mac = secret.mac();
    mac.update(SWIM_LABEL);
    mac.update(&[SEAL_VERSION]);
    mac.update(sender);
    mac.update(&counter.to_be_bytes());
    mac.update(payload);
    mac
}

/// What [`verify`] found in a datagram whose MAC holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    /// Who sealed it.
    pub sender: Sender,
    /// Its counter.
    pub counter: u64,
    /// foca's packet.
    pub payload: &'a [u8],
}

/// Checks the header and the MAC of `datagram` (in constant time), not its freshness.
///
/// # Errors
/// [`Refused::Malformed`] or [`Refused::Forged`].
pub fn verify<'a>(
    secret: &ClusterSecret,
    datagram: &'a [u8],
) -> std::result::Result<Sealed<'a>, Refused> {
    let Some(([version], rest)) = datagram.split_first_chunk::<1>() else {
        return Err(Refused::Malformed);
    };
    if *version != SEAL_VERSION {
        return Err(Refused::Malformed);
    }
    let Some((sender, rest)) = rest.split_first_chunk::<8>() else {
        return Err(Refused::Malformed);
    };
    let Some((counter, rest)) = rest.split_first_chunk::<8>() else {
        return Err(Refused::Malformed);
    };
    let Some((tag, payload)) = rest.split_first_chunk::<TAG_LEN>() else {
        return Err(Refused::Malformed);
    };
    let counter = u64::from_be_bytes(*counter);
    mac(secret, sender, counter, payload)
        .verify_truncated_left(tag)
        .map_err(|_| Refused::Forged)?;
    Ok(Sealed {
        sender: *sender,
        counter,
        payload,
    })
}

/// One sender's replay window: the highest counter and which of the [`WINDOW`] below it
/// were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u64,
    /// Bit `i`: counter `highest - i` was seen.
    seen: u128,
}

impl ReplayWindow {
    /// A window that has seen only `counter`.
    pub fn new(counter: u64) -> ReplayWindow {
        ReplayWindow {
            highest: counter,
            seen: 1,
        }
    }

    /// Whether `counter` is new (and now seen): above the highest, or within the window and
    /// not seen yet.
    pub fn accept(&mut self, counter: u64) -> bool {
        if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = counter;
            return true;
        }
        let age = self.highest - counter;
        if age >= WINDOW {
            return false;
        }
        let bit = 1u128 << age;
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

/// Opens sealed datagrams for one node: verifies them and refuses replays, keeping a
/// bounded table of windows.
#[derive(Debug, Default)]
pub struct Opener {
    /// Each sender's window and when it was last accepted from (a tick of `clock`).
    windows: HashMap<Sender, (ReplayWindow, u64)>,
    /// Counts accepted datagrams; orders senders by recency.
    clock: u64,
}

impl Opener {
    /// foca's packet inside `datagram` if it is authentic and fresh.
    ///
    /// # Errors
    /// [`Refused`] says why not; the windows change only for an accepted datagram.
    pub fn open<'a>(
        &mut self,
        secret: &ClusterSecret,
        datagram: &'a [u8],
    ) -> std::result::Result<&'a [u8], Refused> {
        let sealed = verify(secret, datagram)?;
        self.clock += 1;
        if let Some((window, used)) = self.windows.get_mut(&sealed.sender) {
            if !window.accept(sealed.counter) {
                return Err(Refused::Replayed);
            }
            *used = self.clock;
            return Ok(sealed.payload);
        }
        if self.windows.len() >= MAX_SENDERS {
            let oldest = self
                .windows
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sender, _)| *sender);
            if let Some(oldest) = oldest {
                self.windows.remove(&oldest);
            }
        }
        self.windows.insert(
            sealed.sender,
            (ReplayWindow::new(sealed.counter), self.clock),
        );
        Ok(sealed.payload)
    }

    /// How many senders have a window.
    pub fn senders(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn key(byte: u8) -> crate::Result<ClusterSecret> {
        ClusterSecret::new([byte; 32])
    }

    #[test]
    fn valid_datagrams_open_and_altered_or_foreign_ones_do_not() -> TestResult {
        let secret = key(1)?;
        let mut sealer = Sealer::new("a:1");
        let sealed = sealer.seal(&secret, b"probe", 1_000);
        assert_eq!(sealed.len(), SEAL_OVERHEAD + 5);
        let mut opener = Opener::default();
        assert_eq!(opener.open(&secret, &sealed), Ok(b"probe".as_slice()));

        let fresh = sealer.seal(&secret, b"probe", 1_000);
        for at in 0..fresh.len() {
            let mut tampered = fresh.clone();
            if let Some(b) = tampered.get_mut(at) {
                *b ^= 0x10;
            }
            let got = opener.open(&secret, &tampered);
            let want = if at == 0 {
                Refused::Malformed
            } else {
                Refused::Forged
            };
            assert_eq!(got, Err(want), "byte {at} altered");
        }
        assert_eq!(opener.open(&key(2)?, &fresh), Err(Refused::Forged));
        for len in 0..SEAL_OVERHEAD {
            let cut = fresh.get(..len).unwrap_or_default();
            assert_eq!(opener.open(&secret, cut), Err(Refused::Malformed), "{len}");
        }
        // None of the refusals used up the fresh one.
        assert_eq!(opener.open(&secret, &fresh), Ok(b"probe".as_slice()));
        Ok(())
    }

    #[test]
    fn replays_are_refused_and_reordering_within_the_window_is_accepted_once() -> TestResult {
        let secret = key(1)?;
        let mut sealer = Sealer::new("a:1");
        // The clock stands still: counters go up by one.
        let sent: Vec<Vec<u8>> = (0..300).map(|_| sealer.seal(&secret, b"x", 5)).collect();
        let mut opener = Opener::default();
        let mut open = |i: usize| opener.open(&secret, sent.get(i).map_or(&[][..], |d| d));
        assert!(open(0).is_ok());
        assert_eq!(open(0), Err(Refused::Replayed), "exact replay");
        assert!(open(10).is_ok());
        assert!(open(5).is_ok(), "late but within the window");
        assert_eq!(open(5), Err(Refused::Replayed));
        assert!(open(200).is_ok());
        // 200 - 72 = 128: just outside the window; 73 is its oldest slot.
        assert_eq!(open(72), Err(Refused::Replayed), "too old");
        assert!(open(73).is_ok());
        assert_eq!(open(73), Err(Refused::Replayed));
        assert_eq!(open(10), Err(Refused::Replayed));
        assert!(open(299).is_ok());
        Ok(())
    }

    #[test]
    fn counters_follow_the_clock_so_a_restarted_sender_starts_above_its_last_run() -> TestResult {
        let secret = key(1)?;
        let mut first_run = Sealer::new("a:1");
        let old: Vec<Vec<u8>> = (0..3)
            .map(|i| first_run.seal(&secret, b"x", 1_000 + i))
            .collect();
        let mut opener = Opener::default();
        for d in &old {
            assert!(opener.open(&secret, d).is_ok());
        }
        let mut second_run = Sealer::new("a:1");
        assert!(
            opener
                .open(&secret, &second_run.seal(&secret, b"y", 2_000))
                .is_ok()
        );
        for d in &old {
            assert_eq!(opener.open(&secret, d), Err(Refused::Replayed));
        }
        // Another address is another window.
        let mut other = Sealer::new("b:1");
        assert!(opener.open(&secret, &other.seal(&secret, b"z", 1)).is_ok());
        assert_eq!(opener.senders(), 2);
        Ok(())
    }

    #[test]
    fn the_window_table_is_bounded_and_forgets_the_least_recent_sender() -> TestResult {
        let secret = key(1)?;
        let mut opener = Opener::default();
        let mut first = Sealer::new("first:1");
        let early = first.seal(&secret, b"x", 1);
        assert!(opener.open(&secret, &early).is_ok());
        for i in 0..MAX_SENDERS {
            let mut s = Sealer::new(&format!("n{i}:1"));
            assert!(opener.open(&secret, &s.seal(&secret, b"x", 1)).is_ok());
        }
        assert_eq!(opener.senders(), MAX_SENDERS);
        // The first sender was forgotten: its window starts again (the documented cost).
        assert!(opener.open(&secret, &early).is_ok());
        assert_eq!(opener.senders(), MAX_SENDERS);
        Ok(())
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new(u64::MAX - 1);
        assert!(w.accept(u64::MAX));
        assert!(!w.accept(u64::MAX));
        assert!(w.accept(u64::MAX - WINDOW + 1));
        assert!(!w.accept(u64::MAX - WINDOW));
        let mut w = ReplayWindow::new(0);
        assert!(!w.accept(0));
        assert!(w.accept(WINDOW * 3));
        assert!(!w.accept(0));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_nor_open(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let secret = key(1).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert!(Opener::default().open(&secret, &bytes).is_err());
        }
    }
}
