//! Private chats and invitations (§6.3; checklist items 16, 17 and 24) against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{create_group, errmsg, holds, list_sessions, png_size, register, str_of};
use support::http::{api, api_ok, get};
use support::{Result, TestServer};

#[test]
fn private_chats() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;

        let first = api_ok(
            addr,
            "getPrivateSession",
            &[("userToken", &ann.token), ("ouid", &ben.uid)],
        )
        .await?;
        let sid = str_of(&first, "sessionid")?;
        let back = api_ok(
            addr,
            "getPrivateSession",
            &[("userToken", &ben.token), ("ouid", &ann.uid)],
        )
        .await?;
        assert_eq!(
            back["sessionid"],
            sid.as_str(),
            "one private chat per pair, either direction"
        );
        let again = api_ok(
            addr,
            "getPrivateSession",
            &[("userToken", &ann.token), ("ouid", &ben.uid)],
        )
        .await?;
        assert_eq!(again["sessionid"], sid.as_str());

        let myself = api(
            addr,
            "getPrivateSession",
            &[("userToken", &ann.token), ("ouid", &ann.uid)],
        )
        .await?;
        assert!(
            !errmsg(&myself).is_empty(),
            "a chat with oneself is refused: {myself}"
        );
        assert_eq!(myself["sessionid"], "");
        let ghost = api(
            addr,
            "getPrivateSession",
            &[
                ("userToken", &ann.token),
                ("ouid", "0123456789abcdef01234567"),
            ],
        )
        .await?;
        assert_eq!(errmsg(&ghost), "send user or recv user not exist");

        for (viewer, other) in [(&ann, &ben), (&ben, &ann)] {
            let listed = list_sessions(addr, viewer, false).await?;
            let item = listed
                .iter()
                .find(|s| s["sessionid"] == sid.as_str())
                .cloned();
            let item = item.ok_or_else(|| {
                format!("private chat missing for {}: {listed:?}", viewer.nickname)
            })?;
            assert_eq!(
                (
                    &item["sessionName"],
                    &item["sessionType"],
                    &item["publicType"]
                ),
                (
                    &Value::from(other.nickname.as_str()),
                    &Value::from(0),
                    &Value::from(0)
                )
            );
            assert_eq!(item["ouid"], other.uid.as_str());
            let header = api_ok(
                addr,
                "getSessionHeader",
                &[("userToken", &viewer.token), ("sessionid", &sid)],
            )
            .await?;
            assert_eq!(
                header["session"]["ouid"],
                other.uid.as_str(),
                "the header names the other participant for {}",
                viewer.nickname
            );
            assert_eq!(header["session"]["sessionName"], other.nickname.as_str());
            let menu = api_ok(
                addr,
                "getSessionMenu",
                &[("userToken", &viewer.token), ("sessionid", &sid)],
            )
            .await?;
            assert_eq!(
                (&menu["session"]["joined"], &menu["session"]["editable"]),
                (&Value::from(true), &Value::from(false))
            );
        }
        let leave = api(
            addr,
            "leaveGroupSession",
            &[("userToken", &ben.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(errmsg(&leave), "not a group session");
        let stranger = register(addr, "stranger").await?;
        let header = api(
            addr,
            "getSessionHeader",
            &[("userToken", &stranger.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (errmsg(&header).as_str(), &header["session"]),
            ("no privilege or session not exists", &Value::Null)
        );
        Ok(())
    })
}

#[test]
fn invite_friends_into_a_group() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let host = register(addr, "hosty").await?;
        let pal = register(addr, "palsy").await?;
        let stranger = register(addr, "stranger").await?;
        // A hidden group: only invitations get people in.
        let sid = create_group(addr, &host, "Secret club", false).await?;
        api_ok(
            addr,
            "joinFriend",
            &[("userToken", &host.token), ("fuid", &pal.uid)],
        )
        .await?;

        let invite = |friends: Vec<&str>| {
            let list = serde_json::to_string(&friends).unwrap_or_default();
            let (token, sid) = (host.token.clone(), sid.clone());
            async move {
                api(
                    addr,
                    "inviteFriends",
                    &[
                        ("userToken", &token),
                        ("sessionid", &sid),
                        ("ouid", ""),
                        ("friends", &list),
                    ],
                )
                .await
            }
        };
        let none = invite(vec![&stranger.uid, "not-an-id"]).await?;
        assert_eq!(
            (errmsg(&none).as_str(), &none["sessionid"]),
            ("no friends invite to session", &Value::from(""))
        );
        let empty = invite(vec![]).await?;
        assert_eq!(errmsg(&empty), "please select friends to invite");

        let done = invite(vec![&pal.uid, &stranger.uid]).await?;
        assert_eq!(errmsg(&done), "");
        assert_eq!(
            (&done["sessionid"], &done["successmsg"]),
            (
                &Value::from(sid.as_str()),
                &Value::from("invite palsy success")
            )
        );
        assert!(
            holds(&list_sessions(addr, &pal, false).await?, &sid),
            "the friend is in"
        );
        assert!(
            !holds(&list_sessions(addr, &stranger, false).await?, &sid),
            "a non-friend is skipped"
        );

        let notes = api_ok(addr, "getNotifications", &[("userToken", &pal.token)]).await?;
        let note = &notes["notifications"][0];
        assert_eq!(note["content"], "hosty invite you in Secret club");
        assert_eq!(
            (&note["sessionid"], &note["sessionName"]),
            (&Value::from(sid.as_str()), &Value::from("Secret club"))
        );
        assert_eq!(
            (&note["uid"], &note["isRead"]),
            (&Value::from(host.uid.as_str()), &Value::from(0))
        );

        let again = invite(vec![&pal.uid]).await?;
        assert_eq!(
            errmsg(&again),
            "no friends invite to session",
            "already a member"
        );
        // Only members may invite.
        let outsider = api(
            addr,
            "inviteFriends",
            &[
                ("userToken", &stranger.token),
                ("sessionid", &sid),
                ("ouid", ""),
                ("friends", "[]"),
            ],
        )
        .await?;
        assert!(!errmsg(&outsider).is_empty());
        Ok(())
    })
}

#[test]
fn invite_from_a_private_chat_makes_a_group() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let cat = register(addr, "cathy").await?;
        api_ok(
            addr,
            "joinFriend",
            &[("userToken", &ann.token), ("fuid", &cat.uid)],
        )
        .await?;
        let private = str_of(
            &api_ok(
                addr,
                "getPrivateSession",
                &[("userToken", &ann.token), ("ouid", &ben.uid)],
            )
            .await?,
            "sessionid",
        )?;

        // The client sends the stored `ouid`, which may be the caller; the server works out the other participant.
        let friends = serde_json::to_string(&[&cat.uid])?;
        let done = api_ok(
            addr,
            "inviteFriends",
            &[
                ("userToken", &ann.token),
                ("sessionid", &private),
                ("ouid", &ann.uid),
                ("friends", &friends),
            ],
        )
        .await?;
        let group = str_of(&done, "sessionid")?;
        assert_ne!(group, private, "a new group, not the private chat");
        assert_eq!(done["successmsg"], "invite benny, cathy success");

        for user in [&ann, &ben, &cat] {
            let listed = list_sessions(addr, user, false).await?;
            let item = listed
                .iter()
                .find(|s| s["sessionid"] == group.as_str())
                .cloned();
            let item = item
                .ok_or_else(|| format!("{} is not in the new group: {listed:?}", user.nickname))?;
            assert_eq!(
                (&item["sessionType"], &item["publicType"]),
                (&Value::from(1), &Value::from(0))
            );
            assert_eq!(item["sessionName"], "annie, benny, cathy");
            assert_eq!(item["createuid"], ann.uid.as_str());
            let icon = get(
                addr,
                &format!("/api/getFile?id={}", str_of(&item, "sessionIcon")?),
            )
            .await?;
            assert_eq!(png_size(&icon.body)?, (200, 200), "a composed 200x200 icon");
        }
        let members = api_ok(
            addr,
            "getJoinedUsers",
            &[("userToken", &ben.token), ("sessionid", &group)],
        )
        .await?;
        assert_eq!(
            members["offlineUsers"].as_array().map(Vec::len),
            Some(3),
            "{members}"
        );
        assert!(
            holds(&list_sessions(addr, &ann, false).await?, &private),
            "the private chat stays"
        );
        Ok(())
    })
}
