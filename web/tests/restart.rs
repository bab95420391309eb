//! A graceful stop and a restart on the same data directory and secret lose nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use serde_json::Value;
use support::fixtures::{
    create_group, errmsg, history, holds, join_group, list_sessions, new_count, png, register,
    str_of,
};
use support::http::{FilePart, api, api_multipart, api_ok, get};
use support::ws::Chat;
use support::{PASSWORD, Result, TestServer};

#[test]
fn restart_keeps_everything() -> Result {
    let mut server = TestServer::start()?;
    let addr = server.addr();
    let (ann, ben, group, private, avatar, before, mut open_chat) =
        server.block_on(async move {
            let ann = register(addr, "annie").await?;
            let ben = register(addr, "benny").await?;
            let picture = png(64, 64);
            api_multipart(
                addr,
                "updateUser",
                &[
                    ("userToken", &ann.token),
                    ("nickname", "annie2"),
                    ("gender", "2"),
                ],
                Some(FilePart {
                    field: "avatar",
                    file_name: "me.png",
                    content_type: "image/png",
                    bytes: &picture,
                }),
            )
            .await?;
            let avatar = str_of(
                &api_ok(
                    addr,
                    "getUserInfo",
                    &[("userToken", &ann.token), ("uid", &ann.uid)],
                )
                .await?["userInfo"],
                "avatar",
            )?;
            api_ok(
                addr,
                "joinFriend",
                &[("userToken", &ann.token), ("fuid", &ben.uid)],
            )
            .await?;
            let group = create_group(addr, &ann, "Persistent", true).await?;
            join_group(addr, &ben, &group).await?;
            let private = str_of(
                &api_ok(
                    addr,
                    "getPrivateSession",
                    &[("userToken", &ann.token), ("ouid", &ben.uid)],
                )
                .await?,
                "sessionid",
            )?;
            history(addr, &ben, &group, 1, 50).await?;
            let mut chat = Chat::open(addr, &ann, &group).await?;
            for text in ["before one", "before two"] {
                chat.say(text).await?;
                chat.expect_text(text).await?;
            }
            let mut chat = Chat::open(addr, &ann, &private).await?;
            chat.say("private before").await?;
            chat.expect_text("private before").await?;
            let before = history(addr, &ann, &group, 1, 50).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                ann, ben, group, private, avatar, before, chat,
            ))
        })?;

    // A chat socket is still open: the stop closes it, telling the client why.
    let store = server.stop()?;
    assert_eq!(
        Arc::strong_count(&store),
        1,
        "a stopped server holds no reference to its store"
    );
    drop(store);
    let close = server.block_on(open_chat.ws.next_close())?;
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1001), "going away");
    server.start_again()?;
    let addr = server.addr();

    server.block_on(async move {
        // Tokens issued before the restart are still good (same secret, nothing revoked).
        let who = api(addr, "verifyUserToken", &[("userToken", &ann.token)]).await?;
        assert_eq!(who["uid"], ann.uid.as_str());
        let login = api_ok(
            addr,
            "loginUser",
            &[("login", &ann.login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(login["uid"], ann.uid.as_str());
        let info = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &ann.token), ("uid", &ann.uid)],
        )
        .await?;
        assert_eq!(
            (&info["userInfo"]["nickname"], &info["userInfo"]["avatar"]),
            (&Value::from("annie2"), &Value::from(avatar.as_str()))
        );
        assert_eq!(
            get(addr, &format!("/api/getFile?id={avatar}"))
                .await?
                .status,
            200
        );

        let friends = api_ok(addr, "getFriends", &[("userToken", &ann.token)]).await?;
        assert_eq!(friends["friends"][0]["uid"], ben.uid.as_str());
        assert_eq!(
            api_ok(
                addr,
                "getNewNotificationCount",
                &[("userToken", &ben.token)]
            )
            .await?["rsCount"],
            1
        );

        let joined = list_sessions(addr, &ben, false).await?;
        assert!(
            holds(&joined, &group) && holds(&joined, &private),
            "{joined:?}"
        );
        assert_eq!(
            new_count(addr, &ben, &group).await?,
            2,
            "unread counts survive"
        );
        assert_eq!(
            new_count(addr, &ben, &private).await?,
            2,
            "his own join and one message"
        );
        assert_eq!(
            history(addr, &ann, &group, 1, 50).await?,
            before,
            "history survives"
        );
        let private_history = history(addr, &ben, &private, 1, 50).await?;
        assert_eq!(
            private_history.last().map(|m| m["content"].clone()),
            Some(Value::from("private before"))
        );

        // Chats work on the restarted server with the old tokens.
        let mut a = Chat::open(addr, &ann, &group).await?;
        let mut b = Chat::open(addr, &ben, &group).await?;
        a.say("after restart").await?;
        b.expect_text("after restart").await?;
        let members = api_ok(
            addr,
            "getJoinedUsers",
            &[("userToken", &ann.token), ("sessionid", &group)],
        )
        .await?;
        assert_eq!(
            members["onlineUsers"].as_array().map(Vec::len),
            Some(2),
            "{members}"
        );
        assert_eq!(
            errmsg(&api(addr, "getFriends", &[("userToken", &ben.token)]).await?),
            ""
        );
        Ok(())
    })
}
