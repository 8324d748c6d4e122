//! What a server keeps between a send and its verification: the [`Attempt`] each number's
//! code was sent under (so `verified` sees the same country, IP and account), in a bounded
//! table, and the keyed hash that turns an app's account name into [`Attempt::account`].

use super::Attempt;
use rustc_hash::FxHashMap;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// The attempts of codes sent and not yet verified, by destination number; at most `max`.
pub struct SentAttempts {
    max: usize,
    by_number: FxHashMap<u64, Attempt>,
}

impl SentAttempts {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            by_number: FxHashMap::default(),
        }
    }

    /// Remembers `a` for its number (replacing an earlier send to it). At the cap, entries
    /// older than `keep_ms` are dropped first; if none is, `a` is not remembered (its
    /// verification then counts under what the caller can rebuild).
    pub fn insert(&mut self, a: Attempt, keep_ms: u64) {
        if self.by_number.len() >= self.max && !self.by_number.contains_key(&a.number) {
            let cutoff = a.now.saturating_sub(keep_ms);
            self.by_number.retain(|_, s| s.now >= cutoff);
            if self.by_number.len() >= self.max {
                return;
            }
        }
        self.by_number.insert(a.number, a);
    }

    /// The attempt `number`'s code was sent under, forgotten once taken.
    pub fn take(&mut self, number: u64) -> Option<Attempt> {
        self.by_number.remove(&number)
    }

    pub fn len(&self) -> usize {
        self.by_number.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }
}

/// An account name as [`Attempt::account`]: SipHash-1-3 under `keys` (drawn by the caller,
/// like the dedupe keys), never 0 (0 means "no account").
pub fn account_key(keys: [u64; 2], account: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(keys[0], keys[1]);
    h.write(account.as_bytes());
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keyed() {
        let mut s = SentAttempts::new(2);
        let a = |number, now| Attempt {
            number,
            now,
            ..Attempt::default()
        };
        s.insert(a(1, 0), 1_000);
        s.insert(a(2, 0), 1_000);
        s.insert(a(3, 500), 1_000);
        assert_eq!(s.len(), 2, "nothing old enough to drop");
        s.insert(a(3, 2_000), 1_000);
        assert_eq!(s.take(3).map(|x| x.now), Some(2_000));
        assert!(s.take(3).is_none());
        assert_ne!(account_key([1, 2], "alice"), account_key([1, 2], "bob"));
        assert_ne!(account_key([1, 2], "alice"), account_key([3, 4], "alice"));
        assert_ne!(account_key([0, 0], ""), 0);
    }
}
