//! `getFile` and `getFileMeta` (§6.6): no authentication (the stock client cannot send a
//! token from `<img src>`), so file ids are 128 random bits and validated before any lookup.

use http_types::{Request, Response, StatusCode};
use protocol::ids::FileId;
use protocol::rest::{Answer, FileMetaAnswer};

use super::App;
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

/// `GET /api/getFile?id=`: images inline with their type, everything else as an attachment
/// (never user-supplied HTML or SVG inline); 404 for unknown or malformed ids.
pub(crate) async fn get_file(app: &App, req: &Request) -> Response {
    let Ok(id) = FileId::parse(&query_id(req)) else {
        return http::not_found();
    };
    let (meta, bytes) = match app.store().file(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => return http::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "reading a file failed");
            return http::text(StatusCode::InternalServerError, "internal server error");
        }
    };
    let inline = matches!(
        meta.file_type.as_str(),
        "image/jpeg" | "image/png" | "image/gif" | "image/webp"
    );
    let audio = meta.file_type.starts_with("audio/") && meta.file_type.len() < 64;
    let mut res = Response::new(StatusCode::Ok);
    let content_type = if inline || audio {
        meta.file_type.as_str()
    } else {
        "application/octet-stream"
    };
    res.insert_header("Content-Type", content_type);
    res.insert_header(
        "Content-Disposition",
        disposition(
            if inline { "inline" } else { "attachment" },
            &meta.file_name,
        ),
    );
    res.insert_header("X-Content-Type-Options", "nosniff");
    res.insert_header("Cache-Control", "private, max-age=31536000, immutable");
    res.set_body(bytes);
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
