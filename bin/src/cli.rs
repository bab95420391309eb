//! Command-line flags, with CookIM's short flags and docker-compose environment variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use store::mongo::WriteAck;

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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn cli(args: &[&str]) -> Result<Cli, CliError> {
        Cli::from_args(&["cookim"], args).map_err(|e| CliError::Invalid(e.output))
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, CliError> {
        let cli = cli(args)?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cli.resolve(&|name| env.get(name).cloned())
    }

    #[test]
    fn cookims_short_flags() -> TestResult {
        let s = parse(
            &[
                "-h",
                "node1",
                "-w",
                "9090",
                "-a",
                "2552",
                "-s",
                "a:2551,b:2552",
                "-m",
                "mongodb://x",
                "-n",
            ],
            &[],
        )?;
        assert_eq!(s.host_name, "node1");
        assert_eq!(s.web.port(), 9090);
        assert_eq!(s.mesh_port, 2552);
        assert_eq!(s.seeds, vec!["a:2551", "b:2552"]);
        assert_eq!(s.mongo_uri.as_deref(), Some("mongodb://x"));
        assert!(s.nat);
        assert!(s.web.ip().is_unspecified(), "--nat binds all interfaces");
        Ok(())
    }

    #[test]
    fn environment_and_defaults() -> TestResult {
        let s = parse(&[], &[])?;
        assert_eq!(
            (s.host_name.as_str(), s.web.port(), s.mesh_port),
            ("localhost", 8080, 2551)
        );
        assert!(s.web.ip().is_loopback());
        assert_eq!(s.data_dir, PathBuf::from("cookim-data"));
        let env = [
            ("HOST_NAME", "h"),
            ("WEB_PORT", "81"),
            ("AKKA_PORT", "82"),
            ("SEED_NODES", "h:82"),
            ("MONGO_URI", "mongodb://m"),
            ("COOKIM_DATA_DIR", "/d"),
            ("JWT_SECRET", "s"),
        ];
        let s = parse(&[], &env)?;
        assert_eq!(
            (s.host_name.as_str(), s.web.port(), s.mesh_port),
            ("h", 81, 82)
        );
        assert_eq!(s.seeds, vec!["h:82"]);
        assert_eq!(s.data_dir, PathBuf::from("/d"));
        assert_eq!(s.jwt_secret.as_deref(), Some("s"));
        let s = parse(&["-w", "90"], &env)?;
        assert_eq!(s.web.port(), 90, "a flag wins over the environment");
        Ok(())
    }

    #[test]
    fn export_and_import_are_subcommands() -> TestResult {
        let export = cli(&["--data-dir", "d", "export", "-o", "f"])?;
        assert_eq!(
            export.command,
            Some(Command::Export(Export {
                out: Some(PathBuf::from("f"))
            }))
        );
        let import = cli(&["-m", "mongodb://m", "import"])?;
        assert_eq!(
            import.command,
            Some(Command::Import(Import { input: None }))
        );
        assert_eq!(cli(&[])?.command, None);
        Ok(())
    }

    #[test]
    fn write_concern_from_flag_or_environment() -> TestResult {
        assert_eq!(parse(&[], &[])?.write_concern, WriteAck::Majority);
        let s = parse(&[], &[("COOKIM_WRITE_CONCERN", "1")])?;
        assert_eq!(s.write_concern, WriteAck::Nodes(1));
        let s = parse(
            &["--write-concern", "majority"],
            &[("COOKIM_WRITE_CONCERN", "1")],
        )?;
        assert_eq!(s.write_concern, WriteAck::Majority);
        assert!(
            parse(&["--write-concern", "0"], &[]).is_err(),
            "w:0 is refused"
        );
        assert!(matches!(
            parse(&[], &[("COOKIM_WRITE_CONCERN", "some")]),
            Err(CliError::Env {
                name: "COOKIM_WRITE_CONCERN",
                ..
            })
        ));
        Ok(())
    }

    #[test]
    fn invalid_values_are_explained() {
        assert!(matches!(
            parse(&[], &[("WEB_PORT", "http")]),
            Err(CliError::Env {
                name: "WEB_PORT",
                ..
            })
        ));
        assert!(parse(&["-s", "nohost"], &[]).is_err());
        assert!(parse(&["-h", " "], &[]).is_err());
        assert!(parse(&["--max-text", "0"], &[]).is_err());
        assert!(parse(&["-w", "99999"], &[]).is_err());
    }
}
