//! What a websocket connection's writer receives: frames to send, or a reason to close.

use async_tungstenite::tungstenite::Utf8Bytes;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Frames queued for one websocket before it is cut. Fan-out uses `try_send`: when this is
/// full the connection is closed as too slow, so one slow client never delays the others.
pub(crate) type Outbox = runtime::Mailbox<Outbound>;

/// An item for a connection's writer.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A text frame, serialized once and shared by every recipient.
    Frame(Utf8Bytes),
    /// Send a close frame with this code and reason, then stop.
    Close(CloseCode, &'static str),
    /// The peer sent a close frame: send the reply tungstenite queued for it, then stop.
    Finish,
    /// A binary frame: only the Autobahn echo test sends them (the server never does, §8.4),
    /// through the same writer as everything else.
    #[cfg(test)]
    Binary(async_tungstenite::tungstenite::Bytes),
}

/// Identifies one websocket connection on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId(u64);

impl ConnId {
    /// A fresh id, unique in this process.
    pub(crate) fn next() -> ConnId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id (unique in this process).
    pub(crate) fn raw(self) -> u64 {
        self.0
    }
}

/// Queues `frame` without waiting. A full outbox closes the connection (its writer drains
/// what is queued, then sends a close frame); returns false if the frame was not queued.
pub(crate) fn offer(outbox: &Outbox, frame: &Utf8Bytes) -> bool {
    match outbox.try_send(Outbound::Frame(frame.clone())) {
        Ok(()) => true,
        Err(runtime::TrySend::Full(_)) => {
            tracing::warn!("websocket outbox full: closing a slow client");
            outbox.close();
            false
        }
        Err(runtime::TrySend::Closed(_)) => false,
    }
}
