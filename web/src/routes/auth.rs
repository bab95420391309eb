//! Account routes: register, login, logout, tokens, profile, password (§6.1).

use protocol::ids::{FileId, LoginId, SessionId, UserId};
use protocol::rest::{
    AuthAnswer, LoginEntry, LoginList, LoginsEnded, Outcome, RefreshAnswer, SessionTokenAnswer,
    TokenIdentity, utf16_len,
};
use store::model::{
    AvatarKind, EndLogins, FileOwner, Gender, NewFile, NewLogin, NewUser, ProfileUpdate, User,
};

use super::lockout;
use crate::app::App;
use crate::auth::{SessionGrant, UserIdentity, hash_password, verify_password};
use crate::clock::{now_ms, now_secs};
use crate::error::{Error, Result, ensure};
use crate::http::{FilePart, Form};
use crate::limits::Action;

fn identity(user: &User, login: &LoginId) -> UserIdentity {
    UserIdentity {
        uid: user.id.clone(),
        nickname: user.nickname.clone(),
        avatar: user.avatar.clone(),
        login: login.clone(),
    }
}

/// Issues a user token of `login` from the current record and records the activity.
async fn issue(app: &App, user: &User, login: &LoginId) -> Result<String> {
    let now = now_ms();
    app.store().touch(&user.id, now).await?;
    app.store().touch_login(login, now).await?;
    app.tokens.user_token(&identity(user, login), now_secs())
}

/// Starts a login (device session) for `user` on the device the request names.
async fn start_login(app: &App, user: &User, form: &Form) -> Result<LoginId> {
    let id = LoginId::from_random(rand::random());
    let device = if form.device.is_empty() {
        "unknown device".to_owned()
    } else {
        form.device.clone()
    };
    app.store()
        .create_login(NewLogin {
            id: id.clone(),
            uid: user.id.clone(),
            device,
            created: now_ms(),
        })
        .await?;
    Ok(id)
}

/// CookIM's email test: word characters, `@`, then word characters or dots, anywhere.
fn looks_like_email(login: &str) -> bool {
    let bytes = login.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'@'
            && i > 0
            && bytes
                .get(i - 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            && bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
    })
}

/// Checks a nickname: at least 4 UTF-8 bytes (§3.5), at most `max_nickname` characters, no
/// control characters.
fn check_nickname(app: &App, nickname: &str) -> Result<()> {
    ensure(nickname.len() >= 4, "nickname must at least 4 charactors")?;
    ensure(
        nickname.chars().count() <= app.config().max_nickname,
        &format!(
            "nickname must at most {} characters",
            app.config().max_nickname
        ),
    )?;
    ensure(
        !nickname.chars().any(char::is_control),
        "nickname must not contain control characters",
    )
}

fn check_password_length(app: &App, password: &str, too_short: &str) -> Result<()> {
    ensure(utf16_len(password) >= 6, too_short)?;
    ensure(
        password.len() <= app.config().max_password,
        &format!("password must at most {} bytes", app.config().max_password),
    )
}

/// `registerUser`.
pub(super) async fn register(app: &App, form: &Form) -> Result<AuthAnswer> {
    let (login, nickname, password) = (
        form.str("login").trim(),
        form.str("nickname").trim(),
        form.str("password"),
    );
    ensure(
        password == form.str("repassword"),
        "password and repassword must be same",
    )?;
    ensure(looks_like_email(login), "login must be email")?;
    ensure(
        login.len() <= MAX_LOGIN,
        "login must at most 254 characters",
    )?;
    check_nickname(app, nickname)?;
    check_password_length(app, password, "password must at least 6 charactors")?;
    let gender = Gender::from_i32(i32::try_from(form.int("gender", 0)).unwrap_or(0));
    ensure(gender != Gender::Unknown, "gender must be boy or girl")?;
    app.limit_address(Action::Register, form)?;
    if app.store().user_by_login(login).await?.is_some() {
        // Unlike CookIM, the existing account's id is not revealed.
        return Err(Error::Invalid("user already exist".into()));
    }
    let new = NewUser {
        id: UserId::from_random(rand::random()),
        login: login.to_owned(),
        nickname: nickname.to_owned(),
        password_hash: hash_password(&app.hashes, password.to_owned()).await?,
        gender,
        avatar: app
            .defaults
            .for_kind(AvatarKind::for_gender(gender))
            .clone(),
        dateline: now_ms(),
    };
    let user = match app.store().create_user(new).await {
        Ok(user) => user,
        Err(store::Error::Conflict(_)) => return Err(Error::Invalid("user already exist".into())),
        Err(e) => return Err(e.into()),
    };
    app.store().record_login(&user.id, now_ms()).await?;
    let login = start_login(app, &user, form).await?;
    Ok(AuthAnswer {
        errmsg: String::new(),
        uid: user.id.to_string(),
        successmsg: "register user success, thank you for join us".into(),
        user_token: issue(app, &user, &login).await?,
    })
}

/// Longest login (an email address, RFC 5321's limit).
const MAX_LOGIN: usize = 254;

/// `loginUser`: limited per address, and locked per (address, login) and per address after
/// failures; the attempt is counted before the password is hashed, so concurrent guesses
/// cannot all slip past the count (see [`lockout`]).
pub(super) async fn login(app: &App, form: &Form) -> Result<AuthAnswer> {
    let (login, password) = (form.str("login").trim(), form.str("password"));
    check_password_length(app, password, "password must at least 6 characters")?;
    ensure(
        login.len() <= MAX_LOGIN,
        "user not exist or password not match",
    )?;
    app.limit_address(Action::Login, form)?;
    let attempt = lockout::reserve(app, form.peer, login).await?;
    let user = app.store().user_by_login(login).await?;
    let matched = match &user {
        Some(user) => {
            verify_password(&app.hashes, password.to_owned(), user.password_hash.clone()).await?
        }
        // Spend the same time on unknown logins so timing does not reveal accounts.
        None => {
            hash_password(&app.hashes, password.to_owned()).await?;
            false
        }
    };
    let Some(user) = user.filter(|_| matched) else {
        return Err(Error::Denied("user not exist or password not match".into()));
    };
    lockout::succeeded(app, attempt).await?;
    app.store().record_login(&user.id, now_ms()).await?;
    let login = start_login(app, &user, form).await?;
    Ok(AuthAnswer {
        errmsg: String::new(),
        uid: user.id.to_string(),
        successmsg: "login in success".into(),
        user_token: issue(app, &user, &login).await?,
    })
}

/// `logoutUser`: ends this device's login (its tokens and live sockets on every node); the
/// user's other devices stay signed in.
pub(super) async fn logout(app: &App, form: &Form) -> Result<Outcome> {
    let (who, _) = app.caller(form, "no privilege to logout").await?;
    end_logins(app, &who.uid, EndLogins::One(who.login.clone())).await?;
    if app.store().logins(&who.uid).await?.is_empty() {
        app.store().logout(&who.uid).await?;
    }
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "logout success".into(),
    })
}

/// Ends logins in the store and on this node at once (other nodes follow within a second).
async fn end_logins(app: &App, uid: &UserId, which: EndLogins) -> Result<usize> {
    let now = now_ms();
    let ended = app.store().end_logins(uid, which, now).await?;
    let count = ended.len();
    app.logins.end(ended.into_iter().map(|id| (id, now)));
    Ok(count)
}

/// `listLogins` (an extension): the caller's signed-in devices, most recently seen first.
pub(super) async fn list_logins(app: &App, form: &Form) -> Result<LoginList> {
    let (who, _) = app.caller(form, "no privilege to list logins").await?;
    let logins = app.store().logins(&who.uid).await?;
    Ok(LoginList {
        errmsg: String::new(),
        logins: logins
            .into_iter()
            .map(|l| LoginEntry {
                current: l.id == who.login,
                loginid: l.id.to_string(),
                device: l.device,
                created: app.timestr(l.created),
                last_seen: app.timestr(l.last_seen),
            })
            .collect(),
    })
}

/// `endLogins` (an extension): ends one of the caller's logins (`loginid`) or all but the
/// current one (`others=1`).
pub(super) async fn end_logins_route(app: &App, form: &Form) -> Result<LoginsEnded> {
    let (who, _) = app.caller(form, "no privilege to end logins").await?;
    let which = if form.int("others", 0) == 1 {
        EndLogins::AllBut(who.login.clone())
    } else {
        let id = LoginId::parse(form.str("loginid"))
            .map_err(|_| Error::Invalid("loginid is not a login".into()))?;
        EndLogins::One(id)
    };
    let ended = end_logins(app, &who.uid, which).await?;
    Ok(LoginsEnded {
        errmsg: String::new(),
        successmsg: format!("{ended} ended"),
        ended,
    })
}

/// `verifyUserToken`: never fails, reports the token's identity or empty strings.
pub(super) fn verify(app: &App, form: &Form) -> TokenIdentity {
    match app.verify_user(form.str("userToken")) {
        Some(who) => TokenIdentity {
            uid: who.uid.to_string(),
            nickname: who.nickname,
            avatar: who.avatar.to_string(),
        },
        None => TokenIdentity::default(),
    }
}

/// `userToken`: a fresh token from the current record.
pub(super) async fn refresh(app: &App, form: &Form) -> Result<RefreshAnswer> {
    let (who, user) = app
        .caller(form, "no privilege to create user token")
        .await?;
    Ok(RefreshAnswer {
        errmsg: String::new(),
        uid: user.id.to_string(),
        user_token: issue(app, &user, &who.login).await?,
    })
}

/// Issues a session token for a member (used by `sessionToken`, `listMessages`, `joinGroupSession`).
pub(super) fn session_token_for(app: &App, sid: &SessionId, uid: &UserId) -> Result<String> {
    app.tokens.session_token(
        &SessionGrant {
            sid: sid.clone(),
            uid: uid.clone(),
        },
        now_secs(),
    )
}

/// `sessionToken`.
pub(super) async fn session_token(app: &App, form: &Form) -> Result<SessionTokenAnswer> {
    const DENIED: &str = "no privilege to create session token";
    let (who, _) = app.caller(form, DENIED).await?;
    let sid = SessionId::parse(form.str("sessionid")).map_err(|_| Error::Denied(DENIED.into()))?;
    if !app.store().is_member(&sid, &who.uid).await? {
        return Err(Error::Denied(DENIED.into()));
    }
    Ok(SessionTokenAnswer {
        errmsg: String::new(),
        session_token: session_token_for(app, &sid, &who.uid)?,
    })
}

/// Makes and stores the 200x200 thumbnail of an uploaded avatar or icon. Unlike CookIM, a
/// non-image is an error rather than an empty avatar (§6.1 Note).
pub(super) async fn store_picture(app: &App, uid: &UserId, part: &FilePart) -> Result<FileId> {
    ensure(!part.bytes.is_empty(), "please select an image file")?;
    let png = app.thumbnail(part.bytes.clone()).await?;
    let meta = app
        .store()
        .put_file(NewFile {
            id: FileId::from_random(rand::random()),
            file_name: format!("{}.thumb.png", part.file_name),
            file_type: "image/png".into(),
            owner: FileOwner::User(uid.clone()),
            dateline: now_ms(),
            bytes: png,
        })
        .await?;
    Ok(meta.id)
}

/// `updateUser` (multipart). Keeps the current avatar when no file is sent, and reports an
/// invalid nickname instead of ignoring it (§6.1 Notes).
pub(super) async fn update_user(app: &App, form: &Form) -> Result<Outcome> {
    let (who, _) = app.caller(form, "no privilege to update user info").await?;
    let nickname = form.str("nickname").trim();
    let mut update = ProfileUpdate::default();
    if !nickname.is_empty() {
        check_nickname(app, nickname)?;
        update.nickname = Some(nickname.to_owned());
    }
    let gender = Gender::from_i32(i32::try_from(form.int("gender", 0)).unwrap_or(0));
    if gender != Gender::Unknown {
        update.gender = Some(gender);
    }
    if let Some(part) = &form.file {
        update.avatar = Some(store_picture(app, &who.uid, part).await?);
    }
    // An extension: `hideReceipts` 1 or 0 (absent: unchanged).
    update.hide_receipts = match form.str("hideReceipts") {
        "" => None,
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => return Err(Error::Invalid("hideReceipts must be 1 or 0".into())),
    };
    app.store().update_profile(&who.uid, update).await?;
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "update user info success".into(),
    })
}

/// `changePwd`: ends every other login of the user; this one stays signed in.
pub(super) async fn change_password(app: &App, form: &Form) -> Result<Outcome> {
    let (who, user) = app.caller(form, "no privilege to update user info").await?;
    let (old, new) = (form.str("oldPwd"), form.str("newPwd"));
    check_password_length(app, old, "old password must at least 6 charactors")?;
    check_password_length(app, new, "new password must at least 6 charactors")?;
    ensure(
        new == form.str("renewPwd"),
        "new password and repeat password must be same",
    )?;
    ensure(new != old, "new password and old password can not be same")?;
    let matched = verify_password(&app.hashes, old.to_owned(), user.password_hash.clone()).await?;
    ensure(matched, "user not exist or password not match")?;
    let hash = hash_password(&app.hashes, new.to_owned()).await?;
    let replaced = app
        .store()
        .replace_password(&who.uid, &user.password_hash, &hash)
        .await?;
    ensure(replaced, "user not exist or password not match")?;
    // Whoever knew the old password is signed out everywhere but here.
    end_logins(app, &who.uid, EndLogins::AllBut(who.login.clone())).await?;
    Ok(Outcome {
        errmsg: String::new(),
        successmsg: "change password success".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::looks_like_email;

    #[test]
    fn email_test_is_cookims() {
        assert!(looks_like_email("a@b.c"));
        assert!(looks_like_email("x y@z"));
        assert!(!looks_like_email("@b"));
        assert!(!looks_like_email("a@"));
        assert!(!looks_like_email("abc"));
    }
}
