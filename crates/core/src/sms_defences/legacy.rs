//! The original keys: the geo allow-list, limits per number, per sending IP and per number
//! range (the number without its last 4 digits) counted per fixed `window`, and the
//! conversion rule, which looks back at each finished window: a destination country that
//! received at least `min_sent` codes of which fewer than `threshold` were verified is
//! blocked for `block_for`, starting `detection_lag` after the window closed (the time a real
//! team or model needs to notice). Unchanged in behaviour: the same seed gives the same
//! numbers as before presets existed.

use super::{Attempt, Blocked, Mode, Rule, SmsDefences, Span};
use rustc_hash::FxHashMap;

pub struct Legacy {
    cfg: SmsDefences,
    mode: Mode,
    allowed: Option<Vec<bool>>,
    per_number_max: u32,
    per_ip_max: u32,
    per_prefix_max: u32,
    max_keys: usize,
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
}

impl Legacy {
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
            mode: cfg.mode_of(None),
            allowed,
            per_number_max: cfg.per_number.unwrap_or(0),
            per_ip_max: cfg.per_ip.unwrap_or(0),
            per_prefix_max: cfg.per_prefix.unwrap_or(0),
            max_keys: cfg.max_keys() as usize,
            window_ms: cfg.window.map_or(3_600_000, |w| w.ms().max(1)),
            window: 0,
            per_number: FxHashMap::default(),
            per_ip: FxHashMap::default(),
            per_prefix: FxHashMap::default(),
            sent: vec![0; n],
            verified: vec![0; n],
            blocked_until: vec![0; n],
            pending_blocks: Vec::new(),
        }
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w == self.window {
            return;
        }
        if let Some(rule) = &self.cfg.conversion {
            let closed_at = (self.window + 1) * self.window_ms;
            let lag = self.cfg.detection_lag.map_or(0, |d| d.ms());
            for c in 0..self.sent.len() {
                let sent = self.sent[c];
                if sent >= rule.min_sent.max(1)
                    && f64::from(self.verified[c]) < rule.threshold.0 * f64::from(sent)
                {
                    let from = closed_at + lag;
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

    fn activate(&mut self, now: u64, spans: &mut Vec<Span>) {
        let blocked_until = &mut self.blocked_until;
        self.pending_blocks.retain(|&(from, c, until)| {
            if from > now {
                return true;
            }
            if until > blocked_until[c] {
                blocked_until[c] = until;
                spans.push((from, until, c));
            }
            false
        });
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
}

impl Rule for Legacy {
    fn judge(&mut self, a: &Attempt, spans: &mut Vec<Span>) -> Option<Blocked> {
        let (country, number, ip, now) = (a.country, a.number, a.ip, a.now);
        self.roll(now);
        self.activate(now, spans);
        if self
            .allowed
            .as_ref()
            .is_some_and(|al| !al.get(country).copied().unwrap_or(false))
        {
            return Some(Blocked::Geo);
        }
        if self.blocked_until.get(country).is_some_and(|&u| u > now) {
            return Some(Blocked::Country);
        }
        let over = |count: Option<&u32>, max: u32| max > 0 && count.copied().unwrap_or(0) >= max;
        if over(self.per_number.get(&number), self.per_number_max) {
            return Some(Blocked::Number);
        }
        if over(self.per_ip.get(&ip), self.per_ip_max) {
            return Some(Blocked::Ip);
        }
        let prefix = a.prefix();
        if over(self.per_prefix.get(&prefix), self.per_prefix_max) {
            return Some(Blocked::Prefix);
        }
        // Only enabled limits count, so only they take memory.
        let max = self.max_keys;
        if (self.per_number_max > 0
            && self.per_number.len() >= max
            && !self.per_number.contains_key(&number))
            || (self.per_ip_max > 0 && self.per_ip.len() >= max && !self.per_ip.contains_key(&ip))
            || (self.per_prefix_max > 0
                && self.per_prefix.len() >= max
                && !self.per_prefix.contains_key(&prefix))
        {
            return Some(Blocked::Full);
        }
        None
    }

    fn sent(&mut self, a: &Attempt) {
        // A monitor-mode legacy rule may let a send through while a table is full: it is
        // then not counted, so the table stays bounded.
        let max = self.max_keys;
        if self.per_number_max > 0 {
            super::util::bump(&mut self.per_number, a.number, max);
        }
        if self.per_ip_max > 0 {
            super::util::bump(&mut self.per_ip, a.ip, max);
        }
        if self.per_prefix_max > 0 {
            super::util::bump(&mut self.per_prefix, a.prefix(), max);
        }
        if let Some(s) = self.sent.get_mut(a.country) {
            *s += 1;
        }
    }

    /// A code sent to `country` was verified (counts towards its conversion).
    fn verified(&mut self, a: &Attempt) {
        self.roll(a.now);
        if let Some(v) = self.verified.get_mut(a.country) {
            *v += 1;
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        match b {
            Blocked::Country => Some(self.blocked_for(a.country, a.now)),
            Blocked::Number | Blocked::Ip | Blocked::Prefix | Blocked::Full => {
                Some(self.window_left(a.now))
            }
            _ => None,
        }
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.per_number.len() + self.per_ip.len() + self.per_prefix.len()
    }
}
