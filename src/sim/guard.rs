//! SMS-side defences: what stands between a "send me a code" request and a paid SMS.
//!
//! Limits count per fixed window (per number, per sending IP, per number range = the number
//! without its last 4 digits). The conversion rule looks back at each finished window: a
//! destination country that received at least `min_sent` codes of which fewer than
//! `threshold` were verified is blocked for `block_for`, starting `detection_lag` after the
//! window closed (the time a real team or model needs to notice).

use super::scenario::SmsDefences;
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    Geo,
    Country,
    Number,
    Ip,
    Prefix,
}

pub struct SmsGuard {
    cfg: SmsDefences,
    allowed: Option<Vec<bool>>,
    window_ms: u64,
    window: u64,
    per_number: FxHashMap<u64, u32>,
    per_ip: FxHashMap<u32, u32>,
    per_prefix: FxHashMap<u64, u32>,
    sent: Vec<u32>,
    verified: Vec<u32>,
    blocked_until: Vec<u64>,
    /// (effective from, country, until)
    pending_blocks: Vec<(u64, usize, u64)>,
    /// Blocks that took effect: (from, until, country), for the report's timeline.
    pub blocks: Vec<(u64, u64, usize)>,
}

impl SmsGuard {
    /// `countries` are the ISO codes in the simulation's country order.
    pub fn new(cfg: &SmsDefences, countries: &[String]) -> Self {
        let allowed = cfg.geo_allow.as_ref().map(|list| {
            countries
                .iter()
                .map(|c| list.iter().any(|a| &a.0 == c))
                .collect()
        });
        let n = countries.len();
        Self {
            cfg: cfg.clone(),
            allowed,
            window_ms: cfg.window.map_or(3_600_000, |w| w.ms().max(1)),
            window: 0,
            per_number: FxHashMap::default(),
            per_ip: FxHashMap::default(),
            per_prefix: FxHashMap::default(),
            sent: vec![0; n],
            verified: vec![0; n],
            blocked_until: vec![0; n],
            pending_blocks: Vec::new(),
            blocks: Vec::new(),
        }
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w == self.window {
            return;
        }
        if let Some(rule) = &self.cfg.conversion {
            let closed_at = (self.window + 1) * self.window_ms;
            for c in 0..self.sent.len() {
                let sent = self.sent[c];
                if sent >= rule.min_sent.max(1)
                    && f64::from(self.verified[c]) < rule.threshold.0 * f64::from(sent)
                {
                    let from = closed_at + self.cfg.detection_lag.ms();
                    self.pending_blocks
                        .push((from, c, from + rule.block_for.ms()));
                }
            }
        }
        self.sent.iter_mut().for_each(|v| *v = 0);
        self.verified.iter_mut().for_each(|v| *v = 0);
        self.per_number.clear();
        self.per_ip.clear();
        self.per_prefix.clear();
        self.window = w;
    }

    fn activate(&mut self, now: u64) {
        let blocked_until = &mut self.blocked_until;
        let blocks = &mut self.blocks;
        self.pending_blocks.retain(|&(from, c, until)| {
            if from > now {
                return true;
            }
            if until > blocked_until[c] {
                blocked_until[c] = until;
                blocks.push((from, until, c));
            }
            false
        });
    }

    /// Decides one send; counts it if allowed.
    pub fn check(&mut self, country: usize, number: u64, ip: u32, now: u64) -> Result<(), Blocked> {
        self.roll(now);
        self.activate(now);
        if self.allowed.as_ref().is_some_and(|a| !a[country]) {
            return Err(Blocked::Geo);
        }
        if self.blocked_until[country] > now {
            return Err(Blocked::Country);
        }
        let limit = |map: &FxHashMap<u64, u32>, key: u64, max: u32| {
            max > 0 && map.get(&key).copied().unwrap_or(0) >= max
        };
        if limit(&self.per_number, number, self.cfg.per_number) {
            return Err(Blocked::Number);
        }
        if self.cfg.per_ip > 0 && self.per_ip.get(&ip).copied().unwrap_or(0) >= self.cfg.per_ip {
            return Err(Blocked::Ip);
        }
        let prefix = number / 10_000;
        if limit(&self.per_prefix, prefix, self.cfg.per_prefix) {
            return Err(Blocked::Prefix);
        }
        *self.per_number.entry(number).or_default() += 1;
        *self.per_ip.entry(ip).or_default() += 1;
        *self.per_prefix.entry(prefix).or_default() += 1;
        self.sent[country] += 1;
        Ok(())
    }

    /// A code sent to `country` was verified (counts towards its conversion).
    pub fn verified(&mut self, country: usize, now: u64) {
        self.roll(now);
        self.verified[country] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{ConversionRule, Dur, Iso, Prob};

    fn countries() -> Vec<String> {
        vec!["MA".into(), "US".into()]
    }

    #[test]
    fn limits_per_number_ip_and_prefix() {
        let cfg = SmsDefences {
            per_number: 2,
            per_ip: 2,
            per_prefix: 4,
            ..Default::default()
        };
        let mut g = SmsGuard::new(&cfg, &countries());
        assert!(g.check(0, 21_200_000_001, 1, 0).is_ok());
        assert!(g.check(0, 21_200_000_001, 2, 0).is_ok());
        assert_eq!(g.check(0, 21_200_000_001, 3, 0), Err(Blocked::Number));
        assert!(g.check(0, 21_200_000_002, 1, 0).is_ok());
        assert_eq!(g.check(0, 21_200_000_003, 1, 0), Err(Blocked::Ip));
        assert!(g.check(0, 21_200_000_003, 4, 0).is_ok());
        assert_eq!(g.check(0, 21_200_000_004, 5, 0), Err(Blocked::Prefix));
        // A new window starts afresh.
        assert!(g.check(0, 21_200_000_001, 1, 3_600_000).is_ok());
    }

    #[test]
    fn geo_allow_list() {
        let cfg = SmsDefences {
            geo_allow: Some(vec![Iso("US".into())]),
            ..Default::default()
        };
        let mut g = SmsGuard::new(&cfg, &countries());
        assert_eq!(g.check(0, 1, 1, 0), Err(Blocked::Geo));
        assert!(g.check(1, 1, 1, 0).is_ok());
    }

    #[test]
    fn low_conversion_blocks_after_the_lag() {
        let cfg = SmsDefences {
            conversion: Some(ConversionRule {
                min_sent: 10,
                threshold: Prob(0.5),
                block_for: Dur(7_200_000),
            }),
            detection_lag: Dur(600_000),
            ..Default::default()
        };
        let mut g = SmsGuard::new(&cfg, &countries());
        for i in 0..20 {
            g.check(0, 1000 + i, i as u32, 1_000).unwrap();
            g.check(1, 5000 + i, i as u32, 1_000).unwrap();
            g.verified(1, 2_000);
        }
        // Window 0 closes at 1 h; the block starts 10 min later and lasts 2 h.
        assert!(g.check(0, 1, 1, 3_600_000 + 599_000).is_ok());
        assert_eq!(g.check(0, 2, 1, 3_600_000 + 600_000), Err(Blocked::Country));
        assert!(
            g.check(1, 2, 1, 3_600_000 + 600_000).is_ok(),
            "the converting country is fine"
        );
        assert!(g.check(0, 3, 1, 3_600_000 + 600_000 + 7_200_000).is_ok());
        assert_eq!(g.blocks.len(), 1);
    }
}
