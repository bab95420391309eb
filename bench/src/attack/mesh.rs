//! Attack (f), a forged mesh peer, against a one-node cluster whose second seed is the
//! attacker's UDP socket:
//!
//! - 256 silent TCP connections to the mesh port, opened again when cut;
//! - a peer speaking the link format of the unauthenticated mesh (before mesh authentication:
//!   link version 2, a `Hello` naming any node, then an envelope), whose envelope is a text
//!   "from" a member of the normal chat: if the node takes it, the chat's members get a text
//!   the chat never sent (counted by [`crate::load::chat`] as foreign);
//! - the node's own SWIM datagrams, heard at the fake seed, played back to it as they were and
//!   with a byte flipped, and junk datagrams.
//!
//! The old formats are written here from their definitions at that commit (mesh `link.rs`,
//! `envelope.rs`, `identity.rs`), not from the `mesh` crate, which no longer speaks them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use serde::Serialize;
use serde_json::{Value, json};

use super::web::Context;
use super::{Tally, source};
use harness::client;

/// Silent connections held on the mesh port: the old node's inbound link limit.
const SILENT_LINKS: usize = 256;
/// How often the forged peer dials again.
const FORGE_EVERY: Duration = Duration::from_millis(250);
/// How often datagrams are played back.
const DATAGRAM_EVERY: Duration = Duration::from_millis(10);

/// The old link's version byte.
const OLD_LINK_VERSION: u8 = 2;
/// The old envelope's version byte.
const OLD_ENVELOPE_VERSION: u8 = 2;

/// The old `NodeId`.
#[derive(Serialize)]
struct OldNodeId {
    addr: String,
    started: u64,
}

/// The old link `Frame`, variants in their order (postcard writes the index).
#[derive(Serialize)]
enum OldFrame {
    Hello(OldNodeId),
    #[expect(dead_code, reason = "holds `Envelope` at the old variant index 2")]
    Control(()),
    Envelope(Vec<u8>),
}

/// The old `EventKind`, up to the variant used.
#[derive(Serialize)]
enum OldKind {
    #[expect(dead_code, reason = "holds `Text` at the old variant index 2")]
    Online,
    #[expect(dead_code, reason = "holds `Text` at the old variant index 2")]
    Offline,
    Text,
}

/// The old `Envelope` (version 2), fields in their order.
#[derive(Serialize)]
struct OldEnvelope {
    session_id: String,
    seq: i64,
    kind: OldKind,
    uid: String,
    nickname: String,
    avatar: String,
    content: String,
    file_name: String,
    file_type: String,
    fileid: String,
    thumbid: String,
    dateline: String,
    to_chat: bool,
    push_to: Vec<()>,
}

/// A length-prefixed old link frame.
fn old_frame(frame: &OldFrame) -> Vec<u8> {
    let mut out =
        postcard::to_extend(frame, vec![0, 0, 0, 0, OLD_LINK_VERSION]).unwrap_or_default();
    let len = (out.len().saturating_sub(4) as u32).to_be_bytes();
    if let Some(prefix) = out.get_mut(..4) {
        prefix.copy_from_slice(&len);
    }
    out
}

/// A hello naming a node that is not in the cluster, then a text for chat `sid` from `uid`
/// (seq 0: the old node delivered such events at once, without a store read).
fn forged_link(sid: &str, uid: &str, n: u64) -> Vec<u8> {
    let envelope = OldEnvelope {
        session_id: sid.to_owned(),
        seq: 0,
        kind: OldKind::Text,
        uid: uid.to_owned(),
        nickname: "forged".into(),
        avatar: String::new(),
        content: format!("forged {n}"),
        file_name: String::new(),
        file_type: String::new(),
        fileid: String::new(),
        thumbid: String::new(),
        dateline: "2026-12-03 00:00:00".into(),
        to_chat: true,
        push_to: Vec::new(),
    };
    let mut body = vec![OLD_ENVELOPE_VERSION];
    body.extend(postcard::to_allocvec(&envelope).unwrap_or_default());
    let hello = OldFrame::Hello(OldNodeId {
        addr: "127.0.0.66:2551".into(),
        started: 1,
    });
    let mut bytes = old_frame(&hello);
    bytes.extend(old_frame(&OldFrame::Envelope(body)));
    bytes
}

/// Plays the mesh attack on `ex` until `tally` says stop.
pub async fn attack(ex: &smol::LocalExecutor<'_>, context: &Context, tally: &Arc<Tally>) -> Value {
    let uid = context
        .victims
        .get(1)
        .map(|u| u.uid.clone())
        .unwrap_or_default();
    // The forger dials once before the silent links take the node's link slots (an old node
    // refused links past 256), so a node that takes forged envelopes shows it every run.
    forge_once(context.mesh, &context.sid, &uid, 0, tally).await;
    let mut tasks: Vec<smol::Task<()>> = (0..SILENT_LINKS)
        .map(|_| ex.spawn(silent_link(context.mesh, tally.clone())))
        .collect();
    tasks.push(ex.spawn(forger(
        context.mesh,
        context.sid.clone(),
        uid,
        tally.clone(),
    )));
    if let Some(port) = context.fake_seed {
        tasks.push(ex.spawn(datagrams(port, context.mesh, tally.clone())));
    }
    for task in tasks {
        task.await;
    }
    Value::Null
}

/// Reads (and ignores: a new node sends its challenge first) until the node closes the
/// connection, the attack stops or `limit` passes; names which.
async fn until_cut(stream: &mut async_net::TcpStream, tally: &Tally, limit: Duration) -> String {
    let mut buf = [0u8; 256];
    async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return "cut (eof)".to_owned(),
                Ok(_) => continue,
                Err(e) => return format!("io {:?}", e.kind()),
            }
        }
    }
    .or(async {
        tally.stopped().await;
        String::new()
    })
    .or(async {
        smol::Timer::after(limit).await;
        "kept open".to_owned()
    })
    .await
}

async fn silent_link(mesh: SocketAddr, tally: Arc<Tally>) {
    while !tally.stopping() {
        let mut stream = match client::tcp_from(mesh, Some(source(5))).await {
            Ok(stream) => stream,
            Err(e) => {
                tally.note(format!("mesh connect: {e}"));
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        tally.opened();
        let what = until_cut(&mut stream, &tally, Duration::from_secs(3600)).await;
        if !what.is_empty() {
            tally.note(format!("silent link {what}"));
        }
        tally.closed();
    }
}

async fn forger(mesh: SocketAddr, sid: String, uid: String, tally: Arc<Tally>) {
    for n in 1u64.. {
        if tally.stopping() {
            return;
        }
        forge_once(mesh, &sid, &uid, n, &tally).await;
        smol::Timer::after(FORGE_EVERY).await;
    }
}

/// Dials the mesh port, writes the old hello and forged envelope `n`, waits for the cut.
async fn forge_once(mesh: SocketAddr, sid: &str, uid: &str, n: u64, tally: &Tally) {
    match client::tcp_from(mesh, Some(source(6))).await {
        Ok(mut stream) => {
            let sent = stream.write_all(&forged_link(sid, uid, n)).await;
            tally.note(match sent {
                Ok(()) => "forged envelopes written",
                Err(_) => "forged write failed",
            });
            let what = until_cut(&mut stream, tally, FORGE_EVERY).await;
            if !what.is_empty() {
                tally.note(format!("forged link {what}"));
            }
        }
        Err(e) => tally.note(format!("forged connect: {e}")),
    }
}

async fn datagrams(port: u16, mesh: SocketAddr, tally: Arc<Tally>) {
    let socket = match async_net::UdpSocket::bind(("127.0.0.1", port)).await {
        Ok(socket) => socket,
        Err(e) => return tally.note(format!("fake seed bind: {e}")),
    };
    let mut heard: VecDeque<Vec<u8>> = VecDeque::new();
    let mut buf = vec![0u8; 65536];
    let mut n = 0u64;
    while !tally.stopping() {
        let got = async { socket.recv_from(&mut buf).await.ok() }
            .or(async {
                smol::Timer::after(DATAGRAM_EVERY).await;
                None
            })
            .await;
        if let Some((len, _)) = got {
            tally.note("datagrams heard from the node");
            heard.push_back(buf[..len].to_vec());
            if heard.len() > 32 {
                heard.pop_front();
            }
            continue;
        }
        n += 1;
        let replay = heard.get((n as usize) % heard.len().max(1)).cloned();
        if let Some(replay) = replay {
            let mut flipped = replay.clone();
            let at = (n as usize) % flipped.len().max(1);
            if let Some(byte) = flipped.get_mut(at) {
                *byte ^= 0x5a;
            }
            for (what, bytes) in [("replayed", replay), ("flipped", flipped)] {
                if socket.send_to(&bytes, mesh).await.is_ok() {
                    tally.note(format!("datagrams {what}"));
                }
            }
        }
        let junk: Vec<u8> = (0..100).map(|_| rand::random::<u8>()).collect();
        if socket.send_to(&junk, mesh).await.is_ok() {
            tally.note("datagrams of junk");
        }
    }
}

/// The node's mesh view after the attack: members and counters from `/cluster/members`.
pub async fn counters(addr: SocketAddr) -> Value {
    match client::get_json(addr, "/cluster/members").await {
        Ok((_, value)) => json!({
            "members": value["node"]["members"],
            "transport": value["node"]["transport"],
            "core": value["node"]["core"],
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forged_link_is_framed_as_the_old_link_was() {
        let bytes = forged_link("ab", "cd", 7);
        let first = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        // Length, version 2, variant 0 (Hello), then the address as a length-prefixed string.
        assert_eq!(&bytes[4..7], &[OLD_LINK_VERSION, 0, 15]);
        assert_eq!(&bytes[7..22], b"127.0.0.66:2551");
        let second = &bytes[4 + first..];
        // The envelope frame: version 2, variant 2, then the envelope's bytes with their own
        // version byte and the session id first.
        assert_eq!(&second[4..6], &[OLD_LINK_VERSION, 2]);
        assert!(second.windows(8).any(|w| w == b"forged 7"));
    }
}
