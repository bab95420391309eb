//! Helpers for tests of the real `cookim` binary: a node started on port 0 ([`node`]),
//! clients bound to a loopback source address of their own ([`net`]), forged tokens
//! ([`tokens`]) and the check that a node still chats ([`canary`]).
//!
//! The HTTP, websocket, fixture and file helpers are web's own (`web/tests/support/`), compiled
//! here from the same files: this module gives them the `Result`, `fail`, `within` and
//! constants they expect from their parent.
//!
//! Nothing here sleeps to synchronise: every wait is for an event (a reply, a frame, a closed
//! connection) and the deadline ([`within`]) only turns a missing event into an error naming
//! what never came.

// Each test binary compiles these modules and uses a different subset of them.
#![allow(dead_code)]

#[path = "../../../web/tests/support/files.rs"]
pub(crate) mod files;
#[path = "../../../web/tests/support/fixtures.rs"]
pub(crate) mod fixtures;
#[path = "../../../web/tests/support/http.rs"]
pub(crate) mod http;
#[path = "../../../web/tests/support/ws.rs"]
pub(crate) mod ws;

pub(crate) mod canary;
pub(crate) mod net;
pub(crate) mod node;
pub(crate) mod tokens;

use std::time::Duration;

/// Test results: any error, boxed.
pub(crate) type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> =
    std::result::Result<T, E>;

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

/// Runs an async test body on this thread (boxed: long bodies make large futures).
pub(crate) fn run(body: impl Future<Output = Result>) -> Result {
    smol::block_on(Box::pin(body))
}
