//! The edge's state: what every route and websocket reads (the registry of chats, tokens,
//! limits, logins), and the small helpers they share.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::ids::FileId;
use protocol::time::timestr;
use store::Store;
use store::model::{AvatarKind, User};

use crate::auth::{Tokens, UserIdentity};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Form;
use crate::limits::{Action, AddrKey, HashPool, Limiter};
use crate::logins::Logins;
use crate::registry::Registry;

/// State every route reads.
#[derive(Debug)]
pub(crate) struct App {
    /// This node's chats and push channels.
    pub(crate) registry: Registry,
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
        self.registry.store()
    }

    pub(crate) fn config(&self) -> &Config {
        self.registry.config()
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

/// The `errmsg` of a route over its rate limit.
fn limited_text(action: Action, retry_after: std::time::Duration) -> String {
    let what = match action {
        Action::Login => "login attempts from this address",
        Action::Register => "registrations from this address",
        Action::Group => "groups created",
        Action::FriendRequest => "friend requests",
        Action::Invite => "invitations",
        Action::Search => "searches",
        Action::Text => "messages",
        Action::Upload | Action::UploadBytes => "uploads",
    };
    format!(
        "too many {what}, try again in {} s",
        retry_after.as_secs().max(1)
    )
}
