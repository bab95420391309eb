//! [`race`]: two futures, the first to finish wins, and each is polled only when something it
//! waits on woke it.
//!
//! `futures_lite::future::or` polls both sides whenever either is woken. For a connection
//! whose reader waits on a socket and whose writer wakes for every frame fanned out to it,
//! that is one failed `recv` system call per frame delivered; here the reader is polled only
//! when the socket (or whatever it awaits) woke it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Runs `a` and `b` until either completes and returns its output; the other is dropped.
///
/// Both are polled on the first poll; after that a side is polled only when its own waker
/// fired. Each side is boxed, so the pair costs two allocations and two small wakers.
///
/// # Examples
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// # futures_lite::future::block_on(async {
/// let winner = runtime::race(async { 1 }, futures_lite::future::pending::<i32>()).await;
/// assert_eq!(winner, 1);
/// # });
/// ```
pub fn race<T, A, B>(a: A, b: B) -> Race<A, B>
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    Race {
        a: Side::new(a),
        b: Side::new(b),
    }
}

/// The future [`race`] returns.
#[must_use = "futures do nothing unless polled"]
pub struct Race<A, B> {
    a: Side<A>,
    b: Side<B>,
}

impl<A, B> std::fmt::Debug for Race<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Race").finish_non_exhaustive()
    }
}

struct Side<F> {
    future: Pin<Box<F>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// Set when a side's waker fires; wakes whoever polls the race.
struct Flag {
    woken: AtomicBool,
    parent: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.parent.wake();
    }
}

impl<F: Future> Side<F> {
    fn new(future: F) -> Side<F> {
        let flag = Arc::new(Flag {
            // Polled on the first poll.
            woken: AtomicBool::new(true),
            parent: AtomicWaker::new(),
        });
        Side {
            future: Box::pin(future),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    fn poll_if_woken(&mut self, parent: &Waker) -> Poll<F::Output> {
        self.flag.parent.register(parent);
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        self.future
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }
}

impl<T, A, B> Future for Race<A, B>
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        if let Poll::Ready(out) = this.a.poll_if_woken(cx.waker()) {
            return Poll::Ready(out);
        }
        this.b.poll_if_woken(cx.waker())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// Counts its polls; ready after `ready_after` of them.
    struct Counted {
        polls: Arc<AtomicUsize>,
    }

    impl Future for Counted {
        type Output = &'static str;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<&'static str> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            Poll::Pending
        }
    }

    #[test]
    fn a_side_not_woken_is_not_polled_again() {
        smol::block_on(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let quiet = Counted {
                polls: polls.clone(),
            };
            // The other side wakes itself 20 times before finishing.
            let busy = async {
                for _ in 0..20 {
                    futures_lite::future::yield_now().await;
                }
                "busy"
            };
            assert_eq!(race(quiet, busy).await, "busy");
            assert_eq!(
                polls.load(Ordering::Relaxed),
                1,
                "polled only once, at the start"
            );
        });
    }

    #[test]
    fn either_side_can_win_and_wakes_reach_the_task() {
        smol::block_on(async {
            let slow = async {
                crate::sleep(Duration::from_secs(10)).await;
                "slow"
            };
            let (tx, rx) = async_channel::bounded::<&'static str>(1);
            let waiting = async move { rx.recv().await.unwrap_or("closed") };
            let sender = smol::spawn(async move {
                crate::sleep(Duration::from_millis(10)).await;
                let _ = tx.send("sent").await;
            });
            assert_eq!(race(slow, waiting).await, "sent");
            sender.await;
            assert_eq!(race(async { "first" }, async { "second" }).await, "first");
        });
    }
}
