//! History (§6.4).

use protocol::chat::Sender;
use protocol::ids::{SessionId, UserId};
use protocol::rest::{HistoryMessage, MessagesAnswer, ReadMark, ReadMarksAnswer};
use std::collections::HashMap;

use store::model::Member;

use crate::replies::replies_of;

use super::auth::session_token_for;
use crate::app::App;
use crate::error::{Error, Result};
use crate::http::Form;

/// Most messages one page holds.
const MAX_COUNT: i64 = 500;

/// `listMessages`: a page oldest-first with the senders' current names, a session token, and
/// the caller's read mark moved to the last message when the page is not empty. Extensions
/// CookIM's client never sends: `after=N` returns the messages with `seq > N` instead of a
/// page (oldest first, at most `count`), and `withSeq=1` adds each message's `seq` and
/// `clientId` and every member's read mark (`readMarks`); with either the mark is left as it
/// is (such a client marks what it showed with `read`).
pub(super) async fn list(app: &App, form: &Form) -> Result<MessagesAnswer> {
    let (who, _) = app
        .caller(form, "no privilege to list session messages")
        .await?;
    const DENIED: &str = "no privilege in this session";
    let sid = SessionId::parse(form.str("sessionid")).map_err(|_| Error::Denied(DENIED.into()))?;
    if !app.store().is_member(&sid, &who.uid).await? {
        return Err(Error::Denied(DENIED.into()));
    }
    let page = match form.int("page", 1) {
        p if p < 1 => 1,
        p => p.min(i64::from(u32::MAX)),
    };
    let count = match form.int("count", 10) {
        c if c < 1 => 10,
        c => c.min(MAX_COUNT),
    };
    let after = match form.str("after") {
        "" => None,
        text => Some(
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::Invalid("after must be a message seq (0 or more)".into()))?,
        ),
    };
    let with_seq = after.is_some() || matches!(form.str("withSeq"), "1" | "true");
    let messages = match after {
        Some(after) => {
            app.store()
                .messages_after(&sid, after, count as u32)
                .await?
        }
        None => {
            app.store()
                .messages(&sid, page as u32, count as u32)
                .await?
        }
    };
    // CookIM's client has read what it listed; ours says what it showed with `read` marks.
    if !messages.is_empty() && !with_seq {
        app.store().mark_read(&sid, &who.uid, None).await?;
    }
    let mut uids: Vec<UserId> = messages.iter().map(|m| m.uid.clone()).collect();
    uids.sort();
    uids.dedup();
    let users = app.users_by_id(&uids).await?;
    let mut replies = if with_seq {
        replies_of(app.store().as_ref(), &sid, &messages).await?
    } else {
        HashMap::new()
    };
    let messages = messages
        .iter()
        .map(|m| {
            let user = users.get(&m.uid);
            let sender = Sender {
                uid: m.uid.to_string(),
                nickname: user.map(|u| u.nickname.clone()).unwrap_or_default(),
                avatar: user.map(|u| u.avatar.to_string()).unwrap_or_default(),
            };
            HistoryMessage {
                down: crate::session::message_down(m, sender, app.timestr(m.dateline)),
                seq: with_seq.then_some(m.seq),
                client_id: if with_seq { m.client_id.clone() } else { None },
                reply_to: replies.get(&m.seq).map(|r| r.to),
                reply_preview: replies.remove(&m.seq).map(|r| r.preview),
            }
        })
        .collect();
    let read_marks = if with_seq {
        Some(
            marks(app, &who.uid, &app.store().members(&sid).await?)
                .await?
                .1,
        )
    } else {
        None
    };
    Ok(MessagesAnswer {
        errmsg: String::new(),
        session_token: session_token_for(app, &sid, &who.uid)?,
        messages,
        read_marks,
    })
}

/// `getReadMarks` (an extension): every member's read mark in `sessionid`, for members only.
pub(super) async fn read_marks(app: &App, form: &Form) -> Result<ReadMarksAnswer> {
    let (who, _) = app.caller(form, "no privilege to read marks").await?;
    const DENIED: &str = "no privilege in this session";
    let sid = SessionId::parse(form.str("sessionid")).map_err(|_| Error::Denied(DENIED.into()))?;
    let members = app.store().members(&sid).await?;
    if !members.iter().any(|m| m.uid == who.uid) {
        return Err(Error::Denied(DENIED.into()));
    }
    let (last_seq, read_marks) = marks(app, &who.uid, &members).await?;
    Ok(ReadMarksAnswer {
        errmsg: String::new(),
        last_seq,
        read_marks,
    })
}

/// The chat's last `seq` (every member's mark plus their unread count) and the members'
/// marks as `viewer` may see them, in join order: none of members who hide their receipts
/// (but the viewer's own).
async fn marks(app: &App, viewer: &UserId, members: &[Member]) -> Result<(i64, Vec<ReadMark>)> {
    let last = members
        .iter()
        .map(|m| m.read_seq + i64::from(m.new_count))
        .max()
        .unwrap_or(0);
    let uids: Vec<UserId> = members.iter().map(|m| m.uid.clone()).collect();
    let users = app.users_by_id(&uids).await?;
    let marks = members
        .iter()
        .filter(|m| &m.uid == viewer || users.get(&m.uid).is_some_and(|u| !u.hide_receipts))
        .map(|m| ReadMark {
            uid: m.uid.to_string(),
            seq: m.read_seq,
        })
        .collect();
    Ok((last, marks))
}
