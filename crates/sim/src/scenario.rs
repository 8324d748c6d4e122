//! Scenario files: what to simulate. Documented key by key in scenarios/README.md.
//!
//! Every value is checked while it is parsed (the newtypes below), so a bad value is reported
//! like an unknown key: with the file, the line and the key. Checks that need several keys
//! come after parsing and name the keys.

use mo2fa_core::webhook::PayloadShape;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use mo2fa_core::conf::{ConfigError as ScenarioError, Dur, Iso, NonNeg, Prob, parse_duration};
pub use mo2fa_core::sms_defences::{ConversionRule, SmsDefences};

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Reverse iMessage verification (with each country's fallback).
    Reverse,
    /// Traditional outbound SMS one-time codes.
    Sms,
}

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
    /// Share of users who can send iMessage.
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

/// Who solves an attacker's CAPTCHAs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    Bot,
    HumanFarm,
}

/// What an adaptive attacker does after `after_blocks` refusals in a row.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AdaptAction {
    /// Leave the number range of the last refusal for its other ranges.
    NextRange,
    /// Leave the carrier of the last refusal for its other carriers in that country.
    NextCarrier,
    /// Leave the target country of the last refusal for its other targets.
    NextCountry,
    /// Stop for `back_off`, then carry on as before.
    BackOff,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adapt {
    pub after_blocks: u32,
    pub action: AdaptAction,
    pub back_off: Option<Dur>,
}

/// One point of a `ramp` shape: the rate `at` this long after the attacker's start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampPoint {
    pub at: Dur,
    pub per_s: NonNeg,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    SmsPumping,
    StartFlood,
    CodeGuessing,
    WebhookForgery,
    Replay,
    ReverseOtpPhishing,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Sustained,
    /// On/off: `burst_on` at the rate, then `burst_off` silent.
    Burst,
    /// Low rate, spread thin: numbers drawn at random across the targets.
    LowAndSlow,
    /// Piecewise linear between the `ramp` points (times from the attacker's start).
    Ramp,
    /// `rate_per_s` × (1 + `amplitude`·cos(2π(hour − `peak_hour`)/24)).
    Diurnal,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Numbering {
    Sequential,
    Random,
}

/// One attacker. Keys that do not apply to its kind are refused after parsing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attacker {
    pub kind: AttackKind,
    #[serde(default)]
    pub name: Option<String>,
    pub start: Dur,
    pub end: Dur,
    pub shape: Shape,
    /// Required by every shape but `ramp`.
    pub rate_per_s: Option<NonNeg>,
    pub burst_on: Option<Dur>,
    pub burst_off: Option<Dur>,
    // shape = "ramp"
    pub ramp: Option<Vec<RampPoint>>,
    // shape = "diurnal"
    pub amplitude: Option<Prob>,
    pub peak_hour: Option<f64>,
    // sms_pumping
    pub targets: Option<BTreeMap<Iso, NonNeg>>,
    pub numbers: Option<Numbering>,
    pub range_size: Option<u32>,
    pub ip_pool: Option<u32>,
    pub rotate_every: Option<u32>,
    pub captcha_usd: Option<NonNeg>,
    pub revenue_share: Option<Prob>,
    pub camouflage: Option<Prob>,
    pub sms_per_account: Option<u32>,
    pub accounts: Option<u32>,
    pub sms_per_number: Option<u32>,
    pub ranges: Option<u32>,
    pub carriers: Option<Vec<String>>,
    pub submit_codes: Option<Prob>,
    pub adapt: Option<Adapt>,
    pub solver: Option<Solver>,
    // code_guessing
    pub sender_accounts: Option<u32>,
    pub candidates_per_message: Option<u32>,
    // start_flood
    pub clients: Option<u32>,
    // replay
    pub capture_age: Option<Dur>,
    // reverse_otp_phishing
    pub success: Option<Prob>,
}

impl Attacker {
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}#{}", self.kind.name(), index + 1))
    }
}

impl Attacker {
    /// The attempt rate of every shape but `ramp` (which validation guarantees is set).
    pub fn rate(&self) -> f64 {
        self.rate_per_s.map_or(0.0, |r| r.0)
    }
}

impl AttackKind {
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::SmsPumping => "sms_pumping",
            AttackKind::StartFlood => "start_flood",
            AttackKind::CodeGuessing => "code_guessing",
            AttackKind::WebhookForgery => "webhook_forgery",
            AttackKind::Replay => "replay",
            AttackKind::ReverseOtpPhishing => "reverse_otp_phishing",
        }
    }
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
    /// Time from sending an SMS to the user reading it.
    #[serde(default = "ten_seconds")]
    pub delivery: Dur,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub description: String,
    pub seed: u64,
    pub duration: Dur,
    /// Report resolution (one timeline row per interval).
    pub interval: Dur,
    pub flows: Vec<Flow>,
    pub legit: Legit,
    pub emitter: Emitter,
    #[serde(default)]
    pub verifier: VerifierSettings,
    #[serde(default)]
    pub sms: SmsSettings,
    #[serde(default)]
    pub defences: Defences,
    #[serde(default, rename = "attacker")]
    pub attackers: Vec<Attacker>,
    /// Mobile operators per country (`[[carrier]]`); a country without any has one.
    #[serde(default, rename = "carrier")]
    pub carriers: Vec<Carrier>,
    /// Where the live servers of `run --live` keep challenges; the virtual run always uses the
    /// memory store (its answers do not depend on where state lives).
    pub store: Option<StoreSettings>,
    /// How the provider bills (`[billing]`, `[billing.balance]`; crate::billing).
    pub billing: Option<crate::billing::Billing>,
    /// A second currency for the reports (`[report]`; crate::billing).
    pub report: Option<crate::billing::ReportSettings>,
    /// What a replay of a documented incident must reproduce (`scenarios/incidents/`).
    pub incident: Option<Incident>,
}

/// The documented figures of an incident a scenario replays: `mo2fa incidents` and the
/// incident test hold the run to them (within [`Incident::TOLERANCE`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// The primary source (a URL).
    pub source: String,
    /// The flow the victim ran; the documented figures are about it.
    #[serde(default = "sms_flow")]
    pub flow: Flow,
    /// Pumped SMS the victim was billed for, if the source gives a count.
    pub sms: Option<u64>,
    /// Pumped SMS the defences refused, if the source gives a count.
    pub blocked: Option<u64>,
    /// The bill for the pumped SMS in USD, if the source gives one (convert a bill in another
    /// currency at a dated, cited rate and say so in the file).
    pub bill_usd: Option<NonNeg>,
}

impl Incident {
    /// How far a replay may be from a documented figure.
    pub const TOLERANCE: f64 = 0.10;
}

fn sms_flow() -> Flow {
    Flow::Sms
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
    if url == "memory" || url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(format!(
            "{url:?} is neither \"memory\" nor a redis:// URL"
        )))
    }
}

/// Keys a scenario must have, as `parent.key` paths (`attacker[2].end`), all at once: serde
/// stops at the first. Sections that are absent are reported once, not key by key.
fn missing_keys(t: &toml::Table) -> Vec<String> {
    fn need(t: &toml::Table, at: &str, keys: &[&str], out: &mut Vec<String>) {
        for k in keys {
            if !t.contains_key(*k) {
                out.push(if at.is_empty() {
                    (*k).to_string()
                } else {
                    format!("{at}.{k}")
                });
            }
        }
    }
    let mut out = Vec::new();
    need(
        t,
        "",
        &["seed", "duration", "interval", "flows", "legit", "emitter"],
        &mut out,
    );
    if let Some(legit) = t.get("legit").and_then(|v| v.as_table()) {
        need(
            legit,
            "legit",
            &["rate_per_s", "p_send", "send_delay_median", "countries"],
            &mut out,
        );
        for (iso, c) in legit
            .get("countries")
            .and_then(|v| v.as_table())
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_table() {
                need(
                    c,
                    &format!("legit.countries.{iso}"),
                    &["weight", "imessage", "fallback"],
                    &mut out,
                );
            }
        }
    }
    if let Some(emitter) = t.get("emitter").and_then(|v| v.as_table()) {
        need(emitter, "emitter", &["latency_median"], &mut out);
    }
    let attackers = t.get("attacker").and_then(|v| v.as_array());
    for (i, a) in attackers.into_iter().flatten().enumerate() {
        if let Some(a) = a.as_table() {
            // A ramp gives its rates in `ramp`; every other shape needs rate_per_s.
            let ramp = a.get("shape").and_then(|v| v.as_str()) == Some("ramp");
            let keys: &[&str] = if ramp {
                &["kind", "start", "end", "shape", "ramp"]
            } else {
                &["kind", "start", "end", "shape", "rate_per_s"]
            };
            need(a, &format!("attacker[{}]", i + 1), keys, &mut out);
        }
    }
    let conversion = t
        .get("defences")
        .and_then(|d| d.get("sms"))
        .and_then(|d| d.get("conversion"))
        .and_then(|v| v.as_table());
    if let Some(c) = conversion {
        need(
            c,
            "defences.sms.conversion",
            &["min_sent", "threshold", "block_for"],
            &mut out,
        );
    }
    if let Some(store) = t.get("store").and_then(|v| v.as_table()) {
        need(store, "store", &["url"], &mut out);
    }
    out
}

/// Codes people write for a country that ISO 3166-1 spells otherwise.
const LOOK_ALIKE_CODES: &[(&str, &str)] = &[
    ("UK", "GB"), // the United Kingdom
    ("EL", "GR"), // Greece, as the EU writes it
    ("KV", "XK"), // Kosovo (XK is user-assigned; not in the price table either)
    ("BU", "MM"), // Burma, withdrawn code
    ("ZR", "CD"), // Zaire, withdrawn code
    ("TP", "TL"), // East Timor, withdrawn code
];

/// The commented template `mo2fa new scenario` writes: every section and key, optional keys
/// at their defaults, the attacker kinds not enabled as commented examples.
pub const TEMPLATE: &str = include_str!("template.toml");

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let (file, text) = mo2fa_core::conf::read(path)?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        if let Ok(table) = text.parse::<toml::Table>() {
            let missing = missing_keys(&table);
            if !missing.is_empty() {
                return Err(ScenarioError::Invalid {
                    file: file.to_string(),
                    key: missing.join(", "),
                    message: format!(
                        "required {} missing (scenarios/README.md lists every key)",
                        if missing.len() == 1 {
                            "key is"
                        } else {
                            "keys are"
                        }
                    ),
                });
            }
        }
        let mut s: Scenario = mo2fa_core::conf::parse_toml(file, text)?;
        // A preset's rules merged under the section's own keys.
        s.defences.sms =
            std::mem::take(&mut s.defences.sms)
                .resolve()
                .map_err(|e| ScenarioError::Invalid {
                    file: file.to_string(),
                    key: format!("defences.sms.{}", e.key),
                    message: e.message,
                })?;
        s.validate(file)?;
        crate::billing::validate(&s, file, text)?;
        Ok(s)
    }

    fn validate(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: &str| ScenarioError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        if self.duration.ms() == 0 {
            return Err(bad("duration", "must be positive"));
        }
        if self.interval.ms() == 0 || self.duration.ms() / self.interval.ms() > 1_000_000 {
            return Err(bad(
                "interval",
                "must be positive and give at most 1,000,000 rows",
            ));
        }
        if self.flows.is_empty() {
            return Err(bad("flows", "name at least one of \"reverse\", \"sms\""));
        }
        if self.legit.countries.is_empty()
            || self.legit.countries.values().all(|c| c.weight.0 == 0.0)
        {
            return Err(bad(
                "legit.countries",
                "need at least one country with a positive weight",
            ));
        }
        if !(4..=12).contains(&self.verifier.code_len) {
            return Err(bad("verifier.code_len", "must be between 4 and 12"));
        }
        if !(1..=16).contains(&self.verifier.max_candidates) {
            return Err(bad("verifier.max_candidates", "must be between 1 and 16"));
        }
        if self.verifier.ttl.ms() == 0 || self.sms.ttl.ms() == 0 {
            return Err(bad("ttl", "challenge lifetimes must be positive"));
        }
        if self.sms.segments == 0 {
            return Err(bad("sms.segments", "must be at least 1"));
        }
        self.validate_carriers(file)?;
        self.check_countries_are_priced(file)?;
        if let Some(inc) = &self.incident {
            if !self.flows.contains(&inc.flow) {
                return Err(bad(
                    "incident.flow",
                    "names a flow the scenario does not run",
                ));
            }
            if inc.sms.is_none() && inc.blocked.is_none() && inc.bill_usd.is_none() {
                return Err(bad(
                    "incident",
                    "give at least one documented figure: sms, blocked or bill_usd",
                ));
            }
        }
        for (i, a) in self.attackers.iter().enumerate() {
            let key = |k: &str| format!("attacker[{}].{k}", i + 1);
            if a.end <= a.start {
                return Err(bad(&key("end"), "must be after start"));
            }
            if a.end > self.duration {
                return Err(bad(
                    &key("end"),
                    &format!(
                        "is past the scenario's duration ({}); end the attack by then",
                        self.duration
                    ),
                ));
            }
            if a.shape == Shape::LowAndSlow {
                // Low-and-slow draws every number and address at random: keys that ask for
                // anything else would be ignored.
                if a.numbers == Some(Numbering::Sequential) {
                    return Err(bad(
                        &key("numbers"),
                        "shape low_and_slow draws numbers at random; remove the key or use another shape",
                    ));
                }
                if a.rotate_every.is_some() {
                    return Err(bad(
                        &key("rotate_every"),
                        "shape low_and_slow draws an address from ip_pool for every request; remove the key or use another shape",
                    ));
                }
            }
            if a.shape != Shape::Burst && (a.burst_on.is_some() || a.burst_off.is_some()) {
                return Err(bad(
                    &key("burst_on"),
                    "only shape burst uses burst_on and burst_off",
                ));
            }
            if a.shape == Shape::Burst && (a.burst_on.is_none() || a.burst_off.is_none()) {
                return Err(bad(&key("shape"), "burst needs burst_on and burst_off"));
            }
            self.validate_shape(file, i, a)?;
            let sms_only = [
                ("targets", a.targets.is_some()),
                ("numbers", a.numbers.is_some()),
                ("range_size", a.range_size.is_some()),
                ("ip_pool", a.ip_pool.is_some()),
                ("rotate_every", a.rotate_every.is_some()),
                ("captcha_usd", a.captcha_usd.is_some()),
                ("revenue_share", a.revenue_share.is_some()),
                ("camouflage", a.camouflage.is_some()),
                ("sms_per_account", a.sms_per_account.is_some()),
                ("accounts", a.accounts.is_some()),
                ("sms_per_number", a.sms_per_number.is_some()),
                ("ranges", a.ranges.is_some()),
                ("carriers", a.carriers.is_some()),
                ("submit_codes", a.submit_codes.is_some()),
                ("adapt", a.adapt.is_some()),
                ("solver", a.solver.is_some()),
            ];
            let allowed: &[&str] = match a.kind {
                AttackKind::SmsPumping => &[
                    "targets",
                    "numbers",
                    "range_size",
                    "ip_pool",
                    "rotate_every",
                    "captcha_usd",
                    "revenue_share",
                    "camouflage",
                    "sms_per_account",
                    "accounts",
                    "sms_per_number",
                    "ranges",
                    "carriers",
                    "submit_codes",
                    "adapt",
                    "solver",
                ],
                AttackKind::CodeGuessing => &["sender_accounts", "candidates_per_message"],
                AttackKind::StartFlood => &["clients"],
                AttackKind::Replay => &["capture_age"],
                AttackKind::ReverseOtpPhishing => &["success"],
                AttackKind::WebhookForgery => &[],
            };
            let others = [
                ("sender_accounts", a.sender_accounts.is_some()),
                ("candidates_per_message", a.candidates_per_message.is_some()),
                ("clients", a.clients.is_some()),
                ("capture_age", a.capture_age.is_some()),
                ("success", a.success.is_some()),
            ];
            for (k, present) in sms_only.iter().chain(&others) {
                if *present && !allowed.contains(k) {
                    return Err(bad(
                        &key(k),
                        &format!("does not apply to kind {}", a.kind.name()),
                    ));
                }
            }
            if a.kind == AttackKind::SmsPumping
                && a.targets
                    .as_ref()
                    .is_none_or(|t| t.values().all(|w| w.0 == 0.0))
            {
                return Err(bad(
                    &key("targets"),
                    "sms_pumping needs target countries with weights",
                ));
            }
            if a.kind == AttackKind::WebhookForgery && !self.emitter.sign {
                return Err(bad(
                    &key("kind"),
                    "webhook_forgery needs emitter.sign = true",
                ));
            }
            if a.candidates_per_message.is_some_and(|c| c == 0) || a.sender_accounts == Some(0) {
                return Err(bad(&key("sender_accounts"), "counts must be at least 1"));
            }
            if a.kind == AttackKind::SmsPumping {
                self.validate_pumping(file, i, a)?;
            }
        }
        Ok(())
    }

    /// The rate keys each shape reads, and only those.
    fn validate_shape(&self, file: &str, i: usize, a: &Attacker) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("attacker[{}].{k}", i + 1),
            message,
        };
        let name = a.shape.name();
        let keys = [
            ("rate_per_s", a.rate_per_s.is_some(), a.shape != Shape::Ramp),
            ("burst_on", a.burst_on.is_some(), a.shape == Shape::Burst),
            ("burst_off", a.burst_off.is_some(), a.shape == Shape::Burst),
            ("ramp", a.ramp.is_some(), a.shape == Shape::Ramp),
            (
                "amplitude",
                a.amplitude.is_some(),
                a.shape == Shape::Diurnal,
            ),
            (
                "peak_hour",
                a.peak_hour.is_some(),
                a.shape == Shape::Diurnal,
            ),
        ];
        for (k, present, applies) in keys {
            if present && !applies {
                return Err(bad(k, format!("does not apply to shape {name}")));
            }
        }
        if a.shape != Shape::Ramp && a.rate_per_s.is_none() {
            return Err(bad("rate_per_s", format!("shape {name} needs rate_per_s")));
        }
        if a.shape == Shape::Ramp {
            let points = a.ramp.as_deref().unwrap_or_default();
            if points.is_empty() {
                return Err(bad(
                    "ramp",
                    "shape ramp needs ramp = [{ at = \"0h\", per_s = ... }, ...]".into(),
                ));
            }
            if points.windows(2).any(|w| w[1].at <= w[0].at) {
                return Err(bad("ramp", "the points' `at` must increase".into()));
            }
        }
        if a.peak_hour.is_some_and(|h| !(0.0..24.0).contains(&h)) {
            return Err(bad("peak_hour", "must be in [0, 24)".into()));
        }
        Ok(())
    }

    /// The numbering, account, carrier, adaptation and CAPTCHA keys of an `sms_pumping`
    /// attacker, against each other and the rest of the scenario.
    fn validate_pumping(&self, file: &str, i: usize, a: &Attacker) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("attacker[{}].{k}", i + 1),
            message,
        };
        for (k, v) in [
            ("sms_per_account", a.sms_per_account),
            ("accounts", a.accounts),
            ("sms_per_number", a.sms_per_number),
            ("ranges", a.ranges),
        ] {
            if v == Some(0) {
                return Err(bad(k, "must be at least 1".into()));
            }
        }
        if a.accounts.is_some() && a.sms_per_account.is_none() {
            return Err(bad("accounts", "needs sms_per_account".into()));
        }
        let targets: Vec<&Iso> = a
            .targets
            .iter()
            .flatten()
            .filter(|(_, w)| w.0 > 0.0)
            .map(|(iso, _)| iso)
            .collect();
        let stride = range_stride(a.range_size.unwrap_or(DEFAULT_RANGE_SIZE));
        let ranges = u64::from(a.ranges.unwrap_or(1));
        for iso in &targets {
            let cap = if self.carriers.iter().any(|c| &&c.country == iso) {
                CARRIER_PREMIUM_CAPACITY
            } else {
                COUNTRY_PREMIUM_CAPACITY
            };
            if stride.saturating_mul(ranges) > cap {
                return Err(bad(
                    if a.ranges.is_some() {
                        "ranges"
                    } else {
                        "range_size"
                    },
                    format!(
                        "{ranges} ranges of {stride} numbers do not fit the {cap} premium numbers of {}",
                        iso.0
                    ),
                ));
            }
        }
        // Carriers the attacker may use in each target country.
        let mut candidates_max = 0;
        for iso in &targets {
            let of_country: Vec<&Carrier> = self
                .carriers
                .iter()
                .filter(|c| &&c.country == iso)
                .collect();
            let n = match &a.carriers {
                Some(names) => {
                    let n = of_country
                        .iter()
                        .filter(|c| names.contains(&c.name))
                        .count();
                    if n == 0 {
                        return Err(bad(
                            "carriers",
                            format!("target {} has none of these [[carrier]] names", iso.0),
                        ));
                    }
                    n
                }
                None => {
                    let shares: f64 = of_country.iter().map(|c| c.share.0).sum();
                    of_country.len() + usize::from(shares < 1.0 - SHARE_EPS)
                }
            };
            candidates_max = candidates_max.max(n);
        }
        if let Some(names) = &a.carriers
            && let Some(name) = names.iter().find(|n| {
                !self
                    .carriers
                    .iter()
                    .any(|c| &c.name == *n && targets.contains(&&c.country))
            })
        {
            return Err(bad(
                "carriers",
                format!("{name:?} is no [[carrier]] of a target country"),
            ));
        }
        if let Some(adapt) = &a.adapt {
            if adapt.after_blocks == 0 {
                return Err(bad("adapt.after_blocks", "must be at least 1".into()));
            }
            if adapt.back_off.is_some() != (adapt.action == AdaptAction::BackOff) {
                return Err(bad(
                    "adapt.back_off",
                    "is required by action = \"back_off\" and refused by the others".into(),
                ));
            }
            if adapt.back_off.is_some_and(|d| d.ms() == 0) {
                return Err(bad("adapt.back_off", "must be positive".into()));
            }
            let (ok, why) = match adapt.action {
                AdaptAction::NextRange => (ranges >= 2, "needs ranges >= 2"),
                AdaptAction::NextCountry => (targets.len() >= 2, "needs two targets or more"),
                AdaptAction::NextCarrier => (
                    candidates_max >= 2,
                    "needs a target with two carriers or more to choose from",
                ),
                AdaptAction::BackOff => (true, ""),
            };
            if !ok {
                return Err(bad("adapt.action", why.into()));
            }
        }
        if a.solver.is_some() && self.defences.captcha.is_none() {
            return Err(bad(
                "solver",
                "there is no [defences.captcha] to solve".into(),
            ));
        }
        Ok(())
    }

    /// `[[carrier]]` tables: known countries, distinct names, shares that fit.
    fn validate_carriers(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |i: usize, k: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("carrier[{}].{k}", i + 1),
            message,
        };
        for (i, c) in self.carriers.iter().enumerate() {
            let known = self.legit.countries.contains_key(&c.country)
                || self.attackers.iter().any(|a| {
                    a.targets
                        .as_ref()
                        .is_some_and(|t| t.contains_key(&c.country))
                });
            if !known {
                return Err(bad(
                    i,
                    "country",
                    format!(
                        "{} is neither a legit country nor an attacker target",
                        c.country.0
                    ),
                ));
            }
            if c.name.trim().is_empty() || c.name == OTHER_CARRIER {
                return Err(bad(
                    i,
                    "name",
                    format!("must be a non-empty name other than {OTHER_CARRIER:?}"),
                ));
            }
            let same: Vec<&Carrier> = self.carriers[..=i]
                .iter()
                .filter(|o| o.country == c.country)
                .collect();
            if same[..same.len() - 1].iter().any(|o| o.name == c.name) {
                return Err(bad(
                    i,
                    "name",
                    format!("{} is listed twice for {}", c.name, c.country.0),
                ));
            }
            if c.share.0 <= 0.0 {
                return Err(bad(i, "share", "must be positive".into()));
            }
            if same.iter().map(|o| o.share.0).sum::<f64>() > 1.0 + SHARE_EPS {
                return Err(bad(
                    i,
                    "share",
                    format!(
                        "the shares of {}'s carriers sum to more than 1",
                        c.country.0
                    ),
                ));
            }
            if same.len() > MAX_CARRIERS_PER_COUNTRY {
                return Err(bad(
                    i,
                    "country",
                    format!("at most {MAX_CARRIERS_PER_COUNTRY} carriers per country"),
                ));
            }
        }
        Ok(())
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

impl Scenario {
    /// Every country a scenario names (legit users' and attackers' targets) must have a row in
    /// the price table: an unknown code would be billed at Twilio's fallback price without a
    /// word, which is how `UK` (for `GB`) slips through.
    fn check_countries_are_priced(&self, file: &str) -> Result<(), ScenarioError> {
        let table =
            mo2fa_cost::prices::PriceTable::builtin().map_err(|e| ScenarioError::Invalid {
                file: file.to_string(),
                key: "legit.countries".into(),
                message: format!("cannot read the built-in price table: {e}"),
            })?;
        let legit = self
            .legit
            .countries
            .keys()
            .map(|iso| (format!("legit.countries.{}", iso.0), iso));
        let targets = self.attackers.iter().enumerate().flat_map(|(i, a)| {
            a.targets
                .iter()
                .flatten()
                .map(move |(iso, _)| (format!("attacker[{}].targets.{}", i + 1, iso.0), iso))
        });
        for (key, iso) in legit.chain(targets) {
            if table.lists(&iso.0) {
                continue;
            }
            let hint = match LOOK_ALIKE_CODES.iter().find(|(wrong, _)| *wrong == iso.0) {
                Some((_, right)) if table.lists(right) => format!("; did you mean {right}?"),
                _ => String::new(),
            };
            return Err(ScenarioError::Invalid {
                file: file.to_string(),
                key,
                message: format!(
                    "{} is not in the price table (scenarios/data/sms_prices.csv), so it has no price{hint}",
                    iso.0
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
seed = 1
duration = "1h"
interval = "10m"
flows = ["reverse", "sms"]
[legit]
rate_per_s = 1.0
p_send = 1.0
send_delay_median = "5s"
countries = { US = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" } }
[emitter]
latency_median = "300ms"
"#;

    #[test]
    fn minimal_scenario_parses() {
        let s = Scenario::parse("x.toml", MINIMAL).unwrap();
        assert_eq!(s.duration, Dur(3_600_000));
        assert_eq!(s.verifier.ttl, Dur(300_000));
        assert!(s.emitter.sign);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration("30d"), Ok(2_592_000_000));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("999d").is_err());
    }

    /// The template with every commented `key = value` line and `[[attacker]]` header
    /// uncommented: every key and section a scenario can have.
    fn uncommented_template() -> String {
        TEMPLATE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if (rest.starts_with('[') && rest.ends_with(']'))
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            !k.is_empty()
                                && k.chars().all(|c| {
                                    c.is_ascii_lowercase()
                                        || c == '_'
                                        || c == '.'
                                        || c.is_ascii_uppercase()
                                })
                        }) =>
                {
                    rest
                }
                _ => line,
            })
            .flat_map(|l| [l, "\n"])
            .collect()
    }

    /// The keys each section accepts, read from the parser itself: a probe key in a section
    /// makes serde list every field it expects there ("expected one of ..."). Sections are
    /// named as scenarios/README.md heads them: `legit`, `legit.countries.<ISO>`, `attacker`.
    fn accepted_keys() -> BTreeMap<String, std::collections::BTreeSet<String>> {
        fn walk(
            root: &toml::Table,
            path: &mut Vec<(String, bool)>,
            t: &toml::Table,
            out: &mut BTreeMap<String, std::collections::BTreeSet<String>>,
            present: &mut BTreeMap<String, std::collections::BTreeSet<String>>,
        ) {
            let name = path
                .iter()
                .map(|(k, map_key)| {
                    if *map_key {
                        "<ISO>".to_string()
                    } else {
                        k.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
            // Probe: the same file with one unknown key in this table.
            let mut probed = root.clone();
            let mut at: &mut toml::Table = &mut probed;
            for (k, _) in path.iter() {
                at = match at.get_mut(k.trim_end_matches(|c: char| c.is_ascii_digit() || c == '#'))
                {
                    Some(toml::Value::Table(t)) => t,
                    Some(toml::Value::Array(a)) => {
                        let i: usize = k
                            .rsplit('#')
                            .next()
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(0);
                        a[i].as_table_mut().expect("arrays of tables")
                    }
                    _ => unreachable!("walked from this table"),
                };
            }
            at.insert("zz_probe".into(), toml::Value::Integer(0));
            let e = Scenario::parse("probe.toml", &toml::to_string(&probed).unwrap())
                .unwrap_err()
                .to_string();
            if let Some(list) = e.split("expected one of ").nth(1) {
                let fields = list
                    .split(", ")
                    .map(|f| f.trim().trim_matches('`').to_string());
                out.entry(name.clone()).or_default().extend(fields);
            } else if let Some(field) = e.split("expected `").nth(1) {
                out.entry(name.clone())
                    .or_default()
                    .insert(field.split('`').next().unwrap().into());
            }
            for (k, v) in t {
                present.entry(name.clone()).or_default().insert(k.clone());
                let map_key = name.ends_with("countries") || name.ends_with("targets");
                match v {
                    toml::Value::Table(sub) => {
                        path.push((k.clone(), map_key));
                        walk(root, path, sub, out, present);
                        path.pop();
                    }
                    toml::Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            if let toml::Value::Table(sub) = item {
                                path.push((format!("{k}#{i}"), false));
                                walk(root, path, sub, out, present);
                                path.pop();
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let root: toml::Table = uncommented_template().parse().unwrap();
        let (mut out, mut present) = (BTreeMap::new(), BTreeMap::new());
        walk(&root, &mut Vec::new(), &root, &mut out, &mut present);
        // Strip array indexes from section names (every attacker is one section).
        let strip = |m: BTreeMap<String, std::collections::BTreeSet<String>>| {
            let mut r: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
            for (k, v) in m {
                let k = k
                    .split('.')
                    .map(|p| p.split('#').next().unwrap())
                    .collect::<Vec<_>>()
                    .join(".");
                r.entry(k).or_default().extend(v);
            }
            r
        };
        let (out, present) = (strip(out), strip(present));
        for (section, keys) in &out {
            let have = present.get(section).cloned().unwrap_or_default();
            let missing: Vec<_> = keys.difference(&have).collect();
            assert!(
                missing.is_empty(),
                "template.toml lacks {section}: {missing:?}"
            );
        }
        out
    }

    #[test]
    fn every_key_the_parser_accepts_is_in_the_template_and_documented() {
        let readme = include_str!("../../../scenarios/README.md");
        let keys = accepted_keys();
        assert!(
            keys.contains_key("") && keys.contains_key("attacker"),
            "{keys:?}"
        );
        let mut undocumented = Vec::new();
        for (section, fields) in &keys {
            // The README section: from a heading naming it to the next heading.
            let head = if section.is_empty() {
                "Top level".to_string()
            } else if section == "attacker" {
                "`[[attacker]]`".to_string()
            } else if section.contains('<') {
                format!("`{section}`")
            } else {
                format!("`[{section}]`")
            };
            let body: String = readme
                .split("\n#")
                .filter(|part| part.lines().next().is_some_and(|h| h.contains(&head)))
                .collect();
            for f in fields {
                // A key that is a section of its own is documented under its own heading.
                let sub = if section.is_empty() {
                    f.clone()
                } else {
                    format!("{section}.{f}")
                };
                if keys.contains_key(&sub) || (section.is_empty() && f == "attacker") {
                    continue;
                }
                if !body.lines().any(|l| l.starts_with(&format!("| `{f}`"))) {
                    undocumented.push(format!("{head} {f}"));
                }
            }
        }
        assert!(
            undocumented.is_empty(),
            "scenarios/README.md has no row for: {undocumented:#?}"
        );
    }

    #[test]
    fn the_template_parses_and_so_do_its_commented_examples() {
        let sc = Scenario::parse("template.toml", TEMPLATE).unwrap();
        assert_eq!(sc.flows, [Flow::Reverse, Flow::Sms]);
        assert_eq!(sc.attackers.len(), 1);
        assert!(sc.defences.sms.conversion.is_some() && sc.store.is_some());
        // The examples must be valid too, each attacker with only its own kind's keys.
        let all = Scenario::parse("template.toml", &uncommented_template()).unwrap();
        let kinds: Vec<_> = all.attackers.iter().map(|a| a.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "sms_pumping",
                "code_guessing",
                "start_flood",
                "webhook_forgery",
                "replay",
                "reverse_otp_phishing",
                "sms_pumping",
                "start_flood"
            ]
        );
        assert!(all.sms.price_date.is_some() && all.defences.sms.geo_allow.is_some());
        assert!(all.defences.captcha.is_some() && all.carriers.len() == 2);
        assert!(all.attackers[0].adapt.is_some() && all.attackers[0].solver.is_some());
    }

    fn err(text: &str) -> String {
        Scenario::parse("bad.toml", text).unwrap_err().to_string()
    }

    /// MINIMAL with `from` replaced by `to`; panics when `from` is not there, so a broken
    /// variant can never pass as the valid base.
    fn minimal_with(from: &str, to: &str) -> String {
        assert!(MINIMAL.contains(from), "{from:?} is not in MINIMAL");
        MINIMAL.replace(from, to)
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_line_and_key() {
        let e = err(&minimal_with("p_send = 1.0", "p_send = 1.0\nbogus = 3"));
        assert!(e.starts_with("bad.toml:9:") && e.contains("bogus"), "{e}");
        let e = err(&minimal_with("p_send = 1.0", "p_send = 1.5"));
        assert!(
            e.starts_with("bad.toml:8:") && e.contains("probability"),
            "{e}"
        );
        let e = err(&minimal_with("\"5s\"", "\"5 parsecs\""));
        assert!(e.starts_with("bad.toml:9:") && e.contains("unit"), "{e}");
        let e = err(&minimal_with("US =", "usa ="));
        assert!(e.contains("ISO 3166"), "{e}");
    }

    #[test]
    fn cross_field_errors_name_the_key() {
        let text = format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"code_guessing\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n"
        );
        let e = err(&text);
        assert!(
            e.contains("attacker[1].targets") && e.contains("does not apply"),
            "{e}"
        );
        let text = format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"2h\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n"
        );
        assert!(err(&text).contains("attacker[1].end"));
    }

    /// MINIMAL with one `sms_pumping` attacker (sustained, MA) given `keys`, then `tables`.
    fn pumping_with(keys: &str, tables: &str) -> String {
        format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0, KG = 1.0 }}\n\
             {keys}{tables}"
        )
    }

    /// The error of a variant, which must name the file and `key`.
    fn err_at(text: &str, key: &str, why: &str) {
        let e = err(text);
        assert!(
            e.starts_with("bad.toml") && e.contains(key) && e.contains(why),
            "{e}"
        );
    }

    #[test]
    fn the_new_attacker_knobs_parse() {
        let text = pumping_with(
            "sms_per_account = 5\naccounts = 10\nsms_per_number = 2\nranges = 3\n\
             carriers = [\"Inwi\", \"Beeline\"]\nsubmit_codes = 0.4\nsolver = \"human_farm\"\n\
             adapt = { after_blocks = 20, action = \"next_range\" }\n",
            "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\nprice_usd = 0.25\n\
             [[carrier]]\ncountry = \"KG\"\nname = \"Beeline\"\nshare = 0.5\n\
             [defences.captcha]\npass_bot = 0.05\npass_human_farm = 0.9\npass_legit = 0.97\n",
        );
        let s = Scenario::parse("ok.toml", &text).unwrap();
        let a = &s.attackers[0];
        assert_eq!(
            (a.sms_per_account, a.accounts, a.ranges),
            (Some(5), Some(10), Some(3))
        );
        assert_eq!(a.solver, Some(Solver::HumanFarm));
        assert_eq!(
            a.adapt.as_ref().map(|x| x.action),
            Some(AdaptAction::NextRange)
        );
        assert_eq!(s.carriers[0].price_usd, Some(NonNeg(0.25)));
        assert_eq!(
            s.defences.captcha.as_ref().map(|c| c.usd_per_check),
            Some(NonNeg(0.0))
        );
        let ramp = format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"ramp\"\nramp = [{{ at = \"0h\", per_s = 0.05 }}, {{ at = \"30m\", per_s = 0.3 }}]\n"
        );
        let s = Scenario::parse("ok.toml", &ramp).unwrap();
        assert_eq!(s.attackers[0].ramp.as_ref().map(Vec::len), Some(2));
        assert_eq!(s.attackers[0].rate_per_s, None);
    }

    #[test]
    fn shape_keys_are_refused_on_other_shapes() {
        let with = |shape_keys: &str| {
            format!(
                "{MINIMAL}\n[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n{shape_keys}"
            )
        };
        let ramp = "ramp = [{ at = \"0s\", per_s = 1.0 }]\n";
        err_at(
            &with(&format!("shape = \"sustained\"\nrate_per_s = 1.0\n{ramp}")),
            "attacker[1].ramp",
            "does not apply to shape sustained",
        );
        err_at(
            &with(&format!("shape = \"ramp\"\nrate_per_s = 1.0\n{ramp}")),
            "attacker[1].rate_per_s",
            "does not apply to shape ramp",
        );
        err_at(&with("shape = \"ramp\"\n"), "attacker[1].ramp", "missing");
        err_at(
            &with(
                "shape = \"ramp\"\nramp = [{ at = \"1h\", per_s = 1.0 }, { at = \"1h\", per_s = 2.0 }]\n",
            ),
            "attacker[1].ramp",
            "increase",
        );
        err_at(
            &with("shape = \"sustained\"\n"),
            "attacker[1].rate_per_s",
            "missing",
        );
        err_at(
            &with("shape = \"diurnal\"\nrate_per_s = 1.0\npeak_hour = 24\n"),
            "attacker[1].peak_hour",
            "[0, 24)",
        );
        err_at(
            &with("shape = \"sustained\"\nrate_per_s = 1.0\namplitude = 0.5\n"),
            "attacker[1].amplitude",
            "does not apply to shape sustained",
        );
        err_at(
            &with("shape = \"sustained\"\nrate_per_s = 1.0\nburst_on = \"1m\"\n"),
            "attacker[1].burst_on",
            "only shape burst uses burst_on",
        );
        // A bad value inside a ramp point names its line.
        let e = err(&with(
            "shape = \"ramp\"\nramp = [{ at = \"soon\", per_s = 1.0 }]\n",
        ));
        assert!(e.starts_with("bad.toml:19:") && e.contains("ramp"), "{e}");
    }

    #[test]
    fn pumping_knobs_are_refused_elsewhere_and_checked_against_each_other() {
        let guessing = format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"code_guessing\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"sustained\"\nrate_per_s = 1.0\n"
        );
        for k in [
            "sms_per_account = 5",
            "accounts = 3",
            "sms_per_number = 2",
            "ranges = 2",
            "carriers = [\"X\"]",
            "submit_codes = 0.5",
            "adapt = { after_blocks = 3, action = \"back_off\", back_off = \"1m\" }",
            "solver = \"bot\"",
        ] {
            let key = k.split(" = ").next().unwrap();
            err_at(
                &format!("{guessing}{k}\n"),
                &format!("attacker[1].{key}"),
                "does not apply to kind code_guessing",
            );
        }
        err_at(
            &pumping_with("accounts = 3\n", ""),
            "attacker[1].accounts",
            "needs sms_per_account",
        );
        err_at(
            &pumping_with("sms_per_number = 0\n", ""),
            "attacker[1].sms_per_number",
            "at least 1",
        );
        err_at(
            &pumping_with("ranges = 600000\n", ""),
            "attacker[1].ranges",
            "do not fit",
        );
        err_at(
            &pumping_with(
                "range_size = 600000000\n",
                "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\n",
            ),
            "attacker[1].range_size",
            "500000000 premium numbers of MA",
        );
        err_at(
            &pumping_with(
                "adapt = { after_blocks = 3, action = \"next_range\" }\n",
                "",
            ),
            "attacker[1].adapt.action",
            "ranges >= 2",
        );
        err_at(
            &pumping_with(
                "adapt = { after_blocks = 3, action = \"next_carrier\" }\n",
                "",
            ),
            "attacker[1].adapt.action",
            "two carriers",
        );
        err_at(
            &pumping_with("adapt = { after_blocks = 3, action = \"back_off\" }\n", ""),
            "attacker[1].adapt.back_off",
            "required",
        );
        err_at(
            &pumping_with(
                "ranges = 2\nadapt = { after_blocks = 3, action = \"next_range\", back_off = \"1m\" }\n",
                "",
            ),
            "attacker[1].adapt.back_off",
            "refused",
        );
        err_at(
            &pumping_with(
                "adapt = { after_blocks = 0, action = \"next_country\" }\n",
                "",
            ),
            "attacker[1].adapt.after_blocks",
            "at least 1",
        );
        err_at(
            &pumping_with("solver = \"bot\"\n", ""),
            "attacker[1].solver",
            "[defences.captcha]",
        );
        let e = err(&pumping_with("solver = \"robot\"\n", ""));
        assert!(e.starts_with("bad.toml:21:") && e.contains("solver"), "{e}");
        err_at(
            &pumping_with(
                "carriers = [\"Inwi\"]\n",
                "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\n",
            ),
            "attacker[1].carriers",
            "target KG has none",
        );
    }

    #[test]
    fn carrier_tables_are_checked() {
        let carrier = |c: &str| pumping_with("", &format!("[[carrier]]\n{c}\n"));
        err_at(
            &carrier("country = \"FR\"\nname = \"Orange\"\nshare = 0.5"),
            "carrier[1].country",
            "neither a legit country nor an attacker target",
        );
        err_at(
            &carrier("country = \"MA\"\nname = \"(other)\"\nshare = 0.5"),
            "carrier[1].name",
            "other than",
        );
        err_at(
            &carrier("country = \"MA\"\nname = \"Inwi\"\nshare = 0.0"),
            "carrier[1].share",
            "positive",
        );
        let two = "country = \"MA\"\nname = \"Inwi\"\nshare = 0.6\n[[carrier]]\ncountry = \"MA\"\n";
        err_at(
            &carrier(&format!("{two}name = \"IAM\"\nshare = 0.6")),
            "carrier[2].share",
            "sum to more than 1",
        );
        err_at(
            &carrier(&format!("{two}name = \"Inwi\"\nshare = 0.1")),
            "carrier[2].name",
            "twice",
        );
        let e = err(&carrier(
            "country = \"MA\"\nname = \"Inwi\"\nshare = 0.5\nprice_usd = -1",
        ));
        assert!(
            e.starts_with("bad.toml:25:") && e.contains("price_usd"),
            "{e}"
        );
    }

    #[test]
    fn every_missing_required_key_is_named_at_once() {
        let text = minimal_with("seed = 1\n", "")
            .replace("p_send = 1.0\n", "")
            .replace("latency_median = \"300ms\"\n", "")
            .replace("weight = 1.0, ", "");
        let e = err(&format!(
            "{text}\n[[attacker]]\nkind = \"replay\"\nstart = \"0s\"\nshape = \"sustained\"\n"
        ));
        assert_eq!(
            e,
            "bad.toml: seed, legit.p_send, legit.countries.US.weight, emitter.latency_median, \
             attacker[1].end, attacker[1].rate_per_s: required keys are missing \
             (scenarios/README.md lists every key)"
        );
        let e = err(&minimal_with("seed = 1\n", ""));
        assert!(
            e.starts_with("bad.toml: seed: required key is missing"),
            "{e}"
        );
    }

    #[test]
    fn a_country_without_a_price_is_an_error_that_suggests_the_code() {
        let e = err(&minimal_with("US =", "UK ="));
        assert_eq!(
            e,
            "bad.toml: legit.countries.UK: UK is not in the price table \
             (scenarios/data/sms_prices.csv), so it has no price; did you mean GB?"
        );
        let attack = |targets: &str| {
            format!(
                "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ {targets} }}\n"
            )
        };
        let e = err(&attack("MA = 1.0, ZZ = 1.0"));
        assert!(
            e.starts_with("bad.toml: attacker[1].targets.ZZ: ZZ is not in the price table")
                && !e.contains("did you mean"),
            "{e}"
        );
        assert!(Scenario::parse("ok.toml", &attack("MA = 1.0, GB = 1.0")).is_ok());
    }

    fn pumping(extra: &str) -> String {
        format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n{extra}\n"
        )
    }

    #[test]
    fn an_attack_past_the_duration_is_an_error() {
        let e = err(&pumping("shape = \"sustained\"").replace("end = \"1h\"", "end = \"2h\""));
        assert_eq!(
            e,
            "bad.toml: attacker[1].end: is past the scenario's duration (1h); end the attack by then"
        );
    }

    #[test]
    fn knobs_a_shape_would_ignore_are_errors() {
        let e = err(&pumping(
            "shape = \"low_and_slow\"\nnumbers = \"sequential\"",
        ));
        assert!(
            e.contains("attacker[1].numbers") && e.contains("low_and_slow"),
            "{e}"
        );
        let e = err(&pumping("shape = \"low_and_slow\"\nrotate_every = 3"));
        assert!(e.contains("attacker[1].rotate_every"), "{e}");
        let e = err(&pumping("shape = \"sustained\"\nburst_on = \"1m\""));
        assert!(e.contains("attacker[1].burst_on"), "{e}");
        // What low_and_slow does anyway may be said.
        let ok = pumping("shape = \"low_and_slow\"\nnumbers = \"random\"\nip_pool = 50");
        assert!(Scenario::parse("ok.toml", &ok).is_ok());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(text in ".{0,400}") {
                let _ = Scenario::parse("fuzz.toml", &text);
            }

            /// Any edit of a valid file parses or fails with an error that names the file.
            #[test]
            fn edits_of_a_valid_file_fail_cleanly(at in 0usize..400, insert in "[a-z_=\\[\\]\"0-9. \n-]{0,12}") {
                let mut text = MINIMAL.to_string();
                let at = text.char_indices().map(|(i, _)| i).nth(at % text.chars().count()).unwrap_or(0);
                text.insert_str(at, &insert);
                if let Err(e) = Scenario::parse("edited.toml", &text) {
                    prop_assert!(e.to_string().starts_with("edited.toml"), "{e}");
                }
            }
        }
    }
}
