//! The one error type of this crate: why talking to an actor, or waiting, failed.

use std::time::Duration;

/// Why a message, a request or a wait did not succeed.
///
/// Every variant is cheap to clone and compare, so callers can match on it
/// and tests can assert on it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The actor behind a [`Mailbox`](crate::Mailbox) has stopped: its
    /// [`Inbox`](crate::Inbox) was dropped or the mailbox was closed.
    ///
    /// The message was not delivered; nothing changed on the actor's side.
    #[error("actor is gone")]
    Closed,

    /// The mailbox already holds as many messages as its capacity allows and
    /// the sender chose not to wait ([`Mailbox::try_send`](crate::Mailbox::try_send)).
    ///
    /// The message was not delivered; the caller decides whether to drop
    /// it, retry later or cut the slow peer off.
    #[error("mailbox is full")]
    Full,

    /// The actor took a request but dropped its [`Reply`](crate::Reply)
    /// without answering (it panicked, stopped mid-request, or forgot).
    ///
    /// The request *was* delivered, so the actor may have acted on it.
    #[error("actor dropped the request without replying")]
    NoReply,

    /// A [`deadline`](crate::deadline) or
    /// [`ShutdownTrigger::wait_done`](crate::ShutdownTrigger::wait_done) ran
    /// out of time; holds the duration that was allowed.
    ///
    /// The raced future was dropped; whatever it had done before stays done.
    #[error("deadline of {0:?} passed")]
    Timeout(Duration),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        assert_eq!(Error::Closed.to_string(), "actor is gone");
        assert_eq!(Error::Full.to_string(), "mailbox is full");
        assert_eq!(
            Error::NoReply.to_string(),
            "actor dropped the request without replying"
        );
        assert_eq!(
            Error::Timeout(Duration::from_millis(20)).to_string(),
            "deadline of 20ms passed"
        );
    }
}
