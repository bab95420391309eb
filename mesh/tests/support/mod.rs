//! What the mesh integration tests share: real nodes on loopback, port 0, one cluster key.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use cookim_mesh::config::MeshConfig;
use cookim_mesh::envelope::{Envelope, PushTarget};
use cookim_mesh::node::MemberState;
use cookim_mesh::subscriptions::Topic;
use cookim_mesh::{ClusterSecret, Delivery, Mesh, MeshInfo};
use protocol::chat::ChatKind;
use protocol::ids::{SessionId, UserId};
use runtime::{Inbox, Runtime, ShutdownTrigger};

pub type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The token secret the test clusters share.
pub const TOKEN_SECRET: &[u8] = b"the token secret of the test cluster";

/// The cluster key of the test clusters, derived as cookim derives it.
pub fn secret() -> Result<ClusterSecret> {
    Ok(ClusterSecret::derive_from_token_secret(TOKEN_SECRET)?)
}

/// Bounds every wait; a passing run never comes close.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct TestNode {
    pub mesh: Mesh,
    pub deliveries: Inbox<Delivery>,
    stop: Option<ShutdownTrigger>,
}

impl TestNode {
    pub async fn start(runtime: &Runtime, seeds: &[&TestNode]) -> Result<TestNode> {
        TestNode::start_with(runtime, seeds, |_| {}).await
    }

    /// A node with its configuration changed by `tune`.
    pub async fn start_with(
        runtime: &Runtime,
        seeds: &[&TestNode],
        tune: impl FnOnce(&mut MeshConfig),
    ) -> Result<TestNode> {
        let seeds = seeds
            .iter()
            .map(|n| n.mesh.id().addr().to_owned())
            .collect();
        let mut config = MeshConfig::new("127.0.0.1:0".parse()?, "", seeds, secret()?);
        tune(&mut config);
        let (trigger, shutdown) = runtime::shutdown();
        let (mesh, deliveries) = Mesh::start(config, &runtime.spawner(), shutdown).await?;
        Ok(TestNode {
            mesh,
            deliveries,
            stop: Some(trigger),
        })
    }

    /// Waits until this node knows another has subscribers for `topic`.
    pub async fn learns_subscribers(&self, topic: Topic) -> Result {
        until(
            &format!("{} to learn of subscribers for {topic:?}", self.mesh.id()),
            || async { Ok(!self.mesh.nodes_for(topic.clone()).await?.is_empty()) },
        )
        .await
    }

    pub async fn info(&self) -> Result<MeshInfo> {
        Ok(self.mesh.info().await?)
    }

    /// The next envelope delivered here (links opening and closing skipped).
    pub async fn next(&mut self, what: &str) -> Result<Envelope> {
        loop {
            match runtime::deadline(WAIT, self.deliveries.recv()).await {
                Ok(Some(Delivery::Envelope(envelope))) => return Ok(*envelope),
                Ok(Some(Delivery::Resync)) => {}
                Ok(None) => return Err(format!("{what}: the node stopped").into()),
                Err(_) => return Err(format!("{what}: nothing arrived within {WAIT:?}").into()),
            }
        }
    }

    pub async fn stop(&mut self) -> Result {
        if let Some(trigger) = self.stop.take() {
            trigger.wait_done(WAIT).await?;
        }
        Ok(())
    }
}

/// Polls `check` until it holds; the deadline names what never happened.
pub async fn until<F, Fut>(what: &str, mut check: F) -> Result
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        runtime::sleep(Duration::from_millis(10)).await;
    }
}

pub fn alive(info: &MeshInfo) -> usize {
    info.members
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .count()
}

pub fn envelope(sid: &SessionId, seq: i64, content: &str, push_to: Vec<PushTarget>) -> Envelope {
    Envelope {
        session_id: sid.clone(),
        seq,
        kind: ChatKind::Text,
        uid: "a".repeat(24),
        nickname: "alice".into(),
        avatar: String::new(),
        content: content.into(),
        file_name: String::new(),
        file_type: String::new(),
        fileid: String::new(),
        thumbid: String::new(),
        dateline: "2026-11-30 08:00:00".into(),
        mark: 0,
        reply: None,
        to_chat: true,
        push_to,
    }
}

pub fn target(uid: &UserId) -> PushTarget {
    PushTarget {
        uid: uid.clone(),
        session_name: "group".into(),
        session_icon: String::new(),
    }
}

/// Reads one link handshake message, as a hand-written peer.
pub async fn read_handshake(
    stream: &mut async_net::TcpStream,
    buf: &mut Vec<u8>,
) -> Result<cookim_mesh::link::Handshake> {
    use futures_lite::AsyncReadExt;
    loop {
        if let Some((message, used)) = cookim_mesh::link::decode_handshake(buf)? {
            buf.drain(..used);
            return Ok(message);
        }
        let mut chunk = [0u8; 512];
        let n = match runtime::deadline(WAIT, stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => return Err("no handshake message in time".into()),
        };
        if n == 0 {
            return Err("closed in the handshake".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Plays the dialer's side of a link handshake by hand, as the run `me` holding `key`.
/// Returns the acceptor's run and whether it answered with a proof that holds under `key`
/// (`false` too if it closed the connection instead).
pub async fn dial_by_hand(
    stream: &mut async_net::TcpStream,
    me: &cookim_mesh::identity::NodeId,
    key: &ClusterSecret,
) -> Result<(cookim_mesh::identity::NodeId, bool)> {
    use cookim_mesh::auth::{LinkTranscript, Role};
    use cookim_mesh::link::{Handshake, encode_handshake};
    use futures_lite::AsyncWriteExt;
    let mut buf = Vec::new();
    let Handshake::Challenge {
        acceptor,
        nonce: nonce_a,
    } = read_handshake(stream, &mut buf).await?
    else {
        return Err("expected a challenge".into());
    };
    let nonce_d = [7; 32];
    let transcript = LinkTranscript {
        dialer: me,
        acceptor: &acceptor,
        nonce_a: &nonce_a,
        nonce_d: &nonce_d,
    };
    let proof = Handshake::Proof {
        dialer: me.clone(),
        nonce: nonce_d,
        proof: transcript.proof(key, Role::Dialer),
    };
    stream.write_all(&encode_handshake(&proof)?).await?;
    let held = match read_handshake(stream, &mut buf).await {
        Ok(Handshake::Accept { proof }) => transcript.verify(key, Role::Acceptor, &proof),
        Ok(_) | Err(_) => false,
    };
    Ok((acceptor, held))
}

/// Waits until the peer closes `stream` (end of stream or a reset), reading and dropping
/// whatever it still sends.
pub async fn closed_by_peer(stream: &mut async_net::TcpStream, what: &str) -> Result {
    use futures_lite::AsyncReadExt;
    let mut chunk = [0u8; 512];
    loop {
        match runtime::deadline(WAIT, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            Ok(Ok(_)) => {}
            Err(_) => return Err(format!("{what} was not closed within {WAIT:?}").into()),
        }
    }
}
