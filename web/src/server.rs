//! The listener: one port for the API, static files and both websockets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_lock::Semaphore;
use async_net::{TcpListener, TcpStream};
use futures_lite::FutureExt;
use http_types::upgrade::Receiver;
use http_types::{Request, Response};
use runtime::{Shutdown, Spawner};
use store::Store;
use store::model::{AvatarKind, FileOwner, NewFile};

use crate::app::{App, DefaultAvatars};
use crate::auth::Tokens;
use crate::config::Config;
use crate::error::Result;
use crate::guard::{Guard, Guarded};
use crate::limits::{AddrKey, HashPool, Limiter};
use crate::logins::{self, Logins};
use crate::registry::{Cluster, Registry};
use crate::ws::{self, Kind};
use crate::{health, http, routes, static_files};

/// A bound, not yet running, cookim web server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    spawner: Spawner,
    shutdown: Shutdown,
    /// The registry actor; kept so it is not cancelled while the server runs.
    registry: runtime::Task<()>,
}

impl Server {
    /// Binds the listener, seeds the default avatars and starts the registry, for a node on
    /// its own.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the address cannot be bound; [`crate::Error::Store`] if the
    /// store cannot be read or written.
    pub async fn bind(
        config: Config,
        store: Arc<dyn Store>,
        spawner: Spawner,
        shutdown: Shutdown,
    ) -> Result<Server> {
        Server::bind_in(config, store, spawner, shutdown, None).await
    }

    /// [`Server::bind`] for a node of a cluster (`Some`): its chats and push channels are
    /// published to the mesh and it delivers what other nodes publish.
    ///
    /// # Errors
    /// As [`Server::bind`].
    pub async fn bind_in(
        config: Config,
        store: Arc<dyn Store>,
        spawner: Spawner,
        shutdown: Shutdown,
        cluster: Option<Cluster>,
    ) -> Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let defaults = seed_default_avatars(store.as_ref()).await?;
        let tokens = Tokens::new(&config.jwt_secret, config.token_ttl);
        let config_jobs = config.max_thumbnail_jobs.max(1);
        let limits = config.limits.clone();
        let token_ttl = config.token_ttl;
        let (registry, registry_task) =
            Registry::start(store, config, spawner.clone(), shutdown.clone(), cluster);
        let app = Arc::new(App {
            registry,
            tokens,
            defaults,
            limiter: Arc::new(Limiter::new(&limits)),
            hashes: HashPool::new(limits.hash_workers, limits.hash_queue)?,
            logins: Arc::new(Logins::new(token_ttl)),
            thumbnail_jobs: async_lock::Semaphore::new(config_jobs),
        });
        Ok(Server {
            listener,
            app,
            spawner,
            shutdown,
            registry: registry_task,
        })
    }

    /// The bound address (useful with port 0).
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the socket has no local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections until shutdown is signalled. Each connection runs in its own task
    /// holding a `Shutdown` clone, so the owner's `wait_done` covers them; a failing connection
    /// is logged and closed without affecting the others.
    pub async fn run(self) {
        let Server {
            listener,
            app,
            spawner,
            shutdown,
            registry,
        } = self;
        let limit = Arc::new(Semaphore::new(app.config().max_connections));
        // Logins ended on other nodes (or before a restart) reach this node's sockets here.
        let polling = spawner.spawn(logins::poll_loop(app.logins.clone(), app.store().clone()));
        tracing::info!(addr = ?listener.local_addr().ok(), "listening");
        loop {
            let accepted = async {
                let permit = limit.acquire_arc().await;
                Some((listener.accept().await, permit))
            }
            .or(async {
                shutdown.wait().await;
                None
            })
            .await;
            let Some((accepted, permit)) = accepted else {
                break;
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Some(counted) = app.limiter.open(AddrKey::from(peer.ip())) else {
                        // Cheapest refusal: no task, no parsing, just the close.
                        refused_for_address(&app, peer);
                        continue;
                    };
                    // Small frames matter more than throughput for chat.
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let task_shutdown = shutdown.clone();
                    // The connection ends itself on shutdown (a websocket sends its close
                    // frame first); it is cut only if that takes longer than the grace.
                    spawner.detach_with_grace(
                        async move {
                            connection(app, stream, peer, task_shutdown).await;
                            drop(counted);
                            drop(permit);
                            tracing::trace!(%peer, "connection closed");
                        },
                        &shutdown,
                        CLOSE_GRACE,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    runtime::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        tracing::info!("stopped accepting connections");
        drop(listener);
        polling.cancel().await;
        registry.await;
    }
}

/// Logs a connection refused for its address's cap, at most once a minute (a flood must not
/// become a flood of log lines).
fn refused_for_address(app: &App, peer: SocketAddr) {
    if app.log_once_a_minute(&LOGGED_ADDRESS_CAP) {
        tracing::warn!(%peer, cap = app.config().limits.max_per_address, "connections from one address over --max-per-address refused");
    }
}

static LOGGED_ADDRESS_CAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

type Upgrade = Arc<Mutex<Option<(Kind, Receiver)>>>;

/// How long a connection may take to close by itself once the server stops.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves HTTP requests on one connection; if one upgrades to a websocket, serves that.
async fn connection(app: Arc<App>, stream: TcpStream, peer: SocketAddr, shutdown: Shutdown) {
    let stream = Guarded::new(stream);
    let guard = stream.guard();
    // Boxed, so the HTTP phase's large state (async-h1's header arrays and decoders) is
    // freed when it ends instead of sizing the long-lived websocket's task.
    let upgraded = Box::pin(http_phase(&app, stream, peer, &shutdown)).await;
    if let Some((kind, receiver)) = upgraded {
        let Some(conn) = receiver.await else { return };
        match kind {
            Kind::Chat => ws::chat::serve(&app, conn, guard, shutdown).await,
            Kind::Push => ws::push::serve(&app, conn, guard, shutdown).await,
        }
    }
}

/// Bytes an unauthenticated websocket may send: room for a few `online` or subscribe
/// messages (each well under 1 KiB), nowhere near an 8 MB frame.
const PRE_AUTH_BYTES: u64 = 64 * 1024;

/// Serves HTTP requests until the connection closes, fails, the server stops, or a request
/// upgrades to a websocket (returned). Each request's head and body must arrive within
/// `request_timeout`; an upgraded connection then has `auth_timeout` and [`PRE_AUTH_BYTES`]
/// to authenticate.
async fn http_phase(
    app: &Arc<App>,
    stream: Guarded,
    peer: SocketAddr,
    shutdown: &Shutdown,
) -> Option<(Kind, Receiver)> {
    let upgrade: Upgrade = Arc::default();
    let guard = stream.guard();
    let endpoint = {
        let app = app.clone();
        let upgrade = upgrade.clone();
        let guard = guard.clone();
        move |mut req: Request| {
            let app = app.clone();
            let upgrade = upgrade.clone();
            let guard = guard.clone();
            req.set_peer_addr(Some(peer));
            async move { Ok(handle(&app, req, &upgrade, &guard).await) }
        }
    };
    let mut server = async_h1::server::Server::new(stream, endpoint);
    let request_timeout = app.config().request_timeout;
    loop {
        guard.deadline_in(request_timeout);
        let status = async { Some(server.accept_one().await) }
            .or(async {
                shutdown.wait().await;
                None
            })
            .await;
        match status {
            Some(Ok(async_h1::server::ConnectionStatus::KeepAlive)) => {}
            Some(Ok(async_h1::server::ConnectionStatus::Close)) => break,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "http connection failed");
                break;
            }
            None => return None,
        }
    }
    drop(server);
    upgrade.lock().ok().and_then(|mut slot| slot.take())
}

/// Routes one request.
async fn handle(app: &App, req: Request, upgrade: &Upgrade, guard: &Guard) -> Response {
    let path = req.url().path().to_owned();
    let kind = match path.as_str() {
        "/ws-chat" => Some(Kind::Chat),
        "/ws-push" => Some(Kind::Push),
        _ => None,
    };
    if let Some(kind) = kind {
        return match ws::accept_upgrade(&req, app.config()).await {
            Ok((res, receiver)) => {
                if let Ok(mut slot) = upgrade.lock() {
                    *slot = Some((kind, receiver));
                }
                guard.deadline_in(app.config().auth_timeout);
                guard.limit_reads(PRE_AUTH_BYTES);
                res
            }
            Err(res) => res,
        };
    }
    if let Some(route) = path.strip_prefix("/api/") {
        return routes::dispatch(app, req, route).await;
    }
    if let Some(res) = health::serve(app, &req).await {
        return res;
    }
    if let Some(res) = static_files::serve(&req, app.config().www.as_deref()).await {
        return res;
    }
    http::not_found()
}

/// Makes sure the three default avatars exist (drawn, since cookim ships no image files).
async fn seed_default_avatars(store: &dyn Store) -> Result<DefaultAvatars> {
    let mut ids = Vec::with_capacity(3);
    for (kind, color) in [
        (AvatarKind::Boy, [66, 133, 244]),
        (AvatarKind::Girl, [233, 84, 125]),
        (AvatarKind::Unknown, [120, 130, 140]),
    ] {
        let id = match store.default_avatar(kind).await? {
            Some(id) => id,
            None => {
                let file = NewFile {
                    id: protocol::ids::FileId::from_random(rand::random()),
                    file_name: format!("{}.png", kind.as_str()),
                    file_type: "image/png".into(),
                    owner: FileOwner::DefaultAvatar(kind),
                    dateline: crate::clock::now_ms(),
                    bytes: blocking::unblock(move || protocol::thumbnail::default_avatar(color))
                        .await,
                };
                match store.put_file(file).await {
                    Ok(stored) => stored.id,
                    // Another node starting on the same empty database drew it first.
                    Err(store::Error::Conflict("default avatar")) => store
                        .default_avatar(kind)
                        .await?
                        .ok_or_else(|| crate::Error::Invalid("default avatars missing".into()))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        ids.push(id);
    }
    let mut ids = ids.into_iter();
    match (ids.next(), ids.next(), ids.next()) {
        (Some(boy), Some(girl), Some(unknown)) => Ok(DefaultAvatars { boy, girl, unknown }),
        _ => Err(crate::Error::Invalid("default avatars missing".into())),
    }
}
