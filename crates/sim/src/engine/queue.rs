//! The event queue: a binary heap ordered by (time, sequence number).
//!
//! The sequence number is the order of scheduling, so events due at the same millisecond run
//! in the order they were scheduled, whatever the event is: the replay does not depend on how
//! events compare, and the same scenario and seed pop the same events in the same order.
//! Invariants (checked in debug builds): nothing is scheduled before the queue's current time,
//! and the time of popped events never goes backwards.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// One scheduled event. Ordered by (time, sequence) only; sequences are unique.
struct Entry<E> {
    at_ms: u64,
    seq: u64,
    ev: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

/// Events of type `E` in virtual time.
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    seq: u64,
    now_ms: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            now_ms: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// The time of the event popped last (0 before the first).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Schedules `ev` at `at_ms`, which must not be in the past.
    pub fn push(&mut self, at_ms: u64, ev: E) {
        debug_assert!(
            at_ms >= self.now_ms,
            "event scheduled in the past: {at_ms} ms < now {} ms",
            self.now_ms
        );
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at_ms,
            seq: self.seq,
            ev,
        }));
    }

    /// The next event and its time, advancing the queue's time to it.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let Reverse(e) = self.heap.pop()?;
        debug_assert!(e.at_ms >= self.now_ms, "virtual time went backwards");
        self.now_ms = e.at_ms;
        Some((e.at_ms, e.ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<E>(q: &mut EventQueue<E>) -> Vec<(u64, E)> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn pops_in_time_order() {
        let mut q = EventQueue::default();
        for (t, e) in [(30, 'c'), (10, 'a'), (20, 'b'), (0, 'z')] {
            q.push(t, e);
        }
        assert_eq!(drain(&mut q), [(0, 'z'), (10, 'a'), (20, 'b'), (30, 'c')]);
        assert!(q.pop().is_none());
        assert_eq!(q.now_ms(), 30);
    }

    #[test]
    fn ties_pop_in_scheduling_order_not_event_order() {
        // 'z' > 'a', yet scheduled first at the same millisecond it runs first.
        let mut q = EventQueue::default();
        q.push(5, 'z');
        q.push(5, 'a');
        q.push(5, 'm');
        q.push(4, 'q');
        assert_eq!(drain(&mut q), [(4, 'q'), (5, 'z'), (5, 'a'), (5, 'm')]);
    }

    #[test]
    fn events_scheduled_while_running_keep_the_order() {
        let mut q = EventQueue::default();
        q.push(10, 1);
        let (t, _) = q.pop().unwrap();
        q.push(t, 2); // now is allowed
        q.push(t + 1, 3);
        q.push(t, 4);
        assert_eq!(drain(&mut q), [(10, 2), (10, 4), (11, 3)]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut q = EventQueue::default();
        q.push(10, ());
        q.pop();
        q.push(9, ());
    }
}
