//! Seeded fault scenarios against real `cookim` nodes: the engine of `cookim-testbed`.
//!
//! A [`Testbed`] puts N nodes in network namespaces of their own on a bridge ([`net`]), or
//! on loopback addresses where namespaces cannot be made, with a fault proxy ([`proxy`]) in
//! front of each node's mesh port, which every node advertises instead of its own. For each
//! seeded [`schedule::Scenario`] it starts the nodes fresh on the shared MongoDB, registers
//! one user per chat client in one group, runs the clients ([`client`]) on every node, plays
//! the scenario's faults (link cuts, splits, one-way partitions, kill -9 and restart, loss,
//! delay, clients hopping between nodes), measures how long the cluster takes to see a dead
//! node and to converge after each heal, reads history as every member, and checks the
//! invariants ([`check`]).

pub mod check;
pub mod client;
pub mod net;
pub mod proxy;
mod run;
pub mod schedule;
pub mod summary;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use serde_json::Value;

use check::{ClientLog, Probe, Record, Stored, Verdict, Window};
use client::{Client, Control, Directory, Shared};
use harness::client::{self as api, User, field};
use harness::cluster::{NodeOptions, NodeProcess, cookim_binary};
use net::Network;
use proxy::{Faults, LinkFault, Proxy, ProxyStats};
use run::Run;
use schedule::{Fault, Kind, Scenario};
use views::{View, running, view, views};

/// Why a run could not go on (a broken invariant is a [`Verdict`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket, process or file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A node could not be started or stopped.
    #[error("node: {0}")]
    Node(#[from] harness::cluster::Error),
    /// An API call failed.
    #[error("client: {0}")]
    Client(#[from] harness::client::Error),
    /// The network or the cluster could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Nodes (at least 3).
    pub nodes: usize,
    /// Chat clients.
    pub clients: usize,
    /// Bound on convergence after a heal and on detecting a dead node.
    pub bound: Duration,
    /// Use loopback even where namespaces work.
    pub loopback: bool,
    /// The shared MongoDB, as reachable from here.
    pub mongo_uri: String,
}

/// The token signing secret of every node of a run.
const SECRET: &str = "cookim-testbed-shared-secret-0123456789";

/// Every poll of the probes.
const POLL: Duration = Duration::from_millis(50);

/// A probe of a node that does not answer within this failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// An API call (registering hashes a password; the test store is slow) that does not answer
/// within this failed.
const API_TIMEOUT: Duration = Duration::from_secs(15);

/// After traffic stops, pending sends get this long to be acknowledged.
const DRAIN: Duration = Duration::from_secs(20);

/// A started cluster must converge within this before the scenario starts.
const START_BOUND: Duration = Duration::from_secs(30);

/// The network, proxies and store of a run; scenarios start their nodes fresh on it.
#[derive(Debug)]
pub struct Testbed {
    network: Network,
    /// Why namespaces were not used, if they were not.
    fallback: Option<String>,
    faults: Arc<Faults>,
    proxies: Vec<Proxy>,
    /// The MongoDB URI as the nodes reach it.
    node_mongo_uri: String,
    _mongo_forward: Option<Proxy>,
    bin: PathBuf,
    options: Options,
    /// Keeps logins unique when runs share a database.
    nonce: u64,
}

/// What one scenario gave.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario.
    pub scenario: Scenario,
    /// Its invariants and figures.
    pub verdict: Verdict,
    /// What the proxies did during it.
    pub proxy: ProxyStats,
    /// How long it took, start to stop.
    pub took: Duration,
    /// What was recorded (for a failing seed's report).
    pub record: Record,
}

fn ms(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// `mongodb://[credentials@]host:port/...` with `host:port` replaced by `to`.
fn retarget(uri: &str, to: SocketAddr) -> Result<String> {
    let rest = uri
        .strip_prefix("mongodb://")
        .ok_or_else(|| Error::Setup(format!("not a mongodb:// URI: {uri}")))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let credentials = authority.rfind('@').map_or("", |at| &authority[..=at]);
    let hosts = &authority[credentials.len()..];
    if hosts.contains(',') {
        return Err(Error::Setup(
            "the testbed forwards one MongoDB host; give a URI with one".into(),
        ));
    }
    Ok(format!("mongodb://{credentials}{to}{tail}"))
}

/// The `host:port` of a one-host MongoDB URI.
fn mongo_target(uri: &str) -> Result<SocketAddr> {
    let rest = uri.strip_prefix("mongodb://").unwrap_or(uri);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    use std::net::ToSocketAddrs;
    host.to_socket_addrs()?
        .next()
        .ok_or_else(|| Error::Setup(format!("MongoDB host {host} does not resolve")))
}

impl Testbed {
    /// Makes the network (namespaces if possible), the proxies and the store forwarder.
    ///
    /// # Errors
    /// [`Error::Setup`] if neither namespaces nor loopback can be used, or no `cookim`.
    pub async fn start(options: Options) -> Result<Testbed> {
        let bin = cookim_binary()?;
        let nodes = options.nodes.max(3);
        let (network, fallback) = if options.loopback {
            (
                Network::loopback(nodes),
                Some("--loopback given".to_owned()),
            )
        } else {
            match Network::namespaces(nodes) {
                Ok(network) => (network, None),
                Err(e) => (Network::loopback(nodes), Some(e.to_string())),
            }
        };
        let faults = Faults::new(network.nodes().to_vec(), 0);
        let mut proxies = Vec::new();
        for node in 0..nodes {
            let listen = SocketAddr::new(network.hub(), 0);
            proxies.push(Proxy::start(listen, network.node(node), node, faults.clone()).await?);
        }
        let (node_mongo_uri, mongo_forward) = if network.is_netns() {
            // The nodes cannot reach the testbed's loopback: forward from the hub.
            let target = mongo_target(&options.mongo_uri)?;
            let forward = Proxy::forward(SocketAddr::new(network.hub(), 0), target).await?;
            (retarget(&options.mongo_uri, forward.addr())?, Some(forward))
        } else {
            (options.mongo_uri.clone(), None)
        };
        Ok(Testbed {
            network,
            fallback,
            faults,
            proxies,
            node_mongo_uri,
            _mongo_forward: mongo_forward,
            bin,
            options: Options { nodes, ..options },
            nonce: rand::random::<u32>().into(),
        })
    }

    /// How the nodes are placed, for the report.
    pub fn placement(&self) -> String {
        match &self.fallback {
            None => format!(
                "{} nodes, each in its own network namespace on a bridge (hub {}; MongoDB forwarded at {})",
                self.options.nodes,
                self.network.hub(),
                self.node_mongo_uri
            ),
            Some(why) => format!(
                "{} nodes on loopback addresses (no network namespaces: {why}); isolation is done by the proxies",
                self.options.nodes
            ),
        }
    }

    fn node_options(&self, node: usize, data: &std::path::Path) -> NodeOptions {
        let port = self.proxies.get(node).map_or(0, |p| p.addr().port());
        NodeOptions {
            data_dir: data.join(format!("node{node}")),
            host: self.network.hub().to_string(),
            mesh_port: port,
            seeds: self.proxies.iter().map(|p| p.addr().to_string()).collect(),
            mongo_uri: Some(self.node_mongo_uri.clone()),
            jwt_secret: SECRET.into(),
            // Faults, not limits, are under test: every client registers from loopback.
            extra: [
                "--shutdown-timeout",
                "3",
                "--limit-registrations",
                "off",
                "--limit-logins",
                "off",
            ]
            .map(String::from)
            .to_vec(),
            bind: Some(self.network.node(node)),
            wrapper: self.network.wrapper(node),
        }
    }

    /// Runs one scenario on fresh nodes and checks it.
    ///
    /// # Errors
    /// When the cluster cannot be started or set up; broken invariants are in the verdict.
    pub async fn run(&self, scenario: &Scenario) -> Result<Outcome> {
        let started = Instant::now();
        self.faults.heal_all(scenario.seed);
        if self.network.is_netns() {
            for node in 0..self.options.nodes {
                self.network.set_link(node, true)?;
            }
        }
        let before = self.faults.stats();
        let data = tempfile::tempdir()?;
        let mut nodes = Vec::new();
        let starts: Vec<_> = (0..self.options.nodes)
            .map(|node| {
                let (bin, options) = (self.bin.clone(), self.node_options(node, data.path()));
                smol::unblock(move || NodeProcess::start(&bin, options))
            })
            .collect();
        for start in starts {
            nodes.push(Some(start.await?));
        }
        let directory: Directory = Arc::new(Mutex::new(
            nodes.iter().map(|n| n.as_ref().map(|n| n.web)).collect(),
        ));
        if let Err(e) = self.converge(&directory, START_BOUND).await {
            return Err(Error::Setup(format!("the cluster did not form: {e}")));
        }
        let mut run = Run {
            testbed: self,
            scenario,
            nodes,
            directory,
            data: data.path().to_path_buf(),
            t0: Instant::now(),
            record: Record {
                bound_ms: ms(self.options.bound),
                ..Record::default()
            },
        };
        let result = run.play().await;
        for node in run.nodes.iter_mut().flatten() {
            if node.stop(Duration::from_secs(5)).is_err() {
                let _ = node.kill();
            }
        }
        self.faults.heal_all(scenario.seed);
        let record = result?;
        let after = self.faults.stats();
        let verdict = check::check(&record);
        Ok(Outcome {
            scenario: scenario.clone(),
            verdict,
            record,
            proxy: ProxyStats {
                datagrams_passed: after.datagrams_passed - before.datagrams_passed,
                datagrams_dropped: after.datagrams_dropped - before.datagrams_dropped,
                datagrams_delayed: after.datagrams_delayed - before.datagrams_delayed,
                connections_refused: after.connections_refused - before.connections_refused,
                connections_cut: after.connections_cut - before.connections_cut,
            },
            took: started.elapsed(),
        })
    }

    /// Polls until the running nodes agree (see [`View::agree`]); the time it took.
    async fn converge(&self, directory: &Directory, bound: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() <= bound {
            match views(&running(directory)).await {
                Ok(views) => match View::agree(&views) {
                    Ok(()) => return Ok(start.elapsed()),
                    Err(why) => last = why,
                },
                Err(e) => last = e.to_string(),
            }
            smol::Timer::after(POLL).await;
        }
        Err(last)
    }

    /// Sets or heals a link fault (both proxies' tables and, for isolation with namespaces,
    /// the node's link).
    fn set_fault(&self, fault: &Fault, on: bool) -> Result<()> {
        let nodes = self.options.nodes;
        let set = |from: usize, to: usize, fault: LinkFault| {
            self.faults
                .set(from, to, if on { fault } else { LinkFault::default() });
        };
        let blocked = LinkFault {
            blocked: true,
            ..LinkFault::default()
        };
        match fault {
            Fault::Isolate { node } if self.network.is_netns() => {
                self.network.set_link(*node, !on)?;
            }
            Fault::Isolate { node } => {
                for other in (0..nodes).filter(|o| o != node) {
                    set(*node, other, blocked);
                    set(other, *node, blocked);
                }
            }
            Fault::Split { minority } => {
                for a in minority {
                    for b in (0..nodes).filter(|b| !minority.contains(b)) {
                        set(*a, b, blocked);
                        set(b, *a, blocked);
                    }
                }
            }
            Fault::OneWay { from, to } => set(*from, *to, blocked),
            Fault::Loss { a, b, percent } => {
                let lossy = LinkFault {
                    loss: f64::from(*percent) / 100.0,
                    ..LinkFault::default()
                };
                set(*a, *b, lossy);
                set(*b, *a, lossy);
            }
            Fault::Delay { a, b, ms } => {
                let slow = LinkFault {
                    delay: Duration::from_millis(*ms),
                    ..LinkFault::default()
                };
                set(*a, *b, slow);
                set(*b, *a, slow);
            }
            Fault::Kill { .. } | Fault::Hop { .. } => {}
        }
        Ok(())
    }
}

/// A probe of a node, failed if it takes longer than [`CALL_TIMEOUT`].
async fn within<T>(call: impl Future<Output = api::Result<T>>) -> Result<T> {
    within_for(CALL_TIMEOUT, call).await
}

/// A call to a node, failed if it takes longer than `limit`.
async fn within_for<T>(limit: Duration, call: impl Future<Output = api::Result<T>>) -> Result<T> {
    call.or(async {
        smol::Timer::after(limit).await;
        Err(api::Error::Http("no answer in time".into()))
    })
    .await
    .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mongodb_uri_is_pointed_at_the_forwarder() {
        let to: SocketAddr = "10.213.7.1:4000".parse().unwrap();
        assert_eq!(
            retarget("mongodb://127.0.0.1:27017/?directConnection=true", to).unwrap(),
            "mongodb://10.213.7.1:4000/?directConnection=true"
        );
        assert_eq!(
            retarget("mongodb://u:p@db:27017", to).unwrap(),
            "mongodb://u:p@10.213.7.1:4000"
        );
        assert!(retarget("mongodb://a:1,b:2/", to).is_err());
        assert!(retarget("http://x", to).is_err());
        assert_eq!(
            mongo_target("mongodb://u:p@127.0.0.1:27017/db").unwrap(),
            "127.0.0.1:27017".parse::<SocketAddr>().unwrap()
        );
    }
}
