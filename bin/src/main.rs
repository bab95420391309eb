//! `cookim`: parse flags, build configs, start the node, stop cleanly on Ctrl-C.
//!
//! Everything here is wiring: flags and environment ([`cli`]), logging ([`telemetry`]), the
//! embedded store, the web server, and signals. A SIGINT or SIGTERM stops accepting, sends
//! every websocket a close frame, waits for connections to finish (bounded by
//! `--shutdown-timeout`), flushes the store and exits 0.

mod cli;
mod telemetry;
mod tools;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use futures_lite::StreamExt;
use store::Store;

use crate::cli::{Cli, Settings};

/// Why the node could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Cli(#[from] cli::CliError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("web: {0}")]
    Web(#[from] web::Error),
    #[error("mesh: {0}")]
    Mesh(#[from] mesh::Error),
    #[error("{0}")]
    Unsupported(String),
}

fn main() -> ExitCode {
    let mut cli: Cli = argh::from_env();
    telemetry::init();
    let command = cli.command.take();
    let settings = cli
        .resolve(&|name| std::env::var(name).ok())
        .map_err(Error::from);
    match settings.and_then(|settings| match command {
        Some(command) => tools::run(command, &settings),
        None => run(settings),
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cookim stopped");
            ExitCode::FAILURE
        }
    }
}

/// The token secret: from the flag or environment, else generated once into the data dir
/// (mode 0600) and reused, so tokens survive restarts.
fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, Error> {
    if let Some(secret) = &settings.jwt_secret {
        check_secret("--jwt-secret/JWT_SECRET", secret)?;
        return Ok(secret.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(Error::Unsupported(format!(
                "{} is too short; delete it to generate a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a new token secret");
    Ok(secret.into_bytes())
}

/// Shortest secret accepted: 32 bytes, the HMAC-SHA256 key size. A shorter one can be
/// guessed offline from a single token.
const MIN_SECRET: usize = 32;

/// The placeholder `deploy/kubernetes.yaml` ships with; deploying it unchanged would share
/// one public secret with everyone who read the file.
const PLACEHOLDER_SECRET: &str = "REPLACE-ME";

/// Refuses a secret that is too short or still the shipped placeholder.
fn check_secret(name: &str, secret: &str) -> Result<(), Error> {
    if secret.starts_with(PLACEHOLDER_SECRET) {
        return Err(Error::Unsupported(format!(
            "{name} is still the placeholder from deploy/kubernetes.yaml: set a random one (openssl rand -hex 32)"
        )));
    }
    if secret.len() < MIN_SECRET {
        return Err(Error::Unsupported(format!(
            "{name} is {} bytes; it must be at least {MIN_SECRET} (openssl rand -hex 32 makes one)",
            secret.len()
        )));
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn web_config(settings: &Settings, secret: Vec<u8>) -> web::Config {
    let mut config = web::Config::new(settings.web, secret);
    config.www = settings.www.clone();
    config.allowed_origins = settings.allowed_origins.clone();
    config.max_connections = settings.max_connections;
    config.max_text = settings.max_text;
    config.max_body = settings.max_body;
    config.auth_timeout = settings.auth_timeout;
    config.request_timeout = settings.request_timeout;
    config.limits = settings.limits.clone();
    config.utc_offset_secs = chrono::Local::now().offset().local_minus_utc();
    config
}

fn run(mut settings: Settings) -> Result<(), Error> {
    if settings.mongo_uri.is_none()
        && !settings.seeds.is_empty()
        && settings.seeds_name_only_this_node()
    {
        // CookIM's README starts a single node as `-a 2551 -s localhost:2551` (it required
        // seeds): a cluster of one on the embedded store.
        tracing::info!(seeds = ?settings.seeds, "the seed nodes name only this node: running as one node");
        settings.seeds.clear();
    }
    if let Some(secret) = &settings.cluster_secret {
        check_secret("--cluster-secret/COOKIM_CLUSTER_SECRET", secret)?;
    }
    if settings.mongo_uri.is_some() && settings.jwt_secret.is_none() {
        tracing::warn!(
            "with -m, give every node the same --jwt-secret/JWT_SECRET, or tokens from one node fail on another"
        );
    }
    if !settings.seeds.is_empty() && settings.mongo_uri.is_none() {
        return Err(Error::Unsupported(
            "-s/SEED_NODES makes this node part of a cluster, and a cluster's nodes share one MongoDB: give -m/MONGO_URI too".to_owned(),
        ));
    }
    if let Some(www) = settings
        .www
        .as_ref()
        .filter(|www| !www.join("index.html").is_file())
    {
        return Err(Error::Unsupported(format!(
            "--www {}: no index.html there",
            www.display()
        )));
    }
    let secret = jwt_secret(&settings)?;
    raise_file_limit(settings.max_connections);
    let runtime = runtime::Runtime::new(settings.threads)?;
    let (trigger, shutdown) = runtime::shutdown();
    let spawner = runtime.spawner();
    runtime.block_on(async {
        let store = open_store(&settings).await?;
        let cluster = start_mesh(&settings, &secret, &spawner, trigger.subscribe()).await?;
        let server = web::Server::bind_in(web_config(&settings, secret), store.clone(), spawner.clone(), shutdown, cluster).await?;
        let addr = server.local_addr()?;
        announce(&settings, addr);
        let mut signals = async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
        let serving = spawner.spawn(server.run());
        let signal = signals.next().await;
        tracing::info!(?signal, "shutting down");
        if trigger.wait_done(settings.shutdown_timeout).await.is_err() {
            tracing::warn!(timeout = ?settings.shutdown_timeout, "connections still open at the deadline; closing them");
        }
        serving.cancel().await;
        store.flush().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The mesh node, when seeds are given (`-s`): UDP and TCP on the `-a` port of the web
/// port's address (all interfaces with `--nat`), advertised as `-h:-a`, which is how the
/// other nodes must list this one in their seeds.
async fn start_mesh(
    settings: &Settings,
    token_secret: &[u8],
    spawner: &runtime::Spawner,
    shutdown: runtime::Shutdown,
) -> Result<Option<web::Cluster>, Error> {
    if settings.seeds.is_empty() {
        return Ok(None);
    }
    if settings.mesh_port == 0 {
        return Err(Error::Unsupported(
            "-a/AKKA_PORT 0: a cluster node needs a fixed port that the other nodes can list as a seed".to_owned(),
        ));
    }
    let bind = std::net::SocketAddr::new(settings.web.ip(), settings.mesh_port);
    let host_is_loopback = settings.host_name == "localhost"
        || settings
            .host_name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if bind.ip().is_loopback() && !host_is_loopback {
        tracing::warn!(%bind, host = %settings.host_name, "the mesh listens on loopback only, so nodes on other hosts cannot reach it: use --nat or --bind 0.0.0.0");
    }
    let advertise = format!("{}:{}", settings.host_name, settings.mesh_port);
    // `--cluster-secret` if given (checked at start), else derived from the token secret, so a
    // CookIM-style deployment that shares JWT_SECRET needs nothing new.
    let key = match &settings.cluster_secret {
        Some(secret) => mesh::ClusterSecret::new(secret.as_bytes())?,
        None => mesh::ClusterSecret::derive_from_token_secret(token_secret)?,
    };
    let config = mesh::config::MeshConfig::new(bind, advertise, settings.seeds.clone(), key);
    let (mesh, deliveries) = mesh::Mesh::start(config, spawner, shutdown).await?;
    tracing::info!(node = %mesh.id(), %bind, seeds = ?settings.seeds, "cluster node: joining through the seeds");
    Ok(Some(web::Cluster { mesh, deliveries }))
}

/// The database CookIM keeps everything in (its `mongodb.dbname`).
const MONGO_DATABASE: &str = "cookim";
/// Attempts to reach MongoDB at start-up before giving up, one second apart (each attempt
/// itself waits for the driver's server-selection timeout).
const MONGO_ATTEMPTS: u32 = 3;

/// The embedded store in the data dir, or MongoDB with `-m` (a few attempts, then a clear
/// error naming the host, never the credentials).
pub(crate) async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, Error> {
    let Some(uri) = &settings.mongo_uri else {
        return Ok(Arc::new(store::Embedded::open(&settings.data_dir).await?));
    };
    let shown = redact(uri);
    let mut attempt = 1;
    loop {
        match store::Mongo::connect_with(uri, MONGO_DATABASE, settings.write_concern).await {
            Ok(mongo) => {
                tracing::info!(uri = %shown, database = MONGO_DATABASE, "MongoDB store open");
                return Ok(Arc::new(mongo));
            }
            Err(e) if attempt < MONGO_ATTEMPTS => {
                tracing::warn!(uri = %shown, attempt, error = %e, "MongoDB not reachable yet; retrying");
                runtime::sleep(std::time::Duration::from_secs(1)).await;
                attempt += 1;
            }
            Err(e) => {
                return Err(Error::Unsupported(format!(
                    "cannot use MongoDB at {shown} after {MONGO_ATTEMPTS} attempts: {e}"
                )));
            }
        }
    }
}

/// A MongoDB URI with any `user:password@` removed, for messages.
fn redact(uri: &str) -> String {
    match (uri.split_once("://"), uri.find('@')) {
        (Some((scheme, rest)), Some(_)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => uri.to_owned(),
        },
        _ => uri.to_owned(),
    }
}

/// Raises the soft limit on open files towards the hard limit, so `--max-connections`
/// connections (plus files and the store) fit; says so when the hard limit is too low.
fn raise_file_limit(max_connections: usize) {
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(256);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections,
            "open-file limit is below --max-connections; raise it (ulimit -n) or lower --max-connections"
        ),
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open-file limit"),
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the URL to open is the program's output"
)]
fn announce(settings: &Settings, addr: std::net::SocketAddr) {
    let host = if addr.ip().is_unspecified() || settings.nat {
        settings.host_name.clone()
    } else {
        addr.ip().to_string()
    };
    // Our own client is at `/`; a `--www` client lives under `/chat/`, as CookIM's did.
    let path = if settings.www.is_some() {
        "/chat/"
    } else {
        "/"
    };
    println!("cookim started! Open http://{host}:{}{path}", addr.port());
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "cookim started");
}
