//! Attempt counters (login lockout): per key and fixed window, atomic under concurrency.

use super::*;

pub(crate) async fn attempts_are_counted_per_key_and_window(store: &dyn Store) -> Result<()> {
    // As long as the callers' cap allows, so the backends' key columns and indexes take it.
    let key = format!("{}:{}", unique("ip"), "x".repeat(560));
    let other = unique("user");
    assert_eq!(store.record_attempt(&key, 10).await?, 1);
    assert_eq!(store.record_attempt(&key, 10).await?, 2);
    assert_eq!(store.record_attempt(&key, 11).await?, 1, "a new window");
    assert_eq!(store.record_attempt(&other, 11).await?, 1, "another key");
    assert_eq!(store.record_attempt(&key, 12).await?, 1);
    assert_eq!(
        store.record_attempt(&key, 11).await?,
        2,
        "the previous window is kept"
    );
    assert_eq!(store.record_attempt(&key, 12).await?, 2);

    store.clear_attempts(&key).await?;
    assert_eq!(store.record_attempt(&key, 12).await?, 1, "cleared");
    assert_eq!(store.record_attempt(&key, 11).await?, 1, "every window");
    assert_eq!(store.record_attempt(&other, 11).await?, 2, "others kept");
    store.clear_attempts(&unique("never counted")).await?;

    // A released attempt no longer counts; releasing never goes below zero or creates one.
    let released = unique("released");
    assert_eq!(store.record_attempt(&released, 3).await?, 1);
    assert_eq!(store.record_attempt(&released, 3).await?, 2);
    store.release_attempt(&released, 3).await?;
    assert_eq!(store.record_attempt(&released, 3).await?, 2);
    for _ in 0..3 {
        store.release_attempt(&released, 3).await?;
    }
    assert_eq!(
        store.record_attempt(&released, 3).await?,
        1,
        "not below zero"
    );
    store.release_attempt(&released, 4).await?;
    assert_eq!(
        store.record_attempt(&released, 4).await?,
        1,
        "nothing created"
    );
    Ok(())
}

pub(crate) async fn concurrent_attempts_count_one_to_twenty(store: &dyn Store) -> Result<()> {
    let key = unique("concurrent");
    let counts = concurrently((0..20).map(|_| store.record_attempt(&key, 7)).collect()).await;
    let mut counts: Vec<u32> = counts.into_iter().collect::<Result<_>>()?;
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
    assert_eq!(store.record_attempt(&key, 7).await?, 21);
    Ok(())
}
