//! How an actor's task runs: failure isolation for
//! [`Spawner::spawn_actor`](crate::Spawner::spawn_actor).
//!
//! There is deliberately no `Actor` trait. An actor is a module with a
//! private message enum, a public handle wrapping a
//! [`Mailbox`](crate::Mailbox), and one task that owns the state and loops
//! on [`Inbox::recv`](crate::Inbox::recv) (mini-redis's buffered client;
//! the crate-level example shows the whole shape). A plain async function
//! keeps borrowing, early return and `?` ordinary; what a trait would add
//! (supervision) lives here instead, around the future.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_lite::FutureExt;
use tracing::Instrument;

/// Runs an actor's future, turning its error or panic into a log line so
/// the task always ends normally.
pub(crate) async fn supervise<F, E>(name: &'static str, fut: F)
where
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    // Unwind safety: the actor's state lives inside `fut` and is dropped
    // with it after a panic, and its `Mailbox`es then only ever see
    // `Closed`, so no one can observe a half-updated state.
    let outcome = AssertUnwindSafe(fut)
        .catch_unwind()
        .instrument(tracing::info_span!("actor", actor = name))
        .await;
    match outcome {
        Ok(Ok(())) => tracing::debug!(actor = name, "actor stopped"),
        Ok(Err(e)) => tracing::warn!(actor = name, error = %e, "actor stopped with an error"),
        Err(panic) => tracing::error!(
            actor = name,
            panic = panic_message(panic.as_ref()),
            "actor panicked"
        ),
    }
}

/// The message of a panic payload, when it is the usual `&str` or `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::executor::Runtime;
    use crate::mailbox::{Mailbox, Reply, mailbox};
    use crate::timer::deadline;

    const GUARD: Duration = Duration::from_secs(10);

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// How a test actor stops when told to fail: return an error or panic.
    type Failure = fn() -> Result<(), String>;

    enum Msg {
        Ping { reply: Reply<&'static str> },
        Fail,
    }

    /// Answers pings; on `Fail` it stops the way `fail` says.
    async fn pinger(mut inbox: crate::Inbox<Msg>, fail: Failure) -> Result<(), String> {
        while let Some(msg) = inbox.recv().await {
            match msg {
                Msg::Ping { reply } => reply.send("pong"),
                Msg::Fail => fail()?,
            }
        }
        Ok(())
    }

    async fn ping(mailbox: &Mailbox<Msg>) -> crate::Result<&'static str> {
        deadline(GUARD, mailbox.request(|reply| Msg::Ping { reply })).await?
    }

    #[test]
    fn failing_actors_are_isolated() -> TestResult {
        let rt = Runtime::new(2)?;
        let spawner = rt.spawner();
        rt.block_on(async {
            let (sibling, inbox) = mailbox(4);
            let _sibling_task = spawner.spawn_actor("sibling", pinger(inbox, || Ok(())));

            let failures: [(&str, Failure); 2] = [
                ("errs", || Err("refused on purpose".to_owned())),
                ("panics", || panic!("panicked on purpose")),
            ];
            for (name, fail) in failures {
                let (actor, inbox) = mailbox(4);
                let task = spawner.spawn_actor(name, pinger(inbox, fail));
                assert_eq!(ping(&actor).await, Ok("pong"));
                actor.send(Msg::Fail).await?;
                // The task ends normally (no panic resumed here) ...
                deadline(GUARD, task).await?;
                // ... its inbox is gone with it ...
                assert!(actor.is_closed());
                assert_eq!(ping(&actor).await, Err(Error::Closed));
                // ... and the sibling still answers.
                assert_eq!(ping(&sibling).await, Ok("pong"));
            }
            Ok(())
        })
    }

    #[test]
    fn panic_messages_are_extracted() {
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        let borrowed: Box<dyn Any + Send> = Box::new("static");
        let other: Box<dyn Any + Send> = Box::new(7_u8);
        assert_eq!(panic_message(owned.as_ref()), "owned");
        assert_eq!(panic_message(borrowed.as_ref()), "static");
        assert_eq!(panic_message(other.as_ref()), "<non-string panic payload>");
    }
}
