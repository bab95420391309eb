//! Friends and notifications (§6.2, §6.5; checklist items 23 and 25) against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{errmsg, is_timestr, register, register_as, str_of};
use support::http::{api, api_ok};
use support::{Result, TestServer};

#[test]
fn friends_and_notifications() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let erin = register(addr, "erin1").await?;
        let frank = register_as(addr, "frank", 2).await?;
        let _namesake = register(addr, "frankie").await?;

        let found = api_ok(
            addr,
            "getUserInfoByName",
            &[("userToken", &erin.token), ("nickName", "frank")],
        )
        .await?;
        let hits = found["userInfo"].as_array().cloned().unwrap_or_default();
        assert_eq!(hits.len(), 1, "exact nickname match only: {found}");
        assert_eq!(
            (&hits[0]["uid"], &hits[0]["gender"]),
            (&Value::from(frank.uid.as_str()), &Value::from(2))
        );
        assert!(is_timestr(&str_of(&hits[0], "dateline")?));
        let none = api_ok(
            addr,
            "getUserInfoByName",
            &[("userToken", &erin.token), ("nickName", "fran")],
        )
        .await?;
        assert_eq!(none["userInfo"], Value::Array(vec![]));

        let menu = api_ok(
            addr,
            "getUserMenu",
            &[("userToken", &erin.token), ("ouid", &frank.uid)],
        )
        .await?;
        assert_eq!(menu["user"]["isFriend"], false);

        let joined = api_ok(
            addr,
            "joinFriend",
            &[("userToken", &erin.token), ("fuid", &frank.uid)],
        )
        .await?;
        assert_eq!(joined["successmsg"], "join friend success");
        let again = api(
            addr,
            "joinFriend",
            &[("userToken", &erin.token), ("fuid", &frank.uid)],
        )
        .await?;
        assert_eq!(errmsg(&again), "user not exist or already your friend");
        let myself = api(
            addr,
            "joinFriend",
            &[("userToken", &erin.token), ("fuid", &erin.uid)],
        )
        .await?;
        assert!(
            !errmsg(&myself).is_empty(),
            "befriending oneself is refused: {myself}"
        );
        let ghost = api(
            addr,
            "joinFriend",
            &[
                ("userToken", &erin.token),
                ("fuid", "0123456789abcdef01234567"),
            ],
        )
        .await?;
        assert_eq!(errmsg(&ghost), "user friend not exists");

        let friends = api_ok(addr, "getFriends", &[("userToken", &erin.token)]).await?;
        let list = friends["friends"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1, "{friends}");
        assert_eq!(
            (&list[0]["uid"], &list[0]["nickname"]),
            (&Value::from(frank.uid.as_str()), &Value::from("frank"))
        );
        assert_eq!(list[0]["gender"], "girl", "gender is a word in getFriends");
        assert!(is_timestr(&str_of(&list[0], "dateline")?));
        // Friendship is one-way.
        let theirs = api_ok(addr, "getFriends", &[("userToken", &frank.token)]).await?;
        assert_eq!(theirs["friends"], Value::Array(vec![]));
        let menu = api_ok(
            addr,
            "getUserMenu",
            &[("userToken", &erin.token), ("ouid", &frank.uid)],
        )
        .await?;
        assert_eq!(
            (&menu["user"]["isFriend"], &menu["user"]["gender"]),
            (&Value::from(true), &Value::from(2))
        );

        // Frank was told, once; reading marks it read.
        let count = api_ok(
            addr,
            "getNewNotificationCount",
            &[("userToken", &frank.token)],
        )
        .await?;
        assert_eq!(count["rsCount"], 1);
        let first = api_ok(addr, "getNotifications", &[("userToken", &frank.token)]).await?;
        let notes = first["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(notes.len(), 1, "{first}");
        assert_eq!(notes[0]["content"], "erin1 join you as friend");
        assert_eq!(
            (&notes[0]["uid"], &notes[0]["isRead"]),
            (&Value::from(erin.uid.as_str()), &Value::from(0))
        );
        assert_eq!(
            (&notes[0]["sessionid"], &notes[0]["sessionName"]),
            (&Value::from(""), &Value::from(""))
        );
        assert!(is_timestr(&str_of(&notes[0], "dateline")?));
        let second = api_ok(addr, "getNotifications", &[("userToken", &frank.token)]).await?;
        assert_eq!(second["notifications"][0]["isRead"], 1, "{second}");
        let count = api_ok(
            addr,
            "getNewNotificationCount",
            &[("userToken", &frank.token)],
        )
        .await?;
        assert_eq!(count["rsCount"], 0);

        let removed = api_ok(
            addr,
            "removeFriend",
            &[("userToken", &erin.token), ("fuid", &frank.uid)],
        )
        .await?;
        assert_eq!(removed["successmsg"], "remove friend success");
        assert_eq!(
            api_ok(addr, "getFriends", &[("userToken", &erin.token)]).await?["friends"],
            Value::Array(vec![])
        );
        let menu = api_ok(
            addr,
            "getUserMenu",
            &[("userToken", &erin.token), ("ouid", &frank.uid)],
        )
        .await?;
        assert_eq!(menu["user"]["isFriend"], false);
        let twice = api(
            addr,
            "removeFriend",
            &[("userToken", &erin.token), ("fuid", &frank.uid)],
        )
        .await?;
        assert_eq!(
            errmsg(&twice),
            "user not exists or friend not in your friends"
        );
        let count = api_ok(
            addr,
            "getNewNotificationCount",
            &[("userToken", &frank.token)],
        )
        .await?;
        assert_eq!(count["rsCount"], 1);
        let latest = api_ok(addr, "getNotifications", &[("userToken", &frank.token)]).await?;
        assert_eq!(
            latest["notifications"][0]["content"], "erin1 remove you from friend",
            "newest first: {latest}"
        );
        Ok(())
    })
}
