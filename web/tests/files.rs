//! File, image and voice messages (§7, §8.4, §6.6; issue 4): uploads over `/ws-chat` reach
//! every member (the sender's echo included) once stored, images get a thumbnail that fits
//! 200x200, and `getFile` serves the exact bytes with the right headers, ranges and ETag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use futures_lite::future;
use serde_json::Value;
use support::files::{assert_serves, file_ids, file_meta, get_file, is_file_id};
use support::fixtures::{
    User, create_group, gif, history, image_size, join_group, jpeg, list_sessions, noise, png,
    register, wav,
};
use support::http::get_with;
use support::ws::{Chat, Ws, subscribe_push, upload_frame};
use support::{Result, TestServer, fail};

/// A group of three: ann and ben online in its chat, cat a member who is not in the chat but
/// has the chat list open (a `/ws-push`).
struct Room {
    a: Chat,
    b: Chat,
    cat: User,
    push: Ws,
    sid: String,
}

async fn room(addr: SocketAddr) -> Result<Room> {
    let ann = register(addr, "annie").await?;
    let ben = register(addr, "benny").await?;
    let cat = register(addr, "cathy").await?;
    let sid = create_group(addr, &ann, "Shared files", true).await?;
    join_group(addr, &ben, &sid).await?;
    join_group(addr, &cat, &sid).await?;
    let (push, _) = subscribe_push(addr, &cat).await?;
    let a = Chat::open(addr, &ann, &sid).await?;
    let b = Chat::open(addr, &ben, &sid).await?;
    Ok(Room {
        a,
        b,
        cat,
        push,
        sid,
    })
}

/// The upload as both chat members receive it (the sender's echo included); both must carry
/// the same ids. Returns `(fileid, thumbid)`.
async fn received_by_both(
    room: &mut Room,
    name: &str,
    file_type: &str,
) -> Result<(String, String)> {
    let sender = room.a.user.clone();
    let mut seen = Vec::new();
    for chat in [&mut room.a, &mut room.b] {
        let frame = chat.expect_file(&format!("the upload of {name:?}")).await?;
        seen.push(file_ids(&frame, &sender, name, file_type)?);
    }
    assert_eq!(seen[0], seen[1], "both members see the same stored file");
    Ok(seen.swap_remove(0))
}

/// The next `file` push on `push`, with its `fileInfo.fileThumb` checked.
async fn file_push(push: &mut Ws, sid: &str, fileid: &str, file_thumb: &str) -> Result {
    let v = push
        .next_json_where("the file push", |v| v["msgType"] == "file")
        .await?;
    assert_eq!(
        (&v["sessionid"], &v["fileid"], &v["content"]),
        (&Value::from(sid), &Value::from(fileid), &Value::from("")),
        "{v}"
    );
    assert_eq!(v["fileInfo"]["fileThumb"], file_thumb, "{v}");
    Ok(())
}

/// The last-message preview of `sid` in `user`'s joined list.
async fn preview(addr: SocketAddr, user: &User, sid: &str) -> Result<Value> {
    let sessions = list_sessions(addr, user, false).await?;
    match sessions.iter().find(|s| s["sessionid"] == sid) {
        Some(session) => Ok(session["message"].clone()),
        None => fail(format!("{sid} is not in {}'s list", user.nickname)),
    }
}

#[test]
fn a_random_file_reaches_every_member_and_getfile_byte_for_byte() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let bytes = noise(100 * 1024, 1);
        room.a
            .upload(Some("report.pdf"), "application/pdf", &bytes)
            .await?;
        let (fileid, thumbid) =
            received_by_both(&mut room, "report.pdf", "application/pdf").await?;
        assert_eq!(thumbid, "", "no thumbnail for a PDF");

        let reply = get_file(addr, &fileid).await?;
        assert_serves(
            &reply,
            &bytes,
            "application/octet-stream",
            "attachment; filename=\"report.pdf\"",
        )?;
        let meta = file_meta(addr, &fileid).await?;
        assert_eq!(
            (
                &meta["errmsg"],
                &meta["fileName"],
                &meta["fileType"],
                &meta["fileSize"]
            ),
            (
                &Value::from(""),
                &Value::from("report.pdf"),
                &Value::from("application/pdf"),
                &Value::from(102_400)
            ),
            "{meta}"
        );

        file_push(&mut room.push, &room.sid, &fileid, "/").await?;
        let last = preview(addr, &room.cat, &room.sid).await?;
        assert_eq!(
            (&last["msgType"], &last["content"]),
            (&Value::from("file"), &Value::from("send a [FILE]")),
            "{last}"
        );

        let stored = history(addr, &room.a.user, &room.sid, 1, 50).await?;
        let Some(message) = stored.last() else {
            return fail("no history");
        };
        assert_eq!(
            (
                &message["msgType"],
                &message["fileid"],
                &message["thumbid"],
                &message["fileName"],
                &message["fileType"]
            ),
            (
                &Value::from("file"),
                &Value::from(fileid.as_str()),
                &Value::from(""),
                &Value::from("report.pdf"),
                &Value::from("application/pdf")
            ),
            "{message}"
        );
        Ok(())
    })
}

#[test]
fn png_and_jpeg_get_thumbnails_that_fit_200x200() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let pictures = [
            ("photo.png", "image/png", png(640, 480), (200, 150)),
            ("tall.jpg", "image/jpeg", jpeg(300, 600), (100, 200)),
        ];
        for (name, file_type, bytes, thumb_size) in pictures {
            room.a.upload(Some(name), file_type, &bytes).await?;
            let (fileid, thumbid) = received_by_both(&mut room, name, file_type).await?;
            assert!(
                is_file_id(&thumbid) && thumbid != fileid,
                "{name}: thumbid {thumbid:?}"
            );

            let thumb = get_file(addr, &thumbid).await?;
            assert_eq!(thumb.header("Content-Type"), Some("image/png"), "{name}");
            assert_eq!(
                image_size(&thumb.body)?,
                thumb_size,
                "{name}: thumbnail keeps the aspect"
            );
            let meta = file_meta(addr, &thumbid).await?;
            assert_eq!(meta["fileName"], format!("{name}.thumb.png"), "{meta}");

            let original = get_file(addr, &fileid).await?;
            assert_serves(
                &original,
                &bytes,
                file_type,
                &format!("inline; filename=\"{name}\""),
            )?;

            file_push(
                &mut room.push,
                &room.sid,
                &fileid,
                &format!("/api/getFile?id={thumbid}"),
            )
            .await?;
            let last = preview(addr, &room.cat, &room.sid).await?;
            assert_eq!(last["content"], "send a [PHOTO]", "{last}");
        }
        Ok(())
    })
}

#[test]
fn a_gif_gets_a_thumbnail_and_a_wav_voice_message_plays_back() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let animation = gif(400, 200);
        room.a
            .upload(Some("wave.gif"), "image/gif", &animation)
            .await?;
        let (fileid, thumbid) = received_by_both(&mut room, "wave.gif", "image/gif").await?;
        assert!(is_file_id(&thumbid), "thumbid {thumbid:?}");
        assert_eq!(
            image_size(&get_file(addr, &thumbid).await?.body)?,
            (200, 100)
        );
        assert_serves(
            &get_file(addr, &fileid).await?,
            &animation,
            "image/gif",
            "inline; filename=\"wave.gif\"",
        )?;
        let thumb_url = format!("/api/getFile?id={thumbid}");
        file_push(&mut room.push, &room.sid, &fileid, &thumb_url).await?;

        // A voice message: the recorded blob has no name, so the header has no fileName.
        let voice = wav(1_000);
        let frame = upload_frame(
            &room.a.user.token,
            &room.a.session_token,
            None,
            "audio/wav",
            &voice,
        );
        let marker = frame
            .windows(14)
            .position(|w| w == b"<#BinaryInfo#>")
            .unwrap_or(0);
        assert!(!String::from_utf8_lossy(&frame[..marker]).contains("fileName"));
        room.a.ws.send_binary(frame).await?;
        let (fileid, thumbid) = received_by_both(&mut room, "", "audio/wav").await?;
        assert_eq!(thumbid, "", "a thumbnail would hide the audio player");
        let reply = get_file(addr, &fileid).await?;
        assert_serves(&reply, &voice, "audio/wav", "attachment; filename=\"\"")?;
        assert_eq!(file_meta(addr, &fileid).await?["fileName"], "");
        // The player seeks with ranges.
        let tail = get_with(
            addr,
            &format!("/api/getFile?id={fileid}"),
            &[("Range", "bytes=44-")],
        )
        .await?;
        assert_eq!((tail.status, tail.body.as_slice()), (206, &voice[44..]));

        file_push(&mut room.push, &room.sid, &fileid, "/").await?;
        Ok(())
    })
}

#[test]
fn two_users_upload_at_once_and_both_files_arrive_intact() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let (ann, ben) = (room.a.user.clone(), room.b.user.clone());
        let one = noise(200 * 1024, 11);
        let two = noise(200 * 1024, 12);
        let kind = "application/octet-stream";
        let (sent_a, sent_b) = future::zip(
            room.a.upload(Some("one.bin"), kind, &one),
            room.b.upload(Some("two.bin"), kind, &two),
        )
        .await;
        sent_a?;
        sent_b?;

        let mut orders = Vec::new();
        for chat in [&mut room.a, &mut room.b] {
            let mut got = Vec::new();
            for _ in 0..2 {
                let frame = chat.expect_file("both uploads").await?;
                let (from, name, bytes) = if frame.json["uid"] == ann.uid.as_str() {
                    (&ann, "one.bin", &one)
                } else {
                    (&ben, "two.bin", &two)
                };
                let (fileid, _) = file_ids(&frame, from, name, kind)?;
                assert_serves(
                    &get_file(addr, &fileid).await?,
                    bytes,
                    kind,
                    "attachment; filename=",
                )?;
                got.push(fileid);
            }
            orders.push(got);
        }
        assert_eq!(
            orders[0], orders[1],
            "both members see the uploads in one order"
        );
        assert_ne!(orders[0][0], orders[0][1]);
        Ok(())
    })
}

#[test]
fn range_requests_return_exact_slices() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let bytes = noise(100 * 1024, 2);
        room.a
            .upload(Some("data.bin"), "application/octet-stream", &bytes)
            .await?;
        let (fileid, _) =
            received_by_both(&mut room, "data.bin", "application/octet-stream").await?;
        let path = format!("/api/getFile?id={fileid}");
        let whole = get_file(addr, &fileid).await?;
        assert_eq!(whole.header("Accept-Ranges"), Some("bytes"));

        let cases = [
            ("bytes=0-99", "bytes 0-99/102400", &bytes[..100]),
            ("bytes=1000-", "bytes 1000-102399/102400", &bytes[1000..]),
            (
                "bytes=-500",
                "bytes 101900-102399/102400",
                &bytes[102_400 - 500..],
            ),
        ];
        for (range, content_range, slice) in cases {
            let part = get_with(addr, &path, &[("Range", range)]).await?;
            assert_eq!(part.status, 206, "{range}: {:?}", part.headers);
            assert_eq!(part.header("Content-Range"), Some(content_range), "{range}");
            let length = slice.len().to_string();
            assert_eq!(
                part.header("Content-Length"),
                Some(length.as_str()),
                "{range}"
            );
            assert!(
                part.body == slice,
                "{range}: {} bytes that differ from the slice",
                part.body.len()
            );
        }

        let beyond = get_with(addr, &path, &[("Range", "bytes=999999-")]).await?;
        assert_eq!(beyond.status, 416, "{beyond:?}");
        assert_eq!(beyond.header("Content-Range"), Some("bytes */102400"));

        let etag = whole.header("ETag").unwrap_or_default().to_owned();
        let cached = get_with(addr, &path, &[("If-None-Match", &etag)]).await?;
        assert_eq!((cached.status, cached.body.len()), (304, 0), "{cached:?}");
        let stale = get_with(addr, &path, &[("If-None-Match", "\"something-else\"")]).await?;
        assert!(
            stale.status == 200 && stale.body == bytes,
            "a stale ETag gets the file"
        );
        Ok(())
    })
}

#[test]
fn identical_bytes_uploaded_twice_get_two_file_ids() -> Result {
    let server = TestServer::start()?;
    let addr = server.addr();
    server.block_on(async move {
        let mut room = room(addr).await?;
        let bytes = noise(30 * 1024, 5);
        let kind = "application/octet-stream";
        let mut ids = Vec::new();
        for name in ["first.bin", "again.bin"] {
            room.a.upload(Some(name), kind, &bytes).await?;
            let (fileid, _) = received_by_both(&mut room, name, kind).await?;
            ids.push((fileid, name));
        }
        assert_ne!(ids[0].0, ids[1].0, "each upload is its own file");
        for (fileid, name) in ids {
            let disposition = format!("attachment; filename=\"{name}\"");
            assert_serves(&get_file(addr, &fileid).await?, &bytes, kind, &disposition)?;
        }
        Ok(())
    })
}
