//! Chat sessions: groups, private chats, lists, menus, membership, invitations (§6.3).

use std::collections::HashMap;

use protocol::ids::{SessionId, UserId};
use protocol::rest::{
    Chip, CreateSessionAnswer, GroupInfo, GroupInfoAnswer, InviteAnswer, JoinedItem,
    JoinedListAnswer, JoinedUsersAnswer, LastMessage, LeaveAnswer, Outcome, PrivateSessionAnswer,
    SessionHeader, SessionHeaderAnswer, SessionItem, SessionListAnswer, SessionMenu,
    SessionMenuAnswer, SessionTokenAnswer, cut_utf16, cut_width, utf16_len,
};
use protocol::thumbnail;
use store::model::{
    FileOwner, NewFile, NewSession, Session, SessionListing, SessionType, SessionUpdate, User,
};

use super::auth::{session_token_for, store_picture};
use super::users::notify_invite;
use crate::app::App;
use crate::clock::now_ms;
use crate::error::{Error, Result, ensure};
use crate::http::Form;
use crate::limits::Action;

fn parse_sid(form: &Form, reason: &str) -> Result<SessionId> {
    SessionId::parse(form.str("sessionid")).map_err(|_| Error::Invalid(reason.to_owned()))
}

async fn load_session(app: &App, sid: &SessionId, reason: &str) -> Result<Session> {
    app.store()
        .session(sid)
        .await?
        .ok_or_else(|| Error::Invalid(reason.to_owned()))
}

/// The other participant of a private session, as seen by `viewer`.
async fn other_participant(
    app: &App,
    session: &Session,
    viewer: &UserId,
) -> Result<Option<UserId>> {
    let members = app.store().members(&session.id).await?;
    if let Some(m) = members.iter().find(|m| &m.uid != viewer) {
        return Ok(Some(m.uid.clone()));
    }
    let stored = [Some(session.createuid.clone()), session.ouid.clone()];
    Ok(stored.into_iter().flatten().find(|u| u != viewer))
}

/// The `ouid` the client is shown: the other participant of a private chat (CookIM sent the
/// stored invitee, which is the viewer themself for one of the two, §6.3 Note); `""` for groups.
async fn ouid_for(app: &App, session: &Session, viewer: &UserId) -> Result<String> {
    Ok(match session.session_type {
        SessionType::Private => other_participant(app, session, viewer)
            .await?
            .map(|u| u.to_string())
            .unwrap_or_default(),
        SessionType::Group => String::new(),
    })
}

/// Name and icon of a session for `viewer` (§6.3): stored for groups, the other person's
/// nickname and avatar for private chats (empty if that person is gone).
pub(super) async fn resolve(
    app: &App,
    session: &Session,
    viewer: &UserId,
) -> Result<(String, String)> {
    match session.session_type {
        SessionType::Group => Ok((
            session.name.clone(),
            session
                .icon
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )),
        SessionType::Private => {
            let Some(other) = other_participant(app, session, viewer).await? else {
                return Ok((String::new(), String::new()));
            };
            Ok(match app.store().user(&other).await? {
                Some(user) => (user.nickname, user.avatar.to_string()),
                None => (String::new(), String::new()),
            })
        }
    }
}

fn check_session_name(app: &App, name: &str) -> Result<()> {
    ensure(
        utf16_len(name) >= 3,
        "session desc must at least 3 character",
    )?;
    let max = app.config().max_session_name;
    ensure(
        name.chars().count() <= max,
        &format!("session name must at most {max} characters"),
    )
}

fn public_type(form: &Form) -> Result<bool> {
    match form.int("publicType", 0) {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Error::Invalid("publicType error".into())),
    }
}

/// `createGroupSession` (multipart). The creator's join is finished before answering.
pub(super) async fn create(app: &App, form: &Form) -> Result<CreateSessionAnswer> {
    let (who, _) = app
        .caller(form, "no privilege to create group session")
        .await?;
    let name = form.str("sessionName").trim();
    check_session_name(app, name)?;
    let public = public_type(form)?;
    let part = form.file.as_ref().filter(|f| !f.bytes.is_empty());
    let part = part.ok_or_else(|| Error::Invalid("please select chat icon".into()))?;
    app.limit_user(Action::Group, &who.uid)?;
    let icon = store_picture(app, &who.uid, part).await?;
    let session = app
        .store()
        .create_session(NewSession {
            id: SessionId::from_random(rand::random()),
            createuid: who.uid.clone(),
            ouid: None,
            name: name.to_owned(),
            icon: Some(icon),
            session_type: SessionType::Group,
            public,
            dateline: now_ms(),
        })
        .await?;
    app.registry.join(&session.id, &who.uid).await?;
    Ok(CreateSessionAnswer {
        errmsg: String::new(),
        sessionid: session.id.to_string(),
        successmsg: "create group session success".into(),
    })
}

/// `getGroupSessionInfo`: creator only.
pub(super) async fn info(app: &App, form: &Form) -> Result<GroupInfoAnswer> {
    const DENIED: &str = "no privilege to get group session info";
    let (who, _) = app.caller(form, DENIED).await?;
    let sid = parse_sid(form, DENIED)?;
    let session = load_session(app, &sid, DENIED).await?;
    ensure(
        session.createuid == who.uid && session.session_type == SessionType::Group,
        DENIED,
    )?;
    Ok(GroupInfoAnswer {
        errmsg: String::new(),
        session: Some(GroupInfo {
            session_name: session.name,
            session_icon: session.icon.map(|i| i.to_string()).unwrap_or_default(),
            public_type: i32::from(session.public),
        }),
    })
}

/// `editGroupSession` (multipart): creator only, groups only.
pub(super) async fn edit(app: &App, form: &Form) -> Result<Outcome> {
    let (who, _) = app
        .caller(form, "no privilege to edit group session")
        .await?;
    let sid = parse_sid(form, "user or session not exists")?;
    let session = load_session(app, &sid, "user or session not exists").await?;
    ensure(
        session.createuid == who.uid,
        "you have no privilege to edit session info",
    )?;
    ensure(
        session.session_type == SessionType::Group,
        "only group sessions can be edited",
    )?;
    let name = form.str("sessionName").trim();
    check_session_name(app, name)?;
    let public = public_type(form)?;
    let icon = match form.file.as_ref().filter(|f| !f.bytes.is_empty()) {
        Some(part) => Some(store_picture(app, &who.uid, part).await?),
        None => None,
    };
    app.store()
        .update_session(
            &sid,
            SessionUpdate {
                name: name.to_owned(),
                icon,
                public,
            },
        )
        .await?;
    app.registry.reload(&sid).await?;
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "edit group session success".into(),
    })
}

/// The last message of a listing as `listSessions` shows it, with the sender's current
/// nickname and avatar; `None` if there is none or the sender is gone.
fn last_message(
    listing: &SessionListing,
    senders: &HashMap<UserId, User>,
    app: &App,
) -> Option<LastMessage> {
    let message = listing.last_message.as_ref()?;
    let sender = senders.get(&message.uid)?;
    let content = if message.thumbid.is_some() {
        "send a [PHOTO]".to_owned()
    } else if message.fileid.is_some() {
        "send a [FILE]".to_owned()
    } else {
        message.content.clone()
    };
    Some(LastMessage {
        uid: sender.id.to_string(),
        nickname: sender.nickname.clone(),
        avatar: sender.avatar.to_string(),
        msg_type: message.msg_type.as_str().to_owned(),
        content,
        dateline: app.timestr(message.dateline),
    })
}

/// `listSessions`: `isPublic=1` public groups not joined, otherwise the joined list.
pub(super) async fn list(app: &App, form: &Form) -> Result<SessionListAnswer> {
    let (who, _) = app.caller(form, "no privilege to list sessions").await?;
    let listings = if form.int("isPublic", 0) == 1 {
        app.store().public_sessions(&who.uid).await?
    } else {
        app.store().joined_sessions(&who.uid).await?
    };
    let sender_ids: Vec<UserId> = listings
        .iter()
        .filter_map(|l| l.last_message.as_ref().map(|m| m.uid.clone()))
        .collect();
    let senders = app.users_by_id(&sender_ids).await?;
    let mut sessions = Vec::with_capacity(listings.len());
    for listing in &listings {
        let s = &listing.session;
        let (name, icon) = resolve(app, s, &who.uid).await?;
        let ouid = ouid_for(app, s, &who.uid).await?;
        sessions.push(SessionItem {
            sessionid: s.id.to_string(),
            createuid: s.createuid.to_string(),
            ouid,
            session_name: cut_utf16(&name, 30),
            session_type: s.session_type.as_i32(),
            session_icon: icon,
            public_type: i32::from(s.public),
            last_update: app.timestr(s.last_update),
            dateline: app.timestr(s.dateline),
            new_count: listing.new_count,
            message: last_message(listing, &senders, app),
        });
    }
    Ok(SessionListAnswer {
        errmsg: String::new(),
        sessions,
    })
}

/// `listJoinedSessions` (sidebar).
pub(super) async fn list_joined(app: &App, form: &Form) -> Result<JoinedListAnswer> {
    let (who, _) = app.caller(form, "no privilege to list sessions").await?;
    let listings = app.store().joined_sessions(&who.uid).await?;
    let mut sessions = Vec::with_capacity(listings.len());
    for listing in &listings {
        let s = &listing.session;
        let (name, icon) = resolve(app, s, &who.uid).await?;
        sessions.push(JoinedItem {
            sessionid: s.id.to_string(),
            createuid: s.createuid.to_string(),
            session_name: cut_width(&name, 24),
            session_type: s.session_type.as_i32(),
            session_icon: icon,
            public_type: i32::from(s.public),
            dateline: app.timestr(s.dateline),
            last_update: app.timestr(s.last_update),
            new_count: listing.new_count,
        });
    }
    Ok(JoinedListAnswer {
        errmsg: String::new(),
        sessions,
    })
}

/// Whether `uid` may see a session's menu and members: members always, anyone for public groups.
async fn may_view(app: &App, session: &Session, uid: &UserId) -> Result<bool> {
    Ok(
        (session.public && session.session_type == SessionType::Group)
            || app.store().is_member(&session.id, uid).await?,
    )
}

/// `getSessionMenu`: open to non-members of public groups (the public list needs it).
pub(super) async fn menu(app: &App, form: &Form) -> Result<SessionMenuAnswer> {
    const DENIED: &str = "no privilege to get session menu";
    let (who, _) = app.caller(form, DENIED).await?;
    let sid = parse_sid(form, DENIED)?;
    let session = load_session(app, &sid, DENIED).await?;
    ensure(may_view(app, &session, &who.uid).await?, DENIED)?;
    let joined = app.store().is_member(&sid, &who.uid).await?;
    let ouid = ouid_for(app, &session, &who.uid).await?;
    Ok(SessionMenuAnswer {
        errmsg: String::new(),
        session: Some(SessionMenu {
            sessionid: sid.to_string(),
            session_name: session.name.clone(),
            session_icon: session
                .icon
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            createuid: session.createuid.to_string(),
            ouid,
            joined,
            editable: session.createuid == who.uid && session.session_type == SessionType::Group,
        }),
    })
}

/// `getSessionHeader`: members only; `ouid` is the other participant of a private chat.
pub(super) async fn header(app: &App, form: &Form) -> Result<SessionHeaderAnswer> {
    const MISSING: &str = "no privilege or session not exists";
    let (who, _) = app
        .caller(form, "no privilege to get session header")
        .await?;
    let sid = parse_sid(form, MISSING)?;
    let session = load_session(app, &sid, MISSING).await?;
    ensure(app.store().is_member(&sid, &who.uid).await?, MISSING)?;
    let (name, icon) = resolve(app, &session, &who.uid).await?;
    ensure(!name.is_empty(), MISSING)?;
    let ouid = ouid_for(app, &session, &who.uid).await?;
    Ok(SessionHeaderAnswer {
        errmsg: String::new(),
        session: Some(SessionHeader {
            sessionid: sid.to_string(),
            session_name: name,
            session_icon: icon,
            createuid: session.createuid.to_string(),
            ouid,
        }),
    })
}

/// `getJoinedUsers`: members split by whether they have a live chat socket in the session.
pub(super) async fn joined_users(app: &App, form: &Form) -> Result<JoinedUsersAnswer> {
    let (who, _) = app.caller(form, "no privilege to get joined users").await?;
    let sid = parse_sid(form, "session not exist")?;
    let session = load_session(app, &sid, "session not exist").await?;
    ensure(
        may_view(app, &session, &who.uid).await?,
        "no privilege to get joined users",
    )?;
    let members = app.store().members(&sid).await?;
    let uids: Vec<UserId> = members.iter().map(|m| m.uid.clone()).collect();
    let users = app.users_by_id(&uids).await?;
    let online = app.registry.online_users(&sid).await?;
    let mut answer = JoinedUsersAnswer::default();
    for uid in &uids {
        let Some(user) = users.get(uid) else { continue };
        let chip = Chip {
            uid: uid.to_string(),
            nickname: user.nickname.clone(),
            avatar: user.avatar.to_string(),
        };
        if online.contains(uid) {
            answer.online_users.push(chip);
        } else {
            answer.offline_users.push(chip);
        }
    }
    Ok(answer)
}

/// `joinGroupSession`: public groups only (CookIM let anyone with an id join).
pub(super) async fn join(app: &App, form: &Form) -> Result<SessionTokenAnswer> {
    let (who, _) = app.caller(form, "no privilege to join session").await?;
    let sid = parse_sid(form, "session not exist")?;
    let session = load_session(app, &sid, "session not exist").await?;
    ensure(
        session.session_type == SessionType::Group,
        "not join a group session",
    )?;
    ensure(
        session.public,
        "this session is not public, ask a member to invite you",
    )?;
    let joined = app.registry.join(&sid, &who.uid).await?;
    ensure(joined.is_some(), "user not exists or already join session")?;
    Ok(SessionTokenAnswer {
        errmsg: String::new(),
        session_token: session_token_for(app, &sid, &who.uid)?,
    })
}

/// `leaveGroupSession`.
pub(super) async fn leave(app: &App, form: &Form) -> Result<LeaveAnswer> {
    let (who, _) = app.caller(form, "no privilege to leave session").await?;
    let sid = parse_sid(form, "session not exist")?;
    let session = load_session(app, &sid, "session not exist").await?;
    ensure(
        session.session_type == SessionType::Group,
        "not a group session",
    )?;
    ensure(
        session.createuid != who.uid,
        "creator can not leave your own session",
    )?;
    let left = app.registry.leave(&sid, &who.uid).await?;
    ensure(left.is_some(), "user not exists or not join the session")?;
    Ok(LeaveAnswer {
        errmsg: String::new(),
    })
}

/// Friends invited by one `inviteFriends` call, at most (each costs store reads and a
/// notification).
const MAX_INVITEES: usize = 100;

/// `inviteFriends`: into a group the caller belongs to, or, from a private chat, into a new
/// group of both participants plus the friends. Invitees must be the caller's friends;
/// unknown ids are skipped (§6.3 Notes).
pub(super) async fn invite(app: &App, form: &Form) -> Result<InviteAnswer> {
    let (who, caller) = app.caller(form, "no privilege to invite friends").await?;
    let friend_ids: Vec<String> = serde_json::from_str(form.str("friends")).unwrap_or_default();
    ensure(!friend_ids.is_empty(), "please select friends to invite")?;
    ensure(
        friend_ids.len() <= MAX_INVITEES,
        &format!("at most {MAX_INVITEES} friends at a time"),
    )?;
    app.limit_user(Action::Invite, &who.uid)?;
    let sid = parse_sid(form, "session not exists")?;
    let session = load_session(app, &sid, "session not exists").await?;
    ensure(
        app.store().is_member(&sid, &who.uid).await?,
        "you are not a member of this session",
    )?;
    let mut invitees = Vec::new();
    for text in &friend_ids {
        let Ok(uid) = UserId::parse(text) else {
            continue;
        };
        if uid != who.uid
            && !invitees.contains(&uid)
            && app.store().is_friend(&who.uid, &uid).await?
        {
            invitees.push(uid);
        }
    }
    let target = match session.session_type {
        SessionType::Group => sid.clone(),
        SessionType::Private => {
            let other = other_participant(app, &session, &who.uid)
                .await?
                .ok_or_else(|| Error::Invalid("ouid is empty".into()))?;
            if !invitees.contains(&other) {
                invitees.insert(0, other);
            }
            new_group_for(app, &caller, &invitees).await?
        }
    };
    let mut added = Vec::new();
    for uid in &invitees {
        if app.registry.join(&target, uid).await?.is_some() {
            notify_invite(app, &who.uid, uid, &target).await?;
            if let Some(user) = app.store().user(uid).await? {
                added.push(user.nickname);
            }
        }
    }
    ensure(!added.is_empty(), "no friends invite to session")?;
    Ok(InviteAnswer {
        errmsg: String::new(),
        successmsg: format!("invite {} success", added.join(", ")),
        sessionid: target.to_string(),
    })
}

/// Creates the group a private chat turns into (§6.3 branch A): named after up to four
/// members, with their avatars composed into the icon; the caller joins it.
async fn new_group_for(app: &App, caller: &User, invitees: &[UserId]) -> Result<SessionId> {
    let mut invited = app.store().users(invitees).await?;
    // `users` answers in no particular order; the name and the icon's cells follow the
    // invitation order (the other participant first, then the friends as listed).
    invited.sort_by_key(|u| invitees.iter().position(|i| i == &u.id));
    let mut members = vec![caller.clone()];
    members.extend(invited);
    let names: Vec<String> = members.iter().take(4).map(|u| u.nickname.clone()).collect();
    let mut pictures = Vec::new();
    for user in members.iter().take(4) {
        pictures.push(
            app.store()
                .file(&user.avatar)
                .await?
                .map(|(_, bytes)| bytes)
                .unwrap_or_default(),
        );
    }
    let limits = app.config().image_limits;
    let png = blocking::unblock(move || {
        let refs: Vec<&[u8]> = pictures.iter().map(Vec::as_slice).collect();
        thumbnail::compose_icon(&refs, &limits)
    })
    .await?;
    let icon = app
        .store()
        .put_file(NewFile {
            id: protocol::ids::FileId::from_random(rand::random()),
            file_name: format!("{}.thumb.png", caller.id),
            file_type: "image/png".into(),
            owner: FileOwner::User(caller.id.clone()),
            dateline: now_ms(),
            bytes: png,
        })
        .await?;
    let session = app
        .store()
        .create_session(NewSession {
            id: SessionId::from_random(rand::random()),
            createuid: caller.id.clone(),
            ouid: None,
            name: cut_utf16(&names.join(", "), 30),
            icon: Some(icon.id),
            session_type: SessionType::Group,
            public: false,
            dateline: now_ms(),
        })
        .await?;
    app.registry.join(&session.id, &caller.id).await?;
    Ok(session.id)
}

/// `getPrivateSession`: the one private chat of two users, created (and both joined) the
/// first time, before answering.
pub(super) async fn private(app: &App, form: &Form) -> Result<PrivateSessionAnswer> {
    let (who, _) = app
        .caller(form, "no privilege to get private session")
        .await?;
    const MISSING: &str = "send user or recv user not exist";
    let ouid = UserId::parse(form.str("ouid")).map_err(|_| Error::Invalid(MISSING.into()))?;
    ensure(ouid != who.uid, "you can not chat with yourself")?;
    app.store()
        .user(&ouid)
        .await?
        .ok_or_else(|| Error::Invalid(MISSING.into()))?;
    let (session, _) = app
        .store()
        .private_session(NewSession {
            id: SessionId::from_random(rand::random()),
            createuid: who.uid.clone(),
            ouid: Some(ouid.clone()),
            name: String::new(),
            icon: None,
            session_type: SessionType::Private,
            public: false,
            dateline: now_ms(),
        })
        .await?;
    // Joining is idempotent, so a crash between creating and joining heals on the next call.
    app.registry.join(&session.id, &who.uid).await?;
    app.registry.join(&session.id, &ouid).await?;
    Ok(PrivateSessionAnswer {
        errmsg: String::new(),
        sessionid: session.id.to_string(),
    })
}
