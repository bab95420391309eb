//! A websocket client for `/ws-chat` and `/ws-push`: every wait has a deadline and names what
//! it waited for.

use std::fmt;
use std::net::SocketAddr;

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use futures_lite::StreamExt;
use protocol::binary::{self, BinaryHeader};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};

use super::fixtures::{User, str_of};
use super::http::api_ok;
use super::{Result, fail, within};

/// A websocket client on `/ws-chat` or `/ws-push`.
pub(crate) struct Ws {
    stream: WebSocketStream<TcpStream>,
    /// Which socket, for error messages.
    path: String,
}

/// A text frame: the raw JSON as sent, and parsed.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) raw: String,
    pub(crate) json: Value,
}

impl Ws {
    /// Connects to `path` (`/ws-chat` or `/ws-push`).
    pub(crate) async fn connect(addr: SocketAddr, path: &str) -> Result<Ws> {
        Ws::connect_over(TcpStream::connect(addr).await?, addr, path).await
    }

    /// Connects to `path` over a TCP connection already open to `addr` (one bound to a source
    /// address of the test's choosing, say).
    pub(crate) async fn connect_over(
        stream: TcpStream,
        addr: SocketAddr,
        path: &str,
    ) -> Result<Ws> {
        within(&format!("the {path} handshake"), async {
            let (stream, response) =
                async_tungstenite::client_async(format!("ws://{addr}{path}"), stream).await?;
            if response.status().as_u16() != 101 {
                return fail(format!("{path} handshake answered {}", response.status()));
            }
            Ok(Ws {
                stream,
                path: path.to_owned(),
            })
        })
        .await?
    }

    /// Sends a text frame.
    pub(crate) async fn send_text(&mut self, text: impl Into<String>) -> Result {
        Ok(within(
            "a frame to be sent",
            self.stream.send(Message::text(text.into())),
        )
        .await??)
    }

    /// Sends a JSON text frame.
    pub(crate) async fn send_json(&mut self, value: &Value) -> Result {
        self.send_text(value.to_string()).await
    }

    /// Sends a binary frame.
    pub(crate) async fn send_binary(&mut self, bytes: Vec<u8>) -> Result {
        Ok(within(
            "a frame to be sent",
            self.stream.send(Message::binary(bytes)),
        )
        .await??)
    }

    /// The next data or close frame (pings and pongs skipped), without a deadline.
    async fn next_message(&mut self) -> Result<Message> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Ok(message),
                Some(Err(e)) => return fail(format!("{} failed: {e}", self.path)),
                None => return fail(format!("{} ended", self.path)),
            }
        }
    }

    /// The next text frame that `matches`, skipping the others (keepalives, online events...).
    pub(crate) async fn next_frame_where(
        &mut self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Frame> {
        let path = self.path.clone();
        within(&format!("{what} on {path}"), async {
            loop {
                match self.next_message().await? {
                    Message::Text(text) => {
                        let raw = text.as_str().to_owned();
                        let json: Value = serde_json::from_str(&raw)
                            .map_err(|e| format!("{path} sent non-JSON {raw:?}: {e}"))?;
                        if matches(&json) {
                            return Ok(Frame { raw, json });
                        }
                    }
                    other => {
                        return fail(format!("{path} sent {other:?} while waiting for {what}"));
                    }
                }
            }
        })
        .await?
    }

    /// The next text frame that `matches`, parsed.
    pub(crate) async fn next_json_where(
        &mut self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        Ok(self.next_frame_where(what, matches).await?.json)
    }

    /// The next text frame of this `msgType`.
    pub(crate) async fn next_of(&mut self, msg_type: &str) -> Result<Value> {
        self.next_json_where(&format!("a {msg_type:?} message"), |v| {
            v["msgType"] == msg_type
        })
        .await
    }

    /// The next text frame, whatever it is.
    pub(crate) async fn next_json(&mut self) -> Result<Value> {
        self.next_json_where("any message", |_| true).await
    }

    /// The next text frame other than a keepalive, or the close frame, whichever comes first:
    /// for input a server may answer either way.
    pub(crate) async fn next_text_or_close(&mut self, what: &str) -> Result<Message> {
        let path = self.path.clone();
        within(&format!("{what} on {path}"), async {
            loop {
                let message = self.next_message().await?;
                if let Message::Text(text) = &message
                    && text.as_str().contains("\"msgType\":\"keepalive\"")
                {
                    continue;
                }
                return Ok(message);
            }
        })
        .await?
    }

    /// Waits for the server's close frame, skipping text frames before it.
    pub(crate) async fn next_close(&mut self) -> Result<Option<CloseFrame>> {
        let path = self.path.clone();
        within(&format!("a close frame on {path}"), async {
            loop {
                match self.next_message().await? {
                    Message::Close(frame) => return Ok(frame),
                    Message::Text(_) => continue,
                    other => {
                        return fail(format!(
                            "{path} sent {other:?} while waiting for a close frame"
                        ));
                    }
                }
            }
        })
        .await?
    }

    /// Closes the connection and waits for the server's close reply, failing if the server
    /// drops the connection without one (RFC 6455 §5.5.1).
    pub(crate) async fn close(mut self) -> Result {
        let path = self.path.clone();
        within(&format!("the close reply on {path}"), async {
            self.stream.close(None).await?;
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Close(_))) => return Ok(()),
                    // Frames already in flight when we closed.
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        return fail(format!("{path} failed instead of answering our close: {e}"));
                    }
                    None => return fail(format!("{path} ended without answering our close")),
                }
            }
        })
        .await?
    }
}

/// A `/ws-chat` connection that went online in a session.
pub(crate) struct Chat {
    pub(crate) ws: Ws,
    pub(crate) user: User,
    pub(crate) session_token: String,
}

impl Chat {
    /// Opens the chat page as the client does: `listMessages` for the session token, connect,
    /// `online`, and wait for our own online event (so we are subscribed).
    pub(crate) async fn open(addr: SocketAddr, user: &User, sid: &str) -> Result<Chat> {
        Chat::open_with(addr, user, sid, json!({})).await
    }

    /// Opens the chat as our own client does: extension frames (`ext`), and resume after the
    /// last message the history page showed (so live frames carry their `seq`).
    pub(crate) async fn open_ext(addr: SocketAddr, user: &User, sid: &str) -> Result<Chat> {
        let page = api_ok(
            addr,
            "listMessages",
            &[
                ("userToken", &user.token),
                ("sessionid", sid),
                ("withSeq", "1"),
            ],
        )
        .await?;
        let last = page["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["seq"].as_i64())
            .unwrap_or(0);
        Chat::open_with(addr, user, sid, json!({ "ext": 1, "after": last })).await
    }

    /// Opens the chat with the resume extension: `online` carries `after`, so the server sends
    /// every stored message after that `seq` (with `seq` fields), then live ones. Returns once
    /// our own online event arrived (the missed messages follow it).
    pub(crate) async fn open_after(
        addr: SocketAddr,
        user: &User,
        sid: &str,
        after: i64,
    ) -> Result<Chat> {
        Chat::open_with(addr, user, sid, json!({ "after": after })).await
    }

    /// Opens the chat with `extra` fields on `online`.
    async fn open_with(addr: SocketAddr, user: &User, sid: &str, extra: Value) -> Result<Chat> {
        // Our client lists with `withSeq` (which leaves its read mark alone), CookIM's without.
        let with_seq = if extra.get("ext").is_some() { "1" } else { "" };
        let answer = api_ok(
            addr,
            "listMessages",
            &[
                ("userToken", &user.token),
                ("sessionid", sid),
                ("page", "1"),
                ("count", "50"),
                ("withSeq", with_seq),
            ],
        )
        .await?;
        let mut chat = Chat {
            ws: Ws::connect(addr, "/ws-chat").await?,
            user: user.clone(),
            session_token: str_of(&answer, "sessionToken")?,
        };
        let mut up = json!({
            "userToken": chat.user.token,
            "sessionToken": chat.session_token,
            "msgType": "online",
            "content": "",
        });
        if let (Some(up), Some(extra)) = (up.as_object_mut(), extra.as_object()) {
            up.extend(extra.clone());
        }
        chat.ws.send_json(&up).await?;
        let uid = user.uid.clone();
        chat.ws
            .next_json_where(&format!("{}'s own online event", user.nickname), |v| {
                v["msgType"] == "online" && v["uid"] == uid.as_str()
            })
            .await?;
        Ok(chat)
    }

    /// Sends an up message with both tokens.
    pub(crate) async fn send(&mut self, msg_type: &str, content: &str) -> Result {
        let up = json!({
            "userToken": self.user.token,
            "sessionToken": self.session_token,
            "msgType": msg_type,
            "content": content,
        });
        self.ws.send_json(&up).await
    }

    /// Sends an up message of `msg_type` with both tokens and `fields`.
    pub(crate) async fn up(&mut self, msg_type: &str, fields: Value) -> Result {
        let mut up = json!({
            "userToken": self.user.token,
            "sessionToken": self.session_token,
            "msgType": msg_type,
        });
        if let (Some(up), Some(fields)) = (up.as_object_mut(), fields.as_object()) {
            up.extend(fields.clone());
        }
        self.ws.send_json(&up).await
    }

    /// Sends a text message.
    pub(crate) async fn say(&mut self, content: &str) -> Result {
        self.send("text", content).await
    }

    /// Sends a text message with the client's own id for it (`clientId`).
    pub(crate) async fn say_with_id(&mut self, content: &str, client_id: &str) -> Result {
        let up = json!({
            "userToken": self.user.token,
            "sessionToken": self.session_token,
            "msgType": "text",
            "content": content,
            "clientId": client_id,
        });
        self.ws.send_json(&up).await
    }

    /// Uploads a file as the stock client does (§8.4): a header with both tokens, the marker,
    /// then `bytes`. `file_name` is `None` for a voice message (the client's header has none).
    pub(crate) async fn upload(
        &mut self,
        file_name: Option<&str>,
        file_type: &str,
        bytes: &[u8],
    ) -> Result {
        let frame = upload_frame(
            &self.user.token,
            &self.session_token,
            file_name,
            file_type,
            bytes,
        );
        self.ws.send_binary(frame).await
    }

    /// Waits for the next `file` message from anyone.
    pub(crate) async fn expect_file(&mut self, what: &str) -> Result<Frame> {
        self.ws
            .next_frame_where(what, |v| v["msgType"] == "file")
            .await
    }

    /// The next text or file message, whatever it is (skips online events and keepalives).
    pub(crate) async fn next_post(&mut self, what: &str) -> Result<Frame> {
        self.ws
            .next_frame_where(what, |v| v["msgType"] == "text" || v["msgType"] == "file")
            .await
    }

    /// Waits for the text message `content`, failing on any extension frame (typing, read)
    /// before it: what CookIM's client must never get.
    pub(crate) async fn expect_text_and_no_extension(&mut self, content: &str) -> Result<Frame> {
        let frame = self
            .ws
            .next_frame_where(&format!("text {content:?}"), |v| {
                (v["msgType"] == "text" && v["content"] == content)
                    || matches!(v["msgType"].as_str(), Some("typing" | "read"))
            })
            .await?;
        if frame.json["msgType"] != "text" {
            return fail(format!(
                "an extension frame reached a plain connection: {}",
                frame.raw
            ));
        }
        Ok(frame)
    }

    /// Waits for the text message `content` from anyone.
    pub(crate) async fn expect_text(&mut self, content: &str) -> Result<Frame> {
        self.ws
            .next_frame_where(&format!("text {content:?}"), |v| {
                v["msgType"] == "text" && v["content"] == content
            })
            .await
    }
}

/// The binary frame of an upload (§8.4), with `fileSize` the length of `bytes`.
pub(crate) fn upload_frame(
    user_token: &str,
    session_token: &str,
    file_name: Option<&str>,
    file_type: &str,
    bytes: &[u8],
) -> Vec<u8> {
    let header = BinaryHeader {
        user_token: user_token.to_owned(),
        session_token: session_token.to_owned(),
        msg_type: "file".to_owned(),
        file_name: file_name.map(str::to_owned),
        file_size: bytes.len() as u64,
        file_type: file_type.to_owned(),
        reply_to: None,
    };
    binary::encode(&header, bytes)
}

/// A `/ws-push` connection whose subscription was accepted.
pub(crate) async fn subscribe_push(addr: SocketAddr, user: &User) -> Result<(Ws, Frame)> {
    let mut ws = Ws::connect(addr, "/ws-push").await?;
    ws.send_json(&json!({ "userToken": user.token })).await?;
    let accept = ws
        .next_frame_where("the push accept", |v| v["msgType"] != "keepalive")
        .await?;
    if accept.json["msgType"] != "accept" {
        return fail(format!("push subscribe answered {}", accept.raw));
    }
    Ok((ws, accept))
}

/// The keys of a JSON object in the order they appear in `raw` (serde_json's `Value` sorts
/// them, so the wire order needs its own parse).
pub(crate) fn keys_in_order(raw: &str) -> Result<Vec<String>> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }
    Ok(serde_json::Deserializer::from_str(raw).deserialize_map(Keys)?)
}
