//! Device sessions: every login's token belongs to that login. `logoutUser` ends only that
//! login; a password change ends the user's other logins; a revoked token is refused on every
//! entry point, and live sockets opened with it are closed with 1008 "session ended";
//! `listLogins` and `endLogins` show and end logins.

use serde_json::Value;

use crate::servers::{classic, member};
use crate::support::canary::{POLICY, chat_works, expect_close};
use crate::support::fixtures::{User, errmsg, str_of};
use crate::support::net::{api_from, next_source};
use crate::support::node::Node;
use crate::support::ws::{Chat, subscribe_push};
use crate::support::{PASSWORD, Result, fail, run};
use crate::tokens::user_token_refused_everywhere;

/// Logs `user` in again from a source of its own: the same user with a new login's token.
async fn login_again(node: &Node, user: &User) -> Result<User> {
    let answer = api_from(
        next_source(),
        node.addr,
        "loginUser",
        &[("login", &user.login), ("password", PASSWORD)],
    )
    .await?;
    if !errmsg(&answer).is_empty() {
        return fail(format!("loginUser failed: {answer}"));
    }
    Ok(User {
        token: str_of(&answer, "userToken")?,
        ..user.clone()
    })
}

async fn call(node: &Node, route: &str, fields: &[(&str, &str)]) -> Result<Value> {
    api_from(next_source(), node.addr, route, fields).await
}

async fn valid(node: &Node, token: &str) -> Result<bool> {
    let who = call(node, "verifyUserToken", &[("userToken", token)]).await?;
    Ok(who["uid"] != "")
}

#[test]
fn a_logged_out_token_is_refused_everywhere() -> Result {
    let node = classic()?;
    run(async {
        let first = member(node, "leaver").await?;
        let out = call(node, "logoutUser", &[("userToken", &first.token)]).await?;
        if !errmsg(&out).is_empty() {
            return fail(format!("logoutUser failed: {out}"));
        }
        let second = login_again(node, &first).await?;
        user_token_refused_everywhere(node, &second, &first.token, "a logged-out token").await
    })
}

#[test]
fn logout_closes_live_sockets_with_session_ended() -> Result {
    let node = classic()?;
    run(async {
        let user = member(node, "liveout").await?;
        let mut chat = Chat::open(node.addr, &user, &node.canary.sid).await?;
        let (mut push, _) = subscribe_push(node.addr, &user).await?;
        call(node, "logoutUser", &[("userToken", &user.token)]).await?;
        expect_close(
            &mut chat.ws,
            POLICY,
            "session ended",
            "/ws-chat after logout",
        )
        .await?;
        expect_close(&mut push, POLICY, "session ended", "/ws-push after logout").await?;
        chat_works(node, "a logout with live sockets").await
    })
}

#[test]
fn logout_ends_only_that_login() -> Result {
    let node = classic()?;
    run(async {
        let phone = member(node, "twodevs").await?;
        let laptop = login_again(node, &phone).await?;
        call(node, "logoutUser", &[("userToken", &phone.token)]).await?;
        if valid(node, &phone.token).await? {
            return fail("the logged-out token still verifies");
        }
        if !valid(node, &laptop.token).await? {
            return fail("logging out the phone ended the laptop's login too");
        }
        chat_works(node, "a logout of one device").await
    })
}

#[test]
fn a_password_change_ends_the_other_logins() -> Result {
    let node = classic()?;
    run(async {
        let phone = member(node, "changer").await?;
        let laptop = login_again(node, &phone).await?;
        let (mut push, _) = subscribe_push(node.addr, &laptop).await?;
        let changed = call(
            node,
            "changePwd",
            &[
                ("userToken", &phone.token),
                ("oldPwd", PASSWORD),
                ("newPwd", "another1"),
                ("renewPwd", "another1"),
            ],
        )
        .await?;
        if !errmsg(&changed).is_empty() {
            return fail(format!("changePwd failed: {changed}"));
        }
        expect_close(&mut push, POLICY, "session ended", "the laptop's /ws-push").await?;
        if valid(node, &laptop.token).await? {
            return fail("the laptop's token survived a password change on the phone");
        }
        if !valid(node, &phone.token).await? {
            return fail("the password change ended the login that made it");
        }
        chat_works(node, "a password change").await
    })
}

#[test]
fn list_logins_shows_each_device_and_end_logins_ends_one() -> Result {
    let node = classic()?;
    run(async {
        let phone = member(node, "lister").await?;
        let laptop = login_again(node, &phone).await?;
        let listed = call(node, "listLogins", &[("userToken", &phone.token)]).await?;
        let logins = listed["logins"].as_array().cloned().unwrap_or_default();
        if !errmsg(&listed).is_empty() || logins.len() != 2 {
            return fail(format!("listLogins should show two logins: {listed}"));
        }
        let Some(other) = logins.iter().find(|l| l["current"] == false) else {
            return fail(format!("no login but the current one: {listed}"));
        };
        if logins.iter().filter(|l| l["current"] == true).count() != 1 {
            return fail(format!("exactly one login is the current one: {listed}"));
        }
        for field in ["loginid", "device", "created", "lastSeen"] {
            if other.get(field).is_none() {
                return fail(format!("a login lacks {field}: {other}"));
            }
        }
        let loginid = str_of(other, "loginid")?;
        let ended = call(
            node,
            "endLogins",
            &[("userToken", &phone.token), ("loginid", &loginid)],
        )
        .await?;
        if !errmsg(&ended).is_empty() || ended["ended"] != 1 {
            return fail(format!("endLogins of one login: {ended}"));
        }
        if valid(node, &laptop.token).await? || !valid(node, &phone.token).await? {
            return fail("endLogins ended the wrong login");
        }
        chat_works(node, "endLogins").await
    })
}

#[test]
fn end_logins_others_keeps_only_the_current_one() -> Result {
    let node = classic()?;
    run(async {
        let phone = member(node, "ender").await?;
        let laptop = login_again(node, &phone).await?;
        let tablet = login_again(node, &phone).await?;
        let mut chat = Chat::open(node.addr, &tablet, &node.canary.sid).await?;
        let ended = call(
            node,
            "endLogins",
            &[("userToken", &phone.token), ("others", "1")],
        )
        .await?;
        if !errmsg(&ended).is_empty() || ended["ended"] != 2 {
            return fail(format!("endLogins others=1 should end two: {ended}"));
        }
        expect_close(
            &mut chat.ws,
            POLICY,
            "session ended",
            "the tablet's /ws-chat",
        )
        .await?;
        for (token, name) in [(&laptop.token, "laptop"), (&tablet.token, "tablet")] {
            if valid(node, token).await? {
                return fail(format!("the {name}'s login survived endLogins others=1"));
            }
        }
        if !valid(node, &phone.token).await? {
            return fail("endLogins others=1 ended the current login");
        }
        chat_works(node, "endLogins others=1").await
    })
}

#[test]
fn login_routes_refuse_a_forged_token() -> Result {
    let node = classic()?;
    run(async {
        let forged = crate::support::tokens::spoil(
            &node.canary.alice.token,
            crate::support::tokens::Bad::Forged,
        )?;
        for (route, extra) in [("listLogins", None), ("endLogins", Some(("others", "1")))] {
            let mut fields = vec![("userToken", forged.as_str())];
            fields.extend(extra);
            let answer = call(node, route, &fields).await?;
            if errmsg(&answer).is_empty() {
                return fail(format!("{route} accepted a forged token: {answer}"));
            }
        }
        if !valid(node, &node.canary.alice.token).await? {
            return fail("a forged endLogins ended alice's login");
        }
        chat_works(node, "login routes with a forged token").await
    })
}
