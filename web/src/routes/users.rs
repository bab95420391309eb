//! Users, friends and notifications (§6.2, §6.5).

use protocol::ids::{NotificationId, UserId};
use protocol::rest::{
    Friend, FriendsAnswer, NotificationCountAnswer, NotificationItem, NotificationsAnswer, Outcome,
    UserInfo, UserInfoAnswer, UserMenu, UserMenuAnswer, UserSearchAnswer, UserSearchHit,
};
use store::model::{NoticeType, Notification};

use crate::app::App;
use crate::clock::now_ms;
use crate::error::{Error, Result, ensure};
use crate::http::Form;
use crate::limits::Action;

/// Most users a nickname search returns.
const SEARCH_LIMIT: usize = 50;
/// Most notifications one page holds.
const MAX_PAGE: i64 = 200;

fn parse_uid(text: &str, reason: &str) -> Result<UserId> {
    UserId::parse(text).map_err(|_| Error::Invalid(reason.to_owned()))
}

/// `getUserInfo`. Requires a valid token (CookIM did not); `login` only for oneself.
pub(super) async fn user_info(app: &App, form: &Form) -> Result<UserInfoAnswer> {
    let (who, _) = app.caller(form, "no privilege to get user info").await?;
    let uid = parse_uid(form.str("uid"), "user not exist")?;
    let user = app
        .store()
        .user(&uid)
        .await?
        .ok_or_else(|| Error::Invalid("user not exist".into()))?;
    Ok(UserInfoAnswer {
        errmsg: String::new(),
        successmsg: "get user info success".into(),
        user_info: Some(UserInfo {
            uid: user.id.to_string(),
            nickname: user.nickname.clone(),
            avatar: user.avatar.to_string(),
            gender: user.gender.as_i32(),
            login: if user.id == who.uid {
                user.login.clone()
            } else {
                String::new()
            },
            last_login: app.timestr(user.last_login),
            login_count: user.login_count,
            hide_receipts: (user.id == who.uid).then_some(user.hide_receipts),
        }),
    })
}

/// `getUserInfoByName`: exact nickname, capped, requires a valid token.
pub(super) async fn user_by_name(app: &App, form: &Form) -> Result<UserSearchAnswer> {
    app.caller(form, "no privilege to search users").await?;
    let users = app
        .store()
        .users_by_nickname(form.str("nickName").trim(), SEARCH_LIMIT)
        .await?;
    Ok(UserSearchAnswer {
        errmsg: String::new(),
        successmsg: "get user info success".into(),
        user_info: users
            .iter()
            .map(|u| UserSearchHit {
                uid: u.id.to_string(),
                nickname: u.nickname.clone(),
                avatar: u.avatar.to_string(),
                gender: u.gender.as_i32(),
                dateline: app.timestr(u.dateline),
            })
            .collect(),
    })
}

/// `getUserMenu`.
pub(super) async fn user_menu(app: &App, form: &Form) -> Result<UserMenuAnswer> {
    let (who, _) = app.caller(form, "no privilege to get user menu").await?;
    let ouid = parse_uid(form.str("ouid"), "user not exist")?;
    let other = app
        .store()
        .user(&ouid)
        .await?
        .ok_or_else(|| Error::Invalid("user not exist".into()))?;
    Ok(UserMenuAnswer {
        errmsg: String::new(),
        user: Some(UserMenu {
            uid: other.id.to_string(),
            nickname: other.nickname.clone(),
            avatar: other.avatar.to_string(),
            gender: other.gender.as_i32(),
            is_friend: app.store().is_friend(&who.uid, &ouid).await?,
        }),
    })
}

/// `getFriends`: `gender` is a word here.
pub(super) async fn friends(app: &App, form: &Form) -> Result<FriendsAnswer> {
    let (who, _) = app.caller(form, "no privilege to get friends").await?;
    let friends = app.store().friends(&who.uid).await?;
    Ok(FriendsAnswer {
        errmsg: String::new(),
        friends: friends
            .iter()
            .map(|u| Friend {
                uid: u.id.to_string(),
                nickname: u.nickname.clone(),
                avatar: u.avatar.to_string(),
                gender: u.gender.as_word().to_owned(),
                dateline: app.timestr(u.dateline),
            })
            .collect(),
    })
}

async fn notify(
    app: &App,
    kind: NoticeType,
    from: &UserId,
    to: &UserId,
    sid: Option<protocol::ids::SessionId>,
) -> Result<()> {
    let notification = Notification {
        id: NotificationId::from_random(rand::random()),
        notice_type: kind,
        senduid: from.clone(),
        recvuid: to.clone(),
        session_id: sid,
        is_read: false,
        dateline: now_ms(),
    };
    Ok(app.store().notify(notification).await?)
}

pub(super) async fn notify_invite(
    app: &App,
    from: &UserId,
    to: &UserId,
    sid: &protocol::ids::SessionId,
) -> Result<()> {
    notify(app, NoticeType::InviteSession, from, to, Some(sid.clone())).await
}

/// `joinFriend` (one-way follow). Refuses oneself.
pub(super) async fn join_friend(app: &App, form: &Form) -> Result<Outcome> {
    let (who, _) = app.caller(form, "no privilege to join friends").await?;
    let fuid = parse_uid(form.str("fuid"), "user friend not exists")?;
    ensure(fuid != who.uid, "you can not add yourself as friend")?;
    app.limit_user(Action::FriendRequest, &who.uid)?;
    app.store()
        .user(&fuid)
        .await?
        .ok_or_else(|| Error::Invalid("user friend not exists".into()))?;
    let added = app.store().add_friend(&who.uid, &fuid, now_ms()).await?;
    ensure(added, "user not exist or already your friend")?;
    notify(app, NoticeType::JoinFriend, &who.uid, &fuid, None).await?;
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "join friend success".into(),
    })
}

/// `removeFriend`.
pub(super) async fn remove_friend(app: &App, form: &Form) -> Result<Outcome> {
    let (who, _) = app.caller(form, "no privilege to remove friends").await?;
    const MISSING: &str = "user not exists or friend not in your friends";
    let fuid = parse_uid(form.str("fuid"), MISSING)?;
    ensure(app.store().remove_friend(&who.uid, &fuid).await?, MISSING)?;
    notify(app, NoticeType::RemoveFriend, &who.uid, &fuid, None).await?;
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "remove friend success".into(),
    })
}

/// `getNewNotificationCount`.
pub(super) async fn notification_count(app: &App, form: &Form) -> Result<NotificationCountAnswer> {
    let (who, _) = app
        .caller(form, "no privilege to get new notification count")
        .await?;
    Ok(NotificationCountAnswer {
        errmsg: String::new(),
        rs_count: app.store().unread_notifications(&who.uid).await?,
    })
}

/// `getNotifications`: a page newest first, shown as it was, then marked read.
pub(super) async fn notifications(app: &App, form: &Form) -> Result<NotificationsAnswer> {
    let (who, _) = app
        .caller(form, "no privilege to list notifications")
        .await?;
    let page = form.int("page", 1).clamp(1, i64::from(u32::MAX));
    let count = match form.int("count", 30) {
        c if c < 1 => 30,
        c => c.min(MAX_PAGE),
    };
    let list = app
        .store()
        .take_notifications(&who.uid, page as u32, count as u32)
        .await?;
    let mut senders: Vec<UserId> = list.iter().map(|n| n.senduid.clone()).collect();
    senders.sort();
    senders.dedup();
    let users = app.users_by_id(&senders).await?;
    let mut items = Vec::with_capacity(list.len());
    for n in &list {
        let sender = users.get(&n.senduid);
        let nickname = sender.map(|u| u.nickname.clone()).unwrap_or_default();
        let session_name = match &n.session_id {
            Some(sid) => app
                .store()
                .session(sid)
                .await?
                .map(|s| s.name)
                .unwrap_or_default(),
            None => String::new(),
        };
        let content = match n.notice_type {
            NoticeType::JoinFriend => format!("{nickname} join you as friend"),
            NoticeType::RemoveFriend => format!("{nickname} remove you from friend"),
            NoticeType::InviteSession => format!("{nickname} invite you in {session_name}"),
        };
        items.push(NotificationItem {
            uid: n.senduid.to_string(),
            nickname,
            avatar: sender.map(|u| u.avatar.to_string()).unwrap_or_default(),
            content,
            sessionid: n
                .session_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            session_name,
            is_read: i32::from(n.is_read),
            dateline: app.timestr(n.dateline),
        });
    }
    Ok(NotificationsAnswer {
        errmsg: String::new(),
        notifications: items,
    })
}
