//! Where the nodes live: one network namespace each, joined by veth pairs to a bridge in the
//! testbed's own namespace (the hub), or, where namespaces cannot be made, addresses of their
//! own on loopback.
//!
//! ```text
//!   testbed (clients, proxies, MongoDB forwarder) = hub 10.213.X.1 on bridge cktNNNNNbr
//!     |-- veth cktNNNNNh0 <-> cktNNNNNp0 in netns cktNNNNNn0: node 0 at 10.213.X.10
//!     |-- veth cktNNNNNh1 <-> cktNNNNNp1 in netns cktNNNNNn1: node 1 at 10.213.X.11
//!     `-- ...
//! ```
//!
//! Cutting a node off sets its veth down (`ip link set ... down`): it loses the other nodes,
//! the store and its clients at once, as a host whose cable is pulled. Names carry the
//! testbed's process id, and everything made is deleted when the [`Network`] is dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use super::{Error, Result};

/// The nodes' addresses and how to reach them.
#[derive(Debug)]
pub struct Network {
    /// The testbed's own address, where proxies and the store forwarder listen.
    hub: IpAddr,
    /// Each node's address (index = node).
    nodes: Vec<IpAddr>,
    /// Network namespaces, when they could be made.
    netns: Option<Namespaces>,
}

#[derive(Debug)]
struct Namespaces {
    prefix: String,
    made: Vec<String>,
    bridge: bool,
}

/// Runs `ip` with `args`.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Network {
    /// `nodes` network namespaces on a bridge, or `Err` saying why not (then use
    /// [`Network::loopback`]).
    ///
    /// # Errors
    /// [`Error::Setup`] naming the `ip` command that failed; what was made is removed.
    pub fn namespaces(nodes: usize) -> Result<Network> {
        let id = std::process::id() % 100_000;
        let prefix = format!("ckt{id}");
        let subnet = id % 250;
        let mut made = Namespaces {
            prefix: prefix.clone(),
            made: Vec::new(),
            bridge: false,
        };
        let bridge = format!("{prefix}br");
        let hub = Ipv4Addr::new(10, 213, subnet as u8, 1);
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        made.bridge = true;
        // From here on, `made` is dropped on an error and removes what exists.
        let mut network = Network {
            hub: IpAddr::V4(hub),
            nodes: Vec::new(),
            netns: Some(made),
        };
        ip(&["addr", "add", &format!("{hub}/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for node in 0..nodes {
            let ns = format!("{prefix}n{node}");
            let host_side = format!("{prefix}h{node}");
            let node_side = format!("{prefix}p{node}");
            let addr = Ipv4Addr::new(10, 213, subnet as u8, 10 + node as u8);
            ip(&["netns", "add", &ns])?;
            if let Some(netns) = &mut network.netns {
                netns.made.push(ns.clone());
            }
            ip(&[
                "link", "add", &host_side, "type", "veth", "peer", "name", &node_side,
            ])?;
            ip(&["link", "set", &node_side, "netns", &ns])?;
            ip(&["link", "set", &host_side, "master", &bridge])?;
            ip(&["link", "set", &host_side, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &node_side,
            ])?;
            ip(&["-n", &ns, "link", "set", &node_side, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            network.nodes.push(IpAddr::V4(addr));
        }
        Ok(network)
    }

    /// `nodes` addresses of their own on loopback (127.A.B.10 and up, A.B from the process id,
    /// so that two testbeds on one machine never share a node address); the hub is 127.0.0.1.
    pub fn loopback(nodes: usize) -> Network {
        let id = std::process::id();
        let (a, b) = (2 + (id / 250) % 250, id % 250);
        Network {
            hub: IpAddr::V4(Ipv4Addr::LOCALHOST),
            nodes: (0..nodes)
                .map(|node| IpAddr::V4(Ipv4Addr::new(127, a as u8, b as u8, 10 + node as u8)))
                .collect(),
            netns: None,
        }
    }

    /// Whether the nodes have namespaces of their own.
    pub fn is_netns(&self) -> bool {
        self.netns.is_some()
    }

    /// The testbed's address.
    pub fn hub(&self) -> IpAddr {
        self.hub
    }

    /// Node `node`'s address.
    pub fn node(&self, node: usize) -> IpAddr {
        self.nodes.get(node).copied().unwrap_or(self.hub)
    }

    /// Every node's address.
    pub fn nodes(&self) -> &[IpAddr] {
        &self.nodes
    }

    /// The command a node runs under (`ip netns exec <ns>`), empty on loopback.
    pub fn wrapper(&self, node: usize) -> Vec<String> {
        match &self.netns {
            Some(netns) => ["ip", "netns", "exec", &format!("{}n{node}", netns.prefix)]
                .map(str::to_owned)
                .to_vec(),
            None => Vec::new(),
        }
    }

    /// Sets node `node`'s link down (`up` false) or up again. Only with namespaces.
    ///
    /// # Errors
    /// [`Error::Setup`] if `ip` fails or there are no namespaces.
    pub fn set_link(&self, node: usize, up: bool) -> Result<()> {
        let Some(netns) = &self.netns else {
            return Err(Error::Setup("no links to cut on loopback".into()));
        };
        let state = if up { "up" } else { "down" };
        ip(&["link", "set", &format!("{}h{node}", netns.prefix), state])
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and with it the pair.
        for ns in &self.made {
            let _ = ip(&["netns", "del", ns]);
        }
        if self.bridge {
            let _ = ip(&["link", "del", &format!("{}br", self.prefix)]);
        }
    }
}
