//! Failed-login lockout, shared through the store so every node of a cluster counts together.
//!
//! A login attempt is counted *before* the password is hashed, in two fixed windows of
//! `login_lockout`: one for the pair (address, login) and one for the address over all logins.
//! Over `max_login_failures` for the pair, or `max_address_failures` for the address, the
//! attempt is refused without hashing. A success clears its pair and takes itself back from
//! its address, so only failures count (concurrent guesses still all count while they hash). Keying the lock by the pair
//! means an attacker who guesses a victim's password from one address locks only that
//! address out of that account: the victim, from their own addresses, still signs in.

use std::net::IpAddr;

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::limits::AddrKey;

use crate::app::App;

/// The refusal text (also what the hostile-client suite looks for).
pub(crate) const LOCKED: &str = "too many failed logins, try again later";

/// A counted attempt: cleared from its pair and taken back from its address if the password
/// matches (the address limit counts failures, so many people behind one NAT can sign in).
#[derive(Debug)]
pub(super) struct Attempt {
    pair: String,
    by_addr: String,
    window: i64,
}

/// Counts an attempt at `login` from `peer`, or refuses it.
///
/// # Errors
/// [`Error::Denied`] ([`LOCKED`]) when the pair or the address is over its limit;
/// [`Error::Store`] if the counters cannot be written.
pub(super) async fn reserve(app: &App, peer: Option<IpAddr>, login: &str) -> Result<Attempt> {
    let limits = &app.config().limits;
    let window_ms = i64::try_from(limits.login_lockout.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let window = now_ms() / window_ms;
    let addr = peer.map_or_else(|| "-".to_owned(), |ip| AddrKey::from(ip).to_string());
    let (pair, by_addr) = keys(&addr, login);
    let store = app.store();
    let pair_count = store.record_attempt(&pair, window).await?;
    let addr_count = store.record_attempt(&by_addr, window).await?;
    if pair_count > limits.max_login_failures || addr_count > limits.max_address_failures {
        tracing::debug!(%addr, pair_count, addr_count, "login refused: too many attempts");
        return Err(Error::Denied(LOCKED.to_owned()));
    }
    Ok(Attempt {
        pair,
        by_addr,
        window,
    })
}

/// The password matched: the pair starts afresh.
///
/// # Errors
/// [`Error::Store`] if the counter cannot be cleared.
pub(super) async fn succeeded(app: &App, attempt: Attempt) -> Result<()> {
    let store = app.store();
    store.clear_attempts(&attempt.pair).await?;
    Ok(store
        .release_attempt(&attempt.by_addr, attempt.window)
        .await?)
}

/// The counter keys of an attempt: the pair, and the address alone. Logins are at most 254
/// bytes (checked before), so keys stay short.
fn keys(addr: &str, login: &str) -> (String, String) {
    (format!("login|{addr}|{login}"), format!("addr|{addr}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pair_and_the_address_have_different_keys() {
        let (pair, addr) = super::keys("10.0.0.1", "a@b.c");
        assert_ne!(pair, addr);
        let (other_pair, other_addr) = super::keys("10.0.0.2", "a@b.c");
        assert_ne!(
            pair, other_pair,
            "another address has its own count for a login"
        );
        assert_ne!(addr, other_addr);
    }
}
