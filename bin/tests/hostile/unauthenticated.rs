//! Websockets that never authenticate: with `--auth-timeout 1`, a `/ws-chat` that has not gone
//! `online` and a `/ws-push` whose subscription was not accepted are closed with 1008
//! "authentication timeout", however they fill the time. Authenticated sockets stay.

use serde_json::json;

use crate::servers::deadlines;
use crate::support::canary::{POLICY, chat_works, expect_close, next_reject};
use crate::support::net::{next_source, ws_from};
use crate::support::ws::{Chat, subscribe_push};
use crate::support::{Result, run};

const REASON: &str = "authentication timeout";

#[test]
fn a_chat_socket_that_never_goes_online_is_closed() -> Result {
    let node = deadlines()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        expect_close(&mut ws, POLICY, REASON, "a silent /ws-chat").await?;
        chat_works(node, "a silent /ws-chat").await
    })
}

#[test]
fn a_chat_socket_whose_online_is_rejected_is_still_closed() -> Result {
    let node = deadlines()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        let online =
            json!({"userToken": "x", "sessionToken": "y", "msgType": "online", "content": ""});
        ws.send_json(&online).await?;
        next_reject(&mut ws, "an online with made-up tokens").await?;
        expect_close(&mut ws, POLICY, REASON, "a /ws-chat with a rejected online").await?;
        chat_works(node, "a /ws-chat whose online was rejected").await
    })
}

#[test]
fn a_chat_socket_that_only_sends_junk_is_still_closed() -> Result {
    let node = deadlines()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        ws.send_text("{\"msgType\":\"text\",\"content\":\"hello?\"}")
            .await?;
        ws.send_binary(b"not an upload".to_vec()).await?;
        expect_close(&mut ws, POLICY, REASON, "a /ws-chat sending junk").await?;
        chat_works(node, "a /ws-chat sending junk").await
    })
}

#[test]
fn a_push_socket_that_never_subscribes_is_closed() -> Result {
    let node = deadlines()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-push").await?;
        expect_close(&mut ws, POLICY, REASON, "a silent /ws-push").await?;
        chat_works(node, "a silent /ws-push").await
    })
}

#[test]
fn a_push_socket_whose_subscribe_is_rejected_is_still_closed() -> Result {
    let node = deadlines()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-push").await?;
        ws.send_json(&json!({"userToken": "made.up.token"})).await?;
        next_reject(&mut ws, "a subscribe with a made-up token").await?;
        expect_close(
            &mut ws,
            POLICY,
            REASON,
            "a /ws-push with a rejected subscribe",
        )
        .await?;
        chat_works(node, "a rejected /ws-push").await
    })
}

#[test]
fn authenticated_sockets_outlive_the_auth_timeout() -> Result {
    let node = deadlines()?;
    run(async {
        let c = &node.canary;
        let mut alice = Chat::open(node.addr, &c.alice, &c.sid).await?;
        let (mut push, _) = subscribe_push(node.addr, &c.bobby).await?;
        // An unauthenticated socket opened after them is closed: the timeout has run out for
        // the authenticated ones too by then.
        let mut idle = ws_from(next_source(), node.addr, "/ws-chat").await?;
        expect_close(&mut idle, POLICY, REASON, "a silent /ws-chat").await?;
        let text = "still online after the auth timeout";
        alice.say(text).await?;
        alice.expect_text(text).await?;
        let sid = c.sid.clone();
        push.next_json_where("bobby's push for alice's text", |v| {
            v["sessionid"] == sid.as_str()
        })
        .await?;
        alice.ws.close().await?;
        push.close().await?;
        chat_works(node, "authenticated sockets past the auth timeout").await
    })
}
