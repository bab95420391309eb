//! Send and upload floods, per user: texts over `--limit-texts` get a `reject` starting "rate
//! limit", and a client that keeps sending is closed with 1008 "rate limit exceeded"; uploads
//! over `--limit-uploads` or the byte budget are rejected. Other users are not slowed.

use crate::servers::{online, sends};
use crate::support::canary::{POLICY, chat_works, expect_close, next_reject};
use crate::support::fixtures::noise;
use crate::support::ws::Chat;
use crate::support::{Result, fail, run};

/// The node's `--limit-texts` burst (10 a minute). The canary check sends one text per case,
/// alternating between its two users, so the node's cases stay far under it.
const LIMIT: usize = 10;

/// Sends texts until one is rejected; how many were echoed first, and the reject's text.
async fn flood_until_rejected(chat: &mut Chat, what: &str) -> Result<(usize, String)> {
    for sent in 1..=LIMIT + 1 {
        let text = format!("{what} {sent}");
        chat.say(&text).await?;
        let answer = chat
            .ws
            .next_json_where(&format!("the echo or reject of text {sent}"), |v| {
                (v["msgType"] == "text" && v["uid"] == chat.user.uid.as_str())
                    || v["msgType"] == "reject"
            })
            .await?;
        if answer["msgType"] == "reject" {
            let content = answer["content"].as_str().unwrap_or_default().to_owned();
            return Ok((sent - 1, content));
        }
    }
    fail(format!(
        "{what}: {} texts in a row on a limit of {LIMIT} were all delivered",
        LIMIT + 1
    ))
}

#[test]
fn texts_over_the_rate_limit_get_a_rate_limit_reject() -> Result {
    let node = sends()?;
    run(async {
        let mut chat = online(node, "chatty").await?;
        let (delivered, content) = flood_until_rejected(&mut chat, "burst").await?;
        if delivered != LIMIT || !content.starts_with("rate limit") {
            return fail(format!(
                "expected {LIMIT} texts then a \"rate limit...\" reject, got {delivered} then {content:?}"
            ));
        }
        chat_works(node, "a text burst").await
    })
}

#[test]
fn a_client_that_keeps_sending_is_closed_1008() -> Result {
    let node = sends()?;
    run(async {
        let mut chat = online(node, "spammer").await?;
        flood_until_rejected(&mut chat, "spam").await?;
        // Keep going regardless of rejects: the node must close the connection.
        for i in 0..200 {
            if chat.say(&format!("more spam {i}")).await.is_err() {
                break;
            }
        }
        expect_close(
            &mut chat.ws,
            POLICY,
            "rate limit exceeded",
            "a client that keeps sending",
        )
        .await?;
        chat_works(node, "a spammer").await
    })
}

#[test]
fn the_text_limit_is_per_user() -> Result {
    let node = sends()?;
    run(async {
        let mut loud = online(node, "loudone").await?;
        let mut quiet = online(node, "quietly").await?;
        flood_until_rejected(&mut loud, "loud").await?;
        quiet.say("a quiet word").await?;
        quiet.expect_text("a quiet word").await?;
        chat_works(node, "another user's flood").await
    })
}

fn upload_refused(content: &str, what: &str) -> Result {
    if content.starts_with("rate limit") || content.starts_with("too many") {
        Ok(())
    } else {
        fail(format!("{what}: the reject says {content:?}"))
    }
}

#[test]
fn uploads_over_the_count_limit_are_rejected() -> Result {
    let node = sends()?;
    run(async {
        let mut chat = online(node, "uploader").await?;
        for i in 0..2 {
            chat.upload(
                Some("note.txt"),
                "text/plain",
                format!("file {i}").as_bytes(),
            )
            .await?;
            chat.expect_file(&format!("upload {i}")).await?;
        }
        chat.upload(Some("note.txt"), "text/plain", b"one too many")
            .await?;
        let content = next_reject(&mut chat.ws, "a third upload in a minute").await?;
        upload_refused(&content, "a third upload in a minute")?;
        chat_works(node, "an upload flood").await
    })
}

#[test]
fn uploads_over_the_byte_budget_are_rejected() -> Result {
    let node = sends()?;
    run(async {
        let mut chat = online(node, "bigfiles").await?;
        chat.upload(
            Some("a.bin"),
            "application/octet-stream",
            &noise(40 * 1024, 1),
        )
        .await?;
        chat.expect_file("a 40 KiB upload").await?;
        chat.upload(
            Some("b.bin"),
            "application/octet-stream",
            &noise(40 * 1024, 2),
        )
        .await?;
        let content = next_reject(&mut chat.ws, "80 KiB on a 64 KiB daily budget").await?;
        upload_refused(&content, "80 KiB on a 64 KiB budget")?;
        chat_works(node, "an upload-bytes flood").await
    })
}
