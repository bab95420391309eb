//! One-way friend lists.

use super::*;

pub(crate) async fn friends_keep_their_order_and_refuse_duplicates(
    store: &dyn Store,
) -> Result<()> {
    let [a, b, c, d] = [
        user(store).await?,
        user(store).await?,
        user(store).await?,
        user(store).await?,
    ];
    for friend in [&c, &b, &d] {
        assert!(store.add_friend(&a.id, &friend.id, 10).await?);
    }
    assert!(
        !store.add_friend(&a.id, &c.id, 11).await?,
        "already a friend"
    );
    assert_eq!(
        store.friends(&a.id).await?,
        vec![c.clone(), b.clone(), d.clone()]
    );
    assert!(store.is_friend(&a.id, &b.id).await?);
    assert!(!store.is_friend(&b.id, &a.id).await?, "one-way");
    assert!(store.friends(&b.id).await?.is_empty());

    assert!(store.remove_friend(&a.id, &b.id).await?);
    assert!(!store.remove_friend(&a.id, &b.id).await?, "already gone");
    assert!(!store.is_friend(&a.id, &b.id).await?);
    assert_eq!(store.friends(&a.id).await?, vec![c.clone(), d.clone()]);

    assert!(store.add_friend(&a.id, &b.id, 12).await?);
    assert_eq!(
        store.friends(&a.id).await?,
        vec![c, d, b],
        "re-added at the end"
    );

    // A friend id with no user is kept but not listed.
    assert!(store.add_friend(&a.id, &uid(), 13).await?);
    assert_eq!(store.friends(&a.id).await?.len(), 3);
    Ok(())
}
