//! The store contract (`support/contract/`) run against the embedded backend, one fresh
//! database per check, plus what only the embedded backend promises: data survives a reopen,
//! and identical uploads are one file on disk.
//!
//! A MongoDB backend gets its own `tests/mongo.rs` doing the same: `mod support;`, then
//! `for_each_check!` with a wrapper that connects to a test database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;

use cookim_store::model::*;
use cookim_store::{Embedded, Result, Store};
use protocol::ids::{FileId, MessageId, NotificationId, SessionId, UserId};
use support::contract::{self, for_each_check};

/// Runs `check` on a new embedded store in a temporary directory.
fn on_fresh_store<F>(check: impl FnOnce(Embedded) -> F) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        check(store).await
    })
}

macro_rules! embedded_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() -> Result<()> {
                on_fresh_store(|store| async move { contract::$check(&store).await })
            }
        )*
    };
}
for_each_check!(embedded_checks);

/// The checks do not depend on an empty store or on each other.
#[test]
fn all_checks_in_turn_on_one_store() -> Result<()> {
    on_fresh_store(|store| async move { contract::run_all(&store).await })
}

/// Every regular file under `dir` that is not the database or its journal.
fn stored_bytes_on_disk(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(next)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else if !entry.file_name().to_string_lossy().starts_with("cookim.db") {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

#[test]
fn identical_uploads_are_one_file_on_disk() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Embedded::open(dir.path()).await?;
        let owner = UserId::from_random([1; 12]);
        let bytes: Vec<u8> = (0..30_000).map(|_| rand::random::<u8>()).collect();
        let mut ids = Vec::new();
        for n in 0..3 {
            let id = FileId::from_random(rand::random());
            store
                .put_file(NewFile {
                    id: id.clone(),
                    file_name: format!("copy {n}.bin"),
                    file_type: String::new(),
                    owner: FileOwner::User(owner.clone()),
                    dateline: n,
                    bytes: bytes.clone(),
                })
                .await?;
            ids.push(id);
        }
        let on_disk = stored_bytes_on_disk(dir.path())?;
        assert_eq!(on_disk.len(), 1, "{on_disk:?}");
        assert_eq!(std::fs::read(&on_disk[0])?, bytes);
        for id in &ids {
            assert_eq!(store.file(id).await?.map(|(_, b)| b), Some(bytes.clone()));
        }
        Ok(())
    })
}

#[test]
fn everything_survives_a_reopen() -> Result<()> {
    smol::block_on(async {
        let dir = tempfile::tempdir()?;
        let (a, b) = (UserId::from_random([1; 12]), UserId::from_random([2; 12]));
        let session = SessionId::from_random([3; 12]);
        let file = FileId::from_random([4; 16]);
        let avatar = FileId::from_random([5; 16]);
        let user = |id: &UserId, login: &str| NewUser {
            id: id.clone(),
            login: login.to_owned(),
            nickname: login.to_owned(),
            password_hash: "hash".to_owned(),
            gender: Gender::Girl,
            avatar: avatar.clone(),
            dateline: 1,
        };
        let message = |n: u8| NewMessage {
            id: MessageId::from_random([n; 12]),
            session_id: session.clone(),
            uid: a.clone(),
            msg_type: protocol::chat::ChatKind::Text,
            content: format!("message {n}"),
            file_name: String::new(),
            file_type: String::new(),
            fileid: None,
            thumbid: None,
            dateline: 100 + i64::from(n),
            client_id: Some(format!("c{n}")),
            reply_to: None,
        };
        let notification = Notification {
            id: NotificationId::from_random([6; 12]),
            notice_type: NoticeType::JoinFriend,
            senduid: a.clone(),
            recvuid: b.clone(),
            session_id: None,
            is_read: false,
            dateline: 50,
        };

        let before = {
            let store = Embedded::open(dir.path()).await?;
            store.create_user(user(&a, "a@example.com")).await?;
            store.create_user(user(&b, "b@example.com")).await?;
            store.record_login(&a, 10).await?;
            store.add_friend(&a, &b, 20).await?;
            store
                .create_session(NewSession {
                    id: session.clone(),
                    createuid: a.clone(),
                    ouid: None,
                    name: "kept".to_owned(),
                    icon: None,
                    session_type: SessionType::Group,
                    public: true,
                    dateline: 30,
                })
                .await?;
            store
                .join(
                    MembershipChange {
                        message_id: MessageId::from_random([7; 12]),
                        session_id: session.clone(),
                        uid: b.clone(),
                        content: "b join session kept".to_owned(),
                        dateline: 40,
                    },
                    &HashSet::new(),
                )
                .await?;
            store.append(message(8), &HashSet::new()).await?;
            store.notify(notification.clone()).await?;
            store
                .put_file(NewFile {
                    id: file.clone(),
                    file_name: "f.bin".to_owned(),
                    file_type: String::new(),
                    owner: FileOwner::User(a.clone()),
                    dateline: 60,
                    bytes: vec![0, 1, 2, 255],
                })
                .await?;
            store
                .put_file(NewFile {
                    id: avatar.clone(),
                    file_name: "girl.jpg".to_owned(),
                    file_type: "image/jpeg".to_owned(),
                    owner: FileOwner::DefaultAvatar(AvatarKind::Girl),
                    dateline: 0,
                    bytes: b"jpeg".to_vec(),
                })
                .await?;
            store.flush().await?;
            (
                store.users(&[a.clone(), b.clone()]).await?,
                store.joined_sessions(&b).await?,
                store.messages_after(&session, 0, 10).await?,
            )
            // The store is dropped here, closing the database.
        };

        let store = Embedded::open(dir.path()).await?;
        assert_eq!(store.users(&[a.clone(), b.clone()]).await?, before.0);
        assert_eq!(store.user(&a).await?.expect("kept").login_count, 1);
        assert!(store.recently_active(10).await?.contains(&a));
        assert!(store.is_friend(&a, &b).await?);
        assert_eq!(store.joined_sessions(&b).await?, before.1);
        assert_eq!(store.joined_sessions(&b).await?[0].new_count, 2);
        assert_eq!(store.messages_after(&session, 0, 10).await?, before.2);
        assert_eq!(store.unread_notifications(&b).await?, 1);
        assert_eq!(
            store.take_notifications(&b, 1, 10).await?,
            vec![notification]
        );
        assert_eq!(
            store.file(&file).await?.map(|(_, bytes)| bytes),
            Some(vec![0, 1, 2, 255])
        );
        assert_eq!(store.default_avatar(AvatarKind::Girl).await?, Some(avatar));

        // Sequence numbers and client ids carry on where they stopped.
        assert_eq!(store.append(message(9), &HashSet::new()).await?.seq, 3);
        assert_eq!(
            store.append(message(8), &HashSet::new()).await?,
            before.2[1],
            "client id still known"
        );
        Ok(())
    })
}

/// One embedded store moved into another through a dump.
#[test]
fn a_dump_moves_everything() -> Result<()> {
    on_fresh_store(|from| async move {
        let dir = tempfile::tempdir()?;
        let to = Embedded::open(dir.path()).await?;
        contract::a_dump_moves_everything(&from, &to).await
    })
}

#[test]
fn a_bad_dump_is_refused() -> Result<()> {
    on_fresh_store(|store| async move { contract::a_bad_dump_is_refused(&store).await })
}
