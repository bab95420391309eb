//! The web edge's configuration: every limit is a named field with a documented default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::Limits;

/// How the HTTP/websocket edge behaves. Built once by `bin` from flags.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free one).
    pub bind: SocketAddr,
    /// A web client folder served under `/chat/` (CookIM's `www/`, or ours).
    pub www: Option<PathBuf>,
    /// HMAC secret for both token kinds (shared by every node of a cluster).
    pub jwt_secret: Vec<u8>,
    /// How long a token is valid. Default 15 minutes, as CookIM.
    pub token_ttl: Duration,
    /// Largest HTTP request body. Default 8 MiB, as CookIM (413 above).
    pub max_body: usize,
    /// Largest websocket message (text or binary). Default 8 MiB + 64 KiB of header room.
    pub max_ws_message: usize,
    /// Largest uploaded file (image, file, voice) over `/ws-chat`. Default 8 MiB, as CookIM's
    /// server accepts (its client stops at 4 MiB). Larger uploads get a `reject`.
    pub max_file: usize,
    /// Decode limits for images (thumbnails, avatars, icons): default 8192x8192 pixels, 50
    /// megapixels, 256 MiB of decoder memory. A larger image is refused, not decoded.
    pub image_limits: protocol::thumbnail::Limits,
    /// Thumbnails made at once on this node (CPU work off the executor). Default 2. Uploads on
    /// one connection are handled one after another, in arrival order (§8.7), so one
    /// connection never has more than one upload in progress.
    pub max_thumbnail_jobs: usize,
    /// Longest text message, in bytes. Default 16 KiB.
    pub max_text: usize,
    /// Longest nickname, in characters. Default 40.
    pub max_nickname: usize,
    /// Longest group name, in characters. Default 60.
    pub max_session_name: usize,
    /// Longest password, in bytes (argon2 input). Default 128.
    pub max_password: usize,
    /// Send a `keepalive` after this much silence on a websocket. Default 50 s (§8.6).
    pub keepalive: Duration,
    /// Frames queued for one websocket before it is cut as too slow. Default 1,024: enough for
    /// a burst (a thousand members coming online at once each tell everyone); the queue takes
    /// memory only while frames wait, and frames are shared by every recipient.
    pub outbox_capacity: usize,
    /// Live connections (HTTP and websocket) before new ones wait. Default 16,384.
    pub max_connections: usize,
    /// If set, websocket upgrades must carry one of these `Origin`s.
    pub allowed_origins: Option<Vec<String>>,
    /// The server's time zone, as seconds east of UTC, for `timestr` dates.
    pub utc_offset_secs: i32,
    /// Time a request's head and body have to arrive (and an idle keep-alive connection to
    /// send its next request). Default 30 s: a slowloris client cannot hold a connection.
    pub request_timeout: Duration,
    /// Time a websocket has to authenticate (a successful `online` on `/ws-chat`, an accepted
    /// subscribe on `/ws-push`) before it is closed. Default 10 s.
    pub auth_timeout: Duration,
    /// A session actor with no subscriber stops after this long. Default 60 s.
    pub session_idle: Duration,
    /// Rate limits, per-address caps, failed-login lockout and the hashing pool.
    pub limits: Limits,
}

impl std::fmt::Debug for Config {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("www", &self.www)
            .field("max_body", &self.max_body)
            .field("max_ws_message", &self.max_ws_message)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for one node on loopback with the given secret.
    pub fn new(bind: SocketAddr, jwt_secret: Vec<u8>) -> Config {
        Config {
            bind,
            www: None,
            jwt_secret,
            token_ttl: Duration::from_secs(15 * 60),
            max_body: 8 * 1024 * 1024,
            max_ws_message: 8 * 1024 * 1024 + 64 * 1024,
            max_file: 8 * 1024 * 1024,
            image_limits: protocol::thumbnail::Limits::default(),
            max_thumbnail_jobs: 2,
            max_text: 16 * 1024,
            max_nickname: 40,
            max_session_name: 60,
            max_password: 128,
            keepalive: Duration::from_secs(50),
            outbox_capacity: 1024,
            max_connections: 16_384,
            allowed_origins: None,
            utc_offset_secs: 0,
            request_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(10),
            session_idle: Duration::from_secs(60),
            limits: Limits::default(),
        }
    }
}
