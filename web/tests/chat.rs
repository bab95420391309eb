//! `/ws-chat` with real sockets (§8; checklist items 18, 19 and 27): online and offline
//! events, delivery of each message exactly once in the spec's shape, one order for every
//! receiver, history paging, keepalives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::fixtures::{
    User, assert_serving, create_group, history, is_timestr, join_group, register, str_of,
};
use support::http::api_ok;
use support::ws::{Chat, Ws, keys_in_order, subscribe_push};
use support::{Result, TestServer};

/// The ten fields of a `/ws-chat` down message, in the spec's order (§8.5).
const CHAT_FIELDS: [&str; 10] = [
    "uid", "nickname", "avatar", "msgType", "content", "fileName", "fileType", "fileid", "thumbid",
    "dateline",
];

/// The avatar a user's token carries.
async fn avatar_of(addr: std::net::SocketAddr, user: &User) -> Result<String> {
    str_of(
        &api_ok(addr, "verifyUserToken", &[("userToken", &user.token)]).await?,
        "avatar",
    )
}

#[test]
fn online_text_offline_between_three_users() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let cat = register(addr, "cathy").await?;
        let sid = create_group(addr, &ann, "Three of us", true).await?;
        join_group(addr, &ben, &sid).await?;
        join_group(addr, &cat, &sid).await?;

        let mut a = Chat::open(addr, &ann, &sid).await?;
        let mut b = Chat::open(addr, &ben, &sid).await?;
        let online = a.ws.next_of("online").await?;
        assert_eq!(
            (&online["uid"], &online["content"]),
            (
                &Value::from(ben.uid.as_str()),
                &Value::from("User benny online session")
            )
        );
        let mut c = Chat::open(addr, &cat, &sid).await?;
        for chat in [&mut a, &mut b] {
            let online = chat.ws.next_of("online").await?;
            assert_eq!(
                (&online["uid"], &online["nickname"]),
                (&Value::from(cat.uid.as_str()), &Value::from("cathy"))
            );
        }

        a.say("hello both").await?;
        let avatar = avatar_of(addr, &ann).await?;
        for chat in [&mut a, &mut b, &mut c] {
            let frame = chat
                .ws
                .next_frame_where("the text", |v| v["msgType"] != "keepalive")
                .await?;
            assert_eq!(
                keys_in_order(&frame.raw)?,
                CHAT_FIELDS,
                "exactly the ten fields, in order: {}",
                frame.raw
            );
            let v = &frame.json;
            assert_eq!(
                (&v["uid"], &v["nickname"], &v["avatar"]),
                (
                    &Value::from(ann.uid.as_str()),
                    &Value::from("annie"),
                    &Value::from(avatar.as_str())
                )
            );
            assert_eq!(
                (&v["msgType"], &v["content"]),
                (&Value::from("text"), &Value::from("hello both"))
            );
            for empty in ["fileName", "fileType", "fileid", "thumbid"] {
                assert_eq!(v[empty], "", "{empty} of a text message");
            }
            assert!(is_timestr(&str_of(v, "dateline")?), "{v}");
        }
        // Exactly once: the next text each one gets is the next message, not a duplicate.
        b.say("second").await?;
        for chat in [&mut a, &mut b, &mut c] {
            let next = chat
                .ws
                .next_json_where("the next text", |v| v["msgType"] == "text")
                .await?;
            assert_eq!(
                (&next["content"], &next["uid"]),
                (&Value::from("second"), &Value::from(ben.uid.as_str()))
            );
        }

        c.ws.close().await?;
        for chat in [&mut a, &mut b] {
            let frame = chat
                .ws
                .next_frame_where("cathy's offline event", |v| v["msgType"] != "keepalive")
                .await?;
            assert_eq!(keys_in_order(&frame.raw)?, CHAT_FIELDS);
            let v = &frame.json;
            assert_eq!(
                (&v["msgType"], &v["uid"]),
                (&Value::from("offline"), &Value::from(cat.uid.as_str()))
            );
            assert_eq!(v["content"], "User cathy offline session");
        }
        // Cathy is no longer delivered to, and the others still talk.
        a.say("after cathy").await?;
        b.expect_text("after cathy").await?;
        a.expect_text("after cathy").await?;
        Ok(())
    })
}

#[test]
fn one_order_for_every_receiver_and_history() -> Result {
    const EACH: usize = 15;
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let users = [
            register(addr, "annie").await?,
            register(addr, "benny").await?,
            register(addr, "cathy").await?,
        ];
        let sid = create_group(addr, &users[0], "Busy room", true).await?;
        join_group(addr, &users[1], &sid).await?;
        join_group(addr, &users[2], &sid).await?;
        let mut chats = Vec::new();
        for user in &users {
            chats.push(Chat::open(addr, user, &sid).await?);
        }

        // Everyone sends at once; each sender's messages go out back to back.
        let sends = chats.iter_mut().map(|chat| async move {
            for i in 0..EACH {
                let text = format!("{} #{i:02}", chat.user.nickname);
                chat.say(&text).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
        for sent in futures_util::future::join_all(sends).await {
            sent?;
        }

        let mut seen = Vec::new();
        for chat in &mut chats {
            let mut order = Vec::new();
            while order.len() < EACH * users.len() {
                let text = chat
                    .ws
                    .next_json_where("the next text", |v| v["msgType"] == "text")
                    .await?;
                order.push(str_of(&text, "content")?);
            }
            seen.push(order);
        }
        assert_eq!(seen[0], seen[1], "annie and benny saw different orders");
        assert_eq!(seen[0], seen[2], "annie and cathy saw different orders");
        for user in &users {
            let own: Vec<&String> = seen[0]
                .iter()
                .filter(|t| t.starts_with(&user.nickname))
                .collect();
            let mut sorted = own.clone();
            sorted.sort();
            assert_eq!(own, sorted, "{}'s messages were reordered", user.nickname);
        }
        let stored: Vec<String> = history(addr, &users[1], &sid, 1, 500)
            .await?
            .iter()
            .filter(|m| m["msgType"] == "text")
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(stored, seen[0], "history has the order the sockets saw");
        Ok(())
    })
}

#[test]
fn history_is_oldest_first_and_pages() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let sid = create_group(addr, &ann, "Archive", true).await?;
        join_group(addr, &ben, &sid).await?;
        let mut a = Chat::open(addr, &ann, &sid).await?;
        for i in 1..=5 {
            a.say(&format!("m{i}")).await?;
            a.expect_text(&format!("m{i}")).await?;
        }

        let summary = |page: Vec<Value>| -> Vec<String> {
            page.iter()
                .map(|m| {
                    format!(
                        "{}:{}",
                        m["msgType"].as_str().unwrap_or("?"),
                        m["content"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        };
        let all = history(addr, &ben, &sid, 1, 50).await?;
        assert_eq!(
            summary(all.clone()),
            [
                "join:annie join session Archive",
                "join:benny join session Archive",
                "text:m1",
                "text:m2",
                "text:m3",
                "text:m4",
                "text:m5"
            ]
        );
        for message in &all {
            let mut keys: Vec<&str> = message
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort_unstable();
            let mut expected = CHAT_FIELDS.to_vec();
            expected.sort_unstable();
            assert_eq!(
                keys, expected,
                "history messages have the socket's fields: {message}"
            );
            assert!(is_timestr(&str_of(message, "dateline")?));
        }
        assert_eq!(all[2]["uid"], ann.uid.as_str());
        assert_eq!(all[2]["nickname"], "annie");

        assert_eq!(
            summary(history(addr, &ben, &sid, 1, 3).await?),
            ["text:m3", "text:m4", "text:m5"]
        );
        assert_eq!(
            summary(history(addr, &ben, &sid, 2, 3).await?),
            ["join:benny join session Archive", "text:m1", "text:m2"]
        );
        assert_eq!(
            summary(history(addr, &ben, &sid, 3, 3).await?),
            ["join:annie join session Archive"]
        );
        assert!(history(addr, &ben, &sid, 4, 3).await?.is_empty());
        // Out-of-range paging falls back to the defaults (page 1, 10 messages).
        assert_eq!(history(addr, &ben, &sid, 0, 0).await?.len(), 7);
        Ok(())
    })
}

#[test]
fn idle_sockets_get_keepalives() -> Result {
    let server = TestServer::start_with(|config| config.keepalive = Duration::from_millis(200))?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Quiet room", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;
        let frame = chat
            .ws
            .next_frame_where("a chat keepalive", |_| true)
            .await?;
        assert_eq!(keys_in_order(&frame.raw)?, CHAT_FIELDS, "{}", frame.raw);
        assert_eq!(
            (
                &frame.json["msgType"],
                &frame.json["uid"],
                &frame.json["content"]
            ),
            (
                &Value::from("keepalive"),
                &Value::from(""),
                &Value::from("")
            )
        );
        assert!(is_timestr(&str_of(&frame.json, "dateline")?));
        // The connection is alive and well after being idle.
        chat.say("still there?").await?;
        chat.expect_text("still there?").await?;

        let (mut push, _) = subscribe_push(addr, &ann).await?;
        let keepalive = push.next_json_where("a push keepalive", |_| true).await?;
        assert_eq!(
            (&keepalive["msgType"], &keepalive["sessionid"]),
            (&Value::from("keepalive"), &Value::from(""))
        );
        Ok(())
    })
}

#[test]
fn a_client_close_is_answered() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Polite room", true).await?;
        // Online or not, on either socket, a close frame gets a close frame back.
        Chat::open(addr, &ann, &sid).await?.ws.close().await?;
        Ws::connect(addr, "/ws-chat").await?.close().await?;
        let (push, _) = subscribe_push(addr, &ann).await?;
        push.close().await?;
        Ws::connect(addr, "/ws-push").await?.close().await?;
        assert_serving(addr).await
    })
}
