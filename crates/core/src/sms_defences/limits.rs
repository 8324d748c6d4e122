//! `[[limit]]`: a limit with its own key and its own fixed window (aligned to time 0), so one
//! configuration can hold an hourly rule and a monthly cap side by side.

use super::util::{bump, full};
use super::{Attempt, Blocked, Limit, Mode, On, Rule, Span};
use rustc_hash::FxHashMap;

pub struct KeyLimit {
    on: On,
    max: u32,
    window_ms: u64,
    window: u64,
    mode: Mode,
    max_keys: usize,
    counts: FxHashMap<u128, u32>,
}

impl KeyLimit {
    pub fn new(l: &Limit, mode: Mode, max_keys: usize) -> Self {
        Self {
            on: l.on,
            max: l.max,
            window_ms: l.window.ms().max(1),
            window: 0,
            mode,
            max_keys,
            counts: FxHashMap::default(),
        }
    }

    /// The key `a` counts under; `None` when it has none (no account).
    fn key(&self, a: &Attempt) -> Option<u128> {
        match self.on {
            On::Number => Some(u128::from(a.number)),
            On::Ip => Some(a.ip),
            On::Prefix => Some(u128::from(a.prefix())),
            On::Country => Some(a.country as u128),
            On::Account => (a.account != 0).then_some(u128::from(a.account)),
            On::Global => Some(0),
        }
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w != self.window {
            self.counts.clear();
            self.window = w;
        }
    }
}

impl Rule for KeyLimit {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.roll(a.now);
        let key = self.key(a)?;
        if self.counts.get(&key).copied().unwrap_or(0) >= self.max {
            return Some(Blocked::Limit(self.on));
        }
        full(&self.counts, &key, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        self.roll(a.now);
        if let Some(key) = self.key(a) {
            bump(&mut self.counts, key, self.max_keys);
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::Limit(self.on)).then(|| self.window_ms - a.now % self.window_ms)
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.counts.len()
    }
}
