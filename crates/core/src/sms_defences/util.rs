//! Small pieces the rules share: bounded counter tables, ring buckets over time, and a fixed
//! mixing function for deterministic jitter.

use rustc_hash::FxHashMap;
use std::hash::Hash;

/// Adds one to `key`'s count, inserting it only while the table holds fewer than `max` keys.
/// Returns the new count (0 if the key could not be inserted).
pub(crate) fn bump<K: Hash + Eq>(map: &mut FxHashMap<K, u32>, key: K, max: usize) -> u32 {
    if let Some(v) = map.get_mut(&key) {
        *v = v.saturating_add(1);
        return *v;
    }
    if map.len() >= max {
        return 0;
    }
    map.insert(key, 1);
    1
}

/// True if `key` is new and the table cannot take it.
pub(crate) fn full<K: Hash + Eq, V>(map: &FxHashMap<K, V>, key: &K, max: usize) -> bool {
    map.len() >= max && !map.contains_key(key)
}

/// SplitMix64's finaliser: a fixed, well-mixed function of `x`.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fraction in [0, 1) drawn from `x` by [`mix`].
pub(crate) fn unit(x: u64) -> f64 {
    (mix(x) >> 11) as f64 / (1u64 << 53) as f64
}

/// Counts per time bucket of `width` ms, the last `len` buckets kept (older ones read as 0).
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    width: u64,
    slots: Vec<(u64, u32)>,
}

impl Ring {
    pub fn new(width: u64, len: usize) -> Self {
        Self {
            width: width.max(1),
            slots: vec![(u64::MAX, 0); len.max(1)],
        }
    }

    pub fn bucket(&self, now: u64) -> u64 {
        now / self.width
    }

    fn slot(&mut self, bucket: u64) -> &mut u32 {
        let n = self.slots.len() as u64;
        let s = &mut self.slots[(bucket % n) as usize];
        if s.0 != bucket {
            *s = (bucket, 0);
        }
        &mut s.1
    }

    pub fn add(&mut self, now: u64, v: u32) {
        let b = self.bucket(now);
        let s = self.slot(b);
        *s = s.saturating_add(v);
    }

    /// Raises the bucket of `now` to at least `v`.
    pub fn raise(&mut self, now: u64, v: u32) {
        let b = self.bucket(now);
        let s = self.slot(b);
        *s = (*s).max(v);
    }

    /// The count of bucket `b` (0 if it is no longer kept).
    pub fn get(&self, b: u64) -> u32 {
        let n = self.slots.len() as u64;
        let s = self.slots[(b % n) as usize];
        if s.0 == b { s.1 } else { 0 }
    }

    /// Largest of the `n` buckets ending with the one holding `now`.
    pub fn max_last(&self, now: u64, n: u64) -> u32 {
        let b = self.bucket(now);
        (0..n.min(self.slots.len() as u64))
            .filter_map(|k| b.checked_sub(k))
            .map(|x| self.get(x))
            .max()
            .unwrap_or(0)
    }
}

/// A rolling sum over the last `len` buckets of `width` ms (the bucket holding now included),
/// kept as a running total: O(1) amortised per call, however long the window.
#[derive(Clone, Debug)]
pub(crate) struct Rolling {
    width: u64,
    slots: Vec<u32>,
    head: u64,
    total: u64,
}

impl Rolling {
    pub fn new(width: u64, len: usize) -> Self {
        Self {
            width: width.max(1),
            slots: vec![0; len.max(1)],
            head: 0,
            total: 0,
        }
    }

    /// Moves the window to `now`, dropping the buckets that left it.
    fn advance(&mut self, now: u64) {
        let b = now / self.width;
        if b <= self.head {
            return;
        }
        let n = self.slots.len() as u64;
        for i in 1..=(b - self.head).min(n) {
            let s = &mut self.slots[((self.head + i) % n) as usize];
            self.total -= u64::from(*s);
            *s = 0;
        }
        self.head = b;
    }

    pub fn add(&mut self, now: u64, v: u32) {
        self.advance(now);
        let n = self.slots.len() as u64;
        // A time before the head (out of order) counts in the head bucket.
        let s = &mut self.slots[(self.head % n) as usize];
        *s = s.saturating_add(v);
        self.total += u64::from(v);
    }

    /// The sum over the window ending at `now`.
    pub fn sum(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_buckets_only() {
        let mut r = Ring::new(10, 3);
        r.add(0, 1);
        r.add(15, 2);
        r.add(25, 3);
        assert_eq!(r.max_last(25, 3), 3);
        assert_eq!(r.get(0), 1);
        r.add(35, 4); // bucket 3 replaces bucket 0
        assert_eq!(r.max_last(35, 3), 4);
        assert_eq!(r.max_last(35, 2), 4);
        assert_eq!(r.get(0), 0);
        r.raise(35, 2);
        assert_eq!(r.get(3), 4);
    }

    #[test]
    fn rolling_sums_drop_what_left_the_window() {
        let mut r = Rolling::new(10, 3);
        r.add(0, 1);
        r.add(15, 2);
        r.add(25, 3);
        assert_eq!(r.sum(29), 6);
        assert_eq!(r.sum(30), 5, "bucket 0 left");
        assert_eq!(r.sum(1_000), 0, "a long gap empties it");
        r.add(1_000, 4);
        r.add(5, 1); // late: counts in the head bucket
        assert_eq!(r.sum(1_000), 5);
    }

    #[test]
    fn bump_respects_the_cap() {
        let mut m = FxHashMap::default();
        assert_eq!(bump(&mut m, 1u64, 1), 1);
        assert_eq!(bump(&mut m, 2u64, 1), 0);
        assert_eq!(bump(&mut m, 1u64, 1), 2);
        assert!(full(&m, &2, 1) && !full(&m, &1, 1));
        assert!(unit(7) < 1.0 && unit(7) == unit(7));
    }
}
