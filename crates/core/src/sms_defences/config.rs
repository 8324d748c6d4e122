//! The `[defences.sms]` keys (a scenario's section, or a `--sms-defences` file at top level),
//! one struct per rule family, every field optional so a preset can be merged under what a
//! file writes: a key the file sets wins, a key it omits comes from the preset, a key neither
//! sets takes the rule's documented default (docs/defences.md).

use super::presets;
use crate::conf::{ConfigError, Dur, Iso, NonNeg, Prob};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Keys per counter table unless a file says otherwise (about 32 bytes each).
pub const DEFAULT_MAX_KEYS: u32 = 200_000;

/// What a rule does when it would refuse a send.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse the send (Plivo's "block & alert", Authgear's `deny_if_any_warning`).
    #[default]
    #[serde(alias = "deny_if_any_warning")]
    Block,
    /// Let the send go and count an alert (AWS "monitor", Plivo "alert only", Authgear
    /// `record_only`).
    #[serde(alias = "record_only", alias = "alert")]
    Monitor,
    /// The rule is not built at all (Plivo "ignore").
    #[serde(alias = "ignore")]
    Off,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsDefences {
    /// A compiled-in set of rules (see [`super::PRESET_NAMES`]) the other keys override.
    pub preset: Option<String>,
    /// Mode of every rule that does not set its own (default `block`).
    pub mode: Option<Mode>,
    /// Only these destinations get an SMS; absent means all.
    pub geo_allow: Option<Vec<Iso>>,
    /// Per window (`window`, default 1h); 0 or absent disables a limit.
    pub per_number: Option<u32>,
    pub per_ip: Option<u32>,
    /// Per number range: the number without its last 4 digits.
    pub per_prefix: Option<u32>,
    pub window: Option<Dur>,
    /// Block a destination country whose conversion (verified / sent) falls below a threshold.
    pub conversion: Option<ConversionRule>,
    /// Time from the end of a window to the conversion block taking effect.
    pub detection_lag: Option<Dur>,
    /// Keys each counter table may hold; past it new keys are refused (see the module doc).
    pub max_keys: Option<u32>,
    /// Limits with their own key and window (`[[defences.sms.limit]]`).
    pub limit: Option<Vec<Limit>>,
    /// Twilio Verify Fraud Guard: destination prefixes blocked off the account's baseline.
    pub fraud_guard: Option<FraudGuard>,
    /// Twilio Messaging SMS Pumping Protection: numbers and 1k ranges blocked 15–30 min.
    pub pumping_protection: Option<PumpingProtection>,
    /// Vonage Verify: networks blocked on volume × conversion, blocks escalating.
    pub network_conversion: Option<NetworkConversion>,
    /// Plivo Fraud Shield: hourly caps per destination country.
    pub country_caps: Option<CountryCaps>,
    /// AWS End User Messaging protect configuration: allow / block / monitor per country.
    pub country_rules: Option<CountryRules>,
    /// Authgear's fraud-protection warnings.
    pub authgear: Option<Authgear>,
    /// Auth0: per-account exponential backoff.
    pub backoff: Option<Backoff>,
    /// Cross-customer stand-in: number prefixes (E.164 digits) known to be pumped; off unless set.
    pub known_bad_ranges: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRule {
    pub min_sent: u32,
    pub threshold: Prob,
    pub block_for: Dur,
}

/// What a `[[limit]]` counts by.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum On {
    Number,
    Ip,
    /// The number without its last 4 digits.
    Prefix,
    Country,
    /// The app account asking (attempts without an account are not counted).
    Account,
    Global,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub on: On,
    /// Sends allowed per window; 0 disables the limit.
    pub max: u32,
    pub window: Dur,
    pub mode: Option<Mode>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Basic,
    Standard,
    Max,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudGuard {
    pub level: Option<Level>,
    pub window: Option<Dur>,
    /// Windows of verified traffic the baseline looks back over.
    pub history: Option<Dur>,
    pub min_unverified: Option<u32>,
    pub factor: Option<NonNeg>,
    pub new_country_min: Option<u32>,
    pub prefix_min: Option<u32>,
    pub block_for: Option<Dur>,
    pub mode: Option<Mode>,
    /// Verify's own limit: sends per verification (error 60203); 0 = off.
    pub verify_sends_max: Option<u32>,
    /// How long a verification lives (Verify: 10 minutes).
    pub verify_ttl: Option<Dur>,
    /// Twilio's 2023-06-21 auto-block of never-used high-risk countries (error 30649's list).
    pub auto_block_high_risk: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PumpingProtection {
    pub window: Option<Dur>,
    pub max_unverified_number: Option<u32>,
    pub max_unverified_range: Option<u32>,
    pub block_min: Option<Dur>,
    pub block_max: Option<Dur>,
    pub mode: Option<Mode>,
    /// The app posts Message Feedback: without it the rule sees sends, not conversions.
    pub feedback: Option<bool>,
    pub auto_block_high_risk: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConversion {
    pub window: Option<Dur>,
    pub min_sent: Option<u32>,
    pub min_conversion: Option<Prob>,
    /// Successive block lengths; the last one repeats.
    pub block_for: Option<Vec<Dur>>,
    /// The block after this many becomes permanent; 0 = never.
    pub permanent_after: Option<u32>,
    pub mode: Option<Mode>,
}

/// A country's risk tier for [`CountryCaps`].
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryCaps {
    pub risk: Option<Risk>,
    pub floor: Option<u32>,
    pub multiplier: Option<NonNeg>,
    pub history: Option<Dur>,
    /// Explicit messages-per-hour caps that replace the suggestion.
    pub caps: Option<BTreeMap<Iso, u32>>,
    pub block_for: Option<Dur>,
    /// Time from the rule's first attempt during which it only records traffic (a team sets
    /// caps once the account has history); default 0.
    pub learn: Option<Dur>,
    pub mode: Option<Mode>,
    /// Per destination country risk tiers (Plivo classifies countries); others use `risk`.
    pub tiers: Option<BTreeMap<Iso, Risk>>,
    /// Re-apply the recommendation this often (hours the country was blocked excluded).
    pub reapply: Option<Dur>,
}

/// One country's rule in a [`CountryRules`] protect configuration.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Block,
    Monitor,
    /// AWS Filter: block what the AIT model (here a labelled stand-in) suspects.
    Filter,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryRules {
    /// The rule of countries not listed (default `allow`).
    pub default: Option<Action>,
    pub countries: Option<BTreeMap<Iso, Action>>,
    /// AIT stand-in: unverified sends to one 1k range per `ait_window` it flags.
    pub ait_range_max: Option<u32>,
    pub ait_window: Option<Dur>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authgear {
    pub ip_countries_max: Option<u32>,
    pub country_daily_min: Option<u32>,
    pub country_hourly_min: Option<u32>,
    pub ratio: Option<NonNeg>,
    pub history_days: Option<u32>,
    pub mode: Option<Mode>,
    pub daily_ratio: Option<NonNeg>,
    pub hourly_ratio: Option<NonNeg>,
    pub ip_daily_min: Option<u32>,
    pub ip_hourly_min: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub free: Option<u32>,
    pub base: Option<Dur>,
    pub max: Option<Dur>,
    pub jitter: Option<Prob>,
    pub reset_after: Option<Dur>,
    pub mode: Option<Mode>,
}

/// Merging one layer over another: the receiver's values win.
pub(crate) trait Merge {
    fn merge(self, base: Self) -> Self;
}

fn over<T: Merge>(top: Option<T>, base: Option<T>) -> Option<T> {
    match (top, base) {
        (Some(t), Some(b)) => Some(t.merge(b)),
        (t, b) => t.or(b),
    }
}

macro_rules! whole {
    ($($t:ty),*) => { $(impl Merge for $t { fn merge(self, _: Self) -> Self { self } })* };
}
whole!(
    u32,
    bool,
    Vec<String>,
    String,
    Dur,
    Prob,
    NonNeg,
    Mode,
    Level,
    Risk,
    Action,
    Vec<Iso>,
    Vec<Limit>,
    Vec<Dur>,
    ConversionRule
);

impl<V> Merge for BTreeMap<Iso, V> {
    fn merge(mut self, base: Self) -> Self {
        for (k, v) in base {
            self.entry(k).or_insert(v);
        }
        self
    }
}

macro_rules! fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Merge for $t {
            fn merge(self, b: Self) -> Self {
                Self { $($f: over(self.$f, b.$f)),* }
            }
        }
    };
}
fields!(SmsDefences {
    preset,
    mode,
    geo_allow,
    per_number,
    per_ip,
    per_prefix,
    window,
    conversion,
    detection_lag,
    max_keys,
    limit,
    fraud_guard,
    pumping_protection,
    network_conversion,
    country_caps,
    country_rules,
    authgear,
    backoff,
    known_bad_ranges,
});
fields!(FraudGuard {
    level,
    window,
    history,
    min_unverified,
    factor,
    new_country_min,
    prefix_min,
    block_for,
    mode,
    verify_sends_max,
    verify_ttl,
    auto_block_high_risk
});
fields!(PumpingProtection {
    window,
    max_unverified_number,
    max_unverified_range,
    block_min,
    block_max,
    mode,
    feedback,
    auto_block_high_risk
});
fields!(NetworkConversion {
    window,
    min_sent,
    min_conversion,
    block_for,
    permanent_after,
    mode
});
fields!(CountryCaps {
    risk,
    floor,
    multiplier,
    history,
    caps,
    block_for,
    learn,
    mode,
    tiers,
    reapply
});
fields!(CountryRules {
    default,
    countries,
    ait_range_max,
    ait_window
});
fields!(Authgear {
    ip_countries_max,
    country_daily_min,
    country_hourly_min,
    ratio,
    history_days,
    mode,
    daily_ratio,
    hourly_ratio,
    ip_daily_min,
    ip_hourly_min
});
fields!(Backoff {
    free,
    base,
    max,
    jitter,
    reset_after,
    mode
});

/// A resolution error: the key (dotted, relative to the section) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl SmsDefences {
    /// Reads a defences file: the keys of a scenario's `[defences.sms]` at the top level.
    /// Errors name the file, the line and the key.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let (file, text) = crate::conf::read(path)?;
        Self::parse(&file, &text)
    }

    /// Parses and [resolves](Self::resolve) a defences file's text. Every error the parse
    /// finds is reported at once, in file order, as `file:line: key: message`; the check of
    /// the merged rules follows when the rest parsed, at the line of the key it names.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let c = crate::conf::collect::<SmsDefences>(text);
        let mut problems = c.problems.clone();
        match c.value.as_ref().map(|d| d.clone().resolve()) {
            Some(Ok(d)) if problems.is_empty() => return Ok(d),
            Some(Err(all)) => problems.extend(
                all.into_iter()
                    .filter(|e| !c.touches_removed(&e.key))
                    .map(|e| c.keys.problem(e.key, e.message)),
            ),
            _ => {}
        }
        if problems.is_empty() {
            problems.push(crate::conf::Problem {
                line: None,
                key: String::new(),
                message: "cannot be read as a defences file".into(),
            });
        }
        Err(ConfigError::problems(file, problems))
    }

    /// Merges the named preset under these keys (these win) and checks the result: every
    /// error found, in the order of the checks. Resolving twice gives the same result.
    pub fn resolve(self) -> Result<Self, Vec<Invalid>> {
        let merged = match self.preset.as_deref() {
            None => self,
            Some(name) => {
                let base = presets::load(name).ok_or_else(|| {
                    vec![invalid(
                        "preset",
                        format!(
                            "unknown preset {name:?}; known: {}",
                            presets::PRESET_NAMES.join(", ")
                        ),
                    )]
                })?;
                self.merge(base)
            }
        };
        let errors = merged.check();
        if errors.is_empty() {
            Ok(merged)
        } else {
            Err(errors)
        }
    }

    /// Every error of the merged rules.
    fn check(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        if self.max_keys == Some(0) {
            out.push(invalid("max_keys", "must be at least 1"));
        }
        for (i, l) in self.limit.iter().flatten().enumerate() {
            if l.window.ms() == 0 {
                out.push(invalid(
                    &format!("limit[{}].window", i + 1),
                    "must be positive",
                ));
            }
        }
        let mut positive = |key: &str, d: Option<Dur>| {
            if d.is_some_and(|d| d.ms() == 0) {
                out.push(invalid(key, "must be positive"));
            }
        };
        positive("window", self.window);
        if let Some(f) = &self.fraud_guard {
            positive("fraud_guard.window", f.window);
        }
        if let Some(p) = &self.pumping_protection {
            positive("pumping_protection.window", p.window);
        }
        if let Some(n) = &self.network_conversion {
            positive("network_conversion.window", n.window);
        }
        self.check_pairs(&mut out);
        for (i, r) in self.known_bad_ranges.iter().flatten().enumerate() {
            if r.is_empty() || r.len() > 15 || !r.bytes().all(|b| b.is_ascii_digit()) {
                let key = format!("known_bad_ranges[{}]", i + 1);
                out.push(invalid(&key, "must be 1 to 15 digits (E.164, no +)"));
            }
        }
        out
    }

    /// The checks of keys against each other, and of lists.
    fn check_pairs(&self, out: &mut Vec<Invalid>) {
        if let Some(p) = &self.pumping_protection
            && let (Some(lo), Some(hi)) = (p.block_min, p.block_max)
            && lo > hi
        {
            out.push(invalid(
                "pumping_protection.block_min",
                "must not exceed block_max",
            ));
        }
        if let Some(n) = &self.network_conversion
            && n.block_for.as_ref().is_some_and(Vec::is_empty)
        {
            out.push(invalid(
                "network_conversion.block_for",
                "needs at least one duration",
            ));
        }
        if let Some(b) = &self.backoff
            && let (Some(base), Some(max)) = (b.base, b.max)
            && base > max
        {
            out.push(invalid("backoff.base", "must not exceed backoff.max"));
        }
        if let Some(a) = &self.authgear
            && a.history_days == Some(0)
        {
            out.push(invalid("authgear.history_days", "must be at least 1"));
        }
    }

    /// Keys each counter table may hold.
    pub fn max_keys(&self) -> u32 {
        self.max_keys.unwrap_or(DEFAULT_MAX_KEYS).max(1)
    }

    /// The mode of a rule that says `own` (or nothing).
    pub(crate) fn mode_of(&self, own: Option<Mode>) -> Mode {
        own.or(self.mode).unwrap_or_default()
    }
}
