//! Notifications: counting and read-once paging.

use super::*;

pub(crate) async fn notifications_are_counted_and_taken_once(store: &dyn Store) -> Result<()> {
    let (sender, receiver) = (user(store).await?, user(store).await?);
    let session = store
        .create_session(new_group(&sender.id, true, 1_000))
        .await?;
    let notification = |kind, dateline, is_read| Notification {
        id: nid(),
        notice_type: kind,
        senduid: sender.id.clone(),
        recvuid: receiver.id.clone(),
        session_id: (kind == NoticeType::InviteSession).then(|| session.id.clone()),
        is_read,
        dateline,
    };
    let oldest = notification(NoticeType::JoinFriend, 10, false);
    let middle = notification(NoticeType::RemoveFriend, 20, true);
    let newest = notification(NoticeType::InviteSession, 30, false);
    for n in [&middle, &newest, &oldest] {
        store.notify(n.clone()).await?;
    }
    let elsewhere = Notification {
        recvuid: sender.id.clone(),
        ..notification(NoticeType::JoinFriend, 40, false)
    };
    store.notify(elsewhere.clone()).await?;
    assert_eq!(store.unread_notifications(&receiver.id).await?, 2);

    assert_eq!(
        store.take_notifications(&receiver.id, 1, 2).await?,
        vec![newest.clone(), middle.clone()],
        "newest first, as they were before the call"
    );
    assert_eq!(store.unread_notifications(&receiver.id).await?, 1);
    assert_eq!(
        store.take_notifications(&receiver.id, 2, 2).await?,
        vec![oldest.clone()]
    );
    assert_eq!(store.unread_notifications(&receiver.id).await?, 0);
    assert!(
        store
            .take_notifications(&receiver.id, 3, 2)
            .await?
            .is_empty()
    );

    let read = |n: &Notification| Notification {
        is_read: true,
        ..n.clone()
    };
    assert_eq!(
        store.take_notifications(&receiver.id, 1, 30).await?,
        vec![read(&newest), read(&middle), read(&oldest)]
    );
    assert_eq!(
        store.unread_notifications(&sender.id).await?,
        1,
        "other inboxes untouched"
    );

    let duplicate = store.notify(newest).await;
    assert!(
        matches!(duplicate, Err(Error::Conflict(_))),
        "{duplicate:?}"
    );
    Ok(())
}
