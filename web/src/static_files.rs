//! Static routes (§4 of the spec): redirects, `/ping`, our own web client compiled into the
//! binary (served at `/`), or a web client folder under `/chat/` when `--www` is given.
//!
//! Our client (`web/client/`) is a table of files embedded with `include_bytes!`, so `cargo
//! build` alone yields a server with its client. Its pages carry a strict
//! Content-Security-Policy: the client has no inline scripts or styles. A `--www` folder
//! (CookIM's AngularJS client) is served exactly as before, without that policy, which it
//! could not follow.

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;
use std::time::UNIX_EPOCH;

use http_types::{Request, Response, StatusCode};

use crate::http;

/// The policy sent with every file of our client: nothing inline, nothing from elsewhere;
/// uploads are previewed from `blob:` URLs and images may be `data:` URLs.
const CLIENT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One file of our web client, compiled in.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../client/", $file)),
        }
    };
}

/// Every file of `web/client/` except its browser tests (`web/tests/client.rs` checks that
/// none is missing). Paths are relative in `index.html`, so the same folder also works when
/// served by `--www` while developing it.
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/icon.svg", "icon.svg", SVG),
    asset!("/css/app.css", "css/app.css", CSS),
    asset!("/js/app.js", "js/app.js", JS),
    asset!("/js/api.js", "js/api.js", JS),
    asset!("/js/state.js", "js/state.js", JS),
    asset!("/js/dom.js", "js/dom.js", JS),
    asset!("/js/time.js", "js/time.js", JS),
    asset!("/js/history.js", "js/history.js", JS),
    asset!("/js/chatsocket.js", "js/chatsocket.js", JS),
    asset!("/js/push.js", "js/push.js", JS),
    asset!("/js/voice.js", "js/voice.js", JS),
    asset!("/js/views/auth.js", "js/views/auth.js", JS),
    asset!("/js/views/lists.js", "js/views/lists.js", JS),
    asset!("/js/views/chat.js", "js/views/chat.js", JS),
    asset!("/js/views/people.js", "js/views/people.js", JS),
    asset!("/js/views/account.js", "js/views/account.js", JS),
    asset!("/js/views/dialogs.js", "js/views/dialogs.js", JS),
    asset!("/js/views/rows.js", "js/views/rows.js", JS),
    asset!("/js/views/search.js", "js/views/search.js", JS),
];

/// The ETag of each asset, in `ASSETS` order: a hash of its bytes, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| format!("\"{:016x}\"", fnv1a(asset.bytes)))
        .collect()
});

/// FNV-1a, 64 bits: enough to tell two versions of one file apart (not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Serves `GET /`, `/chat`, `/chat/...`, `/ping` and our client's files; `None` for other
/// paths.
pub(crate) async fn serve(req: &Request, www: Option<&Path>) -> Option<Response> {
    let path = req.url().path();
    if req.method() != http_types::Method::Get && req.method() != http_types::Method::Head {
        return None;
    }
    if path == "/ping" {
        let mut res = http::text(StatusCode::Ok, "pong");
        res.insert_header("X-MyObject-Id", "myobjid");
        res.insert_header("X-MyObject-Name", "myobjname");
        return Some(res);
    }
    let Some(www) = www else {
        return serve_client(req, path);
    };
    if path == "/" || path == "/chat" {
        return Some(http::redirect("chat/"));
    }
    let rest = path.strip_prefix("/chat/")?;
    let Some(relative) = safe_relative(rest) else {
        return Some(http::not_found());
    };
    let file = if relative.as_os_str().is_empty() {
        www.join("index.html")
    } else {
        www.join(relative)
    };
    Some(send_file(req, file).await)
}

/// Our compiled-in client, at `/` and also under `/chat/` (the URL CookIM printed, and old
/// bookmarks; a redirect there could loop with the permanent `/` -> `chat/` redirect a browser
/// may remember from a `--www` run). Asset paths in `index.html` are relative, so both work.
fn serve_client(req: &Request, path: &str) -> Option<Response> {
    if path == "/chat" {
        let mut res = Response::new(StatusCode::TemporaryRedirect);
        res.insert_header("Location", "chat/");
        return Some(res);
    }
    let path = path.strip_prefix("/chat").unwrap_or(path);
    let index = ASSETS.iter().position(|asset| asset.path == path)?;
    let asset = ASSETS.get(index)?;
    let etag = ETAGS.get(index)?.clone();
    if req
        .header("If-None-Match")
        .is_some_and(|h| h.as_str() == etag)
    {
        let mut res = Response::new(StatusCode::NotModified);
        res.insert_header("ETag", etag);
        res.insert_header("Cache-Control", "no-cache");
        return Some(secure(res));
    }
    let mut res = Response::new(StatusCode::Ok);
    res.insert_header("Content-Type", asset.content_type);
    res.insert_header("ETag", etag);
    // Paths carry no version, so browsers revalidate (a cheap 304) instead of keeping a stale
    // copy after an upgrade.
    res.insert_header("Cache-Control", "no-cache");
    res.set_body(asset.bytes);
    Some(secure(res))
}

/// Decodes a URL path below `/chat/` into a relative path that cannot leave the folder:
/// `..`, absolute paths, backslashes and NUL are refused in any encoding.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rest)?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return None;
    }
    let path = Path::new(&decoded);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("eot") => "application/vnd.ms-fontobject",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

async fn send_file(req: &Request, file: PathBuf) -> Response {
    let read = blocking::unblock(move || {
        let meta = std::fs::metadata(&file)?;
        if !meta.is_file() {
            return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        std::fs::read(&file).map(|bytes| (file, bytes, modified.unwrap_or(0)))
    })
    .await;
    let Ok((file, bytes, modified)) = read else {
        return http::not_found();
    };
    let etag = format!("\"{:x}-{:x}\"", bytes.len(), modified);
    if req
        .header("If-None-Match")
        .is_some_and(|h| h.as_str() == etag)
    {
        let mut res = Response::new(StatusCode::NotModified);
        res.insert_header("ETag", etag);
        return res;
    }
    let mut res = Response::new(StatusCode::Ok);
    res.insert_header("Content-Type", content_type(&file));
    res.insert_header("ETag", etag);
    res.insert_header("Cache-Control", "no-cache");
    res.set_body(bytes);
    res
}

/// Security headers for our client's files.
fn secure(mut res: Response) -> Response {
    res.insert_header("Content-Security-Policy", CLIENT_CSP);
    res.insert_header("X-Content-Type-Options", "nosniff");
    res.insert_header("Referrer-Policy", "no-referrer");
    res.insert_header("X-Frame-Options", "DENY");
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused_in_any_encoding() {
        for bad in [
            "../etc/passwd",
            "%2e%2e/etc/passwd",
            "%2e%2e%2fetc%2fpasswd",
            "a/../../b",
            "/etc/passwd",
            "%2fetc%2fpasswd",
            "..%5cwin",
            "a%00b",
            "%zz",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad} accepted");
        }
        assert_eq!(safe_relative("js/app.js"), Some(PathBuf::from("js/app.js")));
        assert_eq!(safe_relative(""), Some(PathBuf::new()));
        assert_eq!(safe_relative("a%20b.css"), Some(PathBuf::from("a b.css")));
    }

    #[test]
    fn asset_paths_are_unique_and_etags_differ_by_content() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(ETAGS.len(), ASSETS.len());
    }
}
