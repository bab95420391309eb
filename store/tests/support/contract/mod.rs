//! The store contract: what every [`Store`] backend must do, written once over `&dyn Store`.
//!
//! Each check is an `async fn(&dyn Store) -> Result<()>`. Checks make their own users and
//! sessions with fresh random ids and look only at those, so they pass on a store that already
//! holds data (other checks', or a shared test database's) and compose: [`run_all`] runs every
//! check in turn on one store. The one exception is [`default_avatars_are_seeded_once`], which
//! needs a store where no default avatar has been seeded yet.
//!
//! A backend's test file includes this module (`mod support;`) and turns every check into a
//! `#[test]` with [`for_each_check!`]; `tests/contract.rs` does it for [`Embedded`], a future
//! `tests/mongo.rs` does the same against a MongoDB-compatible server.
//!
//! [`Embedded`]: cookim_store::Embedded

mod attempts;
mod dump;
mod files;
mod friends;
mod logins;
mod messages;
mod notifications;
mod search;
mod sessions;
mod users;

use std::collections::HashSet;
use std::future::Future;

use cookim_store::model::*;
use cookim_store::{Error, Result, Store};
use protocol::chat::ChatKind;
use protocol::ids::{FileId, LoginId, MessageId, NotificationId, SessionId, UserId};

pub(crate) use attempts::*;
pub(crate) use dump::*;
pub(crate) use files::*;
pub(crate) use friends::*;
pub(crate) use logins::*;
pub(crate) use messages::*;
pub(crate) use notifications::*;
pub(crate) use search::*;
pub(crate) use sessions::*;
pub(crate) use users::*;

/// Calls `$callback! { check_a, check_b, … }` with the name of every check, so a backend's
/// test file lists none of them by hand (and cannot forget one).
macro_rules! for_each_check {
    ($callback:ident) => {
        $callback! {
            users_are_created_and_found,
            a_duplicate_login_is_a_conflict,
            nickname_search_is_exact_and_oldest_first,
            logins_touches_and_logout_are_recorded,
            profile_updates_are_partial,
            password_replacement_is_compare_and_swap,
            friends_keep_their_order_and_refuse_duplicates,
            logins_are_created_found_and_listed,
            a_taken_login_id_is_a_conflict,
            ending_logins_touches_only_that_users_logins_in_use,
            ended_logins_are_polled_oldest_first,
            a_users_list_holds_the_most_recently_seen_logins,
            attempts_are_counted_per_key_and_window,
            concurrent_attempts_count_one_to_twenty,
            group_sessions_are_created_read_and_updated,
            private_session_is_one_per_pair,
            concurrent_private_sessions_agree,
            join_adds_a_member_once_with_a_join_message,
            leave_removes_a_member_with_a_leave_message,
            members_are_listed_in_join_order,
            appends_are_numbered_from_one,
            concurrent_appends_get_distinct_gap_free_seqs,
            unread_counts_skip_online_members,
            a_repeated_client_id_returns_the_first_message,
            history_pages_are_oldest_first,
            public_sessions_list_unjoined_public_groups,
            joined_sessions_carry_unread_counts,
            notifications_are_counted_and_taken_once,
            files_round_trip_byte_exact,
            identical_bytes_are_two_files,
            file_chunks_are_exact_slices,
            a_large_file_streams_back_in_chunks,
            default_avatars_are_seeded_once,
            search_finds_words_in_the_searchers_chats_newest_first,
            replies_name_the_message_they_answer,
        }
    };
}
pub(crate) use for_each_check;

macro_rules! define_run_all {
    ($($check:ident),* $(,)?) => {
        /// Runs every check in turn on one store (no default avatar seeded yet).
        pub(crate) async fn run_all(store: &dyn Store) -> Result<()> {
            $( $check(store).await?; )*
            Ok(())
        }
    };
}
for_each_check!(define_run_all);

// ---- helpers for the checks --------------------------------------------------------------

fn uid() -> UserId {
    UserId::from_random(rand::random())
}

fn sid() -> SessionId {
    SessionId::from_random(rand::random())
}

fn mid() -> MessageId {
    MessageId::from_random(rand::random())
}

fn nid() -> NotificationId {
    NotificationId::from_random(rand::random())
}

fn fid() -> FileId {
    FileId::from_random(rand::random())
}

/// A unique string, for logins and nicknames that no other check uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uid())
}

fn new_user(nickname: &str, dateline: Millis) -> NewUser {
    NewUser {
        id: uid(),
        login: format!("{}@example.com", unique("user")),
        nickname: nickname.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        gender: Gender::Boy,
        avatar: fid(),
        dateline,
    }
}

async fn user(store: &dyn Store) -> Result<User> {
    store.create_user(new_user(&unique("nick"), 1_000)).await
}

fn new_group(creator: &UserId, public: bool, dateline: Millis) -> NewSession {
    NewSession {
        id: sid(),
        createuid: creator.clone(),
        ouid: None,
        name: unique("group"),
        icon: Some(fid()),
        session_type: SessionType::Group,
        public,
        dateline,
    }
}

fn new_private(a: &UserId, b: &UserId) -> NewSession {
    NewSession {
        id: sid(),
        createuid: a.clone(),
        ouid: Some(b.clone()),
        name: String::new(),
        icon: None,
        session_type: SessionType::Private,
        public: false,
        dateline: 1_000,
    }
}

fn text(session: &SessionId, sender: &UserId, content: &str, dateline: Millis) -> NewMessage {
    NewMessage {
        id: mid(),
        session_id: session.clone(),
        uid: sender.clone(),
        msg_type: ChatKind::Text,
        content: content.to_owned(),
        file_name: String::new(),
        file_type: String::new(),
        fileid: None,
        thumbid: None,
        dateline,
        client_id: None,
        reply_to: None,
    }
}

fn change(session: &SessionId, who: &UserId, dateline: Millis) -> MembershipChange {
    MembershipChange {
        message_id: mid(),
        session_id: session.clone(),
        uid: who.clone(),
        content: format!("{who} join session"),
        dateline,
    }
}

fn online(uids: &[&UserId]) -> HashSet<UserId> {
    uids.iter().map(|&uid| uid.clone()).collect()
}

/// Joins `who` while they (and nobody else) are looking at the chat: their own join leaves
/// their count at 0, every other member gets +1.
async fn join(store: &dyn Store, session: &SessionId, who: &UserId) -> Result<Message> {
    let joined = store
        .join(change(session, who, 2_000), &online(&[who]))
        .await?;
    Ok(joined.expect("not yet a member"))
}

async fn unread(store: &dyn Store, session: &SessionId, who: &UserId) -> Result<i32> {
    let members = store.members(session).await?;
    let member = members.iter().find(|m| &m.uid == who).expect("a member");
    Ok(member.new_count)
}

async fn all_messages(store: &dyn Store, session: &SessionId) -> Result<Vec<Message>> {
    store.messages_after(session, 0, 10_000).await
}

/// Polls all futures concurrently (each store call then runs at the same time as the others)
/// and returns their outputs in order.
async fn concurrently<'a, T: 'a>(futures: Vec<impl Future<Output = T> + 'a>) -> Vec<T> {
    let executor = smol::LocalExecutor::new();
    let tasks: Vec<_> = futures.into_iter().map(|f| executor.spawn(f)).collect();
    executor
        .run(async {
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                out.push(task.await);
            }
            out
        })
        .await
}
