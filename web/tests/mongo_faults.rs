//! MongoDB lost while a chat is busy: senders get "database unavailable" (never a hang or a
//! crash), the node recovers by itself when the database returns, and no acknowledged message
//! is lost or stored twice.
//!
//! Runs its own MongoDB-wire test server (`scripts/mongo-test-server`, SecantusDB) on a data
//! directory, so stopping and starting it keeps what was written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use store::Mongo;
use support::fixtures::{create_group, history, join_group, register};
use support::ws::Chat;
use support::{Result, TestServer, fail, within};

/// The script that installs and runs the test server.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mongo-test-server")
}

/// A private MongoDB-wire server that keeps its data in a directory across stop and start.
struct TestMongo {
    state: tempfile::TempDir,
    port: Option<String>,
    running: bool,
}

impl TestMongo {
    fn start() -> Result<TestMongo> {
        let mut db = TestMongo {
            state: tempfile::tempdir()?,
            port: None,
            running: false,
        };
        db.start_again()?;
        Ok(db)
    }

    /// Starts the server (on the same port and data as before, after [`TestMongo::stop`]).
    fn start_again(&mut self) -> Result {
        let mut command = Command::new(script());
        command
            .arg("start")
            .env("COOKIM_MONGO_STATE", self.state.path())
            .env("COOKIM_MONGO_STORAGE", self.state.path().join("data"));
        if let Some(port) = &self.port {
            command.env("COOKIM_MONGO_PORT", port);
        }
        let out = command.output()?;
        if !out.status.success() {
            return fail(format!(
                "the MongoDB test server did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let port = text
            .trim()
            .rsplit_once(':')
            .and_then(|(_, tail)| tail.split('/').next())
            .map(str::to_owned);
        self.port = port;
        self.running = true;
        Ok(())
    }

    fn stop(&mut self) -> Result {
        let status = Command::new(script())
            .arg("stop")
            .env("COOKIM_MONGO_STATE", self.state.path())
            .status()?;
        self.running = false;
        if status.success() {
            Ok(())
        } else {
            fail("the MongoDB test server did not stop")
        }
    }

    /// A URI that gives up on an unreachable server after a second.
    fn uri(&self) -> String {
        let port = self.port.as_deref().unwrap_or("0");
        format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=1000")
    }
}

impl Drop for TestMongo {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}

/// What became of one sent message.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Echoed: stored and acknowledged.
    Acked,
    /// Refused with this text.
    Rejected(String),
}

/// Sends `content` and waits for its echo or a reject.
async fn send(chat: &mut Chat, content: &str) -> Result<Outcome> {
    chat.say(content).await?;
    let frame = chat
        .ws
        .next_json_where(&format!("the echo of {content:?} or a reject"), |v| {
            (v["msgType"] == "text" && v["content"] == content) || v["msgType"] == "reject"
        })
        .await?;
    Ok(if frame["msgType"] == "reject" {
        Outcome::Rejected(frame["content"].as_str().unwrap_or_default().to_owned())
    } else {
        Outcome::Acked
    })
}

#[test]
fn losing_mongodb_under_load_gives_clear_errors_and_the_node_recovers() -> Result {
    let mut db = TestMongo::start()?;
    let runtime = runtime::Runtime::new(1)?;
    let store = runtime.block_on(Mongo::connect(&db.uri(), "cookim_faults"))?;
    let server = TestServer::start_on(Some(Arc::new(store)), |_| {})?;
    let addr = server.addr();
    server.block_on(async {
        let alice = register(addr, "alice1").await?;
        let bob = register(addr, "bobby").await?;
        let sid = create_group(addr, &alice, "ops", true).await?;
        join_group(addr, &bob, &sid).await?;
        let mut sender = Chat::open(addr, &alice, &sid).await?;
        let mut reader = Chat::open(addr, &bob, &sid).await?;

        let mut acked: Vec<String> = Vec::new();
        let mut rejects = 0;
        let mut recovered_after = None;
        for n in 0..200 {
            let content = format!("m{n}");
            let outcome = send(&mut sender, &content).await?;
            let was_acked = outcome == Outcome::Acked;
            match outcome {
                Outcome::Acked => acked.push(content),
                Outcome::Rejected(why) => {
                    assert_eq!(why, "database unavailable", "the reject says why");
                    rejects += 1;
                }
            }
            if n == 20 {
                db.stop()?;
            }
            if db.running {
                if rejects > 0 && recovered_after.is_none() && was_acked {
                    recovered_after = Some(n);
                }
                if recovered_after.is_some_and(|at| n >= at + 20) {
                    break;
                }
            } else if rejects >= 3 {
                // Meanwhile the HTTP API answers with the same clear error.
                let answer =
                    support::http::api(addr, "listJoinedSessions", &[("userToken", &alice.token)])
                        .await?;
                assert_eq!(answer["errmsg"], "database unavailable", "{answer}");
                db.start_again()?;
            }
        }
        eprintln!(
            "{} acknowledged, {rejects} refused, recovered at message {recovered_after:?}",
            acked.len()
        );
        let Some(_) = recovered_after else {
            return fail("the node did not recover after the database came back");
        };
        assert!(rejects >= 3);

        // Every acknowledged message is stored once, in the order it was sent, and the reader
        // got each live exactly once.
        let stored: Vec<String> = history(addr, &bob, &sid, 1, 500)
            .await?
            .iter()
            .filter(|m| m["msgType"] == "text")
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        let acked_in_history: Vec<&String> = stored.iter().filter(|c| acked.contains(c)).collect();
        assert_eq!(acked_in_history, acked.iter().collect::<Vec<_>>());
        let mut live: Vec<String> = Vec::new();
        while live.last() != acked.last() {
            let frame: Value = within(
                "the reader's copy",
                reader
                    .ws
                    .next_json_where("a text", |v| v["msgType"] == "text"),
            )
            .await??;
            live.push(frame["content"].as_str().unwrap_or_default().to_owned());
        }
        let live_acked: Vec<&String> = live.iter().filter(|c| acked.contains(c)).collect();
        assert_eq!(
            live_acked,
            acked.iter().collect::<Vec<_>>(),
            "live, once each, in order"
        );
        Ok(())
    })
}
