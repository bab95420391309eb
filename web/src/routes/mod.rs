//! The 31 `/api` routes (§6 of the spec). Each route is an async function from a [`Form`] to
//! its [`Answer`] type; [`dispatch`] reads the body, calls it, and turns a failure into the
//! route's failure shape with a non-empty `errmsg` (HTTP 200, as the stock client expects).

mod auth;
mod files;
mod groups;
mod lockout;
mod messages;
mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_types::{Method, Request, Response};
use protocol::ids::FileId;
use protocol::rest::Answer;
use protocol::time::timestr;
use store::Store;
use store::model::{AvatarKind, User};

use crate::auth::{Tokens, UserIdentity};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{self, Form};
use crate::hub::Hub;
use crate::limits::{Action, AddrKey, HashPool, Limiter};
use crate::logins::Logins;

pub(crate) use files::{get_file, get_file_meta};

/// State every route reads.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) hub: Hub,
    pub(crate) tokens: Tokens,
    pub(crate) defaults: DefaultAvatars,
    /// Rate limits and per-address connection counts.
    pub(crate) limiter: Arc<Limiter>,
    /// Password hashing, bounded.
    pub(crate) hashes: HashPool,
    /// Ended logins and the live sockets of each login.
    pub(crate) logins: Arc<Logins>,
    /// Bounds the thumbnails made at once (`max_thumbnail_jobs`).
    pub(crate) thumbnail_jobs: async_lock::Semaphore,
}

/// The three default avatar files, seeded at start-up.
#[derive(Clone, Debug)]
pub(crate) struct DefaultAvatars {
    pub(crate) boy: FileId,
    pub(crate) girl: FileId,
    pub(crate) unknown: FileId,
}

impl DefaultAvatars {
    pub(crate) fn for_kind(&self, kind: AvatarKind) -> &FileId {
        match kind {
            AvatarKind::Boy => &self.boy,
            AvatarKind::Girl => &self.girl,
            AvatarKind::Unknown => &self.unknown,
        }
    }
}

impl App {
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        self.hub.store()
    }

    pub(crate) fn config(&self) -> &Config {
        self.hub.config()
    }

    pub(crate) fn timestr(&self, ms: i64) -> String {
        timestr(ms, self.config().utc_offset_secs)
    }

    /// Makes a 200x200 PNG thumbnail on the blocking pool, at most `max_thumbnail_jobs` at once,
    /// so large images never stall the executor or each other's chats.
    pub(crate) async fn thumbnail(&self, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let _permit = self.thumbnail_jobs.acquire().await;
        let limits = self.config().image_limits;
        Ok(blocking::unblock(move || protocol::thumbnail::thumbnail(&bytes, &limits)).await?)
    }

    /// Whether a once-a-minute log line may be written now (`last` holds when it last was):
    /// floods are logged, not logged per request.
    pub(crate) fn log_once_a_minute(&self, last: &AtomicU64) -> bool {
        let now = crate::clock::now_secs();
        let before = last.load(Ordering::Relaxed);
        now >= before.saturating_add(60)
            && last
                .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Counts one `action` by `uid` against its rate limit.
    ///
    /// # Errors
    /// [`Error::Limited`] naming what was limited, when over it.
    pub(crate) fn limit_user(&self, action: Action, uid: &protocol::ids::UserId) -> Result<()> {
        self.limiter
            .by_user(action, uid, 1)
            .map_err(|refused| Error::Limited(limited_text(action, refused.retry_after)))
    }

    /// Counts one `action` from the request's address against its rate limit.
    ///
    /// # Errors
    /// [`Error::Limited`] when over it.
    pub(crate) fn limit_address(&self, action: Action, form: &Form) -> Result<()> {
        let Some(addr) = form.peer else {
            return Ok(());
        };
        self.limiter
            .by_address(action, AddrKey::from(addr))
            .map_err(|refused| Error::Limited(limited_text(action, refused.retry_after)))
    }

    /// The users with these ids that exist, by id (missing ones are simply absent).
    pub(crate) async fn users_by_id(
        &self,
        uids: &[protocol::ids::UserId],
    ) -> Result<HashMap<protocol::ids::UserId, User>> {
        Ok(self
            .store()
            .users(uids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect())
    }

    /// Checks a user token: signed, unexpired, and of a login that has not ended (logout,
    /// a password change elsewhere, or the sessions page). No store read.
    pub(crate) fn verify_user(&self, token: &str) -> Option<UserIdentity> {
        self.tokens
            .verify_user(token)
            .filter(|who| !self.logins.is_ended(&who.login))
    }

    /// The caller's identity and current record, or `Denied(reason)`: the token must verify
    /// (see [`App::verify_user`]) and the user must exist.
    pub(crate) async fn caller(&self, form: &Form, reason: &str) -> Result<(UserIdentity, User)> {
        let denied = || Error::Denied(reason.to_owned());
        let who = self.verify_user(form.str("userToken")).ok_or_else(denied)?;
        let user = self.store().user(&who.uid).await?.ok_or_else(denied)?;
        Ok((who, user))
    }
}

/// Serves one `/api/...` request.
pub(crate) async fn dispatch(app: &App, mut req: Request, route: &str) -> Response {
    match (req.method(), route) {
        (Method::Get, "getFile") => return get_file(app, &req).await,
        (Method::Get, "getFileMeta") => return get_file_meta(app, &req).await,
        (Method::Post, _) => {}
        _ => return http::not_found(),
    }
    let content_type = req
        .content_type()
        .map(|m| m.essence().to_owned())
        .unwrap_or_default();
    let raw_content_type = req
        .header("Content-Type")
        .map(|h| h.as_str().to_owned())
        .unwrap_or_default();
    let multipart_route = matches!(
        route,
        "updateUser" | "createGroupSession" | "editGroupSession"
    );
    let is_multipart = content_type == "multipart/form-data";
    if multipart_route && !is_multipart {
        // The three upload routes accept only multipart (§3.1); anything else is a 404 there.
        return http::not_found();
    }
    let body = match http::read_body(&mut req, app.config().max_body).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let mut form = if is_multipart {
        match http::parse_multipart(&raw_content_type, body).await {
            Ok(form) => form,
            Err(e) => return e.into_response(),
        }
    } else {
        http::parse_urlencoded(&body)
    };
    form.peer = req
        .peer_addr()
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.ip());
    form.device = req
        .header("User-Agent")
        .map(|h| {
            h.as_str()
                .chars()
                .filter(|c| !c.is_control())
                .take(http::MAX_DEVICE)
                .collect()
        })
        .unwrap_or_default();
    tracing::debug!(route, "api call");
    match route {
        "registerUser" => answer(auth::register(app, &form).await),
        "loginUser" => answer(auth::login(app, &form).await),
        "logoutUser" => answer(auth::logout(app, &form).await),
        "verifyUserToken" => http::json(&auth::verify(app, &form)),
        "userToken" => answer(auth::refresh(app, &form).await),
        "sessionToken" => answer(auth::session_token(app, &form).await),
        "updateUser" => answer(auth::update_user(app, &form).await),
        "changePwd" => answer(auth::change_password(app, &form).await),
        "listLogins" => answer(auth::list_logins(app, &form).await),
        "endLogins" => answer(auth::end_logins_route(app, &form).await),
        "getUserInfo" => answer(users::user_info(app, &form).await),
        "getUserInfoByName" => answer(users::user_by_name(app, &form).await),
        "getUserMenu" => answer(users::user_menu(app, &form).await),
        "getFriends" => answer(users::friends(app, &form).await),
        "joinFriend" => answer(users::join_friend(app, &form).await),
        "removeFriend" => answer(users::remove_friend(app, &form).await),
        "getNewNotificationCount" => answer(users::notification_count(app, &form).await),
        "getNotifications" => answer(users::notifications(app, &form).await),
        "createGroupSession" => answer(groups::create(app, &form).await),
        "getGroupSessionInfo" => answer(groups::info(app, &form).await),
        "editGroupSession" => answer(groups::edit(app, &form).await),
        "listSessions" => answer(groups::list(app, &form).await),
        "listJoinedSessions" => answer(groups::list_joined(app, &form).await),
        "getSessionMenu" => answer(groups::menu(app, &form).await),
        "getSessionHeader" => answer(groups::header(app, &form).await),
        "getJoinedUsers" => answer(groups::joined_users(app, &form).await),
        "joinGroupSession" => answer(groups::join(app, &form).await),
        "leaveGroupSession" => answer(groups::leave(app, &form).await),
        "inviteFriends" => answer(groups::invite(app, &form).await),
        "getPrivateSession" => answer(groups::private(app, &form).await),
        "listMessages" => answer(messages::list(app, &form).await),
        _ => http::not_found(),
    }
}

/// A route's outcome as its JSON body: success as is, failure as the route's failure shape.
fn answer<T: Answer>(outcome: Result<T>) -> Response {
    match outcome {
        Ok(value) => http::json(&value),
        Err(e) => http::json(&T::failure(e.client_message())),
    }
}

/// The `errmsg` of a route over its rate limit.
fn limited_text(action: Action, retry_after: std::time::Duration) -> String {
    let what = match action {
        Action::Login => "login attempts from this address",
        Action::Register => "registrations from this address",
        Action::Group => "groups created",
        Action::FriendRequest => "friend requests",
        Action::Invite => "invitations",
        Action::Text => "messages",
        Action::Upload | Action::UploadBytes => "uploads",
    };
    format!(
        "too many {what}, try again in {} s",
        retry_after.as_secs().max(1)
    )
}

/// Fails with `reason` unless `ok`.
pub(crate) fn ensure(ok: bool, reason: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(reason.to_owned()))
    }
}
