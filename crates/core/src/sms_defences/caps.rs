//! Plivo Fraud Shield (Messaging Geo Permissions with MPH thresholds): a cap of messages per
//! hour for each destination country; a breach blocks the country for `block_for` (Plivo:
//! up to 24 hours, error 451), or only alerts in monitor mode.
//!
//! Plivo suggests each country's cap from its risk level and the last 15 days of the
//! account's traffic without publishing the formula. mo2fa's stand-in: the cap is
//! `max(floor, multiplier × the busiest finished hour over history)`, floor and multiplier
//! from the risk tier (assumed, docs/defences.md); `caps.<ISO>` sets a country's cap outright.
//! In monitor mode the rule runs the same way and counts as alerts what it would refuse. With
//! `learn`, the rule only records traffic for that long after its first attempt.

use super::util::Ring;
use super::{Attempt, Blocked, CountryCaps, Mode, Risk, Rule, Span};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;
pub const HISTORY_MS: u64 = 15 * DAY_MS;
pub const BLOCK_MS: u64 = 12 * HOUR_MS;

/// The assumed floor and multiplier of a risk tier.
pub fn tier(risk: Risk) -> (u32, f64) {
    match risk {
        Risk::Low => (100, 3.0),
        Risk::Medium => (50, 2.0),
        Risk::High => (20, 1.5),
    }
}

struct Country {
    hour: u64,
    count: u32,
    /// Busiest finished hour of each day.
    days: Ring,
    blocked_until: u64,
    cap: Option<u32>,
}

pub struct CountryCapRule {
    floor: u32,
    multiplier: f64,
    history_days: u64,
    block_ms: u64,
    learn_ms: u64,
    /// Time of the first attempt seen.
    start: Option<u64>,
    mode: Mode,
    countries: Vec<Country>,
}

impl CountryCapRule {
    pub fn new(c: &CountryCaps, mode: Mode, isos: &[String]) -> Self {
        let (floor, multiplier) = tier(c.risk.unwrap_or(Risk::Medium));
        let history_days = (c.history.map_or(HISTORY_MS, |h| h.ms()) / DAY_MS).clamp(1, 400);
        Self {
            floor: c.floor.unwrap_or(floor),
            multiplier: c.multiplier.map_or(multiplier, |m| m.0),
            history_days,
            block_ms: c.block_for.map_or(BLOCK_MS, |b| b.ms()),
            learn_ms: c.learn.map_or(0, |d| d.ms()),
            start: None,
            mode,
            countries: isos
                .iter()
                .map(|iso| Country {
                    hour: 0,
                    count: 0,
                    days: Ring::new(DAY_MS, history_days as usize + 1),
                    blocked_until: 0,
                    cap: c
                        .caps
                        .as_ref()
                        .and_then(|m| m.iter().find(|(k, _)| &k.0 == iso).map(|(_, v)| *v)),
                })
                .collect(),
        }
    }

    fn fold(c: &mut Country, now: u64) {
        let h = now / HOUR_MS;
        if h != c.hour {
            c.days.raise(c.hour * HOUR_MS, c.count);
            c.hour = h;
            c.count = 0;
        }
    }

    /// The messages-per-hour cap of `country` at `now`.
    pub fn cap(&self, country: usize, now: u64) -> u32 {
        let Some(c) = self.countries.get(country) else {
            return self.floor;
        };
        c.cap.unwrap_or_else(|| {
            let busiest = c.days.max_last(now, self.history_days);
            self.floor
                .max((self.multiplier * f64::from(busiest)).ceil() as u32)
        })
    }
}

impl Rule for CountryCapRule {
    fn judge(&mut self, a: &Attempt, spans: &mut Vec<Span>) -> Option<Blocked> {
        Self::fold(self.countries.get_mut(a.country)?, a.now);
        let start = *self.start.get_or_insert(a.now);
        if a.now < start.saturating_add(self.learn_ms) {
            return None;
        }
        let cap = self.cap(a.country, a.now);
        let (block_ms, mode) = (self.block_ms, self.mode);
        let c = self.countries.get_mut(a.country)?;
        if c.blocked_until > a.now {
            return Some(Blocked::CountryCap);
        }
        if c.count >= cap {
            c.blocked_until = a.now.saturating_add(block_ms);
            if mode == Mode::Block {
                spans.push((a.now, c.blocked_until, a.country));
            }
            return Some(Blocked::CountryCap);
        }
        None
    }

    fn sent(&mut self, a: &Attempt) {
        if let Some(c) = self.countries.get_mut(a.country) {
            Self::fold(c, a.now);
            c.count = c.count.saturating_add(1);
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::CountryCap).then(|| {
            self.countries
                .get(a.country)
                .map_or(0, |c| c.blocked_until.saturating_sub(a.now))
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        0
    }
}
