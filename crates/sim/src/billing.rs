//! Billing as the provider does it, and reports in a second currency: the `[billing]`,
//! `[billing.balance]` and `[report]` sections of a scenario (scenarios/README.md), their
//! checks, and what a run's billing came to.
//!
//! - `billed_segments_factor` and `extra_segments_per_message`: the provider bills more
//!   segments than the app sent (Blackpanda's Hong Kong case: the app's logs showed less than
//!   half of what the provider billed). Every price the run charges is the billed one; reports
//!   show what the app logged beside it.
//! - `[billing.balance]`: a prepaid balance with auto-recharge and a card's daily limit
//!   (Healthchecks.io: $250 recharges until the card's daily limit, then suspension), one
//!   [`balance::Account`] per flow, asked at every paid outbound send.
//! - `[report]`: a second currency at a rate the scenario states, with its date and source.

pub mod balance;

use crate::flow::Flow;
use balance::{Account, OnLimit, Rules, micros};
use mo2fa_core::conf::NonNeg;
use mo2fa_cost::prices::Date;
use serde::Deserialize;

/// `[billing]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    /// Segments the provider bills per segment the app sent (on average), 1 to 100.
    #[serde(default = "one", deserialize_with = "factor")]
    pub billed_segments_factor: f64,
    /// Segments billed on top of those, per message, 0 to 100.
    #[serde(default, deserialize_with = "extra")]
    pub extra_segments_per_message: u32,
    pub balance: Option<BalanceSettings>,
}

impl Default for Billing {
    fn default() -> Self {
        Self {
            billed_segments_factor: 1.0,
            extra_segments_per_message: 0,
            balance: None,
        }
    }
}

fn one() -> f64 {
    1.0
}

fn factor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (1.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be between 1 and 100 (billed segments per segment sent)"
        )))
    }
}

fn extra<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v <= 100 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be at most 100 segments per message"
        )))
    }
}

/// `[billing.balance]`: the provider account's prepaid balance.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BalanceSettings {
    /// Balance at the start of the run.
    pub start_usd: NonNeg,
    /// The card is charged when the balance falls below this.
    pub recharge_below_usd: NonNeg,
    /// One recharge; must be positive.
    pub recharge_usd: NonNeg,
    /// What the card pays in recharges per (virtual) day; 0 = no recharges.
    pub card_daily_limit_usd: NonNeg,
    /// `suspend` (default) or `stop_sending`.
    #[serde(default)]
    pub on_limit: OnLimit,
}

impl BalanceSettings {
    pub fn rules(&self) -> Rules {
        Rules {
            start: micros(self.start_usd.0),
            recharge_below: micros(self.recharge_below_usd.0),
            recharge: micros(self.recharge_usd.0),
            card_daily_limit: micros(self.card_daily_limit_usd.0),
            on_limit: self.on_limit,
        }
    }
}

/// `[report]`: a second currency for the reports. All four keys are required together.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// ISO 4217 code, three capitals, not USD.
    #[serde(deserialize_with = "currency")]
    pub currency: String,
    /// Units of `currency` per US dollar.
    #[serde(deserialize_with = "rate")]
    pub per_usd: f64,
    /// The day the rate is for, YYYY-MM-DD.
    #[serde(deserialize_with = "date")]
    pub rate_date: String,
    /// Where the rate comes from (a publication or URL).
    #[serde(deserialize_with = "source")]
    pub rate_source: String,
}

fn currency<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) && s != "USD" {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "{s:?} is not an ISO 4217 code other than USD (three capitals, e.g. \"EUR\")"
        )))
    }
}

fn rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 && v <= 1.0e6 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be a positive number of units per US dollar (at most 1,000,000)"
        )))
    }
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Date>()
        .map(|d| d.to_string())
        .map_err(serde::de::Error::custom)
}

fn source<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        Err(serde::de::Error::custom(
            "must name where the rate comes from",
        ))
    } else {
        Ok(s)
    }
}

impl ReportSettings {
    /// `usd` in the second currency.
    pub fn convert(&self, usd: f64) -> f64 {
        usd * self.per_usd
    }
}

/// Billed segments per message the app sent with `segments` under `billing`.
pub fn billed_per_message(billing: Option<&Billing>, segments: u32) -> f64 {
    let b = billing.cloned().unwrap_or_default();
    f64::from(segments) * b.billed_segments_factor + f64::from(b.extra_segments_per_message)
}

/// Segments the provider bills under `billing` for `messages` messages of `segments`
/// segments: the app's count when no billing is set, else rounded to whole segments.
pub fn billed_segments(billing: Option<&Billing>, segments: u32, messages: u64) -> u64 {
    let seg = u64::from(segments);
    match billing {
        None => messages * seg,
        Some(b) => {
            let scaled = (messages as f64 * seg as f64 * b.billed_segments_factor).round();
            // Rounded and non-negative; far below u64::MAX for any simulated count.
            (scaled as u64)
                .saturating_add(messages.saturating_mul(u64::from(b.extra_segments_per_message)))
        }
    }
}

/// One flow's account and what it refused, while the run goes and in the outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowAccount {
    pub account: Account,
    /// Legit users' SMS refused because of the balance rules (suspension or cap).
    pub refused_legit: u64,
    /// Pumped SMS refused because of them.
    pub refused_pumped: u64,
}

impl FlowAccount {
    pub fn new(settings: &BalanceSettings) -> Self {
        Self {
            account: Account::new(settings.rules()),
            refused_legit: 0,
            refused_pumped: 0,
        }
    }
}

/// The run's accounts: one per flow that runs, none without `[billing.balance]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accounts {
    pub sms: Option<FlowAccount>,
    pub reverse: Option<FlowAccount>,
}

impl Accounts {
    /// An account under `balance` for each of the `flows` a run runs.
    pub fn new(balance: Option<&BalanceSettings>, flows: &[Flow]) -> Self {
        let flow = |f| balance.filter(|_| flows.contains(&f)).map(FlowAccount::new);
        Self {
            sms: flow(Flow::Sms),
            reverse: flow(Flow::Reverse),
        }
    }
}
