//! One test per case: online and offline, posting and retries, resume, ordering and gaps,
//! tail reads, unread resets, leaves, slow clients and pushes.

use super::*;
use crate::session::core::repair::resync_at;

// --- chat.rs: online, text, offline ---

#[test]
fn a_newcomer_gets_its_own_online_first_and_the_others_hear_of_it() {
    let mut shell = Shell::new(false, &[1, 2, 3], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    assert_eq!(
        shell.contents(alice),
        ["User user1 online session", "User user2 online session"]
    );
    assert_eq!(shell.contents(bob), ["User user2 online session"]);
    // Alone, nothing goes to the mesh.
    assert!(shell.published.is_empty() && shell.synced.is_empty());
}

#[test]
fn a_post_reaches_every_subscriber_once_in_stored_order_and_the_members_push_channels() {
    let mut shell = Shell::new(false, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    for seq in 1..=3 {
        shell.post(seq, Some(alice));
    }
    assert_eq!(shell.seqs(alice), [1, 2, 3]);
    assert_eq!(shell.seqs(bob), [1, 2, 3]);
    // A group: one push frame for both members, per message.
    assert_eq!(shell.pushed.len(), 3);
    let (uids, _) = &shell.pushed[0][0];
    assert_eq!(uids.as_ref(), [uid(1), uid(2)]);
    // Plain subscribers get CookIM's ten fields, no seq.
    assert!(shell.seq_fields(bob).is_empty());
}

#[test]
fn a_private_chat_pushes_each_member_the_other() {
    let mut shell = Shell::new(false, &[1, 2], 0);
    shell
        .core
        .loaded(session(SessionType::Private), vec![view(1), view(2)]);
    shell.post(1, None);
    let frames = &shell.pushed[0];
    assert_eq!(frames.len(), 2);
    assert!(frames[0].1.as_str().contains(r#""sessionName":"user2""#));
    assert!(frames[1].1.as_str().contains(r#""sessionName":"user1""#));
}

#[test]
fn offline_tells_the_others_and_the_mesh() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    shell.input(Input::Offline { conn: bob, wall: 0 });
    assert_eq!(
        shell.contents(alice).last().map(String::as_str),
        Some("User user2 offline session")
    );
    let kinds: Vec<ChatKind> = shell.published.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [ChatKind::Online, ChatKind::Online, ChatKind::Offline]
    );
    // Offline for an unknown connection is nothing.
    shell.input(Input::Offline { conn: bob, wall: 0 });
    assert_eq!(shell.published.len(), 3);
}

// --- retries.rs ---

#[test]
fn a_retry_is_echoed_to_the_retrying_connection_only() {
    let mut shell = Shell::new(false, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    shell.post(1, Some(alice));
    let stored = shell.store[&1].clone();
    shell.input(Input::Stored {
        conn: Some(alice),
        message: stored,
        sender: view(1).sender(),
        fresh: false,
        change: Membership::Same,
        reply: None,
    });
    assert_eq!(shell.seqs(alice), [1, 1]);
    assert_eq!(shell.seqs(bob), [1]);
    assert_eq!(shell.pushed.len(), 1);
}

// --- resume.rs ---

#[test]
fn a_resuming_connection_gets_live_frames_with_seq_after_it_caught_up() {
    let mut shell = Shell::new(false, &[1, 2], 4);
    let bob = shell.online(2, Some(0));
    assert_eq!(shell.core.watermark(), 4);
    // While bob's task sends 1..=4 from the store, 5 and 6 are held for him.
    shell.post(5, None);
    shell.post(6, None);
    assert_eq!(shell.seqs(bob), Vec::<i64>::new());
    shell.input(Input::CaughtUp { conn: bob });
    assert_eq!(shell.seq_fields(bob), [5, 6]);
    shell.post(7, None);
    assert_eq!(shell.seq_fields(bob), [5, 6, 7]);
}

#[test]
fn a_resuming_client_ahead_of_the_node_gets_nothing_twice() {
    let mut shell = Shell::new(false, &[1, 2], 3);
    // Bob says he has up to 5; this node has delivered up to 3.
    let bob = shell.online(2, Some(5));
    shell.input(Input::CaughtUp { conn: bob });
    for seq in 4..=7 {
        shell.post(seq, None);
    }
    assert_eq!(shell.seq_fields(bob), [6, 7]);
}

#[test]
fn a_retry_on_a_resuming_connection_is_echoed_with_its_seq_and_client_id() {
    let mut shell = Shell::new(false, &[1], 0);
    let alice = shell.online(1, Some(0));
    shell.input(Input::CaughtUp { conn: alice });
    let mut message = message(1, 1);
    message.client_id = Some("c-1".into());
    shell.store.insert(1, message.clone());
    for fresh in [true, false] {
        shell.input(Input::Stored {
            conn: Some(alice),
            message: message.clone(),
            sender: view(1).sender(),
            fresh,
            change: Membership::Same,
            reply: None,
        });
    }
    let frames = &shell.frames[&alice];
    let echoes: Vec<(i64, &str)> = frames
        .iter()
        .filter_map(|f| Some((f["seq"].as_i64()?, f["clientId"].as_str()?)))
        .collect();
    assert_eq!(echoes, [(1, "c-1"), (1, "c-1")]);
}

#[test]
fn a_retry_not_yet_delivered_here_goes_to_everyone_in_order() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    // Seq 2 from another node waits behind 1, which is the retried message's.
    shell.remote(2);
    shell.store.insert(1, message(1, 1));
    shell.input(Input::Stored {
        conn: Some(alice),
        message: message(1, 1),
        sender: view(1).sender(),
        fresh: false,
        change: Membership::Same,
        reply: None,
    });
    assert_eq!(shell.seqs(alice), [1, 2]);
    assert_eq!(shell.seqs(bob), [1, 2]);
}

#[test]
fn a_resuming_connection_too_far_behind_is_closed_and_forgotten() {
    let mut shell = Shell::new(false, &[1, 2], 0);
    let bob = shell.online(2, Some(0));
    let last = i64::try_from(MAX_CATCH_UP_HELD).unwrap_or(i64::MAX) + 1;
    for seq in 1..=last {
        shell.post(seq, None);
    }
    assert_eq!(shell.closed, [bob]);
    assert!(!shell.core.has_subscribers());
}

// --- cluster.rs: order across nodes, gaps, tails ---

#[test]
fn events_from_other_nodes_are_put_in_order() {
    let mut shell = Shell::new(true, &[1, 2], 4);
    let alice = shell.online(1, None);
    shell.remote(6);
    shell.remote(7);
    assert!(shell.seqs(alice).is_empty());
    shell.remote(5);
    assert_eq!(shell.seqs(alice), [5, 6, 7]);
    // Duplicates and history are dropped.
    shell.arrive(6);
    shell.arrive(3);
    assert_eq!(shell.seqs(alice), [5, 6, 7]);
    assert!(shell.reads.is_empty());
}

#[test]
fn a_gap_that_outlives_the_hold_is_read_from_the_store() {
    let mut shell = Shell::new(true, &[1, 2], 4);
    let alice = shell.online(1, None);
    shell.store.insert(5, message(5, 1));
    shell.store.insert(6, message(6, 1));
    shell.remote(7);
    shell.wait(REORDER_HOLD - ms(1));
    assert!(shell.seqs(alice).is_empty());
    shell.wait(ms(1));
    assert_eq!(shell.seqs(alice), [5, 6, 7]);
    assert_eq!(
        shell.reads[0],
        Read {
            kind: ReadKind::Gap { upto: 6 },
            after: 4,
            limit: 2
        }
    );
    // The late envelope was delivered by the read.
    shell.arrive(5);
    assert_eq!(shell.seqs(alice), [5, 6, 7]);
}

#[test]
fn too_many_held_reads_the_gap_at_once() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    shell.store.insert(1, message(1, 1));
    let last = i64::try_from(REORDER_MAX_HELD).unwrap_or(i64::MAX) + 2;
    for seq in 2..=last {
        shell.remote(seq);
    }
    assert_eq!(shell.seqs(alice), (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_long_gap_is_read_in_pages() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    let upto = i64::from(GAP_PAGE) * 2 + 10;
    for seq in 1..=upto {
        shell.store.insert(seq, message(seq, 1));
    }
    shell.remote(upto + 1);
    shell.wait(REORDER_HOLD);
    assert_eq!(shell.seqs(alice), (1..=upto + 1).collect::<Vec<_>>());
    let afters: Vec<i64> = shell
        .reads
        .iter()
        .filter(|r| matches!(r.kind, ReadKind::Gap { .. }))
        .map(|r| r.after)
        .collect();
    assert_eq!(afters, [0, i64::from(GAP_PAGE), i64::from(GAP_PAGE) * 2]);
}

#[test]
fn a_seq_the_gap_read_did_not_find_comes_late_rather_than_never() {
    let mut shell = Shell::new(true, &[1, 2], 4);
    let alice = shell.online(1, None);
    shell.wait(RECHECK_DELAY); // the subscription's tail read, with nothing new
    // 5 is numbered but not visible yet; 6 arrives.
    shell.remote(6);
    shell.wait(REORDER_HOLD);
    assert_eq!(shell.seqs(alice), [6]);
    shell.store.insert(5, message(5, 1));
    shell.wait(RECHECK_DELAY);
    assert_eq!(shell.seqs(alice), [6, 5]);
}

#[test]
fn a_seq_never_stored_is_given_up_after_a_few_reads() {
    let mut shell = Shell::new(true, &[1, 2], 4);
    let alice = shell.online(1, None);
    shell.remote(6);
    shell.wait(REORDER_HOLD);
    let reads = |shell: &Shell| {
        shell
            .reads
            .iter()
            .filter(|r| r.kind == ReadKind::Unfilled)
            .count()
    };
    shell.wait(RECHECK_DELAY * 10);
    assert_eq!(reads(&shell), usize::from(RECHECK_TRIES));
    assert_eq!(shell.seqs(alice), [6]);
}

#[test]
fn subscribing_in_a_cluster_reads_the_tail_a_second_later() {
    let mut shell = Shell::new(true, &[1, 2], 4);
    let alice = shell.online(1, None);
    assert_eq!(shell.synced, [true]);
    // Another node stored 5 and 6 before it learned of this node's subscription.
    shell.store.insert(5, message(5, 2));
    shell.store.insert(6, message(6, 2));
    shell.wait(RECHECK_DELAY - ms(1));
    assert!(shell.seqs(alice).is_empty());
    shell.wait(ms(1));
    assert_eq!(shell.seqs(alice), [5, 6]);
}

#[test]
fn a_lost_last_event_arrives_after_a_second_of_quiet() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    shell.wait(RECHECK_DELAY);
    shell.remote(1);
    // 2 is stored elsewhere but its envelope is lost: no later event shows the gap.
    shell.store.insert(2, message(2, 2));
    shell.wait(QUIET_TAIL_CHECK - ms(1));
    assert_eq!(shell.seqs(alice), [1]);
    shell.wait(ms(1));
    assert_eq!(shell.seqs(alice), [1, 2]);
    // What the tail read delivered counts as a stored event: one more quiet read follows (it
    // finds nothing), then none.
    let reads = shell.reads.len();
    shell.wait(QUIET_TAIL_CHECK * 5);
    assert_eq!(shell.reads.len(), reads + 1);
}

#[test]
fn a_link_change_reads_the_tail_soon_but_not_again_within_the_interval() {
    let now = ms(10_000);
    // Nothing planned, never read: shortly.
    assert_eq!(resync_at(now, None, None), now + LINK_CHANGE_CHECK);
    // A quiet check already due sooner stays.
    assert_eq!(resync_at(now, Some(now + ms(50)), None), now + ms(50));
    // A later one is brought forward.
    assert_eq!(
        resync_at(now, Some(now + ms(900)), None),
        now + LINK_CHANGE_CHECK
    );
    // Read 200 ms ago: not before a second has passed since.
    let last = now - ms(200);
    assert_eq!(resync_at(now, None, Some(last)), last + RESYNC_INTERVAL);
    // Read long ago: shortly again.
    assert_eq!(
        resync_at(now, None, Some(now - ms(5000))),
        now + LINK_CHANGE_CHECK
    );
    // A burst of changes moves nothing once the read is planned.
    let planned = resync_at(now, None, Some(last));
    for later in [10, 100, 500] {
        assert_eq!(
            resync_at(now + ms(later), Some(planned), Some(last)),
            planned
        );
    }
}

#[test]
fn a_link_change_reads_the_tail_shortly_once_per_burst() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    shell.wait(RECHECK_DELAY);
    let before = shell.reads.len();
    shell.store.insert(1, message(1, 2));
    for _ in 0..5 {
        shell.input(Input::LinkChanged);
        shell.wait(ms(10));
    }
    shell.wait(LINK_CHANGE_CHECK);
    assert_eq!(shell.seqs(alice), [1]);
    assert_eq!(shell.reads.len(), before + 1);
    // Without subscribers neither the quiet check nor a link change reads anything.
    shell.input(Input::Offline {
        conn: alice,
        wall: 0,
    });
    shell.input(Input::LinkChanged);
    shell.wait(RESYNC_INTERVAL * 5);
    assert_eq!(shell.reads.len(), before + 1);
}

#[test]
fn a_node_that_resubscribes_delivers_only_what_comes_after() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let bob = shell.online(2, None);
    shell.input(Input::Offline { conn: bob, wall: 0 });
    assert_eq!(shell.synced, [true, false]);
    for seq in 1..=5 {
        shell.store.insert(seq, message(seq, 1));
    }
    shell.core.prepare_online();
    assert!(shell.core.needs_session() && shell.core.needs_anchor());
    shell
        .core
        .loaded(session(SessionType::Group), vec![view(1), view(2)]);
    shell.core.anchored(5);
    let bob = shell.online(2, None);
    shell.remote(6);
    assert_eq!(shell.seqs(bob), [6]);
}

// --- push.rs and cluster.rs: unread counts ---

#[test]
fn unread_counts_raised_elsewhere_are_reset_once_per_burst() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    shell.online(1, None);
    shell.wait(RECHECK_DELAY);
    for seq in 1..=5 {
        shell.remote(seq);
        shell.wait(ms(100));
    }
    shell.wait(UNREAD_RESET_DELAY);
    assert_eq!(shell.resets, [HashSet::from([uid(1)])]);
    // A reset still running puts the next one off by the delay.
    shell.resetting = true;
    shell.remote(6);
    shell.wait(UNREAD_RESET_DELAY);
    assert_eq!(shell.resets.len(), 1);
    shell.resetting = false;
    shell.wait(UNREAD_RESET_DELAY);
    assert_eq!(shell.resets.len(), 2);
}

// --- groups: joins and leaves ---

#[test]
fn a_leaver_sees_their_leave_then_nothing_more() {
    let mut shell = Shell::new(false, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    let mut leave = message(1, 2);
    leave.msg_type = ChatKind::Leave;
    shell.store.insert(1, leave.clone());
    shell.input(Input::Stored {
        conn: None,
        message: leave,
        sender: view(2).sender(),
        fresh: true,
        change: Membership::Left(uid(2)),
        reply: None,
    });
    shell.post(2, Some(alice));
    assert_eq!(shell.seqs(alice), [1, 2]);
    assert_eq!(shell.seqs(bob), [1]);
    assert!(!shell.core.is_member(&uid(2)));
}

#[test]
fn a_leave_on_another_node_ends_the_leavers_subscription_here() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    let mut down = shell.core.render(&message(1, 2), view(2).sender());
    down.msg_type = ChatKind::Leave;
    let envelope = Envelope::from_chat_down(sid(), 1, &down, Vec::new());
    if let Some(envelope) = envelope {
        shell.input(Input::Remote(Box::new(envelope)));
    }
    shell.remote(2);
    assert_eq!(shell.seqs(alice), [1, 2]);
    assert_eq!(shell.seqs(bob), [1]);
}

#[test]
fn a_join_adds_the_member_to_the_push_targets() {
    let mut shell = Shell::new(false, &[1], 0);
    shell.post(1, None);
    let mut join = message(2, 3);
    join.msg_type = ChatKind::Join;
    shell.input(Input::Stored {
        conn: None,
        message: join,
        sender: view(3).sender(),
        fresh: true,
        change: Membership::Joined(view(3)),
        reply: None,
    });
    assert!(shell.core.is_member(&uid(3)));
    assert_eq!(shell.pushed[1][0].0.as_ref(), [uid(1), uid(3)]);
}

// --- slow clients ---

#[test]
fn a_full_outbox_is_cut_and_the_others_go_on() {
    let mut shell = Shell::new(true, &[1, 2], 0);
    let alice = shell.online(1, None);
    let bob = shell.online(2, None);
    shell.full.insert(bob);
    shell.post(1, None);
    shell.full.clear();
    shell.post(2, None);
    assert_eq!(shell.seqs(alice), [1, 2]);
    assert!(shell.seqs(bob).is_empty());
    assert_eq!(shell.core.online_set().len(), 1);
    // The last subscriber gone, the mesh hears of it.
    shell.input(Input::Offline {
        conn: alice,
        wall: 0,
    });
    assert_eq!(shell.synced, [true, false]);
}
