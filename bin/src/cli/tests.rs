//! Flag and environment parsing.
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

#[test]
fn limits_from_flags_variables_and_defaults() -> TestResult {
    let s = parse(&[], &[])?;
    assert_eq!(s.limits, Limits::default());
    assert_eq!(s.auth_timeout, Duration::from_secs(10));
    assert_eq!(s.request_timeout, Duration::from_secs(30));
    let s = parse(
        &[
            "--limit-texts",
            "off",
            "--max-per-address",
            "9",
            "--auth-timeout",
            "2",
            "--max-login-failures",
            "3",
        ],
        &[
            ("COOKIM_LIMIT_SEARCHES", "5/10s"),
            ("COOKIM_LIMIT_UPLOAD_BYTES", "1G/1d"),
            ("COOKIM_LIMIT_TEXTS", "1/1s"),
            ("COOKIM_CLUSTER_SECRET", "c"),
        ],
    )?;
    assert_eq!(s.limits.texts, Rate::Off, "the flag wins over its variable");
    assert_eq!(
        s.limits.upload_bytes,
        Rate::every(1 << 30, Duration::from_secs(86_400))
    );
    assert_eq!(
        (s.limits.max_per_address, s.limits.max_login_failures),
        (9, 3)
    );
    assert_eq!(s.limits.searches, Rate::every(5, Duration::from_secs(10)));
    assert_eq!(s.auth_timeout, Duration::from_secs(2));
    assert_eq!(s.cluster_secret.as_deref(), Some("c"));
    assert!(parse(&["--limit-texts", "lots"], &[]).is_err());
    assert!(parse(&["--auth-timeout", "0"], &[]).is_err());
    assert!(parse(&["--max-per-address", "0"], &[]).is_err());
    assert!(matches!(
        parse(&[], &[("COOKIM_LIMIT_GROUPS", "x/y")]),
        Err(CliError::Env {
            name: "COOKIM_LIMIT_GROUPS",
            ..
        })
    ));
    Ok(())
}

#[test]
fn seeds_naming_only_this_node() -> TestResult {
    // CookIM's README: `-h localhost -w 8080 -a 2551 -s localhost:2551`.
    let cookims = ["-h", "localhost", "-w", "8080", "-a", "2551", "-s"];
    for seeds in [
        "localhost:2551",
        "127.0.0.1:2551",
        "localhost:2551,[::1]:2551",
    ] {
        let s = parse(&[&cookims[..], &[seeds]].concat(), &[])?;
        assert!(s.seeds_name_only_this_node(), "{seeds}");
    }
    for seeds in [
        "localhost:2552",
        "localhost:2551,other:2551",
        "10.0.0.5:2551",
    ] {
        let s = parse(&[&cookims[..], &[seeds]].concat(), &[])?;
        assert!(!s.seeds_name_only_this_node(), "{seeds}");
    }
    let s = parse(&["-h", "node1", "-a", "2551", "-s", "node1:2551"], &[])?;
    assert!(s.seeds_name_only_this_node());
    let s = parse(&["-h", "node1", "-a", "2551", "-s", "localhost:2551"], &[])?;
    assert!(
        !s.seeds_name_only_this_node(),
        "another host's loopback is not this node"
    );
    Ok(())
}
