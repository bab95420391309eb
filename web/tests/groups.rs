//! Group chats: creating, listing, menus, settings, joined users, leaving (§6.3; checklist
//! items 7, 8, 10-15) against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{
    User, create_group, errmsg, holds, is_timestr, join_group, list_sessions, png, png_size,
    register, str_of,
};
use support::http::{FilePart, api, api_multipart, api_ok, get};
use support::ws::Chat;
use support::{Result, TestServer};

#[test]
fn create_list_join_and_menus() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let owner = register(addr, "owner").await?;
        let guest = register(addr, "guest").await?;

        let icon = png(400, 400);
        let created = api_multipart(
            addr,
            "createGroupSession",
            &[
                ("userToken", &owner.token),
                ("sessionName", "Rustaceans"),
                ("publicType", "1"),
            ],
            Some(FilePart {
                field: "sessionIcon",
                file_name: "crab.png",
                content_type: "image/png",
                bytes: &icon,
            }),
        )
        .await?;
        assert_eq!(
            (errmsg(&created).as_str(), &created["successmsg"]),
            ("", &Value::from("create group session success"))
        );
        let sid = str_of(&created, "sessionid")?;

        // The creator's join is finished before the answer: the joined list has it right away.
        let joined = list_sessions(addr, &owner, false).await?;
        let item = joined
            .iter()
            .find(|s| s["sessionid"] == sid.as_str())
            .cloned();
        let item = item.ok_or_else(|| {
            format!("new group missing from the creator's joined list: {joined:?}")
        })?;
        assert_eq!(
            (
                &item["sessionName"],
                &item["sessionType"],
                &item["publicType"]
            ),
            (&Value::from("Rustaceans"), &Value::from(1), &Value::from(1))
        );
        assert_eq!(
            (&item["createuid"], &item["ouid"]),
            (&Value::from(owner.uid.as_str()), &Value::from(""))
        );
        assert!(
            is_timestr(&str_of(&item, "lastUpdate")?) && is_timestr(&str_of(&item, "dateline")?)
        );
        assert_eq!(item["message"]["msgType"], "join");
        assert_eq!(item["message"]["content"], "owner join session Rustaceans");
        let icon_id = str_of(&item, "sessionIcon")?;
        let stored = get(addr, &format!("/api/getFile?id={icon_id}")).await?;
        assert_eq!(
            png_size(&stored.body)?,
            (200, 200),
            "the icon is kept as a 200x200 thumbnail"
        );
        assert!(
            !holds(&list_sessions(addr, &owner, true).await?, &sid),
            "a joined group is not in one's public list"
        );

        let menu = api_ok(
            addr,
            "getSessionMenu",
            &[("userToken", &owner.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (&menu["session"]["joined"], &menu["session"]["editable"]),
            (&Value::from(true), &Value::from(true))
        );

        // The guest sees it among the public groups, and can look at its menu before joining.
        assert!(holds(&list_sessions(addr, &guest, true).await?, &sid));
        assert!(!holds(&list_sessions(addr, &guest, false).await?, &sid));
        let menu = api_ok(
            addr,
            "getSessionMenu",
            &[("userToken", &guest.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (&menu["session"]["joined"], &menu["session"]["editable"]),
            (&Value::from(false), &Value::from(false))
        );
        assert_eq!(menu["session"]["sessionName"], "Rustaceans");

        let token = join_group(addr, &guest, &sid).await?;
        assert_eq!(
            token.split('.').count(),
            3,
            "a session token is a JWS: {token}"
        );
        assert!(
            !holds(&list_sessions(addr, &guest, true).await?, &sid),
            "joined: gone from the public list"
        );
        assert!(holds(&list_sessions(addr, &guest, false).await?, &sid));
        let menu = api_ok(
            addr,
            "getSessionMenu",
            &[("userToken", &guest.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (&menu["session"]["joined"], &menu["session"]["editable"]),
            (&Value::from(true), &Value::from(false))
        );
        let twice = api(
            addr,
            "joinGroupSession",
            &[("userToken", &guest.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (errmsg(&twice).as_str(), &twice["sessionToken"]),
            ("user not exists or already join session", &Value::from(""))
        );
        let ghost = api(
            addr,
            "joinGroupSession",
            &[
                ("userToken", &guest.token),
                ("sessionid", "0123456789abcdef01234567"),
            ],
        )
        .await?;
        assert_eq!(errmsg(&ghost), "session not exist");

        let header = api_ok(
            addr,
            "getSessionHeader",
            &[("userToken", &guest.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (
                &header["session"]["sessionName"],
                &header["session"]["ouid"]
            ),
            (&Value::from("Rustaceans"), &Value::from(""))
        );
        Ok(())
    })
}

#[test]
fn settings_are_for_the_creator() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let owner = register(addr, "owner").await?;
        let member = register(addr, "member").await?;
        let outsider = register(addr, "outsider").await?;
        let sid = create_group(addr, &owner, "Old name", true).await?;
        join_group(addr, &member, &sid).await?;

        let info = api_ok(
            addr,
            "getGroupSessionInfo",
            &[("userToken", &owner.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (
                &info["session"]["sessionName"],
                &info["session"]["publicType"]
            ),
            (&Value::from("Old name"), &Value::from(1))
        );
        let old_icon = str_of(&info["session"], "sessionIcon")?;
        let refused = api(
            addr,
            "getGroupSessionInfo",
            &[("userToken", &member.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            (errmsg(&refused).as_str(), &refused["session"]),
            ("no privilege to get group session info", &Value::Null)
        );

        let edit = |user: &User, name: &str, public: &str| {
            let fields = [
                ("userToken", user.token.clone()),
                ("sessionid", sid.clone()),
                ("sessionName", name.to_owned()),
                ("publicType", public.to_owned()),
            ];
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                api_multipart(addr, "editGroupSession", &fields, None).await
            }
        };
        let refused = edit(&member, "Hijacked", "1").await?;
        assert_eq!(
            errmsg(&refused),
            "you have no privilege to edit session info"
        );
        let bad = edit(&owner, "New name", "7").await?;
        assert_eq!(errmsg(&bad), "publicType error");

        let done = edit(&owner, "New name", "0").await?;
        assert_eq!(
            (errmsg(&done).as_str(), &done["successmsg"]),
            ("", &Value::from("edit group session success"))
        );
        let info = api_ok(
            addr,
            "getGroupSessionInfo",
            &[("userToken", &owner.token), ("sessionid", &sid)],
        )
        .await?;
        let session = &info["session"];
        assert_eq!(
            (&session["sessionName"], &session["publicType"]),
            (&Value::from("New name"), &Value::from(0))
        );
        assert_eq!(
            session["sessionIcon"],
            old_icon.as_str(),
            "no file: the icon stays"
        );
        let listed = list_sessions(addr, &member, false).await?;
        let item = listed
            .iter()
            .find(|s| s["sessionid"] == sid.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (&item["sessionName"], &item["publicType"]),
            (&Value::from("New name"), &Value::from(0))
        );
        // Hidden now: no longer offered to outsiders, who cannot join it or see its menu either.
        assert!(!holds(&list_sessions(addr, &outsider, true).await?, &sid));
        let join = api(
            addr,
            "joinGroupSession",
            &[("userToken", &outsider.token), ("sessionid", &sid)],
        )
        .await?;
        assert!(
            !errmsg(&join).is_empty(),
            "joining a hidden group is refused: {join}"
        );
        assert_eq!(join["sessionToken"], "");
        let menu = api(
            addr,
            "getSessionMenu",
            &[("userToken", &outsider.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(errmsg(&menu), "no privilege to get session menu");

        // A new icon replaces the old one.
        let icon = png(32, 32);
        let with_icon = api_multipart(
            addr,
            "editGroupSession",
            &[
                ("userToken", &owner.token),
                ("sessionid", &sid),
                ("sessionName", "New name"),
                ("publicType", "1"),
            ],
            Some(FilePart {
                field: "sessionIcon",
                file_name: "new.png",
                content_type: "image/png",
                bytes: &icon,
            }),
        )
        .await?;
        assert_eq!(errmsg(&with_icon), "");
        let info = api_ok(
            addr,
            "getGroupSessionInfo",
            &[("userToken", &owner.token), ("sessionid", &sid)],
        )
        .await?;
        assert_ne!(info["session"]["sessionIcon"], old_icon.as_str());
        assert!(
            holds(&list_sessions(addr, &outsider, true).await?, &sid),
            "public again"
        );
        Ok(())
    })
}

#[test]
fn joined_users_leave_and_rejoin() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let owner = register(addr, "owner").await?;
        let member = register(addr, "member").await?;
        let sid = create_group(addr, &owner, "Lounge", true).await?;
        join_group(addr, &member, &sid).await?;

        let users = |user: &User| {
            let token = user.token.clone();
            let sid = sid.clone();
            async move {
                let answer = api_ok(
                    addr,
                    "getJoinedUsers",
                    &[("userToken", &token), ("sessionid", &sid)],
                )
                .await?;
                let uids = |field: &str| -> Vec<String> {
                    answer[field]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|u| u["uid"].as_str().map(str::to_owned))
                        .collect()
                };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                    uids("onlineUsers"),
                    uids("offlineUsers"),
                ))
            }
        };
        assert_eq!(
            users(&owner).await?,
            (vec![], vec![owner.uid.clone(), member.uid.clone()])
        );

        let chat = Chat::open(addr, &member, &sid).await?;
        assert_eq!(
            users(&owner).await?,
            (vec![member.uid.clone()], vec![owner.uid.clone()]),
            "a live /ws-chat counts as online"
        );
        chat.ws.close().await?;
        // The owner's own socket sees the member go offline; then the lists agree.
        let mut watcher = Chat::open(addr, &owner, &sid).await?;
        assert_eq!(
            users(&member).await?,
            (vec![owner.uid.clone()], vec![member.uid.clone()])
        );
        watcher.say("still here").await?;
        watcher.expect_text("still here").await?;

        let refused = api(
            addr,
            "leaveGroupSession",
            &[("userToken", &owner.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(errmsg(&refused), "creator can not leave your own session");
        let left = api(
            addr,
            "leaveGroupSession",
            &[("userToken", &member.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(
            left,
            serde_json::json!({"errmsg": ""}),
            "leave answers only errmsg"
        );
        let leave = watcher.ws.next_of("leave").await?;
        assert_eq!(
            (&leave["uid"], &leave["content"]),
            (
                &Value::from(member.uid.as_str()),
                &Value::from("member leave session Lounge")
            )
        );
        let twice = api(
            addr,
            "leaveGroupSession",
            &[("userToken", &member.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(errmsg(&twice), "user not exists or not join the session");
        assert!(!holds(&list_sessions(addr, &member, false).await?, &sid));
        assert!(
            holds(&list_sessions(addr, &member, true).await?, &sid),
            "back in the public list"
        );
        let history = api(
            addr,
            "listMessages",
            &[("userToken", &member.token), ("sessionid", &sid)],
        )
        .await?;
        assert_eq!(errmsg(&history), "no privilege in this session");

        join_group(addr, &member, &sid).await?;
        let join = watcher.ws.next_of("join").await?;
        assert_eq!(join["content"], "member join session Lounge");
        assert!(holds(&list_sessions(addr, &member, false).await?, &sid));
        assert_eq!(
            users(&owner).await?.1,
            vec![member.uid.clone()],
            "rejoined, offline"
        );
        Ok(())
    })
}
