//! How a chat's events look on the wire: `/ws-chat` frames of stored messages, `/ws-push`
//! frames and who gets each, and how a member shows as a sender. Pure functions of their
//! arguments, shared by the session core, its shell and the history routes.

use std::sync::Arc;

use async_tungstenite::tungstenite::Utf8Bytes;
use mesh::envelope::PushTarget;
use protocol::chat::{ChatDown, ChatKind, FileFields, Sender};
use protocol::ids::{FileId, SessionId, UserId};
use protocol::push::{PushDown, PushSession};
use store::model::{Message, Session, SessionType, User};

use crate::auth::UserIdentity;

/// A member as events show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberView {
    /// The member.
    pub(crate) uid: UserId,
    /// Their nickname when the members were read.
    pub(crate) nickname: String,
    /// Their avatar's file id, as text.
    pub(crate) avatar: String,
}

impl MemberView {
    /// A member whose user record is gone: the id alone.
    pub(crate) fn unknown(uid: UserId) -> MemberView {
        MemberView {
            uid,
            nickname: String::new(),
            avatar: String::new(),
        }
    }

    /// How this member shows as the sender of an event.
    pub(crate) fn sender(&self) -> Sender {
        Sender {
            uid: self.uid.to_string(),
            nickname: self.nickname.clone(),
            avatar: self.avatar.clone(),
        }
    }
}

impl From<&User> for MemberView {
    fn from(user: &User) -> Self {
        MemberView {
            uid: user.id.clone(),
            nickname: user.nickname.clone(),
            avatar: user.avatar.to_string(),
        }
    }
}

/// How the holder of a token shows as a sender.
pub(crate) fn sender_of(who: &UserIdentity) -> Sender {
    Sender {
        uid: who.uid.to_string(),
        nickname: who.nickname.clone(),
        avatar: who.avatar.to_string(),
    }
}

/// The `/ws-chat` frame of a stored message, as its sender (`sender`) and `dateline` show.
pub(crate) fn message_down(stored: &Message, sender: Sender, dateline: String) -> ChatDown {
    let id = |f: &Option<FileId>| f.as_ref().map(ToString::to_string).unwrap_or_default();
    ChatDown {
        sender,
        msg_type: stored.msg_type.clone(),
        content: stored.content.clone(),
        file: FileFields {
            file_name: stored.file_name.clone(),
            file_type: stored.file_type.clone(),
            fileid: id(&stored.fileid),
            thumbid: id(&stored.thumbid),
        },
        dateline,
    }
}

/// Every member with the session's name and icon as that member sees it (a private chat
/// shows the other member).
pub(crate) fn push_targets(session: &Session, members: &[MemberView]) -> Vec<PushTarget> {
    match session.session_type {
        SessionType::Group => {
            let icon = session
                .icon
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            members
                .iter()
                .map(|m| PushTarget {
                    uid: m.uid.clone(),
                    session_name: session.name.clone(),
                    session_icon: icon.clone(),
                })
                .collect()
        }
        SessionType::Private => members
            .iter()
            .map(|viewer| {
                let other = members.iter().find(|m| m.uid != viewer.uid);
                let (name, icon) = other
                    .map(|o| (o.nickname.clone(), o.avatar.clone()))
                    .unwrap_or_default();
                PushTarget {
                    uid: viewer.uid.clone(),
                    session_name: name,
                    session_icon: icon,
                }
            })
            .collect(),
    }
}

/// The `/ws-push` frames of an event and who gets each: one frame for everyone when every
/// target sees the session alike (a group: `uids` share it), else one per target (a private
/// chat shows each member the other).
pub(crate) fn push_frames(
    sid: &SessionId,
    down: &ChatDown,
    targets: &[PushTarget],
    uids: &Arc<[UserId]>,
) -> Vec<(Arc<[UserId]>, Utf8Bytes)> {
    let file_info =
        (down.msg_type == ChatKind::File).then(|| PushDown::file_info_for(&down.file.thumbid));
    let frame_for = |target: &PushTarget| {
        let push = PushDown {
            sender: down.sender.clone(),
            session: PushSession {
                sessionid: sid.to_string(),
                session_name: target.session_name.clone(),
                session_icon: target.session_icon.clone(),
            },
            msg_type: down.msg_type.clone(),
            content: down.content.clone(),
            file: down.file.clone(),
            dateline: down.dateline.clone(),
            file_info: file_info.clone(),
        };
        Utf8Bytes::from(push.to_text())
    };
    let Some(first) = targets.first() else {
        return Vec::new();
    };
    let alike = targets
        .iter()
        .all(|t| t.session_name == first.session_name && t.session_icon == first.session_icon);
    if alike {
        return vec![(uids.clone(), frame_for(first))];
    }
    targets
        .iter()
        .map(|target| (Arc::from([target.uid.clone()]), frame_for(target)))
        .collect()
}
