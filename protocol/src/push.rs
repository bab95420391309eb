//! `/ws-push` messages (§9 of the spec): one subscribe up, thirteen-field events down.

use serde::{Deserialize, Serialize};

use crate::chat::{ChatKind, FileFields, Sender, parse_object};
use crate::error::Result;
use crate::lenient;

/// U4: the only frame a client sends on `/ws-push`.
#[derive(Clone, PartialEq, Eq)]
pub struct PushUp {
    /// The subscriber's user token (`""` if missing).
    pub user_token: String,
}

impl std::fmt::Debug for PushUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushUp").finish_non_exhaustive()
    }
}

impl PushUp {
    /// Parses a text frame; a missing token reads as `""`.
    ///
    /// # Errors
    /// [`crate::Error::Json`] if the frame is not a JSON object.
    pub fn from_text(text: &str) -> Result<PushUp> {
        let raw: RawPushUp = parse_object(text)?;
        Ok(PushUp {
            user_token: raw.user_token,
        })
    }
}

/// The wire shape of a subscribe message: only the token matters, the rest is skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPushUp {
    #[serde(rename = "userToken", deserialize_with = "lenient::string")]
    user_token: String,
}

/// The session an event belongs to, resolved for the subscriber (§6.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushSession {
    /// Session id.
    pub sessionid: String,
    /// Resolved name (for a private chat, the other person's nickname).
    #[serde(rename = "sessionName")]
    pub session_name: String,
    /// Resolved icon.
    #[serde(rename = "sessionIcon")]
    pub session_icon: String,
}

/// The extra field CookIM's client reads on file pushes (§9.3 Note).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// `/` for files without a thumbnail, `/api/getFile?id=<thumbid>` for images.
    #[serde(rename = "fileThumb")]
    pub file_thumb: String,
}

/// A down frame on `/ws-push` (§9.3): thirteen string fields in the spec's order, plus
/// `fileInfo` on file events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushDown {
    /// Sender (or subscriber, for `accept`).
    #[serde(flatten)]
    pub sender: Sender,
    /// Session, resolved for the subscriber.
    #[serde(flatten)]
    pub session: PushSession,
    /// Kind.
    #[serde(rename = "msgType")]
    pub msg_type: ChatKind,
    /// Text.
    pub content: String,
    /// Upload fields.
    #[serde(flatten)]
    pub file: FileFields,
    /// `timestr`.
    pub dateline: String,
    /// Present on file events only.
    #[serde(rename = "fileInfo", skip_serializing_if = "Option::is_none")]
    pub file_info: Option<FileInfo>,
}

impl PushDown {
    /// P1: the subscription was accepted.
    pub fn accept(subscriber: Sender, dateline: String) -> PushDown {
        let content = format!(
            "User {} subscribe all session push accepted",
            subscriber.nickname
        );
        PushDown::system(subscriber, ChatKind::Accept, content, dateline)
    }

    /// P2: the subscription was refused.
    pub fn reject(dateline: String) -> PushDown {
        PushDown::system(
            Sender::default(),
            ChatKind::Reject,
            REJECT_TEXT.to_owned(),
            dateline,
        )
    }

    /// P3: nothing was sent for 50 s.
    pub fn keepalive(dateline: String) -> PushDown {
        PushDown::system(
            Sender::default(),
            ChatKind::Keepalive,
            String::new(),
            dateline,
        )
    }

    fn system(sender: Sender, msg_type: ChatKind, content: String, dateline: String) -> PushDown {
        PushDown {
            sender,
            session: PushSession::default(),
            msg_type,
            content,
            file: FileFields::default(),
            dateline,
            file_info: None,
        }
    }

    /// The `fileInfo` CookIM's client expects for a file event with this thumbnail.
    pub fn file_info_for(thumbid: &str) -> FileInfo {
        let file_thumb = if thumbid.is_empty() {
            "/".to_owned()
        } else {
            format!("/api/getFile?id={thumbid}")
        };
        FileInfo { file_thumb }
    }

    /// The JSON text of the frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The content of P2.
pub const REJECT_TEXT: &str = "no privilege to receive push message";
