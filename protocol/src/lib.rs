//! CookIM's wire formats as plain data and pure functions; no I/O, no clock, no async.
//!
//! Everything a client and a server exchange is here as typed Rust: the `/ws-chat` and
//! `/ws-push` messages ([`chat`], [`push`]), the REST response shapes ([`rest`]), the
//! `<#BinaryInfo#>` upload framing ([`binary`]), thumbnails ([`thumbnail`]), ids ([`ids`])
//! and the `timestr` date format ([`time`]). Field names follow `../shared/cookim-api.md`
//! exactly through serde attributes; inside Rust, kinds are enums. Time and randomness are
//! arguments, never read here, so every function is deterministic and tested without sockets.
//!
//! # Layout
//! - [`ids`]: `UserId`, `SessionId`, `MessageId`, `NotificationId`, `FileId`, `LoginId`.
//! - [`time`]: epoch milliseconds and `timestr`.
//! - [`chat`]: `/ws-chat` up and down messages.
//! - [`push`]: `/ws-push` up and down messages.
//! - [`binary`]: the `<#BinaryInfo#>` codec.
//! - [`thumbnail`]: bounded image decoding and 200x200 PNG thumbnails.
//! - [`rest`]: `/api/*` response bodies.
//! - [`search`]: the terms a text is searched by (folded words, CJK character pairs).
//! - `lenient`: CookIM's lenient field decoding, straight into typed structs.
//! - [`error`]: the crate's error enum.
//!
//! # Example
//! ```
//! use cookim_protocol::chat::{ChatUp, UpKind};
//! let up = ChatUp::from_text(r#"{"userToken":"u","sessionToken":"s","msgType":"text","content":"hi"}"#)?;
//! assert_eq!(up.kind, UpKind::Text);
//! assert_eq!(up.content, "hi");
//! # Ok::<(), cookim_protocol::Error>(())
//! ```

pub mod binary;
pub mod chat;
pub mod error;
pub mod ids;
mod lenient;
pub mod push;
pub mod rest;
pub mod search;
pub mod thumbnail;
pub mod time;

pub use error::{Error, Result};
