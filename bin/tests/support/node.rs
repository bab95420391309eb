//! The real `cookim` binary on port 0, with its own data directory and a canary chat.
//!
//! The binary runs under a small `sh` watchdog that reads the test process's end of a pipe:
//! when the test process exits (even by a panic, even while a node sits in a `static` shared
//! by a group's tests) the pipe closes, the watchdog kills the node and removes its data
//! directory. So a node never outlives the tests that started it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::canary::Canary;
use super::{Result, WAIT, fail};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cookim");

/// The token secret every hostile-suite node signs with (32 bytes or more, as required).
pub(crate) const SECRET: &str = "hostile-suite secret 0123456789abcdef";

/// The watchdog: starts the node, records its exit status, and kills it once fd 3 (the test
/// process's pipe) reaches end of file; then removes the data directory.
const WATCHDOG: &str = r#"dir=$1; shift
exec 3<&0
"$@" </dev/null 3<&- 2>"$dir/stderr" &
pid=$!
exec >/dev/null
{ cat <&3 >/dev/null; kill "$pid" 2>/dev/null; } &
wait "$pid"; echo $? >"$dir/exit.tmp"; mv "$dir/exit.tmp" "$dir/exit"
wait
rm -rf "$dir""#;

/// A running `cookim`.
pub(crate) struct Node {
    /// Where its web port listens.
    pub(crate) addr: SocketAddr,
    /// Its mesh port (`-a`), when the test chose one.
    pub(crate) mesh_port: Option<u16>,
    /// Two users in a group, registered at start ([`super::canary`]).
    pub(crate) canary: Canary,
    /// Holds the watchdog's pipe open; dropping it stops the node.
    stdin: Mutex<Option<ChildStdin>>,
    watchdog: Mutex<Child>,
    dir: PathBuf,
}

/// How a node that was meant not to start ended.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Its exit status (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    /// What it printed (stdout's first line, then stderr).
    pub(crate) stderr: String,
}

impl Node {
    /// Starts `cookim -w 0 --data-dir <fresh> --jwt-secret SECRET <args>` (unless `args` give
    /// their own secret) on the embedded store,
    /// waits for its "started" line, and registers the canary users.
    pub(crate) fn start(args: &[&str]) -> Result<Node> {
        let mut full = Vec::new();
        if !args.contains(&"--jwt-secret") {
            full.extend(["--jwt-secret", SECRET]);
        }
        full.extend_from_slice(args);
        match Node::launch(&full, None)? {
            Ok(node) => Ok(node),
            Err(refused) => fail(format!(
                "cookim {args:?} did not start (exit {:?}): {}",
                refused.code, refused.stderr
            )),
        }
    }

    /// Starts CookIM's own one-node cluster command, `-h localhost -a P -s localhost:P`, on a
    /// free mesh port P, plus `args`.
    pub(crate) fn start_with_mesh(args: &[&str]) -> Result<Node> {
        let port = free_port()?.to_string();
        let seed = format!("localhost:{port}");
        let mut full = vec![
            "--jwt-secret",
            SECRET,
            "-h",
            "localhost",
            "-a",
            &port,
            "-s",
            &seed,
        ];
        full.extend_from_slice(args);
        match Node::launch(&full, Some(port.parse()?))? {
            Ok(node) => Ok(node),
            Err(refused) => fail(format!(
                "cookim {full:?} did not start (exit {:?}): {}",
                refused.code, refused.stderr
            )),
        }
    }

    /// Starts two nodes of one cluster on the MongoDB at `MONGO_URI`, each with its own mesh
    /// port and both ports as seeds; returns once each lists the other as alive.
    pub(crate) fn start_cluster() -> Result<(Node, Node)> {
        let Ok(uri) = std::env::var("MONGO_URI") else {
            return fail(
                "MONGO_URI is not set: start the test server with eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI (scripts/test does this)",
            );
        };
        let ports = [free_port()?, free_port()?];
        let seeds = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
        let mut nodes = Vec::new();
        for port in ports {
            let port_text = port.to_string();
            let args = [
                "--jwt-secret",
                SECRET,
                "-m",
                &uri,
                "-h",
                "127.0.0.1",
                "-a",
                &port_text,
                "-s",
                &seeds,
            ];
            match Node::launch(&args, Some(port))? {
                Ok(node) => nodes.push(node),
                Err(refused) => {
                    return fail(format!(
                        "a cluster node did not start (exit {:?}): {}",
                        refused.code, refused.stderr
                    ));
                }
            }
        }
        let (Some(b), Some(a)) = (nodes.pop(), nodes.pop()) else {
            return fail("two nodes were started");
        };
        Ok((a, b))
    }

    /// Runs the binary with exactly `args` (plus `-w 0` and a data dir), expecting it to refuse
    /// to start: how it ended. Fails if it started.
    pub(crate) fn refused(args: &[&str], env: &[(&str, &str)]) -> Result<Refused> {
        let dir = fresh_dir()?;
        let mut command = watchdog_command(&dir, args);
        for (name, value) in env {
            command.env(name, value);
        }
        match start_child(command, dir, None)? {
            Ok(_node) => fail(format!("cookim {args:?} {env:?} started but must refuse")),
            Err(refused) => Ok(refused),
        }
    }

    fn launch(args: &[&str], mesh_port: Option<u16>) -> Result<Result<Node, Refused>> {
        let dir = fresh_dir()?;
        let command = watchdog_command(&dir, args);
        start_child(command, dir, mesh_port)
    }

    /// Its data directory.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Whether the process is still running (it has not exited, cleanly or by a crash).
    pub(crate) fn alive(&self) -> bool {
        !self.dir.join("exit").exists()
    }

    /// Fails, with its stderr, unless the process is still running.
    pub(crate) fn assert_alive(&self) -> Result {
        if self.alive() {
            return Ok(());
        }
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        fail(format!("cookim exited; its stderr:\n{stderr}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take();
        }
        if let Ok(mut watchdog) = self.watchdog.lock() {
            let _ = watchdog.wait();
        }
    }
}

/// A node shared by the tests of one group, started by the first of them. Every test gets the
/// same error if it did not start.
pub(crate) fn shared(
    cell: &'static OnceLock<std::result::Result<Node, String>>,
    start: fn() -> Result<Node>,
) -> Result<&'static Node> {
    match cell.get_or_init(|| start().map_err(|e| e.to_string())) {
        Ok(node) => {
            node.assert_alive()?;
            Ok(node)
        }
        Err(e) => fail(e.clone()),
    }
}

fn fresh_dir() -> Result<PathBuf> {
    // Removed by the watchdog when the node stops, so it is kept (not deleted on drop) here.
    let dir = tempfile::Builder::new()
        .prefix("cookim-hostile")
        .tempdir()?
        .keep();
    std::fs::create_dir(dir.join("data"))?;
    Ok(dir)
}

fn watchdog_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", WATCHDOG, "sh"])
        .arg(dir)
        .arg(BIN)
        .args(["-w", "0", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .env_remove("MONGO_URI")
        .env_remove("JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

fn start_child(
    mut command: Command,
    dir: PathBuf,
    mesh_port: Option<u16>,
) -> Result<Result<Node, Refused>> {
    let mut watchdog = command.spawn()?;
    let stdin = watchdog.stdin.take();
    let Some(stdout) = watchdog.stdout.take() else {
        return fail("no stdout pipe");
    };
    // The first line, or end of file if the node exits first; a thread bounds the wait.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let line = match rx.recv_timeout(WAIT * 3) {
        Ok(read) => read?,
        Err(_) => return fail("cookim printed nothing within the deadline"),
    };
    let Some(url) = line.trim().strip_prefix("cookim started! Open ") else {
        // Read before the pipe closes: the watchdog then removes the directory.
        let code = exit_code(&dir)?;
        let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        let stderr = format!("{}{stderr}", line.trim_start());
        drop(stdin);
        let _ = watchdog.wait();
        return Ok(Err(Refused { code, stderr }));
    };
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let addr: SocketAddr = authority.parse()?;
    let canary = smol::block_on(Box::pin(Canary::new(addr)))?;
    Ok(Ok(Node {
        addr,
        mesh_port,
        canary,
        stdin: Mutex::new(stdin),
        watchdog: Mutex::new(watchdog),
        dir,
    }))
}

/// The exit status the watchdog recorded, waiting (bounded) for the node to exit.
fn exit_code(dir: &Path) -> Result<Option<i32>> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("exit")) {
            let code: i32 = text.trim().parse()?;
            // sh reports death by signal N as 128 + N.
            return Ok((code < 128).then_some(code));
        }
        if Instant::now() > deadline {
            return fail("cookim neither started nor exited");
        }
        // Polling a file the watchdog writes: there is no event to wait for.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 right now (the mesh uses both).
pub(crate) fn free_port() -> Result<u16> {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    fail("no port free for both TCP and UDP")
}
