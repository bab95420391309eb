//! The real `cookim` binary: flags, the printed URL, persistence across a restart, and a
//! graceful stop on SIGTERM/SIGINT with exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cookim");

struct Node {
    child: Child,
    port: u16,
    /// The URL the binary printed.
    url: String,
}

impl Node {
    /// Starts the binary on port 0 and reads the URL it prints.
    fn start(data_dir: &std::path::Path) -> Node {
        Node::start_with(data_dir, &[])
    }

    /// Starts the binary with extra arguments; the embedded store unless they say `-m`.
    fn start_with(data_dir: &std::path::Path, extra: &[&str]) -> Node {
        let mut child = Command::new(BIN)
            .args(["-w", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("MONGO_URI")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("cookim started! Open http://127.0.0.1:"),
            "{line}"
        );
        let url = line
            .trim()
            .trim_start_matches("cookim started! Open ")
            .to_owned();
        let port = url
            .trim_end_matches("/chat/")
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Node { child, port, url }
    }

    /// Sends a signal and waits (bounded) for the exit status.
    fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cookim did not stop after {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One form POST to `/api/<route>` over a plain socket; returns the body.
fn post(port: u16, route: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/{route} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split("\r\n\r\n").nth(1).unwrap().to_owned()
}

#[test]
fn restart_keeps_data_and_signals_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let registered = post(
        node.port,
        "registerUser",
        "login=a%40b.c&nickname=alice&password=secret1&repassword=secret1&gender=2",
    );
    assert!(registered.contains("\"errmsg\":\"\""), "{registered}");
    assert!(node.stop("-TERM").success(), "SIGTERM must exit 0");

    let node = Node::start(dir.path());
    let login = post(node.port, "loginUser", "login=a%40b.c&password=secret1");
    assert!(
        login.contains("\"errmsg\":\"\"") && login.contains("login in success"),
        "{login}"
    );
    // The secret was kept in the data dir, so a token from before the restart still verifies.
    let token = registered
        .split("\"userToken\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let verified = post(node.port, "verifyUserToken", &format!("userToken={token}"));
    assert!(!verified.contains("\"uid\":\"\""), "{verified}");
    assert!(node.stop("-INT").success(), "SIGINT must exit 0");
}

/// One GET; returns the status line and headers, and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn the_printed_url_opens_the_built_in_client_or_the_www_folder() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    assert_eq!(node.url, format!("http://127.0.0.1:{}/", node.port));
    let (head, body) = get(node.port, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(body.contains("<title>cookim</title>"), "{body}");
    assert!(node.stop("-TERM").success());

    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "<html>CookIM's client</html>").unwrap();
    let node = Node::start_with(&dir.path().join("data"), &["--www", www.to_str().unwrap()]);
    assert_eq!(node.url, format!("http://127.0.0.1:{}/chat/", node.port));
    let (head, body) = get(node.port, "/chat/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("content-security-policy"),
        "{head}"
    );
    assert_eq!(body, "<html>CookIM's client</html>");
    assert!(node.stop("-TERM").success());
}

#[test]
fn help_names_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-h, --host-name",
        "-w, --web-port",
        "-a, --akka-port",
        "-s, --seed-nodes",
        "-m, --mongo-uri",
        "-n, --nat",
        "--data-dir",
        "--bind",
        "--www",
        "--jwt-secret",
        "--allowed-origins",
        "--write-concern",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    for var in [
        "HOST_NAME",
        "WEB_PORT",
        "AKKA_PORT",
        "SEED_NODES",
        "MONGO_URI",
        "COOKIM_DATA_DIR",
        "JWT_SECRET",
        "COOKIM_WRITE_CONCERN",
    ] {
        assert!(text.contains(var), "--help lacks {var}");
    }
}

#[test]
fn bad_configuration_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["-w", "0", "--data-dir"])
        .arg(dir.path())
        .env("WEB_PORT", "x")
        .args(["-s", "nohost"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seed node") && err.contains("host:port"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["--data-dir"])
        .arg(dir.path())
        .env("WEB_PORT", "http")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEB_PORT"));
}

#[test]
fn short_or_placeholder_secrets_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let placeholder = "REPLACE-ME-with-at-least-32-random-characters";
    for (flag, value, says) in [
        ("--jwt-secret", "too-short-secret", "at least 32"),
        ("--jwt-secret", placeholder, "placeholder"),
        ("--cluster-secret", "short", "at least 32"),
    ] {
        let out = Command::new(BIN)
            .args(["-w", "0", "--data-dir"])
            .arg(dir.path())
            .args([flag, value])
            .env_remove("JWT_SECRET")
            .env_remove("MONGO_URI")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && !err.contains(value), "{flag}: {err}");
    }
}

#[test]
fn cookims_own_start_command_runs_one_node_on_the_embedded_store() {
    // CookIM's README: `cookim -h localhost -w 8080 -a 2551 -s localhost:2551`.
    let dir = tempfile::tempdir().unwrap();
    let mesh_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let node = Node::start_with(
        dir.path(),
        &[
            "-h",
            "localhost",
            "-a",
            &mesh_port,
            "-s",
            &format!("localhost:{mesh_port}"),
        ],
    );
    let answer = post(node.port, "verifyUserToken", "userToken=x");
    assert!(answer.contains("\"uid\":\"\""), "{answer}");
    // Seeds naming another node still need MongoDB.
    let out = Command::new(BIN)
        .args([
            "-w",
            "0",
            "-a",
            &mesh_port,
            "-s",
            "otherhost:2551",
            "--data-dir",
        ])
        .arg(dir.path().join("other"))
        .env_remove("MONGO_URI")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-m"));
    assert!(node.stop("-TERM").success());
}

#[test]
fn an_unreachable_mongodb_fails_start_up_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["-w", "0", "--data-dir"])
        .arg(dir.path())
        .args([
            "-m",
            "mongodb://user:hunter2pw@127.0.0.1:1/?serverSelectionTimeoutMS=200",
        ])
        .env_remove("MONGO_URI")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use MongoDB at mongodb://***@127.0.0.1:1/")
            && err.contains("after 3 attempts"),
        "{err}"
    );
    assert!(!err.contains("hunter2pw"), "credentials leaked: {err}");
}

#[test]
fn runs_on_mongodb_and_keeps_data_across_a_restart() {
    let Ok(uri) = std::env::var("MONGO_URI") else {
        panic!(
            "MONGO_URI is not set: start the test server with eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI (scripts/test does this)"
        );
    };
    eprintln!("binary test on MongoDB at {uri}");
    let login = format!("m{}%40b.c", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        dir.path(),
        &[
            "-m",
            &uri,
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ],
    );
    let registered = post(
        node.port,
        "registerUser",
        &format!("login={login}&nickname=alice&password=secret1&repassword=secret1&gender=2"),
    );
    assert!(registered.contains("\"errmsg\":\"\""), "{registered}");
    assert!(node.stop("-TERM").success());
    // A second node on another data dir: everything it knows comes from MongoDB.
    let other = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        other.path(),
        &[
            "-m",
            &uri,
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ],
    );
    let login = post(
        node.port,
        "loginUser",
        &format!("login={login}&password=secret1"),
    );
    assert!(login.contains("login in success"), "{login}");
    assert!(node.stop("-TERM").success());
}

/// `cookim export` on a single node's data dir, `cookim import` into MongoDB (twice: a rerun
/// skips what is there), then a node on MongoDB knows the users and their passwords.
#[test]
fn export_then_import_moves_a_node_into_mongodb() {
    let Ok(uri) = std::env::var("MONGO_URI") else {
        panic!(
            "MONGO_URI is not set: start the test server with eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI (scripts/test does this)"
        );
    };
    let secret = "fedcba9876543210fedcba9876543210";
    let single = tempfile::tempdir().unwrap();
    let node = Node::start_with(single.path(), &["--jwt-secret", secret]);
    let login = format!("moved{}%40b.c", std::process::id());
    let registered = post(
        node.port,
        "registerUser",
        &format!("login={login}&nickname=mover&password=secret1&repassword=secret1&gender=1"),
    );
    assert!(registered.contains("\"errmsg\":\"\""), "{registered}");
    assert!(node.stop("-TERM").success());

    let dump = single.path().join("cookim.dump");
    let tool = |args: &[&str], mongo: bool| {
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(single.path())
            .env_remove("MONGO_URI");
        if mongo {
            command.args(["-m", &uri]);
        }
        command.args(args).output().unwrap()
    };
    let out = tool(&["export", "-o", dump.to_str().unwrap()], false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(text.starts_with("{\"header\":{\"format\":1}}\n"));
    assert!(text.contains(&login.replace("%40", "@")));
    for _ in 0..2 {
        let out = tool(&["import", "-i", dump.to_str().unwrap()], true);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tool(&["import", "-i", "/nonexistent/cookim.dump"], true);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/cookim.dump"));

    let cluster = tempfile::tempdir().unwrap();
    let node = Node::start_with(cluster.path(), &["-m", &uri, "--jwt-secret", secret]);
    let answer = post(
        node.port,
        "loginUser",
        &format!("login={login}&password=secret1"),
    );
    assert!(answer.contains("login in success"), "{answer}");
    assert!(node.stop("-TERM").success());
}
