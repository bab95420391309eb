//! Device sessions ("logins") as this node sees them: which have ended (so their tokens are
//! refused without a store read) and which live sockets each one has open (so ending one
//! closes them). Every node learns of logins ended anywhere by reading the store's list of
//! recently ended ones twice a second; a login ended on this node takes effect here at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::ids::{LoginId, UserId};
use protocol::time::Millis;
use store::Store;

use crate::clock::now_ms;
use crate::outbox::ConnId;

/// How often the store's recently ended logins are read: a login ended on another node
/// closes its sockets here within this (plus one store read).
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(500);

/// How far back each read looks before the newest end already seen: room for clocks of
/// different nodes that disagree and for writes that land out of order.
const POLL_OVERLAP_MS: Millis = 10_000;

/// Logins ended and live sockets, for this node.
#[derive(Debug)]
pub(crate) struct Logins {
    state: Mutex<State>,
    /// Ended logins are remembered this long: every token of theirs has expired by then.
    remember_ms: Millis,
}

#[derive(Debug, Default)]
struct State {
    /// Ended logins and when they ended.
    ended: HashMap<LoginId, Millis>,
    /// Live sockets by login: each is told (one `()`) when its login ends.
    live: HashMap<LoginId, Vec<(ConnId, async_channel::Sender<()>)>>,
    /// The newest end time read from the store.
    newest: Millis,
}

impl Logins {
    /// Remembers ended logins for `token_ttl` (and a minute more).
    pub(crate) fn new(token_ttl: Duration) -> Logins {
        let ttl = Millis::try_from(token_ttl.as_millis()).unwrap_or(Millis::MAX / 2);
        Logins {
            state: Mutex::default(),
            remember_ms: ttl.saturating_add(60_000),
        }
    }

    /// Whether `id` has ended (as far as this node knows).
    pub(crate) fn is_ended(&self, id: &LoginId) -> bool {
        self.state
            .lock()
            .map(|state| state.ended.contains_key(id))
            .unwrap_or(false)
    }

    /// Marks logins ended at `at` and tells their live sockets.
    pub(crate) fn end(&self, ended: impl IntoIterator<Item = (LoginId, Millis)>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        for (id, at) in ended {
            state.newest = state.newest.max(at);
            if let Some(sockets) = state.live.remove(&id) {
                for (_, tell) in sockets {
                    // A full or closed channel: the socket is already told or gone.
                    let _ = tell.try_send(());
                }
            }
            state.ended.insert(id, at);
        }
        let oldest = now_ms().saturating_sub(self.remember_ms);
        state.ended.retain(|_, at| *at >= oldest);
    }

    /// Registers a live socket of login `id`; `tell` gets one `()` when the login ends. `None`
    /// if it has ended already. The registration lasts until the returned [`Watch`] drops.
    pub(crate) fn watch(
        self: &Arc<Self>,
        id: &LoginId,
        conn: ConnId,
        tell: async_channel::Sender<()>,
    ) -> Option<Watch> {
        let mut state = self.state.lock().ok()?;
        if state.ended.contains_key(id) {
            return None;
        }
        state.live.entry(id.clone()).or_default().push((conn, tell));
        Some(Watch {
            logins: self.clone(),
            id: id.clone(),
            conn,
        })
    }

    /// Reads the logins ended since the last read (with an overlap) and applies them.
    ///
    /// # Errors
    /// The store's, when it cannot be read (the next poll tries again).
    pub(crate) async fn poll(&self, store: &dyn Store) -> store::Result<()> {
        let since = match self.state.lock() {
            Ok(state) if state.newest > 0 => state.newest.saturating_sub(POLL_OVERLAP_MS),
            _ => now_ms().saturating_sub(self.remember_ms),
        };
        let ended = store.ended_logins_since(since).await?;
        let Ok(state) = self.state.lock() else {
            return Ok(());
        };
        let new: Vec<(LoginId, Millis)> = ended
            .into_iter()
            .filter(|(_, id, _)| !state.ended.contains_key(id))
            .map(|(_, id, at): (UserId, LoginId, Millis)| (id, at))
            .collect();
        drop(state);
        if !new.is_empty() {
            tracing::debug!(count = new.len(), "logins ended elsewhere");
            self.end(new);
        }
        Ok(())
    }
}

/// A live socket's registration with its login; removed on drop.
#[derive(Debug)]
pub(crate) struct Watch {
    logins: Arc<Logins>,
    id: LoginId,
    conn: ConnId,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut state) = self.logins.state.lock()
            && let Some(sockets) = state.live.get_mut(&self.id)
        {
            sockets.retain(|(conn, _)| *conn != self.conn);
            if sockets.is_empty() {
                state.live.remove(&self.id);
            }
        }
    }
}

/// Polls the store for ended logins until shutdown.
pub(crate) async fn poll_loop(logins: Arc<Logins>, store: Arc<dyn Store>) {
    let mut tick = runtime::interval(POLL_EVERY);
    let mut failing = false;
    loop {
        tick.tick().await;
        match logins.poll(store.as_ref()).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read ended logins; retrying");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> LoginId {
        LoginId::from_random([n; LoginId::RANDOM_BYTES])
    }

    #[test]
    fn ending_tells_live_sockets_and_refuses_new_ones() -> Result<(), String> {
        let logins = Arc::new(Logins::new(Duration::from_secs(900)));
        let (tx, rx) = async_channel::bounded(1);
        let (other_tx, other_rx) = async_channel::bounded(1);
        let watch = logins
            .watch(&id(1), ConnId::next(), tx)
            .ok_or("not ended yet")?;
        let _other = logins.watch(&id(2), ConnId::next(), other_tx);
        logins.end([(id(1), now_ms())]);
        assert_eq!(rx.try_recv(), Ok(()));
        assert!(other_rx.try_recv().is_err(), "another login is untouched");
        assert!(logins.is_ended(&id(1)) && !logins.is_ended(&id(2)));
        let (tx, _rx) = async_channel::bounded(1);
        assert!(logins.watch(&id(1), ConnId::next(), tx).is_none());
        drop(watch);
        Ok(())
    }

    #[test]
    fn a_dropped_watch_unregisters() {
        let logins = Arc::new(Logins::new(Duration::from_secs(900)));
        let (tx, rx) = async_channel::bounded(1);
        drop(logins.watch(&id(3), ConnId::next(), tx));
        logins.end([(id(3), now_ms())]);
        assert!(
            rx.try_recv().is_err(),
            "nobody is told after the socket went"
        );
    }
}
