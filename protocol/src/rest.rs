//! `/api/*` response bodies (§6 of the spec), field for field. Every failure keeps the
//! success shape with empty values and a non-empty `errmsg` (HTTP 200: the stock client only
//! looks at `errmsg`). [`Answer::failure`] builds that shape for any route.

use serde::Serialize;

use crate::chat::ChatDown;

/// A route's response body.
pub trait Answer: Serialize + Default {
    /// The failure shape: every field empty, `errmsg` set.
    fn failure(errmsg: impl Into<String>) -> Self;
}

macro_rules! answers {
    ($($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, Default, PartialEq, Serialize)]
            #[serde(rename_all = "camelCase")]
            pub struct $name {
                /// `""` on success, the reason otherwise.
                pub errmsg: String,
                $($(#[$fdoc])* pub $field: $ty,)*
            }

            impl Answer for $name {
                #[allow(clippy::needless_update, reason = "LeaveAnswer has no field but errmsg")]
                fn failure(errmsg: impl Into<String>) -> Self {
                    $name { errmsg: errmsg.into(), ..Default::default() }
                }
            }
        )*
    };
}

answers! {
    /// `registerUser`, `loginUser`.
    AuthAnswer { #[doc = "Logged-in user."] uid: String, #[doc = "Human message."] successmsg: String, #[doc = "New token."] user_token: String }
    /// `logoutUser`, `updateUser`, `changePwd`, `joinFriend`, `removeFriend`, `editGroupSession`.
    Outcome { #[doc = "Human message."] successmsg: String }
    /// `userToken` (refresh).
    RefreshAnswer { #[doc = "User."] uid: String, #[doc = "New token."] user_token: String }
    /// `sessionToken`, `joinGroupSession`.
    SessionTokenAnswer { #[doc = "Token for `/ws-chat`."] session_token: String }
    /// `getUserInfo`.
    UserInfoAnswer { #[doc = "Human message."] successmsg: String, #[doc = "The user, or null."] user_info: Option<UserInfo> }
    /// `getUserInfoByName`.
    UserSearchAnswer { #[doc = "Human message."] successmsg: String, #[doc = "Matches (always an array)."] user_info: Vec<UserSearchHit> }
    /// `getUserMenu`.
    UserMenuAnswer { #[doc = "The clicked user, or null."] user: Option<UserMenu> }
    /// `getFriends`.
    FriendsAnswer { #[doc = "Friends."] friends: Vec<Friend> }
    /// `createGroupSession`.
    CreateSessionAnswer { #[doc = "New session."] sessionid: String, #[doc = "Human message."] successmsg: String }
    /// `getGroupSessionInfo`.
    GroupInfoAnswer { #[doc = "Settings, or null."] session: Option<GroupInfo> }
    /// `listSessions`.
    SessionListAnswer { #[doc = "Chats."] sessions: Vec<SessionItem> }
    /// `listJoinedSessions`.
    JoinedListAnswer { #[doc = "Chats."] sessions: Vec<JoinedItem> }
    /// `getSessionMenu`.
    SessionMenuAnswer { #[doc = "Menu, or null."] session: Option<SessionMenu> }
    /// `getSessionHeader`.
    SessionHeaderAnswer { #[doc = "Header, or null."] session: Option<SessionHeader> }
    /// `getJoinedUsers`.
    JoinedUsersAnswer { #[doc = "Online members."] online_users: Vec<Chip>, #[doc = "Offline members."] offline_users: Vec<Chip> }
    /// `leaveGroupSession`: only `errmsg`.
    LeaveAnswer {}
    /// `inviteFriends`.
    InviteAnswer { #[doc = "`invite <nicks> success`."] successmsg: String, #[doc = "Target session."] sessionid: String }
    /// `getPrivateSession`.
    PrivateSessionAnswer { #[doc = "The private session."] sessionid: String }
    /// `listMessages`.
    MessagesAnswer { #[doc = "Token for `/ws-chat`."] session_token: String, #[doc = "Oldest first."] messages: Vec<HistoryMessage>, #[doc = "With `withSeq=1` only (an extension): every member's read mark."] #[serde(skip_serializing_if = "Option::is_none")] read_marks: Option<Vec<ReadMark>> }
    /// `searchMessages` (an extension): matches, newest first.
    SearchAnswer { #[doc = "Newest first."] results: Vec<SearchHit>, #[doc = "`before` for the next page, `\"\"` if this was the last."] next: String }
    /// `getReadMarks` (an extension): every member's read mark in a chat.
    ReadMarksAnswer { #[doc = "The chat's last `seq`."] last_seq: i64, #[doc = "In join order."] read_marks: Vec<ReadMark> }
    /// `getNewNotificationCount`.
    NotificationCountAnswer { #[doc = "Unread notifications."] rs_count: i64 }
    /// `getNotifications`.
    NotificationsAnswer { #[doc = "Newest first."] notifications: Vec<NotificationItem> }
    /// `getFileMeta`.
    FileMetaAnswer { #[doc = "The id as given."] id: String, #[doc = "Name."] file_name: String, #[doc = "Type."] file_type: String, #[doc = "Bytes."] file_size: u64 }
    /// `listLogins` (an extension): the caller's signed-in devices.
    LoginList { #[doc = "Most recently seen first."] logins: Vec<LoginEntry> }
    /// `endLogins` (an extension).
    LoginsEnded { #[doc = "Human message."] successmsg: String, #[doc = "How many ended."] ended: usize }
}

/// One `searchMessages` match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The chat.
    pub sessionid: String,
    /// Its name as the searcher sees it (the other person's, for a private chat).
    pub session_name: String,
    /// The message's number in its chat.
    pub seq: i64,
    /// Sender.
    pub uid: String,
    /// Sender's nickname.
    pub nickname: String,
    /// Sender's avatar.
    pub avatar: String,
    /// `text` or `file`.
    pub msg_type: String,
    /// `timestr` of the message.
    pub dateline: String,
    /// Up to about 120 characters of the text (or the file name) around the first match,
    /// `…` where cut.
    pub snippet: String,
    /// Where the query's words are in `snippet`: `[start, end)` pairs, in characters (code
    /// points) of `snippet`.
    pub highlights: Vec<(usize, usize)>,
}

/// One member's read mark: they have read the chat up to `seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadMark {
    /// The member.
    pub uid: String,
    /// The last `seq` they have read.
    pub seq: i64,
}

/// One signed-in device in `listLogins`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginEntry {
    /// The login's id (for `endLogins`).
    pub loginid: String,
    /// The browser's `User-Agent` when it signed in.
    pub device: String,
    /// `timestr` of the sign-in.
    pub created: String,
    /// `timestr` of the last token issued or socket opened.
    pub last_seen: String,
    /// Whether this is the caller's own login.
    pub current: bool,
}

/// `verifyUserToken` never fails and has no `errmsg`: all three are `""` for a bad token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TokenIdentity {
    /// User id.
    pub uid: String,
    /// Nickname in the token.
    pub nickname: String,
    /// Avatar in the token.
    pub avatar: String,
}

/// `getUserInfo`'s user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Id.
    pub uid: String,
    /// Name.
    pub nickname: String,
    /// Avatar file id.
    pub avatar: String,
    /// 1 boy, 2 girl.
    pub gender: i32,
    /// Email, only for the caller's own record.
    pub login: String,
    /// `timestr`.
    pub last_login: String,
    /// Logins.
    pub login_count: i32,
    /// Extension, only in the caller's own record: whether they hide their read receipts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hide_receipts: Option<bool>,
}

/// A `getUserInfoByName` match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserSearchHit {
    /// Id.
    pub uid: String,
    /// Name.
    pub nickname: String,
    /// Avatar.
    pub avatar: String,
    /// Int gender.
    pub gender: i32,
    /// Registration `timestr`.
    pub dateline: String,
}

/// `getUserMenu`'s user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserMenu {
    /// Id.
    pub uid: String,
    /// Name.
    pub nickname: String,
    /// Avatar.
    pub avatar: String,
    /// Int gender.
    pub gender: i32,
    /// In the caller's friends.
    pub is_friend: bool,
}

/// A `getFriends` entry; `gender` is a word here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Friend {
    /// Id.
    pub uid: String,
    /// Name.
    pub nickname: String,
    /// Avatar.
    pub avatar: String,
    /// `boy`, `girl` or `unknown`.
    pub gender: String,
    /// Registration `timestr`.
    pub dateline: String,
}

/// `getGroupSessionInfo`'s session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    /// Name.
    pub session_name: String,
    /// Icon file id.
    pub session_icon: String,
    /// 0 or 1.
    pub public_type: i32,
}

/// The last message shown in `listSessions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    /// Sender.
    pub uid: String,
    /// Sender's current name.
    pub nickname: String,
    /// Sender's current avatar.
    pub avatar: String,
    /// Kind.
    pub msg_type: String,
    /// Text, or `send a [PHOTO]` / `send a [FILE]`.
    pub content: String,
    /// `timestr`.
    pub dateline: String,
}

/// A `listSessions` element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    /// Id.
    pub sessionid: String,
    /// Creator.
    pub createuid: String,
    /// Private: invited user.
    pub ouid: String,
    /// Resolved name, cut to 30 UTF-16 units.
    pub session_name: String,
    /// 0 private, 1 group.
    pub session_type: i32,
    /// Resolved icon.
    pub session_icon: String,
    /// 0 or 1.
    pub public_type: i32,
    /// `timestr`.
    pub last_update: String,
    /// `timestr`.
    pub dateline: String,
    /// Unread count.
    pub new_count: i32,
    /// Last message or null.
    pub message: Option<LastMessage>,
}

/// A `listJoinedSessions` element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinedItem {
    /// Id.
    pub sessionid: String,
    /// Creator.
    pub createuid: String,
    /// Resolved name, cut to width 24.
    pub session_name: String,
    /// 0 private, 1 group.
    pub session_type: i32,
    /// Resolved icon.
    pub session_icon: String,
    /// 0 or 1.
    pub public_type: i32,
    /// `timestr`.
    pub dateline: String,
    /// `timestr`.
    pub last_update: String,
    /// Unread count.
    pub new_count: i32,
}

/// `getSessionMenu`'s session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMenu {
    /// Id.
    pub sessionid: String,
    /// Stored name.
    pub session_name: String,
    /// Stored icon.
    pub session_icon: String,
    /// Creator.
    pub createuid: String,
    /// Private: the other participant.
    pub ouid: String,
    /// Caller is a member.
    pub joined: bool,
    /// Caller is the creator.
    pub editable: bool,
}

/// `getSessionHeader`'s session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionHeader {
    /// Id.
    pub sessionid: String,
    /// Resolved name.
    pub session_name: String,
    /// Resolved icon.
    pub session_icon: String,
    /// Creator.
    pub createuid: String,
    /// Private: the other participant; `""` for groups.
    pub ouid: String,
}

/// A user chip in `getJoinedUsers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Chip {
    /// Id.
    pub uid: String,
    /// Name.
    pub nickname: String,
    /// Avatar.
    pub avatar: String,
}

/// A `getNotifications` element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationItem {
    /// Sender.
    pub uid: String,
    /// Sender's name.
    pub nickname: String,
    /// Sender's avatar.
    pub avatar: String,
    /// Rendered text.
    pub content: String,
    /// Invitations only.
    pub sessionid: String,
    /// Invitations only.
    pub session_name: String,
    /// 0 or 1, before this call.
    pub is_read: i32,
    /// `timestr`.
    pub dateline: String,
}

/// Cuts `text` to at most `units` UTF-16 code units (chat list names, §3.5).
pub fn cut_utf16(text: &str, units: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= units
        })
        .collect()
}

/// Cuts `text` to display width 24 (sidebar names, §3.5): ASCII counts 1, anything else 2; a
/// character is kept while the width consumed before it is below `width`.
pub fn cut_width(text: &str, width: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            let keep = used < width;
            used += if c.is_ascii() { 1 } else { 2 };
            keep
        })
        .collect()
}

/// Length in UTF-16 code units (password and session name minimums, §3.5).
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_shape() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(UserInfoAnswer::failure("user not exist"))?;
        assert_eq!(
            json,
            serde_json::json!({"errmsg": "user not exist", "successmsg": "", "userInfo": null})
        );
        let json = serde_json::to_value(NotificationCountAnswer::failure("x"))?;
        assert_eq!(json, serde_json::json!({"errmsg": "x", "rsCount": 0}));
        let json = serde_json::to_value(JoinedUsersAnswer::failure("x"))?;
        assert_eq!(
            json,
            serde_json::json!({"errmsg": "x", "onlineUsers": [], "offlineUsers": []})
        );
        Ok(())
    }

    #[test]
    fn cuts() {
        assert_eq!(cut_utf16("abcdef", 3), "abc");
        assert_eq!(cut_utf16("a😀b", 2), "a");
        assert_eq!(cut_width(&"x".repeat(30), 24).len(), 24);
        assert_eq!(cut_width(&"中".repeat(20), 24).chars().count(), 12);
        assert_eq!(utf16_len("😀"), 2);
    }
}

/// One message of `listMessages`: CookIM's ten fields, then (only when the client asked with
/// `withSeq`, an extension) its `seq`, the sender's `clientId`, and for a reply `replyTo` and
/// `replyPreview`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryMessage {
    /// The frame as `/ws-chat` sends it.
    #[serde(flatten)]
    pub down: ChatDown,
    /// The message's number in its chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The sender's own id for it.
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// For a reply: the `seq` of the message it answers.
    #[serde(rename = "replyTo", skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// For a reply: a glimpse of the message it answers.
    #[serde(rename = "replyPreview", skip_serializing_if = "Option::is_none")]
    pub reply_preview: Option<crate::chat::ReplyPreview>,
}
