//! Whole-server behaviour: a graceful stop closes every websocket with a close frame, and a
//! client that stops reading is cut without slowing anyone else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use support::fixtures::{create_group, join_group, register};
use support::ws::{Chat, subscribe_push};
use support::{Result, TestServer, fail};

#[test]
fn graceful_stop_sends_close_frames() -> Result {
    let mut server = TestServer::start()?;
    let addr = server.addr();
    let (mut chat, mut push) = server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Closing time", true).await?;
        let chat = Chat::open(addr, &ann, &sid).await?;
        let (push, _) = subscribe_push(addr, &ann).await?;
        Result::<_>::Ok((chat, push))
    })?;
    // Stopping waits for every connection task: each must send its close frame and end.
    server.stop()?;
    server.block_on(async {
        for close in [chat.ws.next_close().await?, push.next_close().await?] {
            let Some(frame) = close else {
                return fail("close frame without a code");
            };
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason.as_str(), "server shutting down");
        }
        Ok(())
    })
}

#[test]
fn a_client_that_stops_reading_is_cut_and_others_are_served() -> Result {
    // A tiny outbox, so the slow client is cut as soon as the kernel's buffers are full.
    let server = TestServer::start_with(|c| c.outbox_capacity = 2)?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let cat = register(addr, "cathy").await?;
        let sid = create_group(addr, &ann, "Fast and slow", true).await?;
        join_group(addr, &ben, &sid).await?;
        join_group(addr, &cat, &sid).await?;
        let mut sender = Chat::open(addr, &ann, &sid).await?;
        let mut fast = Chat::open(addr, &ben, &sid).await?;
        // Cathy goes online and then never reads again.
        let mut slow = Chat::open(addr, &cat, &sid).await?;
        // 1,000 messages of 15 KB: far more than loopback socket buffers hold.
        const COUNT: usize = 1000;
        let filler = "x".repeat(15_000);
        let send_all = async {
            for n in 0..COUNT {
                let content = format!("{n:04} {filler}");
                sender.say(&content).await?;
                // Wait for the echo: the sender keeps up, so only Cathy falls behind.
                sender.expect_text(&content).await?;
            }
            Result::<_>::Ok(())
        };
        let read_all = async {
            for n in 0..COUNT {
                let frame = fast.ws.next_of("text").await?;
                let content = frame["content"].as_str().unwrap_or_default();
                if !content.starts_with(&format!("{n:04} ")) {
                    return fail(format!(
                        "benny got {:?} as message {n}",
                        &content[..content.len().min(8)]
                    ));
                }
            }
            Ok(())
        };
        let (sent, read) = futures_lite::future::zip(send_all, read_all).await;
        sent?;
        read?;
        // Cathy's connection was closed as too slow: after what the buffers held she finds a
        // close frame saying so.
        match slow.ws.next_close().await? {
            Some(frame) => {
                assert_eq!(frame.code, CloseCode::Policy);
                assert!(frame.reason.contains("too slow"), "{}", frame.reason);
            }
            None => return fail("the slow client's close frame has no code"),
        }
        Ok(())
    })
}
