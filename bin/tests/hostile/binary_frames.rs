//! Upload frames whose `<#BinaryInfo#>` header lies: no marker, a marker with no header, a
//! header that is not JSON or is nested deep, a `fileSize` larger or smaller than the bytes,
//! an image type over bytes that are not one, and an upload before `online`. Each gets a
//! `reject` and nothing is posted.

use protocol::binary::{self, BinaryHeader, MARKER};
use serde_json::json;

use crate::servers::{classic, online};
use crate::support::canary::{chat_works, next_reject};
use crate::support::net::{next_source, ws_from};
use crate::support::ws::Chat;
use crate::support::{Result, fail, run};
use crate::tokens::nothing_posted_before_next_text;

fn header(chat: &Chat, size: u64, file_type: &str) -> BinaryHeader {
    BinaryHeader {
        user_token: chat.user.token.clone(),
        session_token: chat.session_token.clone(),
        msg_type: "file".to_owned(),
        file_name: Some("lie.txt".to_owned()),
        file_size: size,
        file_type: file_type.to_owned(),
        reply_to: None,
    }
}

/// Sends the frame `make` builds from an online chat; expects a `reject` and then that the
/// next post on the chat is a text, not a file.
async fn lie(what: &str, make: impl FnOnce(&Chat) -> Vec<u8>) -> Result {
    let node = classic()?;
    let mut chat = online(node, "liar").await?;
    let frame = make(&chat);
    chat.ws.send_binary(frame).await?;
    let content = next_reject(&mut chat.ws, what).await?;
    if content.is_empty() {
        return fail(format!("the reject of {what} says nothing"));
    }
    nothing_posted_before_next_text(&mut chat, what).await?;
    chat.ws.close().await?;
    chat_works(node, what).await
}

#[test]
fn a_frame_with_no_marker_is_rejected() -> Result {
    run(lie("an upload with no marker", |c| {
        let mut frame = serde_json::to_vec(
            &json!({"userToken": c.user.token, "sessionToken": c.session_token, "msgType": "file"}),
        )
        .unwrap_or_default();
        frame.extend_from_slice(b"bytes with no marker before them");
        frame
    }))
}

#[test]
fn a_marker_with_no_header_is_rejected() -> Result {
    run(lie("a marker with no header", |_| {
        [MARKER.as_slice(), b"payload"].concat()
    }))
}

#[test]
fn a_header_that_is_not_json_is_rejected() -> Result {
    run(lie("a header that is not JSON", |_| {
        [
            b"\xff\xfe not json {{{".as_slice(),
            MARKER.as_slice(),
            b"payload",
        ]
        .concat()
    }))
}

#[test]
fn a_deeply_nested_header_is_rejected() -> Result {
    run(lie("a header nested 5,000 deep", |_| {
        let nested = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        [nested.as_bytes(), MARKER.as_slice(), b"payload"].concat()
    }))
}

#[test]
fn a_file_size_larger_than_the_bytes_is_rejected() -> Result {
    run(lie("a fileSize of 1 GiB over 7 bytes", |c| {
        binary::encode(&header(c, 1 << 30, "text/plain"), b"payload")
    }))
}

#[test]
fn a_file_size_smaller_than_the_bytes_is_rejected() -> Result {
    run(lie("a fileSize of 1 over 4 KiB", |c| {
        binary::encode(&header(c, 1, "text/plain"), &[b'x'; 4096])
    }))
}

#[test]
fn an_image_type_over_bytes_that_are_not_an_image_is_rejected() -> Result {
    run(lie("image/png over text", |c| {
        binary::encode(&header(c, 9, "image/png"), b"not a png")
    }))
}

#[test]
fn an_upload_before_online_is_rejected() -> Result {
    let node = classic()?;
    run(async {
        let chat = online(node, "early").await?;
        let frame = binary::encode(&header(&chat, 5, "text/plain"), b"early");
        chat.ws.close().await?;
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        ws.send_binary(frame).await?;
        let content = next_reject(&mut ws, "an upload before online").await?;
        if content.is_empty() {
            return fail("the reject of an upload before online says nothing");
        }
        chat_works(node, "an upload before online").await
    })
}
