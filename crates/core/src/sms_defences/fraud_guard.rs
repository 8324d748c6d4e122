//! Twilio Verify Fraud Guard: blocks destination *prefixes* (the number without its last 4
//! digits) when a country's traffic departs from the account's own baseline; a country the
//! account never sent to is a trigger. Published (docs/defences.md has the quotes): the
//! behaviour, three levels with false-positive bounds (Standard "<1%", Max "<2%"), blocks of
//! 12 hours on all of the account's Verify services (error 60410), Verify's own limit of 5
//! sends per verification (error 60203) and, at Max, the "Fraud Guard Promise" credit. Not
//! published: the thresholds. mo2fa's stand-in, per fixed `window`:
//!
//! - a country is *anomalous* when its unverified sends this window reach
//!   `max(min_unverified, factor × baseline)`, the baseline being the most unverified sends
//!   of one finished window over `history` (what the account's normal traffic leaves
//!   unverified), less those to prefixes it blocked in that window (traffic it judged fraud
//!   does not become normal); a country with no sends in its history uses `new_country_min`
//!   instead;
//! - while its country is anomalous, a prefix with at least `prefix_min` unverified sends this
//!   window is blocked for `block_for` (12 h, published), whatever the country of later sends.
//!
//! The Promise's credit is reported as `twilio_fraud_guard_promise` (Max only): the unverified
//! sends a prefix had received when Fraud Guard blocked it, i.e. pumping it identified late.

use super::history::Seed;
use super::util::{Ring, bump, full};
use super::{Attempt, Blocked, FraudGuard, GuardStats, Level, Mode, Rule, Span};
use rustc_hash::FxHashMap;

/// The assumed defaults of a level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelDefaults {
    pub min_unverified: u32,
    pub factor: f64,
    pub new_country_min: u32,
    pub prefix_min: u32,
}

/// Standard's floors are the K-Optional field report's 2,500 (blocking began after about
/// 2,500 bogus sends, to a country the small US account had almost surely never used); Basic
/// and Max are assumed at twice and a fifth of it. The factors are assumed, chosen so that a
/// legit day after 15 days of history stays inside the published false-positive bounds (a
/// unit test checks it).
pub fn defaults(level: Level) -> LevelDefaults {
    match level {
        Level::Basic => LevelDefaults {
            min_unverified: 5_000,
            factor: 3.0,
            new_country_min: 5_000,
            prefix_min: 20,
        },
        Level::Standard => LevelDefaults {
            min_unverified: 2_500,
            factor: 2.0,
            new_country_min: 2_500,
            prefix_min: 5,
        },
        Level::Max => LevelDefaults {
            min_unverified: 500,
            factor: 1.5,
            new_country_min: 500,
            prefix_min: 1,
        },
    }
}

pub const WINDOW_MS: u64 = 86_400_000;
pub const HISTORY_MS: u64 = 14 * 86_400_000;
/// Error 60410: "a temporary block ... for the next 12 hours on the prefix you used".
pub const BLOCK_MS: u64 = 12 * 3_600_000;
/// Error 60203: "more than 5 times" per verification.
pub const VERIFY_SENDS_MAX: u32 = 5;
/// A verification expires after 10 minutes (error 60203's page).
pub const VERIFY_TTL_MS: u64 = 600_000;
/// The credit's name in [`GuardStats::credits`].
pub const PROMISE_CREDIT: &str = "twilio_fraud_guard_promise";

struct Country {
    sent: u32,
    verified: u32,
    /// Unverified sends this window to prefixes Fraud Guard then blocked (judged fraud).
    flagged: u32,
    /// Unverified per finished window, over the history.
    history: Ring,
    /// Sent to before (in the history or a finished window).
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
    /// Max only: sends credited under the Promise.
    promise: Option<u64>,
    /// A replayed history is running: it is the account's normal traffic, learnt, never
    /// judged (nothing in it is flagged as fraud or blocked).
    replaying: bool,
}

impl PrefixGuard {
    pub fn new(c: &FraudGuard, mode: Mode, countries: usize, max_keys: usize) -> Self {
        let level = c.level.unwrap_or(Level::Standard);
        let d = defaults(level);
        let window_ms = c.window.map_or(WINDOW_MS, |w| w.ms().max(1));
        let history_windows = (c.history.map_or(HISTORY_MS, |h| h.ms()) / window_ms).max(1);
        let ring = Ring::new(window_ms, (history_windows as usize + 1).min(1_000));
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
                    flagged: 0,
                    history: ring.clone(),
                    seen: false,
                })
                .collect(),
            unverified: FxHashMap::default(),
            blocked: FxHashMap::default(),
            promise: (level == Level::Max).then_some(0),
            replaying: false,
        }
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w == self.window {
            return;
        }
        let start = self.window * self.window_ms;
        for c in &mut self.countries {
            if c.sent > 0 {
                c.seen = true;
                let normal = c.sent.saturating_sub(c.verified).saturating_sub(c.flagged);
                c.history.add(start, normal);
            }
            c.sent = 0;
            c.verified = 0;
            c.flagged = 0;
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
        // Finished windows only: the one being judged is not its own baseline.
        let baseline = now
            .checked_sub(self.window_ms)
            .map_or(0, |prev| c.history.max_last(prev, self.history_windows));
        let floor = if c.seen {
            self.min_unverified
        } else {
            self.new_country_min
        };
        u64::from(floor).max((self.factor * f64::from(baseline)).ceil() as u64)
    }

    /// Sends credited under the Promise so far (`None` below Max).
    pub fn promise_credit(&self) -> Option<u64> {
        self.promise
    }
}

impl Rule for PrefixGuard {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.roll(a.now);
        if self.replaying {
            return None;
        }
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
                if let Some(credit) = &mut self.promise {
                    *credit += u64::from(on_prefix);
                }
                if let Some(c) = self.countries.get_mut(a.country) {
                    c.flagged = c.flagged.saturating_add(on_prefix);
                }
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
        }
        if let Some(v) = self.unverified.get_mut(&a.prefix()) {
            *v = v.saturating_sub(1);
        }
    }

    fn seed(&mut self, s: &Seed) {
        let per_window = self.window_ms as f64 / 86_400_000.0;
        self.window = s.now / self.window_ms;
        for (i, c) in self.countries.iter_mut().enumerate() {
            let unverified = f64::from(s.unverified(i)) * per_window;
            if s.sends(i) == 0 {
                continue;
            }
            c.seen = true;
            let first = s.now.saturating_sub(u64::from(s.days) * 86_400_000) / self.window_ms;
            for w in first..s.now / self.window_ms {
                c.history.add(w * self.window_ms, unverified.round() as u32);
            }
        }
    }

    /// The block's end; but while this window's counts would block the prefix again, not
    /// before the window ends (issue 22: `Retry-After` tells the truth).
    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::FraudGuard).then(|| {
            let until = self.blocked.get(&a.prefix()).copied().unwrap_or(0);
            let unverified = self
                .countries
                .get(a.country)
                .map_or(0, |c| u64::from(c.sent.saturating_sub(c.verified)));
            let on_prefix = self.unverified.get(&a.prefix()).copied().unwrap_or(0);
            let again =
                unverified >= self.threshold(a.country, a.now) && on_prefix >= self.prefix_min;
            let window_end = (a.now / self.window_ms + 1).saturating_mul(self.window_ms);
            let until = if again { until.max(window_end) } else { until };
            until.saturating_sub(a.now)
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.unverified.len() + self.blocked.len()
    }

    fn replaying(&mut self) {
        self.replaying = true;
    }

    fn replayed(&mut self) {
        self.replaying = false;
    }

    fn figures(&self, out: &mut GuardStats) {
        if let Some(n) = self.promise.filter(|&n| n > 0) {
            *out.credits.entry(PROMISE_CREDIT).or_default() += n;
        }
    }
}

/// Verify's limit of sends per verification (error 60203): a verification starts with a send
/// to a number, lives `verify_ttl` (10 minutes) or until its code is checked, and takes at
/// most `verify_sends_max` sends.
pub struct VerifySendLimit {
    max: u32,
    ttl_ms: u64,
    mode: Mode,
    max_keys: usize,
    /// Per number: (start of its live verification, sends in it).
    live: FxHashMap<u64, (u64, u32)>,
}

impl VerifySendLimit {
    /// `None` when the limit is 0 (off).
    pub fn new(c: &FraudGuard, mode: Mode, max_keys: usize) -> Option<Self> {
        let max = c.verify_sends_max.unwrap_or(VERIFY_SENDS_MAX);
        (max > 0).then(|| Self {
            max,
            ttl_ms: c.verify_ttl.map_or(VERIFY_TTL_MS, |d| d.ms().max(1)),
            mode,
            max_keys,
            live: FxHashMap::default(),
        })
    }

    fn current(&self, a: &Attempt) -> Option<(u64, u32)> {
        self.live
            .get(&a.number)
            .copied()
            .filter(|(start, _)| a.now < start.saturating_add(self.ttl_ms))
    }
}

impl Rule for VerifySendLimit {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        if self.current(a).is_some_and(|(_, n)| n >= self.max) {
            return Some(Blocked::VerifySends);
        }
        if full(&self.live, &a.number, self.max_keys) {
            let (now, ttl) = (a.now, self.ttl_ms);
            self.live.retain(|_, (s, _)| now < s.saturating_add(ttl));
        }
        full(&self.live, &a.number, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        let next = match self.current(a) {
            Some((start, n)) => (start, n.saturating_add(1)),
            None => (a.now, 1),
        };
        if !full(&self.live, &a.number, self.max_keys) {
            self.live.insert(a.number, next);
        }
    }

    fn verified(&mut self, a: &Attempt) {
        self.live.remove(&a.number);
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::VerifySends).then(|| {
            self.current(a).map_or(0, |(s, _)| {
                s.saturating_add(self.ttl_ms).saturating_sub(a.now)
            })
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.live.len()
    }
}
