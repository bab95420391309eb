//! Message search: whole words and prefixes, accents and case folded, Chinese by character
//! pairs, newest first with paging, and only in the searcher's own chats.

use super::*;

fn search(uid: &UserId, query: &str, before: Option<SearchCursor>) -> Search {
    Search {
        uid: uid.clone(),
        session: None,
        terms: protocol::search::query_terms(query),
        before,
        limit: 2,
    }
}

fn contents(found: &[Message]) -> Vec<&str> {
    found.iter().map(|m| m.content.as_str()).collect()
}

pub(crate) async fn search_finds_words_in_the_searchers_chats_newest_first(
    store: &dyn Store,
) -> Result<()> {
    let (a, b, outsider) = (user(store).await?, user(store).await?, user(store).await?);
    let ours = store.create_session(new_group(&a.id, true, 1_000)).await?;
    let theirs = store
        .create_session(new_group(&outsider.id, true, 1_000))
        .await?;
    for who in [&a, &b] {
        join(store, &ours.id, &who.id).await?;
    }
    join(store, &theirs.id, &outsider.id).await?;
    let none = HashSet::new();
    for (i, text) in [
        "Le café est fermé",
        "CAFÉS ouverts le dimanche",
        "我們在東京都見面",
        "nothing here",
        "cafeteria food",
    ]
    .iter()
    .enumerate()
    {
        let at = 10_000 + i as i64;
        store
            .append(super::text(&ours.id, &a.id, text, at), &none)
            .await?;
    }
    store
        .append(
            super::text(&theirs.id, &outsider.id, "café secret", 20_000),
            &none,
        )
        .await?;

    // Prefix, folded, newest first, two to a page, then the next page after the last.
    let first = store.search(search(&b.id, "Cafe", None)).await?;
    assert_eq!(
        contents(&first),
        ["cafeteria food", "CAFÉS ouverts le dimanche"]
    );
    let last = first.last().expect("a page");
    let cursor = SearchCursor {
        dateline: last.dateline,
        id: last.id.clone(),
    };
    let second = store.search(search(&b.id, "cafe", Some(cursor))).await?;
    assert_eq!(contents(&second), ["Le café est fermé"]);
    // Every term must match; whole words too.
    assert_eq!(
        contents(&store.search(search(&b.id, "café fermé", None)).await?),
        ["Le café est fermé"]
    );
    assert!(
        store
            .search(search(&b.id, "cafe zzz", None))
            .await?
            .is_empty()
    );
    // Chinese by pairs.
    assert_eq!(
        contents(&store.search(search(&b.id, "東京", None)).await?),
        ["我們在東京都見面"]
    );
    // Not in a chat one is not a member of; a chat of one's own can be asked for alone.
    assert!(
        store
            .search(search(&b.id, "secret", None))
            .await?
            .is_empty()
    );
    let mut only = search(&outsider.id, "cafe", None);
    only.session = Some(ours.id.clone());
    assert!(store.search(only).await?.is_empty());
    only = search(&outsider.id, "cafe", None);
    assert_eq!(contents(&store.search(only).await?), ["café secret"]);
    // A query of no word finds nothing.
    assert!(store.search(search(&b.id, "!!!", None)).await?.is_empty());
    Ok(())
}
