//! cookim's fault harness and its deterministic mesh simulation; every run reproducible from a
//! seed. The benchmarks live in `bench/`; both drive real nodes through `harness/`. Never a
//! dependency of the server crates.
//!
//! # Layout
//! - [`chaos`]: seeded fault scenarios on real nodes (network namespaces or loopback, the
//!   fault proxy, chat clients, the invariants); the engine of `cookim-testbed`.
//! - [`sim`]: the deterministic mesh simulation (many `NodeCore`s, virtual clock, faulty
//!   network); `testbed/tests/mesh_sim.rs` runs it over fixed seeds.
//! - `src/bin/cookim-testbed.rs`: runs the fault scenarios and prints their tables.
//! - `src/bin/cookim-sim.rs`: prints the simulation's detection and propagation times.
//! - `tests/`: one seed of the fault scenarios on loopback (`faults.rs`), the simulation over
//!   fixed seeds (`mesh_sim.rs`), and three real processes on MongoDB killed and restarted
//!   (`cluster.rs`).

pub mod chaos;
pub mod sim;
