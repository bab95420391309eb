//! `/ws-push` and unread counts (§9, §10; checklist item 9): pushes with viewer-relative
//! names, unread counts that follow who is online, subscriptions that follow memberships.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{
    User, create_group, history, is_timestr, join_group, new_count, register, register_as, str_of,
};
use support::http::api_ok;
use support::ws::{Chat, keys_in_order, subscribe_push};
use support::{Result, TestServer};

/// The thirteen fields of a `/ws-push` down message, in the spec's order (§9.3).
const PUSH_FIELDS: [&str; 13] = [
    "uid",
    "nickname",
    "avatar",
    "sessionid",
    "sessionName",
    "sessionIcon",
    "msgType",
    "content",
    "fileName",
    "fileType",
    "fileid",
    "thumbid",
    "dateline",
];

#[test]
fn pushes_and_unread_counts_in_a_private_chat() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register_girl(addr, "benny").await?;
        let ann_avatar = str_of(
            &api_ok(addr, "verifyUserToken", &[("userToken", &ann.token)]).await?,
            "avatar",
        )?;
        let sid = str_of(
            &api_ok(
                addr,
                "getPrivateSession",
                &[("userToken", &ann.token), ("ouid", &ben.uid)],
            )
            .await?,
            "sessionid",
        )?;
        // Both read the chat once, so the join events are not counted below.
        history(addr, &ben, &sid, 1, 50).await?;

        let (mut push, accept) = subscribe_push(addr, &ben).await?;
        assert_eq!(keys_in_order(&accept.raw)?, PUSH_FIELDS, "{}", accept.raw);
        let v = &accept.json;
        assert_eq!(
            (&v["uid"], &v["nickname"], &v["sessionid"]),
            (
                &Value::from(ben.uid.as_str()),
                &Value::from("benny"),
                &Value::from("")
            )
        );
        assert_eq!(
            v["content"],
            "User benny subscribe all session push accepted"
        );

        let mut a = Chat::open(addr, &ann, &sid).await?;
        for (i, text) in ["one", "two"].into_iter().enumerate() {
            a.say(text).await?;
            let frame = push
                .next_frame_where(&format!("the push of {text:?}"), |v| v["msgType"] == "text")
                .await?;
            assert_eq!(keys_in_order(&frame.raw)?, PUSH_FIELDS, "{}", frame.raw);
            let v = &frame.json;
            assert_eq!(
                (&v["content"], &v["sessionid"], &v["uid"]),
                (
                    &Value::from(text),
                    &Value::from(sid.as_str()),
                    &Value::from(ann.uid.as_str())
                )
            );
            assert_eq!(
                (&v["sessionName"], &v["sessionIcon"]),
                (&Value::from("annie"), &Value::from(ann_avatar.as_str())),
                "the name is the other person's, as Ben sees it"
            );
            assert!(is_timestr(&str_of(v, "dateline")?));
            assert_eq!(
                new_count(addr, &ben, &sid).await?,
                i as i64 + 1,
                "Ben is not in the chat: unread grows"
            );
            assert_eq!(
                new_count(addr, &ann, &sid).await?,
                0,
                "Ann is in the chat: nothing unread"
            );
        }
        history(addr, &ben, &sid, 1, 50).await?;
        assert_eq!(
            new_count(addr, &ben, &sid).await?,
            0,
            "listMessages resets the count"
        );

        // While Ben has the chat open, messages are not unread for him.
        let mut b = Chat::open(addr, &ben, &sid).await?;
        a.say("three").await?;
        b.expect_text("three").await?;
        assert_eq!(new_count(addr, &ben, &sid).await?, 0);
        b.ws.close().await?;
        let offline = a.ws.next_of("offline").await?;
        assert_eq!(offline["uid"], ben.uid.as_str());
        a.say("four").await?;
        a.expect_text("four").await?;
        assert_eq!(
            new_count(addr, &ben, &sid).await?,
            1,
            "Ben left the chat page: unread again"
        );
        // Online and offline events are never pushed.
        let next = push
            .next_json_where("the next push", |v| v["msgType"] != "keepalive")
            .await?;
        assert_eq!(
            (&next["msgType"], &next["content"]),
            (&Value::from("text"), &Value::from("three"))
        );
        let next = push
            .next_json_where("the next push", |v| v["msgType"] != "keepalive")
            .await?;
        assert_eq!(
            (&next["msgType"], &next["content"]),
            (&Value::from("text"), &Value::from("four"))
        );
        Ok(())
    })
}

async fn register_girl(addr: std::net::SocketAddr, nickname: &str) -> Result<User> {
    register_as(addr, nickname, 2).await
}

#[test]
fn chats_joined_after_subscribing_push_too() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let (mut push, _) = subscribe_push(addr, &ben).await?;

        let sid = create_group(addr, &ann, "Late arrivals", true).await?;
        let icon = str_of(
            &api_ok(
                addr,
                "getGroupSessionInfo",
                &[("userToken", &ann.token), ("sessionid", &sid)],
            )
            .await?["session"],
            "sessionIcon",
        )?;
        join_group(addr, &ben, &sid).await?;
        let join = push.next_of("join").await?;
        assert_eq!(
            (&join["uid"], &join["sessionid"]),
            (&Value::from(ben.uid.as_str()), &Value::from(sid.as_str()))
        );
        assert_eq!(join["content"], "benny join session Late arrivals");

        let mut a = Chat::open(addr, &ann, &sid).await?;
        a.say("welcome").await?;
        let text = push.next_of("text").await?;
        assert_eq!(
            (&text["content"], &text["sessionid"]),
            (&Value::from("welcome"), &Value::from(sid.as_str()))
        );
        assert_eq!(
            (&text["sessionName"], &text["sessionIcon"]),
            (&Value::from("Late arrivals"), &Value::from(icon.as_str()))
        );

        // A private chat started after subscribing pushes as well.
        let private = str_of(
            &api_ok(
                addr,
                "getPrivateSession",
                &[("userToken", &ann.token), ("ouid", &ben.uid)],
            )
            .await?,
            "sessionid",
        )?;
        let mut p = Chat::open(addr, &ann, &private).await?;
        p.say("psst").await?;
        let text = push
            .next_json_where("the private push", |v| {
                v["msgType"] == "text" && v["sessionid"] == private.as_str()
            })
            .await?;
        assert_eq!(
            (&text["content"], &text["sessionName"]),
            (&Value::from("psst"), &Value::from("annie"))
        );

        // After leaving, the group no longer pushes to Ben.
        api_ok(
            addr,
            "leaveGroupSession",
            &[("userToken", &ben.token), ("sessionid", &sid)],
        )
        .await?;
        let leave = push.next_of("leave").await?;
        assert_eq!(leave["uid"], ben.uid.as_str());
        a.say("gone").await?;
        a.expect_text("gone").await?;
        p.say("still private").await?;
        let next = push
            .next_json_where("the next push", |v| v["msgType"] != "keepalive")
            .await?;
        assert_eq!(
            next["content"], "still private",
            "no push from a group Ben left"
        );
        Ok(())
    })
}
