//! The data model of ../shared/cookim-api.md §11, as typed Rust. Times are epoch milliseconds
//! given by the caller; the store reads no clock.

use protocol::chat::ChatKind;
use protocol::ids::{FileId, LoginId, MessageId, NotificationId, SessionId, UserId};
pub use protocol::time::Millis;
use serde::{Deserialize, Serialize};

/// A user's gender as CookIM stores it (int 1 boy, 2 girl, 0 unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Gender {
    /// 0: never stored by registration, accepted from old data.
    Unknown,
    /// 1.
    Boy,
    /// 2.
    Girl,
}

impl Gender {
    /// The stored and wire integer.
    pub fn as_i32(self) -> i32 {
        match self {
            Gender::Unknown => 0,
            Gender::Boy => 1,
            Gender::Girl => 2,
        }
    }

    /// Decodes the stored integer; anything but 1 and 2 is `Unknown`.
    pub fn from_i32(value: i32) -> Gender {
        match value {
            1 => Gender::Boy,
            2 => Gender::Girl,
            _ => Gender::Unknown,
        }
    }

    /// `getFriends` spells gender as a word.
    pub fn as_word(self) -> &'static str {
        match self {
            Gender::Unknown => "unknown",
            Gender::Boy => "boy",
            Gender::Girl => "girl",
        }
    }
}

/// A registered user (`users` collection).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// `_id`.
    pub id: UserId,
    /// Email used to log in; unique, exact match.
    pub login: String,
    /// Display name, not unique.
    pub nickname: String,
    /// PHC string of an argon2id hash (or a legacy 40-hex SHA-1 from a CookIM database).
    pub password_hash: String,
    /// Gender.
    pub gender: Gender,
    /// Avatar file.
    pub avatar: FileId,
    /// Last token issue, 0 before the first.
    pub last_login: Millis,
    /// Registrations plus logins.
    pub login_count: i32,
    /// Registration time.
    pub dateline: Millis,
    /// Bumped on logout and password change; tokens minted with an older value are refused.
    pub token_generation: u32,
    /// Whether this user keeps their read receipts to themselves (others see none of their
    /// read marks; they still see others'). Missing in older dumps: `false`.
    #[serde(default)]
    pub hide_receipts: bool,
}

impl std::fmt::Debug for User {
    // Hand-written so the password hash never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("nickname", &self.nickname)
            .finish_non_exhaustive()
    }
}

/// What registration inserts.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Fresh id.
    pub id: UserId,
    /// Email.
    pub login: String,
    /// Display name.
    pub nickname: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Gender.
    pub gender: Gender,
    /// Default avatar for the gender.
    pub avatar: FileId,
    /// Registration time.
    pub dateline: Millis,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A profile change (`updateUser`); `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// New nickname.
    pub nickname: Option<String>,
    /// New gender.
    pub gender: Option<Gender>,
    /// New avatar.
    pub avatar: Option<FileId>,
    /// Hide (or show again) one's read receipts.
    pub hide_receipts: Option<bool>,
}

/// Group (1) or private (0) chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionType {
    /// 0: exactly two users.
    Private,
    /// 1: a named group with an icon.
    Group,
}

impl SessionType {
    /// The stored and wire integer.
    pub fn as_i32(self) -> i32 {
        match self {
            SessionType::Private => 0,
            SessionType::Group => 1,
        }
    }
}

/// A chat session (`sessions` collection), without its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `_id`.
    pub id: SessionId,
    /// Creator (private: the initiator).
    pub createuid: UserId,
    /// Private: the other user at creation; group: `None` (`""` on the wire).
    pub ouid: Option<UserId>,
    /// Group name; `""` for private chats.
    pub name: String,
    /// Group icon; `None` for private chats.
    pub icon: Option<FileId>,
    /// Group or private.
    pub session_type: SessionType,
    /// Listed in everyone's public list.
    pub public: bool,
    /// Last persisted message.
    pub last_msgid: Option<MessageId>,
    /// Time of the last message (creation time initially).
    pub last_update: Millis,
    /// Creation time.
    pub dateline: Millis,
}

/// What `createGroupSession`, `inviteFriends` and `getPrivateSession` insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Fresh id.
    pub id: SessionId,
    /// Creator.
    pub createuid: UserId,
    /// Private: the invited user.
    pub ouid: Option<UserId>,
    /// Group name (`""` for private).
    pub name: String,
    /// Group icon.
    pub icon: Option<FileId>,
    /// Group or private.
    pub session_type: SessionType,
    /// Public listing.
    pub public: bool,
    /// Creation time.
    pub dateline: Millis,
}

/// A group's editable settings (`editGroupSession`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUpdate {
    /// New name.
    pub name: String,
    /// New icon, or `None` to keep the current one.
    pub icon: Option<FileId>,
    /// Public listing.
    pub public: bool,
}

/// One member of a session with their read mark and unread count, in join order.
///
/// The read mark is what is stored; the unread count follows from it: the session's last
/// `seq` minus the mark, so one message costs one write however many members a chat has, and
/// counts and read receipts never disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member.
    pub uid: UserId,
    /// Unread messages for this member in this session (the last `seq` minus `read_seq`).
    pub new_count: i32,
    /// The last `seq` this member has read (only moves forward). A dump from before read
    /// marks has none; importing derives it from `new_count`, as every import does.
    #[serde(default)]
    pub read_seq: i64,
}

/// A search of the messages one user can read (see [`crate::Store::search`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// Whose chats are searched (those they are a member of).
    pub uid: UserId,
    /// Only this chat (still only if a member).
    pub session: Option<SessionId>,
    /// The query's terms (`protocol::search::query_terms`): each must begin a term of the
    /// message. No terms find nothing.
    pub terms: Vec<String>,
    /// Only messages older than this one (the last of the previous page).
    pub before: Option<SearchCursor>,
    /// At most this many.
    pub limit: u32,
}

/// Where a page of search results ended: the last message's time and id (results are newest
/// first, ties by id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchCursor {
    /// Its `dateline`.
    pub dateline: Millis,
    /// Its id.
    pub id: MessageId,
}

/// A session as one viewer's chat list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionListing {
    /// The session.
    pub session: Session,
    /// The viewer's unread count (0 in the public list).
    pub new_count: i32,
    /// The last persisted message, if any.
    pub last_message: Option<Message>,
}

/// A persisted message (`messages` collection) plus its per-session sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// `_id`.
    pub id: MessageId,
    /// The session.
    pub session_id: SessionId,
    /// Position in the session, from 1, gap-free, in stored order: used for paging, resume,
    /// dedup and cross-node ordering.
    pub seq: i64,
    /// Sender.
    pub uid: UserId,
    /// `text`, `file`, `join`, `leave` (or what an old CookIM database holds), kept as its
    /// wire string.
    pub msg_type: ChatKind,
    /// Text; `""` for files.
    pub content: String,
    /// Files only.
    pub file_name: String,
    /// Files only.
    pub file_type: String,
    /// Files only: the original.
    pub fileid: Option<FileId>,
    /// Images only: the thumbnail.
    pub thumbid: Option<FileId>,
    /// Acceptance time.
    pub dateline: Millis,
    /// The sender's own id for this message, if it gave one (idempotent retries).
    pub client_id: Option<String>,
    /// The `seq` of the message this one answers (a reply), if any.
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// A message to persist. The store assigns `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// Fresh id.
    pub id: MessageId,
    /// The session.
    pub session_id: SessionId,
    /// Sender.
    pub uid: UserId,
    /// Kind.
    pub msg_type: ChatKind,
    /// Text.
    pub content: String,
    /// Files only.
    pub file_name: String,
    /// Files only.
    pub file_type: String,
    /// Files only.
    pub fileid: Option<FileId>,
    /// Images only.
    pub thumbid: Option<FileId>,
    /// Acceptance time.
    pub dateline: Millis,
    /// Sender-chosen id: a second append with the same (session, sender, client id) returns
    /// the first message instead of storing another.
    pub client_id: Option<String>,
    /// The `seq` of the message this one answers (a reply); the caller checked it exists.
    pub reply_to: Option<i64>,
}

/// The three kinds of notification (`noticeType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeType {
    /// "X join you as friend".
    JoinFriend,
    /// "X remove you from friend".
    RemoveFriend,
    /// "X invite you in `<chat>`".
    InviteSession,
}

impl NoticeType {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeType::JoinFriend => "joinFriend",
            NoticeType::RemoveFriend => "removeFriend",
            NoticeType::InviteSession => "inviteSession",
        }
    }

    /// Decodes the stored string; unknown values read as invitations, as CookIM renders them.
    pub fn from_stored(text: &str) -> NoticeType {
        match text {
            "joinFriend" => NoticeType::JoinFriend,
            "removeFriend" => NoticeType::RemoveFriend,
            _ => NoticeType::InviteSession,
        }
    }
}

/// A notification (`notifications` collection).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `_id`.
    pub id: NotificationId,
    /// Kind.
    pub notice_type: NoticeType,
    /// Who did it.
    pub senduid: UserId,
    /// Who is told.
    pub recvuid: UserId,
    /// Invitations only.
    pub session_id: Option<SessionId>,
    /// Read before the call that returned it.
    pub is_read: bool,
    /// Creation time.
    pub dateline: Millis,
}

/// Which default avatar a file is (CookIM seeds three at start-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AvatarKind {
    /// `boy.jpg`.
    Boy,
    /// `girl.jpg`.
    Girl,
    /// `unknown.jpg`.
    Unknown,
}

impl AvatarKind {
    /// The metadata value CookIM stores (`{avatar: "boy"}`).
    pub fn as_str(self) -> &'static str {
        match self {
            AvatarKind::Boy => "boy",
            AvatarKind::Girl => "girl",
            AvatarKind::Unknown => "unknown",
        }
    }

    /// The default avatar for a gender.
    pub fn for_gender(gender: Gender) -> AvatarKind {
        match gender {
            Gender::Boy => AvatarKind::Boy,
            Gender::Girl => AvatarKind::Girl,
            Gender::Unknown => AvatarKind::Unknown,
        }
    }
}

/// Who a stored file belongs to (GridFS `metadata`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileOwner {
    /// Uploaded by a user.
    User(UserId),
    /// One of the default avatars.
    DefaultAvatar(AvatarKind),
}

/// A stored file's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    /// Id.
    pub id: FileId,
    /// Original file name (may be `""`).
    pub file_name: String,
    /// Declared content type (may be `""`).
    pub file_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Owner.
    pub owner: FileOwner,
    /// Upload time.
    pub dateline: Millis,
}

/// A file to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Fresh id (128 random bits).
    pub id: FileId,
    /// Original name.
    pub file_name: String,
    /// Declared type.
    pub file_type: String,
    /// Owner.
    pub owner: FileOwner,
    /// Upload time.
    pub dateline: Millis,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for NewFile {
    // Never dump file bytes into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewFile")
            .field("id", &self.id)
            .field("file_type", &self.file_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A join or leave event to persist together with the membership change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    /// Fresh id for the `join`/`leave` message.
    pub message_id: MessageId,
    /// The session.
    pub session_id: SessionId,
    /// Who joins or leaves.
    pub uid: UserId,
    /// `<nickname> join session <name>` or `... leave session ...`.
    pub content: String,
    /// Event time.
    pub dateline: Millis,
}

/// At most this many logins are listed by [`Store::logins`](crate::Store::logins): more than
/// any person has devices, so a user with more (a script signing in in a loop) sees the most
/// recently active ones and the list stays one small page.
pub const LOGINS_LISTED: usize = 200;

/// At most this many ended logins are returned by one
/// [`Store::ended_logins_since`](crate::Store::ended_logins_since) call: nodes poll it twice a
/// second, so even a mass sign-out (ending every login of many users at once) drains in a few
/// polls while one answer stays a bounded size (about 1 MB).
pub const ENDED_LOGINS_LISTED: usize = 10_000;

/// A login: one device's signed-in session.
///
/// Its id is named in the user's tokens; ending it revokes them on every node, which learns
/// of it through [`Store::ended_logins_since`](crate::Store::ended_logins_since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The id tokens carry.
    pub id: LoginId,
    /// Whose login it is.
    pub uid: UserId,
    /// What the device called itself when it signed in (a user agent, say), for the user's
    /// list of signed-in devices.
    pub device: String,
    /// Sign-in time.
    pub created: Millis,
    /// Last time the device was seen using it (never earlier than `created`, never moved
    /// backwards).
    pub last_seen: Millis,
    /// When it was ended (signed out or revoked); `None` while it is in use.
    pub ended: Option<Millis>,
}

/// What a sign-in inserts (see [`Store::create_login`](crate::Store::create_login)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLogin {
    /// Fresh id (128 random bits).
    pub id: LoginId,
    /// Who signed in.
    pub uid: UserId,
    /// What the device called itself.
    pub device: String,
    /// Sign-in time; also the first `last_seen`.
    pub created: Millis,
}

/// Which of a user's logins [`Store::end_logins`](crate::Store::end_logins) ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndLogins {
    /// This one (sign out on this device).
    One(LoginId),
    /// Every one but this (sign out everywhere else, keeping the current device).
    AllBut(LoginId),
    /// Every one (sign out everywhere, a password reset).
    All,
}
