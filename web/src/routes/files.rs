//! `getFile` and `getFileMeta` (§6.6): no authentication (the stock client cannot send a
//! token from `<img src>`), so file ids are 128 random bits and validated before any lookup.

use http_types::{Request, Response, StatusCode};
use protocol::ids::FileId;
use protocol::rest::{Answer, FileMetaAnswer};

use crate::app::App;
use crate::http;

fn query_id(req: &Request) -> String {
    req.url()
        .query_pairs()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Quotes a file name for `Content-Disposition`: an ASCII fallback plus RFC 5987 UTF-8.
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Bytes read from the store per chunk while streaming a file.
const CHUNK: usize = 64 * 1024;

/// Types served with their own `Content-Type`: images inline, audio for the player. Every
/// other type (HTML, SVG, scripts...) is an `application/octet-stream` attachment, so nothing a
/// user uploads ever renders as a page of ours.
fn served_type(file_type: &str) -> (&str, bool) {
    match file_type {
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" => (file_type, true),
        t if t.len() <= 48
            && t.strip_prefix("audio/").is_some_and(|sub| {
                !sub.is_empty()
                    && sub
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            }) =>
        {
            (t, false)
        }
        _ => ("application/octet-stream", false),
    }
}

/// A parsed `Range` header: one `bytes=` range, resolved against `size`.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// No usable range: send everything.
    Whole,
    /// `start..=end`.
    Part(u64, u64),
    /// Syntactically fine but outside the file: 416.
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, size: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    // Several ranges would need a multipart answer; serving the whole file is allowed instead.
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end.min(size.saturating_sub(1)))),
        (Ok(start), Err(_)) if last.is_empty() => Some((start, size.saturating_sub(1))),
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return Range::Unsatisfiable;
            }
            Some((size.saturating_sub(suffix), size.saturating_sub(1)))
        }
        _ => None,
    };
    match parsed {
        None => Range::Whole,
        Some((start, _)) if start >= size => Range::Unsatisfiable,
        Some((start, end)) => Range::Part(start, end),
    }
}

type ChunkFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = store::Result<Option<Vec<u8>>>> + Send>>;

/// Streams `start..end` of a stored file chunk by chunk, so a download never holds more than
/// one chunk in memory. The pending read sits in a `Mutex` only to make the reader `Sync`, as
/// `http_types::Body` requires; it is never contended.
struct FileReader {
    store: std::sync::Arc<dyn store::Store>,
    id: FileId,
    next: u64,
    end: u64,
    chunk: Vec<u8>,
    used: usize,
    pending: std::sync::Mutex<Option<ChunkFuture>>,
}

impl futures_lite::AsyncRead for FileReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            if this.used < this.chunk.len() {
                let n = buf.len().min(this.chunk.len() - this.used);
                buf[..n].copy_from_slice(&this.chunk[this.used..this.used + n]);
                this.used += n;
                return Poll::Ready(Ok(n));
            }
            if this.next >= this.end {
                return Poll::Ready(Ok(0));
            }
            let Ok(mut pending) = this.pending.lock() else {
                return Poll::Ready(Err(std::io::Error::other("file reader poisoned")));
            };
            let future = pending.get_or_insert_with(|| {
                let (store, id, offset) = (this.store.clone(), this.id.clone(), this.next);
                let len = usize::try_from(this.end - this.next)
                    .unwrap_or(CHUNK)
                    .min(CHUNK);
                Box::pin(async move { store.read_file_chunk(&id, offset, len).await })
            });
            let result = match future.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            *pending = None;
            drop(pending);
            match result {
                Ok(Some(bytes)) if !bytes.is_empty() => {
                    this.next += bytes.len() as u64;
                    this.chunk = bytes;
                    this.used = 0;
                }
                Ok(_) => return Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into())),
                Err(e) => {
                    tracing::error!(error = %e, "reading a file failed");
                    return Poll::Ready(Err(std::io::Error::other("file read failed")));
                }
            }
        }
    }
}

/// `GET /api/getFile?id=`: streams the file with its length, an `ETag` (file bytes never
/// change), `Range` support (206/416, so audio can seek), a quoted `Content-Disposition`
/// (images inline, everything else an attachment) and `nosniff`. Unknown or malformed ids
/// (path traversal included) are 404.
pub(crate) async fn get_file(app: &App, req: &Request) -> Response {
    let Ok(id) = FileId::parse(&query_id(req)) else {
        return http::not_found();
    };
    let meta = match app.store().file_meta(&id).await {
        Ok(Some(meta)) => meta,
        Ok(None) => return http::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "reading a file's metadata failed");
            return http::text(StatusCode::InternalServerError, "internal server error");
        }
    };
    let etag = format!("\"{id}\"");
    let (content_type, inline) = served_type(&meta.file_type);
    let mut res = Response::new(StatusCode::Ok);
    res.insert_header("ETag", etag.as_str());
    res.insert_header("Accept-Ranges", "bytes");
    res.insert_header("X-Content-Type-Options", "nosniff");
    res.insert_header("Cache-Control", "private, max-age=31536000, immutable");
    if req
        .header("If-None-Match")
        .is_some_and(|h| h.as_str() == etag)
    {
        res.set_status(StatusCode::NotModified);
        return res;
    }
    res.insert_header("Content-Type", content_type);
    res.insert_header(
        "Content-Disposition",
        disposition(
            if inline { "inline" } else { "attachment" },
            &meta.file_name,
        ),
    );
    let range = parse_range(req.header("Range").map(|h| h.as_str()), meta.size);
    let (start, end) = match range {
        Range::Whole => (0, meta.size),
        Range::Part(first, last) => {
            res.set_status(StatusCode::PartialContent);
            res.insert_header(
                "Content-Range",
                format!("bytes {first}-{last}/{}", meta.size),
            );
            (first, last + 1)
        }
        Range::Unsatisfiable => {
            let mut res = http::text(
                StatusCode::RequestedRangeNotSatisfiable,
                "range not satisfiable",
            );
            res.insert_header("Content-Range", format!("bytes */{}", meta.size));
            return res;
        }
    };
    let reader = FileReader {
        store: app.store().clone(),
        id,
        next: start,
        end,
        chunk: Vec::new(),
        used: 0,
        pending: std::sync::Mutex::new(None),
    };
    let len = usize::try_from(end - start).ok();
    res.set_body(http_types::Body::from_reader(
        futures_lite::io::BufReader::new(reader),
        len,
    ));
    res
}

/// `GET /api/getFileMeta?id=`.
pub(crate) async fn get_file_meta(app: &App, req: &Request) -> Response {
    let given = query_id(req);
    let Ok(id) = FileId::parse(&given) else {
        return http::json(&FileMetaAnswer::failure("file not exist"));
    };
    match app.store().file_meta(&id).await {
        Ok(Some(meta)) => http::json(&FileMetaAnswer {
            errmsg: String::new(),
            id: given,
            file_name: meta.file_name,
            file_type: meta.file_type,
            file_size: meta.size,
        }),
        Ok(None) => http::json(&FileMetaAnswer::failure("file not exist")),
        Err(e) => http::json(&FileMetaAnswer::failure(
            crate::Error::from(e).client_message(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn ranges() {
        use super::{Range, parse_range};
        assert_eq!(parse_range(None, 100), Range::Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Range::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Range::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Range::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Range::Part(50, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-200"), 100), Range::Part(0, 99));
        assert_eq!(parse_range(Some("bytes=9-0"), 100), Range::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Range::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Range::Whole);
    }

    #[test]
    fn only_safe_types_keep_their_type() {
        use super::served_type;
        assert_eq!(served_type("image/png"), ("image/png", true));
        assert_eq!(served_type("audio/wav"), ("audio/wav", false));
        assert_eq!(
            served_type("text/html"),
            ("application/octet-stream", false)
        );
        assert_eq!(
            served_type("image/svg+xml"),
            ("application/octet-stream", false)
        );
        assert_eq!(
            served_type("audio/x\r\nSet-Cookie: a"),
            ("application/octet-stream", false)
        );
    }

    #[test]
    fn names_are_quoted() {
        assert_eq!(
            disposition("inline", "a b.png"),
            "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"
        );
        let tricky = disposition("attachment", "x\";\r\nSet-Cookie: y.txt");
        assert!(!tricky.contains('\r') && !tricky.contains('\n'));
        assert!(tricky.starts_with("attachment; filename=\"x_;__Set-Cookie: y.txt\""));
    }
}
