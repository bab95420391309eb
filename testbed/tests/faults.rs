//! `cookim-testbed` as CI runs it: a seeded scenario on loopback (the fallback where network
//! namespaces cannot be made) passes its invariants, and a failing seed says which seed and
//! which invariant. The short run in network namespaces is a step of `scripts/test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::Command;

type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

fn mongo_uri() -> Result<String> {
    std::env::var("MONGO_URI").map_err(|_| {
        "MONGO_URI is not set: start the test server with eval \"$(scripts/mongo-test-server start)\" && export MONGO_URI (scripts/test does this)".into()
    })
}

/// Runs `cookim-testbed run` with `args`: exit code and stdout.
fn testbed(args: &[&str]) -> Result<(Option<i32>, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_cookim-testbed"))
        .arg("run")
        .args(args)
        .env("MONGO_URI", mongo_uri()?)
        .env("RUST_LOG", "error")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code(), stdout))
}

#[test]
fn a_seeded_scenario_on_loopback_keeps_every_invariant() -> Result {
    // Seed 2: node 0 killed and restarted while clients hop between nodes.
    let (code, out) = testbed(&["--seed", "2", "--loopback"])?;
    assert!(out.contains("nodes on loopback addresses"), "{out}");
    assert!(out.contains("kill -9 node 0"), "{out}");
    for invariant in [
        "acked in history",
        "stored once",
        "client order",
        "live delivery",
        "convergence",
    ] {
        assert!(
            out.contains(invariant),
            "{invariant} missing from the table: {out}"
        );
    }
    assert!(out.contains("seed 2: passed"), "{out}");
    assert!(out.contains("| messages lost | 0 |"), "{out}");
    assert_eq!(code, Some(0));
    Ok(())
}

#[test]
fn a_failing_seed_names_itself_and_the_broken_invariant() -> Result {
    // No cluster converges in 0 ms: the convergence invariant must break, and say so.
    let (code, out) = testbed(&["--seed", "9", "--loopback", "--bound-ms", "0"])?;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAILED seed 9: convergence"), "{out}");
    assert!(
        out.contains("cookim-testbed run --seed 9 --scenarios 1"),
        "{out}"
    );
    Ok(())
}

#[test]
fn the_same_seed_shows_the_same_schedule() -> Result {
    let show = |seed: &str| -> Result<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_cookim-testbed"))
            .args(["show", "--seed", seed])
            .output()?;
        Ok(String::from_utf8(out.stdout)?)
    };
    assert_eq!(show("41")?, show("41")?);
    assert_ne!(show("41")?, show("42")?);
    Ok(())
}
