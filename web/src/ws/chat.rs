//! `/ws-chat` (§8): one chat per connection. Every up message carries both tokens and is
//! checked; the first `online` binds the connection to its session after a membership check;
//! text is acknowledged only by its echo, which comes after it is stored.

use std::sync::Arc;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use futures_lite::FutureExt;
use http_types::upgrade::Connection;
use protocol::binary;
use protocol::chat::{ChatDown, ChatUp, REJECT_TEXT, Sender, UpKind};
use protocol::ids::{FileId, SessionId};
use protocol::thumbnail;
use runtime::Shutdown;
use store::model::{FileOwner, NewFile};

use super::{
    ReadEnd, Stream, TEXT_FRAME_ROOM, authenticated, end_reading, login_ended, next_frame, race,
    websocket, write_loop,
};
use crate::app::App;
use crate::auth::UserIdentity;
use crate::clock::now_ms;
use crate::error::Error;
use crate::guard::Guard;
use crate::limits::Action;
use crate::logins::Watch;
use crate::outbox::{ConnId, Outbound, Outbox};
use crate::replies::replies_of;
use crate::session::{Post, RECEIPT_INTERVAL, SessionHandle, Wants, message_down};

/// Serves one `/ws-chat` connection until it closes. It must go `online` within
/// `auth_timeout` (the server armed `guard` for that), and closes when its login ends.
pub(crate) async fn serve(app: &App, conn: Connection, guard: Arc<Guard>, shutdown: Shutdown) {
    let config = app.config();
    let (sink, stream) = websocket(conn, config, super::Kind::Chat).await.split();
    let (outbox, inbox) = runtime::mailbox(config.outbox_capacity);
    let offset = config.utc_offset_secs;
    let (tell, ended) = async_channel::bounded(1);
    let mut chat = ChatConn {
        app,
        conn: ConnId::next(),
        outbox: outbox.clone(),
        bound: None,
        guard,
        tell,
        watch: None,
        reads: ReadThrottle::default(),
    };
    let keepalive =
        move || ChatDown::keepalive(protocol::time::timestr(now_ms(), offset)).to_text();
    race(
        chat.read_loop(stream, ended),
        write_loop(sink, inbox, config, &shutdown, keepalive),
    )
    .await;
    if let Some((_, handle)) = chat.bound.take() {
        // A mark held back by the throttle still counts.
        if let Some((who, seq)) = chat.reads.pending.take() {
            handle.read_up(&who, seq).await;
        }
        handle.offline(chat.conn).await;
    }
}

/// A connection forwards at most one read mark to its chat per [`RECEIPT_INTERVAL`]: a
/// client that sends one for every message it shows (or a thousand a second) costs its chat
/// one. The latest mark asked for inside the interval goes when it ends.
#[derive(Default)]
struct ReadThrottle {
    /// When the last mark was forwarded.
    sent_at: Option<std::time::Instant>,
    /// The mark waiting for the interval to end.
    pending: Option<(UserIdentity, i64)>,
}

impl ReadThrottle {
    /// When the pending mark may go.
    fn due(&self) -> Option<std::time::Instant> {
        self.pending.as_ref()?;
        Some(self.sent_at? + RECEIPT_INTERVAL)
    }
}

struct ChatConn<'a> {
    app: &'a App,
    conn: ConnId,
    outbox: Outbox,
    /// The session this connection went online in, and its actor.
    bound: Option<(SessionId, SessionHandle)>,
    /// The socket's read guards, disarmed once online.
    guard: Arc<Guard>,
    /// Handed to [`Logins::watch`](crate::logins::Logins::watch) to hear of the login's end.
    tell: async_channel::Sender<()>,
    /// The registration with the login of the token that went online.
    watch: Option<Watch>,
    /// Read marks held back (see [`ReadThrottle`]).
    reads: ReadThrottle,
}

impl ChatConn<'_> {
    async fn read_loop(&mut self, mut stream: Stream, ended: async_channel::Receiver<()>) {
        let max_text_frame = self.app.config().max_text.saturating_add(TEXT_FRAME_ROOM);
        loop {
            let due = self.reads.due();
            let next = async { next_frame(&mut stream).await.map(Some) }
                .or(async { Err(login_ended(&ended).await) })
                .or(async {
                    match due {
                        Some(at) => {
                            runtime::Timer::at(at).await;
                            Ok(None)
                        }
                        None => std::future::pending().await,
                    }
                });
            let outcome = match next.await {
                Ok(None) => {
                    self.flush_read().await;
                    Ok(())
                }
                // Refused before parsing: a text frame has no business being larger.
                Ok(Some(Message::Text(text))) if text.len() > max_text_frame => {
                    Err(ReadEnd::TooBig)
                }
                // Boxed: each path's state is large and lives only while one message is
                // handled; an idle connection's task need not reserve room for them.
                Ok(Some(Message::Text(text))) => Box::pin(self.on_text(&text)).await,
                Ok(Some(Message::Binary(bytes))) => Box::pin(self.on_binary(&bytes)).await,
                Ok(Some(_)) => Ok(()),
                Err(end) => Err(end),
            };
            if let Err(end) = outcome {
                return end_reading(&self.outbox, end).await;
            }
        }
    }

    /// Counts one `action` of `cost` by `who`: `Ok(Err(reason))` is a refusal to send back,
    /// `Err` ends a connection that keeps going far over the limit.
    fn limit(
        &self,
        action: Action,
        who: &UserIdentity,
        cost: u64,
    ) -> Result<Result<(), String>, ReadEnd> {
        match self.app.limiter.by_user(action, &who.uid, cost) {
            Ok(()) => Ok(Ok(())),
            Err(refused)
                if u64::from(refused.strikes) > self.app.config().limits.cutoff(action) =>
            {
                tracing::debug!(uid = %who.uid, ?action, "closed: far over a rate limit");
                Err(ReadEnd::RateLimited)
            }
            Err(refused) => Ok(Err(format!(
                "rate limit: too many {}, retry in {} ms",
                match action {
                    Action::Text => "messages",
                    _ => "uploads",
                },
                refused.retry_after.as_millis().max(1)
            ))),
        }
    }

    async fn reject(&self, content: &str) {
        let down = ChatDown::reject(content, self.app.timestr(now_ms()));
        // If the outbox is closed the connection is ending anyway.
        let _ = self
            .outbox
            .send(Outbound::Frame(down.to_text().into()))
            .await;
    }

    /// Checks both tokens: the user token, and a session token issued to that same user.
    fn authorize(
        &self,
        user_token: &str,
        session_token: &str,
    ) -> Option<(UserIdentity, SessionId)> {
        let who = self.app.verify_user(user_token)?;
        let grant = self.app.tokens.verify_session(session_token)?;
        (grant.uid == who.uid).then_some((who, grant.sid))
    }

    /// The actor of the session this connection is online in, if `sid` is that session.
    fn bound_to(&self, sid: &SessionId) -> Result<SessionHandle, &'static str> {
        match &self.bound {
            Some((bound, handle)) if bound == sid => Ok(handle.clone()),
            Some(_) => Err("this connection belongs to another session"),
            None => Err("send online first"),
        }
    }

    /// An upload (§8.4): checked, stored (with a thumbnail for images), then posted as a
    /// `file` message, which every member receives once it is stored. A header that lies about
    /// the size or the image type stores nothing and gets a `reject` saying why.
    async fn on_binary(&mut self, frame: &[u8]) -> Result<(), ReadEnd> {
        match self.upload(frame).await {
            Ok(()) => Ok(()),
            Err(Refusal::Reject(reason)) => {
                self.reject(&reason).await;
                Ok(())
            }
            Err(Refusal::Close(end)) => Err(end),
        }
    }

    async fn upload(&mut self, frame: &[u8]) -> Result<(), Refusal> {
        let config = self.app.config();
        let upload = binary::decode(frame, config.max_ws_message)
            .map_err(|e| format!("invalid file message: {e}"))?;
        let header = &upload.header;
        let (who, sid) = self
            .authorize(&header.user_token, &header.session_token)
            .ok_or_else(|| REJECT_TEXT.to_owned())?;
        let handle = self.bound_to(&sid).map_err(str::to_owned)?;
        let size = upload.payload.len();
        if size > config.max_file {
            return Err(format!(
                "file too large: {size} bytes, the limit is {} bytes",
                config.max_file
            )
            .into());
        }
        if size == 0 {
            return Err("file is empty".to_owned().into());
        }
        self.limit(Action::Upload, &who, 1)
            .map_err(Refusal::Close)?
            .map_err(Refusal::Reject)?;
        self.limit(Action::UploadBytes, &who, size as u64)
            .map_err(Refusal::Close)?
            .map_err(Refusal::Reject)?;
        let file_name = clean_field(
            header.file_name.as_deref().unwrap_or_default(),
            MAX_FILE_NAME,
        );
        let file_type = clean_field(&header.file_type, MAX_FILE_TYPE);
        let thumbid = if thumbnail::is_thumbnailable(&file_type) {
            let png = self
                .app
                .thumbnail(upload.payload.to_vec())
                .await
                .map_err(|e| format!("file is not a usable {file_type}: {}", e.client_message()))?;
            Some(
                self.store_file(
                    &who,
                    format!("{file_name}.thumb.png"),
                    "image/png".to_owned(),
                    png,
                )
                .await?,
            )
        } else {
            None
        };
        let fileid = self
            .store_file(
                &who,
                file_name.clone(),
                file_type.clone(),
                upload.payload.to_vec(),
            )
            .await?;
        handle
            .post(
                self.conn,
                &who,
                Post::File {
                    file_name,
                    file_type,
                    fileid,
                    thumbid,
                    reply_to: header.reply_to,
                },
            )
            .await
            .map_err(|e| e.client_message())?;
        Ok(())
    }

    async fn store_file(
        &self,
        who: &UserIdentity,
        file_name: String,
        file_type: String,
        bytes: Vec<u8>,
    ) -> Result<FileId, String> {
        let file = NewFile {
            id: FileId::from_random(rand::random()),
            file_name,
            file_type,
            owner: FileOwner::User(who.uid.clone()),
            dateline: now_ms(),
            bytes,
        };
        match self.app.store().put_file(file).await {
            Ok(meta) => Ok(meta.id),
            Err(e) => Err(Error::from(e).client_message()),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), ReadEnd> {
        let up = match ChatUp::from_text(text) {
            Ok(up) => up,
            Err(_) => {
                self.reject("malformed message: expected a JSON object")
                    .await;
                return Ok(());
            }
        };
        let Some((who, sid)) = self.authorize(&up.user_token, &up.session_token) else {
            self.reject(REJECT_TEXT).await;
            return Ok(());
        };
        if let Some((bound, _)) = &self.bound
            && bound != &sid
        {
            self.reject("this connection belongs to another session")
                .await;
            return Ok(());
        }
        match up.kind {
            UpKind::Online => {
                let wants = Wants {
                    after: up.after,
                    ext: up.ext,
                };
                self.online(who, sid, wants).await;
            }
            UpKind::Typing => match &self.bound {
                Some((_, handle)) => handle.typing(&who),
                None => self.reject("send online first").await,
            },
            UpKind::Read => match (&self.bound, up.seq) {
                (Some(_), Some(seq)) => self.read(who, seq).await,
                (None, _) => self.reject("send online first").await,
                (_, None) => self.reject("read needs a seq (0 or more)").await,
            },
            UpKind::Text => {
                if let Err(reason) = self.limit(Action::Text, &who, 1)? {
                    self.reject(&reason).await;
                    return Ok(());
                }
                self.text(who, up.content, up.client_id, up.reply_to).await
            }
            UpKind::Other(kind) => self.reject(&format!("unsupported msgType {kind:?}")).await,
        }
        Ok(())
    }

    /// A read mark: forwarded now, or held until this connection's [`RECEIPT_INTERVAL`] ends
    /// (a later mark replaces a held one it passes).
    async fn read(&mut self, who: UserIdentity, seq: i64) {
        let now = std::time::Instant::now();
        let open = self
            .reads
            .sent_at
            .is_none_or(|at| now >= at + RECEIPT_INTERVAL);
        let held = self.reads.pending.as_ref().map_or(-1, |(_, s)| *s);
        self.reads.pending = Some((who, seq.max(held)));
        if open {
            self.flush_read().await;
        }
    }

    /// Forwards the held read mark, if any.
    async fn flush_read(&mut self) {
        let (Some((_, handle)), Some((who, seq))) = (&self.bound, self.reads.pending.take()) else {
            return;
        };
        self.reads.sent_at = Some(std::time::Instant::now());
        handle.read_up(&who, seq).await;
    }

    async fn online(&mut self, who: UserIdentity, sid: SessionId, wants: Wants) {
        if self.bound.is_some() {
            return; // Already online in this session.
        }
        // Registered with its login first: a login ending from here on closes the socket (a
        // token of an ended login was already refused by `authorize`).
        let Some(watch) = self
            .app
            .logins
            .watch(&who.login, self.conn, self.tell.clone())
        else {
            return self.reject(REJECT_TEXT).await;
        };
        let joined = match self
            .app
            .registry
            .online(&sid, self.conn, &who, &self.outbox, wants)
            .await
        {
            Ok(joined) => joined,
            Err(e) => return self.reject(&e.client_message()).await,
        };
        let handle = joined.handle.clone();
        self.bound = Some((sid.clone(), joined.handle));
        self.watch = Some(watch);
        authenticated(&self.guard);
        let Some(after) = wants.after else { return };
        match self.catch_up(&sid, after, joined.watermark).await {
            Ok(()) => handle.caught_up(self.conn).await,
            Err(CatchUp::Ended) => {}
            Err(CatchUp::Store(reason)) => {
                // Without what it missed the client would have a gap: refuse, and close so it
                // resumes again later.
                self.reject(&reason).await;
                let _ = self
                    .outbox
                    .send(Outbound::Close(
                        CloseCode::Again,
                        "resume failed, try again",
                    ))
                    .await;
            }
        }
    }

    /// Sends a resuming client the stored messages after `after` up to `watermark` (what the
    /// session actor delivers live starts after it), with their `seq`, oldest first. Waits
    /// on this connection's own outbox, so a slow client only slows itself.
    async fn catch_up(
        &self,
        sid: &SessionId,
        mut after: i64,
        watermark: i64,
    ) -> Result<(), CatchUp> {
        let store = self.app.store();
        while after < watermark {
            let page = store
                .messages_after(sid, after, CATCH_UP_PAGE)
                .await
                .map_err(|e| CatchUp::Store(Error::from(e).client_message()))?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            let mut uids: Vec<_> = page.iter().map(|m| m.uid.clone()).collect();
            uids.sort();
            uids.dedup();
            let users = self
                .app
                .users_by_id(&uids)
                .await
                .map_err(|e| CatchUp::Store(e.client_message()))?;
            let mut replies = replies_of(store.as_ref(), sid, &page)
                .await
                .map_err(|e| CatchUp::Store(e.client_message()))?;
            for message in page.iter().filter(|m| m.seq <= watermark) {
                let user = users.get(&message.uid);
                let sender = Sender {
                    uid: message.uid.to_string(),
                    nickname: user.map(|u| u.nickname.clone()).unwrap_or_default(),
                    avatar: user.map(|u| u.avatar.to_string()).unwrap_or_default(),
                };
                let down = message_down(message, sender, self.app.timestr(message.dateline));
                let reply = replies.remove(&message.seq);
                let frame = down.to_text_with_seq(
                    message.seq,
                    message.client_id.as_deref(),
                    reply.as_ref(),
                );
                if self
                    .outbox
                    .send(Outbound::Frame(frame.into()))
                    .await
                    .is_err()
                {
                    return Err(CatchUp::Ended);
                }
            }
            after = last;
        }
        Ok(())
    }

    async fn text(
        &mut self,
        who: UserIdentity,
        content: String,
        client_id: Option<String>,
        reply_to: Option<i64>,
    ) {
        let Some((_, handle)) = &self.bound else {
            return self.reject("send online first").await;
        };
        let content = content.trim();
        if content.is_empty() {
            return self.reject("message is empty").await;
        }
        let limit = self.app.config().max_text;
        if content.len() > limit {
            return self
                .reject(&format!("message too long: the limit is {limit} bytes"))
                .await;
        }
        if let Some(id) = &client_id
            && !valid_client_id(id)
        {
            return self
                .reject(&format!(
                    "clientId must be 1 to {MAX_CLIENT_ID} printable characters"
                ))
                .await;
        }
        let handle = handle.clone();
        let post = Post::Text {
            content: content.to_owned(),
            client_id,
            reply_to,
        };
        if let Err(e) = handle.post(self.conn, &who, post).await {
            self.reject(&e.client_message()).await;
        }
    }
}

/// Why an upload was not taken: a reason for the client, or the end of a connection that
/// keeps going far over its limits.
enum Refusal {
    Reject(String),
    Close(ReadEnd),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal::Reject(reason)
    }
}

/// Longest stored file name, in characters.
const MAX_FILE_NAME: usize = 255;
/// Longest stored content type, in characters.
const MAX_FILE_TYPE: usize = 127;

/// Why a resuming connection could not be caught up.
enum CatchUp {
    /// The connection is ending.
    Ended,
    /// The store failed; the text says why.
    Store(String),
}

/// Stored messages read at a time when catching a resuming client up.
const CATCH_UP_PAGE: u32 = 200;

/// Longest `clientId`, in characters: room for a UUID or a 128-bit id in any common encoding.
const MAX_CLIENT_ID: usize = 64;

/// A client id is 1 to [`MAX_CLIENT_ID`] characters, none a control character.
fn valid_client_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_CLIENT_ID && !id.chars().any(char::is_control)
}

/// A header string as stored: control characters dropped, cut to `max` characters.
fn clean_field(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}
