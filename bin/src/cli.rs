//! Command-line flags, with CookIM's short flags and docker-compose environment variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use store::mongo::WriteAck;
use web::{Limits, Rate};

/// cookim: a websocket chat server, wire-compatible with CookIM. Every flag can also be set by
/// the environment variable named in its description; a flag wins over the variable.
#[derive(FromArgs, Debug, Default, PartialEq)]
pub(crate) struct Cli {
    /// host name other nodes and browsers use to reach this node, env HOST_NAME (default: localhost)
    #[argh(option, short = 'h')]
    pub(crate) host_name: Option<String>,
    /// the HTTP and websocket port, env WEB_PORT (default: 8080; 0 picks a free port)
    #[argh(option, short = 'w')]
    pub(crate) web_port: Option<u16>,
    /// cluster (mesh) port, UDP for membership and TCP for messages, env AKKA_PORT (default: 2551)
    #[argh(option, short = 'a')]
    pub(crate) akka_port: Option<u16>,
    /// comma-separated seed nodes of the cluster, each as that node's -h:-a (this node's own may be listed); seeds make this a cluster node, which needs -m, env SEED_NODES
    #[argh(option, short = 's')]
    pub(crate) seed_nodes: Option<String>,
    /// the MongoDB URI of a cluster's shared store, env MONGO_URI; absent: the embedded store
    #[argh(option, short = 'm')]
    pub(crate) mongo_uri: Option<String>,
    /// write concern of chat messages on MongoDB (members that must have one before it is echoed): majority or a number, env COOKIM_WRITE_CONCERN (default: majority)
    #[argh(option)]
    pub(crate) write_concern: Option<WriteAck>,
    /// container or NAT mode: bind all interfaces, advertise the host name, env COOKIM_NAT=1
    #[argh(switch, short = 'n')]
    pub(crate) nat: bool,
    /// directory of the embedded store and generated secret, env COOKIM_DATA_DIR (default: ./cookim-data)
    #[argh(option)]
    pub(crate) data_dir: Option<PathBuf>,
    /// address to bind the web port on, env COOKIM_BIND (default: 127.0.0.1, or 0.0.0.0 with --nat)
    #[argh(option)]
    pub(crate) bind: Option<IpAddr>,
    /// a web client folder to serve under /chat/ instead of the built-in client at /, e.g. CookIM's www/, env COOKIM_WWW
    #[argh(option)]
    pub(crate) www: Option<PathBuf>,
    /// token signing secret, the same on every node, env JWT_SECRET (default: generated once into the data dir)
    #[argh(option)]
    pub(crate) jwt_secret: Option<String>,
    /// comma-separated Origins allowed to open websockets, env COOKIM_ALLOWED_ORIGINS (default: any)
    #[argh(option)]
    pub(crate) allowed_origins: Option<String>,
    /// most simultaneous connections, env COOKIM_MAX_CONNECTIONS (default: 16384)
    #[argh(option)]
    pub(crate) max_connections: Option<usize>,
    /// longest text message in bytes, env COOKIM_MAX_TEXT (default: 16384)
    #[argh(option)]
    pub(crate) max_text: Option<usize>,
    /// largest HTTP request body in bytes, env COOKIM_MAX_BODY (default: 8388608)
    #[argh(option)]
    pub(crate) max_body: Option<usize>,
    /// executor threads besides the main one, env COOKIM_THREADS (default: one per CPU but one)
    #[argh(option)]
    pub(crate) threads: Option<usize>,
    /// seconds allowed for a graceful stop, env COOKIM_SHUTDOWN_TIMEOUT (default: 10)
    #[argh(option)]
    pub(crate) shutdown_timeout: Option<u64>,
    /// secret every node of a cluster shares (at least 32 bytes), env COOKIM_CLUSTER_SECRET (default: derived from the token secret)
    #[argh(option)]
    pub(crate) cluster_secret: Option<String>,
    /// seconds a websocket has to authenticate, env COOKIM_AUTH_TIMEOUT (default: 10)
    #[argh(option)]
    pub(crate) auth_timeout: Option<u64>,
    /// seconds a request's head and body have to arrive, env COOKIM_REQUEST_TIMEOUT (default: 30)
    #[argh(option)]
    pub(crate) request_timeout: Option<u64>,
    /// open connections from one address, env COOKIM_MAX_PER_ADDRESS (default: 512)
    #[argh(option)]
    pub(crate) max_per_address: Option<usize>,
    /// logins per address, BURST/PERIOD or off, env COOKIM_LIMIT_LOGINS (default: 30/1m)
    #[argh(option)]
    pub(crate) limit_logins: Option<Rate>,
    /// registrations per address, env COOKIM_LIMIT_REGISTRATIONS (default: 10/1h)
    #[argh(option)]
    pub(crate) limit_registrations: Option<Rate>,
    /// texts per user, env COOKIM_LIMIT_TEXTS (default: 40/3s)
    #[argh(option)]
    pub(crate) limit_texts: Option<Rate>,
    /// uploads per user, env COOKIM_LIMIT_UPLOADS (default: 30/1m)
    #[argh(option)]
    pub(crate) limit_uploads: Option<Rate>,
    /// uploaded bytes per user, env COOKIM_LIMIT_UPLOAD_BYTES (default: 2G/1d)
    #[argh(option)]
    pub(crate) limit_upload_bytes: Option<Rate>,
    /// groups created per user, env COOKIM_LIMIT_GROUPS (default: 30/1h)
    #[argh(option)]
    pub(crate) limit_groups: Option<Rate>,
    /// friend requests per user, env COOKIM_LIMIT_FRIEND_REQUESTS (default: 100/1h)
    #[argh(option)]
    pub(crate) limit_friend_requests: Option<Rate>,
    /// invitations per user, env COOKIM_LIMIT_INVITES (default: 200/1h)
    #[argh(option)]
    pub(crate) limit_invites: Option<Rate>,
    /// message searches per user, env COOKIM_LIMIT_SEARCHES (default: 30/1m)
    #[argh(option)]
    pub(crate) limit_searches: Option<Rate>,
    /// failed logins per (address, login) per lockout window, env COOKIM_MAX_LOGIN_FAILURES (default: 5)
    #[argh(option)]
    pub(crate) max_login_failures: Option<u32>,
    /// failed logins per address (over all logins) per lockout window, env COOKIM_MAX_ADDRESS_FAILURES (default: 50)
    #[argh(option)]
    pub(crate) max_address_failures: Option<u32>,
    /// seconds of the failed-login window, env COOKIM_LOGIN_LOCKOUT (default: 60)
    #[argh(option)]
    pub(crate) login_lockout: Option<u64>,
    /// password hashes allowed to wait for a core, env COOKIM_HASH_QUEUE (default: 64)
    #[argh(option)]
    pub(crate) hash_queue: Option<usize>,
    #[argh(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Tools run instead of the server, on the store the server would use (the embedded one in
/// --data-dir, or MongoDB with -m).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub(crate) enum Command {
    Export(Export),
    Import(Import),
}

/// write the whole store (users, chats, history, files) to a dump file, then exit
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "export")]
pub(crate) struct Export {
    /// the dump file to write (default: standard output)
    #[argh(option, short = 'o')]
    pub(crate) out: Option<PathBuf>,
}

/// read a dump file made by `cookim export` into the store, then exit; records already there are skipped, so it can be run again
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "import")]
pub(crate) struct Import {
    /// the dump file to read (default: standard input)
    #[argh(option, short = 'i')]
    pub(crate) input: Option<PathBuf>,
}

/// Why the flags cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CliError {
    /// A variable holds an unparsable value.
    #[error("environment variable {name}={value:?} is not valid: {reason}")]
    Env {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The resolved settings, flags over environment over defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) host_name: String,
    pub(crate) web: SocketAddr,
    pub(crate) mesh_port: u16,
    pub(crate) seeds: Vec<String>,
    pub(crate) mongo_uri: Option<String>,
    pub(crate) write_concern: WriteAck,
    pub(crate) nat: bool,
    pub(crate) data_dir: PathBuf,
    pub(crate) www: Option<PathBuf>,
    pub(crate) jwt_secret: Option<String>,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) max_connections: usize,
    pub(crate) max_text: usize,
    pub(crate) max_body: usize,
    pub(crate) threads: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) cluster_secret: Option<String>,
    pub(crate) auth_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) limits: Limits,
}

fn env_parse<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, CliError>
where
    T::Err: std::fmt::Display,
{
    match env(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| CliError::Env {
                name,
                value,
                reason: e.to_string(),
            }),
    }
}

impl Settings {
    /// Whether every seed is this node's own `-h:-a` (or, for a loopback host name, a loopback
    /// address with this node's mesh port).
    pub(crate) fn seeds_name_only_this_node(&self) -> bool {
        let loopback = |host: &str| {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        self.seeds.iter().all(|seed| {
            let Some((host, port)) = seed.rsplit_once(':') else {
                return false;
            };
            port.parse() == Ok(self.mesh_port)
                && (host == self.host_name || (loopback(host) && loopback(&self.host_name)))
        })
    }
}

/// A flag's value, else its variable's, else `default`.
fn pick<T: std::str::FromStr>(
    flag: Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, CliError>
where
    T::Err: std::fmt::Display,
{
    match flag {
        Some(value) => Ok(value),
        None => Ok(env_parse(env, name)?.unwrap_or(default)),
    }
}

/// A number of seconds that must be above 0.
fn seconds(flag: &str, value: u64) -> Result<Duration, CliError> {
    if value == 0 {
        return Err(CliError::Invalid(format!(
            "--{flag} must be greater than 0"
        )));
    }
    Ok(Duration::from_secs(value))
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Cli {
    /// Applies the environment (`env` looks a variable up) and defaults, and validates.
    pub(crate) fn resolve(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, CliError> {
        let host_name = match self.host_name {
            Some(h) => h,
            None => {
                env_parse::<String>(env, "HOST_NAME")?.unwrap_or_else(|| "localhost".to_owned())
            }
        };
        if host_name.trim().is_empty() {
            return Err(CliError::Invalid("--host-name must not be empty".into()));
        }
        let web_port = match self.web_port {
            Some(p) => p,
            None => env_parse(env, "WEB_PORT")?.unwrap_or(8080),
        };
        let mesh_port = match self.akka_port {
            Some(p) => p,
            None => env_parse(env, "AKKA_PORT")?.unwrap_or(2551),
        };
        let seeds = self
            .seed_nodes
            .or_else(|| env("SEED_NODES"))
            .map(|s| list(&s))
            .unwrap_or_default();
        for seed in &seeds {
            let valid = seed
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !valid {
                return Err(CliError::Invalid(format!(
                    "seed node {seed:?} is not host:port"
                )));
            }
        }
        let nat = self.nat
            || env("COOKIM_NAT").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        let bind = match self.bind {
            Some(ip) => ip,
            None => env_parse(env, "COOKIM_BIND")?.unwrap_or(if nat {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }),
        };
        let positive = |name: &str, value: usize| {
            if value == 0 {
                Err(CliError::Invalid(format!(
                    "--{name} must be greater than 0"
                )))
            } else {
                Ok(value)
            }
        };
        Ok(Settings {
            host_name,
            web: SocketAddr::new(bind, web_port),
            mesh_port,
            seeds,
            mongo_uri: self
                .mongo_uri
                .or_else(|| env("MONGO_URI"))
                .filter(|s| !s.is_empty()),
            write_concern: match self.write_concern {
                Some(v) => v,
                None => env_parse(env, "COOKIM_WRITE_CONCERN")?.unwrap_or_default(),
            },
            nat,
            data_dir: self
                .data_dir
                .or_else(|| env("COOKIM_DATA_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("cookim-data")),
            www: self.www.or_else(|| env("COOKIM_WWW").map(PathBuf::from)),
            jwt_secret: self
                .jwt_secret
                .or_else(|| env("JWT_SECRET"))
                .filter(|s| !s.is_empty()),
            allowed_origins: self
                .allowed_origins
                .or_else(|| env("COOKIM_ALLOWED_ORIGINS"))
                .map(|s| list(&s)),
            max_connections: positive(
                "max-connections",
                match self.max_connections {
                    Some(v) => v,
                    None => env_parse(env, "COOKIM_MAX_CONNECTIONS")?.unwrap_or(16_384),
                },
            )?,
            max_text: positive(
                "max-text",
                match self.max_text {
                    Some(v) => v,
                    None => env_parse(env, "COOKIM_MAX_TEXT")?.unwrap_or(16 * 1024),
                },
            )?,
            max_body: positive(
                "max-body",
                match self.max_body {
                    Some(v) => v,
                    None => env_parse(env, "COOKIM_MAX_BODY")?.unwrap_or(8 * 1024 * 1024),
                },
            )?,
            threads: match self.threads {
                Some(v) => v,
                None => env_parse(env, "COOKIM_THREADS")?.unwrap_or(0),
            },
            shutdown_timeout: Duration::from_secs(match self.shutdown_timeout {
                Some(v) => v,
                None => env_parse(env, "COOKIM_SHUTDOWN_TIMEOUT")?.unwrap_or(10),
            }),
            cluster_secret: self
                .cluster_secret
                .or_else(|| env("COOKIM_CLUSTER_SECRET"))
                .filter(|s| !s.is_empty()),
            auth_timeout: seconds(
                "auth-timeout",
                pick(self.auth_timeout, env, "COOKIM_AUTH_TIMEOUT", 10)?,
            )?,
            request_timeout: seconds(
                "request-timeout",
                pick(self.request_timeout, env, "COOKIM_REQUEST_TIMEOUT", 30)?,
            )?,
            limits: limits(
                LimitFlags {
                    max_per_address: self.max_per_address,
                    logins: self.limit_logins,
                    registrations: self.limit_registrations,
                    texts: self.limit_texts,
                    uploads: self.limit_uploads,
                    upload_bytes: self.limit_upload_bytes,
                    groups: self.limit_groups,
                    friend_requests: self.limit_friend_requests,
                    invites: self.limit_invites,
                    searches: self.limit_searches,
                    max_login_failures: self.max_login_failures,
                    max_address_failures: self.max_address_failures,
                    login_lockout: self.login_lockout,
                    hash_queue: self.hash_queue,
                },
                env,
            )?,
        })
    }
}

/// The limit flags as given (before their variables and defaults).
struct LimitFlags {
    max_per_address: Option<usize>,
    logins: Option<Rate>,
    registrations: Option<Rate>,
    texts: Option<Rate>,
    uploads: Option<Rate>,
    upload_bytes: Option<Rate>,
    groups: Option<Rate>,
    friend_requests: Option<Rate>,
    invites: Option<Rate>,
    searches: Option<Rate>,
    max_login_failures: Option<u32>,
    max_address_failures: Option<u32>,
    login_lockout: Option<u64>,
    hash_queue: Option<usize>,
}

fn limits(f: LimitFlags, env: &dyn Fn(&str) -> Option<String>) -> Result<Limits, CliError> {
    let d = Limits::default();
    let limits = Limits {
        max_per_address: pick(
            f.max_per_address,
            env,
            "COOKIM_MAX_PER_ADDRESS",
            d.max_per_address,
        )?,
        logins: pick(f.logins, env, "COOKIM_LIMIT_LOGINS", d.logins)?,
        registrations: pick(
            f.registrations,
            env,
            "COOKIM_LIMIT_REGISTRATIONS",
            d.registrations,
        )?,
        texts: pick(f.texts, env, "COOKIM_LIMIT_TEXTS", d.texts)?,
        uploads: pick(f.uploads, env, "COOKIM_LIMIT_UPLOADS", d.uploads)?,
        upload_bytes: pick(
            f.upload_bytes,
            env,
            "COOKIM_LIMIT_UPLOAD_BYTES",
            d.upload_bytes,
        )?,
        groups: pick(f.groups, env, "COOKIM_LIMIT_GROUPS", d.groups)?,
        friend_requests: pick(
            f.friend_requests,
            env,
            "COOKIM_LIMIT_FRIEND_REQUESTS",
            d.friend_requests,
        )?,
        invites: pick(f.invites, env, "COOKIM_LIMIT_INVITES", d.invites)?,
        searches: pick(f.searches, env, "COOKIM_LIMIT_SEARCHES", d.searches)?,
        max_login_failures: pick(
            f.max_login_failures,
            env,
            "COOKIM_MAX_LOGIN_FAILURES",
            d.max_login_failures,
        )?,
        max_address_failures: pick(
            f.max_address_failures,
            env,
            "COOKIM_MAX_ADDRESS_FAILURES",
            d.max_address_failures,
        )?,
        login_lockout: seconds(
            "login-lockout",
            pick(
                f.login_lockout,
                env,
                "COOKIM_LOGIN_LOCKOUT",
                d.login_lockout.as_secs(),
            )?,
        )?,
        hash_queue: pick(f.hash_queue, env, "COOKIM_HASH_QUEUE", d.hash_queue)?,
        hash_workers: d.hash_workers,
    };
    if limits.max_per_address == 0 {
        return Err(CliError::Invalid(
            "--max-per-address must be greater than 0".into(),
        ));
    }
    Ok(limits)
}

#[cfg(test)]
mod tests;
