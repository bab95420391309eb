//! The TCP side of the transport: inbound links are accepted, authenticated and read here;
//! outbound links are dialled, authenticated and written here. Nothing a peer sends is used
//! before the handshake ([`super::handshake`]) proved it holds the cluster key; after it,
//! the peer's run is the one it proved, and no frame can claim another.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncWriteExt, FutureExt};
use runtime::{Inbox, Mailbox, Shutdown, Spawner};

use super::handshake::{self, Slots};
use super::{Auth, Counters, Delivery, Input, MAX_INBOUND_LINKS, READ_CHUNK, bump};
use crate::config::{MAX_HANDSHAKES, RECONNECT_MAX, RECONNECT_MIN};
use crate::envelope;
use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::link::{self, Decoded, Frame};

/// Accepts inbound links; each is authenticated, then read, by its own task.
#[expect(
    clippy::too_many_arguments,
    reason = "the accept loop's whole context, passed once"
)]
pub(super) async fn accept_links(
    tcp: TcpListener,
    spawner: Spawner,
    node: Mailbox<Input>,
    deliver: Mailbox<Delivery>,
    counters: Arc<Counters>,
    auth: Arc<Auth>,
    hello_timeout: Duration,
    shutdown: Shutdown,
) {
    let slots = Slots::new(MAX_HANDSHAKES);
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "mesh accept failed");
                runtime::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        let (slot, evicted) = slots.admit();
        if evicted {
            bump(&counters.handshakes_evicted, 1);
            tracing::debug!(%peer, "handshakes full: the oldest was cut");
        }
        let counters = counters.clone();
        let auth = auth.clone();
        let node = node.clone();
        let deliver = deliver.clone();
        spawner.detach_with(
            async move {
                let mut stream = stream;
                let mut buf = Vec::new();
                // The deadline runs from accept; an evicted slot ends the handshake too.
                let proved = async {
                    runtime::deadline(
                        hello_timeout,
                        handshake::accept(&mut stream, &mut buf, &auth.secret, &auth.me),
                    )
                    .await
                    .map_err(|_| Error::Auth("no proof in time".into()))?
                }
                .or(async {
                    slot.evicted().await;
                    Err(Error::Closed)
                })
                .await;
                drop(slot);
                let from = match proved {
                    Ok(Some(from)) => from,
                    Ok(None) => {
                        tracing::debug!(%peer, "mesh connection closed before its proof");
                        return;
                    }
                    // Evicted for a newer connection (counted when it was admitted).
                    Err(Error::Closed) => return,
                    Err(e) => {
                        bump(&counters.auth_failures, 1);
                        auth.refused(peer.ip(), &e);
                        return;
                    }
                };
                if counters.inbound_links.fetch_add(1, Ordering::Relaxed) >= MAX_INBOUND_LINKS {
                    counters.inbound_links.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(%peer, node = %from, "too many inbound mesh links: refused");
                    return;
                }
                tracing::debug!(%peer, node = %from, "inbound mesh link authenticated");
                let read = read_link(stream, buf, from.clone(), node, deliver.clone(), &counters);
                match read.await {
                    Ok(()) => {}
                    Err(e) => {
                        bump(&counters.bad_frames, 1);
                        tracing::debug!(error = %e, %peer, node = %from, "inbound mesh link closed");
                    }
                }
                // What was in flight on it may be lost (never waits: a full inbox already
                // holds work that ends in a check).
                let _ = deliver.try_send(Delivery::Resync);
                counters.inbound_links.fetch_sub(1, Ordering::Relaxed);
            },
            &shutdown,
        );
    }
}

/// Reads one authenticated inbound link from `from`: control frames and envelopes. `buf`
/// holds what was read past the handshake.
async fn read_link(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    from: NodeId,
    node: Mailbox<Input>,
    deliver: Mailbox<Delivery>,
    counters: &Counters,
) -> Result<()> {
    // A new link from a peer can mean its last one broke with events in flight.
    deliver.send(Delivery::Resync).await?;
    while let Some(frame) = next_frame(&mut stream, &mut buf).await? {
        match frame {
            Frame::Control(msg) => {
                let from = from.clone();
                node.send(Input::Control { from, msg }).await?;
            }
            Frame::Envelope(bytes) => {
                let envelope = envelope::decode(&bytes)?;
                bump(&counters.envelopes_received, 1);
                deliver.send(Delivery::Envelope(Box::new(envelope))).await?;
            }
            Frame::Lost => deliver.send(Delivery::Resync).await?,
        }
    }
    Ok(())
}

/// The next frame of a link; `None` when the peer closed it between frames.
async fn next_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Frame>> {
    loop {
        if let Decoded::Frame(frame, used) = link::decode(buf)? {
            buf.drain(..used);
            return Ok(Some(frame));
        }
        if handshake::read_more(stream, buf, READ_CHUNK).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Error::Malformed("link closed inside a frame".into()))
            };
        }
    }
}

/// One outbound link's fixed context.
pub(super) struct Writer {
    /// Our run and the key, for the handshake.
    pub(super) auth: Arc<Auth>,
    /// The run this link goes to.
    pub(super) peer: NodeId,
    pub(super) counters: Arc<Counters>,
    /// How long dialling plus the handshake may take.
    pub(super) connect_timeout: Duration,
    /// The address links leave from (see [`dial`]).
    pub(super) source: IpAddr,
}

/// Writes one peer's link: dial, authenticate, then queued frames in order, reconnecting
/// with backoff; a [`Frame::Lost`] mark after the batch following a drop. Ends when its
/// queue is dropped (the peer went down) and drained.
pub(super) async fn write_link(writer: Writer, mut frames: Inbox<Vec<u8>>, lost: Arc<AtomicBool>) {
    let Writer {
        auth,
        peer,
        counters,
        connect_timeout,
        source,
    } = writer;
    let lost_mark = match link::encode(&Frame::Lost) {
        Ok(mark) => mark,
        Err(e) => {
            tracing::warn!(error = %e, "link frames not encoded");
            return;
        }
    };
    let lost = Lost {
        flag: &lost,
        mark: &lost_mark,
        counter: &counters.lost_marks_sent,
    };
    let mut backoff = RECONNECT_MIN;
    loop {
        let connected = runtime::deadline(connect_timeout, async {
            let mut stream = dial(peer.addr(), source).await?;
            stream.set_nodelay(true)?;
            let ip = stream.peer_addr()?.ip();
            match handshake::dial(&mut stream, &auth.secret, &auth.me, &peer).await {
                Ok(()) => Ok(stream),
                Err(e @ Error::Auth(_)) => {
                    bump(&counters.auth_failures, 1);
                    auth.refused(ip, &e);
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
        .await
        // Not counted as an authentication failure: a peer that is down times out too.
        .unwrap_or_else(|_| Err(Error::Io(std::io::ErrorKind::TimedOut.into())));
        let mut stream = match connected {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "mesh link not connected");
                // A peer that went down and cannot be reached gets nothing more: what is still
                // queued for it is stale (a new run of it is a new member with a new link).
                if frames.is_closed() {
                    return;
                }
                runtime::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        bump(&counters.links_opened, 1);
        backoff = RECONNECT_MIN;
        tracing::debug!(%peer, "mesh link open");
        match pump(&mut stream, &mut frames, &lost).await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, %peer, "mesh link broke; reconnecting"),
        }
    }
}
/// Connects to `addr` (`host:port`). When the mesh is bound to one address rather than all,
/// the link leaves from it too, so the peer, a firewall or a proxy between them sees the node
/// by the address it listens on (a multi-homed host would otherwise pick by route). A
/// loopback bind is used only towards loopback peers, which are the only ones it can reach.
async fn dial(addr: &str, source: std::net::IpAddr) -> std::io::Result<TcpStream> {
    if source.is_unspecified() {
        return TcpStream::connect(addr).await;
    }
    let mut last = None;
    for target in async_net::resolve(addr).await? {
        if target.is_ipv4() != source.is_ipv4() || target.ip().is_loopback() != source.is_loopback()
        {
            continue;
        }
        match connect_from(source, target).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        None => TcpStream::connect(addr).await,
    }
}

/// A non-blocking connect from `source` (any port) to `target`.
async fn connect_from(source: std::net::IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    let stream = async_io::Async::new(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    Ok(TcpStream::from(stream))
}

/// Writes queued frames, batching whatever is already waiting into one write. `Ok` when the
/// queue is closed and drained.
async fn pump(
    stream: &mut TcpStream,
    frames: &mut Inbox<Vec<u8>>,
    lost: &Lost<'_>,
) -> std::io::Result<()> {
    let mut batch = Vec::new();
    loop {
        batch.clear();
        match frames.recv().await {
            Some(frame) => batch.extend(frame),
            None => return stream.flush().await,
        }
        while batch.len() < READ_CHUNK
            && let Some(frame) = frames.try_recv()
        {
            batch.extend(frame);
        }
        if lost.flag.swap(false, Ordering::SeqCst) {
            batch.extend_from_slice(lost.mark);
            bump(lost.counter, 1);
        }
        if batch.is_empty() {
            continue;
        }
        // On failure the batch is lost: the peer reads what it misses from the store when
        // this link comes back (its hello) or its own inbound link breaks.
        stream.write_all(&batch).await?;
    }
}

/// A link's drop mark, as its writer sees it.
struct Lost<'a> {
    flag: &'a AtomicBool,
    /// [`Frame::Lost`], encoded.
    mark: &'a [u8],
    counter: &'a AtomicU64,
}
