//! Idempotent sends: a text may carry the client's own `clientId` (an extension CookIM's client
//! never sends); a retry with the same id, on the same or a new connection, is stored once and
//! delivered once, and only the retrying connection gets its echo again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::fixtures::{create_group, history_texts, join_group, register};
use support::ws::Chat;
use support::{Result, TestServer};

#[test]
fn a_retried_send_is_stored_and_delivered_once() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let bob = register(addr, "bobby").await?;
        let sid = create_group(addr, &alice, "retries", true).await?;
        join_group(addr, &bob, &sid).await?;
        let mut sender = Chat::open(addr, &alice, &sid).await?;
        let mut reader = Chat::open(addr, &bob, &sid).await?;

        sender.say_with_id("hello", "c-1").await?;
        sender.expect_text("hello").await?;
        reader.expect_text("hello").await?;

        // The same id again on the same connection: echoed to the sender, not stored again,
        // not delivered again. The next message is what the reader sees next.
        sender.say_with_id("hello", "c-1").await?;
        sender.expect_text("hello").await?;
        // A retry after reconnecting (the first connection's fate unknown to the client).
        sender.ws.close().await?;
        let mut sender = Chat::open(addr, &alice, &sid).await?;
        sender.say_with_id("hello", "c-1").await?;
        let echo = sender.next_post("the retry's echo").await?;
        assert_eq!(echo.json["content"], "hello");
        sender.say_with_id("world", "c-2").await?;
        sender.expect_text("world").await?;
        let next = reader.next_post("the message after the retries").await?;
        assert_eq!(
            next.json["content"], "world",
            "the retry was delivered again"
        );

        // Ids belong to their sender: bob may use "c-1" too.
        reader.say_with_id("bob's own", "c-1").await?;
        reader.expect_text("bob's own").await?;
        // Without an id, two equal texts are two messages.
        sender.say("twice").await?;
        sender.expect_text("twice").await?;
        sender.say("twice").await?;
        sender.expect_text("twice").await?;

        assert_eq!(
            history_texts(addr, &bob, &sid).await?,
            ["hello", "world", "bob's own", "twice", "twice"]
        );
        Ok(())
    })
}

#[test]
fn a_bad_client_id_is_rejected_and_nothing_is_stored() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let sid = create_group(addr, &alice, "retries", true).await?;
        let mut chat = Chat::open(addr, &alice, &sid).await?;
        let longest = "x".repeat(64);
        for bad in [String::new(), "x".repeat(65), "a\nb".to_owned()] {
            chat.say_with_id("not stored", &bad).await?;
            let reject = chat.ws.next_of("reject").await?;
            assert_eq!(
                reject["content"], "clientId must be 1 to 64 printable characters",
                "{bad:?}"
            );
        }
        chat.say_with_id("stored", &longest).await?;
        chat.expect_text("stored").await?;
        assert_eq!(history_texts(addr, &alice, &sid).await?, ["stored"]);
        Ok(())
    })
}
