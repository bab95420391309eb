//! A client's socket with two guards on what it reads: a deadline (the request head and body
//! must arrive in time, so a slowloris client cannot hold a connection) and a byte budget (an
//! unauthenticated websocket may send only so much before it says who it is, so 8 MB frames
//! from anonymous sockets cost nothing). The server arms and disarms them as a connection
//! moves from HTTP to an unauthenticated, then an authenticated, websocket. Writes are never
//! limited here: a slow reader only slows itself (its outbox bounds it).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncWrite, Future};

/// The guards of one connection, shared by every clone of its stream.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Whether `timer` is armed; checked without the lock on every pending read.
    armed: AtomicBool,
    /// Whether the armed deadline has passed: every read fails from then on (a fired timer
    /// would not fire again, and a reader that goes on, like async-h1 discarding the rest of
    /// a body, must not wait forever).
    expired: AtomicBool,
    timer: Mutex<Option<Timer>>,
    /// Bytes the peer may still send; `u64::MAX` is unlimited.
    budget: AtomicU64,
}

/// Why a guarded read failed: the marker a reader matches to answer the peer properly.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tripped {
    /// The deadline passed.
    #[error("read deadline passed")]
    Deadline,
    /// The peer sent more than its budget.
    #[error("too much data before authentication")]
    Budget,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            budget: AtomicU64::new(u64::MAX),
            ..Guard::default()
        }
    }

    /// Reads must complete within `within` from now (until [`Guard::clear_deadline`]).
    pub(crate) fn deadline_in(&self, within: Duration) {
        if let Ok(mut timer) = self.timer.lock() {
            *timer = Some(Timer::at(Instant::now() + within));
            self.expired.store(false, Ordering::Release);
            self.armed.store(true, Ordering::Release);
        }
    }

    /// No read deadline from now on.
    pub(crate) fn clear_deadline(&self) {
        self.armed.store(false, Ordering::Release);
        if let Ok(mut timer) = self.timer.lock() {
            *timer = None;
        }
    }

    /// The peer may send at most `bytes` more (`u64::MAX`: unlimited).
    pub(crate) fn limit_reads(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Release);
    }

    /// Whether a read error came from a tripped guard, and which.
    pub(crate) fn tripped(error: &io::Error) -> Option<Tripped> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Tripped>())
            .copied()
    }

    fn charge(&self, read: usize) -> io::Result<()> {
        let read = read as u64;
        let mut left = self.budget.load(Ordering::Acquire);
        loop {
            if left == u64::MAX {
                return Ok(());
            }
            let Some(rest) = left.checked_sub(read) else {
                return Err(io::Error::other(Tripped::Budget));
            };
            match self
                .budget
                .compare_exchange_weak(left, rest, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => left = now,
            }
        }
    }

    /// Whether an armed deadline has passed already.
    fn is_expired(&self) -> bool {
        self.armed.load(Ordering::Acquire) && self.expired.load(Ordering::Acquire)
    }

    /// Polls the deadline: `Ready` once it has passed (and from then on).
    fn poll_deadline(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let fired = match self.timer.lock() {
            Ok(mut timer) => match timer.as_mut() {
                Some(timer) => Pin::new(timer).poll(cx).is_ready(),
                None => false,
            },
            Err(_) => false,
        };
        if fired {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// A [`TcpStream`] read through its [`Guard`]. Clones share the socket and the guard.
#[derive(Clone, Debug)]
pub(crate) struct Guarded {
    stream: TcpStream,
    guard: Arc<Guard>,
}

impl Guarded {
    /// Wraps `stream` with no deadline and no budget yet.
    pub(crate) fn new(stream: TcpStream) -> Guarded {
        Guarded {
            stream,
            guard: Arc::new(Guard::new()),
        }
    }

    /// The guard, to arm or disarm.
    pub(crate) fn guard(&self) -> Arc<Guard> {
        self.guard.clone()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.guard.is_expired() {
            return Poll::Ready(Err(deadline_passed()));
        }
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(read)) => Poll::Ready(self.guard.charge(read).map(|()| read)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.guard.poll_deadline(cx) {
                Poll::Ready(()) => Poll::Ready(Err(deadline_passed())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, Tripped::Deadline)
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    async fn pair() -> io::Result<(Guarded, TcpStream)> {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        Ok((Guarded::new(server), client))
    }

    #[test]
    fn a_silent_peer_trips_the_deadline() -> TestResult {
        smol::block_on(async {
            let (mut server, _client) = pair().await?;
            server.guard().deadline_in(Duration::from_millis(50));
            let mut buf = [0; 16];
            let err = server
                .read(&mut buf)
                .await
                .err()
                .ok_or("the read must fail")?;
            assert_eq!(Guard::tripped(&err), Some(Tripped::Deadline));
            Ok(())
        })
    }

    #[test]
    fn a_passed_deadline_fails_every_later_read() -> TestResult {
        smol::block_on(async {
            let (mut server, mut client) = pair().await?;
            server.guard().deadline_in(Duration::from_millis(20));
            let mut buf = [0; 16];
            assert!(server.read(&mut buf).await.is_err());
            // Data arriving later does not revive it, and nothing waits.
            client.write_all(b"late").await?;
            let err = server.read(&mut buf).await.err().ok_or("still expired")?;
            assert_eq!(Guard::tripped(&err), Some(Tripped::Deadline));
            // A new deadline starts afresh.
            server.guard().deadline_in(Duration::from_secs(5));
            let read = server.read(&mut buf).await?;
            assert_eq!(buf.get(..read), Some(&b"late"[..]));
            Ok(())
        })
    }

    #[test]
    fn a_cleared_deadline_never_trips_and_data_flows() -> TestResult {
        smol::block_on(async {
            let (mut server, mut client) = pair().await?;
            server.guard().deadline_in(Duration::from_millis(1));
            server.guard().clear_deadline();
            client.write_all(b"hello").await?;
            let mut buf = [0; 5];
            server.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"hello");
            Ok(())
        })
    }

    #[test]
    fn the_budget_allows_n_bytes_and_refuses_n_plus_one() -> TestResult {
        smol::block_on(async {
            let (mut server, mut client) = pair().await?;
            server.guard().limit_reads(4);
            client.write_all(b"abcd").await?;
            let mut buf = [0; 4];
            server.read_exact(&mut buf).await?;
            client.write_all(b"e").await?;
            let err = server.read(&mut buf).await.err().ok_or("over budget")?;
            assert_eq!(Guard::tripped(&err), Some(Tripped::Budget));
            server.guard().limit_reads(u64::MAX);
            Ok(())
        })
    }
}
