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

/// Polls `check` until it holds, for at most [`WAIT`]: for state that changes with no event
/// to wait for (another node learning a subscription). The error names `what`.
pub(crate) async fn until<F, Fut>(what: &str, mut check: F) -> Result
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return fail(format!("timed out after {WAIT:?} waiting for {what}"));
        }
        runtime::sleep(Duration::from_millis(10)).await;
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
    /// In a cluster: the mesh seeds (restarts join through them again).
    seeds: Option<Vec<String>>,
}

struct Node {
    trigger: ShutdownTrigger,
    serving: runtime::Task<()>,
    store: Arc<dyn Store>,
    mesh: Option<mesh::Mesh>,
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
        let mut config = test_config()?;
        tweak(&mut config);
        let store = match store {
            Some(store) => store,
            None => runtime.block_on(open_store(data.path()))?,
        };
        let (node, addr) = runtime.block_on(launch(&runtime, store, &config, None))?;
        Ok(TestServer {
            runtime,
            node: Some(node),
            config,
            data,
            addr,
            seeds: None,
        })
    }

    /// A cluster node on `store` (shared with the other nodes), with a mesh node on a free
    /// loopback port joining through `seeds` (the mesh addresses of earlier nodes).
    pub(crate) fn start_in_cluster(store: Arc<dyn Store>, seeds: &[String]) -> Result<TestServer> {
        let runtime = Runtime::new(2)?;
        let data = tempfile::tempdir()?;
        let config = test_config()?;
        let seeds = seeds.to_vec();
        let (node, addr) = runtime.block_on(launch(&runtime, store, &config, Some(&seeds)))?;
        Ok(TestServer {
            runtime,
            node: Some(node),
            config,
            data,
            addr,
            seeds: Some(seeds),
        })
    }

    /// The mesh node, in a cluster.
    pub(crate) fn mesh(&self) -> Option<&mesh::Mesh> {
        self.node.as_ref().and_then(|n| n.mesh.as_ref())
    }

    /// The mesh address other nodes join through.
    pub(crate) fn mesh_addr(&self) -> Result<String> {
        match self.mesh() {
            Some(mesh) => Ok(mesh.id().addr().to_owned()),
            None => fail("not a cluster node"),
        }
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
        if self.seeds.is_some() {
            return fail("a cluster node restarts with start_in_cluster");
        }
        let (node, addr) = self.runtime.block_on(async {
            let store = open_store(self.data.path()).await?;
            launch(&self.runtime, store, &self.config, None).await
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
    seeds: Option<&[String]>,
) -> Result<(Node, SocketAddr)> {
    let (trigger, shutdown) = runtime::shutdown();
    let cluster = match seeds {
        Some(seeds) => {
            // Every node of a test cluster shares one key, as nodes sharing JWT_SECRET do.
            let key = mesh::ClusterSecret::derive_from_token_secret(b"web tests cluster secret")?;
            let mesh_config =
                mesh::config::MeshConfig::new("127.0.0.1:0".parse()?, "", seeds.to_vec(), key);
            let (mesh, deliveries) =
                mesh::Mesh::start(mesh_config, &runtime.spawner(), shutdown.clone()).await?;
            Some(web::Cluster { mesh, deliveries })
        }
        None => None,
    };
    let mesh = cluster.as_ref().map(|c| c.mesh.clone());
    let server = web::Server::bind_in(
        config.clone(),
        store.clone(),
        runtime.spawner(),
        shutdown,
        cluster,
    )
    .await?;
    let addr = server.local_addr()?;
    let serving = runtime.spawner().spawn(server.run());
    Ok((
        Node {
            trigger,
            serving,
            store,
            mesh,
        },
        addr,
    ))
}

/// The configuration of test servers: defaults, but no per-address limits on registrations,
/// logins and texts, since every test user registers from 127.0.0.1 and many tests send
/// bursts. Tests of those limits set them back with [`TestServer::start_with`].
fn test_config() -> Result<web::Config> {
    let mut config = web::Config::new("127.0.0.1:0".parse()?, SECRET.to_vec());
    config.limits.registrations = web::Rate::Off;
    config.limits.logins = web::Rate::Off;
    config.limits.texts = web::Rate::Off;
    Ok(config)
}
