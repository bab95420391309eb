//! Static routes (§4 of the spec): redirects, `/ping`, and a web client folder under `/chat/`.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use http_types::{Request, Response, StatusCode};

use crate::http;

/// The page served at `/chat/` when no web client folder is configured.
const LANDING: &str = include_str!("landing.html");

/// Serves `GET /`, `/chat`, `/chat/...` and `/ping`; `None` for other paths.
pub(crate) async fn serve(req: &Request, www: Option<&Path>) -> Option<Response> {
    let path = req.url().path();
    if req.method() != http_types::Method::Get && req.method() != http_types::Method::Head {
        return None;
    }
    match path {
        "/" | "/chat" => return Some(http::redirect("chat/")),
        "/ping" => {
            let mut res = http::text(StatusCode::Ok, "pong");
            res.insert_header("X-MyObject-Id", "myobjid");
            res.insert_header("X-MyObject-Name", "myobjname");
            return Some(res);
        }
        _ => {}
    }
    let rest = path.strip_prefix("/chat/")?;
    let Some(www) = www else {
        if rest.is_empty() || rest == "index.html" {
            let mut res = Response::new(StatusCode::Ok);
            res.set_body(LANDING);
            res.set_content_type(http_types::mime::HTML);
            return Some(secure(res));
        }
        return Some(http::not_found());
    };
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

/// Security headers for pages cookim itself serves.
fn secure(mut res: Response) -> Response {
    res.insert_header(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
    );
    res.insert_header("X-Content-Type-Options", "nosniff");
    res.insert_header("Referrer-Policy", "no-referrer");
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
}
