//! Replays every file of `fuzz/corpus/<target>/` through the same function its fuzz target
//! calls (`fuzz/src/lib.rs`, included here by path), so `cargo test` keeps every seed and
//! every input the fuzzer kept from panicking again, without libFuzzer or a nightly flag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::error::Error;
use std::fs;
use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
#[allow(unreachable_pub, dead_code)]
mod targets;

#[test]
fn every_corpus_input_runs_without_panicking() -> Result<(), Box<dyn Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, run) in targets::TARGETS {
        let mut inputs = 0;
        for entry in fs::read_dir(corpus.join(name))? {
            let path = entry?.path();
            // A panic names the input: the default hook prints the message, this the file.
            let bytes = fs::read(&path)?;
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
            inputs += 1;
        }
        assert!(inputs > 0, "the {name} corpus is empty");
    }
    Ok(())
}

#[test]
fn every_corpus_directory_has_a_target() -> Result<(), Box<dyn Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let targets: BTreeSet<&str> = targets::TARGETS.iter().map(|(name, _)| *name).collect();
    for entry in fs::read_dir(corpus)? {
        let name = entry?
            .file_name()
            .into_string()
            .map_err(|n| format!("{n:?}"))?;
        assert!(
            targets.contains(name.as_str()),
            "fuzz/corpus/{name} is replayed by no target"
        );
    }
    Ok(())
}
