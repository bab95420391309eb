//! Export and import: a store moved into another through a dump reads back the same.

use super::*;
use cookim_store::dump::{self, Record, Table};

/// Fills `from` (fresh) with every check's data, moves it into `to` (fresh) through a dump,
/// and checks that `to` exports the very same dump, that importing twice writes nothing, and
/// that `to` goes on where `from` stopped (logins, unread counts, numbering).
pub(crate) async fn a_dump_moves_everything(from: &dyn Store, to: &dyn Store) -> Result<()> {
    run_all(from).await?;
    let mut first = Vec::new();
    let exported = dump::export(from, &mut first).await?;
    assert!(
        exported.files > 0
            && exported.users > 0
            && exported.sessions > 0
            && exported.messages > 0
            && exported.notifications > 0,
        "{exported:?}"
    );

    let imported = dump::import(to, first.as_slice()).await?;
    assert_eq!((imported.written, imported.skipped), (exported.total(), 0));
    let mut second = Vec::new();
    assert_eq!(dump::export(to, &mut second).await?, exported);
    let (first_text, second_text) = (
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
    );
    for (n, (a, b)) in first_text.lines().zip(second_text.lines()).enumerate() {
        assert_eq!(a, b, "line {} of the dumps differs", n + 1);
    }

    let again = dump::import(to, first.as_slice()).await?;
    assert_eq!(
        (again.written, again.skipped),
        (0, exported.total()),
        "an import can be rerun"
    );

    // The moved store goes on where the first stopped.
    let sessions = to.export(Table::Sessions, None, 10_000).await?;
    let (session, members, last_seq) = sessions
        .into_iter()
        .find_map(|r| match r {
            Record::Session {
                session,
                members,
                last_seq,
            } if last_seq > 0 && !members.is_empty() => Some((session, members, last_seq)),
            _ => None,
        })
        .expect("a session with messages and members");
    let member = &members[0].uid;
    assert_eq!(to.user(member).await?, from.user(member).await?);
    assert_eq!(
        to.joined_sessions(member).await?,
        from.joined_sessions(member).await?
    );
    assert_eq!(
        to.unread_notifications(member).await?,
        from.unread_notifications(member).await?
    );
    let next = to
        .append(
            text(&session.id, member, "after the move", 9_000),
            &online(&[member]),
        )
        .await?;
    assert_eq!(next.seq, last_seq + 1);
    Ok(())
}

/// A dump of another format, a truncated line, or no header is refused, naming the problem.
pub(crate) async fn a_bad_dump_is_refused(to: &dyn Store) -> Result<()> {
    for (input, says) in [
        ("", "empty"),
        ("{\"header\":{\"format\":99}}\n", "format 99"),
        ("{\"record\":{\"notification\":{}}}\n", "no header"),
        ("{\"header\":{\"format\":1}}\n{\"record\":{\"mess", "line 2"),
    ] {
        let outcome = dump::import(to, input.as_bytes()).await;
        assert!(
            matches!(&outcome, Err(Error::Corrupt(message)) if message.contains(says)),
            "{input:?} gave {outcome:?}"
        );
    }
    Ok(())
}
