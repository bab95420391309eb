//! Per-chat delivery in stored order, exactly once: a small buffer a chat's session core feeds
//! with every stored event it learns of (its own and those from other nodes). It lived in the
//! mesh crate until its only user, the session actor, became a pure core.
//!
//! The store gives each chat's messages a sequence number (`seq`). Events from one origin
//! node arrive in order over its link, but two nodes writing the same chat can interleave:
//! node C may get seq 6 from B before seq 5 from A. [`Reorder`] releases events strictly in
//! `seq` order, drops duplicates (anything at or below what it released), and holds events
//! behind a gap for at most `hold`. When a gap outlives that, it reports
//! [`Step::Missing`] so the caller reads the missing range from the store (the source of
//! truth), and then releases what it held. An event that turns up after its gap was given up
//! on is dropped as a duplicate: the store read delivered it.
//!
//! Time is an argument (`now`, any monotonic [`Duration`] since an origin of the caller's
//! choosing), so the buffer is tested without clocks.

use std::collections::BTreeMap;
use std::time::Duration;

/// What the caller does next, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// Deliver this event (its `seq` is the one after the last delivered).
    Deliver(i64, T),
    /// Events `after + 1 ..= upto` never arrived in time: read them from the store
    /// (`messages_after(after)`, keeping `seq <= upto`) and deliver them now, before any
    /// later step.
    Missing {
        /// The last seq delivered before the gap.
        after: i64,
        /// The last missing seq.
        upto: i64,
    },
}

/// The reorder buffer of one chat.
#[derive(Debug)]
pub(crate) struct Reorder<T> {
    /// The last seq delivered (or reported missing); `None` until the first event anchors it.
    last: Option<i64>,
    /// Events waiting for a gap to fill, by seq, with when each arrived.
    held: BTreeMap<i64, (T, Duration)>,
    /// How long a gap may hold events back.
    hold: Duration,
    /// How many events may wait; one more gives up on the gap at once.
    max_held: usize,
}

impl<T> Reorder<T> {
    /// A buffer that has delivered everything up to `last` (the chat's latest seq when the
    /// session actor loaded it), or, with `None`, that takes the first event it sees as the
    /// start.
    pub(crate) fn new(last: Option<i64>, hold: Duration, max_held: usize) -> Reorder<T> {
        Reorder {
            last,
            held: BTreeMap::new(),
            hold,
            max_held: max_held.max(1),
        }
    }

    /// The last seq delivered or reported missing.
    pub(crate) fn last(&self) -> Option<i64> {
        self.last
    }

    /// Offers one event; returns what to do now, in order. A duplicate returns nothing.
    pub(crate) fn push(&mut self, seq: i64, item: T, now: Duration) -> Vec<Step<T>> {
        let last = *self.last.get_or_insert(seq - 1);
        if seq <= last || self.held.contains_key(&seq) {
            return Vec::new();
        }
        self.held.insert(seq, (item, now));
        let mut steps = Vec::new();
        if self.held.len() > self.max_held {
            self.give_up_gap(&mut steps);
        }
        self.release(&mut steps);
        steps
    }

    /// Gives up on gaps held longer than `hold` at `now`; returns what to do, in order.
    pub(crate) fn poll(&mut self, now: Duration) -> Vec<Step<T>> {
        let mut steps = Vec::new();
        while let Some(deadline) = self.deadline()
            && deadline <= now
        {
            self.give_up_gap(&mut steps);
            self.release(&mut steps);
        }
        steps
    }

    /// When the oldest held event's gap should be given up on (call [`poll`](Self::poll)
    /// then); `None` if nothing is held.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.held.values().map(|(_, at)| *at + self.hold).min()
    }

    /// Reports the gap before the first held event as missing and moves past it.
    fn give_up_gap(&mut self, steps: &mut Vec<Step<T>>) {
        if let (Some(last), Some((&first, _))) = (self.last, self.held.first_key_value())
            && first > last + 1
        {
            steps.push(Step::Missing {
                after: last,
                upto: first - 1,
            });
            self.last = Some(first - 1);
        }
    }

    /// Delivers held events while they follow on.
    fn release(&mut self, steps: &mut Vec<Step<T>>) {
        while let Some(last) = self.last
            && let Some(entry) = self.held.first_entry()
            && *entry.key() == last + 1
        {
            let (seq, (item, _)) = entry.remove_entry();
            self.last = Some(seq);
            steps.push(Step::Deliver(seq, item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOLD: Duration = Duration::from_millis(500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delivered(steps: &[Step<&'static str>]) -> Vec<i64> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Deliver(seq, _) => Some(*seq),
                Step::Missing { .. } => None,
            })
            .collect()
    }

    #[test]
    fn in_order_passes_straight_through_and_duplicates_are_dropped() {
        let mut r = Reorder::new(Some(4), HOLD, 16);
        assert_eq!(r.push(5, "a", ms(0)), vec![Step::Deliver(5, "a")]);
        assert!(r.push(5, "a", ms(1)).is_empty());
        assert!(r.push(3, "old", ms(1)).is_empty());
        assert_eq!(r.push(6, "b", ms(2)), vec![Step::Deliver(6, "b")]);
        assert_eq!(r.last(), Some(6));
    }

    #[test]
    fn a_gap_holds_back_until_filled() {
        let mut r = Reorder::new(Some(4), HOLD, 16);
        assert!(r.push(6, "b", ms(0)).is_empty());
        assert!(r.push(7, "c", ms(0)).is_empty());
        assert_eq!(r.deadline(), Some(HOLD));
        assert_eq!(delivered(&r.push(5, "a", ms(10))), vec![5, 6, 7]);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn an_old_gap_is_reported_missing_then_later_events_flow() {
        let mut r = Reorder::new(Some(4), HOLD, 16);
        assert!(r.push(7, "c", ms(0)).is_empty());
        assert!(r.poll(ms(499)).is_empty());
        assert_eq!(
            r.poll(ms(500)),
            vec![Step::Missing { after: 4, upto: 6 }, Step::Deliver(7, "c")]
        );
        // The late arrival was read from the store already.
        assert!(r.push(5, "a", ms(600)).is_empty());
        assert_eq!(delivered(&r.push(8, "d", ms(600))), vec![8]);
    }

    #[test]
    fn too_many_held_gives_up_at_once() {
        let mut r = Reorder::new(Some(0), HOLD, 2);
        assert!(r.push(2, "b", ms(0)).is_empty());
        assert!(r.push(3, "c", ms(0)).is_empty());
        assert_eq!(
            r.push(4, "d", ms(0)),
            vec![
                Step::Missing { after: 0, upto: 1 },
                Step::Deliver(2, "b"),
                Step::Deliver(3, "c"),
                Step::Deliver(4, "d")
            ]
        );
    }

    #[test]
    fn unanchored_starts_at_the_first_event() {
        let mut r = Reorder::new(None, HOLD, 4);
        assert_eq!(delivered(&r.push(42, "x", ms(0))), vec![42]);
        assert!(r.push(41, "y", ms(0)).is_empty());
    }

    proptest! {
        /// Whatever the arrival order and duplication, and whenever polled, every seq is
        /// delivered or reported missing exactly once, in increasing order; with no give-up
        /// (polls before the hold), everything is delivered.
        #[test]
        fn exactly_once_in_order(
            order in Just((1..=30i64).collect::<Vec<_>>()).prop_shuffle(),
            dups in proptest::collection::vec(1..=30i64, 0..10),
            poll_every in 1usize..8,
            late in any::<bool>(),
        ) {
            let mut r = Reorder::new(Some(0), HOLD, 64);
            let mut covered = Vec::new();
            let record = |steps: Vec<Step<i64>>, covered: &mut Vec<i64>| {
                for s in steps {
                    match s {
                        Step::Deliver(seq, item) => { assert_eq!(seq, item); covered.push(seq) }
                        Step::Missing { after, upto } => covered.extend(after + 1..=upto),
                    }
                }
            };
            let mut now = Duration::ZERO;
            for (i, seq) in order.iter().chain(dups.iter()).enumerate() {
                record(r.push(*seq, *seq, now), &mut covered);
                if i % poll_every == 0 {
                    if late { now += HOLD; }
                    record(r.poll(now), &mut covered);
                }
            }
            record(r.poll(now + HOLD), &mut covered);
            prop_assert_eq!(covered, (1..=30).collect::<Vec<_>>());
        }
    }
}
