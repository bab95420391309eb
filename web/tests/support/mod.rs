//! Helpers shared by the web crate's integration tests: a real server on `127.0.0.1:0` backed
//! by an embedded store in a temporary directory, or with `COOKIM_TEST_STORE=mongo` by a fresh
//! database on the MongoDB at `MONGO_URI` ([`TestServer`]), a small HTTP client for the
//! API ([`http`]), a websocket client ([`ws`]), fixtures: users, groups, pictures
//! ([`fixtures`]), and checks of uploads and served files ([`files`]).
//!
//! Nothing here sleeps to synchronise: every wait is for an event (a reply, a frame) and the
//! deadline ([`within`]) only turns a missing event into an error naming what never came.

// Each test binary compiles these modules and uses a different subset of them.
#![allow(dead_code)]

pub(crate) mod files;
pub(crate) mod fixtures;
pub(crate) mod http;
pub(crate) mod ws;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cookim_web as web;
use runtime::{Runtime, ShutdownTrigger};
use store::{Embedded, Mongo, Store};
use tempfile::TempDir;

/// Test results: any error, boxed.
pub(crate) type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> =
    std::result::Result<T, E>;

/// The secret every test server signs tokens with.
pub(crate) const SECRET: &[u8] = b"cookim integration test secret";

/// How long any single expected event may take before the test fails. Generous: it only
/// bounds failures, passing tests never wait for it.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The password every test user registers with.
pub(crate) const PASSWORD: &str = "secret1";

/// An error naming what went wrong.
pub(crate) fn fail<T>(why: impl Into<String>) -> Result<T> {
    Err(why.into().into())
}

/// Awaits `fut` for at most [`WAIT`]; on timeout the error names `what`.
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T> {
    match runtime::deadline(WAIT, fut).await {
        Ok(value) => Ok(value),
        Err(_) => fail(format!("timed out after {WAIT:?} waiting for {what}")),
    }
}

/// A real cookim server with its own runtime, shutdown trigger and data directory. Dropping it
/// stops the server and waits for its connections to finish.
pub(crate) struct TestServer {
    /// Dropped last (see `Drop`): every task of the server runs on it.
    runtime: Runtime,
    /// The running node; `None` only while restarting.
    node: Option<Node>,
    /// The configuration, reused on restart (same secret, same limits, a fresh port).
    config: web::Config,
    /// Holds the store's files; removed when the test ends.
    data: TempDir,
    addr: SocketAddr,
}

struct Node {
    trigger: ShutdownTrigger,
    serving: runtime::Task<()>,
    store: Arc<dyn Store>,
}

impl TestServer {
    /// A server with default limits.
    pub(crate) fn start() -> Result<TestServer> {
        TestServer::start_with(|_| {})
    }

    /// A server whose configuration `tweak` adjusts (shorter limits for one test).
    pub(crate) fn start_with(tweak: impl FnOnce(&mut web::Config)) -> Result<TestServer> {
        TestServer::start_on(None, tweak)
    }

    /// A server on `store` (`None`: the store `COOKIM_TEST_STORE` picks).
    pub(crate) fn start_on(
        store: Option<Arc<dyn Store>>,
        tweak: impl FnOnce(&mut web::Config),
    ) -> Result<TestServer> {
        let runtime = Runtime::new(2)?;
        let data = tempfile::tempdir()?;
        let mut config = web::Config::new("127.0.0.1:0".parse()?, SECRET.to_vec());
        tweak(&mut config);
        let store = match store {
            Some(store) => store,
            None => runtime.block_on(open_store(data.path()))?,
        };
        let (node, addr) = runtime.block_on(launch(&runtime, store, &config))?;
        Ok(TestServer {
            runtime,
            node: Some(node),
            config,
            data,
            addr,
        })
    }

    /// Where the server listens now (it changes on restart).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs a test body on the server's runtime. The body is boxed: a long test's future is
    /// large in debug builds and would overflow the test thread's stack.
    pub(crate) fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        self.runtime.block_on(Box::pin(fut))
    }

    /// Stops the server as `bin` does (signal, wait for every connection, wait for the accept
    /// loop) and returns the store it used, so a test can check the server let go of it.
    pub(crate) fn stop(&mut self) -> Result<Arc<dyn Store>> {
        let Some(node) = self.node.take() else {
            return fail("server is not running");
        };
        self.runtime.block_on(async {
            within(
                "the server's connections to finish",
                node.trigger.wait_done(WAIT),
            )
            .await??;
            within("the accept loop to stop", node.serving).await?;
            Ok(node.store)
        })
    }

    /// Starts a server again on the same data directory and secret (after [`stop`]).
    pub(crate) fn start_again(&mut self) -> Result<()> {
        if self.node.is_some() {
            return fail("server is already running");
        }
        let (node, addr) = self.runtime.block_on(async {
            let store = open_store(self.data.path()).await?;
            launch(&self.runtime, store, &self.config).await
        })?;
        self.node = Some(node);
        self.addr = addr;
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Best effort: a failing test must still release its port and files.
        if self.node.is_some() {
            let _ = self.stop();
        }
    }
}

/// The store a test server runs on: embedded in `dir`, or with `COOKIM_TEST_STORE=mongo` a
/// database on `MONGO_URI` named after `dir` (so a restart finds the same data).
async fn open_store(dir: &Path) -> Result<Arc<dyn Store>> {
    if std::env::var("COOKIM_TEST_STORE").as_deref() != Ok("mongo") {
        return Ok(Arc::new(Embedded::open(dir).await?));
    }
    let Ok(uri) = std::env::var("MONGO_URI") else {
        return fail(
            "COOKIM_TEST_STORE=mongo needs MONGO_URI: eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI",
        );
    };
    let name: String = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    Ok(Arc::new(
        Mongo::connect(&uri, &format!("cookim_web_{name}")).await?,
    ))
}

async fn launch(
    runtime: &Runtime,
    store: Arc<dyn Store>,
    config: &web::Config,
) -> Result<(Node, SocketAddr)> {
    let (trigger, shutdown) = runtime::shutdown();
    let server =
        web::Server::bind(config.clone(), store.clone(), runtime.spawner(), shutdown).await?;
    let addr = server.local_addr()?;
    let serving = runtime.spawner().spawn(server.run());
    Ok((
        Node {
            trigger,
            serving,
            store,
        },
        addr,
    ))
}
