//! Sessions: groups, private pairs, membership and join/leave messages.

use super::*;

pub(crate) async fn group_sessions_are_created_read_and_updated(store: &dyn Store) -> Result<()> {
    let creator = user(store).await?;
    let new = new_group(&creator.id, true, 5_000);
    let session = store.create_session(new.clone()).await?;
    assert_eq!(
        session,
        Session {
            id: new.id.clone(),
            createuid: creator.id.clone(),
            ouid: None,
            name: new.name.clone(),
            icon: new.icon.clone(),
            session_type: SessionType::Group,
            public: true,
            last_msgid: None,
            last_update: 5_000,
            dateline: 5_000,
        }
    );
    assert_eq!(store.session(&new.id).await?, Some(session.clone()));
    assert!(store.members(&new.id).await?.is_empty(), "no members yet");

    let update = SessionUpdate {
        name: "renamed group".to_owned(),
        icon: None,
        public: false,
    };
    store.update_session(&new.id, update).await?;
    let after = store.session(&new.id).await?.expect("exists");
    assert_eq!(
        (after.name.as_str(), &after.icon, after.public),
        ("renamed group", &new.icon, false)
    );

    let icon = fid();
    let update = SessionUpdate {
        name: "renamed group".to_owned(),
        icon: Some(icon.clone()),
        public: true,
    };
    store.update_session(&new.id, update.clone()).await?;
    let after = store.session(&new.id).await?.expect("exists");
    assert_eq!((after.icon, after.public), (Some(icon), true));

    let missing = store.update_session(&sid(), update).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    assert_eq!(store.session(&sid()).await?, None);
    let again = store.create_session(new).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    Ok(())
}

pub(crate) async fn private_session_is_one_per_pair(store: &dyn Store) -> Result<()> {
    let (a, b, c) = (user(store).await?, user(store).await?, user(store).await?);
    let new = new_private(&a.id, &b.id);
    let (session, created) = store.private_session(new.clone()).await?;
    assert!(created);
    assert_eq!(session.id, new.id);
    assert_eq!(
        (&session.createuid, &session.ouid),
        (&a.id, &Some(b.id.clone()))
    );
    assert_eq!(session.session_type, SessionType::Private);
    assert!(
        store.members(&session.id).await?.is_empty(),
        "members are not added here"
    );

    let (again, created) = store.private_session(new_private(&b.id, &a.id)).await?;
    assert!(!created);
    assert_eq!(again, session, "(b, a) is the pair (a, b)");
    let (same, created) = store.private_session(new_private(&a.id, &b.id)).await?;
    assert!(!created);
    assert_eq!(same.id, session.id);

    let (other, created) = store.private_session(new_private(&a.id, &c.id)).await?;
    assert!(created);
    assert_ne!(other.id, session.id);
    Ok(())
}

pub(crate) async fn concurrent_private_sessions_agree(store: &dyn Store) -> Result<()> {
    for _ in 0..5 {
        let (a, b) = (uid(), uid());
        let (first, second) = smol::future::zip(
            store.private_session(new_private(&a, &b)),
            store.private_session(new_private(&b, &a)),
        )
        .await;
        let ((first, first_created), (second, second_created)) = (first?, second?);
        assert_eq!(first.id, second.id);
        assert!(
            first_created ^ second_created,
            "exactly one call creates it"
        );
    }
    let (a, b) = (uid(), uid());
    let results = concurrently(
        (0..10)
            .map(|i| {
                let new = if i % 2 == 0 {
                    new_private(&a, &b)
                } else {
                    new_private(&b, &a)
                };
                store.private_session(new)
            })
            .collect(),
    )
    .await;
    let results: Vec<_> = results.into_iter().collect::<Result<_>>()?;
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    assert!(results.iter().all(|(s, _)| s.id == results[0].0.id));
    Ok(())
}

pub(crate) async fn join_adds_a_member_once_with_a_join_message(store: &dyn Store) -> Result<()> {
    let (creator, guest) = (user(store).await?, user(store).await?);
    let session = store
        .create_session(new_group(&creator.id, true, 1_000))
        .await?;

    let joining = change(&session.id, &creator.id, 2_000);
    let message = store
        .join(joining.clone(), &online(&[&creator.id]))
        .await?
        .expect("joined");
    assert_eq!(
        message,
        Message {
            id: joining.message_id.clone(),
            session_id: session.id.clone(),
            seq: 1,
            uid: creator.id.clone(),
            msg_type: ChatKind::Join,
            content: joining.content.clone(),
            file_name: String::new(),
            file_type: String::new(),
            fileid: None,
            thumbid: None,
            dateline: 2_000,
            client_id: None,
            reply_to: None,
        }
    );
    let after = store.session(&session.id).await?.expect("exists");
    assert_eq!(
        (after.last_msgid, after.last_update),
        (Some(message.id.clone()), 2_000)
    );
    assert!(store.is_member(&session.id, &creator.id).await?);
    assert_eq!(
        unread(store, &session.id, &creator.id).await?,
        0,
        "was online"
    );

    let twice = store
        .join(change(&session.id, &creator.id, 3_000), &HashSet::new())
        .await?;
    assert_eq!(twice, None, "already a member");
    assert_eq!(all_messages(store, &session.id).await?, vec![message]);
    assert_eq!(
        store
            .session(&session.id)
            .await?
            .expect("exists")
            .last_update,
        2_000
    );

    // Nobody online: every member, the newcomer included, has one more unread.
    let second = store
        .join(change(&session.id, &guest.id, 4_000), &HashSet::new())
        .await?
        .expect("joined");
    assert_eq!(second.seq, 2);
    assert_eq!(unread(store, &session.id, &creator.id).await?, 1);
    assert_eq!(unread(store, &session.id, &guest.id).await?, 1);

    let missing = store
        .join(change(&sid(), &guest.id, 5_000), &HashSet::new())
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    Ok(())
}

pub(crate) async fn leave_removes_a_member_with_a_leave_message(store: &dyn Store) -> Result<()> {
    let (creator, guest) = (user(store).await?, user(store).await?);
    let session = store
        .create_session(new_group(&creator.id, true, 1_000))
        .await?;
    join(store, &session.id, &creator.id).await?;
    join(store, &session.id, &guest.id).await?;

    let leaving = change(&session.id, &guest.id, 3_000);
    let message = store
        .leave(leaving.clone(), &HashSet::new())
        .await?
        .expect("left");
    assert_eq!((message.msg_type.as_str(), message.seq), ("leave", 3));
    assert_eq!(
        (&message.uid, &message.content),
        (&guest.id, &leaving.content)
    );
    assert!(!store.is_member(&session.id, &guest.id).await?);
    assert_eq!(
        store.members(&session.id).await?,
        vec![Member {
            uid: creator.id.clone(),
            new_count: 2,
            read_seq: 1,
        }],
        "the creator was offline for the guest's join and leave"
    );
    let after = store.session(&session.id).await?.expect("exists");
    assert_eq!(
        (after.last_msgid, after.last_update),
        (Some(message.id), 3_000)
    );

    let again = store
        .leave(change(&session.id, &guest.id, 4_000), &HashSet::new())
        .await?;
    assert_eq!(again, None, "not a member");
    assert_eq!(all_messages(store, &session.id).await?.len(), 3);
    let missing = store
        .leave(change(&sid(), &guest.id, 5_000), &HashSet::new())
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    Ok(())
}

pub(crate) async fn members_are_listed_in_join_order(store: &dyn Store) -> Result<()> {
    let creator = user(store).await?;
    let session = store
        .create_session(new_group(&creator.id, true, 1_000))
        .await?;
    // Enough members that an order by id (random) would differ from join order.
    let mut joined = Vec::new();
    for _ in 0..8 {
        let u = user(store).await?;
        join(store, &session.id, &u.id).await?;
        joined.push(u.id);
    }
    let listed: Vec<_> = store
        .members(&session.id)
        .await?
        .into_iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(listed, joined);

    let first = joined.remove(0);
    store
        .leave(change(&session.id, &first, 3_000), &HashSet::new())
        .await?;
    join(store, &session.id, &first).await?;
    joined.push(first);
    let listed: Vec<_> = store
        .members(&session.id)
        .await?
        .into_iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(listed, joined, "a rejoin goes to the end");
    Ok(())
}
