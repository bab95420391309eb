//! `/ws-push` (§9): one subscribe message, then every stored event of every chat the user is a
//! member of, as memberships are now (subscriptions follow joins and leaves).

use std::sync::Arc;

use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use http_types::upgrade::Connection;
use protocol::chat::Sender;
use protocol::ids::UserId;
use protocol::push::{PushDown, PushUp};
use runtime::Shutdown;

use super::{
    Stream, authenticated, end_reading, login_ended, next_frame, race, websocket, write_loop,
};
use crate::app::App;
use crate::clock::now_ms;
use crate::guard::Guard;
use crate::logins::Watch;
use crate::outbox::{ConnId, Outbound, Outbox};

/// Serves one `/ws-push` connection until it closes. It must subscribe within
/// `auth_timeout` (the server armed `guard` for that), and closes when its login ends.
pub(crate) async fn serve(app: &App, conn: Connection, guard: Arc<Guard>, shutdown: Shutdown) {
    let config = app.config();
    let (sink, stream) = websocket(conn, config, super::Kind::Push).await.split();
    let (outbox, inbox) = runtime::mailbox(config.outbox_capacity);
    let offset = config.utc_offset_secs;
    let (tell, ended) = async_channel::bounded(1);
    let mut push = PushConn {
        app,
        conn: ConnId::next(),
        outbox,
        subscribed: None,
        guard,
        tell,
        watch: None,
    };
    let keepalive =
        move || PushDown::keepalive(protocol::time::timestr(now_ms(), offset)).to_text();
    race(
        push.read_loop(stream, ended),
        write_loop(sink, inbox, config, &shutdown, keepalive),
    )
    .await;
    if let Some(uid) = push.subscribed.take() {
        app.registry.unsubscribe_push(&uid, push.conn).await;
    }
}

struct PushConn<'a> {
    app: &'a App,
    conn: ConnId,
    outbox: Outbox,
    subscribed: Option<UserId>,
    /// The socket's read guards, disarmed once subscribed.
    guard: Arc<Guard>,
    /// Handed to [`Logins::watch`](crate::logins::Logins::watch) to hear of the login's end.
    tell: async_channel::Sender<()>,
    /// The registration with the subscribing token's login.
    watch: Option<Watch>,
}

impl PushConn<'_> {
    async fn read_loop(&mut self, mut stream: Stream, ended: async_channel::Receiver<()>) {
        loop {
            let next = next_frame(&mut stream).or(async { Err(login_ended(&ended).await) });
            match next.await {
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
        let Some(who) = self.app.verify_user(&up.user_token) else {
            return self.reject().await;
        };
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
        // Registered with its login first: a login ending from here on closes the socket.
        let Some(watch) = self
            .app
            .logins
            .watch(&who.login, self.conn, self.tell.clone())
        else {
            return self.reject().await;
        };
        // The registry queues the accept as it registers the connection, so the accept comes
        // before every push and nothing stored after the client saw it is missed.
        match self
            .app
            .registry
            .subscribe_push(&who.uid, self.conn, &self.outbox, accept.to_text().into())
            .await
        {
            Ok(()) => {
                self.watch = Some(watch);
                authenticated(&self.guard);
                self.subscribed = Some(who.uid);
            }
            Err(_) => self.reject().await,
        }
    }
}
