//! This instance's counters, reconciled with what its scripts recorded in Redis.

use super::{MESSAGES_ARE, RECORDED};
use mo2fa_core::metrics::Counters;
use std::sync::atomic::Ordering;

/// Sums HGETALL answers (field, value, ...) of several counts hashes field by field, in the
/// same flat form.
pub(super) fn sum_records(flats: &[Vec<String>]) -> Vec<String> {
    if let [one] = flats {
        return one.clone();
    }
    let mut sums: Vec<(String, u64)> = Vec::new();
    for flat in flats {
        for pair in flat.chunks_exact(2) {
            let Ok(v) = pair[1].parse::<u64>() else {
                continue;
            };
            match sums.iter_mut().find(|(k, _)| *k == pair[0]) {
                Some((_, sum)) => *sum += v,
                None => sums.push((pair[0].clone(), v)),
            }
        }
    }
    sums.into_iter()
        .flat_map(|(k, v)| [k, v.to_string()])
        .collect()
}

/// This instance's counters, reconciled with Redis.
///
/// Each counter in [`RECORDED`] is known twice: from the answers that came back (`replied`) and
/// from the counts hash its scripts keep in Redis (read at each sweep). The answers never count
/// more than Redis recorded, and Redis also holds decisions whose answers were lost in a timeout
/// (a 503 that took effect), so what is shown is the larger of the two, which is Redis' record
/// as of the last sweep plus anything answered since. Counters never go down: each raise adds
/// only the difference to the shown value. Counters outside [`RECORDED`] (bad signatures, 503s,
/// starts refused before Redis was asked) are counted in `shown` directly.
#[derive(Default, Debug)]
pub(super) struct Tally {
    pub(super) shown: Counters,
    pub(super) replied: Counters,
    /// Per recorded counter, the largest value taken into `shown` so far.
    raised: Counters,
}

impl Tally {
    pub(super) fn raise(&self, name: &str, value: u64) {
        let (Some(raised), Some(shown)) = (self.raised.field(name), self.shown.field(name)) else {
            return;
        };
        let before = raised.fetch_max(value, Ordering::Relaxed);
        if value > before {
            shown.fetch_add(value - before, Ordering::Relaxed);
        }
    }

    /// Counts an answer that came back (`count` adds to `replied`, to the counters `names` and
    /// no others), then shows it. Only those are raised: a counter the answer did not add to
    /// was raised to its `replied` total before. (Raising all twelve would read every shard of
    /// each on every request.)
    pub(super) fn replied<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
        count: impl FnOnce(&Counters),
    ) {
        count(&self.replied);
        for name in names {
            if let Some(c) = self.replied.field(name) {
                self.raise(name, c.load(Ordering::Relaxed));
            }
        }
    }

    /// Takes in Redis' record, a flat HGETALL answer (field, value, field, value, ...).
    pub(super) fn recorded(&self, flat: &[String]) {
        let mut messages = 0;
        for pair in flat.chunks_exact(2) {
            let (name, Ok(value)) = (pair[0].as_str(), pair[1].parse::<u64>()) else {
                continue;
            };
            if RECORDED.contains(&name) {
                self.raise(name, value);
            }
            if MESSAGES_ARE.contains(&name) {
                messages += value;
            }
        }
        self.raise("messages", messages);
    }
}
