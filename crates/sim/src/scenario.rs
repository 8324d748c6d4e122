//! Scenario files: what to simulate. Documented key by key in scenarios/README.md; the checks
//! that need several keys are in `check`, the tests in `tests`.
//!
//! Every value is checked while it is parsed (the newtypes below), so a bad value is reported
//! like an unknown key: with the file, the line and the key. Checks that need several keys
//! come after parsing and name the keys.

use mo2fa_core::webhook::PayloadShape;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use mo2fa_core::conf::{
    ConfigError as ScenarioError, Dur, Iso, NonNeg, Prob, Problem, parse_duration,
};
pub use mo2fa_core::sms_defences::{ConversionRule, SmsDefences};

mod attacker;
mod check;
mod de;
mod history;
mod incident;
pub mod keys;
pub mod population;
pub use attacker::*;
pub use history::History;
pub use incident::{Figure, Incident};

pub use crate::flow::Flow;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The user texts the code to a long number instead: inbound, costs no SMS.
    InboundSms,
    /// The app texts a code to the user: an outbound SMS, pumpable.
    OutboundSms,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Country {
    pub weight: NonNeg,
    /// Share of users who can send iMessage (default: StatCounter's iOS share, an upper
    /// bound, times `imessage_activation`; scenario/population.rs).
    #[serde(default = "population::unset")]
    pub imessage: Prob,
    pub fallback: Fallback,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Legit {
    /// Mean verification attempts per second at the start.
    pub rate_per_s: NonNeg,
    /// Day/night swing: the rate is multiplied by 1 + a·sin(...), peaking at noon.
    #[serde(default)]
    pub diurnal_amplitude: Prob,
    /// Linear growth of the rate per day (0.01 = +1 % a day).
    #[serde(default)]
    pub growth_per_day: NonNeg,
    /// Probability that a user sends (or types) the code at all.
    pub p_send: Prob,
    /// Median delay before the user sends, and the log-normal spread.
    pub send_delay_median: Dur,
    #[serde(default = "default_sigma")]
    pub send_delay_sigma: NonNeg,
    /// Probability that the first message has a typo (the user then sends it again).
    #[serde(default)]
    pub typo_rate: Prob,
    /// Probability that the user sends the code twice.
    #[serde(default)]
    pub double_send: Prob,
    pub countries: BTreeMap<Iso, Country>,
    /// Scales the default iMessage shares (StatCounter's iOS share, an upper bound) to an
    /// assumed activation rate; countries with their own `imessage` keep it.
    #[serde(default)]
    pub imessage_activation: Option<Prob>,
    /// Fallback the reverse flow offers numbers from countries not listed above (those only
    /// attackers use). As in the cost model, inbound SMS unless said otherwise.
    #[serde(default = "inbound")]
    pub other_fallback: Fallback,
}

fn inbound() -> Fallback {
    Fallback::InboundSms
}

fn default_sigma() -> NonNeg {
    NonNeg(0.5)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emitter {
    pub latency_median: Dur,
    #[serde(default = "default_sigma")]
    pub latency_sigma: NonNeg,
    /// Probability that the provider delivers a message twice (same message_id).
    #[serde(default)]
    pub duplicate_rate: Prob,
    /// Probability that a message is never delivered.
    #[serde(default)]
    pub drop_rate: Prob,
    /// Sign every delivery and check it through the real signature code (~1 µs each).
    #[serde(default = "yes")]
    pub sign: bool,
    /// The body shape deliveries are written in: `v2` (Blooio's documented event, the
    /// default), `legacy` (`sender` instead of `external_id`) or `v4` (the V4 envelope).
    #[serde(default)]
    pub shape: PayloadShape,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierSettings {
    #[serde(default = "six")]
    pub code_len: u8,
    #[serde(default = "five_minutes")]
    pub ttl: Dur,
    #[serde(default = "one")]
    pub max_candidates: usize,
    #[serde(default = "million")]
    pub max_pending: usize,
    /// Accept inbound SMS for verification (the inbound-SMS fallback needs it).
    #[serde(default = "yes")]
    pub accept_sms: bool,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        Self {
            code_len: 6,
            ttl: five_minutes(),
            max_candidates: 1,
            max_pending: 1_000_000,
            accept_sms: true,
        }
    }
}

fn six() -> u8 {
    6
}
fn one() -> usize {
    1
}
fn million() -> usize {
    1_000_000
}
fn five_minutes() -> Dur {
    Dur(300_000)
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReverseDefences {
    /// Bind each legit challenge to the user's own number.
    #[serde(default)]
    pub expected_sender: bool,
    /// Messages one sender may send per hour; 0 disables.
    #[serde(default)]
    pub per_sender_per_hour: u32,
    /// Challenges one client may have pending; 0 disables.
    #[serde(default)]
    pub max_pending_per_client: u32,
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Defences {
    #[serde(default)]
    pub sms: SmsDefences,
    #[serde(default)]
    pub reverse: ReverseDefences,
    /// A CAPTCHA (bot check) in front of every SMS send, in both flows.
    pub captcha: Option<Captcha>,
}

/// `[defences.captcha]`: a bot check before each send. Each request passes with the
/// probability of who sends it; the defender pays `usd_per_check` for every check.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Captcha {
    /// Pass rate of attackers with `solver = "bot"` (scripts, ML solvers).
    pub pass_bot: Prob,
    /// Pass rate of attackers with `solver = "human_farm"` (people solving by hand).
    pub pass_human_farm: Prob,
    /// Pass rate of legit users; those who fail get no code.
    pub pass_legit: Prob,
    /// What one check costs the defender, USD.
    #[serde(default)]
    pub usd_per_check: NonNeg,
}

/// `[[carrier]]`: a mobile operator of a country, with its share of the country's numbers and,
/// where known, its own price.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carrier {
    pub country: Iso,
    pub name: String,
    /// Share of the country's numbers (and so of its legit users) on this carrier.
    pub share: Prob,
    /// Price per segment, USD; absent: `scenarios/data/carrier_prices.csv` when it lists the
    /// carrier, else the country's list price.
    pub price_usd: Option<NonNeg>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    #[serde(default = "five_minutes")]
    pub ttl: Dur,
    #[serde(default = "five")]
    pub max_attempts: u8,
    #[serde(default = "one_u32")]
    pub segments: u32,
    /// Time from sending an SMS to the user reading it; with `delivery_sigma`, its median.
    #[serde(default = "ten_seconds")]
    pub delivery: Dur,
    /// Spread of a log-normal delivery time (0, the default: always `delivery`).
    #[serde(default)]
    pub delivery_sigma: NonNeg,
    /// Share of SMS lost and never delivered (default 0).
    #[serde(default)]
    pub loss: Prob,
    /// A user whose code has not arrived after this long asks for a new one, once (absent:
    /// never).
    pub resend_after: Option<Dur>,
    /// Per-country median delivery time, overriding `delivery`.
    #[serde(default)]
    pub delivery_by_country: BTreeMap<Iso, Dur>,
    /// Per-country loss, overriding `loss`.
    #[serde(default)]
    pub loss_by_country: BTreeMap<Iso, Prob>,
    /// Price snapshot date (YYYY-MM-DD); absent means the newest.
    pub price_date: Option<String>,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            ttl: five_minutes(),
            max_attempts: 5,
            segments: 1,
            delivery: ten_seconds(),
            delivery_sigma: NonNeg(0.0),
            loss: Prob(0.0),
            resend_after: None,
            delivery_by_country: BTreeMap::new(),
            loss_by_country: BTreeMap::new(),
            price_date: None,
        }
    }
}

fn five() -> u8 {
    5
}
fn one_u32() -> u32 {
    1
}
fn ten_seconds() -> Dur {
    Dur(10_000)
}

/// A scenario, in parts by concern. The file keeps its flat shape (`seed`, `[legit]`,
/// `[billing]`, ... all at the top); `de` hands each top-level key to its part.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What to run: seed, duration, report interval, flows, the live servers' store.
    pub run: RunSettings,
    pub legit: Legit,
    pub emitter: Emitter,
    pub verifier: VerifierSettings,
    pub sms: SmsSettings,
    pub defences: Defences,
    /// The `[[attacker]]` tables as written; [`Scenario::parse`] checks them and moves them
    /// into `attackers`, so this is empty after parsing.
    raw_attackers: Vec<RawAttacker>,
    /// The attackers, checked, every default resolved.
    pub attackers: Vec<Attacker>,
    /// Mobile operators per country (`[[carrier]]`); a country without any has one.
    pub carriers: Vec<Carrier>,
    /// What the provider's account costs and holds: `[billing]`, `[report]`, `[history]`.
    pub money: Money,
    /// What the run is judged against afterwards: `[incident]`, `[expect]`.
    pub criteria: Criteria,
}

/// The top-level keys that say what to run.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub description: String,
    pub seed: u64,
    pub duration: Dur,
    /// Report resolution (one timeline row per interval).
    pub interval: Dur,
    pub flows: Vec<Flow>,
    /// Where the live servers of `run --live` keep challenges; the virtual run always uses the
    /// memory store (its answers do not depend on where state lives).
    pub store: Option<StoreSettings>,
}

/// The provider account: how it bills, what it held before the run, and the reports'
/// second currency.
#[derive(Clone, Debug, Default)]
pub struct Money {
    /// How the provider bills (`[billing]`, `[billing.balance]`; crate::billing).
    pub billing: Option<crate::billing::Billing>,
    /// A second currency for the reports (`[report]`; crate::billing).
    pub report: Option<crate::billing::ReportSettings>,
    /// The provider account before the run (`[history]`; scenario/history.rs).
    pub history: Option<History>,
}

/// What a run is checked against once it is over.
#[derive(Clone, Debug, Default)]
pub struct Criteria {
    /// What a replay of a documented incident must reproduce (`scenarios/incidents/`).
    pub incident: Option<Incident>,
    /// `[expect]`: name = "expression" lines, opaque here (the simulator ignores them);
    /// `mo2fa` checks them after the run (crates/decide, docs/expect.md).
    pub expect: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `memory` or a `redis://` URL.
    #[serde(deserialize_with = "store_url")]
    pub url: String,
}

fn store_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    if url == "memory" || mo2fa_core::store::is_redis_url(&url) {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(format!(
            "{url:?} is neither \"memory\" nor a Redis URL ({})",
            mo2fa_core::store::REDIS_URL_SCHEMES.join(", ")
        )))
    }
}

/// The commented template `mo2fa new scenario` writes: every section and key, optional keys
/// at their defaults, the attacker kinds not enabled as commented examples.
pub const TEMPLATE: &str = include_str!("template.toml");

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let (file, text) = mo2fa_core::conf::read(path)?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a scenario. Every error is reported at once, in file order, each as
    /// `file:line: key: message`: the typed parse collects every key that fails
    /// ([`mo2fa_core::conf::collect`]), and the checks that need several keys run on the rest
    /// and are given the line of the key they name.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        check::parse(file, text)
    }
}

/// Numbers in an attacker's range unless `range_size` says otherwise.
pub const DEFAULT_RANGE_SIZE: u32 = 10_000;
/// Premium numbers in a country without carriers, and in one carrier's block.
pub const COUNTRY_PREMIUM_CAPACITY: u64 = 5_000_000_000;
pub const CARRIER_PREMIUM_CAPACITY: u64 = 500_000_000;
/// Carriers a country may list (each gets a block of 10^9 numbers; the rest of the shares
/// goes to one more, [`OTHER_CARRIER`]).
pub const MAX_CARRIERS_PER_COUNTRY: usize = 8;
/// The carrier that holds a country's numbers outside its listed carriers (all of them when
/// it lists none).
pub const OTHER_CARRIER: &str = "(other)";
/// Shares summing to within this of 1 leave nothing to [`OTHER_CARRIER`].
pub const SHARE_EPS: f64 = 1e-9;

/// Distance between the starts of an attacker's ranges: the range rounded up to whole
/// prefixes (10,000 numbers) plus one empty prefix, so no two ranges share a prefix.
pub fn range_stride(range_size: u32) -> u64 {
    u64::from(range_size.max(1)).div_ceil(10_000) * 10_000 + 10_000
}

impl Scenario {
    /// Billed segments per message the app sent (`[billing]`).
    pub fn billed_per_message(&self) -> f64 {
        crate::billing::billed_per_message(self.money.billing.as_ref(), self.sms.segments)
    }

    /// Segments the provider bills for `messages` messages (`[billing]`): the app's count
    /// when no billing is set, else rounded to whole segments.
    pub fn billed_segments(&self, messages: u64) -> u64 {
        crate::billing::billed_segments(self.money.billing.as_ref(), self.sms.segments, messages)
    }
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Sustained => "sustained",
            Shape::Burst => "burst",
            Shape::LowAndSlow => "low_and_slow",
            Shape::Ramp => "ramp",
            Shape::Diurnal => "diurnal",
        }
    }
}

#[cfg(test)]
mod billing_tests;
#[cfg(test)]
pub(crate) mod tests;
