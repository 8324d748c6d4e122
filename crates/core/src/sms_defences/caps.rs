//! Plivo Fraud Shield (Messaging Geo Permissions with MPH thresholds): a cap of messages per
//! hour for each destination country; a breach blocks the country for `block_for` (Plivo:
//! up to 24 hours, error 451), or only alerts in monitor mode.
//!
//! Plivo classifies each destination country into a risk level and recommends a threshold
//! "based on the last 15 days of activity"; the customer applies it ("in one click"). The
//! formula is not published. mo2fa's stand-in: when applied, a country's cap is
//! `max(floor, multiplier × the busiest hour over history)`, floor and multiplier from the
//! country's tier (`tiers.<ISO>`, else `risk`; assumed values, docs/defences.md), and then it
//! stays frozen: the attack's own traffic does not raise it. The recommendation is applied at
//! the rule's first attempt (after `learn`, if set), from the seeded history
//! ([`super::SmsGuard::seed_history`]) and what it recorded; with `reapply` it is applied again
//! that often, from hours in which the country was not blocked. During a replayed history (the
//! simulator's warm-up) no cap is in force, and the recommendation is applied at the run's
//! first attempt, from the replayed days.
//! `caps.<ISO>` sets a country's cap outright.

use super::history::Seed;
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
    /// Busiest unblocked hour of each day.
    days: Ring,
    blocked_until: u64,
    /// An explicit cap (`caps.<ISO>`).
    fixed: Option<u32>,
    /// The tier's floor and multiplier.
    tier: (u32, f64),
    /// The cap applied last.
    applied: u32,
}

pub struct CountryCapRule {
    history_days: u64,
    block_ms: u64,
    learn_ms: u64,
    reapply_ms: u64,
    /// Time of the first attempt seen.
    start: Option<u64>,
    /// A replayed history is running: counts are recorded, no cap is applied yet.
    replaying: bool,
    /// When the recommendation is applied next.
    next_apply: Option<u64>,
    mode: Mode,
    countries: Vec<Country>,
}

impl CountryCapRule {
    pub fn new(c: &CountryCaps, mode: Mode, isos: &[String]) -> Self {
        let (floor, multiplier) = tier(c.risk.unwrap_or(Risk::Medium));
        let default = (
            c.floor.unwrap_or(floor),
            c.multiplier.map_or(multiplier, |m| m.0),
        );
        let history_days = (c.history.map_or(HISTORY_MS, |h| h.ms()) / DAY_MS).clamp(1, 400);
        let find = |iso: &String| {
            let t = c.tiers.as_ref();
            let t = t.and_then(|m| m.iter().find(|(k, _)| &k.0 == iso).map(|(_, r)| *r));
            t.map_or(default, |r| {
                let (f, m) = tier(r);
                (c.floor.unwrap_or(f), c.multiplier.map_or(m, |x| x.0))
            })
        };
        Self {
            history_days,
            block_ms: c.block_for.map_or(BLOCK_MS, |b| b.ms()),
            learn_ms: c.learn.map_or(0, |d| d.ms()),
            reapply_ms: c.reapply.map_or(0, |d| d.ms()),
            start: None,
            replaying: false,
            next_apply: None,
            mode,
            countries: isos
                .iter()
                .map(|iso| Country {
                    hour: 0,
                    count: 0,
                    days: Ring::new(DAY_MS, history_days as usize + 1),
                    blocked_until: 0,
                    fixed: c
                        .caps
                        .as_ref()
                        .and_then(|m| m.iter().find(|(k, _)| &k.0 == iso).map(|(_, v)| *v)),
                    tier: find(iso),
                    applied: find(iso).0,
                })
                .collect(),
        }
    }

    fn fold(c: &mut Country, now: u64) {
        let h = now / HOUR_MS;
        if h != c.hour {
            // An hour in which the country was blocked is not a recommendation's input.
            if c.blocked_until <= c.hour * HOUR_MS {
                c.days.raise(c.hour * HOUR_MS, c.count);
            }
            c.hour = h;
            c.count = 0;
        }
    }

    /// The cap a recommendation applied at `now` would give `country`.
    pub fn recommended(&self, country: usize, now: u64) -> u32 {
        self.countries.get(country).map_or(0, |c| {
            let busiest = c.days.max_last(now, self.history_days + 1);
            let (floor, multiplier) = c.tier;
            floor.max((multiplier * f64::from(busiest)).ceil() as u32)
        })
    }

    fn apply(&mut self, now: u64) {
        for i in 0..self.countries.len() {
            let cap = self.recommended(i, now);
            self.countries[i].applied = cap;
        }
    }

    /// The messages-per-hour cap of `country` in force.
    pub fn cap(&self, country: usize) -> u32 {
        self.countries
            .get(country)
            .map_or(0, |c| c.fixed.unwrap_or(c.applied))
    }
}

impl Rule for CountryCapRule {
    fn judge(&mut self, a: &Attempt, spans: &mut Vec<Span>) -> Option<Blocked> {
        Self::fold(self.countries.get_mut(a.country)?, a.now);
        if self.replaying {
            return None;
        }
        let start = *self.start.get_or_insert(a.now);
        if a.now < start.saturating_add(self.learn_ms) {
            return None;
        }
        let due = *self.next_apply.get_or_insert(a.now);
        if a.now >= due {
            self.apply(a.now);
            self.next_apply = Some(match self.reapply_ms {
                0 => u64::MAX,
                r => a.now.saturating_add(r),
            });
        }
        let cap = self.cap(a.country);
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

    fn seed(&mut self, s: &Seed) {
        for (i, c) in self.countries.iter_mut().enumerate() {
            let peak = s.peak_hour(i);
            for day in s.day_starts() {
                c.days.raise(day, peak);
            }
        }
    }

    /// While a history is replayed no cap is in force: its hours are the account's traffic
    /// as sent, every one an input of the recommendation.
    fn replaying(&mut self) {
        self.replaying = true;
    }

    /// The customer applies the recommendation when the run starts, from the replayed days
    /// (a cap applied at the replay's first send would be the floor).
    fn replayed(&mut self) {
        self.replaying = false;
        self.start = None;
        self.next_apply = None;
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
