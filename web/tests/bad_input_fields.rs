//! Bad fields: duplicate registrations, empty and over-long fields. Each answer is a clear
//! error, nothing is created, and the server goes on serving other clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::fixtures::{assert_serving, errmsg, list_sessions, png, register, unique_login};
use support::http::{FilePart, api, api_multipart, api_ok};
use support::{PASSWORD, Result, TestServer};

#[test]
fn duplicate_registration_is_refused() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let again = api(
            addr,
            "registerUser",
            &[
                ("login", &ann.login),
                ("nickname", "impostor"),
                ("password", "other-pass"),
                ("repassword", "other-pass"),
                ("gender", "2"),
            ],
        )
        .await?;
        assert_eq!(errmsg(&again), "user already exist");
        assert_eq!(
            (&again["uid"], &again["userToken"]),
            (&Value::from(""), &Value::from("")),
            "the existing id is not revealed"
        );
        // The first account is untouched.
        let login = api_ok(
            addr,
            "loginUser",
            &[("login", &ann.login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(login["uid"], ann.uid.as_str());
        let impostor = api(
            addr,
            "loginUser",
            &[("login", &ann.login), ("password", "other-pass")],
        )
        .await?;
        assert_eq!(errmsg(&impostor), "user not exist or password not match");
        assert_serving(addr).await
    })
}

#[test]
fn empty_and_overlong_fields_are_refused() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let long_nick = "n".repeat(100);
        let login = unique_login("fields");
        let cases: [(&str, &str, &str, &str, &str); 7] = [
            ("", "nickname", PASSWORD, "1", "login must be email"),
            (
                &login,
                "",
                PASSWORD,
                "1",
                "nickname must at least 4 charactors",
            ),
            (
                &login,
                "abc",
                PASSWORD,
                "1",
                "nickname must at least 4 charactors",
            ),
            (
                &login,
                &long_nick,
                PASSWORD,
                "1",
                "nickname must at most 40 characters",
            ),
            (
                &login,
                "nickname",
                "",
                "1",
                "password must at least 6 charactors",
            ),
            (
                &login,
                "nickname",
                PASSWORD,
                "0",
                "gender must be boy or girl",
            ),
            (
                &login,
                "nickname",
                PASSWORD,
                "",
                "gender must be boy or girl",
            ),
        ];
        for (login, nickname, password, gender, expected) in cases {
            let answer = api(
                addr,
                "registerUser",
                &[
                    ("login", login),
                    ("nickname", nickname),
                    ("password", password),
                    ("repassword", password),
                    ("gender", gender),
                ],
            )
            .await?;
            assert_eq!(
                errmsg(&answer),
                expected,
                "login {login:?} nickname {nickname:?} password {password:?} gender {gender:?}"
            );
            assert_eq!(
                (&answer["uid"], &answer["userToken"]),
                (&Value::from(""), &Value::from(""))
            );
        }
        let never = api(
            addr,
            "loginUser",
            &[("login", &login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(
            errmsg(&never),
            "user not exist or password not match",
            "no refused registration created the user"
        );
        let empty_login = api(addr, "loginUser", &[("login", ""), ("password", "")]).await?;
        assert!(!errmsg(&empty_login).is_empty());

        let ann = register(addr, "annie").await?;
        let icon = png(16, 16);
        let long_name = "s".repeat(500);
        for (name, expected) in [
            ("ab", "session desc must at least 3 character"),
            ("", "session desc must at least 3 character"),
            (
                long_name.as_str(),
                "session name must at most 60 characters",
            ),
        ] {
            let answer = api_multipart(
                addr,
                "createGroupSession",
                &[
                    ("userToken", &ann.token),
                    ("sessionName", name),
                    ("publicType", "1"),
                ],
                Some(FilePart {
                    field: "sessionIcon",
                    file_name: "i.png",
                    content_type: "image/png",
                    bytes: &icon,
                }),
            )
            .await?;
            assert_eq!(
                (errmsg(&answer).as_str(), &answer["sessionid"]),
                (expected, &Value::from("")),
                "sessionName of {} chars",
                name.len()
            );
        }
        let no_icon = api_multipart(
            addr,
            "createGroupSession",
            &[
                ("userToken", &ann.token),
                ("sessionName", "No icon"),
                ("publicType", "1"),
            ],
            None,
        )
        .await?;
        assert_eq!(errmsg(&no_icon), "please select chat icon");
        let not_image = api_multipart(
            addr,
            "createGroupSession",
            &[
                ("userToken", &ann.token),
                ("sessionName", "Text icon"),
                ("publicType", "1"),
            ],
            Some(FilePart {
                field: "sessionIcon",
                file_name: "i.txt",
                content_type: "text/plain",
                bytes: b"not a picture",
            }),
        )
        .await?;
        assert!(
            !errmsg(&not_image).is_empty(),
            "a non-image icon is refused: {not_image}"
        );
        assert!(
            list_sessions(addr, &ann, false).await?.is_empty(),
            "no refused group was created"
        );

        let renamed = api_multipart(
            addr,
            "updateUser",
            &[
                ("userToken", &ann.token),
                ("nickname", &long_nick),
                ("gender", "1"),
            ],
            None,
        )
        .await?;
        assert_eq!(errmsg(&renamed), "nickname must at most 40 characters");
        let info = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &ann.token), ("uid", &ann.uid)],
        )
        .await?;
        assert_eq!(info["userInfo"]["nickname"], "annie");
        for fuid in ["", "x"] {
            let friend = api(
                addr,
                "joinFriend",
                &[("userToken", &ann.token), ("fuid", fuid)],
            )
            .await?;
            assert!(!errmsg(&friend).is_empty(), "joinFriend with fuid {fuid:?}");
        }
        let private = api(
            addr,
            "getPrivateSession",
            &[("userToken", &ann.token), ("ouid", "")],
        )
        .await?;
        assert_eq!(errmsg(&private), "send user or recv user not exist");
        assert_serving(addr).await
    })
}
