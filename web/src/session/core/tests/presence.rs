//! Typing and read receipts: only to connections that asked (`ext`), never back to their
//! sender, throttled per user, across nodes.

use super::*;

fn typing(shell: &mut Shell, n: u8) {
    shell.input(Input::Typing {
        uid: uid(n),
        nickname: format!("user{n}"),
        wall: 0,
    });
}

fn read_up(shell: &mut Shell, n: u8, seq: i64) {
    shell.input(Input::ReadUp { uid: uid(n), seq });
}

#[test]
fn typing_reaches_only_other_ext_connections_and_is_throttled() {
    let mut shell = Shell::new(true, &[1, 2, 3], 0);
    let typist = shell.online_ext(1);
    let watcher = shell.online_ext(2);
    let cookim = shell.online(3, None);
    typing(&mut shell, 1);
    let seen = shell.of_kind(watcher, "typing");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["uid"], uid(1).as_str());
    assert_eq!(seen[0]["nickname"], "user1");
    assert!(
        shell.of_kind(typist, "typing").is_empty(),
        "not to the typist"
    );
    assert!(
        !shell.kinds(cookim).iter().any(|k| k == "typing"),
        "CookIM's client never sees it"
    );
    let published = shell
        .published
        .iter()
        .filter(|e| e.kind == ChatKind::Typing)
        .count();
    assert_eq!(published, 1, "other nodes hear of it");

    // Every keystroke: one event per TYPING_INTERVAL.
    for _ in 0..20 {
        shell.wait(ms(100));
        typing(&mut shell, 1);
    }
    assert_eq!(shell.of_kind(watcher, "typing").len(), 2, "at 0 and at 2 s");
    shell.wait(TYPING_INTERVAL);
    typing(&mut shell, 1);
    assert_eq!(shell.of_kind(watcher, "typing").len(), 3);
    // Another user has a window of their own.
    typing(&mut shell, 3);
    assert_eq!(shell.of_kind(watcher, "typing").len(), 4);
}

#[test]
fn read_marks_move_forward_are_written_at_most_once_a_second_and_announced() {
    let mut shell = Shell::new(false, &[1, 2, 3], 10);
    let reader = shell.online_ext(1);
    let watcher = shell.online_ext(2);
    let cookim = shell.online(3, None);
    read_up(&mut shell, 1, 4);
    assert_eq!(shell.marks, vec![(uid(1), 4)]);
    let receipts = shell.of_kind(watcher, "read");
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        (&receipts[0]["uid"], &receipts[0]["seq"]),
        (&Value::from(uid(1).as_str()), &Value::from(4))
    );
    assert!(
        shell.of_kind(reader, "read").is_empty(),
        "not to the reader"
    );
    assert!(!shell.kinds(cookim).iter().any(|k| k == "read"));

    // Backwards or equal: nothing. Past the last message: clamped to it.
    read_up(&mut shell, 1, 3);
    read_up(&mut shell, 1, 4);
    assert_eq!(shell.marks.len(), 1);
    // Inside the window: held, the latest wins, written when the window ends.
    read_up(&mut shell, 1, 6);
    read_up(&mut shell, 1, 99);
    assert_eq!(shell.marks.len(), 1);
    shell.wait(RECEIPT_INTERVAL);
    assert_eq!(shell.marks, vec![(uid(1), 4), (uid(1), 10)]);
    assert_eq!(
        shell
            .of_kind(watcher, "read")
            .iter()
            .map(|r| r["seq"].as_i64())
            .collect::<Vec<_>>(),
        vec![Some(4), Some(10)]
    );
    // Nothing pending: no deadline left from the receipts.
    shell.wait(ms(5_000));
    assert_eq!(shell.marks.len(), 2);
}

#[test]
fn receipts_cross_nodes_and_a_known_mark_is_not_written_again() {
    let mut shell = Shell::new(true, &[1, 2], 10);
    let watcher = shell.online_ext(1);
    read_up(&mut shell, 2, 5);
    let envelope = shell
        .published
        .iter()
        .find(|e| e.kind == ChatKind::Read)
        .cloned()
        .expect("published");
    assert_eq!((envelope.mark, envelope.seq), (5, 0));
    // Another node's receipt for member 2 reaches this node's ext subscribers.
    let remote = Envelope::extension(sid(), ChatKind::Read, &uid(2), "", "", 8);
    shell.input(Input::Remote(Box::new(remote)));
    let seqs: Vec<_> = shell
        .of_kind(watcher, "read")
        .iter()
        .map(|r| r["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![Some(5), Some(8)]);
    // Member 2 reads up to 7 through this node: already known to be past it.
    shell.wait(RECEIPT_INTERVAL);
    read_up(&mut shell, 2, 7);
    assert_eq!(shell.marks, vec![(uid(2), 5)]);
    // A remote typing event goes to ext connections as it came.
    let remote = Envelope::extension(sid(), ChatKind::Typing, &uid(2), "user2", "t", 0);
    shell.input(Input::Remote(Box::new(remote)));
    assert_eq!(shell.of_kind(watcher, "typing")[0]["dateline"], "t");
}

#[test]
fn large_groups_store_marks_without_live_receipts() {
    let members: Vec<u8> =
        (1..=u8::try_from(LIVE_RECEIPTS_MAX_MEMBERS + 1).unwrap_or(u8::MAX)).collect();
    let mut shell = Shell::new(false, &members, 3);
    let watcher = shell.online_ext(1);
    read_up(&mut shell, 2, 3);
    assert_eq!(shell.marks, vec![(uid(2), 3)], "the mark is stored");
    assert!(
        shell.of_kind(watcher, "read").is_empty(),
        "but not announced"
    );
}
