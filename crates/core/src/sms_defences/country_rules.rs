//! Rules that act on where a number is rather than on its own traffic:
//!
//! - [`CountryRuleSet`]: AWS End User Messaging protect configurations, each destination
//!   country Allow, Block, Monitor or Filter; Block refuses every send (HTTP 403);
//! - [`Ait`]: AWS's AIT model for Monitor and Filter countries. AWS publishes no model; the
//!   labelled stand-in flags a 1k range (the number without its last 3 digits) with
//!   `ait_range_max` unverified sends in a fixed `ait_window` (assumed). Filter refuses a flagged
//!   range, Monitor counts an alert for it. Every message to a Monitor or Filter country is
//!   evaluated, and AWS charges for each ("incur additional charges for AIT risk evaluation"):
//!   the fee `aws_ait_evaluation`;
//! - [`HighRisk`]: Twilio's 2023-06-21 auto-block of countries the account never used that are
//!   on error 30649's high-risk list (`presets/twilio_high_risk_countries.toml`);
//! - [`KnownBad`]: `known_bad_ranges`, the stand-in for the cross-customer intelligence every
//!   vendor says it uses ("known" pumped regions and ranges); off unless a file lists ranges.

use super::history::Seed;
use super::util::{bump, full};
use super::{Action, Attempt, Blocked, CountryRules, GuardStats, Mode, Rule, SmsDefences, Span};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::sync::OnceLock;

/// Assumed AIT stand-in defaults (the same counts as the Twilio Messaging stand-in).
pub const AIT_WINDOW_MS: u64 = 3_600_000;
pub const AIT_RANGE_MAX: u32 = 10;
/// The fee name of an AIT evaluation (one per message to a Monitor or Filter country).
pub const AIT_FEE: &str = "aws_ait_evaluation";

fn action_of(cfg: &CountryRules, iso: &str) -> Action {
    cfg.countries
        .as_ref()
        .and_then(|m| m.iter().find(|(k, _)| k.0 == iso).map(|(_, a)| *a))
        .unwrap_or(cfg.default.unwrap_or(Action::Allow))
}

/// The countries of one action: the guard builds one rule for `block` (in block mode).
pub struct CountryRuleSet {
    actions: Vec<Action>,
    which: Action,
}

impl CountryRuleSet {
    pub fn new(cfg: &CountryRules, countries: &[String], which: Action) -> Self {
        let actions = countries.iter().map(|c| action_of(cfg, c)).collect();
        Self { actions, which }
    }

    /// The action for `country` (unknown indices follow the default of the list's last
    /// entry, which the server reserves for "unknown").
    pub fn action(&self, country: usize) -> Action {
        self.actions
            .get(country)
            .or(self.actions.last())
            .copied()
            .unwrap_or(Action::Allow)
    }
}

impl Rule for CountryRuleSet {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        (self.action(a.country) == self.which).then_some(Blocked::CountryRule)
    }

    fn sent(&mut self, _: &Attempt) {}

    fn retry_after(&self, _: Blocked, _: &Attempt) -> Option<u64> {
        None
    }

    fn mode(&self) -> Mode {
        Mode::Block
    }

    fn keys(&self) -> usize {
        0
    }
}

/// The AIT stand-in over the countries of one action (Filter: block mode; Monitor: monitor).
pub struct Ait {
    set: CountryRuleSet,
    window_ms: u64,
    window: u64,
    max: u32,
    max_keys: usize,
    unverified: FxHashMap<u64, u32>,
    evaluated: u64,
}

impl Ait {
    /// `None` if no country has action `which`.
    pub fn new(
        cfg: &CountryRules,
        countries: &[String],
        which: Action,
        max_keys: usize,
    ) -> Option<Self> {
        let set = CountryRuleSet::new(cfg, countries, which);
        let any = set.actions.contains(&which) || cfg.default == Some(which);
        any.then(|| Self {
            set,
            window_ms: cfg.ait_window.map_or(AIT_WINDOW_MS, |d| d.ms().max(1)),
            window: 0,
            max: cfg.ait_range_max.unwrap_or(AIT_RANGE_MAX).max(1),
            max_keys,
            unverified: FxHashMap::default(),
            evaluated: 0,
        })
    }

    fn mine(&self, a: &Attempt) -> bool {
        self.set.action(a.country) == self.set.which
    }

    fn roll(&mut self, now: u64) {
        let w = now / self.window_ms;
        if w != self.window {
            self.unverified.clear();
            self.window = w;
        }
    }
}

impl Rule for Ait {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        if !self.mine(a) {
            return None;
        }
        self.evaluated += 1;
        self.roll(a.now);
        let range = a.number / 1000;
        if self.unverified.get(&range).copied().unwrap_or(0) >= self.max {
            return Some(Blocked::Ait);
        }
        full(&self.unverified, &range, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        if self.mine(a) {
            self.roll(a.now);
            bump(&mut self.unverified, a.number / 1000, self.max_keys);
        }
    }

    fn verified(&mut self, a: &Attempt) {
        self.roll(a.now);
        if let Some(v) = self.unverified.get_mut(&(a.number / 1000)) {
            *v = v.saturating_sub(1);
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::Ait).then(|| self.window_ms - a.now % self.window_ms)
    }

    fn mode(&self) -> Mode {
        if self.set.which == Action::Monitor {
            Mode::Monitor
        } else {
            Mode::Block
        }
    }

    fn keys(&self) -> usize {
        self.unverified.len()
    }

    fn figures(&self, out: &mut GuardStats) {
        if self.evaluated > 0 {
            *out.fees.entry(AIT_FEE).or_default() += self.evaluated;
        }
    }
}

#[derive(Deserialize)]
struct HighRiskFile {
    source: String,
    countries: Vec<String>,
}

/// Error 30649's high-risk countries and the page they are quoted from.
pub fn high_risk_countries() -> (&'static str, &'static [String]) {
    static LIST: OnceLock<HighRiskFile> = OnceLock::new();
    let f = LIST.get_or_init(|| {
        let text = include_str!("presets/twilio_high_risk_countries.toml");
        // Compiled in and parsed by a unit test, so this cannot fail.
        crate::conf::parse_toml("twilio_high_risk_countries.toml", text).unwrap_or(HighRiskFile {
            source: String::new(),
            countries: Vec::new(),
        })
    });
    (&f.source, &f.countries)
}

/// Twilio's auto-block: a listed country the account never sent to before the run is refused
/// (a configuration set once, so sends during the run do not lift it).
pub struct HighRisk {
    blocked: Vec<bool>,
    listed: Vec<bool>,
}

impl HighRisk {
    /// `None` unless `fraud_guard` or `pumping_protection` sets `auto_block_high_risk`.
    pub fn new(cfg: &SmsDefences, countries: &[String]) -> Option<Self> {
        let on = cfg
            .fraud_guard
            .as_ref()
            .and_then(|f| f.auto_block_high_risk)
            == Some(true)
            || cfg
                .pumping_protection
                .as_ref()
                .and_then(|p| p.auto_block_high_risk)
                == Some(true);
        let list = high_risk_countries().1;
        let listed: Vec<bool> = countries.iter().map(|c| list.contains(c)).collect();
        on.then(|| Self {
            blocked: listed.clone(),
            listed,
        })
    }
}

impl Rule for HighRisk {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.blocked
            .get(a.country)
            .copied()
            .unwrap_or(false)
            .then_some(Blocked::HighRisk)
    }

    fn sent(&mut self, _: &Attempt) {}

    fn seed(&mut self, s: &Seed) {
        for (i, b) in self.blocked.iter_mut().enumerate() {
            *b = self.listed[i] && s.sends(i) == 0;
        }
    }

    fn retry_after(&self, _: Blocked, _: &Attempt) -> Option<u64> {
        None
    }

    fn mode(&self) -> Mode {
        Mode::Block
    }

    fn keys(&self) -> usize {
        0
    }
}

/// Numbers in a known-bad range (prefix of E.164 digits) are refused or alerted.
pub struct KnownBad {
    /// (prefix value, its digit count).
    prefixes: Vec<(u64, u32)>,
    mode: Mode,
}

fn digits(n: u64) -> u32 {
    n.checked_ilog10().map_or(1, |l| l + 1)
}

impl KnownBad {
    /// `None` unless the section lists ranges (checked to be digits by `resolve`).
    pub fn new(cfg: &SmsDefences) -> Option<Self> {
        let list = cfg.known_bad_ranges.as_ref().filter(|l| !l.is_empty())?;
        let prefixes = list
            .iter()
            .filter_map(|p| Some((p.parse::<u64>().ok()?, p.len() as u32)))
            .collect();
        Some(Self {
            prefixes,
            mode: Mode::Block,
        })
    }

    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether `number` starts with a listed prefix.
    pub fn matches(&self, number: u64) -> bool {
        let n = digits(number);
        self.prefixes
            .iter()
            .any(|&(p, d)| d <= n && number / 10u64.pow(n - d) == p)
    }
}

impl Rule for KnownBad {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        self.matches(a.number).then_some(Blocked::KnownBad)
    }

    fn sent(&mut self, _: &Attempt) {}

    fn retry_after(&self, _: Blocked, _: &Attempt) -> Option<u64> {
        None
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        0
    }
}
