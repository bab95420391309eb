//! What the core does when the mesh may have failed it: gaps read from the store, seqs read
//! again, tails read after subscribing, after a quiet spell or a link change; and the
//! deadlines that pace those reads and the unread resets.

use std::time::Duration;

use super::fanout::page_limit;
use super::{
    Core, Effect, GAP_PAGE, Item, LINK_CHANGE_CHECK, MAX_UNFILLED, Page, RECHECK_DELAY,
    RECHECK_TRIES, RESYNC_INTERVAL, Read, ReadKind,
};
use crate::session::reorder::Reorder;

impl<O: Clone> Core<O> {
    /// A store read's answer.
    pub(super) fn read(&mut self, items: &mut Vec<Item<O>>, read: Read, page: Result<Page, ()>) {
        match read.kind {
            ReadKind::Gap { upto } => self.gap_page(items, read.after, upto, page),
            ReadKind::Tail => {
                // A failed tail read waits for the next reason to read it.
                for event in page.map(|p| p.events).unwrap_or_default() {
                    items.push(Item::Order(event));
                }
            }
            ReadKind::Unfilled => {
                for event in page.map(|p| p.events).unwrap_or_default() {
                    if self.unfilled.remove(&event.seq).is_some() {
                        // Late, and out of order, rather than never.
                        items.push(Item::Broadcast(event));
                    }
                }
                self.unfilled.retain(|_, tries| {
                    *tries += 1;
                    *tries < RECHECK_TRIES
                });
                if !self.unfilled.is_empty() {
                    self.recheck_at = Some(self.now + RECHECK_DELAY);
                }
            }
        }
    }

    /// One page of a gap `after + 1 ..= upto` that never came over the mesh: deliver what it
    /// has, note what it lacks, and read the next page while the gap is not covered.
    fn gap_page(
        &mut self,
        items: &mut Vec<Item<O>>,
        after: i64,
        upto: i64,
        page: Result<Page, ()>,
    ) {
        let Ok(page) = page else {
            self.note_unfilled(after + 1, upto + 1);
            return;
        };
        let Some(last) = page.last else {
            self.note_unfilled(after + 1, upto + 1);
            return;
        };
        let mut expected = after + 1;
        for event in page.events.into_iter().filter(|e| e.seq <= upto) {
            self.note_unfilled(expected, event.seq);
            expected = event.seq + 1;
            items.push(Item::Broadcast(event));
        }
        if last >= upto {
            self.note_unfilled(expected, upto + 1);
        } else {
            items.push(Item::Effect(Effect::Read(Read {
                kind: ReadKind::Gap { upto },
                after: last,
                limit: page_limit(upto - last),
            })));
        }
    }

    /// Seqs `from..to` were not in the store when a gap was filled: numbered by another node
    /// but not yet visible, most likely. Re-read them shortly.
    fn note_unfilled(&mut self, from: i64, to: i64) {
        for seq in from..to {
            if self.unfilled.len() >= MAX_UNFILLED {
                break;
            }
            self.unfilled.insert(seq, 0);
        }
        if !self.unfilled.is_empty() && self.recheck_at.is_none() {
            self.recheck_at = Some(self.now + RECHECK_DELAY);
        }
    }

    /// Reads the chat's tail shortly (if anyone here follows it): a mesh link opened or
    /// broke, or a peer dropped events for this node at its full link queue, and those events
    /// may be lost without a later one to show the gap. Shortly, so the new link's first
    /// events come first and one read serves a burst of link changes.
    pub(super) fn link_changed(&mut self) {
        if self.subscribers.is_empty() {
            return;
        }
        self.quiet_check_at = Some(resync_at(self.now, self.quiet_check_at, self.tail_read_at));
    }

    /// Does what is due at `now`: gaps given up on, unread counts reset, rechecks and the
    /// quiet chat's tail read, in that order.
    pub(super) fn tick(&mut self, items: &mut Vec<Item<O>>) {
        let now = self.now;
        if let Some(reorder) = &mut self.reorder {
            let steps = reorder.poll(now);
            self.steps(items, steps);
        }
        if self.unread_reset.is_some_and(|at| at <= now) {
            self.unread_reset = None;
            let users = self.online_set();
            items.push(Item::Effect(Effect::ResetUnread(users)));
        }
        if self.recheck_at.is_some_and(|at| at <= now) {
            self.recheck_at = None;
            items.push(Item::Recheck);
        }
        if self.quiet_check_at.is_some_and(|at| at <= now) {
            self.quiet_check_at = None;
            items.push(Item::QuietCheck);
        }
        self.flush_marks(items);
    }

    /// Reads from the store what the mesh did not bring: the chat's tail after subscribing
    /// (or a quiet spell), then seqs a gap fill did not find yet.
    pub(super) fn recheck(&mut self, items: &mut Vec<Item<O>>) {
        if std::mem::take(&mut self.recheck_tail)
            && let Some(last) = self.reorder.as_ref().and_then(Reorder::last)
        {
            items.push(Item::Effect(Effect::Read(Read {
                kind: ReadKind::Tail,
                after: last,
                limit: GAP_PAGE,
            })));
        }
        items.push(Item::Unfilled);
    }

    /// The unfilled half of a recheck, planned once the tail's events are in order.
    pub(super) fn unfilled_read(&mut self, items: &mut Vec<Item<O>>) {
        let (Some(&first), Some(&last)) = (
            self.unfilled.keys().next(),
            self.unfilled.keys().next_back(),
        ) else {
            return;
        };
        items.push(Item::Effect(Effect::Read(Read {
            kind: ReadKind::Unfilled,
            after: first - 1,
            limit: page_limit(last - first + 1),
        })));
    }
}

/// When a chat told of a link change at `now` reads its tail: [`LINK_CHANGE_CHECK`] later (or
/// at the read already planned, if sooner), but not within [`RESYNC_INTERVAL`] of the last
/// read. One read serves every change before it.
pub(super) fn resync_at(
    now: Duration,
    planned: Option<Duration>,
    last_read: Option<Duration>,
) -> Duration {
    let soon = last_read.map_or(now + LINK_CHANGE_CHECK, |last| {
        (now + LINK_CHANGE_CHECK).max(last + RESYNC_INTERVAL)
    });
    planned.map_or(soon, |at| at.min(soon))
}
