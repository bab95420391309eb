//! Attacks on the web port. Each keeps its pressure up for the whole attack: a connection the
//! node closes is opened again, and what the node answered is counted by kind.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Attack, Tally, source, without_numbers};
use harness::client::{self, Socket, User};

/// What an attacker knows of its target.
#[derive(Clone, Debug)]
pub struct Context {
    /// The node's web address.
    pub addr: SocketAddr,
    /// The node's mesh port (TCP and UDP).
    pub mesh: SocketAddr,
    /// The attacker's UDP port that the node lists as a seed (mesh attack only).
    pub fake_seed: Option<u16>,
    /// The normal chat's group.
    pub sid: String,
    /// The normal chat's members.
    pub victims: Vec<User>,
}

/// Connections of the huge-frame attack, and each frame's size.
const BIG_FRAMES: (usize, usize) = (30, 8 * 1024 * 1024);
/// `loginUser` requests kept in flight.
const LOGINS: usize = 300;
/// Slowloris connections.
const SLOWLORIS: usize = 500;
/// Websockets that never authenticate.
const SILENT: usize = 1000;
/// A refused connection is tried again after this, not in a hot loop.
const RETRY: Duration = Duration::from_millis(100);

/// Plays `attack` on `ex` until `tally` says stop; `Null` (no findings beyond the tally).
pub async fn attack(
    ex: &smol::LocalExecutor<'_>,
    attack: Attack,
    context: &Context,
    tally: &Arc<Tally>,
) -> Value {
    let addr = context.addr;
    let tasks: Vec<smol::Task<()>> = match attack {
        Attack::BigFrames => {
            let frame = Utf8Bytes::from(big_json(BIG_FRAMES.1));
            (0..BIG_FRAMES.0)
                .map(|_| ex.spawn(big_frames(addr, frame.clone(), tally.clone())))
                .collect()
        }
        Attack::Logins => (0..LOGINS)
            .map(|i| ex.spawn(logins(addr, i, tally.clone())))
            .collect(),
        Attack::Slowloris => (0..SLOWLORIS)
            .map(|_| ex.spawn(slowloris(addr, tally.clone())))
            .collect(),
        Attack::Silent => (0..SILENT)
            .map(|_| ex.spawn(silent(addr, tally.clone())))
            .collect(),
        Attack::Flood => vec![ex.spawn(flood(addr, tally.clone()))],
        Attack::None | Attack::Mesh => Vec::new(),
    };
    for task in tasks {
        task.await;
    }
    Value::Null
}

/// `{"a":[0,0,...]}` of about `bytes` bytes.
fn big_json(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    text.push_str("{\"a\":[0");
    while text.len() + 4 <= bytes {
        text.push_str(",0");
    }
    text.push_str("]}");
    text
}

/// How a websocket ended or what went wrong, as the tally names it.
fn ws_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => format!("io {:?}", io.kind()),
        tungstenite::Error::Http(response) => format!("http {}", response.status().as_u16()),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "closed".into(),
        other => {
            let text = other.to_string();
            text.split(':').next().unwrap_or_default().to_owned()
        }
    }
}

fn client_error(e: &client::Error) -> String {
    match e {
        client::Error::Ws(ws) => ws_error(ws),
        client::Error::Io(io) => format!("io {:?}", io.kind()),
        client::Error::Api { errmsg, .. } => format!("errmsg {}", without_numbers(errmsg)),
        other => without_numbers(&other.to_string())
            .chars()
            .take(60)
            .collect(),
    }
}

/// An anonymous websocket to `path` from the attack's source address `n`.
async fn websocket(addr: SocketAddr, n: u8, path: &str) -> client::Result<Socket> {
    let stream = client::tcp_from(addr, Some(source(n))).await?;
    let (socket, _) = async_tungstenite::client_async(format!("ws://{addr}{path}"), stream).await?;
    Ok(socket)
}

/// Reads until the node sends something; names it. `None` when the attack stops first.
async fn answer(socket: &mut Socket, tally: &Tally) -> Option<(String, bool)> {
    async {
        loop {
            return Some(match socket.next().await {
                None => ("eof".into(), true),
                Some(Err(e)) => (ws_error(&e), true),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    (format!("close {code}"), true)
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap_or_default();
                    let what = value["content"].as_str().unwrap_or("text");
                    (format!("reject {}", without_numbers(what)), false)
                }
                Some(Ok(_)) => continue,
            });
        }
    }
    .or(async {
        tally.stopped().await;
        None
    })
    .await
}

/// One socket of attack (a): send the huge frame, and again on every answer; reconnect when
/// the node closes.
async fn big_frames(addr: SocketAddr, frame: Utf8Bytes, tally: Arc<Tally>) {
    while !tally.stopping() {
        let mut socket = match websocket(addr, 0, "/ws-chat").await {
            Ok(socket) => socket,
            Err(e) => {
                tally.note(client_error(&e));
                smol::Timer::after(RETRY).await;
                continue;
            }
        };
        tally.opened();
        loop {
            tally.note("frames sent");
            if let Err(e) = socket.send(Message::Text(frame.clone())).await {
                tally.note(format!("send: {}", ws_error(&e)));
                break;
            }
            match answer(&mut socket, &tally).await {
                None => break,
                Some((what, closed)) => {
                    tally.note(what);
                    if closed {
                        break;
                    }
                }
            }
        }
        tally.closed();
    }
}

/// One of attack (b)'s requests in flight: `loginUser` for a login that does not exist.
async fn logins(addr: SocketAddr, i: usize, tally: Arc<Tally>) {
    let mut n = 0u64;
    while !tally.stopping() {
        let login = format!("nobody-{i}-{n}@attack.local");
        n += 1;
        let form = [("login", login.as_str()), ("password", "guessed-password")];
        let answer = client::api_from(addr, Some(source(1)), "loginUser", &form)
            .or(async {
                tally.stopped().await;
                Err(client::Error::Http("stopped".into()))
            })
            .await;
        match answer {
            Ok(_) => tally.note("logged in (!)"),
            Err(client::Error::Http(e)) if e == "stopped" => {}
            Err(e) => tally.note(client_error(&e)),
        }
    }
}

/// One connection of attack (c): a request head that never ends, one byte a second; when the
/// node cuts it (or answers), another.
async fn slowloris(addr: SocketAddr, tally: Arc<Tally>) {
    const HEAD: &[u8] = b"GET /ping HTTP/1.1\r\nHost: attack\r\n";
    while !tally.stopping() {
        let mut stream = match client::tcp_from(addr, Some(source(2))).await {
            Ok(stream) => stream,
            Err(e) => {
                tally.note(client_error(&e));
                smol::Timer::after(RETRY).await;
                continue;
            }
        };
        tally.opened();
        let mut reader = stream.clone();
        let trickle = async {
            for n in 0usize.. {
                // The head, then headers `X-<n>: a` forever.
                let byte = HEAD.get(n).copied().unwrap_or(b"X-a: b\r\n"[n % 8]);
                if stream.write_all(&[byte]).await.is_err() {
                    return "write failed".to_owned();
                }
                smol::Timer::after(Duration::from_secs(1)).await;
            }
            String::new()
        };
        let cut = async {
            let mut buf = [0u8; 512];
            match reader.read(&mut buf).await {
                Ok(0) => "cut (eof)".to_owned(),
                Ok(n) => {
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let status = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
                    format!("answered {status}")
                }
                Err(e) => format!("io {:?}", e.kind()),
            }
        };
        let stopped = async {
            tally.stopped().await;
            String::new()
        };
        let what = trickle.or(cut).or(stopped).await;
        if !what.is_empty() {
            tally.note(what);
        }
        tally.closed();
    }
}

/// One socket of attack (d): upgraded, then silent; opened again when the node closes it.
async fn silent(addr: SocketAddr, tally: Arc<Tally>) {
    while !tally.stopping() {
        let mut socket = match websocket(addr, 3, "/ws-chat").await {
            Ok(socket) => socket,
            Err(e) => {
                tally.note(client_error(&e));
                smol::Timer::after(RETRY).await;
                continue;
            }
        };
        tally.opened();
        if let Some((what, _)) = answer(&mut socket, &tally).await {
            tally.note(what);
        }
        tally.closed();
    }
}

/// Attack (e): a member of a group of its own sends texts as fast as the socket takes them;
/// when the node closes the socket, it opens the chat again.
async fn flood(addr: SocketAddr, tally: Arc<Tally>) {
    let login = format!("flood-{}@attack.local", crate::load::chat::run_tag());
    let user =
        match client::register_from(addr, Some(source(4)), &login, "flood", "floodpass").await {
            Ok(user) => user,
            Err(e) => return tally.note(format!("register: {}", client_error(&e))),
        };
    let sid = match client::create_group(addr, &user, "flood").await {
        Ok(sid) => sid,
        Err(e) => return tally.note(format!("group: {}", client_error(&e))),
    };
    while !tally.stopping() {
        let opened = client::open_chat(addr, &user, &sid, Duration::from_secs(10)).await;
        let (token, socket) = match opened {
            Ok(chat) => chat,
            Err(e) => {
                tally.note(format!("open: {}", client_error(&e)));
                smol::Timer::after(RETRY).await;
                continue;
            }
        };
        let (mut sink, mut stream) = socket.split();
        let reads = async {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Text(text)) if text.contains(r#""msgType":"reject""#) => {
                        let value: Value = serde_json::from_str(&text).unwrap_or_default();
                        let what = value["content"].as_str().unwrap_or("");
                        tally.note(format!("reject {}", without_numbers(what)));
                    }
                    Ok(Message::Text(_)) => tally.note("echoes"),
                    Ok(Message::Close(frame)) => {
                        let code = frame.map_or(1005, |f| u16::from(f.code));
                        tally.note(format!("close {code}"));
                    }
                    Ok(_) => {}
                    Err(e) => tally.note(ws_error(&e)),
                }
            }
        };
        let sends = async {
            for n in 0u64.. {
                let up = json!({"userToken": user.token, "sessionToken": token, "msgType": "text", "content": format!("flood {n}")});
                if sink
                    .send(Message::Text(up.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                tally.note("texts sent");
            }
            // The node closed the socket: wait for the reader to see the close.
            std::future::pending::<()>().await;
        };
        reads.or(sends).or(tally.stopped()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_big_frame_is_json_of_the_size_asked() -> serde_json::Result<()> {
        let text = big_json(1000);
        assert!((997..=1000).contains(&text.len()), "{}", text.len());
        let value: Value = serde_json::from_str(&text)?;
        assert!(value["a"].as_array().is_some_and(|a| a.len() > 400));
        Ok(())
    }
}
