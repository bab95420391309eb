//! Request bodies in (urlencoded forms, multipart with one file part) and responses out.

use std::collections::HashMap;

use futures_lite::AsyncReadExt;
use http_types::{Request, Response, StatusCode};
use serde::Serialize;

/// Why a request body could not be read. These are protocol-level failures the stock client
/// never causes, so they get real statuses (§3.2).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than `max_body` (413).
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// Unreadable, truncated or malformed (400).
    #[error("malformed request body: {0}")]
    Malformed(String),
    /// Not all there within `request_timeout` (408).
    #[error("request body not received in time")]
    TimedOut,
}

impl BodyError {
    /// The response for this failure.
    pub fn into_response(self) -> Response {
        let status = match self {
            BodyError::TooLarge(_) => StatusCode::PayloadTooLarge,
            BodyError::Malformed(_) => StatusCode::BadRequest,
            BodyError::TimedOut => StatusCode::RequestTimeout,
        };
        let mut res = text(status, &self.to_string());
        if status == StatusCode::RequestTimeout {
            // The rest of the body may never come: the connection ends after the answer.
            res.insert_header("Connection", "close");
        }
        res
    }
}

/// An uploaded file part.
#[derive(Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The form field name.
    pub field: String,
    /// The client's file name.
    pub file_name: String,
    /// The declared content type (`""` if none).
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePart")
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Form fields (first value wins) and, for multipart bodies, the first part with a file name
/// (CookIM treats any such part as the file, §13.13).
#[derive(Debug, Default)]
pub struct Form {
    fields: HashMap<String, String>,
    /// The uploaded file, if any.
    pub file: Option<FilePart>,
    /// The client's address, for per-address limits (`None` outside a live connection).
    pub peer: Option<std::net::IpAddr>,
    /// The client's `User-Agent`, cut to [`MAX_DEVICE`] characters: names a device session.
    pub device: String,
}

/// Longest `User-Agent` kept to name a device session, in characters.
pub const MAX_DEVICE: usize = 200;

impl Form {
    /// A string field; missing reads as `""` (§3.1).
    pub fn str(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    /// An integer field; missing or unparsable reads as `default` (§3.1).
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.fields
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// Builds a form from pairs, keeping the first value of each name.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Form {
        let mut fields = HashMap::new();
        for (k, v) in pairs {
            fields.entry(k).or_insert(v);
        }
        Form {
            fields,
            ..Form::default()
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes before buffering them.
///
/// # Errors
/// [`BodyError::TooLarge`] or [`BodyError::Malformed`] if the stream breaks.
pub async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    if req.len().is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    let reader = req.take_body().into_reader();
    let limit_plus_one = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit_plus_one)
        .read_to_end(&mut body)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => BodyError::TimedOut,
            _ => BodyError::Malformed(e.to_string()),
        })?;
    if body.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(body)
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_urlencoded(body: &[u8]) -> Form {
    Form::from_pairs(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())))
}

/// Parses a `multipart/form-data` body with the boundary from `content_type`.
///
/// # Errors
/// [`BodyError::Malformed`] for a missing boundary or a truncated or malformed body.
pub async fn parse_multipart(content_type: &str, body: Vec<u8>) -> Result<Form, BodyError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let stream =
        futures_lite::stream::once(Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body)));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| BodyError::Malformed(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_default();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| BodyError::Malformed(e.to_string()))?;
        match file_name {
            Some(file_name) if file.is_none() => {
                file = Some(FilePart {
                    field: name,
                    file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
            Some(_) => {}
            None => pairs.push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    let mut form = Form::from_pairs(pairs);
    form.file = file;
    Ok(form)
}

/// A `200 application/json` response.
pub fn json(value: &impl Serialize) -> Response {
    let mut res = Response::new(StatusCode::Ok);
    match serde_json::to_string(value) {
        Ok(body) => {
            res.set_body(body);
            res.set_content_type(http_types::mime::JSON);
        }
        Err(e) => {
            tracing::error!(error = %e, "response did not serialize");
            return text(StatusCode::InternalServerError, "internal server error");
        }
    }
    res
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &str) -> Response {
    let mut res = Response::new(status);
    res.set_body(body.to_owned());
    res.set_content_type(http_types::mime::PLAIN);
    res
}

/// The spec's 404 (§3.3).
pub fn not_found() -> Response {
    text(StatusCode::NotFound, "404 error, resource not found!")
}

/// `308 Permanent Redirect` to `location` (§4).
pub fn redirect(location: &str) -> Response {
    let mut res = Response::new(StatusCode::PermanentRedirect);
    res.insert_header("Location", location);
    res.set_body(format!("<a href=\"{location}\">{location}</a>"));
    res.set_content_type(http_types::mime::HTML);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn forms_are_lenient() {
        let form = parse_urlencoded(b"a=1&b=x%20y&a=2&n=zz");
        assert_eq!(form.str("a"), "1");
        assert_eq!(form.str("b"), "x y");
        assert_eq!(form.str("missing"), "");
        assert_eq!(form.int("n", 7), 7);
        assert_eq!(form.int("a", 7), 1);
    }

    #[test]
    fn multipart_parses_and_refuses_truncation() -> TestResult {
        smol::block_on(async {
            let body = b"--XX\r\nContent-Disposition: form-data; name=\"userToken\"\r\n\r\ntok\r\n--XX\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--XX--\r\n".to_vec();
            let form = parse_multipart("multipart/form-data; boundary=XX", body.clone()).await?;
            assert_eq!(form.str("userToken"), "tok");
            let file = form.file.ok_or("no file")?;
            assert_eq!(
                (
                    file.field.as_str(),
                    file.file_name.as_str(),
                    file.content_type.as_str()
                ),
                ("avatar", "a.png", "image/png")
            );
            assert_eq!(file.bytes, b"PNGDATA");
            let truncated = body[..body.len() - 20].to_vec();
            assert!(
                parse_multipart("multipart/form-data; boundary=XX", truncated)
                    .await
                    .is_err()
            );
            assert!(parse_multipart("multipart/form-data", body).await.is_err());
            Ok(())
        })
    }
}
