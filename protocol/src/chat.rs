//! `/ws-chat` messages (§8 of the spec): what a client sends up, what the server sends down.

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Result;
use crate::lenient;

/// The kind of an up message. CookIM's `online` and `text` and our extensions (`typing`,
/// `read`) are accepted from text frames; anything else is kept as `Other` so the server can
/// refuse it by name (§8.3 Note: CookIM let clients inject `join` or `system` rows into
/// history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpKind {
    /// Subscribe this connection to the session.
    Online,
    /// A text message.
    Text,
    /// Extension: the sender is composing (not stored; others with `ext` hear of it).
    Typing,
    /// Extension: the sender has read the chat up to `seq` (a read mark, only moving forward).
    Read,
    /// Any other `msgType`, refused by the server.
    Other(String),
}

/// A text frame sent by a client on `/ws-chat` (U1, U2).
#[derive(Clone, PartialEq, Eq)]
pub struct ChatUp {
    /// The sender's user token (`""` if missing).
    pub user_token: String,
    /// The session token (`""` if missing).
    pub session_token: String,
    /// What the client asks for.
    pub kind: UpKind,
    /// The text (`""` if missing).
    pub content: String,
    /// The sender's own id for a text (`clientId`, an extension CookIM's client never sends):
    /// a retry with the same id is stored and delivered once. `None` if missing or not a
    /// string; the server checks its length.
    pub client_id: Option<String>,
    /// On `online` (an extension, like `client_id`): the last `seq` the client has of this
    /// chat. The server then sends every stored message after it, then live ones, each with
    /// its `seq`. `None` if missing, negative or not an integer.
    pub after: Option<i64>,
    /// On `online` (an extension): `"ext": 1` opts this connection into the extension frames
    /// (typing, read receipts), which CookIM's client would count as messages.
    pub ext: bool,
    /// The message an extension up message is about (`read`: the last one read). `None` if
    /// missing, negative or not an integer.
    pub seq: Option<i64>,
    /// On `text` (an extension): the `seq` of the message this one answers. `None` if
    /// missing, not positive or not an integer.
    pub reply_to: Option<i64>,
}

impl std::fmt::Debug for ChatUp {
    // Tokens and message text never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatUp")
            .field("kind", &self.kind)
            .field("content_len", &self.content.len())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ChatUp {
    /// Parses a text frame into its typed fields without building a JSON tree. As CookIM
    /// does, missing or non-string fields read as `""`; unknown fields are skipped.
    ///
    /// # Errors
    /// [`crate::Error::Json`] if the frame is not a JSON object (nesting deeper than
    /// serde_json's recursion limit counts as malformed).
    pub fn from_text(text: &str) -> Result<ChatUp> {
        let raw: RawChatUp = parse_object(text)?;
        let kind = match raw.msg_type.as_str() {
            "online" => UpKind::Online,
            "text" => UpKind::Text,
            "typing" => UpKind::Typing,
            "read" => UpKind::Read,
            other => UpKind::Other(other.chars().take(MAX_KIND_SHOWN).collect()),
        };
        Ok(ChatUp {
            user_token: raw.user_token,
            session_token: raw.session_token,
            kind,
            content: raw.content,
            client_id: raw.client_id,
            after: raw.after.filter(|after| *after >= 0),
            ext: raw.ext,
            seq: raw.seq.filter(|seq| *seq >= 0),
            reply_to: raw.reply_to.filter(|seq| *seq > 0),
        })
    }
}

/// Characters of an unknown `msgType` kept for the refusal that names it.
const MAX_KIND_SHOWN: usize = 32;

/// The wire shape of an up message, decoded leniently field by field.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawChatUp {
    #[serde(rename = "userToken", deserialize_with = "lenient::string")]
    user_token: String,
    #[serde(rename = "sessionToken", deserialize_with = "lenient::string")]
    session_token: String,
    #[serde(rename = "msgType", deserialize_with = "lenient::string")]
    msg_type: String,
    #[serde(deserialize_with = "lenient::string")]
    content: String,
    #[serde(rename = "clientId", deserialize_with = "lenient::opt_string")]
    client_id: Option<String>,
    #[serde(deserialize_with = "lenient::opt_int")]
    after: Option<i64>,
    #[serde(deserialize_with = "lenient::flag")]
    ext: bool,
    #[serde(deserialize_with = "lenient::opt_int")]
    seq: Option<i64>,
    #[serde(rename = "replyTo", deserialize_with = "lenient::opt_int")]
    reply_to: Option<i64>,
}

/// Decodes `text` into `T` if it is a JSON object (not an array, which serde would also map
/// onto a struct's fields by position).
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    if !text.trim_start().starts_with('{') {
        return Err(crate::Error::Json(serde::de::Error::custom(
            "expected a JSON object",
        )));
    }
    Ok(serde_json::from_str(text)?)
}

/// The kind of a message: the `msgType` of a down frame on either websocket, of a stored
/// message (the store keeps it as its wire string) and of an event one node forwards to
/// another. The one home of message kinds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// D1: someone went online in the session.
    Online,
    /// D2: a connection to the session closed.
    Offline,
    /// D3: a text message.
    Text,
    /// D4: an upload.
    File,
    /// D5: someone joined.
    Join,
    /// D6: someone left.
    Leave,
    /// D7 / P2: this connection's message was refused.
    Reject,
    /// D8 / P3: nothing was sent for a while.
    Keepalive,
    /// P1: a push subscription was accepted.
    Accept,
    /// Extension (to `ext` connections only): someone is composing. Live, never stored.
    Typing,
    /// Extension (to `ext` connections only): someone's read mark moved. Live, never stored.
    Read,
    /// A stored type this server does not produce (from an old CookIM database).
    Other(String),
}

impl ChatKind {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ChatKind::Online => "online",
            ChatKind::Offline => "offline",
            ChatKind::Text => "text",
            ChatKind::File => "file",
            ChatKind::Join => "join",
            ChatKind::Leave => "leave",
            ChatKind::Reject => "reject",
            ChatKind::Keepalive => "keepalive",
            ChatKind::Accept => "accept",
            ChatKind::Typing => "typing",
            ChatKind::Read => "read",
            ChatKind::Other(s) => s,
        }
    }

    /// Decodes a wire or stored string.
    pub fn from_wire(text: &str) -> ChatKind {
        match text {
            "online" => ChatKind::Online,
            "offline" => ChatKind::Offline,
            "text" => ChatKind::Text,
            "file" => ChatKind::File,
            "join" => ChatKind::Join,
            "leave" => ChatKind::Leave,
            "reject" => ChatKind::Reject,
            "keepalive" => ChatKind::Keepalive,
            "accept" => ChatKind::Accept,
            "typing" => ChatKind::Typing,
            "read" => ChatKind::Read,
            other => ChatKind::Other(other.to_owned()),
        }
    }

    /// Whether it is an event of a chat (stored, or online/offline), as stores keep and
    /// nodes forward them; a reject, keepalive or accept concerns one connection only.
    pub fn is_event(&self) -> bool {
        !matches!(
            self,
            ChatKind::Reject | ChatKind::Keepalive | ChatKind::Accept
        )
    }

    /// Whether only connections that asked for extension frames (`ext`) get it.
    pub fn is_extension(&self) -> bool {
        matches!(self, ChatKind::Typing | ChatKind::Read)
    }

    /// Whether the event is persisted and counted as unread (§10.2).
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            ChatKind::Text | ChatKind::File | ChatKind::Join | ChatKind::Leave
        )
    }
}

impl Serialize for ChatKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChatKind {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<ChatKind, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ChatKind::from_wire(&text))
    }
}

/// Who an event is about: the sender, or the user who came online, joined or left.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sender {
    /// User id (`""` for reject and keepalive).
    pub uid: String,
    /// Display name.
    pub nickname: String,
    /// Avatar file id.
    pub avatar: String,
}

/// The file fields of an upload event (all `""` otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileFields {
    /// Original name (`""` for voice).
    #[serde(rename = "fileName")]
    pub file_name: String,
    /// Declared type.
    #[serde(rename = "fileType")]
    pub file_type: String,
    /// The stored original.
    pub fileid: String,
    /// The thumbnail, `""` unless an image.
    pub thumbid: String,
}

/// A down frame on `/ws-chat` (§8.5): exactly ten string fields, in the spec's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatDown {
    /// Sender identity.
    #[serde(flatten)]
    pub sender: Sender,
    /// Kind.
    #[serde(rename = "msgType")]
    pub msg_type: ChatKind,
    /// Text, or the system text of online/offline/join/leave/reject.
    pub content: String,
    /// Upload fields.
    #[serde(flatten)]
    pub file: FileFields,
    /// `timestr` of the event.
    pub dateline: String,
}

impl ChatDown {
    /// D7: this connection's last message was refused.
    pub fn reject(content: impl Into<String>, dateline: String) -> ChatDown {
        ChatDown::system(ChatKind::Reject, content.into(), dateline)
    }

    /// D8: sent after 50 s without any other down message.
    pub fn keepalive(dateline: String) -> ChatDown {
        ChatDown::system(ChatKind::Keepalive, String::new(), dateline)
    }

    fn system(msg_type: ChatKind, content: String, dateline: String) -> ChatDown {
        ChatDown {
            sender: Sender::default(),
            msg_type,
            content,
            file: FileFields::default(),
            dateline,
        }
    }

    /// The JSON text of the frame.
    pub fn to_text(&self) -> String {
        // Serializing plain strings into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The JSON text with the resume extension: the ten fields, then `seq` (the message's
    /// number in its chat), for a message its sender gave one `clientId`, and for a reply
    /// `replyTo` and `replyPreview`. Sent only to clients that asked for it (`after` on
    /// `online`, `withSeq` on `listMessages`).
    pub fn to_text_with_seq(
        &self,
        seq: i64,
        client_id: Option<&str>,
        reply: Option<&Reply>,
    ) -> String {
        let sequenced = Sequenced {
            down: self,
            seq,
            client_id,
            reply_to: reply.map(|r| r.to),
            reply_preview: reply.map(|r| &r.preview),
        };
        serde_json::to_string(&sequenced).unwrap_or_default()
    }
}

/// A stored message's frame with its `seq` (and `clientId`), after CookIM's ten fields.
#[derive(Debug, Serialize)]
pub struct Sequenced<'a> {
    /// The frame.
    #[serde(flatten)]
    pub down: &'a ChatDown,
    /// The message's number in its chat.
    pub seq: i64,
    /// The sender's own id for it, if it gave one.
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    /// For a reply: the `seq` of the message it answers.
    #[serde(rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// For a reply: a glimpse of the message it answers.
    #[serde(rename = "replyPreview", skip_serializing_if = "Option::is_none")]
    pub reply_preview: Option<&'a ReplyPreview>,
}

/// What a reply answers: its `seq` and a preview of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The answered message's `seq`.
    pub to: i64,
    /// How it shows in the reply.
    pub preview: ReplyPreview,
}

/// A glimpse of the message a reply answers: its sender and the start of its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyPreview {
    /// Its sender.
    pub uid: String,
    /// Their nickname.
    pub nickname: String,
    /// The first [`PREVIEW_CHARS`] characters of its text (`…` if cut), or a file's name.
    pub content: String,
}

/// Characters of a replied-to text shown in a preview.
pub const PREVIEW_CHARS: usize = 100;

impl ReplyPreview {
    /// The preview of a message of `kind` with this `content` (a text) or `file_name` (a
    /// file), sent by `uid` known as `nickname`.
    pub fn of(
        uid: &str,
        nickname: &str,
        kind: &ChatKind,
        content: &str,
        file_name: &str,
    ) -> ReplyPreview {
        let text = if *kind == ChatKind::File {
            if file_name.is_empty() {
                "(voice message)"
            } else {
                file_name
            }
        } else {
            content
        };
        let mut shown: String = text.chars().take(PREVIEW_CHARS).collect();
        if text.chars().nth(PREVIEW_CHARS).is_some() {
            shown.push('…');
        }
        ReplyPreview {
            uid: uid.to_owned(),
            nickname: nickname.to_owned(),
            content: shown,
        }
    }
}

/// Extension D-typing, to `ext` connections: `{"msgType":"typing","uid","nickname","dateline"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypingDown<'a> {
    /// Always [`ChatKind::Typing`].
    #[serde(rename = "msgType")]
    pub msg_type: ChatKind,
    /// Who is composing.
    pub uid: &'a str,
    /// Their nickname.
    pub nickname: &'a str,
    /// When the server heard it (`timestr`).
    pub dateline: &'a str,
}

/// Extension D-read, to `ext` connections: `{"msgType":"read","uid","seq"}`: `uid` has read
/// the chat up to `seq`. On `/ws-push` it also names the chat (`sessionid`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadDown<'a> {
    /// Always [`ChatKind::Read`].
    #[serde(rename = "msgType")]
    pub msg_type: ChatKind,
    /// The chat, on `/ws-push` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessionid: Option<&'a str>,
    /// Whose mark.
    pub uid: &'a str,
    /// The last `seq` read.
    pub seq: i64,
}

/// The JSON text of an extension frame (plain strings and numbers: serializing cannot fail).
pub fn ext_text<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

/// The content of D1: `User <nickname> online session`.
pub fn online_text(nickname: &str) -> String {
    format!("User {nickname} online session")
}

/// The content of D2: `User <nickname> offline session`.
pub fn offline_text(nickname: &str) -> String {
    format!("User {nickname} offline session")
}

/// The content of D5: `<nickname> join session <sessionName>`.
pub fn join_text(nickname: &str, session_name: &str) -> String {
    format!("{nickname} join session {session_name}")
}

/// The content of D6: `<nickname> leave session <sessionName>`.
pub fn leave_text(nickname: &str, session_name: &str) -> String {
    format!("{nickname} leave session {session_name}")
}

/// The content of D7.
pub const REJECT_TEXT: &str = "no privilege to send message";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_fields() -> Result<()> {
        let up = ChatUp::from_text(r#"{"msgType":"online","userToken":5}"#)?;
        assert_eq!(up.kind, UpKind::Online);
        assert_eq!(up.user_token, "");
        assert_eq!(up.session_token, "");
        let up = ChatUp::from_text(r#"{"msgType":"join","content":"x"}"#)?;
        assert_eq!(up.kind, UpKind::Other("join".into()));
        assert_eq!(up.client_id, None);
        let up = ChatUp::from_text(r#"{"msgType":"text","content":"hi","clientId":"c-1"}"#)?;
        assert_eq!(up.client_id.as_deref(), Some("c-1"));
        let up = ChatUp::from_text(r#"{"msgType":"text","clientId":7}"#)?;
        assert_eq!(up.client_id, None);
        for (after, want) in [
            ("12", Some(12)),
            ("\"7\"", Some(7)),
            ("-1", None),
            ("1.5", None),
            ("null", None),
        ] {
            let up = ChatUp::from_text(&format!(r#"{{"msgType":"online","after":{after}}}"#))?;
            assert_eq!(up.after, want, "{after}");
        }
        let down = ChatDown::reject("x", "t".into());
        let text = down.to_text_with_seq(5, Some("c-1"), None);
        assert!(
            text.starts_with(&down.to_text()[..down.to_text().len() - 1]),
            "{text}"
        );
        assert!(text.ends_with(r#","seq":5,"clientId":"c-1"}"#), "{text}");
        assert!(
            down.to_text_with_seq(5, None, None)
                .ends_with(r#","seq":5}"#)
        );
        let reply = Reply {
            to: 3,
            preview: ReplyPreview::of("u1", "ann", &ChatKind::Text, &"x".repeat(150), ""),
        };
        let text = down.to_text_with_seq(5, None, Some(&reply));
        let want = format!(
            r#","seq":5,"replyTo":3,"replyPreview":{{"uid":"u1","nickname":"ann","content":"{}…"}}}}"#,
            "x".repeat(PREVIEW_CHARS)
        );
        assert!(text.ends_with(&want), "{text}");
        let up = ChatUp::from_text(r#"{"msgType":"text","replyTo":4}"#)?;
        assert_eq!(up.reply_to, Some(4));
        let up = ChatUp::from_text(r#"{"msgType":"text","replyTo":0}"#)?;
        assert_eq!(up.reply_to, None);
        assert_eq!(
            ReplyPreview::of("u", "n", &ChatKind::File, "", "cat.png").content,
            "cat.png"
        );
        let up = ChatUp::from_text(r#"{"msgType":"online","ext":1}"#)?;
        assert!(up.ext);
        for ext in ["true", "\"1\"", "0", "2", "null", "[1]"] {
            let up = ChatUp::from_text(&format!(r#"{{"msgType":"online","ext":{ext}}}"#))?;
            assert_eq!(up.ext, matches!(ext, "true" | "\"1\""), "{ext}");
        }
        let up = ChatUp::from_text(r#"{"msgType":"read","seq":9}"#)?;
        assert_eq!((up.kind, up.seq), (UpKind::Read, Some(9)));
        let up = ChatUp::from_text(r#"{"msgType":"typing","seq":-3}"#)?;
        assert_eq!((up.kind, up.seq), (UpKind::Typing, None));
        let read = ReadDown {
            msg_type: ChatKind::Read,
            sessionid: None,
            uid: "u1",
            seq: 4,
        };
        assert_eq!(ext_text(&read), r#"{"msgType":"read","uid":"u1","seq":4}"#);
        let typing = TypingDown {
            msg_type: ChatKind::Typing,
            uid: "u1",
            nickname: "ann",
            dateline: "t",
        };
        assert_eq!(
            ext_text(&typing),
            r#"{"msgType":"typing","uid":"u1","nickname":"ann","dateline":"t"}"#
        );
        assert!(ChatUp::from_text("not json").is_err());
        assert!(ChatUp::from_text("[1,2]").is_err());
        Ok(())
    }

    #[test]
    fn debug_hides_secrets() -> Result<()> {
        let up = ChatUp::from_text(
            r#"{"userToken":"SECRET","msgType":"text","content":"private words"}"#,
        )?;
        let shown = format!("{up:?}");
        assert!(!shown.contains("SECRET") && !shown.contains("private words"));
        Ok(())
    }
}
