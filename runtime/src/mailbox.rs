//! Bounded mailboxes (the handle side and the actor side) and one-shot replies.
//!
//! A [`Mailbox`] is what callers hold; the one [`Inbox`] is what the actor's
//! task loops on. The queue is bounded, so a slow actor pushes back on its
//! senders instead of growing without limit, but its memory is taken only
//! while messages wait: an idle mailbox holds no slots. That matters when
//! every websocket has one (an outbox of 64 preallocated slots was most of
//! an idle connection's memory). [`reply`] makes the one-shot pair used for
//! request/response, the shape of mini-redis's buffered client.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use async_channel::{Receiver, Sender};
use event_listener::Event;
use futures_lite::Stream;

use crate::error::{Error, Result};

/// Makes a bounded mailbox: the cloneable [`Mailbox`] for senders and the
/// single [`Inbox`] for the actor.
///
/// `capacity` is how many messages may wait before [`Mailbox::send`] starts
/// waiting and [`Mailbox::try_send`] starts failing with [`TrySend::Full`].
/// A capacity of 0 is treated as 1: a zero-sized channel would make every
/// send a rendezvous, which is not what a mailbox is for. Slots are
/// allocated as messages arrive and released when the queue drains.
///
/// # Examples
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// # futures_lite::future::block_on(async {
/// let (mailbox, mut inbox) = runtime::mailbox::<u32>(8);
/// mailbox.send(7).await?;
/// assert_eq!(inbox.recv().await, Some(7));
/// drop(mailbox);
/// assert_eq!(inbox.recv().await, None); // every handle gone: the actor ends
/// # Ok::<(), runtime::Error>(())
/// # })?;
/// # Ok::<(), runtime::Error>(())
/// ```
pub fn mailbox<M>(capacity: usize) -> (Mailbox<M>, Inbox<M>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
            handles: 1,
            actor: None,
        }),
        to_senders: Event::new(),
        capacity: capacity.max(1),
    });
    (Mailbox { chan: chan.clone() }, Inbox { chan })
}

/// The queue both sides share.
struct Chan<M> {
    state: Mutex<State<M>>,
    /// Notified when a slot frees up or the mailbox closes (full senders wait on it).
    to_senders: Event,
    capacity: usize,
}

struct State<M> {
    queue: VecDeque<M>,
    closed: bool,
    /// Live [`Mailbox`] handles; the last one dropped closes the mailbox.
    handles: usize,
    /// The actor's waker while it waits on an empty queue (there is one receiver, so a slot
    /// is enough: no listener is allocated per wait).
    actor: Option<Waker>,
}

/// What a look at the queue found.
enum Pop<M> {
    Message(M),
    Empty,
    Closed,
}

impl<M> Chan<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // No code panics while holding the lock; a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_send(&self, msg: M) -> Result<(), TrySend<M>> {
        let waiting = {
            let mut state = self.lock();
            if state.closed {
                return Err(TrySend::Closed(msg));
            }
            if state.queue.len() >= self.capacity {
                return Err(TrySend::Full(msg));
            }
            state.queue.push_back(msg);
            state.actor.take()
        };
        if let Some(actor) = waiting {
            actor.wake();
        }
        Ok(())
    }

    /// Takes the next message; with `cx`, registers the actor to be woken when there is none.
    fn pop(&self, cx: Option<&mut Context<'_>>) -> Pop<M> {
        let popped = {
            let mut state = self.lock();
            match state.queue.pop_front() {
                Some(msg) => {
                    if state.queue.is_empty() {
                        // Drained: give the slots back until the next burst.
                        state.queue = VecDeque::new();
                    }
                    // The actor is not waiting now; no send should wake it for nothing.
                    state.actor = None;
                    Pop::Message(msg)
                }
                None if state.closed => Pop::Closed,
                None => {
                    if let Some(cx) = cx {
                        match &state.actor {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            _ => state.actor = Some(cx.waker().clone()),
                        }
                    }
                    Pop::Empty
                }
            }
        };
        if matches!(popped, Pop::Message(_)) {
            self.to_senders.notify(1);
        }
        popped
    }

    /// Closes the mailbox; true if this call closed it.
    fn close(&self) -> bool {
        let (newly, actor) = {
            let mut state = self.lock();
            (
                !std::mem::replace(&mut state.closed, true),
                state.actor.take(),
            )
        };
        if let Some(actor) = actor {
            actor.wake();
        }
        if newly {
            self.to_senders.notify(usize::MAX);
        }
        newly
    }
}

/// The sending side of an actor's mailbox; cheap to clone.
///
/// Actor handles wrap one of these in a private field so the message enum
/// stays private to the actor's module. The actor keeps running while at
/// least one `Mailbox` exists (or until it decides to stop).
pub struct Mailbox<M> {
    chan: Arc<Chan<M>>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        self.chan.lock().handles += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<M> Drop for Mailbox<M> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.chan.lock();
            state.handles -= 1;
            state.handles == 0
        };
        if last {
            self.chan.close();
        }
    }
}

impl<M> fmt::Debug for Mailbox<M> {
    // Hand-written: messages may carry user data, and `M: Debug` would leak
    // into every handle's bounds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<M> Mailbox<M> {
    /// Delivers `msg`, waiting while the mailbox is full (backpressure).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the actor is gone; `msg` is dropped.
    pub async fn send(&self, msg: M) -> Result<()> {
        let mut msg = msg;
        loop {
            match self.chan.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySend::Closed(_)) => return Err(Error::Closed),
                Err(TrySend::Full(back)) => msg = back,
            }
            // Listen first, then look again, so a slot freed in between is not missed.
            let listener = self.chan.to_senders.listen();
            match self.chan.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySend::Closed(_)) => return Err(Error::Closed),
                Err(TrySend::Full(back)) => msg = back,
            }
            listener.await;
        }
    }

    /// Delivers `msg` if there is room right now; never waits.
    ///
    /// This is what fan-out uses so one slow receiver cannot stall the rest.
    ///
    /// # Errors
    ///
    /// [`TrySend::Full`] if the mailbox is at capacity, [`TrySend::Closed`]
    /// if the actor is gone; either way the message comes back to the caller.
    pub fn try_send(&self, msg: M) -> Result<(), TrySend<M>> {
        self.chan.try_send(msg)
    }

    /// Closes the mailbox for every handle: further sends fail with
    /// [`Error::Closed`], while the actor's [`Inbox::recv`] still drains what
    /// is queued and then returns `None`. This is the "refuse new work,
    /// finish queued work, exit" graceful stop.
    ///
    /// Returns `true` if this call closed it, `false` if it was already
    /// closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the mailbox is closed: the actor is gone or
    /// [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// How many messages are waiting for the actor right now.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether no message is waiting for the actor right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many messages may wait before senders are pushed back.
    pub fn capacity(&self) -> usize {
        self.chan.capacity
    }

    /// Sends a request built by `make` and waits for the actor's answer.
    ///
    /// `make` receives the [`Reply`] to embed in the message, typically
    /// `|reply| Msg::Get { reply }`. Race the call with
    /// [`deadline`](crate::deadline) when the actor might be slow.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the actor is gone before it got the request;
    /// [`Error::NoReply`] if it took the request but dropped the reply.
    pub async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> M) -> Result<T> {
        let (reply, answer) = reply();
        self.send(make(reply)).await?;
        answer.await
    }
}

/// Why [`Mailbox::try_send`] did not deliver; carries the message back.
pub enum TrySend<M> {
    /// The mailbox is at capacity.
    Full(M),
    /// The actor is gone.
    Closed(M),
}

impl<M> TrySend<M> {
    /// Gives back the message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            Self::Full(m) | Self::Closed(m) => m,
        }
    }

    /// Whether the mailbox was full (as opposed to closed).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the actor was gone (as opposed to busy).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// The [`Error`] this stands for, without the message.
    fn cause(&self) -> Error {
        match self {
            Self::Full(_) => Error::Full,
            Self::Closed(_) => Error::Closed,
        }
    }
}

impl<M> fmt::Debug for TrySend<M> {
    // No `M: Debug` bound, and message contents stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Display for TrySend<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.cause(), f)
    }
}

impl<M> std::error::Error for TrySend<M> {}

impl<M> From<TrySend<M>> for Error {
    fn from(e: TrySend<M>) -> Self {
        e.cause()
    }
}

/// The receiving side of an actor's mailbox, owned by the actor's task.
///
/// When it is dropped (the task ended, returned an error or panicked) every
/// [`Mailbox`] to it sees [`Error::Closed`].
pub struct Inbox<M> {
    chan: Arc<Chan<M>>,
}

impl<M> Drop for Inbox<M> {
    fn drop(&mut self) {
        self.chan.close();
        // Nobody will read what is queued: drop it now, not with the last handle.
        let queued = std::mem::take(&mut self.chan.lock().queue);
        drop(queued);
    }
}

impl<M> fmt::Debug for Inbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<M> Inbox<M> {
    /// Waits for the next message.
    ///
    /// Returns `None` once the mailbox is closed (every [`Mailbox`] dropped,
    /// or [`close`](Self::close) / [`Mailbox::close`] called) *and* nothing
    /// is queued any more: that is the actor's cue to stop. A stop is an
    /// expected outcome, not an error.
    pub async fn recv(&mut self) -> Option<M> {
        std::future::poll_fn(|cx| match self.chan.pop(Some(cx)) {
            Pop::Message(msg) => Poll::Ready(Some(msg)),
            Pop::Closed => Poll::Ready(None),
            Pop::Empty => Poll::Pending,
        })
        .await
    }

    /// Takes the next message if one is queued; never waits.
    ///
    /// `None` means "nothing right now" or "closed and drained"; use
    /// [`is_closed`](Self::is_closed) to tell them apart.
    pub fn try_recv(&mut self) -> Option<M> {
        match self.chan.pop(None) {
            Pop::Message(msg) => Some(msg),
            Pop::Empty | Pop::Closed => None,
        }
    }

    /// Refuses new messages while keeping the queued ones for
    /// [`recv`](Self::recv) to drain: the actor's side of a graceful stop.
    pub fn close(&self) {
        self.chan.close();
    }

    /// Whether the mailbox is closed (queued messages may still remain).
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes a one-shot pair: the actor answers through the [`Reply`], the
/// asker awaits the [`Answer`].
///
/// [`Mailbox::request`] does this for you; call it directly when the reply
/// travels further (say, handed to another actor).
///
/// # Examples
///
/// ```
/// # extern crate cookim_runtime as runtime;
/// # futures_lite::future::block_on(async {
/// let (reply, answer) = runtime::reply::<&str>();
/// reply.send("pong");
/// assert_eq!(answer.await, Ok("pong"));
///
/// let (reply, answer) = runtime::reply::<&str>();
/// drop(reply);
/// assert_eq!(answer.await, Err(runtime::Error::NoReply));
/// # });
/// ```
pub fn reply<T>() -> (Reply<T>, Answer<T>) {
    // Capacity 1 is enough: `Reply::send` consumes the reply, so at most one
    // value is ever sent and the send can never find the channel full.
    let (tx, rx) = async_channel::bounded(1);
    (Reply { tx }, Answer { rx: Box::pin(rx) })
}

/// The actor's half of a one-shot reply; put it in the request message.
pub struct Reply<T> {
    /// Capacity-1 channel to the waiting [`Answer`].
    tx: Sender<T>,
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("asker_gone", &self.is_closed())
            .finish()
    }
}

impl<T> Reply<T> {
    /// Answers the request. If the asker stopped waiting (it timed out or
    /// was cancelled) the value is dropped: that is not the actor's problem.
    pub fn send(self, value: T) {
        if self.tx.try_send(value).is_err() {
            tracing::trace!("reply dropped: the asker is gone");
        }
    }

    /// Whether the asker stopped waiting, so the answer would be wasted and
    /// expensive work for it may be skipped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The asker's half of a one-shot reply: `.await` it.
///
/// Resolves to the value, or to [`Error::NoReply`] if the [`Reply`] was
/// dropped unsent.
pub struct Answer<T> {
    /// Capacity-1 channel from the [`Reply`]. Boxed because async-channel's
    /// `Receiver` is `!Unpin` and this crate forbids the `unsafe` a pin
    /// projection would need; one small allocation per request.
    rx: Pin<Box<Receiver<T>>>,
}

impl<T> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("ready", &!self.rx.is_empty())
            .finish()
    }
}

impl<T> Future for Answer<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The channel closes when the lone `Reply` is dropped, whether after
        // sending (the value is still queued and comes first) or without.
        self.rx
            .as_mut()
            .poll_next(cx)
            .map(|value| value.ok_or(Error::NoReply))
    }
}

#[cfg(test)]
mod tests;
