//! Clients that connect from a loopback source address of their own (127.0.x.y: Linux routes
//! all of 127/8 to the loopback interface), so per-address limits can be tested without one
//! test's flood locking out another test's client; raw sockets for requests no client sends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_types::{Method, Request, Url};
use serde_json::Value;

use super::fixtures::{User, str_of, unique_login};
use super::http::{Reply, urlencode};
use super::ws::Ws;
use super::{PASSWORD, Result, fail, within};

/// A loopback address no other client of this test process has used.
pub(crate) fn next_source() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // 127.0.0.1 stays the default client's; sources start at 127.0.1.1.
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        (1 + n / 250) as u8,
        (1 + n % 250) as u8,
    ))
}

/// A TCP connection to `addr` whose local end is bound to `source`.
pub(crate) async fn connect_from(source: IpAddr, addr: SocketAddr) -> Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.set_nonblocking(true)?;
    // A non-blocking connect to loopback: in progress, finished when writable.
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) => {} // EINPROGRESS
        Err(e) => return Err(e.into()),
    }
    let stream = async_io::Async::new(std::net::TcpStream::from(socket))?;
    within("a TCP connect", stream.writable()).await??;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e.into());
    }
    Ok(TcpStream::from(stream))
}

/// One request from `source`, read fully (async-h1's client).
pub(crate) async fn request_from(
    source: IpAddr,
    addr: SocketAddr,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply> {
    let mut req = Request::new(method, Url::parse(&format!("http://{addr}{path}"))?);
    if let Some(content_type) = content_type {
        req.insert_header("Content-Type", content_type);
    }
    if method != Method::Get {
        req.set_body(body);
    }
    within(
        &format!("the answer to {method} {path} from {source}"),
        async {
            let stream = connect_from(source, addr).await?;
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
        },
    )
    .await?
}

/// `POST /api/<route>` from `source`; the JSON answer (HTTP 200 required, as CookIM's client
/// expects of every API answer).
pub(crate) async fn api_from(
    source: IpAddr,
    addr: SocketAddr,
    route: &str,
    fields: &[(&str, &str)],
) -> Result<Value> {
    let reply = request_from(
        source,
        addr,
        Method::Post,
        &format!("/api/{route}"),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        urlencode(fields),
    )
    .await?;
    if reply.status != 200 {
        return fail(format!(
            "{route} from {source}: expected HTTP 200: {reply:?}"
        ));
    }
    Ok(serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{route}: not JSON ({e}): {reply:?}"))?)
}

/// Registers `nickname` from a source address of its own (registrations are limited per
/// address); the user.
pub(crate) async fn register_fresh(addr: SocketAddr, nickname: &str) -> Result<User> {
    register_from(next_source(), addr, nickname).await
}

/// Registers `nickname` (with [`PASSWORD`]) from `source`.
pub(crate) async fn register_from(
    source: IpAddr,
    addr: SocketAddr,
    nickname: &str,
) -> Result<User> {
    // The process id too: a cluster's MongoDB outlives one run of the suite.
    let login = unique_login(&format!("{nickname}.{}", std::process::id()));
    let answer = api_from(
        source,
        addr,
        "registerUser",
        &[
            ("login", &login),
            ("nickname", nickname),
            ("password", PASSWORD),
            ("repassword", PASSWORD),
            ("gender", "1"),
        ],
    )
    .await?;
    if answer["errmsg"] != "" {
        return fail(format!("registerUser from {source} failed: {answer}"));
    }
    Ok(User {
        uid: str_of(&answer, "uid")?,
        token: str_of(&answer, "userToken")?,
        nickname: nickname.to_owned(),
        login,
    })
}

/// A websocket on `path` from `source`.
pub(crate) async fn ws_from(source: IpAddr, addr: SocketAddr, path: &str) -> Result<Ws> {
    Ws::connect_over(connect_from(source, addr).await?, addr, path).await
}

/// How a raw connection ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// Everything the server sent before closing.
    pub(crate) received: Vec<u8>,
    /// Whether the whole of `bytes` was written before it closed.
    pub(crate) wrote_all: bool,
}

impl Ended {
    /// The status of an HTTP answer the server sent before closing, if any.
    pub(crate) fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.received);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }
}

/// Writes `bytes` (or as much as the server takes), keeps the connection open without
/// sending anything more, and waits for the server to close it (end of file or a reset).
/// Fails if it is still open after [`super::WAIT`].
pub(crate) async fn wait_closed(mut stream: TcpStream, bytes: &[u8]) -> Result<Ended> {
    let wrote_all = stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok();
    let mut received = Vec::new();
    within("the server to close a connection", async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    })
    .await?;
    Ok(Ended {
        received,
        wrote_all,
    })
}
