//! Messages: numbering, unread counts, idempotent retries, history, chat lists.

use super::*;

pub(crate) async fn appends_are_numbered_from_one(store: &dyn Store) -> Result<()> {
    let a = user(store).await?;
    let session = store.create_session(new_group(&a.id, true, 1_000)).await?;
    let mut stored = Vec::new();
    for (i, content) in ["one", "two", "three"].into_iter().enumerate() {
        let mut new = text(&session.id, &a.id, content, 2_000 + i as i64);
        new.msg_type = ChatKind::File;
        new.fileid = Some(fid());
        new.thumbid = Some(fid());
        new.file_name = format!("{content}.png");
        new.file_type = "image/png".to_owned();
        let message = store.append(new.clone(), &HashSet::new()).await?;
        assert_eq!(message.seq, i as i64 + 1);
        assert_eq!(
            (
                &message.id,
                &message.content,
                &message.fileid,
                &message.thumbid
            ),
            (&new.id, &new.content, &new.fileid, &new.thumbid)
        );
        assert_eq!(
            (&message.file_name, &message.file_type),
            (&new.file_name, &new.file_type)
        );
        stored.push(message);
    }
    assert_eq!(all_messages(store, &session.id).await?, stored);
    let after = store.session(&session.id).await?.expect("exists");
    assert_eq!(
        (after.last_msgid, after.last_update),
        (Some(stored[2].id.clone()), 2_002)
    );

    let missing = store
        .append(text(&sid(), &a.id, "lost", 3_000), &HashSet::new())
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    Ok(())
}

pub(crate) async fn concurrent_appends_get_distinct_gap_free_seqs(store: &dyn Store) -> Result<()> {
    const N: i64 = 50;
    let (sender, reader) = (user(store).await?, user(store).await?);
    let session = store
        .create_session(new_group(&sender.id, true, 1_000))
        .await?;
    join(store, &session.id, &sender.id).await?;
    join(store, &session.id, &reader.id).await?;
    let watching = online(&[&sender.id]);

    let appended = concurrently(
        (0..N)
            .map(|i| {
                store.append(
                    text(&session.id, &sender.id, &format!("m{i}"), 5_000),
                    &watching,
                )
            })
            .collect(),
    )
    .await;
    let appended: Vec<Message> = appended.into_iter().collect::<Result<_>>()?;
    let mut seqs: Vec<i64> = appended.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    // Two join messages came first.
    assert_eq!(seqs, (3..3 + N).collect::<Vec<_>>());

    let stored = all_messages(store, &session.id).await?;
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..3 + N).collect::<Vec<_>>()
    );
    for message in &appended {
        assert_eq!(
            stored.get(usize::try_from(message.seq - 1).expect("positive")),
            Some(message)
        );
    }
    assert_eq!(unread(store, &session.id, &reader.id).await?, N as i32);
    assert_eq!(
        unread(store, &session.id, &sender.id).await?,
        0,
        "watching moved the sender's mark past the reader's join too"
    );
    Ok(())
}

pub(crate) async fn unread_counts_skip_online_members(store: &dyn Store) -> Result<()> {
    let (a, b, c) = (user(store).await?, user(store).await?, user(store).await?);
    let session = store.create_session(new_group(&a.id, true, 1_000)).await?;
    let everyone = online(&[&a.id, &b.id, &c.id]);
    for who in [&a, &b, &c] {
        store
            .join(change(&session.id, &who.id, 2_000), &everyone)
            .await?;
    }
    // Online users that are not members change nothing.
    let watching = online(&[&a.id, &b.id, &uid()]);
    store
        .append(text(&session.id, &a.id, "hi", 3_000), &watching)
        .await?;
    store
        .append(text(&session.id, &b.id, "hey", 3_001), &watching)
        .await?;
    assert_eq!(
        store.members(&session.id).await?,
        vec![
            Member {
                uid: a.id.clone(),
                new_count: 0,
                read_seq: 5,
            },
            Member {
                uid: b.id.clone(),
                new_count: 0,
                read_seq: 5,
            },
            Member {
                uid: c.id.clone(),
                new_count: 2,
                read_seq: 3,
            },
        ]
    );
    // A read mark only moves forward, and never past the last message.
    assert_eq!(store.mark_read(&session.id, &c.id, Some(4)).await?, Some(4));
    assert_eq!(unread(store, &session.id, &c.id).await?, 1);
    assert_eq!(store.mark_read(&session.id, &c.id, Some(2)).await?, Some(4));
    assert_eq!(
        store.mark_read(&session.id, &c.id, Some(99)).await?,
        Some(5)
    );
    assert_eq!(unread(store, &session.id, &c.id).await?, 0);
    store
        .append(text(&session.id, &a.id, "more", 3_002), &watching)
        .await?;
    assert_eq!(unread(store, &session.id, &c.id).await?, 1);
    assert_eq!(store.mark_read(&session.id, &c.id, None).await?, Some(6));
    assert_eq!(unread(store, &session.id, &c.id).await?, 0);
    assert_eq!(
        store.mark_read(&session.id, &uid(), None).await?,
        None,
        "not a member"
    );
    assert_eq!(
        store.mark_read(&sid(), &c.id, Some(1)).await?,
        None,
        "no such chat"
    );
    let listed = store.joined_sessions(&c.id).await?;
    assert_eq!(
        listed.iter().map(|l| l.new_count).collect::<Vec<_>>(),
        vec![0]
    );
    Ok(())
}

pub(crate) async fn a_repeated_client_id_returns_the_first_message(
    store: &dyn Store,
) -> Result<()> {
    let (a, b) = (user(store).await?, user(store).await?);
    let session = store.create_session(new_group(&a.id, true, 1_000)).await?;
    let other = store.create_session(new_group(&a.id, true, 1_000)).await?;
    join(store, &session.id, &a.id).await?;
    join(store, &session.id, &b.id).await?;

    let mut first = text(&session.id, &a.id, "once", 2_000);
    first.client_id = Some("client-1".to_owned());
    let stored = store.append(first.clone(), &HashSet::new()).await?;
    assert_eq!(stored.client_id.as_deref(), Some("client-1"));
    let before = (
        all_messages(store, &session.id).await?,
        store.session(&session.id).await?,
        store.members(&session.id).await?,
    );

    let mut retry = text(&session.id, &a.id, "once (retried)", 2_500);
    retry.client_id = first.client_id.clone();
    assert_eq!(store.append(retry, &HashSet::new()).await?, stored);
    let after = (
        all_messages(store, &session.id).await?,
        store.session(&session.id).await?,
        store.members(&session.id).await?,
    );
    assert_eq!(after, before, "nothing written, no count moved");

    // The key is (session, sender, client id): other senders and sessions are independent.
    let mut by_b = text(&session.id, &b.id, "mine", 3_000);
    by_b.client_id = first.client_id.clone();
    assert_eq!(
        store.append(by_b, &HashSet::new()).await?.seq,
        stored.seq + 1
    );
    let mut elsewhere = text(&other.id, &a.id, "there", 3_000);
    elsewhere.client_id = first.client_id.clone();
    assert_eq!(store.append(elsewhere, &HashSet::new()).await?.seq, 1);
    Ok(())
}

pub(crate) async fn history_pages_are_oldest_first(store: &dyn Store) -> Result<()> {
    let a = user(store).await?;
    let session = store.create_session(new_group(&a.id, true, 1_000)).await?;
    for i in 1..=5 {
        // The same dateline for all: the order comes from seq, not from the clock.
        store
            .append(
                text(&session.id, &a.id, &format!("m{i}"), 2_000),
                &HashSet::new(),
            )
            .await?;
    }
    let seqs = |page: Vec<Message>| page.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.messages(&session.id, 1, 2).await?), [4, 5]);
    assert_eq!(seqs(store.messages(&session.id, 2, 2).await?), [2, 3]);
    assert_eq!(seqs(store.messages(&session.id, 3, 2).await?), [1]);
    assert!(store.messages(&session.id, 4, 2).await?.is_empty());
    assert_eq!(
        seqs(store.messages(&session.id, 1, 50).await?),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        store.messages(&session.id, 1, 1).await?[0].content,
        "m5",
        "the newest"
    );
    assert!(store.messages(&sid(), 1, 10).await?.is_empty());

    assert_eq!(
        seqs(store.messages_after(&session.id, 3, 10).await?),
        [4, 5]
    );
    assert_eq!(seqs(store.messages_after(&session.id, 0, 2).await?), [1, 2]);
    assert!(store.messages_after(&session.id, 5, 10).await?.is_empty());
    Ok(())
}

pub(crate) async fn public_sessions_list_unjoined_public_groups(store: &dyn Store) -> Result<()> {
    let (viewer, owner) = (user(store).await?, user(store).await?);
    let joined = store
        .create_session(new_group(&owner.id, true, 1_000))
        .await?;
    join(store, &joined.id, &viewer.id).await?;
    let active = store
        .create_session(new_group(&owner.id, true, 1_000))
        .await?;
    let quiet = store
        .create_session(new_group(&owner.id, true, 2_000))
        .await?;
    let hidden = store
        .create_session(new_group(&owner.id, false, 3_000))
        .await?;
    let mut private = new_private(&owner.id, &uid());
    private.public = true; // even if marked public, a private chat is never listed
    let (private, _) = store.private_session(private).await?;
    let last = store
        .append(
            text(&active.id, &owner.id, "latest", 3_500),
            &HashSet::new(),
        )
        .await?;

    let ours = [&joined.id, &active.id, &quiet.id, &hidden.id, &private.id];
    let listed: Vec<_> = store
        .public_sessions(&viewer.id)
        .await?
        .into_iter()
        .filter(|l| ours.contains(&&l.session.id))
        .collect();
    let active_now = store.session(&active.id).await?.expect("exists");
    assert_eq!(
        listed,
        vec![
            SessionListing {
                session: active_now,
                new_count: 0,
                last_message: Some(last)
            },
            SessionListing {
                session: quiet,
                new_count: 0,
                last_message: None
            },
        ]
    );
    Ok(())
}

pub(crate) async fn joined_sessions_carry_unread_counts(store: &dyn Store) -> Result<()> {
    let (viewer, owner) = (user(store).await?, user(store).await?);
    let busy = store
        .create_session(new_group(&owner.id, false, 1_000))
        .await?;
    let read = store
        .create_session(new_group(&owner.id, true, 1_000))
        .await?;
    let (private, _) = store
        .private_session(new_private(&viewer.id, &owner.id))
        .await?;
    store
        .create_session(new_group(&owner.id, true, 9_000))
        .await?; // not joined
    for session in [&busy, &read, &private] {
        join(store, &session.id, &viewer.id).await?;
    }
    store
        .append(text(&busy.id, &owner.id, "one", 5_000), &HashSet::new())
        .await?;
    let busy_last = store
        .append(text(&busy.id, &owner.id, "two", 5_001), &HashSet::new())
        .await?;
    let read_last = store
        .append(
            text(&read.id, &owner.id, "seen", 6_000),
            &online(&[&viewer.id]),
        )
        .await?;

    let listed = store.joined_sessions(&viewer.id).await?;
    let summary: Vec<_> = listed
        .iter()
        .map(|l| (l.session.id.clone(), l.new_count, l.last_message.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (read.id.clone(), 0, Some(read_last)),
            (busy.id.clone(), 2, Some(busy_last)),
            // Its last message is the viewer's own join.
            (
                private.id.clone(),
                0,
                store.messages(&private.id, 1, 1).await?.pop()
            ),
        ]
    );
    assert_eq!(
        listed[0].session,
        store.session(&read.id).await?.expect("exists")
    );
    assert!(store.joined_sessions(&uid()).await?.is_empty());
    Ok(())
}

pub(crate) async fn replies_name_the_message_they_answer(store: &dyn Store) -> Result<()> {
    let a = user(store).await?;
    let session = store.create_session(new_group(&a.id, true, 1_000)).await?;
    join(store, &session.id, &a.id).await?;
    let first = store
        .append(text(&session.id, &a.id, "question", 2_000), &HashSet::new())
        .await?;
    assert_eq!(first.reply_to, None);
    let mut answer = text(&session.id, &a.id, "answer", 2_001);
    answer.reply_to = Some(first.seq);
    let stored = store.append(answer, &HashSet::new()).await?;
    assert_eq!(stored.reply_to, Some(first.seq));
    let read = store.messages_after(&session.id, first.seq, 10).await?;
    assert_eq!(read.first().and_then(|m| m.reply_to), Some(first.seq));
    let at = store
        .messages_at(&session.id, &[stored.seq, first.seq, 999])
        .await?;
    assert_eq!(
        at.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["question", "answer"]
    );
    assert!(store.messages_at(&session.id, &[]).await?.is_empty());
    Ok(())
}
