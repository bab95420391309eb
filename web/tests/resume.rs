//! Resume (an extension CookIM's client never uses): `online` with `after` sends every stored
//! message after that `seq`, then live ones, each with its `seq`: no gap, no duplicate, even
//! while the chat keeps going. `listMessages` takes `after` and `withSeq` the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{create_group, join_group, register};
use support::http::api;
use support::ws::{Chat, keys_in_order};
use support::{Result, TestServer};

/// The next stored message (text, join, leave, file) with its seq and content.
async fn next_stored(chat: &mut Chat) -> Result<(i64, String)> {
    let frame = chat
        .ws
        .next_frame_where("a stored message", |v| {
            matches!(
                v["msgType"].as_str(),
                Some("text" | "file" | "join" | "leave")
            )
        })
        .await?;
    let seq = frame.json["seq"]
        .as_i64()
        .ok_or_else(|| format!("no seq in {}", frame.raw))?;
    let keys = keys_in_order(&frame.raw)?;
    assert_eq!(
        keys.get(..10).map(<[String]>::len),
        Some(10),
        "{}",
        frame.raw
    );
    assert_eq!(
        keys.get(10).map(String::as_str),
        Some("seq"),
        "{}",
        frame.raw
    );
    Ok((
        seq,
        frame.json["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ))
}

#[test]
fn a_resuming_client_gets_what_it_missed_then_live_messages_once_each() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let bob = register(addr, "bobby").await?;
        let sid = create_group(addr, &alice, "resume", true).await?;
        join_group(addr, &bob, &sid).await?;
        let mut sender = Chat::open(addr, &alice, &sid).await?;
        sender.say("before").await?;
        sender.expect_text("before").await?;

        // after = 0: the whole history with seqs (two joins, one text), then live.
        let mut reader = Chat::open_after(addr, &bob, &sid, 0).await?;
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(next_stored(&mut reader).await?);
        }
        assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(seen[2].1, "before");
        sender.say("live").await?;
        assert_eq!(next_stored(&mut reader).await?, (4, "live".to_owned()));

        // Away: 300 messages while bob is gone, then he resumes from seq 4 while alice keeps
        // talking. He sees 5, 6, 7, ... with no gap and no duplicate.
        reader.ws.close().await?;
        for n in 0..300 {
            sender.say(&format!("away {n}")).await?;
        }
        for n in 0..300 {
            sender.expect_text(&format!("away {n}")).await?;
        }
        let mut reader = Chat::open_after(addr, &bob, &sid, 4).await?;
        for n in 0..50 {
            sender.say(&format!("during {n}")).await?;
        }
        for expected_seq in 5..355 {
            let (seq, _) = next_stored(&mut reader).await?;
            assert_eq!(seq, expected_seq, "gap or duplicate");
        }

        // The plain client (alice, no `after`) still gets CookIM's ten fields only.
        let frame = sender.expect_text("during 49").await?;
        assert_eq!(keys_in_order(&frame.raw)?.len(), 10, "{}", frame.raw);
        Ok(())
    })
}

#[test]
fn list_messages_after_and_with_seq() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let sid = create_group(addr, &alice, "history", true).await?;
        let mut chat = Chat::open(addr, &alice, &sid).await?;
        chat.say_with_id("one", "c-1").await?;
        chat.expect_text("one").await?;
        chat.say("two").await?;
        chat.expect_text("two").await?;
        let list = |extra: Vec<(&'static str, &'static str)>| {
            let mut form = vec![
                ("userToken", alice.token.clone()),
                ("sessionid", sid.clone()),
                ("count", "10".to_owned()),
            ];
            form.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
            async move {
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                api(addr, "listMessages", &pairs).await
            }
        };
        // Plain: CookIM's shape.
        let plain = list(vec![]).await?;
        let first = &plain["messages"][0];
        assert!(first.get("seq").is_none(), "{plain}");
        // withSeq: seq 1 (the join), 2, 3 and the client id of "one".
        let with = list(vec![("withSeq", "1")]).await?;
        let seqs: Vec<i64> = with["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(with["messages"][1]["clientId"], "c-1");
        assert!(with["messages"][2].get("clientId").is_none());
        // after: only what follows, oldest first.
        let after = list(vec![("after", "1")]).await?;
        let contents: Vec<&str> = after["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, ["one", "two"]);
        for bad in ["-1", "x"] {
            let answer: Value = list(vec![("after", bad)]).await?;
            assert_eq!(
                answer["errmsg"], "after must be a message seq (0 or more)",
                "{answer}"
            );
        }
        Ok(())
    })
}

/// A client may be ahead of the node it resumes on (it came from a node that heard of the
/// latest messages sooner): what it says it has is not sent again, live or not.
#[test]
fn a_resuming_client_ahead_of_the_node_gets_nothing_twice() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let bob = register(addr, "bobby").await?;
        let sid = create_group(addr, &alice, "ahead", true).await?;
        join_group(addr, &bob, &sid).await?;
        let mut sender = Chat::open(addr, &alice, &sid).await?;
        sender.say("three").await?;
        sender.expect_text("three").await?;
        // Seqs 1 to 3 are stored; bob says he has up to 5.
        let mut reader = Chat::open_after(addr, &bob, &sid, 5).await?;
        for text in ["four", "five", "six"] {
            sender.say(text).await?;
            sender.expect_text(text).await?;
        }
        assert_eq!(next_stored(&mut reader).await?, (6, "six".to_owned()));
        Ok(())
    })
}

/// A resuming client's retry is acknowledged by an echo that says which send it was: the
/// stored message's `seq` and the `clientId` (a plain CookIM frame would leave it waiting).
#[test]
fn a_retry_on_a_resuming_connection_is_echoed_with_its_seq_and_client_id() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice1").await?;
        let sid = create_group(addr, &alice, "acks", true).await?;
        let mut chat = Chat::open_after(addr, &alice, &sid, 0).await?;
        assert_eq!(next_stored(&mut chat).await?.0, 1, "the owner's join");
        chat.say_with_id("hello", "c-1").await?;
        assert_eq!(next_stored(&mut chat).await?, (2, "hello".to_owned()));
        // The echo was lost with the connection, as far as the client knows: resume, retry.
        chat.ws.close().await?;
        let mut chat = Chat::open_after(addr, &alice, &sid, 2).await?;
        chat.say_with_id("hello", "c-1").await?;
        let echo = chat
            .ws
            .next_frame_where("the retry's echo", |v| v["msgType"] == "text")
            .await?;
        assert_eq!(echo.json["seq"], 2, "{}", echo.raw);
        assert_eq!(echo.json["clientId"], "c-1", "{}", echo.raw);
        Ok(())
    })
}
