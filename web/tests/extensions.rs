//! Typing and read receipts (extensions): a connection that went `online` with `"ext": 1`
//! hears who is typing and how far the others have read; CookIM's client in the same chat
//! sees exactly what it saw before, and its unread badges follow the same read marks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::fixtures::{User, create_group, errmsg, join_group, new_count, register};
use support::http::{api, api_ok};
use support::ws::Chat;
use support::{Result, TestServer};

/// Every member's read mark as `getReadMarks` gives it to `user`, and the chat's last seq.
async fn marks(addr: std::net::SocketAddr, user: &User, sid: &str) -> Result<(i64, Vec<Value>)> {
    let answer = api_ok(
        addr,
        "getReadMarks",
        &[("userToken", &user.token), ("sessionid", sid)],
    )
    .await?;
    Ok((
        answer["lastSeq"].as_i64().unwrap_or(-1),
        answer["readMarks"].as_array().cloned().unwrap_or_default(),
    ))
}

fn mark_of(marks: &[Value], user: &User) -> Option<i64> {
    marks
        .iter()
        .find(|m| m["uid"] == user.uid.as_str())
        .and_then(|m| m["seq"].as_i64())
}

#[test]
fn typing_and_receipts_reach_ext_connections_and_never_cookims_client() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let cat = register(addr, "catty").await?;
        let sid = create_group(addr, &ann, "extensions", true).await?;
        join_group(addr, &ben, &sid).await?;
        join_group(addr, &cat, &sid).await?;
        let mut a = Chat::open_ext(addr, &ann, &sid).await?;
        let mut b = Chat::open_ext(addr, &ben, &sid).await?;
        let mut c = Chat::open(addr, &cat, &sid).await?;

        a.up("typing", json!({})).await?;
        let typing = b.ws.next_of("typing").await?;
        assert_eq!(
            (&typing["uid"], &typing["nickname"]),
            (&Value::from(ann.uid.as_str()), &Value::from("annie"))
        );
        assert!(typing["dateline"].is_string());

        a.say("hello").await?;
        let hello = b.expect_text("hello").await?;
        let seq = hello.json["seq"].as_i64().expect("ext connections resume");
        b.up("read", json!({ "seq": seq })).await?;
        let read = a.ws.next_of("read").await?;
        assert_eq!(read, json!({"msgType": "read", "uid": ben.uid, "seq": seq}));

        // The same marks through the API: getReadMarks, and listMessages with withSeq=1.
        let (last, all) = marks(addr, &ann, &sid).await?;
        assert_eq!(last, seq);
        assert_eq!(mark_of(&all, &ben), Some(seq));
        let page = api_ok(
            addr,
            "listMessages",
            &[
                ("userToken", &ann.token),
                ("sessionid", &sid),
                ("withSeq", "1"),
            ],
        )
        .await?;
        assert_eq!(
            mark_of(page["readMarks"].as_array().unwrap(), &ben),
            Some(seq)
        );
        let plain = api_ok(
            addr,
            "listMessages",
            &[("userToken", &cat.token), ("sessionid", &sid)],
        )
        .await?;
        assert!(
            plain.get("readMarks").is_none(),
            "CookIM's answer is as it was"
        );

        // CookIM's client saw the texts and nothing of the extensions, before or after.
        c.expect_text_and_no_extension("hello").await?;
        a.up("typing", json!({})).await?;
        a.say("marker").await?;
        c.expect_text_and_no_extension("marker").await?;
        for user in [&ben, &cat] {
            assert_eq!(new_count(addr, user, &sid).await?, 0, "watching: all read");
        }
        Ok(())
    })
}

#[test]
fn unread_counts_follow_read_marks_and_bad_marks_are_refused() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let dan = register(addr, "danny").await?;
        let eve = register(addr, "evie").await?;
        let sid = create_group(addr, &ann, "counts", true).await?;
        join_group(addr, &dan, &sid).await?;
        let mut a = Chat::open_ext(addr, &ann, &sid).await?;
        for text in ["one", "two", "three"] {
            a.say(text).await?;
            a.expect_text(text).await?;
        }
        // Dan is away: his own join and three texts unread, his mark four behind the last.
        assert_eq!(new_count(addr, &dan, &sid).await?, 4);
        let (last, all) = marks(addr, &ann, &sid).await?;
        assert_eq!(mark_of(&all, &dan), Some(last - 4));
        assert_eq!(mark_of(&all, &ann), Some(last), "the sender watches");

        // Dan reads all but one from our client: one left, and Ann hears of it.
        let mut d = Chat::open_ext(addr, &dan, &sid).await?;
        d.up("read", json!({ "seq": last - 1 })).await?;
        let read = a.ws.next_of("read").await?;
        assert_eq!(read["seq"], last - 1, "{read}");
        // Watching does not move a mark by itself until a message arrives or he reads.
        assert_eq!(new_count(addr, &dan, &sid).await?, 1);
        // A mark never moves back, and never past the last message.
        d.up("read", json!({ "seq": 1 })).await?;
        d.up("read", json!({ "seq": last + 100 })).await?;
        let read = a.ws.next_of("read").await?;
        assert_eq!(read["seq"], last, "clamped to the last message");
        assert_eq!(new_count(addr, &dan, &sid).await?, 0);

        // Bad marks get a reject; strangers get no marks.
        d.up("read", json!({})).await?;
        let reject = d.ws.next_of("reject").await?;
        assert!(
            reject["content"].as_str().unwrap().contains("seq"),
            "{reject}"
        );
        let answer = api(
            addr,
            "getReadMarks",
            &[("userToken", &eve.token), ("sessionid", &sid)],
        )
        .await?;
        assert!(!errmsg(&answer).is_empty(), "{answer}");
        Ok(())
    })
}

#[test]
fn search_finds_the_callers_messages_newest_first_with_snippets_and_pages() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let eve = register(addr, "evie").await?;
        let sid = create_group(addr, &ann, "searchable", true).await?;
        join_group(addr, &ben, &sid).await?;
        let mut a = Chat::open_ext(addr, &ann, &sid).await?;
        for text in [
            "Rendez-vous au Café de Flore",
            "le café est bon",
            "東京都で会いましょう",
        ] {
            a.say(text).await?;
            a.expect_text(text).await?;
        }
        let find = |user: &User, q: &str, before: &str| {
            let (token, q, before, sid) = (
                user.token.clone(),
                q.to_owned(),
                before.to_owned(),
                sid.clone(),
            );
            async move {
                api(
                    addr,
                    "searchMessages",
                    &[
                        ("userToken", &token),
                        ("q", &q),
                        ("count", "1"),
                        ("before", &before),
                        ("sessionid", if q == "東京" { &sid } else { "" }),
                    ],
                )
                .await
            }
        };
        let first = find(&ben, "cafe", "").await?;
        assert_eq!(errmsg(&first), "", "{first}");
        let hit = &first["results"][0];
        assert_eq!(hit["snippet"], "le café est bon");
        assert_eq!(hit["highlights"], json!([[3, 7]]));
        assert_eq!(
            (&hit["sessionid"], &hit["sessionName"]),
            (&Value::from(sid.as_str()), &Value::from("searchable"))
        );
        assert_eq!(hit["nickname"], "annie");
        assert!(hit["seq"].as_i64().unwrap() > 0);
        let next = first["next"].as_str().unwrap().to_owned();
        assert!(!next.is_empty(), "a full page has a next");
        let second = find(&ben, "cafe", &next).await?;
        assert_eq!(
            second["results"][0]["snippet"],
            "Rendez-vous au Café de Flore"
        );
        let cjk = find(&ben, "東京", "").await?;
        assert_eq!(cjk["results"][0]["snippet"], "東京都で会いましょう");
        // Not a member: nothing. No word, or a bad cursor: an errmsg.
        assert_eq!(find(&eve, "cafe", "").await?["results"], json!([]));
        assert!(!errmsg(&find(&ben, "!!", "").await?).is_empty());
        assert!(!errmsg(&find(&ben, "cafe", "nonsense").await?).is_empty());
        Ok(())
    })
}

#[test]
fn a_user_who_hides_receipts_has_a_mark_nobody_else_sees() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let dan = register(addr, "danny").await?;
        let sid = create_group(addr, &ann, "private eyes", true).await?;
        join_group(addr, &ben, &sid).await?;
        join_group(addr, &dan, &sid).await?;
        let hidden = support::http::api_multipart(
            addr,
            "updateUser",
            &[("userToken", &ben.token), ("hideReceipts", "1")],
            None,
        )
        .await?;
        assert_eq!(errmsg(&hidden), "", "{hidden}");
        let info = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &ben.token), ("uid", &ben.uid)],
        )
        .await?;
        assert_eq!(info["userInfo"]["hideReceipts"], true);
        let seen_by_ann = api_ok(
            addr,
            "getUserInfo",
            &[("userToken", &ann.token), ("uid", &ben.uid)],
        )
        .await?;
        assert!(
            seen_by_ann["userInfo"].get("hideReceipts").is_none(),
            "only in one's own record"
        );

        let mut a = Chat::open_ext(addr, &ann, &sid).await?;
        let mut b = Chat::open_ext(addr, &ben, &sid).await?;
        let mut d = Chat::open_ext(addr, &dan, &sid).await?;
        a.say("who reads this?").await?;
        let seq = b.expect_text("who reads this?").await?.json["seq"]
            .as_i64()
            .unwrap();
        d.expect_text("who reads this?").await?;
        b.up("read", json!({ "seq": seq })).await?;
        // Ben's mark is stored (he sees it himself) ...
        support::until("ben's own mark", || async {
            Ok(mark_of(&marks(addr, &ben, &sid).await?.1, &ben) == Some(seq))
        })
        .await?;
        // ... but nobody else sees it, live or through the API; Dan's receipt comes first.
        d.up("read", json!({ "seq": seq })).await?;
        let read = a.ws.next_of("read").await?;
        assert_eq!(read["uid"], dan.uid.as_str(), "{read}");
        assert_eq!(mark_of(&marks(addr, &ann, &sid).await?.1, &ben), None);
        assert_eq!(mark_of(&marks(addr, &ann, &sid).await?.1, &dan), Some(seq));
        // He still sees the others'.
        let read = b.ws.next_of("read").await?;
        assert_eq!(read["uid"], dan.uid.as_str());
        // A bad value is refused.
        let bad = support::http::api_multipart(
            addr,
            "updateUser",
            &[("userToken", &ben.token), ("hideReceipts", "maybe")],
            None,
        )
        .await?;
        assert!(!errmsg(&bad).is_empty());
        Ok(())
    })
}

#[test]
fn replies_carry_what_they_answer_to_ext_connections_and_history() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let ben = register(addr, "benny").await?;
        let cat = register(addr, "catty").await?;
        let sid = create_group(addr, &ann, "threads", true).await?;
        join_group(addr, &ben, &sid).await?;
        join_group(addr, &cat, &sid).await?;
        let mut a = Chat::open_ext(addr, &ann, &sid).await?;
        let mut b = Chat::open_ext(addr, &ben, &sid).await?;
        let mut c = Chat::open(addr, &cat, &sid).await?;
        a.say("shall we meet at noon?").await?;
        let asked = b.expect_text("shall we meet at noon?").await?.json["seq"]
            .as_i64()
            .unwrap();
        b.up("text", json!({ "content": "yes, noon", "replyTo": asked }))
            .await?;
        let answer = a.expect_text("yes, noon").await?;
        assert_eq!(answer.json["replyTo"], asked);
        assert_eq!(
            answer.json["replyPreview"],
            json!({ "uid": ann.uid, "nickname": "annie", "content": "shall we meet at noon?" })
        );
        // CookIM's client gets the text as before: ten fields, no reply.
        let plain = c.expect_text_and_no_extension("yes, noon").await?;
        assert!(plain.json.get("replyTo").is_none(), "{}", plain.raw);

        // History with withSeq, and a resume, carry it; plain history does not.
        let page = api_ok(
            addr,
            "listMessages",
            &[
                ("userToken", &cat.token),
                ("sessionid", &sid),
                ("withSeq", "1"),
            ],
        )
        .await?;
        let last = page["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (&last["replyTo"], &last["replyPreview"]["content"]),
            (&json!(asked), &json!("shall we meet at noon?"))
        );
        let plain = api_ok(
            addr,
            "listMessages",
            &[("userToken", &cat.token), ("sessionid", &sid)],
        )
        .await?;
        assert!(
            plain["messages"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .get("replyTo")
                .is_none()
        );
        let mut resumed = Chat::open_after(addr, &cat, &sid, asked).await?;
        let again = resumed.expect_text("yes, noon").await?;
        assert_eq!(again.json["replyTo"], asked);

        // An upload can answer too (`replyTo` in its header).
        let header = protocol::binary::BinaryHeader {
            user_token: ben.token.clone(),
            session_token: b.session_token.clone(),
            msg_type: "file".to_owned(),
            file_name: Some("noon.txt".to_owned()),
            file_size: 4,
            file_type: "text/plain".to_owned(),
            reply_to: Some(asked),
        };
        b.ws.send_binary(protocol::binary::encode(&header, b"noon"))
            .await?;
        let file = a.expect_file("the reply upload").await?;
        assert_eq!(file.json["replyTo"], asked);
        assert_eq!(
            file.json["replyPreview"]["content"],
            "shall we meet at noon?"
        );

        // A reply to nothing is refused.
        b.up(
            "text",
            json!({ "content": "to the void", "replyTo": 9_999 }),
        )
        .await?;
        let reject = b.ws.next_of("reject").await?;
        assert!(
            reject["content"].as_str().unwrap().contains("reply"),
            "{reject}"
        );
        Ok(())
    })
}

#[test]
fn searches_are_limited_per_user() -> Result {
    let server = TestServer::start_with(|config| {
        config.limits.searches =
            cookim_web::limits::Rate::every(2, std::time::Duration::from_secs(60));
    })?;
    let addr = server.addr();
    server.block_on(async move {
        let ann = register(addr, "annie").await?;
        let fields = [("userToken", ann.token.as_str()), ("q", "hello")];
        for _ in 0..2 {
            assert_eq!(errmsg(&api(addr, "searchMessages", &fields).await?), "");
        }
        let refused = api(addr, "searchMessages", &fields).await?;
        assert!(errmsg(&refused).contains("too many searches"), "{refused}");
        Ok(())
    })
}
