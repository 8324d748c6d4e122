//! The pending-code index of one memory-store shard: hash of a code → slot number.
//!
//! **Why not a general hash map:** with a million challenges pending the index and the slots
//! live in DRAM, and every dependent cache miss costs ~80 ns. A general table touches a
//! control group, a bucket and then the slot (three misses). Here an entry is one `u64` that
//! packs the low 40 bits of the code's hash with the 24-bit slot number, in a linear-probing
//! array: a lookup reads one line of the index and then the slot, which the caller touches
//! anyway to check the full code and change its state.
//!
//! # Invariants
//! * Capacity is a power of two and at most 3/4 full, so probes end at an empty entry.
//! * No tombstones: removal shifts later entries of the same probe run back (backward-shift
//!   deletion), so lookups never slow down as challenges come and go.
//! * An entry's home position is its fingerprint's low bits, so entries can be moved and the
//!   table resized without reading the slots.

const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const FP_BITS: u32 = 64 - SLOT_BITS;
const FP_MASK: u64 = (1 << FP_BITS) - 1;
const EMPTY: u64 = u64::MAX;
/// The slot number EMPTY would decode to; the store never hands it out.
pub const RESERVED_SLOT: u32 = SLOT_MASK as u32;

pub struct CodeIndex {
    entries: Box<[u64]>,
    len: usize,
}

#[inline]
fn fingerprint(hash: u64) -> u64 {
    hash & FP_MASK
}

#[inline]
fn pack(fp: u64, slot: u32) -> u64 {
    (fp << SLOT_BITS) | u64::from(slot)
}

impl Default for CodeIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeIndex {
    pub fn new() -> Self {
        Self {
            entries: vec![EMPTY; 16].into_boxed_slice(),
            len: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Where the entry for `hash` would start its probe: for prefetching before the lock.
    pub fn probe_start(&self) -> (*const u64, usize) {
        (self.entries.as_ptr(), self.mask())
    }

    /// The probe start for `hash` in an index whose [`Self::probe_start`] was `(base, mask)`.
    /// Pure address arithmetic: the result may dangle and must only be used as a hint.
    #[inline]
    pub fn home_address(base: *const u64, mask: usize, hash: u64) -> *const u64 {
        base.wrapping_add(fingerprint(hash) as usize & mask)
    }

    #[inline]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The position of the entry for `hash` whose slot satisfies `is_it`.
    #[inline]
    fn position(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<usize> {
        let fp = fingerprint(hash);
        let mask = self.mask();
        let mut pos = fp as usize & mask;
        loop {
            let e = self.entries[pos];
            if e == EMPTY {
                return None;
            }
            if e >> SLOT_BITS == fp && is_it((e & SLOT_MASK) as u32) {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The slot of the entry for `hash` whose slot satisfies `is_it` (the caller compares the
    /// full code there: fingerprints can collide).
    #[inline]
    pub fn find(&self, hash: u64, is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(hash, is_it)
            .map(|p| (self.entries[p] & SLOT_MASK) as u32)
    }

    /// Adds an entry; the caller has checked that no equal code is present.
    pub fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert!(slot < RESERVED_SLOT);
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        self.place(pack(fingerprint(hash), slot));
        self.len += 1;
    }

    fn place(&mut self, entry: u64) {
        let mask = self.mask();
        let mut pos = (entry >> SLOT_BITS) as usize & mask;
        while self.entries[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.entries[pos] = entry;
    }

    fn grow(&mut self) {
        let doubled = super::hugepage::filled(self.entries.len() * 2, EMPTY);
        let old = std::mem::replace(&mut self.entries, doubled);
        for e in old.iter().copied().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Removes the entry for `hash` whose slot satisfies `is_it`; true if one was there.
    pub fn remove(&mut self, hash: u64, is_it: impl FnMut(u32) -> bool) -> bool {
        let Some(mut hole) = self.position(hash, is_it) else {
            return false;
        };
        let mask = self.mask();
        // Backward shift: pull later entries of the run into the hole when their home allows.
        let mut next = (hole + 1) & mask;
        loop {
            let e = self.entries[next];
            if e == EMPTY {
                break;
            }
            let home = (e >> SLOT_BITS) as usize & mask;
            // `e` may move to `hole` iff `hole` lies cyclically in [home, next).
            let dist_hole = hole.wrapping_sub(home) & mask;
            let dist_next = next.wrapping_sub(home) & mask;
            if dist_hole < dist_next {
                self.entries[hole] = e;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn finds_what_was_inserted_and_forgets_what_was_removed() {
        let mut ix = CodeIndex::new();
        for s in 0..1000u32 {
            ix.insert(u64::from(s).wrapping_mul(0x9E37_79B9_7F4A_7C15), s);
        }
        assert_eq!(ix.len(), 1000);
        for s in 0..1000u32 {
            let h = u64::from(s).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(ix.find(h, |x| x == s), Some(s));
        }
        for s in (0..1000u32).step_by(2) {
            let h = u64::from(s).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert!(ix.remove(h, |x| x == s));
            assert!(!ix.remove(h, |x| x == s));
        }
        for s in 0..1000u32 {
            let h = u64::from(s).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(ix.find(h, |x| x == s).is_some(), s % 2 == 1, "{s}");
        }
    }

    #[test]
    fn colliding_fingerprints_are_told_apart_by_the_caller() {
        let mut ix = CodeIndex::new();
        ix.insert(7, 1);
        ix.insert(7, 2);
        assert_eq!(ix.find(7, |s| s == 2), Some(2));
        assert!(ix.remove(7, |s| s == 1));
        assert_eq!(ix.find(7, |s| s == 2), Some(2));
        assert_eq!(ix.find(7, |s| s == 1), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
    }

    proptest! {
        /// Against a model map, with hashes drawn from a small range so that runs, wrap-around
        /// and backward shifts are exercised constantly.
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec(
            prop_oneof![(0u64..64).prop_map(Op::Insert), (0u64..64).prop_map(Op::Remove)],
            1..400,
        )) {
            let mut ix = CodeIndex::new();
            let mut model: HashMap<u64, u32> = HashMap::new();
            let mut next_slot = 0u32;
            for op in ops {
                match op {
                    Op::Insert(key) if !model.contains_key(&key) => {
                        // Several keys share a fingerprint's home: hash = key / 4.
                        ix.insert(key / 4, next_slot);
                        model.insert(key, next_slot);
                        next_slot += 1;
                    }
                    Op::Insert(_) => {}
                    Op::Remove(key) => {
                        let want = model.remove(&key);
                        let got = ix.remove(key / 4, |s| Some(s) == want);
                        prop_assert_eq!(got, want.is_some());
                    }
                }
                prop_assert_eq!(ix.len(), model.len());
                for (&key, &slot) in &model {
                    prop_assert_eq!(ix.find(key / 4, |s| s == slot), Some(slot));
                }
            }
        }
    }
}
