//! The account as it was before the run: what the rules that learn from history (Fraud
//! Guard's baseline and "never sent to" set, Plivo's recommended caps, Authgear's 14-day
//! maximum, the 2023 high-risk auto-block) start from instead of an empty account.
//!
//! A caller builds a [`History`] (explicit per-country daily sends and a conversion rate, the
//! shape of a scenario's `[history]` table) and calls [`super::SmsGuard::seed_history`] once,
//! before the first `check`. The history is `days` whole days ending at the `now` passed to
//! `seed_history` (the run's start), each day like the others: `daily_sends` codes sent to the
//! country, `conversion` of them verified, the busiest hour holding `peak_hour_share` of the
//! day. A replay of real traffic (the simulator's `warmup`) can instead drive `check` and
//! `verified` with its own clock before the run; this is the explicit, cheaper alternative.

use crate::conf::{Iso, Prob};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Assumed when a history does not say: the middle of the published 60–80 % legit conversion
/// (Telnyx, "60–80%"; Telesign-era "65% globally"; vendor_facts_2026-12.md §2).
pub const CONVERSION: f64 = 0.7;
/// Plivo recommends from "the last 15 days" (published); Fraud Guard's and Authgear's 14 fit in.
pub const DAYS: u32 = 15;
/// Assumed: the busiest hour holds twice an average hour's traffic (2/24 of the day).
pub const PEAK_HOUR_SHARE: f64 = 2.0 / 24.0;

/// Per-country daily sends before the run (the `[history]` table's keys).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Codes sent per day, by destination country; a country absent was never sent to.
    #[serde(default)]
    pub daily_sends: BTreeMap<Iso, u32>,
    /// Share of sent codes that were verified (default [`CONVERSION`]).
    pub conversion: Option<Prob>,
    /// Days of history (default [`DAYS`]).
    pub days: Option<u32>,
    /// Share of a day's sends in its busiest hour (default [`PEAK_HOUR_SHARE`]).
    pub peak_hour_share: Option<Prob>,
}

/// A [`History`] laid out in a guard's country order, as the rules read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    /// Codes sent per day, per guard country index.
    pub daily_sends: Vec<u32>,
    pub conversion: f64,
    pub days: u32,
    pub peak_hour_share: f64,
    /// The first millisecond after the history (the run's start).
    pub now: u64,
}

impl Seed {
    pub fn new(h: &History, countries: &[String], now: u64) -> Self {
        Self {
            daily_sends: countries
                .iter()
                .map(|c| {
                    h.daily_sends
                        .iter()
                        .find(|(k, _)| &k.0 == c)
                        .map_or(0, |(_, v)| *v)
                })
                .collect(),
            conversion: h.conversion.map_or(CONVERSION, |p| p.0),
            days: h.days.unwrap_or(DAYS).min(400),
            peak_hour_share: h.peak_hour_share.map_or(PEAK_HOUR_SHARE, |p| p.0),
            now,
        }
    }

    /// Sends per day to `country` (0 if never sent to).
    pub fn sends(&self, country: usize) -> u32 {
        self.daily_sends.get(country).copied().unwrap_or(0)
    }

    /// Verified codes per day to `country`.
    pub fn verified(&self, country: usize) -> u32 {
        (f64::from(self.sends(country)) * self.conversion).round() as u32
    }

    /// Codes never verified per day to `country`.
    pub fn unverified(&self, country: usize) -> u32 {
        self.sends(country) - self.verified(country).min(self.sends(country))
    }

    /// Sends in the busiest hour of a day to `country`.
    pub fn peak_hour(&self, country: usize) -> u32 {
        (f64::from(self.sends(country)) * self.peak_hour_share).ceil() as u32
    }

    /// Start times (ms) of the history's days, oldest first: `days` days ending at `now`.
    pub fn day_starts(&self) -> impl Iterator<Item = u64> + '_ {
        const DAY: u64 = 86_400_000;
        (1..=u64::from(self.days))
            .rev()
            .filter_map(|d| self.now.checked_sub(d * DAY))
    }
}
