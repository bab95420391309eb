//! Any interleaving of inputs delivers each stored `seq` once and in order.

use proptest::prelude::*;

use super::*;

/// One step of a run.
#[derive(Clone, Debug)]
enum Op {
    /// The next unannounced seq's envelope arrives (or, with `local`, this node stores it).
    Next { local: bool },
    /// An envelope already seen arrives again (the `n`-th seq announced, wrapping).
    Again(usize),
    /// A stored seq's envelope is lost: only the store has it.
    Lose,
    /// Virtual time passes.
    Wait(u64),
    /// A mesh link changed.
    Link,
    /// A retry of the `n`-th stored seq comes back from the store (same client id).
    Retry(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|local| Op::Next { local }),
        1 => any::<usize>().prop_map(Op::Again),
        1 => Just(Op::Lose),
        2 => (0u64..1500).prop_map(Op::Wait),
        1 => Just(Op::Link),
        1 => any::<usize>().prop_map(Op::Retry),
    ]
}

/// Shuffles the order envelopes arrive in: each step may announce one of the next `window`
/// seqs stored (other nodes write at once), so arrivals interleave.
fn run(ops: &[Op], window: usize, clustered: bool, after: Option<i64>) -> (Shell, ConnId, ConnId) {
    let mut shell = Shell::new(clustered, &[1, 2], 3);
    let plain = shell.online(1, None);
    let resuming = shell.online(2, after);
    let mut stored = 3i64;
    // Seqs stored but not yet announced, oldest first.
    let mut pending: Vec<i64> = Vec::new();
    let mut announced: Vec<i64> = Vec::new();
    let mut caught_up = false;
    for (i, op) in ops.iter().enumerate() {
        if !caught_up && i == ops.len() / 2 {
            shell.input(Input::CaughtUp { conn: resuming });
            caught_up = true;
        }
        match op {
            Op::Next { local } => {
                while pending.len() < window {
                    stored += 1;
                    shell.store.insert(stored, message(stored, 2));
                    pending.push(stored);
                }
                let pick = if clustered { i % pending.len() } else { 0 };
                let seq = pending.remove(pick);
                if *local && !clustered {
                    shell.input(Input::Stored {
                        conn: None,
                        message: message(seq, 1),
                        sender: view(1).sender(),
                        fresh: true,
                        change: Membership::Same,
                        reply: None,
                    });
                } else {
                    shell.arrive(seq);
                }
                announced.push(seq);
            }
            Op::Again(n) if !announced.is_empty() => {
                shell.arrive(announced[n % announced.len()]);
            }
            Op::Lose if clustered && !pending.is_empty() => {
                pending.remove(0);
            }
            Op::Wait(n) => shell.wait(ms(*n)),
            Op::Link => shell.input(Input::LinkChanged),
            Op::Retry(n) if !announced.is_empty() => {
                let seq = announced[n % announced.len()];
                shell.input(Input::Stored {
                    conn: Some(plain),
                    message: message(seq, 1),
                    sender: view(1).sender(),
                    fresh: false,
                    change: Membership::Same,
                    reply: None,
                });
            }
            _ => {}
        }
    }
    if !caught_up {
        shell.input(Input::CaughtUp { conn: resuming });
    }
    // Everything announced or lost has been stored: in a cluster the tail reads bring the
    // rest; alone, the node announces whatever is pending itself.
    if clustered {
        shell.wait(ms(10_000));
    } else {
        for seq in std::mem::take(&mut pending) {
            shell.arrive(seq);
        }
    }
    (shell, plain, resuming)
}

/// The stored seqs a connection got, without the echoes of retries (which go to the
/// retrying connection again, by design).
fn delivered(shell: &Shell, conn: ConnId, retries: bool) -> Vec<i64> {
    let mut seqs = shell.seqs(conn);
    if retries {
        let mut seen = std::collections::HashSet::new();
        seqs.retain(|seq| seen.insert(*seq));
    }
    seqs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// In a cluster, whatever the arrival order, duplication, loss and timing: each
    /// subscriber gets every seq after the anchor once, in order (a resuming one from what
    /// it has), and no more than the store holds.
    #[test]
    fn each_seq_once_and_in_order_in_a_cluster(
        ops in proptest::collection::vec(op(), 1..60),
        window in 1usize..4,
        after in 0i64..8,
    ) {
        let (shell, plain, resuming) = run(&ops, window, true, Some(after));
        let last = shell.store.keys().next_back().copied().unwrap_or(3);
        prop_assert_eq!(delivered(&shell, plain, true), (4..=last).collect::<Vec<_>>());
        let from = after.max(3) + 1;
        prop_assert_eq!(shell.seq_fields(resuming), (from..=last).collect::<Vec<_>>());
    }

    /// Alone, posts and their retries: each seq once, in order, for every subscriber; only
    /// the retrying connection sees an echo again.
    #[test]
    fn each_seq_once_and_in_order_alone(
        ops in proptest::collection::vec(op(), 1..60),
        after in 0i64..8,
    ) {
        let (shell, plain, resuming) = run(&ops, 1, false, Some(after));
        let last = shell.store.keys().next_back().copied().unwrap_or(3);
        prop_assert_eq!(delivered(&shell, plain, true), (4..=last).collect::<Vec<_>>());
        let from = after.max(3) + 1;
        prop_assert_eq!(shell.seq_fields(resuming), (from..=last).collect::<Vec<_>>());
    }
}
