//! The systems under test as processes the suite starts and stops: cookim (one node on a
//! fresh embedded store, or nodes of a cluster on MongoDB), the Node.js peers from
//! `bench/peers/`, and `cookim-rawpeer`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wire::System;
use harness::client::{Error, Result};
use harness::cluster::{NodeOptions, NodeProcess, cookim_binary, free_mesh_port, stdout_lines};

/// A running system under test.
#[derive(Debug)]
pub enum Server {
    /// cookim nodes, with their data dirs.
    Cookim {
        /// The nodes.
        nodes: Vec<NodeProcess>,
        /// Removed when the server is dropped.
        dirs: Vec<tempfile::TempDir>,
    },
    /// A peer process that printed `listening <port>`.
    Peer {
        /// The process.
        child: Child,
        /// Where it listens.
        addr: SocketAddr,
    },
}

/// The token secret the suite gives its cookim nodes (it signs the bulk users' tokens).
pub const SUITE_SECRET: &str = "cookim-load-suite-secret-0123456789abcdef";

/// Limits a load generator must lift: it plays thousands of users from a few loopback
/// addresses, and one sender at hundreds of texts a second.
pub const LOAD_FLAGS: &[&str] = &[
    "--max-per-address",
    "1000000",
    "--limit-texts",
    "off",
    "--limit-logins",
    "off",
    "--limit-registrations",
    "off",
    "--limit-uploads",
    "off",
    "--limit-upload-bytes",
    "off",
];

/// Where the Node.js peers live: `$COOKIM_PEERS_DIR`, else this crate's `peers/`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("COOKIM_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers"))
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .ok_or_else(|| Error::Http(format!("no {name} next to {}", exe.display())))
}

fn node_error(e: harness::cluster::Error) -> Error {
    Error::Http(e.to_string())
}

impl Server {
    /// Starts `system`: `nodes` cookim nodes (more than one needs `mongo_uri`), or one peer.
    ///
    /// # Errors
    /// If the process cannot start or prints no address in time.
    pub fn start(
        system: System,
        nodes: usize,
        mongo_uri: Option<&str>,
        extra: &[&str],
    ) -> Result<Server> {
        match system {
            System::Cookim | System::CookimExt => Server::cookim(nodes, mongo_uri, extra),
            System::NodeWs => {
                Server::peer(Command::new("node").arg(peers_dir().join("ws-server.js")))
            }
            System::SocketIo => {
                Server::peer(Command::new("node").arg(peers_dir().join("socketio-server.js")))
            }
            System::Raw => Server::peer(&mut Command::new(sibling("cookim-rawpeer")?)),
        }
    }

    fn cookim(nodes: usize, mongo_uri: Option<&str>, extra: &[&str]) -> Result<Server> {
        let bin = cookim_binary().map_err(node_error)?;
        let mut dirs = Vec::new();
        let mut options = Vec::new();
        for _ in 0..nodes.max(1) {
            let dir = tempfile::tempdir()?;
            options.push(NodeOptions {
                data_dir: dir.path().to_owned(),
                host: "127.0.0.1".into(),
                mesh_port: free_mesh_port().map_err(node_error)?,
                seeds: Vec::new(),
                mongo_uri: mongo_uri.map(str::to_owned),
                jwt_secret: SUITE_SECRET.into(),
                extra: LOAD_FLAGS
                    .iter()
                    .chain(extra)
                    .map(|e| (*e).to_owned())
                    .collect(),
                bind: None,
                wrapper: Vec::new(),
            });
            dirs.push(dir);
        }
        if options.len() > 1 {
            let seeds: Vec<String> = options.iter().map(NodeOptions::mesh_addr).collect();
            for o in &mut options {
                o.seeds = seeds.clone();
            }
        }
        let nodes = options
            .into_iter()
            .map(|o| NodeProcess::start(&bin, o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(node_error)?;
        Ok(Server::Cookim { nodes, dirs })
    }

    fn peer(command: &mut Command) -> Result<Server> {
        let mut child = command
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let rx =
            stdout_lines(&mut child).ok_or_else(|| Error::Http("peer has no stdout".into()))?;
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .and_then(|line| line.strip_prefix("listening ")?.trim().parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Http("the peer printed no `listening <port>`".into()));
        };
        Ok(Server::Peer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    /// Every node's web address.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            Server::Cookim { nodes, .. } => nodes.iter().map(|n| n.web).collect(),
            Server::Peer { addr, .. } => vec![*addr],
        }
    }

    /// Every node's process id.
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Server::Cookim { nodes, .. } => nodes.iter().map(NodeProcess::pid).collect(),
            Server::Peer { child, .. } => vec![child.id()],
        }
    }

    /// The first node's data dir (cookim on the embedded store).
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        match self {
            Server::Cookim { dirs, .. } => dirs.first().map(tempfile::TempDir::path),
            Server::Peer { .. } => None,
        }
    }

    /// Stops every process (SIGTERM, then waits).
    pub fn stop(&mut self) {
        match self {
            Server::Cookim { nodes, .. } => {
                for node in nodes {
                    let _ = node.stop(Duration::from_secs(10));
                }
            }
            Server::Peer { child, .. } => {
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = Command::new("kill")
                        .args(["-TERM", &child.id().to_string()])
                        .status();
                    let _ = child.wait();
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Peer { child, .. } = self
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
