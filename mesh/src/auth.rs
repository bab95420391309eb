//! Cluster authentication: the [`ClusterSecret`] every node of a cluster shares, and the pure
//! proofs a link's two ends exchange to show each other they hold it.
//!
//! # Threat model
//! Whoever can reach the mesh port but lacks the key gets nothing through: a link is cut
//! before its first frame is read unless the peer proves it holds the key
//! ([`LinkTranscript`]), and a SWIM datagram is dropped unless it carries a valid MAC and a
//! fresh counter ([`crate::seal`]). Nodes *holding* the key are trusted alike: the key is
//! symmetric, so any member could compute any MAC another member could. That is why a
//! subscription update about node X that a member Y relays (foca re-gossips broadcasts, and
//! anti-entropy answers carry other nodes' entries) is accepted on Y's authentication: an
//! "origin MAC" made with the shared key would prove nothing more than Y's MAC already does,
//! and SWIM itself lets any member say X is down. Telling members apart would need a key pair
//! per node, which this crate does not have.
//!
//! # Link handshake
//! The acceptor speaks first: its node id and a fresh nonce `nonce_a`. The dialer checks the
//! id is the run it meant to reach, then sends its id, a fresh `nonce_d` and its proof; the
//! acceptor verifies it and answers with its own proof. A proof is
//! `HMAC-SHA256(key, "cookim-link-v1" | role | dialer id | acceptor id | nonce_a | nonce_d)`:
//! bound to both runs and both nonces, so it cannot be replayed on another connection, sent
//! back to its author (the role differs) or moved to another pair of nodes.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::identity::NodeId;

/// HMAC-SHA256, the one MAC of the mesh.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Fewest bytes of key accepted: 256 bits, the strength of the MAC itself.
pub const MIN_SECRET_LEN: usize = 32;

/// Bytes of a link nonce: random, fresh per connection and side.
pub const NONCE_LEN: usize = 32;

/// A link nonce.
pub type Nonce = [u8; NONCE_LEN];

/// A link proof: a full HMAC-SHA256 output.
pub type Proof = [u8; 32];

/// The HKDF salt when the key comes from the token secret. Fixed: it separates this use of the
/// token secret from any other, it does not need to be secret.
const DERIVE_SALT: &[u8] = b"cookim cluster";

/// The HKDF info string: which key is derived. The token key itself is never used as the
/// cluster key, so a cluster key that leaks does not let anyone sign tokens.
const DERIVE_INFO: &[u8] = b"cookim-mesh-cluster-key-v1";

/// The label every link proof starts with (and the link format it belongs to).
const LINK_LABEL: &[u8] = b"cookim-link-v1";

/// The key the nodes of one cluster share. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterSecret {
    /// HMAC keyed with the secret, cloned for each MAC (keying once saves hashing the key
    /// every time).
    mac: HmacSha256,
}

impl ClusterSecret {
    /// The given bytes as the key.
    ///
    /// # Errors
    /// [`Error::Config`] if there are fewer than [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<ClusterSecret> {
        let bytes = bytes.as_ref();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "the cluster secret has {} bytes; it needs at least {MIN_SECRET_LEN}",
                bytes.len()
            )));
        }
        let mac = HmacSha256::new_from_slice(bytes)
            .map_err(|e| Error::Config(format!("cluster secret: {e}")))?;
        Ok(ClusterSecret { mac })
    }

    /// A key derived from the token (JWT) secret with HKDF-SHA256 under a fixed domain
    /// string, so a cluster whose nodes share `JWT_SECRET` needs no second secret, and the
    /// cluster key differs from the token key. It is as strong as the token secret.
    ///
    /// ```
    /// use cookim_mesh::auth::ClusterSecret;
    /// let key = ClusterSecret::derive_from_token_secret(b"the token secret of every node")?;
    /// assert_eq!(format!("{key:?}"), "ClusterSecret(<redacted>)");
    /// # Ok::<(), cookim_mesh::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] only if HKDF or HMAC refused their lengths, which they never do for
    /// these (HKDF-SHA256 expands up to 8,160 bytes; HMAC takes a key of any length).
    pub fn derive_from_token_secret(token_secret: &[u8]) -> Result<ClusterSecret> {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(DERIVE_SALT), token_secret)
            .expand(DERIVE_INFO, &mut key)
            .map_err(|e| Error::Config(format!("deriving the cluster key: {e}")))?;
        ClusterSecret::new(key)
    }

    /// A fresh HMAC keyed with the secret.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// Which end of a link a proof comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The node that opened the connection.
    Dialer,
    /// The node that accepted it.
    Acceptor,
}

/// What both ends of one link handshake agree on; each side proves the key over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTranscript<'a> {
    /// The run that dialled.
    pub dialer: &'a NodeId,
    /// The run that accepted.
    pub acceptor: &'a NodeId,
    /// The acceptor's nonce.
    pub nonce_a: &'a Nonce,
    /// The dialer's nonce.
    pub nonce_d: &'a Nonce,
}

impl LinkTranscript<'_> {
    /// `role`'s proof that it holds `secret`.
    pub fn proof(&self, secret: &ClusterSecret, role: Role) -> Proof {
        self.mac(secret, role).finalize().into_bytes().into()
    }

    /// Whether `proof` is `role`'s proof for this transcript under `secret`, compared in
    /// constant time. Any other length is refused.
    pub fn verify(&self, secret: &ClusterSecret, role: Role, proof: &[u8]) -> bool {
        self.mac(secret, role).verify_slice(proof).is_ok()
    }

    fn mac(&self, secret: &ClusterSecret, role: Role) -> HmacSha256 {
        let mut mac = secret.mac();
        mac.update(LINK_LABEL);
        mac.update(match role {
            Role::Dialer => b"d",
            Role::Acceptor => b"a",
        });
        for id in [self.dialer, self.acceptor] {
            // Length-prefixed, so no two pairs of ids give the same bytes.
            mac.update(&(id.addr().len() as u64).to_be_bytes());
            mac.update(id.addr().as_bytes());
            mac.update(&id.started().to_be_bytes());
        }
        mac.update(self.nonce_a);
        mac.update(self.nonce_d);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Result<ClusterSecret> {
        ClusterSecret::new([byte; 32])
    }

    #[test]
    fn short_secrets_are_refused_and_debug_hides_the_key() -> Result<()> {
        assert!(matches!(
            ClusterSecret::new([1; MIN_SECRET_LEN - 1]),
            Err(Error::Config(_))
        ));
        assert!(ClusterSecret::new([1; MIN_SECRET_LEN]).is_ok());
        let shown = format!(
            "{:?}",
            ClusterSecret::new(b"0123456789abcdef0123456789abcdef")?
        );
        assert!(!shown.contains("0123"), "{shown}");
        Ok(())
    }

    #[test]
    fn the_derived_key_is_stable_separated_and_not_the_token_key() -> Result<()> {
        let (a, b, c) = (NodeId::new("a:1", 1), NodeId::new("b:1", 2), [1; 32]);
        let t = LinkTranscript {
            dialer: &a,
            acceptor: &b,
            nonce_a: &c,
            nonce_d: &c,
        };
        let token = b"a token secret shared by every node".as_slice();
        let derived = ClusterSecret::derive_from_token_secret(token)?;
        let proof = t.proof(&derived, Role::Dialer);
        assert!(t.verify(
            &ClusterSecret::derive_from_token_secret(token)?,
            Role::Dialer,
            &proof
        ));
        assert!(!t.verify(&ClusterSecret::new(token)?, Role::Dialer, &proof));
        assert!(!t.verify(
            &ClusterSecret::derive_from_token_secret(b"another token secret of the cluster")?,
            Role::Dialer,
            &proof
        ));
        Ok(())
    }

    #[test]
    fn a_proof_holds_only_for_its_key_ids_nonces_and_role() -> Result<()> {
        let (a, b, c) = (
            NodeId::new("a:1", 1),
            NodeId::new("b:1", 2),
            NodeId::new("a:1", 3),
        );
        let (n1, n2, n3) = ([1; NONCE_LEN], [2; NONCE_LEN], [3; NONCE_LEN]);
        let secret = key(7)?;
        let t = LinkTranscript {
            dialer: &a,
            acceptor: &b,
            nonce_a: &n1,
            nonce_d: &n2,
        };
        let proof = t.proof(&secret, Role::Dialer);
        assert!(t.verify(&secret, Role::Dialer, &proof));
        // Wrong key.
        assert!(!t.verify(&key(8)?, Role::Dialer, &proof));
        // Swapped ids; another run at the same address.
        let swapped = LinkTranscript {
            dialer: &b,
            acceptor: &a,
            ..t.clone()
        };
        assert!(!swapped.verify(&secret, Role::Dialer, &proof));
        let other_run = LinkTranscript {
            dialer: &c,
            ..t.clone()
        };
        assert!(!other_run.verify(&secret, Role::Dialer, &proof));
        // Replayed on a connection with a fresh acceptor nonce; nonces swapped.
        let replayed = LinkTranscript {
            nonce_a: &n3,
            ..t.clone()
        };
        assert!(!replayed.verify(&secret, Role::Dialer, &proof));
        let nonces_swapped = LinkTranscript {
            nonce_a: &n2,
            nonce_d: &n1,
            ..t.clone()
        };
        assert!(!nonces_swapped.verify(&secret, Role::Dialer, &proof));
        // Reflected back as the acceptor's proof.
        assert!(!t.verify(&secret, Role::Acceptor, &proof));
        // Truncated, extended, empty, one bit off.
        assert!(!t.verify(&secret, Role::Dialer, proof.get(..31).unwrap_or_default()));
        let mut longer = proof.to_vec();
        longer.push(0);
        assert!(!t.verify(&secret, Role::Dialer, &longer));
        assert!(!t.verify(&secret, Role::Dialer, &[]));
        let mut flipped = proof;
        flipped[5] ^= 1;
        assert!(!t.verify(&secret, Role::Dialer, &flipped));
        Ok(())
    }
}
