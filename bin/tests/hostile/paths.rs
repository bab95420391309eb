//! Path tricks on static files and `getFile`: `..`, `%2e%2e` and double encoding, absolute
//! paths, NUL, backslashes, very long paths and ids. Each is a 4xx (or, for an oversize
//! request line, a closed connection) and never a file from outside.

use crate::servers::classic;
use crate::support::canary::chat_works;
use crate::support::net::{Ended, connect_from, next_source, wait_closed};
use crate::support::{Result, fail, run};

/// Sends `GET <target>` raw and checks the answer: a 4xx, or closed without an answer; never
/// `/etc/passwd` or the node's data.
async fn refused(target: &str, what: &str) -> Result {
    let node = classic()?;
    let stream = connect_from(next_source(), node.addr).await?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let Ended { received, .. } = wait_closed(stream, request.as_bytes()).await?;
    let text = String::from_utf8_lossy(&received);
    if text.contains("root:") || text.contains("SQLite format") || text.contains("jwt") {
        return fail(format!("{what} served a file from outside: {text}"));
    }
    let status: Option<u16> = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok());
    // An /api route refuses as the API does: HTTP 200 with a non-empty errmsg.
    let api_refusal = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok())
        .is_some_and(|v| v["errmsg"].as_str().is_some_and(|e| !e.is_empty()));
    match status {
        Some(400..=499) | None => {}
        Some(200) if api_refusal => {}
        Some(status) => return fail(format!("{what}: answered {status}: {text}")),
    }
    chat_works(node, what).await
}

#[test]
fn static_dot_dot_is_refused() -> Result {
    run(refused("/../../../../etc/passwd", "a static path with .."))
}

#[test]
fn static_encoded_dot_dot_is_refused() -> Result {
    run(refused(
        "/chat/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "a static path with %2e%2e",
    ))
}

#[test]
fn static_encoded_slashes_are_refused() -> Result {
    run(refused(
        "/chat/..%2f..%2f..%2fetc%2fpasswd",
        "a static path with ..%2f",
    ))
}

#[test]
fn static_double_encoded_dot_dot_is_refused() -> Result {
    run(refused(
        "/chat/%252e%252e/%252e%252e/etc/passwd",
        "a static path with %252e%252e",
    ))
}

#[test]
fn static_absolute_path_is_refused() -> Result {
    run(refused("//etc/passwd", "an absolute static path"))
}

#[test]
fn static_nul_byte_is_refused() -> Result {
    run(refused("/index.html%00.png", "a static path with NUL"))
}

#[test]
fn static_backslashes_are_refused() -> Result {
    run(refused(
        "/chat/..%5c..%5c..%5cetc%5cpasswd",
        "a static path with backslashes",
    ))
}

#[test]
fn a_very_long_static_path_is_refused() -> Result {
    run(refused(
        &format!("/{}", "a/".repeat(32 * 1024)),
        "a 64 KiB static path",
    ))
}

#[test]
fn get_file_with_dot_dot_is_refused() -> Result {
    run(refused(
        "/api/getFile?id=../../../../etc/passwd",
        "getFile with ..",
    ))
}

#[test]
fn get_file_with_encoded_dot_dot_and_data_files_is_refused() -> Result {
    run(refused(
        "/api/getFile?id=%2e%2e%2f%2e%2e%2fsecret",
        "getFile with %2e%2e",
    ))
}

#[test]
fn get_file_with_an_absolute_path_or_nul_is_refused() -> Result {
    run(async {
        refused(
            "/api/getFile?id=/etc/passwd",
            "getFile with an absolute path",
        )
        .await?;
        refused("/api/getFile?id=%00", "getFile with NUL").await?;
        refused(
            "/api/getFileMeta?id=..%5c..%5cetc%5cpasswd",
            "getFileMeta with backslashes",
        )
        .await
    })
}

#[test]
fn get_file_with_a_very_long_id_is_refused() -> Result {
    run(refused(
        &format!("/api/getFile?id={}", "0".repeat(100_000)),
        "getFile with a 100 KB id",
    ))
}
