//! The two websockets. A connection is one task: a reader that parses frames into `protocol`
//! types and acts on them, raced with a writer that owns the socket's sending half and drains
//! the connection's bounded [`Outbox`]. Whichever ends first ends the connection; the
//! connection's subscriptions are then dropped.

#[cfg(test)]
mod autobahn;
pub(crate) mod chat;
pub(crate) mod push;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use futures_lite::FutureExt;
use futures_util::StreamExt;
use http_types::upgrade::Connection;
use http_types::{Request, Response, StatusCode};
use runtime::{Idle, Inbox, Shutdown};

use crate::config::Config;
use crate::guard::{Guard, Tripped};
use crate::outbox::{Outbound, Outbox};

/// Which websocket a request upgrades to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/ws-chat`.
    Chat,
    /// `/ws-push`.
    Push,
}

/// Answers a websocket upgrade request: `Err(response)` if it is not a valid one (a plain
/// GET on a websocket path is a 404, §3.3; a bad origin is a 403), otherwise the `101`
/// response and the receiver of the upgraded connection.
pub(crate) async fn accept_upgrade(
    req: &Request,
    config: &Config,
) -> Result<(Response, http_types::upgrade::Receiver), Response> {
    let header = |name: &str| {
        req.header(name)
            .map(|h| h.as_str().to_owned())
            .unwrap_or_default()
    };
    let is_upgrade = header("Upgrade").eq_ignore_ascii_case("websocket")
        && header("Connection")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if req.method() != http_types::Method::Get || !is_upgrade {
        return Err(crate::http::not_found());
    }
    let key = header("Sec-WebSocket-Key");
    if header("Sec-WebSocket-Version") != "13" || key.is_empty() {
        return Err(crate::http::text(
            StatusCode::BadRequest,
            "unsupported websocket version or missing key",
        ));
    }
    if let Some(allowed) = &config.allowed_origins {
        let origin = header("Origin");
        if !allowed.iter().any(|a| a == &origin) {
            return Err(crate::http::text(
                StatusCode::Forbidden,
                "origin not allowed",
            ));
        }
    }
    let mut res = Response::new(StatusCode::SwitchingProtocols);
    res.insert_header("Upgrade", "websocket");
    res.insert_header("Connection", "Upgrade");
    res.insert_header("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes()));
    let receiver = res.recv_upgrade().await;
    Ok((res, receiver))
}

/// Websocket limits from the configuration: messages and frames capped at `max_ws_message`,
/// small buffers so idle connections stay cheap. tungstenite zero-fills its whole read buffer
/// before every read, so it is sized per route: `/ws-push` reads one ~300-byte subscribe
/// message (in two reads), `/ws-chat` texts of a few hundred bytes (uploads just take more reads).
pub(crate) fn ws_config(config: &Config, kind: Kind) -> WebSocketConfig {
    let (read_buffer, max_message) = match kind {
        Kind::Push => (256, MAX_PUSH_MESSAGE.min(config.max_ws_message)),
        Kind::Chat => (1024, config.max_ws_message),
    };
    WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .read_buffer_size(read_buffer)
        // Frames of one batch collect here and go out in one write when the batch is flushed.
        .write_buffer_size(WRITE_BUFFER)
        // Above the batching buffer, or tungstenite refuses the configuration.
        .max_write_buffer_size(
            config
                .max_ws_message
                .saturating_mul(2)
                .saturating_add(WRITE_BUFFER),
        )
}

/// Largest message a `/ws-push` client may send: its only message is a subscribe of a few
/// hundred bytes.
pub(crate) const MAX_PUSH_MESSAGE: usize = 4 * 1024;

/// Room for the JSON around a text's content (tokens, field names, escapes) in a `/ws-chat`
/// text frame: a frame longer than `max_text` plus this is closed with 1009 before parsing.
pub(crate) const TEXT_FRAME_ROOM: usize = 4 * 1024;

/// Bytes of frames collected before a write even mid-batch (see [`write_loop`]).
const WRITE_BUFFER: usize = 16 * 1024;

/// Wraps an upgraded connection as a server-side websocket.
pub(crate) async fn websocket(
    conn: Connection,
    config: &Config,
    kind: Kind,
) -> WebSocketStream<Connection> {
    WebSocketStream::from_raw_socket(conn, Role::Server, Some(ws_config(config, kind))).await
}

type Sink = async_tungstenite::WebSocketSender<Connection>;
/// The receiving half of a connection's websocket.
pub(crate) type Stream = async_tungstenite::WebSocketReceiver<Connection>;

/// Frames written before one flush, at most: a backlog goes out in few syscalls, and a burst
/// for one connection cannot keep its writer from yielding.
const MAX_BATCH: usize = 64;

/// Drains `inbox` into the socket until the outbox closes, the server shuts down, or the
/// socket fails. Frames already queued are written together and flushed once. Sends
/// `keepalive` (built by `keepalive`) after `config.keepalive` of silence.
pub(crate) async fn write_loop(
    mut sink: Sink,
    mut inbox: Inbox<Outbound>,
    config: &Config,
    shutdown: &Shutdown,
    keepalive: impl Fn() -> String,
) {
    use futures_util::SinkExt;
    let mut idle = Idle::new(config.keepalive);
    let mut pending = None;
    // One wait for the whole connection: a new one per frame would register (and remove) a
    // listener on the server-wide shutdown channel for every frame sent.
    let mut stop = std::pin::pin!(shutdown.wait());
    loop {
        enum Next {
            Item(Option<Outbound>),
            Silence,
            Stop,
        }
        let next = match pending.take() {
            Some(item) => Next::Item(Some(item)),
            None => {
                async { Next::Item(inbox.recv().await) }
                    .or(async {
                        idle.expired().await;
                        Next::Silence
                    })
                    .or(async {
                        stop.as_mut().await;
                        Next::Stop
                    })
                    .await
            }
        };
        let (message, last) = match next {
            Next::Item(Some(Outbound::Frame(text))) => {
                let mut written = sink.feed(Message::Text(text)).await;
                for _ in 1..MAX_BATCH {
                    if written.is_err() {
                        break;
                    }
                    match inbox.try_recv() {
                        Some(Outbound::Frame(text)) => {
                            written = sink.feed(Message::Text(text)).await;
                        }
                        Some(other) => {
                            pending = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                if written.is_err() || sink.flush().await.is_err() {
                    break;
                }
                idle.reset();
                continue;
            }
            Next::Silence => (Message::Text(keepalive().into()), false),
            Next::Item(Some(Outbound::Close(code, reason))) => (close(code, reason), true),
            Next::Item(Some(Outbound::Finish)) => break,
            #[cfg(test)]
            Next::Item(Some(Outbound::Binary(bytes))) => (Message::Binary(bytes), false),
            Next::Item(None) => (close(CloseCode::Policy, "too slow: outbox full"), true),
            Next::Stop => (close(CloseCode::Away, "server shutting down"), true),
        };
        if sink.send(message).await.is_err() || last {
            break;
        }
        idle.reset();
    }
    // Best effort: the peer may be gone already. The `Sink` close sends our close frame if
    // none went out yet, and otherwise flushes the reply to the peer's close that tungstenite
    // queued (RFC 6455 §5.5.1); `WebSocketSender::close` would refuse to send after it.
    let _ = futures_util::SinkExt::close(&mut sink).await;
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// What the reader saw that ends it.
pub(crate) enum ReadEnd {
    /// The peer sent a close frame: the writer must still send the reply.
    PeerClosed,
    /// The stream ended or failed.
    Closed,
    /// A message exceeded its limit (or an unauthenticated peer its byte budget): tell the
    /// peer with a 1009 close.
    TooBig,
    /// The connection did not authenticate within `auth_timeout`: a 1008 close.
    AuthTimeout,
    /// Its login ended (logout, password change, the sessions page): a 1008 close.
    LoginEnded,
    /// The user kept sending far over a rate limit: a 1008 close.
    RateLimited,
}

/// Reads the next data frame, skipping control frames. `Err(end)` when reading must stop.
pub(crate) async fn next_frame(stream: &mut Stream) -> Result<Message, ReadEnd> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Close(_))) => return Err(ReadEnd::PeerClosed),
            None => return Err(ReadEnd::Closed),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(message)) => return Ok(message),
            Some(Err(async_tungstenite::tungstenite::Error::Capacity(_))) => {
                return Err(ReadEnd::TooBig);
            }
            Some(Err(async_tungstenite::tungstenite::Error::Io(e))) => {
                return Err(match Guard::tripped(&e) {
                    Some(Tripped::Budget) => ReadEnd::TooBig,
                    Some(Tripped::Deadline) => ReadEnd::AuthTimeout,
                    None => ReadEnd::Closed,
                });
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "websocket read failed");
                return Err(ReadEnd::Closed);
            }
        }
    }
}

/// Ends a connection's reader the way `end` requires: a peer close gets its reply, a message
/// over the limit a 1009 close; a broken stream just ends.
pub(crate) async fn end_reading(outbox: &Outbox, end: ReadEnd) {
    match end {
        ReadEnd::Closed => {}
        ReadEnd::PeerClosed => finish_with(outbox, Outbound::Finish).await,
        ReadEnd::TooBig => {
            finish_with(outbox, Outbound::Close(CloseCode::Size, "message too big")).await
        }
        ReadEnd::AuthTimeout => {
            finish_with(
                outbox,
                Outbound::Close(CloseCode::Policy, "authentication timeout"),
            )
            .await
        }
        ReadEnd::LoginEnded => {
            finish_with(outbox, Outbound::Close(CloseCode::Policy, "session ended")).await
        }
        ReadEnd::RateLimited => {
            finish_with(
                outbox,
                Outbound::Close(CloseCode::Policy, "rate limit exceeded"),
            )
            .await
        }
    }
}

/// Waits until the connection's login ends (`ended` gets its `()`), then reports it. Raced
/// against the reader, so a revoked login closes its sockets whatever they are doing.
pub(crate) async fn login_ended(ended: &async_channel::Receiver<()>) -> ReadEnd {
    match ended.recv().await {
        Ok(()) => ReadEnd::LoginEnded,
        // The sender lives as long as the connection; never ends the reader by itself.
        Err(_) => futures_lite::future::pending().await,
    }
}

/// Marks a connection authenticated: no deadline, no byte budget from now on.
pub(crate) fn authenticated(guard: &Guard) {
    guard.clear_deadline();
    guard.limit_reads(u64::MAX);
}

/// Hands the end of a connection to its writer: queues `last` (`Outbound::Close` or
/// `Outbound::Finish`) and parks, so the writer sends it and ends the [`race`].
pub(crate) async fn finish_with(outbox: &Outbox, last: Outbound) {
    // If the outbox is closed the writer is ending anyway.
    let _ = outbox.send(last).await;
    futures_lite::future::pending::<()>().await;
}

/// Runs a reader future against the writer; done when either is. A reader that wants to close
/// with a reason uses [`finish_with`], so the writer gets to send it. Each side is polled only
/// when woken (a frame for the writer must not cost the reader a failed `recv`).
pub(crate) fn race(
    reader: impl std::future::Future<Output = ()>,
    writer: impl std::future::Future<Output = ()>,
) -> impl std::future::Future<Output = ()> {
    runtime::race(reader, writer)
}
