//! Authgear's fraud protection, ported from what upstream ships (authgear/authgear-server
//! @ fa7a7d551dda, `pkg/lib/fraudprotection/leaky_bucket_store.go` and `service.go`; the
//! thresholds of `docs/specs/fraud-protection.md`). mo2fa's own code, none copied.
//!
//! Every send request fills leaky buckets by one *before* the decision, so refused requests
//! are counted too; a verified code drains them by one. A bucket of threshold `t` over
//! `period` leaks `t / period` per second; before each operation its level is capped at `t`;
//! it warns when the new level exceeds `t`. Buckets, per phone country and per IP, hourly
//! (3,600 s) and daily (86,400 s), with the shipped thresholds:
//!
//! - country daily: `max(20, daily_ratio × 14-day max daily verified, daily_ratio × verified
//!   in the past 24 h)`;
//! - country hourly: `max(3, hourly_ratio × 14-day max / 6, hourly_ratio × verified in the
//!   past hour)`;
//! - IP daily: `max(10, daily_ratio × the IP's verified in 24 h)`; IP hourly: `max(5,
//!   hourly_ratio × the IP's verified in 24 h / 6)`;
//!
//! and `SMS__PHONE_COUNTRIES__BY_IP__DAILY_THRESHOLD_EXCEEDED`: more than 3 distinct phone
//! countries from one IP in the past 24 h, countries with a verified OTP from that IP in the
//! same 24 h not counted. Readings: upstream caches thresholds for 5 minutes (not modelled:
//! they are computed per request); the 14-day maximum is over UTC calendar days (today
//! included); "verified in the past 24 h / hour" are rolling windows of 5-minute buckets, and
//! an IP's verified count is kept per hour. Consequences the rolling windows of earlier mo2fa
//! versions did not have: an attacker asking faster than the leak is refused for as long as
//! he asks; a slow one, below `t / period`, is never flagged.

use super::history::Seed;
use super::util::{Ring, Rolling, full};
use super::{Attempt, Authgear, Blocked, Mode, Rule, Span};
use rustc_hash::FxHashMap;

const HOUR_S: f64 = 3_600.0;
const DAY_S: f64 = 86_400.0;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;
/// Resolution of the rolling verified counts.
const BUCKET_MS: u64 = 300_000;
/// Distinct countries remembered per IP (enough to know the threshold is passed).
const IP_COUNTRIES: usize = 16;

pub const IP_COUNTRIES_MAX: u32 = 3;
pub const DAILY_MIN: u32 = 20;
pub const HOURLY_MIN: u32 = 3;
pub const IP_DAILY_MIN: u32 = 10;
pub const IP_HOURLY_MIN: u32 = 5;
/// Upstream's defaults (`pkg/lib/config/fraud_protection.go` @ fa7a7d551dda).
pub const DAILY_RATIO: f64 = 0.3;
pub const HOURLY_RATIO: f64 = 0.2;
pub const HISTORY_DAYS: u32 = 14;
const HOURS_PER_DAY: f64 = 6.0;

/// A leaky bucket: its level and when it was last written (Unix seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bucket {
    pub level: f64,
    pub last: Option<f64>,
}

impl Bucket {
    /// One operation of upstream's bucket script: `n` = +1 fills, −1 drains, 0 reads. Returns
    /// the new level and whether it exceeds `threshold`.
    pub fn apply(&mut self, now: f64, threshold: f64, period: f64, n: f64) -> (f64, bool) {
        let level = self.level.min(threshold);
        let elapsed = now - self.last.unwrap_or(now);
        let leaked = elapsed * threshold / period;
        let new = (level - leaked + n).max(0.0);
        if n != 0.0 {
            self.level = new;
            self.last = Some(now);
        }
        (new, new > threshold)
    }

    /// Seconds until a fill at `threshold` would no longer warn.
    fn wait(&self, now: f64, threshold: f64, period: f64) -> f64 {
        let rate = threshold / period;
        let (level, _) = { *self }.apply(now, threshold, period, 0.0);
        if rate <= 0.0 {
            return period;
        }
        ((level + 1.0 - threshold) / rate).max(0.0)
    }
}

/// The country thresholds (daily, hourly) as shipped.
pub fn country_thresholds(
    mins: (u32, u32),
    ratios: (f64, f64),
    max14: u64,
    verified_24h: u64,
    verified_1h: u64,
) -> (f64, f64) {
    let (dr, hr) = ratios;
    let daily = f64::from(mins.0)
        .max(max14 as f64 * dr)
        .max(verified_24h as f64 * dr);
    let hourly = f64::from(mins.1)
        .max(max14 as f64 / HOURS_PER_DAY * hr)
        .max(verified_1h as f64 * hr);
    (daily, hourly)
}

/// The IP thresholds (daily, hourly) as shipped.
pub fn ip_thresholds(mins: (u32, u32), ratios: (f64, f64), verified_24h: u64) -> (f64, f64) {
    let v = verified_24h as f64;
    (
        f64::from(mins.0).max(v * ratios.0),
        f64::from(mins.1).max(v / HOURS_PER_DAY * ratios.1),
    )
}

struct Country {
    hourly: Bucket,
    daily: Bucket,
    verified_24h: Rolling,
    verified_1h: Rolling,
    verified_days: Ring,
}

#[derive(Default)]
struct Ip {
    hourly: Bucket,
    daily: Bucket,
    /// Verified per hour: (hour, count), the last 24 hours.
    verified: Vec<(u64, u32)>,
    /// (country, last sent, last verified) in Unix seconds.
    countries: Vec<(usize, f64, Option<f64>)>,
    last: f64,
}

impl Ip {
    fn verified_24h(&self, now_ms: u64) -> u64 {
        let h = now_ms / HOUR_MS;
        self.verified
            .iter()
            .filter(|(x, _)| h.saturating_sub(*x) < 24)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// Countries sent to in the past 24 h without a verified OTP in it.
    fn unverified_countries(&self, now: f64) -> usize {
        let cutoff = now - DAY_S;
        self.countries
            .iter()
            .filter(|(_, s, v)| *s > cutoff && !v.is_some_and(|v| v > cutoff))
            .count()
    }
}

pub struct Warnings {
    ip_countries_max: u32,
    mins: (u32, u32),
    ip_mins: (u32, u32),
    ratios: (f64, f64),
    history_days: u64,
    mode: Mode,
    max_keys: usize,
    countries: Vec<Country>,
    ips: FxHashMap<u128, Ip>,
}

fn secs(ms: u64) -> f64 {
    (ms / 1000) as f64
}

impl Warnings {
    pub fn new(c: &Authgear, mode: Mode, countries: usize, max_keys: usize) -> Self {
        let history_days = c.history_days.unwrap_or(HISTORY_DAYS).clamp(1, 400);
        let ratio =
            |own: Option<f64>, default: f64| own.or(c.ratio.map(|r| r.0)).unwrap_or(default);
        Self {
            ip_countries_max: c.ip_countries_max.unwrap_or(IP_COUNTRIES_MAX),
            mins: (
                c.country_daily_min.unwrap_or(DAILY_MIN),
                c.country_hourly_min.unwrap_or(HOURLY_MIN),
            ),
            ip_mins: (
                c.ip_daily_min.unwrap_or(IP_DAILY_MIN),
                c.ip_hourly_min.unwrap_or(IP_HOURLY_MIN),
            ),
            ratios: (
                ratio(c.daily_ratio.map(|r| r.0), DAILY_RATIO),
                ratio(c.hourly_ratio.map(|r| r.0), HOURLY_RATIO),
            ),
            history_days: u64::from(history_days),
            mode,
            max_keys,
            countries: (0..countries)
                .map(|_| Country {
                    hourly: Bucket::default(),
                    daily: Bucket::default(),
                    verified_24h: Rolling::new(BUCKET_MS, (DAY_MS / BUCKET_MS) as usize),
                    verified_1h: Rolling::new(BUCKET_MS, (HOUR_MS / BUCKET_MS) as usize),
                    verified_days: Ring::new(DAY_MS, history_days as usize + 1),
                })
                .collect(),
            ips: FxHashMap::default(),
        }
    }

    /// The country's (daily, hourly) thresholds at `now`.
    pub fn thresholds(&mut self, country: usize, now: u64) -> (f64, f64) {
        let (mins, ratios, days) = (self.mins, self.ratios, self.history_days);
        let Some(c) = self.countries.get_mut(country) else {
            return (f64::from(mins.0), f64::from(mins.1));
        };
        country_thresholds(
            mins,
            ratios,
            u64::from(c.verified_days.max_last(now, days)),
            c.verified_24h.sum(now),
            c.verified_1h.sum(now),
        )
    }

    fn ip_thresholds(&self, ip: u128, now: u64) -> (f64, f64) {
        let v = self.ips.get(&ip).map_or(0, |s| s.verified_24h(now));
        ip_thresholds(self.ip_mins, self.ratios, v)
    }

    /// The current levels of the country's (daily, hourly) buckets.
    pub fn levels(&mut self, country: usize, now: u64) -> (f64, f64) {
        let (d, h) = self.thresholds(country, now);
        self.countries.get(country).map_or((0.0, 0.0), |c| {
            let t = secs(now);
            (
                { c.daily }.apply(t, d, DAY_S, 0.0).0,
                { c.hourly }.apply(t, h, HOUR_S, 0.0).0,
            )
        })
    }

    /// Makes room for a new IP: drops those idle for two days (upstream's key TTL).
    fn room(&mut self, ip: u128, now: f64) -> bool {
        if full(&self.ips, &ip, self.max_keys) {
            self.ips.retain(|_, s| now - s.last < 2.0 * DAY_S);
        }
        !full(&self.ips, &ip, self.max_keys)
    }

    /// Fills (`n` = 1) or drains (`n` = −1) the four buckets of `a`; returns the warnings.
    fn pour(&mut self, a: &Attempt, n: f64) -> [bool; 4] {
        let t = secs(a.now);
        let (cd, ch) = self.thresholds(a.country, a.now);
        let (id, ih) = self.ip_thresholds(a.ip, a.now);
        let mut out = [false; 4];
        if let Some(c) = self.countries.get_mut(a.country) {
            out[0] = c.daily.apply(t, cd, DAY_S, n).1;
            out[1] = c.hourly.apply(t, ch, HOUR_S, n).1;
        }
        if let Some(s) = self.ips.get_mut(&a.ip) {
            out[2] = s.daily.apply(t, id, DAY_S, n).1;
            out[3] = s.hourly.apply(t, ih, HOUR_S, n).1;
            s.last = t;
        }
        out
    }
}

impl Rule for Warnings {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        let t = secs(a.now);
        if !self.room(a.ip, t) {
            return Some(Blocked::Full);
        }
        let ip = self.ips.entry(a.ip).or_default();
        ip.last = t;
        let known = ip.countries.iter().position(|(c, _, _)| *c == a.country);
        match known {
            Some(i) => ip.countries[i].1 = t,
            None if ip.countries.len() < IP_COUNTRIES => ip.countries.push((a.country, t, None)),
            None => {
                // Replace the entry seen longest ago.
                if let Some(e) = ip.countries.iter_mut().min_by(|x, y| x.1.total_cmp(&y.1)) {
                    *e = (a.country, t, None);
                }
            }
        }
        let many = ip.unverified_countries(t) as u64 > u64::from(self.ip_countries_max);
        let [cd, ch, id, ih] = self.pour(a, 1.0);
        let order = [
            (many, Blocked::IpCountries),
            (cd, Blocked::CountryDaily),
            (ch, Blocked::CountryHourly),
            (id, Blocked::IpDaily),
            (ih, Blocked::IpHourly),
        ];
        order.into_iter().find(|(w, _)| *w).map(|(_, b)| b)
    }

    /// The buckets were filled when the request was judged.
    fn sent(&mut self, _: &Attempt) {}

    fn verified(&mut self, a: &Attempt) {
        let t = secs(a.now);
        if let Some(c) = self.countries.get_mut(a.country) {
            c.verified_24h.add(a.now, 1);
            c.verified_1h.add(a.now, 1);
            c.verified_days.add(a.now, 1);
        }
        if let Some(s) = self.ips.get_mut(&a.ip) {
            let h = a.now / HOUR_MS;
            s.verified.retain(|(x, _)| h.saturating_sub(*x) < 24);
            match s.verified.iter_mut().find(|(x, _)| *x == h) {
                Some(e) => e.1 = e.1.saturating_add(1),
                None => s.verified.push((h, 1)),
            }
            for e in s.countries.iter_mut().filter(|(c, _, _)| *c == a.country) {
                e.2 = Some(t);
            }
        }
        self.pour(a, -1.0);
    }

    fn seed(&mut self, s: &Seed) {
        for (i, c) in self.countries.iter_mut().enumerate() {
            let v = s.verified(i);
            for day in s.day_starts() {
                c.verified_days.add(day, v);
            }
        }
    }

    /// The same request passes once no bucket of it would warn and few enough other
    /// countries are left in the IP's 24 hours: the longest of those waits, each at the
    /// thresholds of now (issue 22: `Retry-After` tells the truth while verifications do not
    /// roll off meanwhile; before, one bucket's wait at the floor was given).
    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        use Blocked::*;
        if !matches!(
            b,
            IpCountries | CountryDaily | CountryHourly | IpDaily | IpHourly
        ) {
            return None;
        }
        let t = secs(a.now);
        let mut wait_s: f64 = 0.0;
        if let Some(c) = self.countries.get(a.country) {
            let (d, h) = country_thresholds(
                self.mins,
                self.ratios,
                u64::from(c.verified_days.max_last(a.now, self.history_days)),
                c.verified_24h.clone().sum(a.now),
                c.verified_1h.clone().sum(a.now),
            );
            wait_s = wait_s
                .max(c.daily.wait(t, d, DAY_S))
                .max(c.hourly.wait(t, h, HOUR_S));
        }
        if let Some(s) = self.ips.get(&a.ip) {
            let (d, h) = self.ip_thresholds(a.ip, a.now);
            wait_s = wait_s
                .max(s.daily.wait(t, d, DAY_S))
                .max(s.hourly.wait(t, h, HOUR_S));
            // The request's own country is sent to again; enough of the others must leave.
            let cutoff = t - DAY_S;
            let mut others: Vec<f64> = s
                .countries
                .iter()
                .filter(|(c, sent, v)| {
                    *c != a.country && *sent > cutoff && !v.is_some_and(|v| v > cutoff)
                })
                .map(|e| e.1)
                .collect();
            others.sort_by(f64::total_cmp);
            let max = self.ip_countries_max as usize;
            // With its own country, more than `max` warns: at most `max - 1` others may stay.
            let leave = (others.len() + 1).saturating_sub(max);
            if let Some(&last) = leave.checked_sub(1).and_then(|i| others.get(i)) {
                wait_s = wait_s.max(last - cutoff);
            }
        }
        Some((wait_s.ceil() as u64).saturating_mul(1000).max(1000))
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.ips.len()
    }
}
