//! Oversize frames and JSON built to be expensive: deep nesting and huge arrays, on `/ws-chat`
//! (before and after `online`), `/ws-push` and API bodies. Frames far over a text's size are
//! closed with 1009 before they are parsed; JSON is decoded into typed structs, so nesting and
//! arrays cost nothing and get a `reject`.

use http_types::Method;
use serde_json::json;

use crate::servers::{classic, online};
use crate::support::canary::{Refusal, TOO_BIG, chat_works, expect_close, next_reject, refusal};
use crate::support::net::{next_source, request_from, ws_from};
use crate::support::{Result, fail, run};

/// Default `max_text`; frames on `/ws-chat` may be about 4 KiB longer than that.
const MAX_TEXT: usize = 16 * 1024;

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn a_text_of_max_text_is_delivered_and_one_byte_more_rejected() -> Result {
    let node = classic()?;
    run(async {
        let mut chat = online(node, "fullsize").await?;
        let longest = "x".repeat(MAX_TEXT);
        chat.say(&longest).await?;
        chat.expect_text(&longest).await?;
        chat.say(&format!("{longest}y")).await?;
        let content = next_reject(&mut chat.ws, "a text one byte over max_text").await?;
        if content.is_empty() {
            return fail("the reject of a text over max_text says nothing");
        }
        chat_works(node, "a text over max_text").await
    })
}

#[test]
fn a_chat_text_frame_far_over_max_text_closes_1009() -> Result {
    let node = classic()?;
    run(async {
        let mut chat = online(node, "bigframe").await?;
        chat.say(&"x".repeat(MAX_TEXT + 8 * 1024)).await?;
        expect_close(&mut chat.ws, TOO_BIG, "", "a 24 KiB text frame on /ws-chat").await?;
        chat_works(node, "a 24 KiB text frame").await
    })
}

#[test]
fn a_frame_over_64k_before_online_closes_1009() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        ws.send_text("y".repeat(64 * 1024 + 1)).await?;
        expect_close(&mut ws, TOO_BIG, "", "a 64 KiB + 1 frame before online").await?;
        chat_works(node, "a 64 KiB frame before online").await
    })
}

#[test]
fn a_binary_frame_over_64k_before_online_closes_1009() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        ws.send_binary(vec![b'z'; 200 * 1024]).await?;
        expect_close(&mut ws, TOO_BIG, "", "a 200 KiB upload before online").await?;
        chat_works(node, "a 200 KiB binary frame before online").await
    })
}

#[test]
fn a_push_text_frame_over_4k_closes_1009() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-push").await?;
        let token = "t".repeat(4 * 1024);
        ws.send_json(&json!({ "userToken": token })).await?;
        expect_close(&mut ws, TOO_BIG, "", "a 4 KiB subscribe on /ws-push").await?;
        chat_works(node, "a 4 KiB /ws-push frame").await
    })
}

#[test]
fn deeply_nested_json_before_online_is_refused() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        // 60,000 levels: far past any recursion limit, still under 64 KiB.
        ws.send_text(nested(30_000)).await?;
        refusal(&mut ws, "60,000 levels of nesting").await?;
        chat_works(node, "deeply nested JSON before online").await
    })
}

/// Junk in a field the server does not read is either refused or skipped without being
/// parsed into anything (protocol's lenient decoders): the text goes out as plain "hi" with
/// CookIM's ten fields, nothing of the junk echoed.
#[test]
fn deeply_nested_junk_in_an_unknown_field_is_skipped_or_refused() -> Result {
    let node = classic()?;
    run(async {
        let mut chat = online(node, "nesting").await?;
        let up = format!(
            r#"{{"userToken":"{}","sessionToken":"{}","msgType":"text","content":"hi","x":{}}}"#,
            chat.user.token,
            chat.session_token,
            nested(8_000)
        );
        chat.ws.send_text(up).await?;
        let uid = chat.user.uid.clone();
        // Other members' events (canaries of parallel cases) may come first: skip them.
        loop {
            let answer = chat
                .ws
                .next_text_or_close("the answer to nesting in an unknown field")
                .await?;
            let async_tungstenite::tungstenite::Message::Text(text) = &answer else {
                break;
            };
            let v: serde_json::Value = serde_json::from_str(text.as_str())?;
            if v["msgType"] == "reject" {
                break;
            }
            if v["uid"] != uid.as_str() {
                continue;
            }
            let skipped = v["msgType"] == "text"
                && v["content"] == "hi"
                && v.as_object().is_some_and(|o| o.len() == 10);
            if !skipped {
                return fail(format!(
                    "nesting in an unknown field was answered with {text}"
                ));
            }
            break;
        }
        chat_works(node, "nested JSON in an unknown field").await
    })
}

#[test]
fn a_huge_array_as_a_token_is_rejected() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-chat").await?;
        let array = vec!["0"; 25_000].join(",");
        ws.send_text(format!(r#"{{"userToken":[{array}],"msgType":"online"}}"#))
            .await?;
        match refusal(&mut ws, "a 50 KB array as userToken").await? {
            Refusal::Reject(_) => {}
            Refusal::Closed(code) if code == TOO_BIG || code == 1008 || code == 1007 => {}
            Refusal::Closed(code) => return fail(format!("closed with {code}")),
        }
        chat_works(node, "a huge array").await
    })
}

#[test]
fn deeply_nested_json_on_push_is_refused() -> Result {
    let node = classic()?;
    run(async {
        let mut ws = ws_from(next_source(), node.addr, "/ws-push").await?;
        ws.send_text(format!(r#"{{"userToken":{}}}"#, nested(1_500)))
            .await?;
        refusal(&mut ws, "nesting on /ws-push").await?;
        chat_works(node, "nested JSON on /ws-push").await
    })
}

/// An API body the server must refuse cheaply: an `errmsg` (HTTP 200) or a 4xx status.
async fn api_refuses(body: Vec<u8>, content_type: &str, what: &str) -> Result {
    let node = classic()?;
    let reply = request_from(
        next_source(),
        node.addr,
        Method::Post,
        "/api/loginUser",
        Some(content_type),
        body,
    )
    .await?;
    let refused = match reply.status {
        200 => {
            let v: serde_json::Value = serde_json::from_slice(&reply.body)?;
            v["errmsg"].as_str().is_some_and(|e| !e.is_empty())
        }
        400..=499 => true,
        _ => false,
    };
    if !refused {
        return fail(format!("{what} was not refused: {reply:?}"));
    }
    chat_works(node, what).await
}

#[test]
fn a_deeply_nested_json_api_body_is_refused() -> Result {
    run(api_refuses(
        nested(200_000).into_bytes(),
        "application/json",
        "a JSON body nested 200,000 deep",
    ))
}

#[test]
fn an_api_form_of_200000_fields_is_refused() -> Result {
    run(api_refuses(
        "a=&".repeat(200_000).into_bytes(),
        "application/x-www-form-urlencoded",
        "a form of 200,000 fields",
    ))
}

#[test]
fn an_api_body_over_max_body_is_413() -> Result {
    let node = classic()?;
    run(async {
        let reply = request_from(
            next_source(),
            node.addr,
            Method::Post,
            "/api/loginUser",
            Some("application/x-www-form-urlencoded"),
            vec![b'a'; 9 * 1024 * 1024],
        )
        .await;
        match reply {
            Ok(reply) if reply.status == 413 => {}
            // Refused before the whole body was sent: the connection was cut mid-write.
            Err(e) if e.to_string().contains("Broken pipe") || e.to_string().contains("reset") => {}
            other => return fail(format!("a 9 MiB body: expected 413, got {other:?}")),
        }
        chat_works(node, "a 9 MiB API body").await
    })
}
