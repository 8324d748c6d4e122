//! Exactly-once handling of webhook deliveries.
//!
//! Providers retry a delivery until they see a 2xx, so the same `message_id` can arrive
//! twice, even concurrently. The first arrival is processed while its shard is locked, so a
//! concurrent twin waits and then reads the stored answer: a repeat never has a second effect
//! and always gets the same answer.
//!
//! Ids are kept as 128-bit keyed hashes (two SipHash-1-3), not as strings: no allocation per
//! delivery, and the chance that two distinct ids collide within a day's retention is
//! negligible (below 2^-100). The keys are given, never drawn here (the core reads no OS
//! randomness): the server passes keys from its CSPRNG (`Config::dedupe_keys`), the simulator
//! the fixed default. Ids come only with signed deliveries, so nobody outside the provider
//! chooses them, and unkeyed-looking defaults are no flooding risk.
//!
//! Memory is bounded twice: entries are forgotten after `retention_ms`, and each shard holds at
//! most `max_entries / shards`; when full, the oldest entry goes first. A delivery repeated
//! after it was forgotten is processed again, which is harmless because a challenge verifies
//! only once; it then answers `no_match` instead of the original answer.

use crate::clock::Millis;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use siphasher::sip::SipHasher13;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::hash::Hasher;

const SHARDS: usize = 32;

/// A day: longer than any provider's retry schedule we know of.
pub const DEFAULT_RETENTION_MS: Millis = 24 * 3600 * 1000;

/// A delivery id's 128-bit keyed hash, as two words: a `u128` would align entries to 16 bytes
/// and pad them.
type Key = [u64; 2];

struct Shard<T> {
    answers: FxHashMap<Key, T>,
    /// Insertion order, for forgetting the oldest first.
    order: VecDeque<(Millis, Key)>,
}

pub struct Dedupe<T> {
    shards: Box<[Mutex<Shard<T>>]>,
    retention_ms: Millis,
    per_shard: usize,
    /// Two SipHash keys (k0, k1 each): one per half of an id's 128-bit hash.
    keys: [u64; 4],
}

impl<T: Clone> Dedupe<T> {
    pub fn new(retention_ms: Millis, max_entries: usize, keys: [u64; 4]) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        answers: FxHashMap::default(),
                        order: VecDeque::new(),
                    })
                })
                .collect(),
            retention_ms,
            per_shard: (max_entries / SHARDS).max(1),
            keys,
        }
    }

    fn key(&self, id: &str) -> Key {
        let half = |k0, k1| {
            let mut h = SipHasher13::new_with_keys(k0, k1);
            h.write(id.as_bytes());
            h.finish()
        };
        [
            half(self.keys[0], self.keys[1]),
            half(self.keys[2], self.keys[3]),
        ]
    }

    fn shard(&self, key: Key) -> &Mutex<Shard<T>> {
        // The first word picks the shard; the shard's table hashes the whole key again.
        &self.shards[key[0] as usize % SHARDS]
    }

    /// The stored answer for `key`, or the result of `f` (run once, under the shard lock)
    /// which is then stored. The flag says whether `key` was seen before.
    pub fn get_or_insert_with(&self, key: &str, now: Millis, f: impl FnOnce() -> T) -> (T, bool) {
        let key = self.key(key);
        let mut guard = self.shard(key).lock();
        let shard = &mut *guard;
        // One probe of the table: the entry found is the one filled (a `get` then an `insert`
        // looked the key up twice, each a likely cache miss in a table of a million).
        let answer = match shard.answers.entry(key) {
            Entry::Occupied(seen) => return (seen.get().clone(), true),
            Entry::Vacant(slot) => slot.insert(f()).clone(),
        };
        shard.order.push_back((now, key));
        // Over the shard's share by the one just added: the oldest goes (never the new one,
        // since the share is at least one).
        if shard.order.len() > self.per_shard
            && let Some((_, oldest)) = shard.order.pop_front()
        {
            shard.answers.remove(&oldest);
        }
        // Bounded by count: one order entry per answer, never more than a shard's share.
        debug_assert_eq!(shard.order.len(), shard.answers.len());
        debug_assert!(shard.answers.len() <= self.per_shard);
        (answer, false)
    }

    /// The stored answer for `key`, if any; records nothing.
    pub fn get(&self, key: &str) -> Option<T> {
        let key = self.key(key);
        self.shard(key).lock().answers.get(&key).cloned()
    }

    /// Forgets deliveries older than the retention.
    pub fn sweep(&self, now: Millis) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            while let Some((at, _)) = shard.order.front() {
                if now.saturating_sub(*at) < self.retention_ms {
                    break;
                }
                if let Some((_, key)) = shard.order.pop_front() {
                    shard.answers.remove(&key);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().answers.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [u64; 4] = [1, 2, 3, 4];

    #[test]
    fn ids_hash_by_the_given_keys_only() {
        let (a, b) = (Dedupe::<u8>::new(1, 8, KEYS), Dedupe::<u8>::new(1, 8, KEYS));
        assert_eq!(
            a.key("m_1"),
            b.key("m_1"),
            "same keys, same hash: no hidden seed"
        );
        let other = Dedupe::<u8>::new(1, 8, [5, 6, 7, 8]);
        assert_ne!(a.key("m_1"), other.key("m_1"));
        assert_ne!(a.key("m_1"), a.key("m_2"));
        let k = a.key("m_1");
        assert_ne!(k[0], k[1], "the two halves use different keys");
    }

    #[test]
    fn second_call_returns_first_answer_and_skips_work() {
        let d = Dedupe::new(1_000, 100, KEYS);
        assert_eq!(d.get_or_insert_with("a", 0, || 1), (1, false));
        assert_eq!(
            d.get_or_insert_with("a", 1, || panic!("must not run")),
            (1, true)
        );
        assert_eq!(d.get_or_insert_with("b", 1, || 2), (2, false));
    }

    #[test]
    fn forgets_after_retention() {
        let d = Dedupe::new(1_000, 100, KEYS);
        d.get_or_insert_with("a", 0, || 1);
        d.sweep(999);
        assert_eq!(d.len(), 1);
        d.sweep(1_000);
        assert!(d.is_empty());
        assert_eq!(d.get_or_insert_with("a", 1_001, || 5), (5, false));
    }

    #[test]
    fn bounded_by_max_entries() {
        let d = Dedupe::new(u64::MAX, SHARDS * 2, KEYS);
        for i in 0..10_000 {
            d.get_or_insert_with(&format!("m{i}"), i, || i);
        }
        assert!(d.len() <= SHARDS * 2, "{}", d.len());
    }

    #[test]
    fn a_full_shard_forgets_its_oldest_and_keeps_the_newest() {
        // One entry per shard: every id lands in a full shard after the first few.
        let d = Dedupe::new(u64::MAX, SHARDS, KEYS);
        for i in 0..1_000u64 {
            let id = format!("m{i}");
            assert_eq!(d.get_or_insert_with(&id, i, || i), (i, false));
            assert_eq!(d.get(&id), Some(i), "the newest is kept");
            assert!(d.len() <= SHARDS);
        }
        // A shard holds one: whichever id shared a shard with a later one was forgotten.
        let kept = (0..1_000u64)
            .filter(|i| d.get(&format!("m{i}")).is_some())
            .count();
        assert_eq!(kept, d.len());
        assert_eq!(d.get_or_insert_with("m999", 5, || 0), (999, true));
    }

    #[test]
    fn concurrent_twins_run_the_work_once() {
        let d = std::sync::Arc::new(Dedupe::new(u64::MAX, 1 << 16, KEYS));
        let runs = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..1_000 {
                        d.get_or_insert_with(&format!("m{i}"), 0, || {
                            runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(runs.into_inner(), 1_000);
    }
}
