//! Fixtures: users, groups and sessions made through the API, answers read from JSON, and
//! pictures made in memory.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::http::{FilePart, api, api_multipart, api_ok, get};
use super::{PASSWORD, Result, fail};

/// A registered user.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) uid: String,
    pub(crate) token: String,
    pub(crate) nickname: String,
    pub(crate) login: String,
}

/// A login no other test user has.
pub(crate) fn unique_login(nickname: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{nickname}.{}@example.test",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Registers a boy named `nickname` (at least 4 bytes) with [`PASSWORD`].
pub(crate) async fn register(addr: SocketAddr, nickname: &str) -> Result<User> {
    register_as(addr, nickname, 1).await
}

/// Registers a user with this gender (1 boy, 2 girl).
pub(crate) async fn register_as(addr: SocketAddr, nickname: &str, gender: u8) -> Result<User> {
    let login = unique_login(nickname);
    let gender = gender.to_string();
    let answer = api_ok(
        addr,
        "registerUser",
        &[
            ("login", &login),
            ("nickname", nickname),
            ("password", PASSWORD),
            ("repassword", PASSWORD),
            ("gender", &gender),
        ],
    )
    .await?;
    Ok(User {
        uid: str_of(&answer, "uid")?,
        token: str_of(&answer, "userToken")?,
        nickname: nickname.to_owned(),
        login,
    })
}

/// A string field of a JSON object, failing if it is missing.
pub(crate) fn str_of(value: &Value, field: &str) -> Result<String> {
    match value.get(field).and_then(Value::as_str) {
        Some(s) => Ok(s.to_owned()),
        None => fail(format!("no string {field:?} in {value}")),
    }
}

/// The `errmsg` of an answer.
pub(crate) fn errmsg(value: &Value) -> String {
    value
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("<no errmsg>")
        .to_owned()
}

/// Creates a group with a PNG icon; its id.
pub(crate) async fn create_group(
    addr: SocketAddr,
    owner: &User,
    name: &str,
    public: bool,
) -> Result<String> {
    let icon = png(64, 64);
    let answer = api_multipart(
        addr,
        "createGroupSession",
        &[
            ("userToken", &owner.token),
            ("sessionName", name),
            ("publicType", if public { "1" } else { "0" }),
        ],
        Some(FilePart {
            field: "sessionIcon",
            file_name: "icon.png",
            content_type: "image/png",
            bytes: &icon,
        }),
    )
    .await?;
    if !errmsg(&answer).is_empty() {
        return fail(format!("createGroupSession failed: {answer}"));
    }
    str_of(&answer, "sessionid")
}

/// Joins a public group; the session token.
pub(crate) async fn join_group(addr: SocketAddr, user: &User, sid: &str) -> Result<String> {
    let answer = api_ok(
        addr,
        "joinGroupSession",
        &[("userToken", &user.token), ("sessionid", sid)],
    )
    .await?;
    str_of(&answer, "sessionToken")
}

/// One page of history as `user` sees it (which also resets `user`'s unread count).
pub(crate) async fn history(
    addr: SocketAddr,
    user: &User,
    sid: &str,
    page: u32,
    count: u32,
) -> Result<Vec<Value>> {
    let (page, count) = (page.to_string(), count.to_string());
    let answer = api_ok(
        addr,
        "listMessages",
        &[
            ("userToken", &user.token),
            ("sessionid", sid),
            ("page", &page),
            ("count", &count),
        ],
    )
    .await?;
    match answer.get("messages").and_then(Value::as_array) {
        Some(messages) => Ok(messages.clone()),
        None => fail(format!("listMessages has no messages array: {answer}")),
    }
}

/// The texts of a chat's history (its first 500 messages), oldest first.
pub(crate) async fn history_texts(addr: SocketAddr, user: &User, sid: &str) -> Result<Vec<String>> {
    Ok(history(addr, user, sid, 1, 500)
        .await?
        .iter()
        .filter(|m| m["msgType"] == "text")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect())
}

/// `user`'s unread count for `sid` in the sidebar list (`listJoinedSessions`).
pub(crate) async fn new_count(addr: SocketAddr, user: &User, sid: &str) -> Result<i64> {
    let answer = api_ok(addr, "listJoinedSessions", &[("userToken", &user.token)]).await?;
    let sessions = answer
        .get("sessions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match sessions.iter().find(|s| s["sessionid"] == sid) {
        Some(session) => session["newCount"]
            .as_i64()
            .map_or_else(|| fail(format!("no newCount in {session}")), Ok),
        None => fail(format!(
            "{sid} is not in {}'s joined sessions: {answer}",
            user.nickname
        )),
    }
}

/// The session ids of a `listSessions` answer.
pub(crate) async fn list_sessions(
    addr: SocketAddr,
    user: &User,
    public: bool,
) -> Result<Vec<Value>> {
    let answer = api_ok(
        addr,
        "listSessions",
        &[
            ("userToken", &user.token),
            ("isPublic", if public { "1" } else { "0" }),
        ],
    )
    .await?;
    Ok(answer
        .get("sessions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Whether a list of sessions holds `sid`.
pub(crate) fn holds(sessions: &[Value], sid: &str) -> bool {
    sessions.iter().any(|s| s["sessionid"] == sid)
}

/// Proves the server still serves a new client: `/ping`, a registration, and an
/// authenticated call with the new token.
pub(crate) async fn assert_serving(addr: SocketAddr) -> Result {
    let pong = get(addr, "/ping").await?;
    if (pong.status, pong.text().as_str()) != (200, "pong") {
        return fail(format!("/ping answered {pong:?}"));
    }
    let user = register(addr, "canary").await?;
    let who = api(addr, "verifyUserToken", &[("userToken", &user.token)]).await?;
    if who["uid"] != user.uid.as_str() {
        return fail(format!("verifyUserToken after registering answered {who}"));
    }
    Ok(())
}

/// Whether `text` is a `timestr`: `MM-dd HH:mm:ss` with plausible ranges.
pub(crate) fn is_timestr(text: &str) -> bool {
    let b = text.as_bytes();
    let num = |i: usize| -> Option<u32> {
        let pair = b.get(i..i + 2)?;
        pair.iter()
            .all(u8::is_ascii_digit)
            .then(|| u32::from(pair[0] - b'0') * 10 + u32::from(pair[1] - b'0'))
    };
    b.len() == 14
        && b.get(2) == Some(&b'-')
        && b.get(5) == Some(&b' ')
        && b.get(8) == Some(&b':')
        && b.get(11) == Some(&b':')
        && num(0).is_some_and(|m| (1..=12).contains(&m))
        && num(3).is_some_and(|d| (1..=31).contains(&d))
        && num(6).is_some_and(|h| h < 24)
        && num(9).is_some_and(|m| m < 60)
        && num(12).is_some_and(|s| s < 60)
}

/// A `width`x`height` PNG with a gradient, built in memory.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    });
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory RGBA image as PNG cannot fail short of running out of memory.
    image::DynamicImage::ImageRgba8(picture)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap_or_default();
    out.into_inner()
}

/// Decodes PNG bytes; their dimensions.
pub(crate) fn png_size(bytes: &[u8]) -> Result<(u32, u32)> {
    let picture = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?;
    Ok((picture.width(), picture.height()))
}

/// `len` pseudo-random bytes from `seed` (xorshift64*): incompressible, different per seed,
/// and the same on every run.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A `width`x`height` gradient picture encoded as `format`.
fn picture(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory RGB image cannot fail short of running out of memory; an empty
    // result would fail the test that uses it.
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, format)
        .unwrap_or_default();
    out.into_inner()
}

/// A `width`x`height` JPEG, built in memory.
pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    picture(width, height, image::ImageFormat::Jpeg)
}

/// A `width`x`height` GIF (one frame), built in memory.
pub(crate) fn gif(width: u32, height: u32) -> Vec<u8> {
    picture(width, height, image::ImageFormat::Gif)
}

/// A mono 16-bit 8 kHz WAV of `samples` samples (a square wave), as a browser records voice.
pub(crate) fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    out.extend_from_slice(&16_000u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let sample: i16 = if i / 20 % 2 == 0 { 8000 } else { -8000 };
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// Decodes an image of any supported format; its dimensions.
pub(crate) fn image_size(bytes: &[u8]) -> Result<(u32, u32)> {
    let picture = image::load_from_memory(bytes)?;
    Ok((picture.width(), picture.height()))
}
