//! What one node sends another about a chat: a stored message or a live event, addressed to
//! one chat's `/ws-chat` subscribers and to some members' `/ws-push` channels. Files travel by
//! id, never as bytes.
//!
//! An envelope carries exactly what the receiving node needs to rebuild the frames the origin
//! delivered locally: [`Envelope::chat_down`] gives the `/ws-chat` frame (§8.5) and
//! [`Envelope::push_down`] the `/ws-push` frame (§9.3) for one recipient, with the session name
//! and icon the origin resolved for that recipient. The `dateline` text is produced once, at
//! the origin, so every node shows the same time.
//!
//! The wire form is one version byte followed by the postcard encoding, so a node refuses an
//! envelope from a newer (or older) peer instead of misreading it.

use protocol::chat::{ChatDown, ChatKind, FileFields, Reply, Sender};
use protocol::ids::{SessionId, UserId};
use protocol::push::{PushDown, PushSession};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::subscriptions::Topic;

/// The envelope format this node writes and reads. Version 2 added the sender, resolved push
/// targets and the origin's `timestr`; version 3 carries the kind as its wire string
/// (`protocol`'s [`ChatKind`], the one home of message kinds); version 4 added [`Envelope::mark`]
/// for read receipts and [`Envelope::reply`]. Other versions are refused.
pub const VERSION: u8 = 4;

/// Largest encoded envelope accepted (a text message is capped far below this).
pub const MAX_ENVELOPE: usize = 256 * 1024;

/// One `/ws-push` recipient of an event, with the session as that recipient sees it (a private
/// chat shows the *other* member's nickname and avatar).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTarget {
    /// The member whose push channels get the event.
    pub uid: UserId,
    /// Session name resolved for this member.
    pub session_name: String,
    /// Session icon resolved for this member.
    pub session_icon: String,
}

/// One chat event as it crosses the mesh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The chat.
    pub session_id: SessionId,
    /// The message's per-chat sequence number from the store, for stored events: receivers
    /// deliver in this order and drop what they delivered already (the web crate's
    /// per-chat session core does that).
    /// 0 for live-only events (online, offline), which are delivered as they come.
    pub seq: i64,
    /// What happened: an event kind ([`ChatKind::is_event`]).
    pub kind: ChatKind,
    /// Sender id (`""` if unknown, as the origin's frame had it).
    pub uid: String,
    /// Sender nickname.
    pub nickname: String,
    /// Sender avatar file id.
    pub avatar: String,
    /// Text, or the system text of online/offline/join/leave.
    pub content: String,
    /// Upload name (`""` unless a file).
    pub file_name: String,
    /// Upload type.
    pub file_type: String,
    /// Upload file id (`""` unless a file): the bytes stay in the store.
    pub fileid: String,
    /// Thumbnail file id (`""` unless an image).
    pub thumbid: String,
    /// The `timestr` produced at the origin.
    pub dateline: String,
    /// For a read receipt ([`ChatKind::Read`]): the last `seq` the sender has read; 0
    /// otherwise.
    pub mark: i64,
    /// For a reply: the message it answers, with its preview.
    pub reply: Option<Reply>,
    /// Whether the chat's `/ws-chat` subscribers get it (every kind does today).
    pub to_chat: bool,
    /// The members whose `/ws-push` channels get it (empty for online/offline). The mesh sends
    /// each node only the targets subscribed there.
    pub push_to: Vec<PushTarget>,
}

impl Envelope {
    /// An envelope for the `/ws-chat` frame `down` of chat `session_id`, to the chat's
    /// subscribers and to `push_to`. `None` for kinds that never cross nodes (a reject, a
    /// keepalive, an accept).
    pub fn from_chat_down(
        session_id: SessionId,
        seq: i64,
        down: &ChatDown,
        push_to: Vec<PushTarget>,
    ) -> Option<Envelope> {
        Some(Envelope {
            session_id,
            seq,
            kind: Some(down.msg_type.clone()).filter(ChatKind::is_event)?,
            uid: down.sender.uid.clone(),
            nickname: down.sender.nickname.clone(),
            avatar: down.sender.avatar.clone(),
            content: down.content.clone(),
            file_name: down.file.file_name.clone(),
            file_type: down.file.file_type.clone(),
            fileid: down.file.fileid.clone(),
            thumbid: down.file.thumbid.clone(),
            dateline: down.dateline.clone(),
            mark: 0,
            reply: None,
            to_chat: true,
            push_to,
        })
    }

    /// A live extension event of chat `session_id` for its `ext` subscribers: `uid` is typing
    /// ([`ChatKind::Typing`], with `nickname` and `dateline`) or has read up to `mark`
    /// ([`ChatKind::Read`]).
    pub fn extension(
        session_id: SessionId,
        kind: ChatKind,
        uid: &UserId,
        nickname: &str,
        dateline: &str,
        mark: i64,
    ) -> Envelope {
        Envelope {
            session_id,
            seq: 0,
            kind,
            uid: uid.to_string(),
            nickname: nickname.to_owned(),
            avatar: String::new(),
            content: String::new(),
            file_name: String::new(),
            file_type: String::new(),
            fileid: String::new(),
            thumbid: String::new(),
            dateline: dateline.to_owned(),
            mark,
            reply: None,
            to_chat: true,
            push_to: Vec::new(),
        }
    }

    /// The `/ws-chat` frame (§8.5) the origin sent its own subscribers.
    pub fn chat_down(&self) -> ChatDown {
        ChatDown {
            sender: self.sender(),
            msg_type: self.kind.clone(),
            content: self.content.clone(),
            file: self.file(),
            dateline: self.dateline.clone(),
        }
    }

    /// The `/ws-push` frame (§9.3) for one recipient.
    pub fn push_down(&self, target: &PushTarget) -> PushDown {
        let msg_type = self.kind.clone();
        let file_info =
            (msg_type == ChatKind::File).then(|| PushDown::file_info_for(&self.thumbid));
        PushDown {
            sender: self.sender(),
            session: PushSession {
                sessionid: self.session_id.to_string(),
                session_name: target.session_name.clone(),
                session_icon: target.session_icon.clone(),
            },
            msg_type,
            content: self.content.clone(),
            file: self.file(),
            dateline: self.dateline.clone(),
            file_info,
        }
    }

    /// Every topic whose subscribers should get this envelope.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + '_ {
        let chat = self.to_chat.then(|| Topic::Chat(self.session_id.clone()));
        chat.into_iter()
            .chain(self.push_to.iter().map(|t| Topic::Push(t.uid.clone())))
    }

    fn sender(&self) -> Sender {
        Sender {
            uid: self.uid.clone(),
            nickname: self.nickname.clone(),
            avatar: self.avatar.clone(),
        }
    }

    fn file(&self) -> FileFields {
        FileFields {
            file_name: self.file_name.clone(),
            file_type: self.file_type.clone(),
            fileid: self.fileid.clone(),
            thumbid: self.thumbid.clone(),
        }
    }
}

impl std::fmt::Display for Envelope {
    /// Names the event without its text or file names (for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} in {} seq {}", self.kind, self.session_id, self.seq)
    }
}

/// Encodes an envelope: version byte, then postcard.
///
/// # Errors
/// [`Error::Malformed`] if postcard cannot encode it (it always can for these fields);
/// [`Error::Size`] if the result exceeds [`MAX_ENVELOPE`].
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>> {
    let mut out = vec![VERSION];
    let body = postcard::to_stdvec(envelope).map_err(|e| Error::Malformed(e.to_string()))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_ENVELOPE {
        return Err(Error::Size {
            size: out.len(),
            limit: MAX_ENVELOPE,
        });
    }
    Ok(out)
}

/// Decodes an envelope, checking size and version first.
///
/// # Errors
/// [`Error::Size`], [`Error::Version`] or [`Error::Malformed`].
pub fn decode(bytes: &[u8]) -> Result<Envelope> {
    if bytes.is_empty() || bytes.len() > MAX_ENVELOPE {
        return Err(Error::Size {
            size: bytes.len(),
            limit: MAX_ENVELOPE,
        });
    }
    let (version, body) = bytes.split_at(1);
    if version != [VERSION] {
        return Err(Error::Version(version.first().copied().unwrap_or_default()));
    }
    let (envelope, rest) =
        postcard::take_from_bytes(body).map_err(|e| Error::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use protocol::chat::ReplyPreview;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn uid(n: u8) -> UserId {
        UserId::from_random([n; 12])
    }

    pub(crate) fn sample(content: String, seq: i64) -> Envelope {
        Envelope {
            session_id: SessionId::from_random([1; 12]),
            seq,
            kind: ChatKind::Text,
            uid: uid(2).to_string(),
            nickname: "alice".into(),
            avatar: "f".repeat(24),
            content,
            file_name: String::new(),
            file_type: String::new(),
            fileid: String::new(),
            thumbid: String::new(),
            dateline: "2026-11-25 18:00:00".into(),
            mark: 0,
            reply: Some(Reply {
                to: 1,
                preview: ReplyPreview {
                    uid: uid(2).to_string(),
                    nickname: "alice".into(),
                    content: "earlier".into(),
                },
            }),
            to_chat: true,
            push_to: vec![PushTarget {
                uid: uid(3),
                session_name: "alice".into(),
                session_icon: "e".repeat(24),
            }],
        }
    }

    #[test]
    fn refuses_other_versions_and_sizes() -> TestResult {
        let mut bytes = encode(&sample("hi".into(), 1))?;
        assert!(decode(&bytes).is_ok());
        bytes[0] = 2;
        assert!(matches!(decode(&bytes), Err(Error::Version(2))));
        bytes[0] = 3;
        assert!(matches!(decode(&bytes), Err(Error::Version(3))));
        bytes[0] = 5;
        assert!(matches!(decode(&bytes), Err(Error::Version(5))));
        assert!(matches!(decode(&[]), Err(Error::Size { .. })));
        assert!(matches!(
            decode(&vec![VERSION; MAX_ENVELOPE + 1]),
            Err(Error::Size { .. })
        ));
        let mut trailing = encode(&sample("hi".into(), 1))?;
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(Error::Malformed(_))));
        assert!(matches!(
            encode(&sample("x".repeat(MAX_ENVELOPE), 1)),
            Err(Error::Size { .. })
        ));
        Ok(())
    }

    #[test]
    fn rebuilds_the_origin_frames() -> TestResult {
        let down = ChatDown {
            sender: Sender {
                uid: uid(2).to_string(),
                nickname: "alice".into(),
                avatar: "a".repeat(24),
            },
            msg_type: ChatKind::File,
            content: String::new(),
            file: FileFields {
                file_name: "cat.png".into(),
                file_type: "image/png".into(),
                fileid: "b".repeat(24),
                thumbid: "c".repeat(24),
            },
            dateline: "2026-11-25 18:00:00".into(),
        };
        let target = PushTarget {
            uid: uid(3),
            session_name: "friends".into(),
            session_icon: "d".repeat(24),
        };
        let sid = SessionId::from_random([1; 12]);
        let env = Envelope::from_chat_down(sid.clone(), 9, &down, vec![target.clone()])
            .ok_or("no envelope")?;
        let env = decode(&encode(&env)?)?;
        assert_eq!(env.chat_down(), down);
        let push = env.push_down(&target);
        assert_eq!(push.session.sessionid, sid.to_string());
        assert_eq!(push.session.session_name, "friends");
        assert_eq!(
            push.file_info.ok_or("no file info")?.file_thumb,
            format!("/api/getFile?id={}", "c".repeat(24))
        );
        let topics: Vec<Topic> = env.topics().collect();
        assert_eq!(topics, vec![Topic::Chat(sid), Topic::Push(uid(3))]);
        let reject = ChatDown {
            msg_type: ChatKind::Reject,
            ..down
        };
        assert!(
            Envelope::from_chat_down(SessionId::from_random([1; 12]), 0, &reject, vec![]).is_none()
        );
        Ok(())
    }

    proptest! {
        #[test]
        fn round_trip(content in ".*", seq in any::<i64>()) {
            let envelope = sample(content, seq);
            prop_assert_eq!(encode(&envelope).and_then(|bytes| decode(&bytes)).ok(), Some(envelope));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }
    }
}
