//! The account and profile routes (§6.1, §6.2; checklist items 1-6) against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{errmsg, is_timestr, png, png_size, register, register_as, str_of};
use support::http::{FilePart, api, api_multipart, api_ok, get};
use support::{PASSWORD, Result, TestServer, fail};

#[test]
fn register_login_refresh_logout() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let alice = register(addr, "alice").await?;
        assert_eq!(alice.uid.len(), 24, "uid is a 24-hex id: {}", alice.uid);

        let who = api(addr, "verifyUserToken", &[("userToken", &alice.token)]).await?;
        assert_eq!(who["uid"], alice.uid.as_str());
        assert_eq!(who["nickname"], "alice");
        assert!(
            !str_of(&who, "avatar")?.is_empty(),
            "a new user has a default avatar: {who}"
        );
        assert!(
            who.get("errmsg").is_none(),
            "verifyUserToken has no errmsg field: {who}"
        );

        let login = api_ok(
            addr,
            "loginUser",
            &[("login", &alice.login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(login["uid"], alice.uid.as_str());
        assert_eq!(login["successmsg"], "login in success");
        let logged_in = str_of(&login, "userToken")?;

        let refreshed = api_ok(addr, "userToken", &[("userToken", &logged_in)]).await?;
        assert_eq!(refreshed["uid"], alice.uid.as_str());
        let fresh = str_of(&refreshed, "userToken")?;
        assert_eq!(
            api(addr, "verifyUserToken", &[("userToken", &fresh)]).await?["uid"],
            alice.uid.as_str()
        );

        let friends = api_ok(addr, "getFriends", &[("userToken", &fresh)]).await?;
        assert_eq!(friends["friends"], Value::Array(vec![]));

        let out = api_ok(addr, "logoutUser", &[("userToken", &fresh)]).await?;
        assert_eq!(out["successmsg"], "logout success");
        // Logout ends this device's login: its tokens (refreshed ones too) are refused, the
        // registration's device stays signed in.
        api_ok(addr, "getFriends", &[("userToken", &alice.token)]).await?;
        for old in [&logged_in, &fresh] {
            let refused = api(addr, "getFriends", &[("userToken", old)]).await?;
            assert_eq!(errmsg(&refused), "no privilege to get friends");
            assert_eq!(refused["friends"], Value::Array(vec![]));
            let refused = api(addr, "userToken", &[("userToken", old)]).await?;
            assert_eq!(errmsg(&refused), "no privilege to create user token");
            assert_eq!(refused["userToken"], "");
        }
        let relogin = api_ok(
            addr,
            "loginUser",
            &[("login", &alice.login), ("password", PASSWORD)],
        )
        .await?;
        api_ok(
            addr,
            "getFriends",
            &[("userToken", &str_of(&relogin, "userToken")?)],
        )
        .await?;

        let wrong = api(
            addr,
            "loginUser",
            &[("login", &alice.login), ("password", "wrong-password")],
        )
        .await?;
        assert_eq!(errmsg(&wrong), "user not exist or password not match");
        assert_eq!(
            (&wrong["uid"], &wrong["userToken"]),
            (&Value::from(""), &Value::from(""))
        );
        Ok(())
    })
}

#[test]
fn change_password() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let bob = register(addr, "bobby").await?;
        let change = |old: &'static str, new: &'static str, again: &'static str| {
            let token = bob.token.clone();
            async move {
                api(
                    addr,
                    "changePwd",
                    &[
                        ("userToken", &token),
                        ("oldPwd", old),
                        ("newPwd", new),
                        ("renewPwd", again),
                    ],
                )
                .await
            }
        };
        assert_eq!(
            errmsg(&change("wrong-old", "newpass1", "newpass1").await?),
            "user not exist or password not match"
        );
        assert_eq!(
            errmsg(&change(PASSWORD, "newpass1", "newpass2").await?),
            "new password and repeat password must be same"
        );
        assert_eq!(
            errmsg(&change(PASSWORD, PASSWORD, PASSWORD).await?),
            "new password and old password can not be same"
        );
        assert_eq!(
            errmsg(&change(PASSWORD, "short", "short").await?),
            "new password must at least 6 charactors"
        );

        let other_device = api_ok(
            addr,
            "loginUser",
            &[("login", &bob.login), ("password", PASSWORD)],
        )
        .await?;
        let other_device = str_of(&other_device, "userToken")?;
        let done = change(PASSWORD, "newpass1", "newpass1").await?;
        assert_eq!(
            (errmsg(&done).as_str(), &done["successmsg"]),
            ("", &Value::from("change password success"))
        );

        let old = api(
            addr,
            "loginUser",
            &[("login", &bob.login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(errmsg(&old), "user not exist or password not match");
        let new = api_ok(
            addr,
            "loginUser",
            &[("login", &bob.login), ("password", "newpass1")],
        )
        .await?;
        assert_eq!(new["uid"], bob.uid.as_str());
        // A password change ends the other devices' logins; the device that made it stays.
        let stale = api(addr, "getFriends", &[("userToken", &other_device)]).await?;
        assert_eq!(errmsg(&stale), "no privilege to get friends");
        api_ok(addr, "getFriends", &[("userToken", &bob.token)]).await?;
        Ok(())
    })
}

#[test]
fn profile_and_avatar() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let carol = register_as(addr, "carol", 2).await?;
        let dave = register(addr, "dave1").await?;

        let own = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &carol.token), ("uid", &carol.uid)],
        )
        .await?;
        let info = &own["userInfo"];
        assert_eq!(info["uid"], carol.uid.as_str());
        assert_eq!(info["nickname"], "carol");
        assert_eq!(info["gender"], 2, "gender is an int: {info}");
        assert_eq!(
            info["login"],
            carol.login.as_str(),
            "login shown for oneself"
        );
        assert!(
            is_timestr(&str_of(info, "lastLogin")?),
            "lastLogin is MM-dd HH:mm:ss: {info}"
        );
        assert_eq!(info["loginCount"], 1);
        let default_avatar = str_of(info, "avatar")?;

        let other = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &dave.token), ("uid", &carol.uid)],
        )
        .await?;
        assert_eq!(other["userInfo"]["login"], "", "login hidden from others");
        assert_eq!(other["userInfo"]["nickname"], "carol");

        let unknown = api(
            addr,
            "getUserInfo",
            &[
                ("userToken", &carol.token),
                ("uid", "0123456789abcdef01234567"),
            ],
        )
        .await?;
        assert_eq!(
            (errmsg(&unknown).as_str(), &unknown["userInfo"]),
            ("user not exist", &Value::Null)
        );

        // New nickname, gender and a 300x150 avatar: stored as a thumbnail within 200x200.
        let picture = png(300, 150);
        let updated = api_multipart(
            addr,
            "updateUser",
            &[
                ("userToken", &carol.token),
                ("nickname", "carolyn"),
                ("gender", "1"),
            ],
            Some(FilePart {
                field: "avatar",
                file_name: "me.png",
                content_type: "image/png",
                bytes: &picture,
            }),
        )
        .await?;
        assert_eq!(
            (errmsg(&updated).as_str(), &updated["successmsg"]),
            ("", &Value::from("update user info success"))
        );
        let info = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &carol.token), ("uid", &carol.uid)],
        )
        .await?["userInfo"]
            .clone();
        assert_eq!(
            (&info["nickname"], &info["gender"]),
            (&Value::from("carolyn"), &Value::from(1))
        );
        let avatar = str_of(&info, "avatar")?;
        assert_ne!(
            avatar, default_avatar,
            "the uploaded avatar replaced the default"
        );

        let file = get(addr, &format!("/api/getFile?id={avatar}")).await?;
        assert_eq!(file.status, 200);
        assert_eq!(file.header("Content-Type"), Some("image/png"));
        let (width, height) = png_size(&file.body)?;
        assert!(width <= 200 && height <= 200, "avatar is {width}x{height}");
        assert_eq!(
            (width, height),
            (200, 100),
            "scaled down keeping the aspect ratio"
        );

        let meta = api_ok_get(addr, &format!("/api/getFileMeta?id={avatar}")).await?;
        assert_eq!(meta["id"], avatar.as_str());
        assert_eq!(meta["fileType"], "image/png");
        assert_eq!(meta["fileName"], "me.png.thumb.png");
        assert_eq!(meta["fileSize"], file.body.len());

        // No file: the avatar stays (CookIM reset it to the default).
        api_ok_multipart(
            addr,
            &[
                ("userToken", &carol.token),
                ("nickname", "carolina"),
                ("gender", "2"),
            ],
        )
        .await?;
        let info = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &carol.token), ("uid", &carol.uid)],
        )
        .await?["userInfo"]
            .clone();
        assert_eq!(
            (&info["nickname"], &info["gender"], &info["avatar"]),
            (
                &Value::from("carolina"),
                &Value::from(2),
                &Value::from(avatar.as_str())
            )
        );

        // A refreshed token carries the new profile.
        let fresh = str_of(
            &api_ok(addr, "userToken", &[("userToken", &carol.token)]).await?,
            "userToken",
        )?;
        let who = api(addr, "verifyUserToken", &[("userToken", &fresh)]).await?;
        assert_eq!(
            (&who["nickname"], &who["avatar"]),
            (&Value::from("carolina"), &Value::from(avatar.as_str()))
        );

        for bad in [
            "",
            "0123456789abcdef0123456789abcdef",
            "nope",
            "../../etc/passwd",
            "0123456789ABCDEF0123456789ABCDEF",
        ] {
            let missing = get(addr, &format!("/api/getFile?id={bad}")).await?;
            assert_eq!(missing.status, 404, "getFile?id={bad}: {missing:?}");
            let meta = api_ok_get(addr, &format!("/api/getFileMeta?id={bad}")).await;
            assert!(meta.is_err(), "getFileMeta?id={bad} should carry an errmsg");
        }
        Ok(())
    })
}

/// `GET` a JSON route, failing unless HTTP 200 with an empty `errmsg`.
async fn api_ok_get(addr: std::net::SocketAddr, path: &str) -> Result<Value> {
    let reply = get(addr, path).await?;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
    let value: Value = serde_json::from_slice(&reply.body)?;
    match errmsg(&value).as_str() {
        "" => Ok(value),
        e => fail(format!("{path}: {e}")),
    }
}

/// `updateUser` without a file, failing unless it succeeds.
async fn api_ok_multipart(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> Result<Value> {
    let answer = api_multipart(addr, "updateUser", fields, None).await?;
    assert_eq!(errmsg(&answer), "", "{answer}");
    Ok(answer)
}
