use std::time::Duration;

use futures_lite::future;

use super::*;
use crate::timer::deadline;

/// Guards against a hang; no test should get anywhere near it.
const GUARD: Duration = Duration::from_secs(10);

enum Msg {
    Add(u32),
    Get { reply: Reply<u32> },
    Forget { _reply: Reply<u32> },
}

/// Runs a tiny counter actor on the current task until its inbox closes.
async fn counter(mut inbox: Inbox<Msg>) {
    let mut total = 0;
    while let Some(msg) = inbox.recv().await {
        match msg {
            Msg::Add(n) => total += n,
            Msg::Get { reply } => reply.send(total),
            Msg::Forget { .. } => {}
        }
    }
}

#[test]
fn request_reply_round_trip() -> Result<()> {
    smol::block_on(async {
        let (mailbox, inbox) = mailbox(4);
        let actor = smol::spawn(counter(inbox));
        mailbox.send(Msg::Add(2)).await?;
        mailbox.send(Msg::Add(3)).await?;
        let total = deadline(GUARD, mailbox.request(|reply| Msg::Get { reply })).await??;
        assert_eq!(total, 5);
        drop(mailbox);
        deadline(GUARD, actor).await
    })
}

#[test]
fn send_to_gone_actor_is_closed() {
    future::block_on(async {
        let (mailbox, inbox) = mailbox::<Msg>(4);
        drop(inbox);
        assert!(mailbox.is_closed());
        assert_eq!(mailbox.send(Msg::Add(1)).await, Err(Error::Closed));
        assert_eq!(
            mailbox.request(|reply| Msg::Get { reply }).await,
            Err(Error::Closed)
        );
        let back = mailbox.try_send(Msg::Add(9));
        assert!(matches!(back, Err(TrySend::Closed(Msg::Add(9)))));
    });
}

#[test]
fn dropped_reply_is_no_reply() -> Result<()> {
    smol::block_on(async {
        let (mailbox, inbox) = mailbox(4);
        let actor = smol::spawn(counter(inbox));
        let got = deadline(GUARD, mailbox.request(|r| Msg::Forget { _reply: r })).await?;
        assert_eq!(got, Err(Error::NoReply));
        drop(mailbox);
        deadline(GUARD, actor).await
    })
}

#[test]
fn full_mailbox_pushes_back() -> Result<()> {
    future::block_on(async {
        let (mailbox, mut inbox) = mailbox::<u32>(2);
        assert_eq!(mailbox.capacity(), 2);
        mailbox.try_send(1)?;
        mailbox.try_send(2)?;
        match mailbox.try_send(3) {
            Err(full @ TrySend::Full(_)) => {
                assert_eq!(full.cause(), Error::Full);
                assert_eq!(full.into_inner(), 3);
            }
            other => panic!("expected Full(3), got {other:?}"),
        }

        let send = mailbox.send(4);
        futures_lite::pin!(send);
        assert_eq!(future::poll_once(&mut send).await, None, "must wait");
        assert_eq!(inbox.recv().await, Some(1));
        assert_eq!(future::poll_once(&mut send).await, Some(Ok(())));

        assert_eq!(inbox.try_recv(), Some(2));
        assert_eq!(inbox.try_recv(), Some(4));
        assert_eq!(inbox.try_recv(), None);
        Ok(())
    })
}

#[test]
fn zero_capacity_means_one() {
    let (mailbox, _inbox) = mailbox::<u32>(0);
    assert_eq!(mailbox.capacity(), 1);
    assert!(mailbox.try_send(1).is_ok());
    assert!(mailbox.try_send(2).is_err_and(|e| e.is_full()));
}

#[test]
fn close_drains_queued_then_ends() -> Result<()> {
    future::block_on(async {
        let (mailbox, mut inbox) = mailbox::<u32>(4);
        mailbox.send(1).await?;
        mailbox.send(2).await?;
        assert!(mailbox.close());
        assert!(!mailbox.close(), "second close reports it was closed");
        assert_eq!(mailbox.send(3).await, Err(Error::Closed));
        assert_eq!(inbox.recv().await, Some(1));
        assert_eq!(inbox.recv().await, Some(2));
        assert_eq!(inbox.recv().await, None);
        Ok(())
    })
}

#[test]
fn inbox_close_refuses_new_but_drains() -> Result<()> {
    future::block_on(async {
        let (mailbox, mut inbox) = mailbox::<u32>(4);
        mailbox.send(1).await?;
        inbox.close();
        assert!(inbox.is_closed());
        assert_eq!(mailbox.try_send(2).map_err(Error::from), Err(Error::Closed));
        assert_eq!(inbox.recv().await, Some(1));
        assert_eq!(inbox.recv().await, None);
        Ok(())
    })
}

#[test]
fn debug_hides_messages() {
    let (mailbox, inbox) = mailbox::<String>(3);
    let _ = mailbox.try_send("secret".to_owned());
    let shown = format!("{mailbox:?} {inbox:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("len: 1"), "{shown}");
    let full = TrySend::Full("secret".to_owned());
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(full.to_string(), "mailbox is full");
}

#[test]
fn reply_sees_gone_asker() {
    let (reply, answer) = reply::<u32>();
    assert!(!reply.is_closed());
    drop(answer);
    assert!(reply.is_closed());
    reply.send(1); // must not fail or panic
}
