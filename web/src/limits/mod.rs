//! What one address or one user can make the node do: rate limits per address and per user,
//! open connections per address, and the password-hashing pool. The decisions are pure
//! (`rate::Buckets` takes `now`); this module holds them behind short locks.

mod hashing;
pub mod rate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::ids::UserId;

pub(crate) use hashing::HashPool;
pub use rate::Rate;
use rate::{Buckets, Refused};

/// Per-address and per-user limits. Defaults never limit a person using a chat (ten texts a
/// second for a minute, or a burst of twenty, always pass); they stop floods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `loginUser` calls per client address. Default 30/1m.
    pub logins: Rate,
    /// `registerUser` calls per client address. Default 10/1h.
    pub registrations: Rate,
    /// Texts per user, over all connections. Default 40/3s.
    pub texts: Rate,
    /// Uploads (file, image, voice messages) per user. Default 30/1m.
    pub uploads: Rate,
    /// Uploaded bytes per user. Default 2G/1d.
    pub upload_bytes: Rate,
    /// Groups created per user. Default 30/1h.
    pub groups: Rate,
    /// Friend requests (`joinFriend`) per user. Default 100/1h.
    pub friend_requests: Rate,
    /// Invitations (`inviteFriends` calls) per user. Default 200/1h.
    pub invites: Rate,
    /// Message searches (`searchMessages`) per user. Default 30/1m.
    pub searches: Rate,
    /// Open connections from one address (an IPv6 /64 counts as one). Default 512: many
    /// people can share one address behind NAT, so this only stops one host taking the node.
    pub max_per_address: usize,
    /// Failed logins for one (address, login) pair within `login_lockout` before that pair is
    /// refused without hashing. Default 5.
    pub max_login_failures: u32,
    /// Failed logins from one address over all logins within `login_lockout`. Default 50.
    pub max_address_failures: u32,
    /// The lockout window. Default 60 s.
    pub login_lockout: Duration,
    /// Password hashes waiting for a core; more get "server busy". Default 64.
    pub hash_queue: usize,
    /// Password hashes computed at once, each on a dedicated thread of low priority. Default:
    /// one per core but one (at least one).
    pub hash_workers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        const MINUTE: Duration = Duration::from_secs(60);
        const HOUR: Duration = Duration::from_secs(3600);
        Limits {
            logins: Rate::every(30, MINUTE),
            registrations: Rate::every(10, HOUR),
            texts: Rate::every(40, Duration::from_secs(3)),
            uploads: Rate::every(30, MINUTE),
            upload_bytes: Rate::every(2 << 30, Duration::from_secs(86_400)),
            groups: Rate::every(30, HOUR),
            friend_requests: Rate::every(100, HOUR),
            invites: Rate::every(200, HOUR),
            searches: Rate::every(30, MINUTE),
            max_per_address: 512,
            max_login_failures: 5,
            max_address_failures: 50,
            login_lockout: MINUTE,
            hash_queue: 64,
            // One core is left to the chats: a login flood then slows logins, not messages.
            hash_workers: std::thread::available_parallelism()
                .map_or(1, |n| usize::from(n).saturating_sub(1).max(1)),
        }
    }
}

impl Limits {
    /// No rate limits and no per-address cap: for load generators and benchmarks that play
    /// thousands of users from a few addresses.
    pub fn off() -> Limits {
        Limits {
            logins: Rate::Off,
            registrations: Rate::Off,
            texts: Rate::Off,
            uploads: Rate::Off,
            upload_bytes: Rate::Off,
            groups: Rate::Off,
            friend_requests: Rate::Off,
            invites: Rate::Off,
            searches: Rate::Off,
            max_per_address: usize::MAX,
            max_login_failures: u32::MAX,
            max_address_failures: u32::MAX,
            ..Limits::default()
        }
    }
}

impl Limits {
    /// Recent refusals (see [`rate::Refused::strikes`]) after which a websocket sending
    /// `action` is closed: as many as the burst (a client that ignores that many `reject`s
    /// is not a person waiting).
    pub(crate) fn cutoff(&self, action: Action) -> u64 {
        let rate = match action {
            Action::Text => self.texts,
            Action::Upload | Action::UploadBytes => self.uploads,
            _ => return u64::MAX,
        };
        match rate {
            Rate::Every { burst, .. } => burst,
            Rate::Off => u64::MAX,
        }
    }
}

/// An address as limits see it: IPv4 as is, IPv6 by its /64 (one host's usual allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AddrKey(IpAddr);

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(_) => AddrKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(IpAddr::V4(v4)),
                None => {
                    let mut octets = v6.octets();
                    octets[8..].fill(0);
                    AddrKey(IpAddr::from(octets))
                }
            },
        }
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Something a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Login,
    Register,
    Text,
    Upload,
    UploadBytes,
    Group,
    FriendRequest,
    Invite,
    Search,
}

/// Keys kept per limit (see [`rate::Buckets`]).
const MAX_KEYS: usize = 100_000;

/// The node's limiters.
#[derive(Debug)]
pub(crate) struct Limiter {
    logins: Mutex<Buckets<AddrKey>>,
    registrations: Mutex<Buckets<AddrKey>>,
    per_user: [(Action, Mutex<Buckets<UserId>>); 7],
    connections: Mutex<HashMap<AddrKey, usize>>,
    max_per_address: usize,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Limiter {
        let user = |action, rate| (action, Mutex::new(Buckets::new(rate, MAX_KEYS)));
        Limiter {
            logins: Mutex::new(Buckets::new(limits.logins, MAX_KEYS)),
            registrations: Mutex::new(Buckets::new(limits.registrations, MAX_KEYS)),
            per_user: [
                user(Action::Text, limits.texts),
                user(Action::Upload, limits.uploads),
                user(Action::UploadBytes, limits.upload_bytes),
                user(Action::Group, limits.groups),
                user(Action::FriendRequest, limits.friend_requests),
                user(Action::Invite, limits.invites),
                user(Action::Search, limits.searches),
            ],
            connections: Mutex::default(),
            max_per_address: limits.max_per_address,
        }
    }

    /// Counts one `action` (per address).
    pub(crate) fn by_address(&self, action: Action, addr: AddrKey) -> Result<(), Refused> {
        let buckets = match action {
            Action::Register => &self.registrations,
            _ => &self.logins,
        };
        take(buckets, &addr, 1)
    }

    /// Counts `cost` of `action` by `uid`.
    pub(crate) fn by_user(&self, action: Action, uid: &UserId, cost: u64) -> Result<(), Refused> {
        match self.per_user.iter().find(|(a, _)| *a == action) {
            Some((_, buckets)) => take(buckets, uid, cost),
            None => Ok(()),
        }
    }

    /// Registers an open connection from `addr`, or `None` if that address has its fill.
    /// The connection counts until the returned guard drops.
    pub(crate) fn open(self: &Arc<Self>, addr: AddrKey) -> Option<OpenConnection> {
        let mut open = self.connections.lock().ok()?;
        let count = open.entry(addr).or_insert(0);
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(OpenConnection {
            limiter: self.clone(),
            addr,
        })
    }
}

fn take<K: std::hash::Hash + Eq + Clone>(
    buckets: &Mutex<Buckets<K>>,
    key: &K,
    cost: u64,
) -> Result<(), Refused> {
    match buckets.lock() {
        Ok(mut buckets) => buckets.take(key, cost, Instant::now()),
        // A panic elsewhere poisoned it: fail open rather than refuse everyone.
        Err(_) => Ok(()),
    }
}

/// One open connection counted against its address.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    limiter: Arc<Limiter>,
    addr: AddrKey,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limiter.connections.lock()
            && let Some(count) = open.get_mut(&self.addr)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(AddrKey::from(a), AddrKey::from(b));
        assert_ne!(AddrKey::from(a), AddrKey::from(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            AddrKey::from(mapped),
            AddrKey::from(IpAddr::from([10, 0, 0, 1]))
        );
    }

    #[test]
    fn connections_per_address_at_n_and_n_plus_one() {
        let limits = Limits {
            max_per_address: 2,
            ..Limits::default()
        };
        let limiter = Arc::new(Limiter::new(&limits));
        let a = AddrKey::from(IpAddr::from([10, 0, 0, 1]));
        let b = AddrKey::from(IpAddr::from([10, 0, 0, 2]));
        let first = limiter.open(a);
        let second = limiter.open(a);
        assert!(first.is_some() && second.is_some());
        assert!(limiter.open(a).is_none(), "the third from one address");
        assert!(limiter.open(b).is_some(), "another address is not affected");
        drop(first);
        assert!(limiter.open(a).is_some(), "a closed one frees its slot");
    }
}
