//! One chat client of a scenario, as a modern client behaves: it sends a text every few
//! hundred milliseconds with its own `clientId`, waits for the echo, and on a timeout, a
//! `reject` or a broken connection reconnects (to the same node, or another one if that one
//! does not answer) resuming with `after` = the last `seq` it has, and resends what was not
//! acknowledged under the same `clientId`. It records everything for [`super::check`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::check::{Ack, ClientLog, Connection, Received, Sent};
use harness::client::{self, Socket, User};

/// An echo not back within this is a lost send: reconnect and retry.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Connecting and getting the `online` answer, each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Between attempts to connect.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Failed attempts on one node before trying the next.
const ATTEMPTS_PER_NODE: u32 = 2;

/// The web address of every node now (`None` while it is down).
pub type Directory = Arc<Mutex<Vec<Option<SocketAddr>>>>;

/// What the scenario tells a client.
#[derive(Debug)]
pub enum Control {
    /// Close the connection and resume on node `usize`.
    Hop(usize),
    /// Send nothing new (retries of what is pending go on).
    StopSending,
    /// Read up to `seq` (the end of history), then end.
    Finish(i64),
}

/// The state others may look at while the client runs.
#[derive(Debug, Default)]
pub struct Shared {
    /// What it recorded so far.
    pub log: ClientLog,
    /// A send waits for its echo.
    pub pending: bool,
}

/// A client: who, where, and how fast.
#[derive(Debug)]
pub struct Client {
    /// Its index in the scenario.
    pub index: usize,
    /// Its user.
    pub user: User,
    /// The group's session token (valid on every node: one signing secret).
    pub session_token: String,
    /// Where it starts.
    pub home: usize,
    /// Between its sends.
    pub send_every: Duration,
    /// Time zero of the scenario.
    pub t0: Instant,
    /// Node addresses.
    pub directory: Directory,
    /// What it recorded, shared.
    pub shared: Arc<Mutex<Shared>>,
}

struct Pending {
    client_id: String,
    content: String,
    last_try: Instant,
}

/// What woke the client.
enum Wake {
    Control(Option<Control>),
    Frame(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Tick,
}

impl Client {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn addr_of(&self, node: usize) -> Option<SocketAddr> {
        let directory = self
            .directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        directory.get(node).copied().flatten()
    }

    fn nodes(&self) -> usize {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Opens `/ws-chat` on `addr` resuming after `after`; the socket once its own `online`
    /// event came.
    async fn open(&self, addr: SocketAddr, after: i64) -> client::Result<Socket> {
        let connect = async {
            let mut socket = client::connect(addr, "/ws-chat").await?;
            let online = json!({"userToken": self.user.token, "sessionToken": self.session_token, "msgType": "online", "content": "", "after": after});
            client::send_json(&mut socket, &online).await?;
            let uid = self.user.uid.clone();
            client::wait_for(&mut socket, CONNECT_TIMEOUT, |v| {
                v["msgType"] == "online" && v["uid"] == uid.as_str()
            })
            .await?;
            Ok(socket)
        };
        connect
            .or(async {
                smol::Timer::after(CONNECT_TIMEOUT * 2).await;
                Err(client::Error::Http(format!("{addr} did not answer")))
            })
            .await
    }

    /// Runs until told to finish (or `give_up` after that), then returns.
    pub async fn run(self, control: async_channel::Receiver<Control>, give_up: Duration) {
        let mut node = self.home;
        let mut socket: Option<(Socket, usize)> = None;
        let mut failures = 0u32;
        let mut pending: Option<Pending> = None;
        let mut sending = true;
        let mut finish: Option<(i64, Instant)> = None;
        let mut last_seq = 0i64;
        let mut sent_count = 0u32;
        let mut next_send = Instant::now() + self.send_every;
        loop {
            if let Some((end, since)) = finish
                && (last_seq >= end || since.elapsed() > give_up)
            {
                if let Some((ws, conn)) = socket.take() {
                    self.closed(conn);
                    close(ws).await;
                }
                return;
            }
            let Some((ws, conn)) = socket.as_mut() else {
                // Connect (or reconnect), resuming after what we have.
                let target = self.addr_of(node);
                let opened = match target {
                    Some(addr) => self.open(addr, last_seq).await.ok(),
                    None => None,
                };
                match opened {
                    Some(ws) => {
                        failures = 0;
                        let conn = {
                            let mut shared = self.shared();
                            shared.log.connections.push(Connection {
                                node,
                                opened_ms: self.now_ms(),
                                closed_ms: None,
                            });
                            shared.log.connections.len() - 1
                        };
                        socket = Some((ws, conn));
                        // What was not acknowledged goes again, under the same id.
                        if let (Some(p), Some((ws, conn))) = (pending.as_mut(), socket.as_mut())
                            && self.send(ws, node, p).await.is_err()
                        {
                            self.closed(*conn);
                            socket = None;
                        }
                    }
                    None => {
                        failures += 1;
                        if failures >= ATTEMPTS_PER_NODE {
                            failures = 0;
                            node = (node + 1) % self.nodes().max(1);
                        }
                        smol::Timer::after(RETRY_PAUSE).await;
                    }
                }
                continue;
            };
            let conn = *conn;
            let tick = match (&pending, sending) {
                (Some(p), _) => p.last_try + ACK_TIMEOUT,
                (None, true) => next_send,
                // Nothing to send or to wait for: only frames and orders wake it.
                (None, false) => Instant::now() + Duration::from_secs(3600),
            };
            let wake = async { Wake::Control(control.recv().await.ok()) }
                .or(async { Wake::Frame(ws.next().await) })
                .or(async {
                    smol::Timer::at(tick).await;
                    Wake::Tick
                })
                .await;
            match wake {
                Wake::Control(None) => return,
                Wake::Control(Some(Control::Hop(to))) => {
                    self.closed(conn);
                    if let Some((ws, _)) = socket.take() {
                        close(ws).await;
                    }
                    node = to;
                }
                Wake::Control(Some(Control::StopSending)) => sending = false,
                Wake::Control(Some(Control::Finish(end))) => {
                    sending = false;
                    finish = Some((end, Instant::now()));
                }
                Wake::Frame(Some(Ok(Message::Text(text)))) => {
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    self.on_frame(&value, conn, &mut pending, &mut last_seq);
                    if pending.is_none() {
                        self.shared().pending = false;
                    }
                }
                Wake::Frame(Some(Ok(_))) => {}
                Wake::Frame(_) => {
                    // Closed or broken: reconnect.
                    self.closed(conn);
                    socket = None;
                }
                Wake::Tick => {
                    if let Some(p) = &pending {
                        if p.last_try.elapsed() >= ACK_TIMEOUT {
                            // No echo: the connection is presumed dead.
                            self.closed(conn);
                            if let Some((ws, _)) = socket.take() {
                                close(ws).await;
                            }
                        }
                    } else if sending && Instant::now() >= next_send {
                        sent_count += 1;
                        let mut p = Pending {
                            client_id: format!("c{}-{sent_count}", self.index),
                            content: format!("client {} message {sent_count}", self.index),
                            last_try: Instant::now(),
                        };
                        {
                            let mut shared = self.shared();
                            shared.pending = true;
                            shared.log.sent.push(Sent {
                                client_id: p.client_id.clone(),
                                first_ms: self.now_ms(),
                                attempts: 0,
                                acked: None,
                                via: Vec::new(),
                            });
                        }
                        let sent = match socket.as_mut() {
                            Some((ws, _)) => self.send(ws, node, &mut p).await,
                            None => Ok(()),
                        };
                        pending = Some(p);
                        next_send = Instant::now() + self.send_every;
                        if sent.is_err() {
                            self.closed(conn);
                            socket = None;
                        }
                    }
                }
            }
        }
    }

    /// Sends (or resends) the pending text.
    async fn send(&self, ws: &mut Socket, node: usize, p: &mut Pending) -> client::Result<()> {
        p.last_try = Instant::now();
        {
            let mut shared = self.shared();
            if let Some(sent) = shared.log.sent.last_mut() {
                sent.attempts += 1;
                if !sent.via.contains(&node) {
                    sent.via.push(node);
                }
            }
        }
        let up = json!({"userToken": self.user.token, "sessionToken": self.session_token, "msgType": "text", "content": p.content, "clientId": p.client_id});
        client::send_json(ws, &up)
            .or(async {
                smol::Timer::after(CONNECT_TIMEOUT).await;
                Err(client::Error::Http("send stalled".into()))
            })
            .await
    }

    fn closed(&self, conn: usize) {
        let now = self.now_ms();
        let mut shared = self.shared();
        if let Some(c) = shared.log.connections.get_mut(conn)
            && c.closed_ms.is_none()
        {
            c.closed_ms = Some(now);
        }
    }

    /// Records a stored message (and an acknowledgement); a `reject` makes the pending text go
    /// again at once, on a new connection.
    fn on_frame(&self, v: &Value, conn: usize, pending: &mut Option<Pending>, last_seq: &mut i64) {
        let kind = v["msgType"].as_str().unwrap_or_default();
        if kind == "reject" {
            if let Some(p) = pending.as_mut() {
                p.last_try = Instant::now() - ACK_TIMEOUT;
            }
            return;
        }
        if !matches!(kind, "text" | "file" | "join" | "leave") {
            return;
        }
        let Some(seq) = v["seq"].as_i64() else { return };
        let now = self.now_ms();
        let own = v["uid"] == self.user.uid.as_str();
        let client_id = v["clientId"].as_str();
        let mut shared = self.shared();
        let retried = own
            && client_id.is_some_and(|id| {
                shared
                    .log
                    .sent
                    .iter()
                    .any(|s| s.client_id == id && s.attempts > 1)
            });
        let retry_echo = retried && seq <= *last_seq;
        shared.log.received.push(Received {
            seq,
            conn,
            at_ms: now,
            retry_echo,
        });
        if !retry_echo {
            *last_seq = (*last_seq).max(seq);
        }
        if own
            && let (Some(id), Some(p)) = (client_id, pending.as_ref())
            && p.client_id == id
        {
            if let Some(sent) = shared.log.sent.iter_mut().rev().find(|s| s.client_id == id) {
                sent.acked = Some(Ack {
                    seq,
                    at_ms: now,
                    conn,
                });
            }
            *pending = None;
        }
    }
}

/// Says goodbye on `ws` if that goes at once; a connection to a node that is cut off or gone
/// would keep a close waiting for its answer.
async fn close(mut ws: Socket) {
    let _ = ws
        .close(None)
        .or(async {
            smol::Timer::after(Duration::from_millis(200)).await;
            Ok(())
        })
        .await;
}
