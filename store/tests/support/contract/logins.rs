//! Logins (device sessions): created, listed, touched, ended, and polled once ended.

use super::*;

fn lid() -> LoginId {
    LoginId::from_random(rand::random())
}

fn new_login(uid: &UserId, created: Millis) -> NewLogin {
    NewLogin {
        id: lid(),
        uid: uid.clone(),
        device: format!("device at {created}"),
        created,
    }
}

async fn ids(store: &dyn Store, uid: &UserId) -> Result<Vec<LoginId>> {
    Ok(store
        .logins(uid)
        .await?
        .into_iter()
        .map(|login| login.id)
        .collect())
}

pub(crate) async fn logins_are_created_found_and_listed(store: &dyn Store) -> Result<()> {
    let (me, other) = (uid(), uid());
    let new = new_login(&me, 100);
    let a = store.create_login(new.clone()).await?;
    assert_eq!(
        a,
        Login {
            id: new.id.clone(),
            uid: me.clone(),
            device: "device at 100".to_owned(),
            created: 100,
            last_seen: 100,
            ended: None,
        }
    );
    assert_eq!(store.login(&a.id).await?, Some(a.clone()));
    assert_eq!(store.login(&lid()).await?, None);
    let b = store.create_login(new_login(&me, 300)).await?;
    let c = store.create_login(new_login(&me, 200)).await?;
    let theirs = store.create_login(new_login(&other, 400)).await?;
    assert_eq!(
        ids(store, &me).await?,
        [b.id.clone(), c.id.clone(), a.id.clone()],
        "most recently seen first"
    );
    assert_eq!(ids(store, &other).await?, vec![theirs.id.clone()]);
    assert!(store.logins(&uid()).await?.is_empty());

    store.touch_login(&a.id, 500).await?;
    assert_eq!(ids(store, &me).await?, [a.id.clone(), b.id.clone(), c.id]);
    store.touch_login(&a.id, 450).await?;
    let touched = store.login(&a.id).await?.expect("created above");
    assert_eq!(touched.last_seen, 500, "never moved backwards");
    assert_eq!((touched.created, touched.ended), (100, None));
    store.touch_login(&lid(), 600).await?; // missing: no error
    assert_eq!(store.login(&b.id).await?, Some(b), "others untouched");
    Ok(())
}

pub(crate) async fn a_taken_login_id_is_a_conflict(store: &dyn Store) -> Result<()> {
    let first = store.create_login(new_login(&uid(), 100)).await?;
    let mut second = new_login(&uid(), 200);
    second.id = first.id.clone();
    let refused = store.create_login(second.clone()).await;
    assert!(
        matches!(refused, Err(Error::Conflict("login id"))),
        "{refused:?}"
    );
    assert_eq!(store.login(&first.id).await?, Some(first));
    assert!(
        store.logins(&second.uid).await?.is_empty(),
        "nothing written"
    );
    Ok(())
}

pub(crate) async fn ending_logins_touches_only_that_users_logins_in_use(
    store: &dyn Store,
) -> Result<()> {
    let (me, other) = (uid(), uid());
    let mut mine = Vec::new();
    for created in [100, 200, 300, 400] {
        mine.push(store.create_login(new_login(&me, created)).await?.id);
    }
    let [a, b, c, d] = <[LoginId; 4]>::try_from(mine).expect("four");
    let theirs = store.create_login(new_login(&other, 100)).await?;

    let none: Vec<LoginId> = Vec::new();
    assert_eq!(
        store
            .end_logins(&other, EndLogins::One(a.clone()), 500)
            .await?,
        none,
        "another user's login"
    );
    assert_eq!(store.login(&a).await?.and_then(|l| l.ended), None);

    assert_eq!(
        store
            .end_logins(&me, EndLogins::One(a.clone()), 500)
            .await?,
        vec![a.clone()]
    );
    assert_eq!(
        store
            .end_logins(&me, EndLogins::One(a.clone()), 550)
            .await?,
        none,
        "already ended"
    );
    let ended = store.login(&a).await?.expect("still readable once ended");
    assert_eq!((ended.ended, ended.last_seen), (Some(500), 100));
    store.touch_login(&a, 600).await?;
    assert_eq!(
        store.login(&a).await?,
        Some(ended),
        "an ended login is not touched"
    );
    assert_eq!(ids(store, &me).await?, [d.clone(), c.clone(), b.clone()]);

    let mut rest = vec![c, d];
    rest.sort();
    assert_eq!(
        store
            .end_logins(&me, EndLogins::AllBut(b.clone()), 700)
            .await?,
        rest,
        "in id order"
    );
    assert_eq!(ids(store, &me).await?, vec![b.clone()]);
    assert_eq!(store.end_logins(&me, EndLogins::All, 800).await?, [b]);
    assert!(store.logins(&me).await?.is_empty());
    assert_eq!(store.end_logins(&me, EndLogins::All, 900).await?, none);
    assert_eq!(
        store.end_logins(&uid(), EndLogins::All, 900).await?,
        none,
        "a user with no logins"
    );
    assert_eq!(store.logins(&other).await?, vec![theirs], "untouched");
    Ok(())
}

pub(crate) async fn ended_logins_are_polled_oldest_first(store: &dyn Store) -> Result<()> {
    // Far in the future of every other check's times; other logins ended then (this check
    // run before on the same store) are filtered out by user.
    const T: Millis = 1 << 50;
    let (me, other) = (uid(), uid());
    let a = store.create_login(new_login(&me, T)).await?.id;
    let b = store.create_login(new_login(&other, T)).await?.id;
    let c = store.create_login(new_login(&me, T)).await?.id;
    let in_use = store.create_login(new_login(&me, T)).await?.id;
    store
        .end_logins(&me, EndLogins::One(c.clone()), T + 30)
        .await?;
    store
        .end_logins(&me, EndLogins::One(a.clone()), T + 10)
        .await?;
    store
        .end_logins(&other, EndLogins::One(b.clone()), T + 20)
        .await?;

    let in_use = &in_use;
    let poll = |since: Millis| {
        let ours = [me.clone(), other.clone()];
        async move {
            let polled = store.ended_logins_since(since).await?;
            let order: Vec<(Millis, &LoginId)> = polled.iter().map(|(_, id, t)| (*t, id)).collect();
            assert!(order.is_sorted(), "oldest first, ties by id: {order:?}");
            assert!(polled.iter().all(|(_, _, t)| *t >= since));
            assert!(polled.iter().all(|(_, id, _)| id != in_use), "in use");
            Ok::<_, Error>(
                polled
                    .into_iter()
                    .filter(|(uid, _, _)| ours.contains(uid))
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        poll(T + 10).await?,
        [
            (me.clone(), a, T + 10),
            (other.clone(), b.clone(), T + 20),
            (me.clone(), c.clone(), T + 30)
        ]
    );
    assert_eq!(
        poll(T + 11).await?,
        [(other.clone(), b, T + 20), (me.clone(), c, T + 30)],
        "from `since` on, inclusive"
    );
    assert!(poll(T + 31).await?.is_empty());
    poll(0).await?;
    Ok(())
}

pub(crate) async fn a_users_list_holds_the_most_recently_seen_logins(
    store: &dyn Store,
) -> Result<()> {
    let me = uid();
    let mut created = Vec::new();
    for n in 0..=LOGINS_LISTED {
        let at = 1_000 + Millis::try_from(n).expect("small");
        created.push(store.create_login(new_login(&me, at)).await?.id);
    }
    let listed = ids(store, &me).await?;
    assert_eq!(listed.len(), LOGINS_LISTED);
    created.reverse();
    assert_eq!(listed, created[..LOGINS_LISTED], "the oldest left out");
    Ok(())
}
