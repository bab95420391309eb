//! Hostile clients against the real `cookim` binary: oversize and deeply nested JSON,
//! slowloris, sockets that never authenticate, bad tokens on every entry point, device
//! sessions, login, registration, send and upload floods, path tricks, image bombs, lying
//! upload frames, the per-address connection cap, forged mesh peers and the start-up secret
//! check.
//!
//! Every case asserts the clear refusal (a `reject` text, an `errmsg`, a status or a close
//! code) and then that a normal chat still works on the same node ([`support::canary`]).
//! Nodes run with small limits set by flags and are shared by the cases of a group
//! ([`servers`]); clients that trip per-address limits connect from loopback addresses of
//! their own ([`support::net`]), so one case's flood never locks out another's client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod servers;

mod binary_frames;
mod connections;
mod floods;
mod images;
mod mesh;
mod oversize;
mod paths;
mod sends;
mod sessions;
mod slowloris;
mod startup;
mod tokens;
mod unauthenticated;
