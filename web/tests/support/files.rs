//! Helpers for uploads and served files: checking `file` messages, fetching and checking
//! `getFile` answers, pictures that lie about their size, and this process's memory.

use std::net::SocketAddr;

use serde_json::Value;

use super::fixtures::{User, png, str_of};
use super::http::{Reply, get};
use super::ws::{Frame, keys_in_order};
use super::{Result, fail};

/// The ten fields of a `/ws-chat` down message, in the spec's order (§8.5).
pub(crate) const CHAT_FIELDS: [&str; 10] = [
    "uid", "nickname", "avatar", "msgType", "content", "fileName", "fileType", "fileid", "thumbid",
    "dateline",
];

/// Whether `id` looks like a file id: 32 lowercase hex digits.
pub(crate) fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a `file` message from `from` with this name and type: the ten fields in order, an
/// empty `content`, a valid `fileid`. Returns `(fileid, thumbid)`.
pub(crate) fn file_ids(
    frame: &Frame,
    from: &User,
    name: &str,
    file_type: &str,
) -> Result<(String, String)> {
    if keys_in_order(&frame.raw)? != CHAT_FIELDS {
        return fail(format!("not the ten fields in order: {}", frame.raw));
    }
    let v = &frame.json;
    let expected = [
        ("msgType", "file"),
        ("uid", from.uid.as_str()),
        ("content", ""),
        ("fileName", name),
        ("fileType", file_type),
    ];
    for (field, value) in expected {
        if v[field] != value {
            return fail(format!("{field} should be {value:?} in {v}"));
        }
    }
    let fileid = str_of(v, "fileid")?;
    if !is_file_id(&fileid) {
        return fail(format!("fileid {fileid:?} is not 32 lowercase hex digits"));
    }
    Ok((fileid, str_of(v, "thumbid")?))
}

/// `getFile?id=`, failing unless 200 with the `nosniff` and `ETag` every file carries.
pub(crate) async fn get_file(addr: SocketAddr, id: &str) -> Result<Reply> {
    let reply = get(addr, &format!("/api/getFile?id={id}")).await?;
    let etag = reply.header("ETag").unwrap_or_default();
    if reply.status != 200
        || reply.header("X-Content-Type-Options") != Some("nosniff")
        || etag.is_empty()
    {
        return fail(format!("getFile?id={id} answered {reply:?}"));
    }
    Ok(reply)
}

/// Checks a served file: exactly `bytes` with their length, this `Content-Type`, and a
/// `Content-Disposition` starting with `disposition`.
pub(crate) fn assert_serves(
    reply: &Reply,
    bytes: &[u8],
    content_type: &str,
    disposition: &str,
) -> Result {
    if reply.body != bytes {
        return fail(format!(
            "served {} bytes that differ from the {} uploaded",
            reply.body.len(),
            bytes.len()
        ));
    }
    let length = bytes.len().to_string();
    let shown = reply.header("Content-Disposition").unwrap_or_default();
    if reply.header("Content-Length") != Some(length.as_str())
        || reply.header("Content-Type") != Some(content_type)
        || !shown.starts_with(disposition)
    {
        return fail(format!(
            "expected {content_type}, {length} bytes, {disposition:?}...: {:?}",
            reply.headers
        ));
    }
    Ok(())
}

/// `getFileMeta?id=` as JSON.
pub(crate) async fn file_meta(addr: SocketAddr, id: &str) -> Result<Value> {
    let reply = get(addr, &format!("/api/getFileMeta?id={id}")).await?;
    Ok(serde_json::from_slice(&reply.body)?)
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected, polynomial 0xEDB88320).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real 16x16 PNG whose IHDR claims `width`x`height`, with the chunk's CRC fixed up.
pub(crate) fn png_claiming(width: u32, height: u32) -> Result<Vec<u8>> {
    let mut bytes = png(16, 16);
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, 5 more bytes, then the CRC
    // of everything from "IHDR" on.
    if bytes.get(12..16) != Some(b"IHDR".as_slice()) {
        return fail("the PNG does not start with IHDR");
    }
    let crc = |b: &[u8]| crc32(b.get(12..29).unwrap_or_default()).to_be_bytes();
    if bytes.get(29..33) != Some(crc(&bytes).as_slice()) {
        return fail("crc32 does not match the encoder's IHDR CRC");
    }
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let fixed = crc(&bytes);
    bytes[29..33].copy_from_slice(&fixed);
    Ok(bytes)
}

/// A `/proc/self/status` field in KiB (`VmRSS:`, `VmHWM:`). Test servers run in the test's
/// own process, so this is the server's memory too.
pub(crate) fn memory_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let value = status.lines().find_map(|line| {
        line.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    });
    value.map_or_else(|| fail(format!("no {field} in /proc/self/status")), Ok)
}
