//! `/ws-push` (§9): one subscribe message, then every stored event of every chat the user is a
//! member of, as memberships are now (subscriptions follow joins and leaves).

use async_tungstenite::tungstenite::Message;
use http_types::upgrade::Connection;
use protocol::chat::Sender;
use protocol::ids::UserId;
use protocol::push::{PushDown, PushUp};
use runtime::Shutdown;

use super::{Stream, end_reading, next_frame, race, websocket, write_loop};
use crate::clock::now_ms;
use crate::outbox::{ConnId, Outbound, Outbox};
use crate::routes::App;

/// Serves one `/ws-push` connection until it closes.
pub(crate) async fn serve(app: &App, conn: Connection, shutdown: Shutdown) {
    let config = app.config();
    let (sink, stream) = websocket(conn, config, super::Kind::Push).await.split();
    let (outbox, inbox) = runtime::mailbox(config.outbox_capacity);
    let offset = config.utc_offset_secs;
    let mut push = PushConn {
        app,
        conn: ConnId::next(),
        outbox,
        subscribed: None,
    };
    let keepalive =
        move || PushDown::keepalive(protocol::time::timestr(now_ms(), offset)).to_text();
    race(
        push.read_loop(stream),
        write_loop(sink, inbox, config, &shutdown, keepalive),
    )
    .await;
    if let Some(uid) = push.subscribed.take() {
        app.hub.unsubscribe_push(&uid, push.conn).await;
    }
}

struct PushConn<'a> {
    app: &'a App,
    conn: ConnId,
    outbox: Outbox,
    subscribed: Option<UserId>,
}

impl PushConn<'_> {
    async fn read_loop(&mut self, mut stream: Stream) {
        loop {
            match next_frame(&mut stream).await {
                // Boxed: the subscribe path (store lookup, registry) is rare and large; the
                // idle connection's task need not reserve room for it.
                Ok(Message::Text(text)) => Box::pin(self.on_text(&text)).await,
                Ok(Message::Binary(_)) => self.reject().await,
                Ok(_) => {}
                Err(end) => return end_reading(&self.outbox, end).await,
            }
        }
    }

    async fn send(&self, down: PushDown) {
        let _ = self
            .outbox
            .send(Outbound::Frame(down.to_text().into()))
            .await;
    }

    async fn reject(&self) {
        self.send(PushDown::reject(self.app.timestr(now_ms())))
            .await;
    }

    async fn on_text(&mut self, text: &str) {
        let Ok(up) = PushUp::from_text(text) else {
            return self.reject().await;
        };
        let Some(who) = self.app.tokens.verify_user(&up.user_token) else {
            return self.reject().await;
        };
        match self.app.store().user(&who.uid).await {
            Ok(Some(user)) if user.token_generation == who.generation => {}
            _ => return self.reject().await,
        }
        if let Some(uid) = &self.subscribed
            && uid != &who.uid
        {
            return self.reject().await;
        }
        let sender = Sender {
            uid: who.uid.to_string(),
            nickname: who.nickname.clone(),
            avatar: who.avatar.to_string(),
        };
        let accept = PushDown::accept(sender, self.app.timestr(now_ms()));
        if self.subscribed.is_some() {
            // Already delivering to this connection: acknowledge again.
            return self.send(accept).await;
        }
        // The registry queues the accept as it registers the connection, so the accept comes
        // before every push and nothing stored after the client saw it is missed.
        match self
            .app
            .hub
            .subscribe_push(&who.uid, self.conn, &self.outbox, accept.to_text().into())
            .await
        {
            Ok(()) => self.subscribed = Some(who.uid),
            Err(_) => self.reject().await,
        }
    }
}
