//! The edge against hostile clients, in process: websockets that never authenticate, too much
//! data before authenticating, slow requests, too many connections from one address, rate
//! limits, and device sessions whose end closes their sockets. Each case checks the refusal and
//! that the node still serves a normal chat.

mod support;

use std::time::Duration;

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use serde_json::json;
use support::fixtures::{assert_serving, create_group, errmsg, register, str_of};
use support::http::{api, api_ok};
use support::ws::{Chat, Ws, subscribe_push};
use support::{PASSWORD, Result, TestServer, fail, within};

fn close_code(
    close: Option<async_tungstenite::tungstenite::protocol::CloseFrame>,
) -> (u16, String) {
    close.map_or((0, String::new()), |c| {
        (u16::from(c.code), c.reason.as_str().to_owned())
    })
}

#[test]
fn a_websocket_that_never_authenticates_is_closed() -> Result {
    let server = TestServer::start_with(|c| c.auth_timeout = Duration::from_millis(300))?;
    let addr = server.addr();
    server.block_on(async move {
        let mut silent = Ws::connect(addr, "/ws-chat").await?;
        let (code, reason) = close_code(silent.next_close().await?);
        assert_eq!((code, reason.as_str()), (1008, "authentication timeout"));

        // Sending junk does not count as authenticating.
        let mut noisy = Ws::connect(addr, "/ws-push").await?;
        noisy.send_text("{\"userToken\":\"forged\"}").await?;
        let (code, _) = close_code(noisy.next_close().await?);
        assert_eq!(code, 1008);

        // An authenticated one outlives the deadline.
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Patience", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;
        let (mut push, _) = subscribe_push(addr, &ann).await?;
        runtime::sleep(Duration::from_millis(600)).await;
        chat.say("still here").await?;
        chat.expect_text("still here").await?;
        push.next_of("text").await?;
        assert_serving(addr).await
    })
}

#[test]
fn anonymous_bytes_are_capped_before_parsing() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        // 100 KiB of JSON before any token: over the pre-authentication budget.
        let mut anon = Ws::connect(addr, "/ws-chat").await?;
        let zeros = vec!["0"; 50_000].join(",");
        anon.send_text(format!("{{\"a\":[{zeros}]}}")).await?;
        let (code, _) = close_code(anon.next_close().await?);
        assert_eq!(code, 1009);

        // After `online`, a text frame far over max_text is refused before parsing.
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Budget", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;
        let big = json!({"userToken": ann.token, "sessionToken": chat.session_token,
            "msgType": "text", "content": "x".repeat(64 * 1024)});
        chat.ws.send_json(&big).await?;
        let (code, _) = close_code(chat.ws.next_close().await?);
        assert_eq!(code, 1009);
        assert_serving(addr).await
    })
}

#[test]
fn slow_requests_are_cut_and_others_served() -> Result {
    let server = TestServer::start_with(|c| c.request_timeout = Duration::from_millis(300))?;
    let addr = server.addr();
    server.block_on(async move {
        // Half a request head, then nothing: the connection is closed.
        let mut slow = TcpStream::connect(addr).await?;
        slow.write_all(b"POST /api/loginUser HTTP/1.1\r\nHost: x\r\n").await?;
        let mut buf = [0u8; 256];
        let read = within("the slow connection to close", slow.read(&mut buf)).await?;
        assert!(matches!(read, Ok(0) | Err(_)), "closed, not answered: {read:?}");

        // A head, then a body that never comes: 408.
        let mut slow_body = TcpStream::connect(addr).await?;
        slow_body
            .write_all(b"POST /api/loginUser HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nlogin=")
            .await?;
        let mut answer = [0u8; 12];
        within("the 408", slow_body.read_exact(&mut answer)).await??;
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(text, "HTTP/1.1 408", "a stalled body is answered 408");
        assert_serving(addr).await
    })
}

#[test]
fn connections_from_one_address_are_capped() -> Result {
    let server = TestServer::start_with(|c| c.limits.max_per_address = 3)?;
    let addr = server.addr();
    server.block_on(async move {
        let held: Vec<TcpStream> = {
            let mut held = Vec::new();
            for _ in 0..3 {
                held.push(TcpStream::connect(addr).await?);
            }
            held
        };
        let mut fourth = TcpStream::connect(addr).await?;
        let mut buf = [0u8; 16];
        let read = within("the fourth connection to be closed", fourth.read(&mut buf)).await?;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        drop(held);
        // The slots free up as the held connections close.
        support::until("a slot to free up", || async {
            Ok(api(addr, "verifyUserToken", &[("userToken", "x")])
                .await
                .is_ok())
        })
        .await?;
        assert_serving(addr).await
    })
}

#[test]
fn texts_over_the_rate_are_rejected_then_cut_off() -> Result {
    let server = TestServer::start_with(|c| {
        c.limits.texts = web_rate(5, 3600);
    })?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Floods", true).await?;
        let mut chat = Chat::open(addr, &ann, &sid).await?;
        for i in 0..5 {
            chat.say(&format!("m{i}")).await?;
            chat.expect_text(&format!("m{i}")).await?;
        }
        chat.say("one too many").await?;
        let reject = chat.ws.next_of("reject").await?;
        let content = reject["content"].as_str().unwrap_or_default();
        assert!(content.starts_with("rate limit"), "{content}");
        // Ignoring that many rejects (the burst) gets the socket closed.
        for _ in 0..6 {
            chat.say("flood").await?;
        }
        let (code, reason) = close_code(chat.ws.next_close().await?);
        assert_eq!((code, reason.as_str()), (1008, "rate limit exceeded"));
        // Another user is not limited by it.
        let bob = register(addr, "bobby").await?;
        support::http::api_ok(
            addr,
            "joinGroupSession",
            &[("userToken", &bob.token), ("sessionid", &sid)],
        )
        .await?;
        let mut other = Chat::open(addr, &bob, &sid).await?;
        other.say("hello").await?;
        other.expect_text("hello").await?;
        Ok(())
    })
}

fn web_rate(burst: u64, secs: u64) -> cookim_web::Rate {
    cookim_web::Rate::every(burst, Duration::from_secs(secs))
}

async fn login(addr: std::net::SocketAddr, who: &str) -> Result<String> {
    let answer = api_ok(addr, "loginUser", &[("login", who), ("password", PASSWORD)]).await?;
    str_of(&answer, "userToken")
}

#[test]
fn logout_ends_one_device_and_closes_its_sockets() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let sid = create_group(addr, &ann, "Devices", true).await?;
        let mut phone = ann.clone();
        phone.token = login(addr, &ann.login).await?;
        let mut pc_chat = Chat::open(addr, &ann, &sid).await?;
        let mut phone_chat = Chat::open(addr, &phone, &sid).await?;
        let (mut phone_push, _) = subscribe_push(addr, &phone).await?;

        let listed = api_ok(addr, "listLogins", &[("userToken", &phone.token)]).await?;
        let logins = listed["logins"].as_array().cloned().unwrap_or_default();
        assert_eq!(logins.len(), 2, "{listed}");
        assert_eq!(logins.iter().filter(|l| l["current"] == true).count(), 1);

        api_ok(addr, "logoutUser", &[("userToken", &phone.token)]).await?;
        let (code, reason) = close_code(phone_chat.ws.next_close().await?);
        assert_eq!((code, reason.as_str()), (1008, "session ended"));
        let (code, _) = close_code(phone_push.next_close().await?);
        assert_eq!(code, 1008);
        let verified = api(addr, "verifyUserToken", &[("userToken", &phone.token)]).await?;
        assert_eq!(
            verified["uid"], "",
            "a revoked token is not valid: {verified}"
        );
        let refused = api(addr, "listLogins", &[("userToken", &phone.token)]).await?;
        assert!(!errmsg(&refused).is_empty());

        // The PC is still signed in and chatting.
        pc_chat.say("pc still here").await?;
        pc_chat.expect_text("pc still here").await?;
        let verified = api(addr, "verifyUserToken", &[("userToken", &ann.token)]).await?;
        assert_eq!(verified["uid"], ann.uid.as_str());
        Ok(())
    })
}

#[test]
fn ending_other_logins_and_changing_the_password() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let second = login(addr, &ann.login).await?;
        let third = login(addr, &ann.login).await?;
        let (mut second_push, _) = subscribe_push(
            addr,
            &support::fixtures::User {
                token: second.clone(),
                ..ann.clone()
            },
        )
        .await?;
        let ended = api_ok(addr, "endLogins", &[("userToken", &third), ("others", "1")]).await?;
        assert_eq!(ended["ended"], 2, "{ended}");
        let (code, _) = close_code(second_push.next_close().await?);
        assert_eq!(code, 1008);
        for gone in [&ann.token, &second] {
            let answer = api(addr, "listLogins", &[("userToken", gone)]).await?;
            assert!(
                !errmsg(&answer).is_empty(),
                "an ended login's token is refused"
            );
        }
        // A password change keeps the device that made it and ends the others.
        let fourth = login(addr, &ann.login).await?;
        api_ok(
            addr,
            "changePwd",
            &[
                ("userToken", &third),
                ("oldPwd", PASSWORD),
                ("newPwd", "another1"),
                ("renewPwd", "another1"),
            ],
        )
        .await?;
        let still = api_ok(addr, "listLogins", &[("userToken", &third)]).await?;
        assert_eq!(still["logins"].as_array().map(Vec::len), Some(1), "{still}");
        let answer = api(addr, "listLogins", &[("userToken", &fourth)]).await?;
        assert!(!errmsg(&answer).is_empty());
        // Ending one login by id.
        let fifth = api_ok(
            addr,
            "loginUser",
            &[("login", &ann.login), ("password", "another1")],
        )
        .await?;
        let fifth = str_of(&fifth, "userToken")?;
        let listed = api_ok(addr, "listLogins", &[("userToken", &third)]).await?;
        let other_id = listed["logins"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["current"] == false))
            .and_then(|l| l["loginid"].as_str())
            .map(str::to_owned);
        let Some(other_id) = other_id else {
            return fail(format!("no other login listed: {listed}"));
        };
        let ended = api_ok(
            addr,
            "endLogins",
            &[("userToken", &third), ("loginid", &other_id)],
        )
        .await?;
        assert_eq!(ended["ended"], 1);
        let answer = api(addr, "listLogins", &[("userToken", &fifth)]).await?;
        assert!(!errmsg(&answer).is_empty());
        let bad = api(
            addr,
            "endLogins",
            &[("userToken", &third), ("loginid", "nope")],
        )
        .await?;
        assert_eq!(errmsg(&bad), "loginid is not a login");
        assert_serving(addr).await
    })
}

#[test]
fn failed_logins_lock_the_pair_not_the_account() -> Result {
    let server = TestServer::start_with(|c| c.limits.max_login_failures = 3)?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        for _ in 0..3 {
            let answer = api(
                addr,
                "loginUser",
                &[("login", &ann.login), ("password", "wrong12")],
            )
            .await?;
            assert_eq!(errmsg(&answer), "user not exist or password not match");
        }
        let locked = api(
            addr,
            "loginUser",
            &[("login", &ann.login), ("password", PASSWORD)],
        )
        .await?;
        assert_eq!(errmsg(&locked), "too many failed logins, try again later");
        // Another account from the same address is not locked.
        let bob = register(addr, "bobby").await?;
        login(addr, &bob.login).await?;
        Ok(())
    })
}
