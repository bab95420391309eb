//! `/ws-chat` (§8): one chat per connection. Every up message carries both tokens and is
//! checked; the first `online` binds the connection to its session after a membership check;
//! text is acknowledged only by its echo, which comes after it is stored.

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use http_types::upgrade::Connection;
use protocol::chat::{ChatDown, ChatUp, REJECT_TEXT, UpKind};
use protocol::ids::SessionId;
use runtime::Shutdown;

use super::{ReadEnd, Stream, finish_with, next_frame, race, websocket, write_loop};
use crate::auth::UserIdentity;
use crate::clock::now_ms;
use crate::error::Error;
use crate::outbox::{ConnId, Outbound, Outbox};
use crate::routes::App;
use crate::session::SessionHandle;

/// Serves one `/ws-chat` connection until it closes.
pub(crate) async fn serve(app: &App, conn: Connection, shutdown: Shutdown) {
    let config = app.config().clone();
    let (sink, stream) = websocket(conn, &config).await.split();
    let (outbox, inbox) = runtime::mailbox(config.outbox_capacity);
    let offset = config.utc_offset_secs;
    let mut chat = ChatConn {
        app,
        conn: ConnId::next(),
        outbox: outbox.clone(),
        bound: None,
    };
    let keepalive =
        move || ChatDown::keepalive(protocol::time::timestr(now_ms(), offset)).to_text();
    race(
        chat.read_loop(stream),
        write_loop(sink, inbox, &config, &shutdown, keepalive),
    )
    .await;
    if let Some((_, handle)) = chat.bound.take() {
        handle.offline(chat.conn).await;
    }
}

struct ChatConn<'a> {
    app: &'a App,
    conn: ConnId,
    outbox: Outbox,
    /// The session this connection went online in, and its actor.
    bound: Option<(SessionId, SessionHandle)>,
}

impl ChatConn<'_> {
    async fn read_loop(&mut self, mut stream: Stream) {
        loop {
            match next_frame(&mut stream).await {
                Ok(Message::Text(text)) => self.on_text(&text).await,
                Ok(Message::Binary(_)) => {
                    self.reject("file messages are not supported by this server yet")
                        .await;
                }
                Ok(_) => {}
                Err(ReadEnd::Closed) => return,
                Err(ReadEnd::PeerClosed) => {
                    return finish_with(&self.outbox, Outbound::Finish).await;
                }
                Err(ReadEnd::TooBig) => {
                    return finish_with(
                        &self.outbox,
                        Outbound::Close(CloseCode::Size, "message too big"),
                    )
                    .await;
                }
            }
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
    fn authorize(&self, up: &ChatUp) -> Option<(UserIdentity, SessionId)> {
        let who = self.app.tokens.verify_user(&up.user_token)?;
        let grant = self.app.tokens.verify_session(&up.session_token)?;
        (grant.uid == who.uid).then_some((who, grant.sid))
    }

    async fn on_text(&mut self, text: &str) {
        let up = match ChatUp::from_text(text) {
            Ok(up) => up,
            Err(_) => {
                return self
                    .reject("malformed message: expected a JSON object")
                    .await;
            }
        };
        let Some((who, sid)) = self.authorize(&up) else {
            return self.reject(REJECT_TEXT).await;
        };
        if let Some((bound, _)) = &self.bound
            && bound != &sid
        {
            return self
                .reject("this connection belongs to another session")
                .await;
        }
        match up.kind {
            UpKind::Online => self.online(who, sid).await,
            UpKind::Text => self.text(who, up.content).await,
            UpKind::Other(kind) => {
                let kind: String = kind.chars().take(32).collect();
                self.reject(&format!("unsupported msgType {kind:?}")).await;
            }
        }
    }

    async fn online(&mut self, who: UserIdentity, sid: SessionId) {
        if self.bound.is_some() {
            return; // Already online in this session.
        }
        // Tokens issued before a logout or password change no longer open a chat.
        match self.app.store().user(&who.uid).await {
            Ok(Some(user)) if user.token_generation == who.generation => {}
            Ok(_) => return self.reject(REJECT_TEXT).await,
            Err(e) => return self.reject(&Error::from(e).client_message()).await,
        }
        match self
            .app
            .hub
            .online(&sid, self.conn, &who, &self.outbox)
            .await
        {
            Ok(handle) => self.bound = Some((sid, handle)),
            Err(e) => self.reject(&e.client_message()).await,
        }
    }

    async fn text(&mut self, who: UserIdentity, content: String) {
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
        let handle = handle.clone();
        if let Err(e) = handle.post(&who, content.to_owned()).await {
            self.reject(&e.client_message()).await;
        }
    }
}
