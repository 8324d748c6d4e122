//! SMS-side defences: what stands between a "send me a code" request and a paid SMS.
//!
//! One implementation for the simulator (`mo2fa run`, per flow) and the server (`/sms/start`
//! with `serve --sms-defences FILE`): both build an [`SmsGuard`] from the same [`SmsDefences`]
//! (the TOML keys of a scenario's `[defences.sms]`), so a team deploys what it simulated.
//! Pure: `now` (ms) is passed in; no clock, no I/O.
//!
//! Limits count per fixed window (per number, per sending IP, per number range = the number
//! without its last 4 digits). The conversion rule looks back at each finished window: a
//! destination country that received at least `min_sent` codes of which fewer than
//! `threshold` were verified is blocked for `block_for`, starting `detection_lag` after the
//! window closed (the time a real team or model needs to notice).
//!
//! Memory is bounded: each counter table holds at most `max_keys` keys per window. A new key
//! arriving at a full table is refused ([`Blocked::Full`]) until the window ends, rather than
//! evicting a counted key: eviction would hand an attacker who rotates numbers a way to reset
//! the counts of the ones he is pumping, and a refused send costs nothing.

use crate::conf::{Dur, Iso, Prob};
use rustc_hash::FxHashMap;
use serde::Deserialize;

/// Keys per counter table and window unless a file says otherwise (about 32 bytes each).
pub const DEFAULT_MAX_KEYS: u32 = 200_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsDefences {
    /// Only these destinations get an SMS; absent means all.
    pub geo_allow: Option<Vec<Iso>>,
    /// Per window (`window`, default 1h); 0 or absent disables a limit.
    #[serde(default)]
    pub per_number: u32,
    #[serde(default)]
    pub per_ip: u32,
    /// Per number range: the number without its last 4 digits.
    #[serde(default)]
    pub per_prefix: u32,
    pub window: Option<Dur>,
    /// Block a destination country whose conversion (verified / sent) falls below a threshold.
    pub conversion: Option<ConversionRule>,
    /// Time from the end of a window to the block taking effect.
    #[serde(default)]
    pub detection_lag: Dur,
    /// Keys each counter table (numbers, IPs, ranges) may hold in one window; past it new
    /// keys are refused until the window ends.
    #[serde(default = "default_max_keys")]
    pub max_keys: u32,
}

fn default_max_keys() -> u32 {
    DEFAULT_MAX_KEYS
}

impl Default for SmsDefences {
    fn default() -> Self {
        Self {
            geo_allow: None,
            per_number: 0,
            per_ip: 0,
            per_prefix: 0,
            window: None,
            conversion: None,
            detection_lag: Dur::default(),
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRule {
    pub min_sent: u32,
    pub threshold: Prob,
    pub block_for: Dur,
}

impl SmsDefences {
    /// Reads a defences file: the keys of a scenario's `[defences.sms]` at the top level.
    /// Errors name the file, the line and the key.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::conf::ConfigError> {
        let (file, text) = crate::conf::read(path)?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Self, crate::conf::ConfigError> {
        let d: SmsDefences = crate::conf::parse_toml(file, text)?;
        if d.max_keys == 0 {
            return Err(crate::conf::ConfigError::Invalid {
                file: file.to_string(),
                key: "max_keys".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(d)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    Geo,
    Country,
    Number,
    Ip,
    Prefix,
    /// A counter table is full for this window (see the module doc).
    Full,
}

impl Blocked {
    /// The rule's name, as used in API errors and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Blocked::Geo => "geo_allow",
            Blocked::Country => "conversion",
            Blocked::Number => "per_number",
            Blocked::Ip => "per_ip",
            Blocked::Prefix => "per_prefix",
            Blocked::Full => "max_keys",
        }
    }
}

pub struct SmsGuard {
    cfg: SmsDefences,
    allowed: Option<Vec<bool>>,
    window_ms: u64,
    window: u64,
    per_number: FxHashMap<u64, u32>,
    per_ip: FxHashMap<u128, u32>,
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

    /// Decides one send; counts it if allowed. `ip` is the client's address as a number (an
    /// IPv4 address as its `u32`, IPv6 as its `u128`).
    pub fn check(
        &mut self,
        country: usize,
        number: u64,
        ip: u128,
        now: u64,
    ) -> Result<(), Blocked> {
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
        // Only enabled limits count, so only they take memory.
        let (on_number, on_ip, on_prefix) = (
            self.cfg.per_number > 0,
            self.cfg.per_ip > 0,
            self.cfg.per_prefix > 0,
        );
        let max = self.cfg.max_keys as usize;
        if (on_number && self.per_number.len() >= max && !self.per_number.contains_key(&number))
            || (on_ip && self.per_ip.len() >= max && !self.per_ip.contains_key(&ip))
            || (on_prefix && self.per_prefix.len() >= max && !self.per_prefix.contains_key(&prefix))
        {
            return Err(Blocked::Full);
        }
        if on_number {
            *self.per_number.entry(number).or_default() += 1;
        }
        if on_ip {
            *self.per_ip.entry(ip).or_default() += 1;
        }
        if on_prefix {
            *self.per_prefix.entry(prefix).or_default() += 1;
        }
        self.sent[country] += 1;
        Ok(())
    }

    /// Milliseconds until the current window ends (when per-window counts reset).
    pub fn window_left(&self, now: u64) -> u64 {
        self.window_ms - now % self.window_ms
    }

    /// Milliseconds until `country`'s conversion block ends (0 if it is not blocked).
    pub fn blocked_for(&self, country: usize, now: u64) -> u64 {
        self.blocked_until
            .get(country)
            .map_or(0, |&until| until.saturating_sub(now))
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
    use crate::conf::{Dur, Iso, Prob};

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
    fn a_full_table_refuses_new_keys_until_the_window_ends() {
        let cfg = SmsDefences {
            per_number: 5,
            max_keys: 2,
            ..Default::default()
        };
        let mut g = SmsGuard::new(&cfg, &countries());
        assert!(g.check(0, 100_001, 1, 0).is_ok());
        assert!(g.check(0, 200_001, 2, 0).is_ok());
        assert_eq!(g.check(0, 300_001, 3, 0), Err(Blocked::Full));
        assert!(g.check(0, 100_001, 4, 0).is_ok(), "known keys still count");
        assert!(g.check(0, 300_001, 3, 3_600_000).is_ok(), "a new window");
        // Disabled limits keep no table, so they never fill.
        let mut g = SmsGuard::new(
            &SmsDefences {
                max_keys: 1,
                ..Default::default()
            },
            &countries(),
        );
        for n in 0..10 {
            assert!(g.check(0, n, u128::from(n), 0).is_ok());
        }
    }

    #[test]
    fn a_defences_file_reads_like_the_scenario_section() {
        let d = SmsDefences::parse(
            "d.toml",
            "geo_allow = [\"US\"]\nper_number = 3\nwindow = \"10m\"\n[conversion]\nmin_sent = 5\nthreshold = 0.2\nblock_for = \"1h\"\n",
        )
        .expect("valid");
        assert_eq!(d.per_number, 3);
        assert_eq!(d.window, Some(Dur(600_000)));
        assert_eq!(d.conversion.map(|c| c.min_sent), Some(5));
        let e = SmsDefences::parse("d.toml", "per_number = 3\nper_nmber = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml:2:") && e.contains("per_nmber"), "{e}");
        let e = SmsDefences::parse("d.toml", "window = \"5 parsecs\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml:1:") && e.contains("window"), "{e}");
        let e = SmsDefences::parse("d.toml", "max_keys = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_keys"), "{e}");
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
            g.check(0, 1000 + i, u128::from(i), 1_000).unwrap();
            g.check(1, 5000 + i, u128::from(i), 1_000).unwrap();
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
