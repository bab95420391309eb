//! The thin adapters: how each system under test is connected to, joined to a room, sent a
//! chat message, and how a chat message is recognised in what it sends back. Every system gets
//! the same load; only these few functions differ.
//!
//! A chat message's content is `<µs since the epoch when sent>:<round>:<n>`, so any process
//! on the machine can compute its end-to-end latency without parsing the whole frame.

use std::net::{IpAddr, SocketAddr};

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use serde::{Deserialize, Serialize};

use harness::client::{Error, Result};

/// A system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// cookim: authenticated, stored, over CookIM's `/ws-chat` protocol.
    Cookim,
    /// cookim with our client's extensions on: every connection goes online with `ext`, sends
    /// a read mark for what it received at most every 300 ms (as our web client does), and a
    /// sender says it is typing before each message (not in the suite: `--system cookim-ext`
    /// sets it beside `cookim`).
    CookimExt,
    /// `bench/peers/ws-server.js`: Node.js with the `ws` package, broadcast rooms.
    NodeWs,
    /// `bench/peers/socketio-server.js`: Socket.IO rooms.
    SocketIo,
    /// `cookim-rawpeer`: async-tungstenite broadcast rooms, no auth, no store: the ceiling.
    Raw,
}

impl System {
    /// Every system, in the order the suite plays them.
    pub const ALL: [System; 4] = [
        System::Cookim,
        System::NodeWs,
        System::SocketIo,
        System::Raw,
    ];

    /// Whether it is cookim (with or without the extensions).
    pub fn is_cookim(self) -> bool {
        matches!(self, System::Cookim | System::CookimExt)
    }

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            System::Cookim => "cookim",
            System::CookimExt => "cookim-ext",
            System::NodeWs => "node-ws",
            System::SocketIo => "socket-io",
            System::Raw => "raw",
        }
    }
}

impl std::str::FromStr for System {
    type Err = String;
    fn from_str(s: &str) -> Result<System, String> {
        System::ALL
            .into_iter()
            .chain([System::CookimExt])
            .find(|system| system.name() == s)
            .ok_or_else(|| {
                format!("unknown system {s:?}: cookim, cookim-ext, node-ws, socket-io or raw")
            })
    }
}

/// One simulated connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conn {
    /// cookim: the user id; peers: the user name.
    pub uid: String,
    /// cookim: the user token; peers: unused.
    pub user_token: String,
    /// cookim: the session id; peers: the room name.
    pub room: String,
    /// cookim: the session token for `/ws-chat`; `None` opens an idle `/ws-push` instead.
    pub session_token: Option<String>,
    /// Whether this connection sends in rounds.
    pub sends: bool,
}

/// An open websocket to a system under test.
pub type Socket = WebSocketStream<TcpStream>;

/// Small buffers: the load client holds up to ~10,000 connections per process and should
/// cost less than the servers it measures.
fn lean_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

fn query(conn: &Conn) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("user", &conn.uid)
        .append_pair("rooms", &conn.room)
        .finish()
}

/// Opens `conn` on `system` at `addr` and waits until it is in its room (or authenticated,
/// for an idle cookim connection).
///
/// # Errors
/// A transport or handshake error, or [`Error::Http`] if the server does not confirm in time.
pub async fn open(
    system: System,
    addr: SocketAddr,
    source: Option<IpAddr>,
    conn: &Conn,
) -> Result<Socket> {
    let path = match (system, &conn.session_token) {
        (System::Cookim | System::CookimExt, Some(_)) => "/ws-chat".to_owned(),
        (System::Cookim | System::CookimExt, None) => "/ws-push".to_owned(),
        (System::NodeWs | System::Raw, _) => format!("/ws?{}", query(conn)),
        (System::SocketIo, _) => format!("/socket.io/?EIO=4&transport=websocket&{}", query(conn)),
    };
    let stream = harness::client::tcp_from(addr, source).await?;
    let (mut socket, _) = async_tungstenite::client_async_with_config(
        format!("ws://{addr}{path}"),
        stream,
        Some(lean_config()),
    )
    .await?;
    let limit = std::time::Duration::from_secs(60);
    match (system, &conn.session_token) {
        (System::Cookim | System::CookimExt, Some(session_token)) => {
            let mut online = serde_json::json!({"userToken": conn.user_token, "sessionToken": session_token, "msgType": "online", "content": ""});
            if system == System::CookimExt {
                online["ext"] = serde_json::json!(1);
            }
            send_text(&mut socket, online.to_string()).await?;
            let uid = conn.uid.clone();
            wait_text(&mut socket, limit, |text| {
                text.contains(r#""msgType":"online""#) && text.contains(&uid)
            })
            .await?;
        }
        (System::Cookim | System::CookimExt, None) => {
            let auth = serde_json::json!({"userToken": conn.user_token});
            send_text(&mut socket, auth.to_string()).await?;
            wait_text(&mut socket, limit, |text| {
                text.contains(r#""msgType":"accept""#)
            })
            .await?;
        }
        (System::SocketIo, _) => {
            // Engine.IO open packet, then connect the default namespace.
            wait_text(&mut socket, limit, |text| text.starts_with('0')).await?;
            send_text(&mut socket, "40".to_owned()).await?;
            wait_text(&mut socket, limit, |text| text.starts_with("40")).await?;
        }
        (System::NodeWs | System::Raw, _) => {}
    }
    Ok(socket)
}

async fn send_text(socket: &mut Socket, text: String) -> Result<()> {
    Ok(socket.send(Message::Text(text.into())).await?)
}

async fn wait_text(
    socket: &mut Socket,
    limit: std::time::Duration,
    want: impl Fn(&str) -> bool,
) -> Result<()> {
    use futures_lite::FutureExt;
    use futures_util::StreamExt;
    async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                if want(&text) {
                    return Ok(());
                }
                if text.contains(r#""msgType":"reject""#) {
                    return Err(Error::Http(format!("rejected: {}", text.as_str())));
                }
            }
        }
        Err(Error::Http("closed before confirming".into()))
    }
    .or(async {
        smol::Timer::after(limit).await;
        Err(Error::Http(format!("no confirmation within {limit:?}")))
    })
    .await
}

/// The extension frame of `msg_type` (`read` up to the newest message, `typing`) that a
/// `cookim-ext` connection sends; `None` for other systems.
pub fn extension_frame(system: System, conn: &Conn, msg_type: &str) -> Option<String> {
    (system == System::CookimExt).then(|| {
        serde_json::json!({
            "userToken": conn.user_token,
            "sessionToken": conn.session_token.as_deref().unwrap_or_default(),
            "msgType": msg_type,
            // The server clamps a read mark to the newest message it delivered here.
            "seq": i64::MAX,
        })
        .to_string()
    })
}

/// The frame that sends `content` in `conn`'s room.
pub fn chat_frame(system: System, conn: &Conn, content: &str) -> String {
    match system {
        System::Cookim | System::CookimExt => serde_json::json!({
            "userToken": conn.user_token,
            "sessionToken": conn.session_token.as_deref().unwrap_or_default(),
            "msgType": "text",
            "content": content,
        })
        .to_string(),
        System::NodeWs | System::Raw => {
            serde_json::json!({"room": conn.room, "content": content}).to_string()
        }
        System::SocketIo => format!(
            "42{}",
            serde_json::json!(["chat", {"room": conn.room, "content": content}])
        ),
    }
}

/// The content of the `n`th message of `round`, sent now.
pub fn content(round: u32, n: u64) -> String {
    format!("{}:{round}:{n}", now_us())
}

/// Microseconds since the epoch: comparable across the load generator's processes.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What a frame from the server is, to the load generator.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A chat message sent at `sent_us` in `round`.
    Chat {
        /// When it was sent.
        sent_us: u64,
        /// Which round sent it.
        round: u32,
    },
    /// The server refused something.
    Reject,
    /// An Engine.IO ping, to be answered with `3`.
    Ping,
    /// Anything else (presence events, acks).
    Other,
}

/// Classifies a text frame without parsing it as JSON.
pub fn classify(system: System, text: &str) -> Frame {
    match system {
        System::Cookim | System::CookimExt => {
            if text.contains(r#""msgType":"text""#) {
                chat(text)
            } else if text.contains(r#""msgType":"reject""#) {
                Frame::Reject
            } else {
                Frame::Other
            }
        }
        System::NodeWs | System::Raw => {
            if text.starts_with(r#"{"error""#) {
                Frame::Reject
            } else {
                chat(text)
            }
        }
        System::SocketIo => {
            if text == "2" {
                Frame::Ping
            } else if text.starts_with("42") {
                chat(text)
            } else {
                Frame::Other
            }
        }
    }
}

fn chat(text: &str) -> Frame {
    const MARK: &str = r#""content":""#;
    let Some(at) = text.find(MARK) else {
        return Frame::Other;
    };
    let mut fields = text[at + MARK.len()..].split([':', '"']);
    let sent_us = fields.next().and_then(|f| f.parse().ok());
    let round = fields.next().and_then(|f| f.parse().ok());
    match (sent_us, round) {
        (Some(sent_us), Some(round)) => Frame::Chat { sent_us, round },
        _ => Frame::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn {
            uid: "u1".into(),
            user_token: "ut".into(),
            room: "r\"1".into(),
            session_token: Some("st".into()),
            sends: true,
        }
    }

    #[test]
    fn every_system_reads_back_what_it_sends() {
        for system in System::ALL {
            let frame = chat_frame(system, &conn(), "1234:7:9");
            // The servers relay the content field unchanged inside their own frame.
            let echoed = match system {
                System::Cookim => {
                    frame.replace(r#""msgType":"text""#, r#""msgType":"text","uid":"u1""#)
                }
                _ => frame,
            };
            assert_eq!(
                classify(system, &echoed),
                Frame::Chat {
                    sent_us: 1234,
                    round: 7
                },
                "{system:?}: {echoed}"
            );
            assert_eq!(system.name().parse::<System>(), Ok(system));
        }
    }

    #[test]
    fn other_frames_are_not_chat() {
        assert_eq!(classify(System::SocketIo, "2"), Frame::Ping);
        assert_eq!(classify(System::SocketIo, r#"40{"sid":"x"}"#), Frame::Other);
        assert_eq!(
            classify(System::Cookim, r#"{"msgType":"reject","content":"no"}"#),
            Frame::Reject
        );
        assert_eq!(
            classify(System::Cookim, r#"{"msgType":"online","content":""}"#),
            Frame::Other
        );
        assert_eq!(
            classify(System::NodeWs, r#"{"error":"bad"}"#),
            Frame::Reject
        );
        assert_eq!(
            classify(System::Raw, r#"{"room":"a","content":"not a stamp"}"#),
            Frame::Other
        );
        assert!(content(3, 4).ends_with(":3:4"));
    }
}
