//! Twilio Programmable Messaging's SMS Pumping Protection (error 30450): a destination number
//! with suspicious traffic is blocked for 15–30 minutes, and again while the activity goes on.
//!
//! Twilio does not publish its triggers. mo2fa's stand-in: per fixed `window`, unverified
//! sends to one number (at least `max_unverified_number`) or to one 1k range (the number
//! without its last 3 digits; at least `max_unverified_range`) block that number or range for
//! a length between `block_min` and `block_max`, a fixed function of the number and the time.
//!
//! Programmable Messaging knows of conversions only if the app posts Message Feedback
//! (`feedback = true`); without it (the default) verifications are not seen and the counts are
//! of every send. Outside the US and Canada the feature is a paid beta ("with an additional
//! fee"): every message it screens there is a billable event, fee `twilio_pumping_protection`.

use super::util::{bump, full, unit};
use super::{Attempt, Blocked, GuardStats, Mode, PumpingProtection, Rule, Span};
use rustc_hash::FxHashMap;

/// Defaults where neither the preset nor the file says (assumed, except the block lengths).
pub const WINDOW_MS: u64 = 3_600_000;
pub const MAX_NUMBER: u32 = 3;
pub const MAX_RANGE: u32 = 10;
pub const BLOCK_MIN_MS: u64 = 15 * 60_000;
pub const BLOCK_MAX_MS: u64 = 30 * 60_000;

const RANGE: u128 = 1 << 64;
/// The fee name of a message screened outside the US and Canada.
pub const FEE: &str = "twilio_pumping_protection";

pub struct Pumping {
    window_ms: u64,
    window: u64,
    max_number: u32,
    max_range: u32,
    block_min: u64,
    block_max: u64,
    mode: Mode,
    max_keys: usize,
    /// Unverified sends this window, by number and by range (tagged with `RANGE`).
    unverified: FxHashMap<u128, u32>,
    /// Blocked numbers and ranges, until when.
    blocked: FxHashMap<u128, u64>,
    feedback: bool,
    /// Per guard country: the fee applies (not US or CA).
    paid: Vec<bool>,
    screened: u64,
}

fn keys_of(a: &Attempt) -> [u128; 2] {
    [u128::from(a.number), RANGE | u128::from(a.number / 1000)]
}

impl Pumping {
    pub fn new(c: &PumpingProtection, mode: Mode, max_keys: usize) -> Self {
        Self {
            window_ms: c.window.map_or(WINDOW_MS, |d| d.ms().max(1)),
            window: 0,
            max_number: c.max_unverified_number.unwrap_or(MAX_NUMBER).max(1),
            max_range: c.max_unverified_range.unwrap_or(MAX_RANGE).max(1),
            block_min: c.block_min.map_or(BLOCK_MIN_MS, |d| d.ms()),
            block_max: c.block_max.map_or(BLOCK_MAX_MS, |d| d.ms()),
            mode,
            max_keys,
            unverified: FxHashMap::default(),
            blocked: FxHashMap::default(),
            feedback: c.feedback.unwrap_or(false),
            paid: Vec::new(),
            screened: 0,
        }
    }

    /// Sets the guard's countries (ISO codes), for the fee (free in the US and Canada).
    pub fn with_countries(mut self, countries: &[String]) -> Self {
        self.paid = countries.iter().map(|c| c != "US" && c != "CA").collect();
        self
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w != self.window {
            self.unverified.clear();
            self.blocked.retain(|_, until| *until > now);
            self.window = w;
        }
    }

    /// The length of a block starting at `now` on `key`.
    pub fn block_ms(&self, key: u128, now: u64) -> u64 {
        let spread = self.block_max.saturating_sub(self.block_min);
        let u = unit((key as u64) ^ ((key >> 64) as u64).rotate_left(32) ^ now);
        self.block_min + (spread as f64 * u).round() as u64
    }

    fn block(&mut self, key: u128, now: u64) {
        if full(&self.blocked, &key, self.max_keys) {
            self.blocked.retain(|_, until| *until > now);
        }
        if !full(&self.blocked, &key, self.max_keys) {
            let until = now + self.block_ms(key, now);
            self.blocked.insert(key, until);
        }
    }
}

impl Rule for Pumping {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.roll(a.now);
        if self.paid.get(a.country).copied().unwrap_or(false) {
            self.screened += 1;
        }
        let keys = keys_of(a);
        if keys
            .iter()
            .any(|k| self.blocked.get(k).is_some_and(|&u| u > a.now))
        {
            return Some(Blocked::Pumping);
        }
        for (key, max) in keys.into_iter().zip([self.max_number, self.max_range]) {
            if self.unverified.get(&key).copied().unwrap_or(0) >= max {
                self.block(key, a.now);
                return Some(Blocked::Pumping);
            }
        }
        keys.iter()
            .any(|k| full(&self.unverified, k, self.max_keys))
            .then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        self.roll(a.now);
        for k in keys_of(a) {
            bump(&mut self.unverified, k, self.max_keys);
        }
    }

    fn verified(&mut self, a: &Attempt) {
        if !self.feedback {
            return;
        }
        self.roll(a.now);
        for k in keys_of(a) {
            if let Some(v) = self.unverified.get_mut(&k) {
                *v = v.saturating_sub(1);
            }
        }
    }

    /// The blocks' end; but while this window's counts would block again, not before the
    /// window ends (issue 22: `Retry-After` tells the truth).
    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::Pumping).then(|| {
            let keys = keys_of(a);
            let until = keys.iter().filter_map(|k| self.blocked.get(k)).max();
            let again = keys
                .iter()
                .zip([self.max_number, self.max_range])
                .any(|(k, max)| self.unverified.get(k).copied().unwrap_or(0) >= max);
            let window_end = (a.now / self.window_ms + 1).saturating_mul(self.window_ms);
            let until = until.copied().unwrap_or(0);
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

    fn figures(&self, out: &mut GuardStats) {
        if self.screened > 0 {
            *out.fees.entry(FEE).or_default() += self.screened;
        }
    }
}
