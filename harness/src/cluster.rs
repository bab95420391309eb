//! Real `cookim` processes for multi-node tests and benchmarks: start a node with its own
//! data dir and mesh port, wait for the URL it prints, check its health, stop it with a
//! signal or kill it outright.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a node could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Spawning, signalling or a socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The node did something unexpected (no URL printed, exited early, never ready).
    #[error("{0}")]
    Node(String),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `cookim` binary: `$COOKIM_BIN`, else next to the running executable's target
/// directory (`target/<profile>/cookim`, where cargo puts it for the workspace's tests).
///
/// # Errors
/// [`Error::Node`] naming where it looked, if it is not there.
pub fn cookim_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("COOKIM_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("cookim");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Node(format!(
        "no cookim binary near {}: run `cargo build -p cookim` first or set COOKIM_BIN",
        exe.display()
    )))
}

/// A port free for both UDP and TCP on 127.0.0.1 right now (for `-a`, which must be fixed
/// because other nodes list it as a seed). It is picked below the kernel's ephemeral range, so
/// no `-w 0` or outgoing connection can take it before the node binds it, and never twice in
/// one process (tests run in parallel).
///
/// # Errors
/// [`Error::Io`] if no socket can be bound.
pub fn free_mesh_port() -> Result<u16> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000u16.min(ephemeral_start.saturating_sub(1000));
    for _ in 0..200 {
        let port = low + rand::random::<u16>() % (ephemeral_start - low).max(1);
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let given = given.get_or_insert_with(HashSet::new);
        if given.contains(&port) {
            continue;
        }
        let free = std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free {
            given.insert(port);
            return Ok(port);
        }
    }
    Err(Error::Node("no port free for both UDP and TCP".into()))
}

/// How to start one node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The node's data dir.
    pub data_dir: PathBuf,
    /// `-h`: the host name it advertises.
    pub host: String,
    /// `-a`: its mesh port.
    pub mesh_port: u16,
    /// `-s`: seeds as `host:port` (empty: a single node).
    pub seeds: Vec<String>,
    /// `-m`: the shared MongoDB.
    pub mongo_uri: Option<String>,
    /// `--jwt-secret`, the same on every node.
    pub jwt_secret: String,
    /// Anything else to pass.
    pub extra: Vec<String>,
    /// `--bind`: the address its web and mesh ports listen on (`None`: 127.0.0.1).
    pub bind: Option<IpAddr>,
    /// A command the node runs under, e.g. `ip netns exec <ns>` (empty: none).
    pub wrapper: Vec<String>,
}

impl NodeOptions {
    /// `host:mesh_port`, as other nodes list this one in their seeds.
    pub fn mesh_addr(&self) -> String {
        format!("{}:{}", self.host, self.mesh_port)
    }
}

/// A running `cookim` process.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    /// Where its web port listens.
    pub web: SocketAddr,
    /// How it was started (to restart it the same way).
    pub options: NodeOptions,
}

/// The lines a child prints on its (piped) stdout, read by a thread of their own; `None` if
/// its stdout was not piped.
pub fn stdout_lines(child: &mut Child) -> Option<mpsc::Receiver<String>> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Some(rx)
}

/// How long a node may take to print its URL.
const START_WAIT: Duration = Duration::from_secs(30);

impl NodeProcess {
    /// Starts `bin` with `options` on a free web port and waits for the URL it prints.
    ///
    /// # Errors
    /// [`Error::Node`] if it exits or prints no URL within 30 s.
    pub fn start(bin: &Path, options: NodeOptions) -> Result<NodeProcess> {
        std::fs::create_dir_all(&options.data_dir)?;
        let mut command = match options.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        if let Some(bind) = options.bind {
            command.args(["--bind", &bind.to_string()]);
        }
        command
            .args(["-w", "0", "-h", &options.host])
            .args(["-a", &options.mesh_port.to_string()])
            .arg("--data-dir")
            .arg(&options.data_dir)
            .args(["--jwt-secret", &options.jwt_secret])
            .args(&options.extra)
            .env_remove("MONGO_URI")
            .env_remove("SEED_NODES")
            // Quiet unless asked: the nodes' logs go to the test's stderr.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if !options.seeds.is_empty() {
            command.args(["-s", &options.seeds.join(",")]);
        }
        if let Some(uri) = &options.mongo_uri {
            command.args(["-m", uri]);
        }
        let mut child = command.spawn()?;
        let rx = stdout_lines(&mut child).ok_or_else(|| Error::Node("no stdout".into()))?;
        let line = match rx.recv_timeout(START_WAIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                return Err(Error::Node(format!(
                    "cookim printed no URL within {START_WAIT:?} ({status})"
                )));
            }
        };
        let web = line
            .trim()
            .trim_start_matches("cookim started! Open http://")
            .split('/')
            .next()
            .and_then(|hostport| hostport.rsplit_once(':'))
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .map(|port| {
                let ip = options.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
                SocketAddr::new(ip, port)
            })
            .ok_or_else(|| Error::Node(format!("unexpected first line: {line}")))?;
        Ok(NodeProcess {
            child,
            web,
            options,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL (no goodbye to the cluster) and reaps it.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be signalled.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Sends SIGTERM and waits (at most `limit`) for it to exit; true if it exited 0.
    ///
    /// # Errors
    /// [`Error::Node`] if it does not exit in time (it is then killed).
    pub fn stop(&mut self, limit: Duration) -> Result<bool> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(Error::Node("kill -TERM failed".into()));
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                self.kill()?;
                return Err(Error::Node(format!("no exit within {limit:?} of SIGTERM")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
