//! Graceful shutdown, passed in and never global: a stop broadcast plus a
//! "done" count.
//!
//! The shape is mini-redis's `Shutdown` + `shutdown_complete_tx`, built on
//! async-channel instead of a tokio broadcast and mpsc:
//!
//! - **Broadcast by closing.** Nobody ever sends on the stop channel;
//!   [`ShutdownTrigger::signal`] closes it, so every pending
//!   [`Shutdown::wait`] completes at once (a sent `()` would reach only one
//!   receiver).
//! - **Done by dropping.** Every [`Shutdown`] carries a clone of a "done"
//!   sender that it never uses. [`ShutdownTrigger::wait_done`] drops the
//!   trigger's own sender and waits for the channel to close, which happens
//!   exactly when the last `Shutdown` is dropped, i.e. when every task that
//!   held one has finished its cleanup.

use std::fmt;
use std::time::Duration;

use async_channel::{Receiver, Sender};

use crate::error::Result;

/// Makes a shutdown pair: the [`ShutdownTrigger`] the owner keeps, and a
/// first [`Shutdown`] to hand to a task (clone it for more).
///
/// # Examples
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = runtime::Runtime::new(1)?;
/// let (trigger, shutdown) = runtime::shutdown();
/// let worker = rt.spawner().spawn(async move {
///     shutdown.wait().await;
///     // ... flush, say goodbye; dropping `shutdown` reports "done".
/// });
/// rt.block_on(async {
///     trigger.signal();
///     trigger.wait_done(Duration::from_secs(5)).await?;
///     worker.await; // dropped its `Shutdown`, so it is on its way out
///     Ok::<_, runtime::Error>(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn shutdown() -> (ShutdownTrigger, Shutdown) {
    // Capacity is irrelevant for both: nothing is ever sent, they only close.
    let (stop_tx, stop_rx) = async_channel::bounded(1);
    let (done_tx, done_rx) = async_channel::bounded(1);
    let shutdown = Shutdown {
        stop: stop_rx,
        _done: done_tx.clone(),
    };
    let trigger = ShutdownTrigger {
        stop: stop_tx,
        listen: shutdown.stop.clone(),
        done_tx,
        done_rx,
    };
    (trigger, shutdown)
}

/// The owner's side of a shutdown: signals the stop and waits until every
/// [`Shutdown`] is dropped.
///
/// Dropping the trigger also signals the stop (the stop channel loses its
/// only sender), as dropping mini-redis's `notify_shutdown` does.
pub struct ShutdownTrigger {
    /// The stop channel's only sender; closing it is the broadcast.
    stop: Sender<()>,
    /// A receiver kept only to hand out clones in [`subscribe`](Self::subscribe).
    listen: Receiver<()>,
    /// The trigger's own "done" sender, cloned into each subscriber and
    /// dropped by [`wait_done`](Self::wait_done).
    done_tx: Sender<()>,
    /// Closes once every "done" sender is gone.
    done_rx: Receiver<()>,
}

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger")
            .field("signalled", &self.stop.is_closed())
            // Minus the trigger's own sender.
            .field("holders", &self.done_tx.sender_count().saturating_sub(1))
            .finish()
    }
}

impl ShutdownTrigger {
    /// Tells every [`Shutdown`] to stop: all current and future
    /// [`Shutdown::wait`] calls complete at once. Calling it again does
    /// nothing.
    pub fn signal(&self) {
        if self.stop.close() {
            tracing::info!("shutdown signalled");
        }
    }

    /// Whether [`signal`](Self::signal) was called.
    pub fn is_signalled(&self) -> bool {
        self.stop.is_closed()
    }

    /// Another [`Shutdown`] for a new task; it counts as "not done" until
    /// dropped.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            stop: self.listen.clone(),
            _done: self.done_tx.clone(),
        }
    }

    /// Signals the stop (if not done yet), then waits until every
    /// [`Shutdown`] has been dropped, for at most `deadline`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`](crate::Error::Timeout) if some holder is still
    /// alive when `deadline` passes; the caller may then cancel the tasks
    /// it owns or exit anyway.
    pub async fn wait_done(self, deadline: Duration) -> Result<()> {
        self.signal();
        let Self {
            stop,
            listen,
            done_tx,
            done_rx,
        } = self;
        drop((stop, listen, done_tx));
        // Nobody sends on the done channel, so `recv` only returns (with
        // `Err(Closed)`) once the last holder dropped its sender.
        crate::timer::deadline(deadline, done_rx.recv())
            .await
            .map(drop)
    }
}

/// A task's side of a shutdown: learn that a stop was asked for, and count
/// as "not done" while held.
///
/// Hold it for as long as the task has cleanup left; drop it when done.
/// Race it with the task's work using `futures_lite::FutureExt::or`.
#[derive(Clone)]
pub struct Shutdown {
    /// The stop channel; it never carries a message, only closes.
    stop: Receiver<()>,
    /// Never used: its existence is what keeps
    /// [`ShutdownTrigger::wait_done`] waiting.
    _done: Sender<()>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("signalled", &self.is_signalled())
            .finish()
    }
}

impl Shutdown {
    /// Completes once the stop is signalled (at once if it already was).
    pub async fn wait(&self) {
        // Nothing is ever sent, so this only returns when the channel
        // closes: `signal` was called or the trigger was dropped.
        let _closed = self.stop.recv().await;
    }

    /// Whether the stop was signalled.
    pub fn is_signalled(&self) -> bool {
        self.stop.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future;

    use super::*;
    use crate::error::Error;
    use crate::timer::deadline;

    const GUARD: Duration = Duration::from_secs(10);

    #[test]
    fn signal_wakes_every_waiter() -> Result<()> {
        smol::block_on(async {
            let (trigger, first) = shutdown();
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let s = trigger.subscribe();
                    smol::spawn(async move {
                        s.wait().await;
                        s.is_signalled()
                    })
                })
                .chain([smol::spawn(async move {
                    first.wait().await;
                    first.is_signalled()
                })])
                .collect();

            assert!(!trigger.is_signalled());
            trigger.signal();
            trigger.signal(); // idempotent
            for w in waiters {
                assert!(deadline(GUARD, w).await?);
            }
            // A late subscriber sees the stop at once.
            assert!(
                future::poll_once(trigger.subscribe().wait())
                    .await
                    .is_some()
            );
            Ok(())
        })
    }

    #[test]
    fn wait_done_returns_once_all_dropped() -> Result<()> {
        smol::block_on(async {
            let (trigger, first) = shutdown();
            let second = trigger.subscribe();
            let third = second.clone();
            let tasks: Vec<_> = [first, second, third]
                .into_iter()
                .map(|s| smol::spawn(async move { s.wait().await }))
                .collect();
            trigger.wait_done(GUARD).await?;
            // Each task dropped its `Shutdown` on the way out, so they end.
            for t in tasks {
                deadline(GUARD, t).await?;
            }
            Ok(())
        })
    }

    #[test]
    fn wait_done_times_out_while_one_is_held() {
        smol::block_on(async {
            let (trigger, held) = shutdown();
            let short = Duration::from_millis(20);
            assert_eq!(trigger.wait_done(short).await, Err(Error::Timeout(short)));
            assert!(held.is_signalled());
        });
    }

    #[test]
    fn dropping_the_trigger_signals() {
        let (trigger, s) = shutdown();
        drop(trigger);
        assert!(s.is_signalled());
        assert!(future::block_on(future::poll_once(s.wait())).is_some());
    }
}
