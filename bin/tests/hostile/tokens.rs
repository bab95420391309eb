//! Bad tokens on every entry point: the API (`verifyUserToken` answers empty strings, other
//! routes an `errmsg`), `/ws-chat` `online`, `/ws-chat` text on a connection that is online,
//! `/ws-push` subscribe and an upload's header. Forged signatures, `alg: none`, expired, signed
//! with another secret, and the wrong kind of token (session for user and the reverse).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::servers::classic;
use crate::support::canary::{Refusal, TOO_BIG, chat_works, next_reject, refusal};
use crate::support::fixtures::{User, errmsg};
use crate::support::net::{api_from, next_source, ws_from};
use crate::support::node::Node;
use crate::support::tokens::{Bad, spoil};
use crate::support::ws::{Chat, upload_frame};
use crate::support::{Result, fail, run};

/// Checks that the user token `bad` is refused everywhere, using `owner` (a valid login of
/// the same user, member of the canary group) for the connections that must be online.
pub(crate) async fn user_token_refused_everywhere(
    node: &Node,
    owner: &User,
    bad: &str,
    what: &str,
) -> Result {
    let source = next_source();
    let who = api_from(source, node.addr, "verifyUserToken", &[("userToken", bad)]).await?;
    if who["uid"] != "" || who["nickname"] != "" || who["avatar"] != "" {
        return fail(format!("verifyUserToken accepted {what}: {who}"));
    }
    let joined = api_from(
        source,
        node.addr,
        "listJoinedSessions",
        &[("userToken", bad)],
    )
    .await?;
    if errmsg(&joined).is_empty() {
        return fail(format!("listJoinedSessions accepted {what}: {joined}"));
    }
    let mut chat = Chat::open(node.addr, owner, &node.canary.sid).await?;
    let session_token = chat.session_token.clone();

    let mut fresh = ws_from(source, node.addr, "/ws-chat").await?;
    fresh
        .send_json(&json!({"userToken": bad, "sessionToken": session_token, "msgType": "online", "content": ""}))
        .await?;
    no_privilege(
        next_reject(&mut fresh, &format!("online with {what}")).await?,
        what,
    )?;

    chat.ws
        .send_json(&json!({"userToken": bad, "sessionToken": session_token, "msgType": "text", "content": "forged"}))
        .await?;
    no_privilege(
        next_reject(&mut chat.ws, &format!("a text with {what}")).await?,
        what,
    )?;

    let upload = upload_frame(bad, &session_token, Some("f.txt"), "text/plain", b"forged");
    chat.ws.send_binary(upload).await?;
    let content = next_reject(&mut chat.ws, &format!("an upload with {what}")).await?;
    if content.is_empty() {
        return fail(format!("the reject of an upload with {what} says nothing"));
    }

    let mut push = ws_from(source, node.addr, "/ws-push").await?;
    let subscribe = json!({"userToken": bad}).to_string();
    let over = subscribe.len() > 4 * 1024;
    push.send_text(subscribe).await?;
    // A subscribe over 4 KiB is closed with 1009 before it is read; any other gets a reject.
    match refusal(&mut push, &format!("a push subscribe with {what}")).await? {
        Refusal::Reject(content) if !over && content.contains("no privilege") => {}
        Refusal::Closed(TOO_BIG) if over => {}
        other => return fail(format!("the push subscribe with {what} got {other:?}")),
    }
    // Nothing forged was posted: up to our own next text, no post is the forged one.
    nothing_posted_before_next_text(&mut chat, what).await?;
    chat.ws.close().await?;
    chat_works(node, what).await
}

/// Sends a real text and reads the chat up to its echo, failing if a forged text or a file
/// from this user comes first. Other texts are skipped: cases running in parallel may post
/// as the same canary user meanwhile.
pub(crate) async fn nothing_posted_before_next_text(chat: &mut Chat, what: &str) -> Result {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let real = format!(
        "real text after {what} #{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    chat.say(&real).await?;
    let uid = chat.user.uid.clone();
    loop {
        let next = chat.next_post(&format!("the text after {what}")).await?;
        let v = &next.json;
        if v["content"] == real.as_str() {
            return Ok(());
        }
        if v["content"] == "forged" || (v["msgType"] == "file" && v["uid"] == uid.as_str()) {
            return fail(format!("after {what} the chat got {}", next.raw));
        }
    }
}

fn no_privilege(content: String, what: &str) -> Result {
    if content.contains("no privilege") {
        Ok(())
    } else {
        fail(format!(
            "{what}: the reject says {content:?}, not \"no privilege...\""
        ))
    }
}

fn spoiled(bad: Bad) -> Result {
    let node = classic()?;
    run(async {
        let alice = &node.canary.alice;
        let token = spoil(&alice.token, bad)?;
        user_token_refused_everywhere(node, alice, &token, &format!("a {bad:?} user token")).await
    })
}

#[test]
fn a_forged_signature_is_refused_everywhere() -> Result {
    spoiled(Bad::Forged)
}

#[test]
fn an_alg_none_token_is_refused_everywhere() -> Result {
    spoiled(Bad::AlgNone)
}

#[test]
fn an_expired_token_is_refused_everywhere() -> Result {
    spoiled(Bad::Expired)
}

#[test]
fn a_token_signed_with_another_secret_is_refused_everywhere() -> Result {
    spoiled(Bad::WrongSecret)
}

#[test]
fn a_session_token_as_a_user_token_is_refused_everywhere() -> Result {
    let node = classic()?;
    run(async {
        let alice = &node.canary.alice;
        let chat = Chat::open(node.addr, alice, &node.canary.sid).await?;
        let session_token = chat.session_token.clone();
        chat.ws.close().await?;
        user_token_refused_everywhere(node, alice, &session_token, "a session token as user token")
            .await
    })
}

#[test]
fn a_garbage_token_of_10kb_is_refused_everywhere() -> Result {
    let node = classic()?;
    run(async {
        let token = format!(
            "{}.{}.{}",
            "a".repeat(4000),
            "b".repeat(4000),
            "c".repeat(2000)
        );
        user_token_refused_everywhere(node, &node.canary.alice, &token, "a 10 KB garbage token")
            .await
    })
}

/// A good user token with a bad session token: `online` and uploads are refused.
async fn session_token_refused(bad_session_token: &str, what: &str) -> Result {
    let node = classic()?;
    let alice = &node.canary.alice;
    let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
    ws.send_json(&json!({"userToken": alice.token, "sessionToken": bad_session_token, "msgType": "online", "content": ""}))
        .await?;
    no_privilege(
        next_reject(&mut ws, &format!("online with {what}")).await?,
        what,
    )?;
    let mut chat = Chat::open(node.addr, alice, &node.canary.sid).await?;
    let upload = upload_frame(
        &alice.token,
        bad_session_token,
        Some("f.txt"),
        "text/plain",
        b"x",
    );
    chat.ws.send_binary(upload).await?;
    next_reject(&mut chat.ws, &format!("an upload with {what}")).await?;
    chat.ws.close().await?;
    chat_works(node, what).await
}

#[test]
fn a_user_token_as_a_session_token_is_refused() -> Result {
    let node = classic()?;
    run(session_token_refused(
        &node.canary.alice.token,
        "a user token as session token",
    ))
}

#[test]
fn an_expired_session_token_is_refused() -> Result {
    let node = classic()?;
    run(async {
        let chat = Chat::open(node.addr, &node.canary.alice, &node.canary.sid).await?;
        let expired = spoil(&chat.session_token, Bad::Expired)?;
        chat.ws.close().await?;
        session_token_refused(&expired, "an expired session token").await
    })
}
