//! A small HTTP client: API calls (urlencoded and multipart) through async-h1, and raw bytes
//! for requests a client would refuse to send.

use std::fmt;
use std::net::SocketAddr;

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_types::{Method, Request, Url};
use serde_json::Value;

use super::{Result, fail, within};

/// An HTTP response, fully read.
#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Reply {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection with async-h1's client.
pub(crate) async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply> {
    let headers: Vec<(&str, &str)> = content_type
        .map(|value| ("Content-Type", value))
        .into_iter()
        .collect();
    request_with(addr, method, path, &headers, body).await
}

/// [`request`] with any request headers.
pub(crate) async fn request_with(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply> {
    let url = Url::parse(&format!("http://{addr}{path}"))?;
    let mut req = Request::new(method, url);
    for (name, value) in headers {
        req.insert_header(*name, *value);
    }
    if method != Method::Get {
        req.set_body(body);
    }
    within(&format!("the answer to {method} {path}"), async {
        let stream = TcpStream::connect(addr).await?;
        let mut res = async_h1::connect(stream, req)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let body = res
            .body_bytes()
            .await
            .map_err(|e| format!("{method} {path} body: {e}"))?;
        let headers = res
            .iter()
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |v| (name.as_str().to_owned(), v.as_str().to_owned()))
            })
            .collect();
        Ok(Reply {
            status: u16::from(res.status()),
            headers,
            body,
        })
    })
    .await?
}

/// `GET path`.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<Reply> {
    request(addr, Method::Get, path, None, Vec::new()).await
}

/// `GET path` with these request headers (`Range`, `If-None-Match`...).
pub(crate) async fn get_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply> {
    request_with(addr, Method::Get, path, headers, Vec::new()).await
}

/// Encodes form fields as `application/x-www-form-urlencoded`.
pub(crate) fn urlencode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        form.append_pair(name, value);
    }
    form.finish().into_bytes()
}

/// Parses an API answer: HTTP 200 with a JSON object, as the stock client expects.
fn api_answer(route: &str, reply: &Reply) -> Result<Value> {
    if reply.status != 200 {
        return fail(format!("{route}: expected HTTP 200, got {reply:?}"));
    }
    let value: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{route}: not JSON ({e}): {reply:?}"))?;
    if !value.is_object() {
        return fail(format!("{route}: not a JSON object: {value}"));
    }
    Ok(value)
}

/// `POST /api/<route>` with urlencoded fields; the JSON answer.
pub(crate) async fn api(addr: SocketAddr, route: &str, fields: &[(&str, &str)]) -> Result<Value> {
    let path = format!("/api/{route}");
    let reply = request(
        addr,
        Method::Post,
        &path,
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        urlencode(fields),
    )
    .await?;
    api_answer(route, &reply)
}

/// [`api`], failing unless `errmsg` is empty.
pub(crate) async fn api_ok(
    addr: SocketAddr,
    route: &str,
    fields: &[(&str, &str)],
) -> Result<Value> {
    let answer = api(addr, route, fields).await?;
    match answer.get("errmsg").and_then(Value::as_str) {
        Some("") | None => Ok(answer),
        Some(errmsg) => fail(format!("{route} failed: {errmsg:?} in {answer}")),
    }
}

/// A file part of a multipart form.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FilePart<'a> {
    pub(crate) field: &'a str,
    pub(crate) file_name: &'a str,
    pub(crate) content_type: &'a str,
    pub(crate) bytes: &'a [u8],
}

const BOUNDARY: &str = "----cookim-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body and its content type.
pub(crate) fn multipart(fields: &[(&str, &str)], file: Option<FilePart<'_>>) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(file) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                file.field, file.file_name, file.content_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// `POST /api/<route>` as `multipart/form-data`; the JSON answer.
pub(crate) async fn api_multipart(
    addr: SocketAddr,
    route: &str,
    fields: &[(&str, &str)],
    file: Option<FilePart<'_>>,
) -> Result<Value> {
    let (content_type, body) = multipart(fields, file);
    let reply = request(
        addr,
        Method::Post,
        &format!("/api/{route}"),
        Some(&content_type),
        body,
    )
    .await?;
    api_answer(route, &reply)
}

/// Writes `bytes` as they are on a fresh connection, half-closes it, and reads the response
/// (for requests an HTTP client would refuse to send: traversal paths, truncated bodies).
pub(crate) async fn raw(addr: SocketAddr, bytes: &[u8]) -> Result<Reply> {
    within("the answer to a raw request", async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(bytes).await?;
        stream.flush().await?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut received = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(reply) = parse_response(&received)? {
                return Ok(reply);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return fail(format!(
                    "connection closed before a full response: {:?}",
                    String::from_utf8_lossy(&received)
                ));
            }
            received.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    })
    .await?
}

/// A complete response with a `Content-Length` body, or `None` if more bytes are needed.
fn parse_response(bytes: &[u8]) -> Result<Option<Reply>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(bytes.get(..end).unwrap_or_default())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = match status_line.split(' ').nth(1).map(str::parse) {
        Some(Ok(status)) => status,
        _ => return fail(format!("bad status line {status_line:?}")),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>())
        .transpose()?
        .unwrap_or(0);
    let body = bytes.get(end + 4..).unwrap_or_default();
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some(Reply {
        status,
        headers,
        body: body.get(..length).unwrap_or_default().to_vec(),
    }))
}
