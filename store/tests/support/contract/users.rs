//! Users: registration, lookups, login bookkeeping, profile and password.

use super::*;

pub(crate) async fn users_are_created_and_found(store: &dyn Store) -> Result<()> {
    let new = new_user("alice", 1_234);
    let created = store.create_user(new.clone()).await?;
    assert_eq!(created.id, new.id);
    assert_eq!(created.login, new.login);
    assert_eq!(created.nickname, "alice");
    assert_eq!(created.password_hash, new.password_hash);
    assert_eq!(created.gender, Gender::Boy);
    assert_eq!(created.avatar, new.avatar);
    assert_eq!(created.dateline, 1_234);
    assert_eq!(
        (
            created.last_login,
            created.login_count,
            created.token_generation
        ),
        (0, 0, 0)
    );

    assert_eq!(store.user(&created.id).await?, Some(created.clone()));
    assert_eq!(
        store.user_by_login(&new.login).await?,
        Some(created.clone())
    );
    assert_eq!(
        store.user_by_login(&new.login.to_uppercase()).await?,
        None,
        "exact match"
    );
    assert_eq!(store.user(&uid()).await?, None);

    let other = user(store).await?;
    let mut found = store
        .users(&[
            created.id.clone(),
            uid(),
            other.id.clone(),
            created.id.clone(),
        ])
        .await?;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![created, other];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, expected);
    assert!(store.users(&[]).await?.is_empty());
    Ok(())
}

pub(crate) async fn a_duplicate_login_is_a_conflict(store: &dyn Store) -> Result<()> {
    let first = user(store).await?;
    let mut second = new_user("bob", 2_000);
    second.login = first.login.clone();
    let refused = store.create_user(second.clone()).await;
    assert!(
        matches!(refused, Err(Error::Conflict("login"))),
        "{refused:?}"
    );
    assert_eq!(store.user(&second.id).await?, None, "nothing written");
    assert_eq!(store.user_by_login(&first.login).await?, Some(first));
    Ok(())
}

pub(crate) async fn nickname_search_is_exact_and_oldest_first(store: &dyn Store) -> Result<()> {
    let nickname = unique("carol");
    let newer = store.create_user(new_user(&nickname, 2_000)).await?;
    let older = store.create_user(new_user(&nickname, 1_000)).await?;
    store
        .create_user(new_user(&format!("{nickname}x"), 500))
        .await?;
    assert_eq!(
        store.users_by_nickname(&nickname, 10).await?,
        vec![older.clone(), newer]
    );
    assert_eq!(store.users_by_nickname(&nickname, 1).await?, vec![older]);
    assert!(
        store
            .users_by_nickname(&nickname[..5], 10)
            .await?
            .is_empty()
    );
    Ok(())
}

pub(crate) async fn logins_touches_and_logout_are_recorded(store: &dyn Store) -> Result<()> {
    let u = user(store).await?;
    // Far in the future, so rows of other checks never count as recent here.
    let t0: Millis = 4_000_000_000_000 + i64::from(rand::random::<u16>()) * 10_000;

    store.record_login(&u.id, t0).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!((after.login_count, after.last_login), (1, t0));
    assert!(store.recently_active(t0).await?.contains(&u.id));

    store.touch(&u.id, t0 + 100).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!((after.login_count, after.last_login), (1, t0 + 100));
    assert!(store.recently_active(t0 + 100).await?.contains(&u.id));
    assert!(!store.recently_active(t0 + 101).await?.contains(&u.id));

    store.logout(&u.id).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!(after.token_generation, 1);
    assert_eq!(after.login_count, 1);
    assert!(
        !store.recently_active(0).await?.contains(&u.id),
        "onlines row gone"
    );

    for result in [
        store.record_login(&uid(), t0).await,
        store.touch(&uid(), t0).await,
        store.logout(&uid()).await,
    ] {
        assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
    }
    Ok(())
}

pub(crate) async fn profile_updates_are_partial(store: &dyn Store) -> Result<()> {
    let u = user(store).await?;
    let update = ProfileUpdate {
        nickname: Some("renamed".to_owned()),
        ..ProfileUpdate::default()
    };
    store.update_profile(&u.id, update).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!(after.nickname, "renamed");
    assert_eq!((after.gender, &after.avatar), (u.gender, &u.avatar));

    let avatar = fid();
    assert!(!after.hide_receipts, "receipts are shown by default");
    let update = ProfileUpdate {
        nickname: None,
        gender: Some(Gender::Girl),
        avatar: Some(avatar.clone()),
        hide_receipts: Some(true),
    };
    store.update_profile(&u.id, update).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!(
        (after.nickname.as_str(), after.gender, &after.avatar),
        ("renamed", Gender::Girl, &avatar)
    );
    assert!(after.hide_receipts);
    let update = ProfileUpdate {
        hide_receipts: Some(false),
        ..ProfileUpdate::default()
    };
    store.update_profile(&u.id, update).await?;
    let after = store.user(&u.id).await?.expect("exists");
    assert!(!after.hide_receipts);
    assert_eq!(after.nickname, "renamed", "the rest kept");
    assert_eq!(after.login, u.login);

    let missing = store.update_profile(&uid(), ProfileUpdate::default()).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    Ok(())
}

pub(crate) async fn password_replacement_is_compare_and_swap(store: &dyn Store) -> Result<()> {
    let u = user(store).await?;
    assert!(!store.replace_password(&u.id, "wrong", "new").await?);
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!(
        (after.password_hash.as_str(), after.token_generation),
        (u.password_hash.as_str(), 0)
    );

    assert!(
        store
            .replace_password(&u.id, &u.password_hash, "new")
            .await?
    );
    let after = store.user(&u.id).await?.expect("exists");
    assert_eq!(
        (after.password_hash.as_str(), after.token_generation),
        ("new", 1)
    );

    // The loser of a race still holds the old hash as `expected`.
    assert!(
        !store
            .replace_password(&u.id, &u.password_hash, "other")
            .await?
    );
    assert!(!store.replace_password(&uid(), "new", "other").await?);
    assert_eq!(
        store.user(&u.id).await?.expect("exists").token_generation,
        1
    );
    Ok(())
}
