//! SMS-side defences: what stands between a "send me a code" request and a paid SMS.
//!
//! One implementation for the simulator (`mo2fa run`, per flow) and the server (`/sms/start`
//! with `serve --sms-defences FILE`): both build an [`SmsGuard`] from the same [`SmsDefences`]
//! (the TOML keys of a scenario's `[defences.sms]`), so a team deploys what it simulated.
//! Pure: `now` (ms) is passed in; no clock, no I/O, no OS randomness (the only jitter, in
//! [`backoff`], is a fixed function of its inputs).
//!
//! A guard is a list of rules, one per configured family, each in its own module:
//! - [`legacy`]: the geo allow-list, per number / IP / range limits sharing one `window`,
//!   and the per-country conversion rule (the original keys, unchanged);
//! - [`limits`]: `[[limit]]`, limits each with its own key and window;
//! - [`fraud_guard`] (Twilio Verify), [`pumping`] (Twilio Messaging), [`network`] (Vonage),
//!   [`caps`] (Plivo), [`country_rules`] (AWS), [`authgear`], [`backoff`] (Auth0).
//!
//! Every rule has a [`Mode`]: `block` refuses the send, `monitor` lets it go and counts an
//! alert ([`GuardStats`]), `off` does not build the rule. Rules are asked in a fixed order; the
//! first blocking rule that objects decides, monitor rules are always asked. A send is counted
//! by every rule only if it was allowed.
//!
//! Memory is bounded: each counter table holds at most `max_keys` keys. A new key arriving at a
//! full table is refused ([`Blocked::Full`]) rather than evicting a counted key: eviction would
//! hand an attacker who rotates numbers a way to reset the counts of the ones he is pumping,
//! and a refused send costs nothing. Tables of blocks drop expired entries first.

pub mod authgear;
pub mod backoff;
pub mod caps;
mod config;
pub mod country_rules;
pub mod fraud_guard;
pub mod history;
pub mod legacy;
pub mod limits;
pub mod network;
pub mod pending;
mod presets;
pub mod pumping;
pub mod state;
mod util;

pub use config::{
    Action, Authgear, Backoff, ConversionRule, CountryCaps, CountryRules, DEFAULT_MAX_KEYS,
    FraudGuard, Invalid, Level, Limit, Mode, NetworkConversion, On, PumpingProtection, Risk,
    SmsDefences,
};
pub use history::{History, Seed};
pub use pending::{SentAttempts, account_key};
pub use presets::{PRESET_NAMES, text as preset_text};
use std::collections::BTreeMap;

/// One "send me a code" request as the defences see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    /// Index into the guard's country list.
    pub country: usize,
    /// Carrier index within the country (0 = unknown or single).
    pub network: u32,
    /// The destination number (E.164 digits).
    pub number: u64,
    /// The client's address as a number (an IPv4 address as its `u32`, IPv6 as its `u128`).
    pub ip: u128,
    /// The app account asking (0 = none).
    pub account: u64,
    /// Milliseconds (Unix time on the server, virtual time in the simulator).
    pub now: u64,
}

impl Attempt {
    /// The number range: the number without its last 4 digits.
    pub fn prefix(&self) -> u64 {
        self.number / 10_000
    }
}

/// The rule that refused a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Blocked {
    Geo,
    /// The conversion rule blocked the destination country.
    Country,
    Number,
    Ip,
    Prefix,
    /// A counter table is full (see the module doc).
    Full,
    /// A `[[limit]]` on this key.
    Limit(On),
    FraudGuard,
    Pumping,
    Network,
    CountryCap,
    CountryRule,
    IpCountries,
    CountryDaily,
    CountryHourly,
    Backoff,
    /// Twilio Verify's own limit of sends per verification (error 60203).
    VerifySends,
    /// Twilio's auto-block of a never-used high-risk country (error 30649's list).
    HighRisk,
    /// A number in a `known_bad_ranges` prefix (the cross-customer stand-in).
    KnownBad,
    /// AWS Filter: the AIT stand-in flagged the number's range.
    Ait,
    IpDaily,
    IpHourly,
}

impl Blocked {
    /// The rule's name, as used in API errors, metric labels and reports.
    pub fn name(self) -> &'static str {
        match self {
            Blocked::Geo => "geo_allow",
            Blocked::Country => "conversion",
            Blocked::Number => "per_number",
            Blocked::Ip => "per_ip",
            Blocked::Prefix => "per_prefix",
            Blocked::Full => "max_keys",
            Blocked::Limit(On::Number) => "limit_number",
            Blocked::Limit(On::Ip) => "limit_ip",
            Blocked::Limit(On::Prefix) => "limit_prefix",
            Blocked::Limit(On::Country) => "limit_country",
            Blocked::Limit(On::Account) => "limit_account",
            Blocked::Limit(On::Global) => "limit_global",
            Blocked::FraudGuard => "fraud_guard",
            Blocked::Pumping => "pumping_protection",
            Blocked::Network => "network_conversion",
            Blocked::CountryCap => "country_caps",
            Blocked::CountryRule => "country_rules",
            Blocked::IpCountries => "authgear_ip_countries",
            Blocked::CountryDaily => "authgear_country_daily",
            Blocked::CountryHourly => "authgear_country_hourly",
            Blocked::Backoff => "backoff",
            Blocked::VerifySends => "verify_send_limit",
            Blocked::HighRisk => "high_risk_country",
            Blocked::KnownBad => "known_bad_range",
            Blocked::Ait => "aws_filter",
            Blocked::IpDaily => "authgear_ip_daily",
            Blocked::IpHourly => "authgear_ip_hourly",
        }
    }

    /// A permanent refusal (the destination is not allowed), rather than a rate or a
    /// temporary block.
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            Blocked::Geo | Blocked::CountryRule | Blocked::HighRisk | Blocked::KnownBad
        )
    }
}

/// Every name [`Blocked::name`] gives, for metric labels.
pub const RULE_NAMES: &[&str] = &[
    "geo_allow",
    "conversion",
    "per_number",
    "per_ip",
    "per_prefix",
    "max_keys",
    "limit_number",
    "limit_ip",
    "limit_prefix",
    "limit_country",
    "limit_account",
    "limit_global",
    "fraud_guard",
    "pumping_protection",
    "network_conversion",
    "country_caps",
    "country_rules",
    "authgear_ip_countries",
    "authgear_country_daily",
    "authgear_country_hourly",
    "backoff",
    "verify_send_limit",
    "high_risk_country",
    "known_bad_range",
    "aws_filter",
    "authgear_ip_daily",
    "authgear_ip_hourly",
];

/// A block that took effect, for a report's timeline: from, until (ms) and the country.
pub type Span = (u64, u64, usize);

/// One rule family. `judge` may update time-driven state (windows rolling, blocks taking
/// effect); `sent` counts an allowed send; all of them respect `max_keys`.
pub(crate) trait Rule: Send {
    /// The refusal this rule would give `a`, if any.
    fn judge(&mut self, a: &Attempt, spans: &mut Vec<Span>) -> Option<Blocked>;
    /// `a` was allowed and sent.
    fn sent(&mut self, a: &Attempt);
    /// The code sent for `a` was verified (at `a.now`).
    fn verified(&mut self, _a: &Attempt) {}
    /// Milliseconds until this rule lets `a` through again, if `b` is this rule's refusal.
    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64>;
    fn mode(&self) -> Mode;
    /// Keys held in all this rule's tables (for the bounded-memory tests).
    fn keys(&self) -> usize;
    /// Starts from the account's history (called before the first attempt).
    fn seed(&mut self, _s: &Seed) {}
    /// Adds this rule's fees and credits to a report.
    fn figures(&self, _out: &mut GuardStats) {}
    /// A replayed history begins ([`SmsGuard::begin_replay`]).
    fn replaying(&mut self) {}
    /// A replayed history ended ([`SmsGuard::end_replay`]): the run starts now.
    fn replayed(&mut self) {}
}

/// What the rules did: refusals and alerts (monitor-mode would-blocks), per rule name; and,
/// in [`SmsGuard::report`], the figures a cost model charges or credits (docs/defences.md,
/// "Fees and credits").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuardStats {
    pub blocked: BTreeMap<&'static str, u64>,
    pub alerts: BTreeMap<&'static str, u64>,
    /// Billable events of a vendor's paid feature, per fee name (a count of messages).
    pub fees: BTreeMap<&'static str, u64>,
    /// SMS a vendor credits back, per credit name (a count of messages).
    pub credits: BTreeMap<&'static str, u64>,
}

pub struct SmsGuard {
    /// The original keys' rule, asked first (it answers `window_left` and `blocked_for`).
    legacy: legacy::Legacy,
    /// The other rule families, in the order they are asked.
    rules: Vec<Box<dyn Rule>>,
    /// Blocks that took effect: (from, until, country), for the report's timeline.
    pub blocks: Vec<Span>,
    /// Refusals and alerts (live); [`Self::report`] adds fees and credits.
    pub stats: GuardStats,
    countries: Vec<String>,
    /// Added to every time the rules see, so a history fits before a caller's time 0
    /// (whole days, see [`Self::seed_history`]).
    offset: u64,
    /// Until this time (shifted like every time), rules that learn from history only alert
    /// ([`state::learns`]; the warm-up of module [`state`]).
    learning_monitor_until: u64,
    /// Fees and credits counted while replaying history ([`Self::begin_replay`]), left out
    /// of [`Self::report`].
    replayed: GuardStats,
    /// Between [`Self::begin_replay`] and [`Self::end_replay`]: rules that learn from
    /// history only alert, so they learn the replayed traffic as the account sent it.
    replaying: bool,
}

impl SmsGuard {
    /// `countries` are the ISO codes in the caller's country order. A configuration with a
    /// preset is resolved here if the caller did not (an unknown preset then adds nothing:
    /// callers resolve first, to report it).
    pub fn new(cfg: &SmsDefences, countries: &[String]) -> Self {
        let cfg = cfg.clone().resolve().unwrap_or_else(|_| cfg.clone());
        let max_keys = cfg.max_keys() as usize;
        let n = countries.len();
        let mut rules: Vec<Box<dyn Rule>> = Vec::new();
        let mut add = |mode: Mode, r: Box<dyn Rule>| {
            if mode != Mode::Off {
                rules.push(r);
            }
        };
        if let Some(r) = country_rules::KnownBad::new(&cfg) {
            let mode = cfg.mode_of(None);
            add(mode, Box::new(r.with_mode(mode)));
        }
        if let Some(r) = country_rules::HighRisk::new(&cfg, countries) {
            add(Mode::Block, Box::new(r));
        }
        if let Some(c) = &cfg.country_rules {
            let r = country_rules::CountryRuleSet::new(c, countries, Action::Block);
            add(Mode::Block, Box::new(r));
            for (which, mode) in [
                (Action::Filter, Mode::Block),
                (Action::Monitor, Mode::Monitor),
            ] {
                if let Some(r) = country_rules::Ait::new(c, countries, which, max_keys) {
                    add(mode, Box::new(r));
                }
            }
        }
        if let Some(b) = &cfg.backoff {
            let mode = cfg.mode_of(b.mode);
            add(mode, Box::new(backoff::Backoff::new(b, mode, max_keys)));
        }
        for l in cfg.limit.iter().flatten().filter(|l| l.max > 0) {
            let mode = cfg.mode_of(l.mode);
            add(mode, Box::new(limits::KeyLimit::new(l, mode, max_keys)));
        }
        if let Some(v) = &cfg.network_conversion {
            let mode = cfg.mode_of(v.mode);
            add(mode, Box::new(network::Networks::new(v, mode, max_keys)));
        }
        if let Some(p) = &cfg.pumping_protection {
            let mode = cfg.mode_of(p.mode);
            let r = pumping::Pumping::new(p, mode, max_keys);
            add(mode, Box::new(r.with_countries(countries)));
        }
        if let Some(f) = &cfg.fraud_guard {
            let mode = cfg.mode_of(f.mode);
            if let Some(r) = fraud_guard::VerifySendLimit::new(f, mode, max_keys) {
                add(mode, Box::new(r));
            }
            add(
                mode,
                Box::new(fraud_guard::PrefixGuard::new(f, mode, n, max_keys)),
            );
        }
        if let Some(c) = &cfg.country_caps {
            let mode = cfg.mode_of(c.mode);
            add(
                mode,
                Box::new(caps::CountryCapRule::new(c, mode, countries)),
            );
        }
        if let Some(g) = &cfg.authgear {
            let mode = cfg.mode_of(g.mode);
            add(
                mode,
                Box::new(authgear::Warnings::new(g, mode, n, max_keys)),
            );
        }
        Self {
            rules,
            legacy: legacy::Legacy::new(&cfg, countries),
            blocks: Vec::new(),
            stats: GuardStats::default(),
            countries: countries.to_vec(),
            offset: 0,
            learning_monitor_until: 0,
            replayed: GuardStats::default(),
            replaying: false,
        }
    }

    /// Rules that learn from history only alert until `until` (module [`state`]'s warm-up).
    pub fn monitor_learning_until(&mut self, until: u64) {
        self.learning_monitor_until = until.saturating_add(self.offset);
    }

    /// Starts every rule that learns from history from `h`: `h.days` days ending at `now`
    /// (the run's start). Call once, before the first [`Self::check`] (module [`history`]).
    ///
    /// Times before 0 do not exist: when `now` is earlier than the history's length (the
    /// simulator's clock starts at 0), the guard shifts every time it is given by whole days
    /// so the history fits; callers see no difference (block spans are given back in their
    /// time).
    pub fn seed_history(&mut self, h: &History, now: u64) {
        let span = u64::from(h.days.unwrap_or(history::DAYS).min(400)) * 86_400_000;
        if now < span {
            self.offset = (span - now).div_ceil(86_400_000) * 86_400_000;
        }
        let seed = Seed::new(h, &self.countries, now + self.offset);
        for r in &mut self.rules {
            r.seed(&seed);
        }
    }

    /// [`Self::seed_history`] for a history that ends `before_ms` before the caller's time 0,
    /// where a replay ([`Self::begin_replay`] with `before_ms`) then takes over.
    pub fn seed_history_before(&mut self, h: &History, before_ms: u64) {
        let days = u64::from(h.days.unwrap_or(history::DAYS).min(400));
        self.begin_replay(days * 86_400_000 + before_ms);
        let seed = Seed::new(h, &self.countries, self.offset - before_ms);
        for r in &mut self.rules {
            r.seed(&seed);
        }
    }

    /// Makes room for `span_ms` of replayed traffic before the caller's time 0: the
    /// alternative to [`Self::seed_history`] where the caller replays real or simulated
    /// traffic through [`Self::check_before`] and [`Self::verified_before`], oldest first, then
    /// calls [`Self::end_replay`]. Call once, before the first [`Self::check`].
    ///
    /// The replay is the account's history as it was sent, as an explicit [`History`] gives
    /// it: until [`Self::end_replay`], rules that learn from history ([`state::learns`]) only
    /// alert, and Plivo's caps are not yet applied (the customer applies the recommendation
    /// when the run starts). Otherwise a rule that starts at its floor could refuse the
    /// replayed traffic it is meant to learn from and never learn it (Authgear's buckets,
    /// which refused requests keep full, stay at their floors for the whole replay).
    pub fn begin_replay(&mut self, span_ms: u64) {
        self.offset = self.offset.max(span_ms.div_ceil(86_400_000) * 86_400_000);
        if !self.replaying {
            self.replaying = true;
            for r in &mut self.rules {
                r.replaying();
            }
        }
    }

    /// [`Self::check`] for a send `before_ms` before the caller's time 0 (`a.now` is not
    /// read). Blocks it starts are kept only if they last past time 0.
    pub fn check_before(&mut self, a: &Attempt, before_ms: u64) -> Result<(), Blocked> {
        let a = &self.before(a, before_ms);
        self.decide(a)
    }

    /// [`Self::verified`] for a verification `before_ms` before the caller's time 0.
    pub fn verified_before(&mut self, a: &Attempt, before_ms: u64) {
        let a = &self.before(a, before_ms);
        self.legacy.verified(a);
        for r in &mut self.rules {
            r.verified(a);
        }
    }

    fn before(&self, a: &Attempt, before_ms: u64) -> Attempt {
        Attempt {
            now: self.offset.saturating_sub(before_ms),
            ..*a
        }
    }

    /// Ends a replay: what the rules learnt stays; refusals, alerts, fees and credits of the
    /// replay are forgotten (they were not the run's), and a block still in effect at time 0
    /// is kept on the timeline from time 0.
    pub fn end_replay(&mut self) {
        let offset = self.offset;
        self.blocks.retain(|s| s.1 > offset);
        for s in &mut self.blocks {
            *s = (0, s.1 - offset, s.2);
        }
        self.stats = GuardStats::default();
        self.replaying = false;
        for r in &mut self.rules {
            r.replayed();
        }
        self.replayed = self.report();
    }

    /// [`Self::stats`] with the rules' fees and credits (docs/defences.md, "Fees and credits"),
    /// those of a replayed history left out.
    pub fn report(&self) -> GuardStats {
        let mut out = self.stats.clone();
        for r in &self.rules {
            r.figures(&mut out);
        }
        for (figures, replayed) in [
            (&mut out.fees, &self.replayed.fees),
            (&mut out.credits, &self.replayed.credits),
        ] {
            for (k, n) in replayed {
                if let Some(v) = figures.get_mut(k) {
                    *v = v.saturating_sub(*n);
                }
            }
            figures.retain(|_, v| *v > 0);
        }
        out
    }

    /// Decides one send; counts it (in every rule) if allowed.
    pub fn check(&mut self, a: &Attempt) -> Result<(), Blocked> {
        let spans = self.blocks.len();
        let a = &self.shift(a);
        let verdict = self.decide(a);
        if self.offset > 0 {
            for s in &mut self.blocks[spans..] {
                s.0 = s.0.saturating_sub(self.offset);
                s.1 = s.1.saturating_sub(self.offset);
            }
        }
        verdict
    }

    fn shift(&self, a: &Attempt) -> Attempt {
        Attempt {
            now: a.now.saturating_add(self.offset),
            ..*a
        }
    }

    fn decide(&mut self, a: &Attempt) -> Result<(), Blocked> {
        let mut verdict = self.legacy.judge(a, &mut self.blocks);
        if let (Some(b), Mode::Monitor) = (verdict, self.legacy.mode()) {
            *self.stats.alerts.entry(b.name()).or_default() += 1;
            verdict = None;
        }
        for r in &mut self.rules {
            let mode = r.mode();
            if verdict.is_some() && mode == Mode::Block {
                continue;
            }
            if let Some(b) = r.judge(a, &mut self.blocks) {
                let warming =
                    (self.replaying || a.now < self.learning_monitor_until) && state::learns(b);
                match mode {
                    Mode::Block if warming => *self.stats.alerts.entry(b.name()).or_default() += 1,
                    Mode::Block => verdict = Some(b),
                    Mode::Monitor => *self.stats.alerts.entry(b.name()).or_default() += 1,
                    Mode::Off => {}
                }
            }
        }
        if let Some(b) = verdict {
            *self.stats.blocked.entry(b.name()).or_default() += 1;
            return Err(b);
        }
        self.legacy.sent(a);
        for r in &mut self.rules {
            r.sent(a);
        }
        Ok(())
    }

    /// The code sent for this attempt was verified (`a.now` is the verification time).
    pub fn verified(&mut self, a: &Attempt) {
        let a = &self.shift(a);
        self.legacy.verified(a);
        for r in &mut self.rules {
            r.verified(a);
        }
    }

    /// Milliseconds until `a` would no longer be refused by `b` (the server's Retry-After);
    /// 0 when the rule cannot say.
    pub fn retry_after(&self, b: Blocked, a: &Attempt) -> u64 {
        let a = &self.shift(a);
        self.legacy
            .retry_after(b, a)
            .or_else(|| self.rules.iter().find_map(|r| r.retry_after(b, a)))
            .unwrap_or(0)
    }

    /// Milliseconds until the legacy window ends (when per-window counts reset).
    pub fn window_left(&self, now: u64) -> u64 {
        self.legacy.window_left(now.saturating_add(self.offset))
    }

    /// Milliseconds until `country`'s conversion block ends (0 if it is not blocked).
    pub fn blocked_for(&self, country: usize, now: u64) -> u64 {
        self.legacy
            .blocked_for(country, now.saturating_add(self.offset))
    }

    /// Keys held in all counter tables (bounded by the rules' `max_keys`).
    pub fn keys(&self) -> usize {
        self.legacy.keys() + self.rules.iter().map(|r| r.keys()).sum::<usize>()
    }

    /// Number of rules built besides the legacy ones.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vendor_tests;
