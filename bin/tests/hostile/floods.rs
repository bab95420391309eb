//! Login and registration floods and API rate limits, on a node with small limits: failed
//! logins lock a (address, login) pair and then an address, without hashing and without
//! locking the user out from elsewhere; logins, registrations, group creation, friend
//! requests and invitations over their limit answer an `errmsg` starting "too many"; the
//! password-hash queue answers "server busy, try again" when full.

use std::net::IpAddr;

use serde_json::Value;

use crate::servers::{hash_queue, limits, member, sends};
use crate::support::canary::chat_works;
use crate::support::fixtures::{User, errmsg, png, unique_login};
use crate::support::http::{FilePart, api_multipart};
use crate::support::net::{api_from, next_source, register_fresh};
use crate::support::node::Node;
use crate::support::{PASSWORD, Result, fail, run};

const LOCKED: &str = "too many failed logins, try again later";

async fn login(node: &Node, source: IpAddr, login: &str, password: &str) -> Result<String> {
    let answer = api_from(
        source,
        node.addr,
        "loginUser",
        &[("login", login), ("password", password)],
    )
    .await?;
    Ok(errmsg(&answer))
}

async fn register(node: &Node, source: IpAddr) -> Result<String> {
    let login = unique_login("flood");
    let answer = api_from(
        source,
        node.addr,
        "registerUser",
        &[
            ("login", &login),
            ("nickname", "flooder"),
            ("password", PASSWORD),
            ("repassword", PASSWORD),
            ("gender", "1"),
        ],
    )
    .await?;
    Ok(errmsg(&answer))
}

fn starts(answer: &str, prefix: &str, what: &str) -> Result {
    if answer.starts_with(prefix) {
        Ok(())
    } else {
        fail(format!(
            "{what}: expected an errmsg starting {prefix:?}, got {answer:?}"
        ))
    }
}

/// Fails `user`'s login from `source` until it is locked; the right password then answers
/// the lockout too.
async fn lock(node: &Node, source: IpAddr, user: &User) -> Result {
    for attempt in 1..=3 {
        let answer = login(node, source, &user.login, "wrong-password").await?;
        if answer.is_empty() || answer == LOCKED {
            return fail(format!("failed login {attempt} of 3 answered {answer:?}"));
        }
    }
    let answer = login(node, source, &user.login, PASSWORD).await?;
    starts(&answer, LOCKED, "the right password after 3 failures")
}

#[test]
fn failed_logins_lock_that_login_from_that_address() -> Result {
    let node = limits()?;
    run(async {
        let user = register_fresh(node.addr, "lockme").await?;
        lock(node, next_source(), &user).await?;
        chat_works(node, "a locked login").await
    })
}

#[test]
fn a_lockout_does_not_lock_the_user_out_from_another_address() -> Result {
    let node = limits()?;
    run(async {
        let user = register_fresh(node.addr, "victim").await?;
        lock(node, next_source(), &user).await?;
        let answer = login(node, next_source(), &user.login, PASSWORD).await?;
        if !answer.is_empty() {
            return fail(format!(
                "the owner's own address was locked out too: {answer:?}"
            ));
        }
        chat_works(node, "a lockout from another address").await
    })
}

#[test]
fn failures_over_many_logins_lock_the_address() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        let mut users = Vec::new();
        for _ in 0..4 {
            users.push(register_fresh(node.addr, "spread").await?);
        }
        // Two failures each on three logins: under the per-login limit, 6 for the address.
        for user in users.iter().take(3) {
            for _ in 0..2 {
                let answer = login(node, source, &user.login, "wrong-password").await?;
                if answer.is_empty() || answer == LOCKED {
                    return fail(format!("a failed login answered {answer:?}"));
                }
            }
        }
        let answer = login(node, source, &users[3].login, PASSWORD).await?;
        starts(
            &answer,
            LOCKED,
            "a fourth login from an address with 6 failures",
        )?;
        chat_works(node, "an address lockout").await
    })
}

#[test]
fn a_flood_of_unknown_logins_is_answered_and_then_locked() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        let mut answers = Vec::new();
        for i in 0..12 {
            answers
                .push(login(node, source, &format!("nobody{i}@example.test"), "whatever").await?);
        }
        if answers.iter().any(String::is_empty) {
            return fail(format!("an unknown login succeeded: {answers:?}"));
        }
        let last = answers.last().cloned().unwrap_or_default();
        if !last.starts_with("too many") {
            return fail(format!(
                "12 unknown logins from one address were never limited: {answers:?}"
            ));
        }
        chat_works(node, "a flood of unknown logins").await
    })
}

#[test]
fn successful_logins_do_not_count_as_failures() -> Result {
    let node = limits()?;
    run(async {
        let user = register_fresh(node.addr, "regular").await?;
        let source = next_source();
        // One more than --max-address-failures (6), under --limit-logins (8): none failed.
        for i in 1..=7 {
            let answer = login(node, source, &user.login, PASSWORD).await?;
            if !answer.is_empty() {
                return fail(format!("successful login {i} of 7 answered {answer:?}"));
            }
        }
        chat_works(node, "seven good logins").await
    })
}

#[test]
fn logins_over_the_rate_limit_answer_too_many() -> Result {
    let node = sends()?;
    run(async {
        let user = register_fresh(node.addr, "often").await?;
        let source = next_source();
        for i in 1..=8 {
            let answer = login(node, source, &user.login, PASSWORD).await?;
            if !answer.is_empty() {
                return fail(format!("login {i} of 8 answered {answer:?}"));
            }
        }
        let answer = login(node, source, &user.login, PASSWORD).await?;
        starts(&answer, "too many", "the 9th login in a minute")?;
        chat_works(node, "a login flood").await
    })
}

#[test]
fn registrations_over_the_limit_answer_too_many_per_address() -> Result {
    let node = limits()?;
    run(async {
        let source = next_source();
        for i in 1..=3 {
            let answer = register(node, source).await?;
            if !answer.is_empty() {
                return fail(format!("registration {i} of 3 answered {answer:?}"));
            }
        }
        starts(
            &register(node, source).await?,
            "too many",
            "a 4th registration",
        )?;
        let elsewhere = register(node, next_source()).await?;
        if !elsewhere.is_empty() {
            return fail(format!("another address could not register: {elsewhere:?}"));
        }
        chat_works(node, "a registration flood").await
    })
}

async fn create_group(node: &Node, user: &User, name: &str) -> Result<Value> {
    let icon = png(32, 32);
    api_multipart(
        node.addr,
        "createGroupSession",
        &[
            ("userToken", &user.token),
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
    .await
}

#[test]
fn group_creation_over_the_limit_answers_too_many() -> Result {
    let node = limits()?;
    run(async {
        let user = register_fresh(node.addr, "founder").await?;
        for name in ["first group", "second group"] {
            let answer = create_group(node, &user, name).await?;
            if !errmsg(&answer).is_empty() {
                return fail(format!("{name}: {answer}"));
            }
        }
        let third = create_group(node, &user, "third group").await?;
        starts(&errmsg(&third), "too many", "a third group in an hour")?;
        chat_works(node, "a group-creation flood").await
    })
}

async fn befriend(node: &Node, user: &User, friend: &User) -> Result<String> {
    let answer = api_from(
        next_source(),
        node.addr,
        "joinFriend",
        &[("userToken", &user.token), ("fuid", &friend.uid)],
    )
    .await?;
    Ok(errmsg(&answer))
}

#[test]
fn friend_requests_over_the_limit_answer_too_many() -> Result {
    let node = limits()?;
    run(async {
        let user = register_fresh(node.addr, "friendly").await?;
        let c = &node.canary;
        let third = register_fresh(node.addr, "thirdone").await?;
        for friend in [&c.alice, &c.bobby] {
            let answer = befriend(node, &user, friend).await?;
            if !answer.is_empty() {
                return fail(format!("joinFriend under the limit: {answer:?}"));
            }
        }
        starts(
            &befriend(node, &user, &third).await?,
            "too many",
            "a third friend request",
        )?;
        chat_works(node, "a friend-request flood").await
    })
}

#[test]
fn invitations_over_the_limit_answer_too_many() -> Result {
    let node = limits()?;
    run(async {
        let host = member(node, "inviter").await?;
        let guest = register_fresh(node.addr, "guestie").await?;
        let answer = befriend(node, &host, &guest).await?;
        if !answer.is_empty() {
            return fail(format!("joinFriend: {answer:?}"));
        }
        let friends = format!("[\"{}\"]", guest.uid);
        let mut answers = Vec::new();
        for _ in 0..3 {
            let answer = api_from(
                next_source(),
                node.addr,
                "inviteFriends",
                &[
                    ("userToken", &host.token),
                    ("sessionid", &node.canary.sid),
                    ("ouid", ""),
                    ("friends", &friends),
                ],
            )
            .await?;
            answers.push(errmsg(&answer));
        }
        starts(&answers[2], "too many", "a third invitation in an hour")?;
        chat_works(node, "an invitation flood").await
    })
}

#[test]
fn a_full_hash_queue_answers_server_busy() -> Result {
    let node = hash_queue()?;
    run(async {
        // 24 logins at once, each from its own address: at most one per core hashes and one
        // waits; the rest must be turned away at once.
        let logins: Vec<_> = (0..24)
            .map(|_| {
                let (source, addr) = (next_source(), node.addr);
                let login = node.canary.alice.login.clone();
                smol::spawn(async move {
                    let fields = [("login", login.as_str()), ("password", PASSWORD)];
                    api_from(source, addr, "loginUser", &fields).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in logins {
            answers.push(errmsg(&task.await?));
        }
        let busy = answers
            .iter()
            .filter(|a| a.as_str() == "server busy, try again")
            .count();
        let ok = answers.iter().filter(|a| a.is_empty()).count();
        if busy == 0 || ok == 0 || busy + ok != answers.len() {
            return fail(format!("24 logins at once on a queue of 1: {answers:?}"));
        }
        chat_works(node, "a full hash queue").await
    })
}
