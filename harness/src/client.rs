//! A minimal client for a running cookim node: form-encoded API calls, a multipart upload,
//! and websocket connections, all over real sockets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use futures_util::StreamExt;
use http_types::{Method, Request, Url};
use serde_json::{Value, json};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(String),
    /// The websocket failed.
    #[error("websocket: {0}")]
    Ws(#[from] async_tungstenite::tungstenite::Error),
    /// The answer was not the JSON expected.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The server answered with a non-empty `errmsg`.
    #[error("{route}: {errmsg}")]
    Api {
        /// The route called.
        route: String,
        /// What the server said.
        errmsg: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn url(addr: SocketAddr, path: &str) -> Result<Url> {
    Url::parse(&format!("http://{addr}{path}")).map_err(|e| Error::Http(e.to_string()))
}

async fn send(addr: SocketAddr, source: Option<IpAddr>, req: Request) -> Result<Value> {
    let (_, body) = exchange_text(addr, source, req).await?;
    Ok(serde_json::from_str(&body)?)
}

/// One request on a fresh connection: the status and the JSON body.
async fn exchange(addr: SocketAddr, req: Request) -> Result<(u16, Value)> {
    let (status, body) = exchange_text(addr, None, req).await?;
    Ok((status, serde_json::from_str(&body)?))
}

/// One request on a fresh connection from `source` (when given): the status and the body.
async fn exchange_text(
    addr: SocketAddr,
    source: Option<IpAddr>,
    req: Request,
) -> Result<(u16, String)> {
    let stream = tcp_from(addr, source).await?;
    let mut res = async_h1::connect(stream, req)
        .await
        .map_err(|e| Error::Http(e.to_string()))?;
    let body = res
        .body_string()
        .await
        .map_err(|e| Error::Http(e.to_string()))?;
    Ok((u16::from(res.status()), body))
}

/// A TCP connection to `addr`, from `source` when given (to spread many connections over
/// several 127.x.y.z addresses, each with its own ephemeral ports).
///
/// # Errors
/// A socket error (no such local address, refused, ...).
pub async fn tcp_from(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream> {
    let Some(source) = source else {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        return Ok(stream);
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Each source address has its own ephemeral ports: ~28,000 connections per address.
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let stream = async_io::Async::new(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e.into());
    }
    Ok(TcpStream::from(stream))
}

/// `EINPROGRESS` on Linux: what a non-blocking connect answers while it proceeds.
const EINPROGRESS: i32 = 115;

fn check(route: &str, value: Value) -> Result<Value> {
    match value.get("errmsg").and_then(Value::as_str) {
        Some(errmsg) if !errmsg.is_empty() => Err(Error::Api {
            route: route.to_owned(),
            errmsg: errmsg.to_owned(),
        }),
        _ => Ok(value),
    }
}

/// Posts a form to `/api/<route>` and returns the JSON answer, failing on a non-empty `errmsg`.
///
/// # Errors
/// [`Error::Api`] with the server's `errmsg`, or a transport error.
pub async fn api(addr: SocketAddr, route: &str, form: &[(&str, &str)]) -> Result<Value> {
    api_from(addr, None, route, form).await
}

/// [`api`] from the local address `source` (when given), e.g. one of many `127.x.y.z`, so the
/// node's per-address limits count it apart from other clients on the machine.
///
/// # Errors
/// As [`api`].
pub async fn api_from(
    addr: SocketAddr,
    source: Option<IpAddr>,
    route: &str,
    form: &[(&str, &str)],
) -> Result<Value> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = Request::new(Method::Post, url(addr, &format!("/api/{route}"))?);
    req.insert_header(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    req.set_body(body);
    check(route, send(addr, source, req).await?)
}

/// `GET path` (a health or members endpoint): the status code and the JSON body.
///
/// # Errors
/// A transport error, or a body that is not JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Result<(u16, Value)> {
    exchange(addr, Request::new(Method::Get, url(addr, path)?)).await
}

/// `GET path` whatever the body (`/ping` answers `pong`): the status code.
///
/// # Errors
/// A transport error.
pub async fn get_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let req = Request::new(Method::Get, url(addr, path)?);
    Ok(exchange_text(addr, None, req).await?.0)
}

/// Posts a multipart form with one file part.
///
/// # Errors
/// As [`api`].
pub async fn api_multipart(
    addr: SocketAddr,
    route: &str,
    form: &[(&str, &str)],
    file: (&str, &str, &str, &[u8]),
) -> Result<Value> {
    const BOUNDARY: &str = "cookimloadboundary7d1f";
    let mut body = Vec::new();
    for (name, value) in form {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (field, file_name, content_type, bytes) = file;
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut req = Request::new(Method::Post, url(addr, &format!("/api/{route}"))?);
    req.insert_header(
        "Content-Type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    req.set_body(body);
    check(route, send(addr, None, req).await?)
}

/// A registered user.
#[derive(Clone, Debug)]
pub struct User {
    /// Id.
    pub uid: String,
    /// Current user token.
    pub token: String,
}

/// Registers a user (gender girl) and returns its id and token.
///
/// # Errors
/// As [`api`].
pub async fn register(
    addr: SocketAddr,
    login: &str,
    nickname: &str,
    password: &str,
) -> Result<User> {
    register_from(addr, None, login, nickname, password).await
}

/// [`register`] from the local address `source` (when given): a node allows few
/// registrations per address.
///
/// # Errors
/// As [`api`].
pub async fn register_from(
    addr: SocketAddr,
    source: Option<IpAddr>,
    login: &str,
    nickname: &str,
    password: &str,
) -> Result<User> {
    let answer = api_from(
        addr,
        source,
        "registerUser",
        &[
            ("login", login),
            ("nickname", nickname),
            ("password", password),
            ("repassword", password),
            ("gender", "2"),
        ],
    )
    .await?;
    Ok(User {
        uid: field(&answer, "uid"),
        token: field(&answer, "userToken"),
    })
}

/// A string field of a JSON answer (`""` if absent).
pub fn field(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A 1x1 PNG, for group icons.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A websocket to a cookim node.
pub type Socket = WebSocketStream<TcpStream>;

/// Opens `/ws-chat` or `/ws-push` (`path`).
///
/// # Errors
/// A transport or handshake error.
pub async fn connect(addr: SocketAddr, path: &str) -> Result<Socket> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (socket, _) = async_tungstenite::client_async(format!("ws://{addr}{path}"), stream).await?;
    Ok(socket)
}

/// Sends one JSON text frame.
///
/// # Errors
/// A websocket error.
pub async fn send_json(socket: &mut Socket, value: &Value) -> Result<()> {
    Ok(socket.send(Message::Text(value.to_string().into())).await?)
}

/// The next text frame as JSON, `None` when the socket closed.
///
/// # Errors
/// A websocket or JSON error.
pub async fn next_json(socket: &mut Socket) -> Result<Option<Value>> {
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => return Ok(Some(serde_json::from_str(&text)?)),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// Creates a public group owned by `owner` (with a tiny icon) and returns its id.
///
/// # Errors
/// As [`api`].
pub async fn create_group(addr: SocketAddr, owner: &User, name: &str) -> Result<String> {
    let created = api_multipart(
        addr,
        "createGroupSession",
        &[
            ("userToken", &owner.token),
            ("publicType", "1"),
            ("sessionName", name),
        ],
        ("sessionIcon", "icon.png", "image/png", TINY_PNG),
    )
    .await?;
    Ok(field(&created, "sessionid"))
}

/// Joins `user` to the public group `sid`.
///
/// # Errors
/// As [`api`].
pub async fn join_group(addr: SocketAddr, user: &User, sid: &str) -> Result<()> {
    api(
        addr,
        "joinGroupSession",
        &[("userToken", &user.token), ("sessionid", sid)],
    )
    .await
    .map(|_| ())
}

/// The session token of `user` for chat `sid`, as the web client gets it (from the first page
/// of `listMessages`).
///
/// # Errors
/// As [`api`].
pub async fn session_token(addr: SocketAddr, user: &User, sid: &str) -> Result<String> {
    let answer = api(
        addr,
        "listMessages",
        &[
            ("userToken", &user.token),
            ("sessionid", sid),
            ("count", "1"),
        ],
    )
    .await?;
    Ok(field(&answer, "sessionToken"))
}

/// Opens a chat as the web client does (`listMessages` for the session token, `/ws-chat`,
/// `online`) and waits up to `limit` for the user's own online event. Returns the session
/// token and the socket.
///
/// # Errors
/// As [`api`] and [`connect`]; [`Error::Http`] if the online event does not come in time.
pub async fn open_chat(
    addr: SocketAddr,
    user: &User,
    sid: &str,
    limit: Duration,
) -> Result<(String, Socket)> {
    let session_token = session_token(addr, user, sid).await?;
    let mut socket = connect(addr, "/ws-chat").await?;
    let online = json!({"userToken": user.token, "sessionToken": session_token, "msgType": "online", "content": ""});
    send_json(&mut socket, &online).await?;
    let uid = user.uid.clone();
    wait_for(&mut socket, limit, |v| {
        v["msgType"] == "online" && v["uid"] == uid.as_str()
    })
    .await?;
    Ok((session_token, socket))
}

/// The connection's first text frame matching `want`, skipping others; fails after `limit`.
///
/// # Errors
/// [`Error::Http`] on timeout or when the socket closes first; a websocket or JSON error.
pub async fn wait_for(
    socket: &mut Socket,
    limit: Duration,
    want: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let found = async {
        while let Some(value) = next_json(socket).await? {
            if want(&value) {
                return Ok::<_, Error>(Some(value));
            }
        }
        Ok(None)
    }
    .or(async {
        smol::Timer::after(limit).await;
        Ok(None)
    })
    .await?;
    found.ok_or_else(|| Error::Http(format!("no expected frame within {limit:?}")))
}
