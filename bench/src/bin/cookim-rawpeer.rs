//! `cookim-rawpeer`: the ceiling the benchmarks compare against. A minimal broadcast chat on
//! async-tungstenite and a multi-threaded smol executor: no authentication, no store, no
//! presence. `GET /ws?user=<name>&rooms=<a,b>` joins rooms; a text frame
//! `{"room":"a","content":"..."}` goes to every connection in room `a`, the sender included,
//! as `{"room":"a","from":"<name>","content":"..."}`. Each connection has an outbox drained
//! by its own writer (unbounded and allocated on first use, as a minimal server would write
//! it), and 4 KiB read buffers, so idle connections cost what the libraries need and no more.
//!
//! ```text
//! cookim-rawpeer [port]      # prints `listening <port>`
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

type Outbox = async_channel::Sender<Utf8Bytes>;

/// One executor, run by every core.
static EXECUTOR: async_executor::Executor<'static> = async_executor::Executor::new();

#[derive(Default)]
struct Rooms {
    next_id: std::sync::atomic::AtomicU64,
    members: RwLock<HashMap<String, HashMap<u64, Outbox>>>,
}

#[derive(Deserialize)]
struct Up {
    room: String,
    content: String,
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (stop, shutdown) = async_channel::bounded::<()>(1);
    for _ in 1..threads {
        let shutdown = shutdown.clone();
        std::thread::spawn(move || smol::block_on(EXECUTOR.run(shutdown.recv())));
    }
    let rooms = Arc::new(Rooms::default());
    let result = smol::block_on(EXECUTOR.run(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        report(listener.local_addr()?.port());
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            EXECUTOR.spawn(serve(stream, rooms.clone())).detach();
        }
    }));
    drop(stop);
    result
}

#[expect(clippy::print_stdout, reason = "the port is the program's output")]
fn report(port: u16) {
    println!("listening {port}");
}

async fn serve(stream: TcpStream, rooms: Arc<Rooms>) {
    let mut query = String::new();
    #[expect(
        clippy::result_large_err,
        reason = "the signature tungstenite's handshake callback has"
    )]
    let callback = |request: &Request, response: Response| {
        query = request.uri().query().unwrap_or_default().to_owned();
        Ok(response)
    };
    let config = async_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let Ok(socket) =
        async_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let mut user = String::new();
    let mut joined = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "user" => user = value.into_owned(),
            "rooms" => joined.extend(
                value
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    let id = rooms
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (outbox, queue) = async_channel::unbounded::<Utf8Bytes>();
    if let Ok(mut members) = rooms.members.write() {
        for room in &joined {
            members
                .entry(room.clone())
                .or_default()
                .insert(id, outbox.clone());
        }
    }
    let (mut sink, mut stream) = socket.split();
    let writer = EXECUTOR.spawn(async move {
        while let Ok(text) = queue.recv().await {
            if sink.feed(Message::Text(text)).await.is_err() {
                return;
            }
            // Batch what is already queued into one flush.
            while let Ok(text) = queue.try_recv() {
                if sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(up) = serde_json::from_str::<Up>(&text) else {
            let _ = outbox.try_send(Utf8Bytes::from_static(r#"{"error":"bad message"}"#));
            continue;
        };
        let frame: Utf8Bytes =
            serde_json::json!({"room": up.room, "from": user, "content": up.content})
                .to_string()
                .into();
        let targets: Vec<Outbox> = rooms
            .members
            .read()
            .map(|m| {
                m.get(&up.room)
                    .map(|r| r.values().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        for target in targets {
            let _ = target.try_send(frame.clone());
        }
    }
    if let Ok(mut members) = rooms.members.write() {
        for room in &joined {
            if let Some(r) = members.get_mut(room) {
                r.remove(&id);
                if r.is_empty() {
                    members.remove(room);
                }
            }
        }
    }
    drop(outbox);
    writer.cancel().await;
}
