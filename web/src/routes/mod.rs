//! The 31 `/api` routes (§6 of the spec) and our extensions. Each route is an async function from a [`Form`](crate::http::Form) to
//! its [`Answer`] type; [`dispatch`] reads the body, calls it, and turns a failure into the
//! route's failure shape with a non-empty `errmsg` (HTTP 200, as the stock client expects).

mod auth;
mod files;
mod groups;
mod lockout;
mod messages;
mod search;
mod users;

use http_types::{Method, Request, Response};
use protocol::rest::Answer;

use crate::app::App;
use crate::error::Result;
use crate::http;

pub(crate) use files::{get_file, get_file_meta};

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
        "getReadMarks" => answer(messages::read_marks(app, &form).await),
        "searchMessages" => answer(search::search(app, &form).await),
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
