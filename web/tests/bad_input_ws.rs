//! Bad websocket traffic: malformed JSON, unknown or forbidden `msgType`s, binary frames where
//! none are taken, texts and frames over the limits. Each gets a `reject` or a close with a
//! reason, and the connection (or, after a close, the server) goes on working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::fixtures::{assert_serving, create_group, history, register, str_of};
use support::http::api_ok;
use support::ws::{Chat, Frame, Ws, keys_in_order, subscribe_push};
use support::{Result, TestServer};

/// What a `/ws-chat` reject looks like: the ten fields, no sender, a reason.
fn assert_chat_reject(frame: &Frame, what: &str) -> Result {
    assert_eq!(
        keys_in_order(&frame.raw)?.len(),
        10,
        "{what}: {}",
        frame.raw
    );
    let v = &frame.json;
    assert_eq!(
        (&v["msgType"], &v["uid"]),
        (&Value::from("reject"), &Value::from("")),
        "{what}: {v}"
    );
    assert!(
        !v["content"].as_str().unwrap_or_default().is_empty(),
        "{what}: a reject says why: {v}"
    );
    Ok(())
}

#[test]
fn malformed_and_unknown_chat_messages_are_rejected() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Strict room", true).await?;

        // Before going online, a text has nowhere to go.
        let mut early = Chat { ws: Ws::connect(addr, "/ws-chat").await?, user: ann.clone(), session_token: String::new() };
        early.session_token = str_of(
            &api_ok(addr, "sessionToken", &[("userToken", &ann.token), ("sessionid", &sid)]).await?,
            "sessionToken",
        )?;
        early.say("too early").await?;
        let reject = early.ws.next_frame_where("the reject", |v| v["msgType"] != "keepalive").await?;
        assert_chat_reject(&reject, "text before online")?;
        assert_eq!(reject.json["content"], "send online first");

        let mut chat = Chat::open(addr, &ann, &sid).await?;
        let token = (ann.token.clone(), chat.session_token.clone());
        let bad: Vec<(&str, String)> = vec![
            ("not JSON", "hello there".to_owned()),
            ("a JSON array", "[1, 2, 3]".to_owned()),
            ("truncated JSON", r#"{"userToken": "abc", "msgType": "te"#.to_owned()),
            ("a JSON string", r#""online""#.to_owned()),
            ("msgType join", json!({"userToken": token.0, "sessionToken": token.1, "msgType": "join", "content": "fake join"}).to_string()),
            ("msgType system", json!({"userToken": token.0, "sessionToken": token.1, "msgType": "system", "content": "fake"}).to_string()),
            ("msgType reject", json!({"userToken": token.0, "sessionToken": token.1, "msgType": "reject", "content": "fake"}).to_string()),
            ("no msgType", json!({"userToken": token.0, "sessionToken": token.1, "content": "typeless"}).to_string()),
            ("an empty text", json!({"userToken": token.0, "sessionToken": token.1, "msgType": "text", "content": "   "}).to_string()),
        ];
        for (what, text) in &bad {
            chat.ws.send_text(text.clone()).await?;
            let reject = chat.ws.next_frame_where(&format!("the reject of {what}"), |v| v["msgType"] != "keepalive").await?;
            assert_chat_reject(&reject, what)?;
        }
        chat.ws.send_binary(b"\x00\x01 not an upload".to_vec()).await?;
        let reject = chat.ws.next_frame_where("the reject of a binary frame", |v| v["msgType"] != "keepalive").await?;
        assert_chat_reject(&reject, "a binary frame")?;

        // The connection still works, and none of it was stored.
        chat.say("all good").await?;
        chat.expect_text("all good").await?;
        let stored: Vec<String> = history(addr, &ann, &sid, 1, 50).await?.iter().map(|m| m["msgType"].as_str().unwrap_or("?").to_owned()).collect();
        assert_eq!(stored, ["join", "text"], "only the creator's join and the good text were stored");
        assert_serving(addr).await
    })
}

#[test]
fn malformed_push_messages_are_rejected() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let mut push = Ws::connect(addr, "/ws-push").await?;
        for (what, text) in [
            ("not JSON", "subscribe me"),
            ("a JSON array", "[]"),
            ("a number token", r#"{"userToken": 5}"#),
            ("no token", "{}"),
        ] {
            push.send_text(text).await?;
            let frame = push
                .next_frame_where(&format!("the reject of {what}"), |v| {
                    v["msgType"] != "keepalive"
                })
                .await?;
            assert_eq!(
                keys_in_order(&frame.raw)?.len(),
                13,
                "{what}: {}",
                frame.raw
            );
            assert_eq!(
                (&frame.json["msgType"], &frame.json["content"]),
                (
                    &Value::from("reject"),
                    &Value::from("no privilege to receive push message")
                ),
                "{what}"
            );
        }
        push.send_binary(b"binary".to_vec()).await?;
        assert_eq!(
            push.next_of("reject").await?["content"],
            "no privilege to receive push message"
        );

        // The same socket subscribes fine afterwards, and pushes arrive.
        push.send_json(&json!({"userToken": ann.token})).await?;
        assert_eq!(push.next_of("accept").await?["uid"], ann.uid.as_str());
        push.send_binary(b"binary after subscribing".to_vec())
            .await?;
        assert_eq!(push.next_of("reject").await?["msgType"], "reject");
        let sid = create_group(addr, &ann, "Pushy", true).await?;
        let join = push.next_of("join").await?;
        assert_eq!(join["sessionid"], sid.as_str());
        assert_serving(addr).await
    })
}

#[test]
fn text_over_the_limit_is_rejected() -> Result {
    const LIMIT: usize = 64;
    let server = TestServer::start_with(|config| config.max_text = LIMIT)?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Short talk", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;

        let at_limit = "x".repeat(LIMIT);
        chat.say(&at_limit).await?;
        chat.expect_text(&at_limit).await?;
        // The limit is in bytes: 33 two-byte characters are 66 bytes.
        for (what, over) in [
            ("65 ASCII bytes", "y".repeat(LIMIT + 1)),
            ("66 bytes of é", "é".repeat(LIMIT / 2 + 1)),
        ] {
            chat.say(&over).await?;
            let reject = chat.ws.next_of("reject").await?;
            assert_eq!(
                reject["content"],
                format!("message too long: the limit is {LIMIT} bytes"),
                "{what}"
            );
        }
        chat.say("short").await?;
        let next = chat
            .ws
            .next_json_where("the next text", |v| v["msgType"] == "text")
            .await?;
        assert_eq!(
            next["content"], "short",
            "nothing over the limit was delivered"
        );
        let texts = history(addr, &ann, &sid, 1, 50)
            .await?
            .into_iter()
            .filter(|m| m["msgType"] == "text")
            .count();
        assert_eq!(texts, 2);
        Ok(())
    })
}

#[test]
fn oversized_frames_close_with_1009() -> Result {
    const MAX: usize = 1024;
    let server = TestServer::start_with(|config| config.max_ws_message = MAX)?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Small frames", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;

        // A frame of exactly the limit is fine.
        let session_token = chat.session_token.clone();
        let frame = |content_len: usize| {
            json!({"userToken": ann.token, "sessionToken": session_token, "msgType": "text", "content": "z".repeat(content_len)}).to_string()
        };
        let overhead = frame(0).len();
        let exact = frame(MAX - overhead);
        assert_eq!(exact.len(), MAX);
        chat.ws.send_text(exact).await?;
        chat.expect_text(&"z".repeat(MAX - overhead)).await?;

        let over = frame(MAX - overhead + 1);
        chat.ws.send_text(over).await?;
        let close = chat.ws.next_close().await?;
        assert_eq!(close.map(|c| u16::from(c.code)), Some(1009), "message too big");

        let mut push = Ws::connect(addr, "/ws-push").await?;
        push.send_text(format!("{{\"userToken\":\"{}\"}}", "t".repeat(MAX))).await?;
        let close = push.next_close().await?;
        assert_eq!(close.map(|c| u16::from(c.code)), Some(1009));

        // Other clients are unaffected.
        let mut again = Chat::open(addr, &ann, &sid).await?;
        again.say("fits").await?;
        again.expect_text("fits").await?;
        let (_push, _accept) = subscribe_push(addr, &ann).await?;
        assert_serving(addr).await
    })
}
