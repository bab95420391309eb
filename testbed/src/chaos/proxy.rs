//! The fault proxy: a small userspace UDP and TCP forwarder in front of one node's mesh port,
//! which drops, delays or refuses what other nodes send it, per link and direction, as a
//! shared [`Faults`] table says right now.
//!
//! Every node advertises its proxy's address instead of its own, so everything a node receives
//! from the mesh passed through its proxy, and the proxy knows the sender by its source
//! address (nodes listen on, and dial from, addresses of their own). That is enough for loss,
//! delay and one-way partitions without `tc netem` or a firewall:
//! - UDP (SWIM): a datagram from a blocked sender is dropped, from a lossy one dropped with
//!   the link's probability, from a slow one sent on after the link's delay.
//! - TCP (the ordered links): a connection from a blocked sender is closed at once; a chunk on
//!   a lossy link cuts the connection with the link's probability (what is in flight is lost,
//!   as when a real connection breaks); a slow link holds each chunk for its delay, in order.
//!
//! With no table ([`Proxy::forward`]) it is a plain TCP forwarder (the MongoDB test server,
//! made reachable from the nodes' namespaces).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_net::{TcpListener, TcpStream, UdpSocket};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use serde::Serialize;

use super::schedule::Rng;

/// What one direction of one link does to traffic now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFault {
    /// Nothing passes.
    pub blocked: bool,
    /// Probability (0 to 1) that a datagram is dropped or a TCP chunk cuts its connection.
    pub loss: f64,
    /// Added to everything that passes.
    pub delay: Duration,
}

/// What the proxy decided for one datagram or chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Pass(Duration),
    Drop,
}

/// The faults of every link, shared by all proxies of a run, keyed by (sender node, receiver
/// node). Senders are recognised by source address.
#[derive(Debug)]
pub struct Faults {
    table: Mutex<Table>,
    counters: Counters,
}

#[derive(Debug)]
struct Table {
    /// Each node's own address (index = node).
    nodes: Vec<IpAddr>,
    links: HashMap<(usize, usize), LinkFault>,
    rng: Rng,
}

/// What the proxies did, for the run's report.
#[derive(Debug, Default)]
struct Counters {
    datagrams_passed: AtomicU64,
    datagrams_dropped: AtomicU64,
    datagrams_delayed: AtomicU64,
    connections_refused: AtomicU64,
    connections_cut: AtomicU64,
}

/// A snapshot of [`Faults`]' counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Datagrams sent on.
    pub datagrams_passed: u64,
    /// Datagrams dropped (blocked or lost).
    pub datagrams_dropped: u64,
    /// Datagrams held for a delay before being sent on.
    pub datagrams_delayed: u64,
    /// TCP connections closed at accept (blocked).
    pub connections_refused: u64,
    /// TCP connections cut (blocked while open, or lost).
    pub connections_cut: u64,
}

impl Faults {
    /// A table for nodes at `nodes` (index = node), every link healthy; `seed` drives the
    /// loss decisions.
    pub fn new(nodes: Vec<IpAddr>, seed: u64) -> Arc<Faults> {
        Arc::new(Faults {
            table: Mutex::new(Table {
                nodes,
                links: HashMap::new(),
                rng: Rng::new(seed),
            }),
            counters: Counters::default(),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets what traffic from `from` to `to` suffers (a default [`LinkFault`] heals it).
    pub fn set(&self, from: usize, to: usize, fault: LinkFault) {
        let mut table = self.table();
        if fault == LinkFault::default() {
            table.links.remove(&(from, to));
        } else {
            table.links.insert((from, to), fault);
        }
    }

    /// Every link healthy again; `seed` restarts the loss decisions.
    pub fn heal_all(&self, seed: u64) {
        let mut table = self.table();
        table.links.clear();
        table.rng = Rng::new(seed);
    }

    /// The fault of the link from the node at `source` to `to` (healthy for unknown sources).
    fn link(&self, source: IpAddr, to: usize) -> LinkFault {
        let table = self.table();
        table
            .nodes
            .iter()
            .position(|&ip| ip == source)
            .and_then(|from| table.links.get(&(from, to)).copied())
            .unwrap_or_default()
    }

    fn verdict(&self, source: IpAddr, to: usize) -> Verdict {
        let fault = self.link(source, to);
        if fault.blocked || (fault.loss > 0.0 && self.table().rng.chance(fault.loss)) {
            Verdict::Drop
        } else {
            Verdict::Pass(fault.delay)
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            datagrams_passed: get(&c.datagrams_passed),
            datagrams_dropped: get(&c.datagrams_dropped),
            datagrams_delayed: get(&c.datagrams_delayed),
            connections_refused: get(&c.connections_refused),
            connections_cut: get(&c.connections_cut),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A running proxy; its tasks stop when it is dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    _tasks: Vec<smol::Task<()>>,
}

/// Largest datagram forwarded (the mesh's are far smaller).
const MAX_DATAGRAM: usize = 64 * 1024;

/// Read size of a TCP chunk.
const CHUNK: usize = 16 * 1024;

/// Chunks read ahead of a delayed writer.
const DELAY_QUEUE: usize = 256;

impl Proxy {
    /// Listens for UDP and TCP on `listen` (the same port for both; port 0 picks one) and
    /// forwards to the same port at `target`, which is node `to` in `faults` (a node listens
    /// on its own address with the port its proxy has).
    ///
    /// # Errors
    /// If either socket cannot be bound.
    pub async fn start(
        listen: SocketAddr,
        target: IpAddr,
        to: usize,
        faults: Arc<Faults>,
    ) -> std::io::Result<Proxy> {
        let (udp, tcp) = mesh::transport::bind_pair(listen)
            .await
            .map_err(|e| std::io::Error::other(format!("proxy on {listen}: {e}")))?;
        let addr = udp.local_addr()?;
        let target = SocketAddr::new(target, addr.port());
        let datagrams = smol::spawn(forward_datagrams(udp, target, to, faults.clone()));
        let streams = smol::spawn(accept(tcp, target, Some((to, faults))));
        Ok(Proxy {
            addr,
            _tasks: vec![datagrams, streams],
        })
    }

    /// A plain TCP forwarder from `listen` to `target`.
    ///
    /// # Errors
    /// If the listener cannot be bound.
    pub async fn forward(listen: SocketAddr, target: SocketAddr) -> std::io::Result<Proxy> {
        let tcp = TcpListener::bind(listen).await?;
        let addr = tcp.local_addr()?;
        Ok(Proxy {
            addr,
            _tasks: vec![smol::spawn(accept(tcp, target, None))],
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn forward_datagrams(udp: UdpSocket, target: SocketAddr, to: usize, faults: Arc<Faults>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(_) => {
                // ICMP errors of a node that is down surface here; do not spin on them.
                smol::Timer::after(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(bytes) = buf.get(..len) else {
            continue;
        };
        match faults.verdict(from.ip(), to) {
            Verdict::Drop => bump(&faults.counters.datagrams_dropped),
            Verdict::Pass(delay) if delay.is_zero() => {
                bump(&faults.counters.datagrams_passed);
                let _ = udp.send_to(bytes, target).await;
            }
            Verdict::Pass(delay) => {
                bump(&faults.counters.datagrams_delayed);
                let udp = udp.clone();
                let bytes = bytes.to_vec();
                smol::spawn(async move {
                    smol::Timer::after(delay).await;
                    let _ = udp.send_to(&bytes, target).await;
                })
                .detach();
            }
        }
    }
}

async fn accept(tcp: TcpListener, target: SocketAddr, faults: Option<(usize, Arc<Faults>)>) {
    loop {
        let Ok((stream, from)) = tcp.accept().await else {
            smol::Timer::after(Duration::from_millis(10)).await;
            continue;
        };
        if let Some((to, faults)) = &faults
            && faults.link(from.ip(), *to).blocked
        {
            bump(&faults.counters.connections_refused);
            continue;
        }
        let link = faults.clone().map(|(to, faults)| (from.ip(), to, faults));
        smol::spawn(async move {
            let Ok(upstream) = TcpStream::connect(target).await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            // Whichever direction ends first ends the connection (both sockets dropped).
            let up = pump(stream.clone(), upstream.clone(), link);
            let down = pump(upstream, stream, None);
            up.or(down).await;
        })
        .detach();
    }
}

/// Copies `from` to `to`, applying the link's faults (sender address, receiver node) to each
/// chunk. Ends at EOF (once everything read is written), on an error, or at once when the
/// link cuts the connection.
async fn pump(mut from: TcpStream, to: TcpStream, link: Option<(IpAddr, usize, Arc<Faults>)>) {
    let (tx, rx) = async_channel::bounded::<(Instant, Vec<u8>)>(DELAY_QUEUE);
    let writer = smol::spawn(write_due(rx, to));
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = match &link {
            None => Instant::now(),
            Some((source, to, faults)) => match faults.verdict(*source, *to) {
                Verdict::Drop => {
                    bump(&faults.counters.connections_cut);
                    // Dropping the writer task cancels it: what is queued is lost.
                    return;
                }
                Verdict::Pass(delay) => Instant::now() + delay,
            },
        };
        let Some(chunk) = buf.get(..n) else { break };
        if tx.send((due, chunk.to_vec())).await.is_err() {
            return;
        }
    }
    drop(tx);
    writer.await;
}

/// Writes each chunk when it is due, in order, then closes `to`.
async fn write_due(rx: async_channel::Receiver<(Instant, Vec<u8>)>, mut to: TcpStream) {
    while let Ok((due, chunk)) = rx.recv().await {
        smol::Timer::at(due).await;
        if to.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = to.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SENDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1));
    const NODE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 2));

    /// A proxy in front of "node 1" at [`NODE`], with [`SENDER`] as node 0.
    async fn proxy() -> (Proxy, Arc<Faults>) {
        let faults = Faults::new(vec![SENDER, NODE], 7);
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let proxy = Proxy::start(listen, NODE, 1, faults.clone()).await.unwrap();
        (proxy, faults)
    }

    /// Waits until the proxies' counters say `done` (the proxy decided on what was sent).
    async fn until(faults: &Faults, done: impl Fn(&ProxyStats) -> bool) {
        let start = Instant::now();
        while !done(&faults.stats()) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{:?}",
                faults.stats()
            );
            smol::Timer::after(Duration::from_millis(1)).await;
        }
    }

    async fn next_datagram(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let (n, _) = socket.recv_from(&mut buf).await.unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn datagrams_pass_drop_and_wait_as_the_link_says() {
        smol::block_on(async {
            let (proxy, faults) = proxy().await;
            let node = UdpSocket::bind((NODE, proxy.addr().port())).await.unwrap();
            let sender = UdpSocket::bind((SENDER, 0)).await.unwrap();
            sender.send_to(b"first", proxy.addr()).await.unwrap();
            assert_eq!(next_datagram(&node).await, b"first");

            // Blocked: dropped; healed: the next one is the first to arrive.
            faults.set(
                0,
                1,
                LinkFault {
                    blocked: true,
                    ..LinkFault::default()
                },
            );
            sender.send_to(b"blocked", proxy.addr()).await.unwrap();
            until(&faults, |s| s.datagrams_dropped == 1).await;
            faults.set(0, 1, LinkFault::default());
            sender.send_to(b"after", proxy.addr()).await.unwrap();
            assert_eq!(next_datagram(&node).await, b"after");

            // Half lost: of 200, some but not all arrive before the marker.
            faults.set(
                0,
                1,
                LinkFault {
                    loss: 0.5,
                    ..LinkFault::default()
                },
            );
            for _ in 0..200 {
                sender.send_to(b"lossy", proxy.addr()).await.unwrap();
            }
            until(&faults, |s| s.datagrams_passed + s.datagrams_dropped == 203).await;
            faults.set(0, 1, LinkFault::default());
            sender.send_to(b"marker", proxy.addr()).await.unwrap();
            let mut arrived = 0;
            while next_datagram(&node).await == b"lossy" {
                arrived += 1;
            }
            assert!((50..150).contains(&arrived), "{arrived} of 200 arrived");

            // Delayed: not before its time.
            let delay = Duration::from_millis(150);
            faults.set(
                0,
                1,
                LinkFault {
                    delay,
                    ..LinkFault::default()
                },
            );
            let sent = Instant::now();
            sender.send_to(b"slow", proxy.addr()).await.unwrap();
            assert_eq!(next_datagram(&node).await, b"slow");
            assert!(sent.elapsed() >= delay);
            let stats = faults.stats();
            assert!(
                stats.datagrams_dropped >= 51 && stats.datagrams_delayed == 1,
                "{stats:?}"
            );
        });
    }

    #[test]
    fn connections_pass_are_refused_or_cut_as_the_link_says() {
        smol::block_on(async {
            let (proxy, faults) = proxy().await;
            let node = TcpListener::bind((NODE, proxy.addr().port()))
                .await
                .unwrap();
            let dial = || async {
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .unwrap();
                socket.bind(&SocketAddr::new(SENDER, 0).into()).unwrap();
                socket.connect(&proxy.addr().into()).unwrap();
                TcpStream::try_from(std::net::TcpStream::from(socket)).unwrap()
            };

            // Healthy: bytes go through.
            let mut client = dial().await;
            client.write_all(b"hello").await.unwrap();
            let (mut upstream, _) = node.accept().await.unwrap();
            let mut buf = [0u8; 5];
            upstream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");

            // Lost: the next chunk cuts the connection at both ends.
            faults.set(
                0,
                1,
                LinkFault {
                    loss: 1.0,
                    ..LinkFault::default()
                },
            );
            client.write_all(b"lost").await.unwrap();
            let mut rest = Vec::new();
            assert_eq!(upstream.read_to_end(&mut rest).await.unwrap(), 0);
            assert_eq!(client.read(&mut buf).await.unwrap_or(0), 0);

            // Blocked: a new connection is closed at once, never reaching the node.
            faults.set(
                0,
                1,
                LinkFault {
                    blocked: true,
                    ..LinkFault::default()
                },
            );
            let mut refused = dial().await;
            assert_eq!(refused.read(&mut buf).await.unwrap_or(0), 0);
            let stats = faults.stats();
            assert_eq!((stats.connections_cut, stats.connections_refused), (1, 1));
        });
    }
}
