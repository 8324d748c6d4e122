//! Twilio Verify Fraud Guard: blocks destination *prefixes* (the number without its last 4
//! digits) when traffic departs from the account's own baseline; sending to a country never
//! sent to before is a trigger. Twilio publishes the behaviour and three levels (Basic,
//! Standard, Max), not the thresholds; mo2fa's stand-in, per fixed `window`:
//!
//! - a country is *anomalous* when its unverified sends this window reach
//!   `max(min_unverified, factor × baseline)`, where the baseline is the most codes verified
//!   for it in one window over `history` (this window included); a country with no sends in
//!   any finished window uses `new_country_min` instead of `min_unverified`;
//! - while its country is anomalous, a prefix with at least `prefix_min` unverified sends this
//!   window is blocked for `block_for`.
//!
//! Every number is an assumption (docs/defences.md); Standard's `min_unverified` = 2,500 is
//! calibrated on the K-Optional field report (blocking began after about 2,500 bogus sends).

use super::util::{Ring, bump, full};
use super::{Attempt, Blocked, FraudGuard, Level, Mode, Rule, Span};
use rustc_hash::FxHashMap;

/// The assumed defaults of a level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelDefaults {
    pub min_unverified: u32,
    pub factor: f64,
    pub new_country_min: u32,
    pub prefix_min: u32,
}

pub fn defaults(level: Level) -> LevelDefaults {
    match level {
        Level::Basic => LevelDefaults {
            min_unverified: 5_000,
            factor: 1.0,
            new_country_min: 500,
            prefix_min: 20,
        },
        Level::Standard => LevelDefaults {
            min_unverified: 2_500,
            factor: 0.5,
            new_country_min: 100,
            prefix_min: 5,
        },
        Level::Max => LevelDefaults {
            min_unverified: 500,
            factor: 0.2,
            new_country_min: 20,
            prefix_min: 1,
        },
    }
}

pub const WINDOW_MS: u64 = 86_400_000;
pub const HISTORY_MS: u64 = 14 * 86_400_000;
pub const BLOCK_MS: u64 = 86_400_000;

struct Country {
    sent: u32,
    verified: u32,
    /// Verified per window, over the history.
    history: Ring,
    /// Sent to in a finished window.
    seen: bool,
}

pub struct PrefixGuard {
    window_ms: u64,
    history_windows: u64,
    min_unverified: u32,
    factor: f64,
    new_country_min: u32,
    prefix_min: u32,
    block_ms: u64,
    mode: Mode,
    max_keys: usize,
    window: u64,
    countries: Vec<Country>,
    unverified: FxHashMap<u64, u32>,
    blocked: FxHashMap<u64, u64>,
}

impl PrefixGuard {
    pub fn new(c: &FraudGuard, mode: Mode, countries: usize, max_keys: usize) -> Self {
        let d = defaults(c.level.unwrap_or(Level::Standard));
        let window_ms = c.window.map_or(WINDOW_MS, |w| w.ms().max(1));
        let history_windows = (c.history.map_or(HISTORY_MS, |h| h.ms()) / window_ms).max(1);
        let ring = Ring::new(window_ms, (history_windows as usize).min(1_000));
        Self {
            window_ms,
            history_windows,
            min_unverified: c.min_unverified.unwrap_or(d.min_unverified),
            factor: c.factor.map_or(d.factor, |f| f.0),
            new_country_min: c.new_country_min.unwrap_or(d.new_country_min),
            prefix_min: c.prefix_min.unwrap_or(d.prefix_min),
            block_ms: c.block_for.map_or(BLOCK_MS, |b| b.ms()),
            mode,
            max_keys,
            window: 0,
            countries: (0..countries)
                .map(|_| Country {
                    sent: 0,
                    verified: 0,
                    history: ring.clone(),
                    seen: false,
                })
                .collect(),
            unverified: FxHashMap::default(),
            blocked: FxHashMap::default(),
        }
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w == self.window {
            return;
        }
        for c in &mut self.countries {
            c.seen |= c.sent > 0;
            c.sent = 0;
            c.verified = 0;
        }
        self.unverified.clear();
        self.blocked.retain(|_, until| *until > now);
        self.window = w;
    }

    /// Unverified sends this window at which `country` becomes anomalous.
    pub fn threshold(&self, country: usize, now: u64) -> u64 {
        let Some(c) = self.countries.get(country) else {
            return u64::from(self.min_unverified);
        };
        let baseline = c
            .history
            .max_last(now, self.history_windows)
            .max(c.verified);
        let floor = if c.seen {
            self.min_unverified
        } else {
            self.new_country_min
        };
        u64::from(floor).max((self.factor * f64::from(baseline)).ceil() as u64)
    }
}

impl Rule for PrefixGuard {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.roll(a.now);
        let p = a.prefix();
        if self.blocked.get(&p).is_some_and(|&u| u > a.now) {
            return Some(Blocked::FraudGuard);
        }
        let unverified = self
            .countries
            .get(a.country)
            .map_or(0, |c| u64::from(c.sent.saturating_sub(c.verified)));
        let on_prefix = self.unverified.get(&p).copied().unwrap_or(0);
        if unverified >= self.threshold(a.country, a.now) && on_prefix >= self.prefix_min {
            if full(&self.blocked, &p, self.max_keys) {
                let now = a.now;
                self.blocked.retain(|_, until| *until > now);
            }
            if !full(&self.blocked, &p, self.max_keys) {
                self.blocked.insert(p, a.now.saturating_add(self.block_ms));
            }
            return Some(Blocked::FraudGuard);
        }
        full(&self.unverified, &p, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        self.roll(a.now);
        if let Some(c) = self.countries.get_mut(a.country) {
            c.sent = c.sent.saturating_add(1);
        }
        bump(&mut self.unverified, a.prefix(), self.max_keys);
    }

    fn verified(&mut self, a: &Attempt) {
        self.roll(a.now);
        if let Some(c) = self.countries.get_mut(a.country) {
            c.verified = c.verified.saturating_add(1);
            c.history.add(a.now, 1);
        }
        if let Some(v) = self.unverified.get_mut(&a.prefix()) {
            *v = v.saturating_sub(1);
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::FraudGuard).then(|| {
            self.blocked
                .get(&a.prefix())
                .map_or(0, |u| u.saturating_sub(a.now))
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.unverified.len() + self.blocked.len()
    }
}
