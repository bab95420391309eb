//! Time: sleeping, racing a deadline, periodic ticks and idle detection,
//! all on async-io's reactor timers.
//!
//! Every await on a remote party races a deadline (async-io's crate example:
//! `connect(..).or(Timer::after(..))`); [`deadline`] is that race with a
//! typed error.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

pub use async_io::Timer;
use futures_lite::{Stream, future};

use crate::error::{Error, Result};

/// Waits for `d` to pass.
///
/// Use it for pacing, never to wait for something to happen: wait for the
/// event itself (a reply, a closed channel, a [`Shutdown`](crate::Shutdown)).
pub async fn sleep(d: Duration) {
    Timer::after(d).await;
}

/// Runs `fut` for at most `d`.
///
/// `fut` is polled first, so a future that is already ready wins even with a
/// zero deadline. On timeout `fut` is dropped, cancelling it at its current
/// await point.
///
/// # Errors
///
/// [`Error::Timeout`] holding `d` if `fut` did not finish in time.
///
/// # Examples
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// use std::time::Duration;
/// use runtime::{deadline, Error};
///
/// # futures_lite::future::block_on(async {
/// assert_eq!(deadline(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// let never = futures_lite::future::pending::<()>();
/// let d = Duration::from_millis(10);
/// assert_eq!(deadline(d, never).await, Err(Error::Timeout(d)));
/// # });
/// ```
pub async fn deadline<T>(d: Duration, fut: impl Future<Output = T>) -> Result<T> {
    future::or(async { Ok(fut.await) }, async {
        Timer::after(d).await;
        Err(Error::Timeout(d))
    })
    .await
}

/// Makes an [`Interval`] whose first tick comes one `period` from now.
pub fn interval(period: Duration) -> Interval {
    Interval {
        timer: Timer::after(period),
        period,
    }
}

/// Ticks every `period`; see [`interval`].
///
/// Await [`tick`](Self::tick) or use it as a [`Stream`] of the scheduled
/// instants. Unlike a bare `Timer::interval`, ticks missed during a stall
/// are skipped rather than fired back to back: after a late tick the next
/// one is a full period later. Periodic protocol work (gossip rounds,
/// keepalives) wants one catch-up tick, not a burst.
///
/// A zero period ticks on every poll; don't.
#[derive(Debug)]
pub struct Interval {
    /// One-shot timer set to the next tick, re-armed after each tick.
    timer: Timer,
    /// Time between ticks.
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Polls for the next tick, re-arming the timer when it fires.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let scheduled = ready!(Pin::new(&mut self.timer).poll(cx));
        let now = Instant::now();
        let next = match scheduled.checked_add(self.period) {
            Some(next) if next > now => Some(next),
            // Fell behind by a period or more: skip the missed ticks.
            _ => now.checked_add(self.period),
        };
        match next {
            Some(at) => self.timer.set_at(at),
            // A period so long it overflows `Instant` never ticks again.
            None => self.timer = Timer::never(),
        }
        Poll::Ready(scheduled)
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Fires after `period` of silence: the "send a keepalive after 50 s with
/// nothing sent" helper.
///
/// Call [`reset`](Self::reset) whenever something was sent; race
/// [`expired`](Self::expired) against the actor's other work. After it
/// fires it re-arms itself for another `period`, so a loop that sends a
/// keepalive on every expiry pings once per `period` of silence.
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// use std::time::Duration;
/// use futures_lite::FutureExt;
/// use runtime::{Idle, mailbox};
///
/// enum Event { Outgoing(String), Quiet }
///
/// # futures_lite::future::block_on(async {
/// let (outbox, mut inbox) = mailbox::<String>(8);
/// outbox.send("hello".to_owned()).await?;
/// let mut idle = Idle::new(Duration::from_millis(10));
/// let mut wire = Vec::new(); // stands in for the socket
/// while wire.len() < 2 {
///     let event = async { inbox.recv().await.map(Event::Outgoing) }
///         .or(async { idle.expired().await; Some(Event::Quiet) })
///         .await;
///     match event {
///         Some(Event::Outgoing(text)) => {
///             wire.push(text);
///             idle.reset();
///         }
///         Some(Event::Quiet) => wire.push("keepalive".to_owned()),
///         None => break, // every handle gone
///     }
/// }
/// assert_eq!(wire, ["hello", "keepalive"]);
/// # drop(outbox);
/// # Ok::<(), runtime::Error>(())
/// # })?;
/// # Ok::<(), runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct Idle {
    /// Fires at the earliest moment the period could have passed; re-checked then.
    timer: Timer,
    /// The last [`reset`](Self::reset) (or start, or expiry).
    last: Instant,
    /// How much silence counts as idle.
    period: Duration,
}

impl Idle {
    /// Starts counting `period` of silence from now.
    pub fn new(period: Duration) -> Self {
        Self {
            timer: Timer::after(period),
            last: Instant::now(),
            period,
        }
    }

    /// Something happened: start counting `period` again from now. Cheap: it only notes the
    /// time (a writer calls it for every frame); the timer is moved when it fires.
    pub fn reset(&mut self) {
        self.last = Instant::now();
    }

    /// Completes once `period` has passed since the last
    /// [`reset`](Self::reset) (or [`new`](Self::new), or the previous
    /// expiry), then re-arms for another `period`.
    ///
    /// Cancel-safe: dropping the future before it completes changes nothing.
    pub async fn expired(&mut self) {
        loop {
            (&mut self.timer).await;
            let due = self.last + self.period;
            let now = Instant::now();
            if now >= due {
                self.last = now;
                self.timer.set_after(self.period);
                return;
            }
            self.timer.set_at(due);
        }
    }

    /// How much silence counts as idle.
    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Duration = Duration::from_secs(10);

    #[test]
    fn deadline_ok_when_in_time() {
        smol::block_on(async {
            assert_eq!(deadline(GUARD, async { 1 }).await, Ok(1));
            // Already-ready futures win even against a zero deadline.
            assert_eq!(deadline(Duration::ZERO, async { 2 }).await, Ok(2));
        });
    }

    #[test]
    fn deadline_times_out() {
        smol::block_on(async {
            let short = Duration::from_millis(20);
            let got = deadline(short, future::pending::<()>()).await;
            assert_eq!(got, Err(Error::Timeout(short)));
        });
    }

    #[test]
    fn idle_fires_after_its_period() -> Result<()> {
        smol::block_on(async {
            let period = Duration::from_millis(30);
            let start = Instant::now();
            let mut idle = Idle::new(period);
            deadline(GUARD, idle.expired()).await?;
            assert!(start.elapsed() >= period);
            // Re-armed on expiry: the next one is a full period later.
            deadline(GUARD, idle.expired()).await?;
            assert!(start.elapsed() >= period * 2);
            Ok(())
        })
    }

    #[test]
    fn idle_reset_pushes_expiry_back() -> Result<()> {
        smol::block_on(async {
            let period = Duration::from_millis(40);
            let mut idle = Idle::new(period);
            // Activity 30 ms in (the stimulus, not a synchronisation).
            sleep(Duration::from_millis(30)).await;
            let reset_at = Instant::now();
            idle.reset();
            deadline(GUARD, idle.expired()).await?;
            assert!(reset_at.elapsed() >= period);
            Ok(())
        })
    }

    #[test]
    fn interval_ticks_and_skips_missed() -> Result<()> {
        smol::block_on(async {
            let period = Duration::from_millis(20);
            let start = Instant::now();
            let mut ticks = interval(period);
            let first = deadline(GUARD, ticks.tick()).await?;
            assert!(first - start >= period);
            let second = deadline(GUARD, ticks.tick()).await?;
            assert!(second - first >= period);

            // Stall for several periods, then: one catch-up tick at once,
            // and the next a full period after it, not a burst.
            sleep(period * 4).await;
            let before_catch_up = Instant::now();
            deadline(GUARD, ticks.tick()).await?;
            deadline(GUARD, futures_lite::StreamExt::next(&mut ticks)).await?;
            assert!(before_catch_up.elapsed() >= period);
            Ok(())
        })
    }
}
