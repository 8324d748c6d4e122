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
pub mod report;

use crate::scenario::{NonNeg, Scenario, ScenarioError};
use balance::{Account, OnLimit, Rules, micros};
use mo2fa_cost::prices::{Date, PriceTable};
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

/// The 1-based line of the first `key = ...` line in `text` after the line `[section]`
/// (or anywhere, for a dotted `section.key`), or 0 when not found.
fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_section = l.trim_start_matches('[').trim_end_matches(']').trim() == section;
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if (in_section && k == key) || k == format!("{section}.{key}") {
            return i + 1;
        }
    }
    0
}

/// Checks of the billing and report sections that need several keys, and of `sms.price_date`
/// against the price table: errors name the scenario file, the line and the key.
pub fn validate(sc: &Scenario, file: &str, text: &str) -> Result<(), ScenarioError> {
    let at = |section: &str, key: &str, message: String| {
        let line = line_of_key(text, section, key);
        if line == 0 {
            ScenarioError::Invalid {
                file: file.to_string(),
                key: format!("{section}.{key}"),
                message,
            }
        } else {
            ScenarioError::Parse {
                file: file.to_string(),
                line,
                message: format!("{section}.{key}: {message}"),
            }
        }
    };
    if let Some(d) = &sc.sms.price_date {
        let date = d
            .parse::<Date>()
            .map_err(|m| at("sms", "price_date", format!("{m} (expected YYYY-MM-DD)")))?;
        let table = PriceTable::builtin()
            .map_err(|e| at("sms", "price_date", format!("the price table: {e}")))?;
        if let Some(oldest) = table.dates().iter().min()
            && date < *oldest
        {
            return Err(at(
                "sms",
                "price_date",
                format!(
                    "{date} is before the oldest price snapshot, {oldest} \
                     (scenarios/data/sms_prices.csv)"
                ),
            ));
        }
    }
    if let Some(b) = sc.billing.as_ref().and_then(|b| b.balance.as_ref())
        && b.recharge_usd.0 <= 0.0
    {
        return Err(at(
            "billing.balance",
            "recharge_usd",
            "must be positive (use card_daily_limit_usd = 0 for no recharges)".into(),
        ));
    }
    Ok(())
}

/// Billed segments per message the app sent with `segments`.
pub fn billed_per_message(sc: &Scenario) -> f64 {
    let b = sc.billing.clone().unwrap_or_default();
    f64::from(sc.sms.segments) * b.billed_segments_factor + f64::from(b.extra_segments_per_message)
}

/// Segments the provider bills for `messages` messages of the scenario's `segments`: the
/// app's count when no billing is set, else rounded to whole segments.
pub fn billed_segments(sc: &Scenario, messages: u64) -> u64 {
    let seg = u64::from(sc.sms.segments);
    match &sc.billing {
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
    pub fn new(sc: &Scenario) -> Self {
        let settings = sc.billing.as_ref().and_then(|b| b.balance.as_ref());
        let flow = |f| {
            settings
                .filter(|_| sc.flows.contains(&f))
                .map(FlowAccount::new)
        };
        Self {
            sms: flow(crate::scenario::Flow::Sms),
            reverse: flow(crate::scenario::Flow::Reverse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scenario::tests::MINIMAL;

    fn parse(extra: &str) -> Result<Scenario, String> {
        Scenario::parse("b.toml", &format!("{MINIMAL}{extra}")).map_err(|e| e.to_string())
    }

    const BALANCE: &str = "[billing.balance]\nstart_usd = 100\nrecharge_below_usd = 50\n\
        recharge_usd = 250\ncard_daily_limit_usd = 1000\n";

    #[test]
    fn sections_parse_with_defaults() {
        let sc = parse("[billing]\nbilled_segments_factor = 2.2\n").unwrap();
        let b = sc.billing.as_ref().unwrap();
        assert_eq!(
            (b.billed_segments_factor, b.extra_segments_per_message),
            (2.2, 0)
        );
        assert!(b.balance.is_none());
        let sc = parse(BALANCE).unwrap();
        let bal = sc.billing.as_ref().unwrap().balance.as_ref().unwrap();
        assert_eq!(bal.on_limit, OnLimit::Suspend);
        assert_eq!(bal.rules().recharge, 250_000_000);
        let sc = parse(
            "[report]\ncurrency = \"EUR\"\nper_usd = 0.9245\nrate_date = \"2023-10-16\"\n\
             rate_source = \"example\"\n",
        )
        .unwrap();
        assert_eq!(sc.report.as_ref().unwrap().convert(10.0), 9.245);
        assert!(parse("").unwrap().billing.is_none());
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("[billing]\nbilled_segments_factor = 0.5\n").unwrap_err();
        assert!(
            e.starts_with("b.toml:14:") && e.contains("billed_segments_factor"),
            "{e}"
        );
        let e = parse("[billing]\nextra_segments_per_message = 101\n").unwrap_err();
        assert!(
            e.starts_with("b.toml:14:") && e.contains("extra_segments"),
            "{e}"
        );
        let e = parse(&BALANCE.replace("recharge_usd = 250", "recharge_usd = 0")).unwrap_err();
        assert!(
            e.starts_with("b.toml:16:") && e.contains("billing.balance.recharge_usd"),
            "{e}"
        );
        let e = parse(&BALANCE.replace("= 1000", "= -1")).unwrap_err();
        assert!(
            e.starts_with("b.toml:17:") && e.contains("card_daily_limit_usd"),
            "{e}"
        );
        let e = parse(&format!("{BALANCE}on_limit = \"panic\"\n")).unwrap_err();
        assert!(e.starts_with("b.toml:18:") && e.contains("on_limit"), "{e}");
        let e = parse(&BALANCE.replace("start_usd = 100\n", "")).unwrap_err();
        assert!(e.contains("start_usd"), "{e}");
        let report = "[report]\ncurrency = \"EUR\"\nper_usd = 0.9245\nrate_date = \"2023-10-16\"\nrate_source = \"x\"\n";
        for (from, to, line, key) in [
            ("\"EUR\"", "\"eur\"", 14, "currency"),
            ("\"EUR\"", "\"USD\"", 14, "currency"),
            ("0.9245", "0", 15, "per_usd"),
            ("2023-10-16", "2023-02-30", 16, "rate_date"),
            ("\"x\"", "\" \"", 17, "rate_source"),
        ] {
            let e = parse(&report.replace(from, to)).unwrap_err();
            assert!(
                e.starts_with(&format!("b.toml:{line}:")) && e.contains(key),
                "{to}: {e}"
            );
        }
        let e = parse(&report.replace("rate_source = \"x\"\n", "")).unwrap_err();
        assert!(e.contains("rate_source"), "all four are required: {e}");
    }

    #[test]
    fn a_bad_price_date_names_the_scenario_file_line_and_key() {
        let e = parse("[sms]\nprice_date = \"2024-02-30\"\n").unwrap_err();
        assert!(
            e.starts_with("b.toml:14: sms.price_date:") && e.contains("calendar"),
            "{e}"
        );
        let oldest = PriceTable::builtin().unwrap().dates()[0];
        let e = parse("[sms]\nprice_date = \"2019-01-01\"\n").unwrap_err();
        assert!(
            e.starts_with("b.toml:14: sms.price_date:") && e.contains(&oldest.to_string()),
            "{e}"
        );
        let e = parse("[sms]\nttl = \"5m\"\n").map(|s| s.sms.price_date);
        assert_eq!(e, Ok(None));
        assert!(parse(&format!("[sms]\nprice_date = \"{oldest}\"\n")).is_ok());
    }

    #[test]
    fn the_template_has_every_key_and_its_commented_examples_parse() {
        let sc = Scenario::parse("template.toml", crate::scenario::TEMPLATE).unwrap();
        assert_eq!(sc.billing, Some(Billing::default()));
        assert!(sc.report.is_none());
        let uncommented: String = crate::scenario::TEMPLATE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.starts_with("report = ") || rest.starts_with("balance = ") => {
                    rest
                }
                _ => l,
            })
            .flat_map(|l| [l, "\n"])
            .collect();
        let sc = Scenario::parse("template.toml", &uncommented).unwrap();
        let b = sc.billing.unwrap().balance.unwrap();
        assert_eq!((b.recharge_usd.0, b.on_limit), (250.0, OnLimit::Suspend));
        assert_eq!(sc.report.unwrap().currency, "EUR");
        for key in [
            "billed_segments_factor",
            "extra_segments_per_message",
            "start_usd",
            "recharge_below_usd",
            "recharge_usd",
            "card_daily_limit_usd",
            "on_limit",
            "currency",
            "per_usd",
            "rate_date",
            "rate_source",
        ] {
            assert!(crate::scenario::TEMPLATE.contains(key), "{key}");
        }
    }

    #[test]
    fn billed_segments_scale_and_add() {
        let plain = parse("[sms]\nsegments = 2\n").unwrap();
        assert_eq!(billed_segments(&plain, 10), 20);
        assert_eq!(billed_per_message(&plain), 2.0);
        let sc = parse("[sms]\nsegments = 2\n[billing]\nbilled_segments_factor = 2.2\nextra_segments_per_message = 1\n").unwrap();
        assert_eq!(billed_segments(&sc, 10), 44 + 10);
        assert!((billed_per_message(&sc) - 5.4).abs() < 1e-12);
    }

    #[test]
    fn accounts_exist_per_flow_run_and_only_with_a_balance() {
        assert_eq!(
            Accounts::new(&parse("[billing]\n").unwrap()),
            Accounts::default()
        );
        let sc = parse(BALANCE).unwrap();
        let a = Accounts::new(&sc);
        assert!(a.sms.is_some() && a.reverse.is_some());
        let sc = Scenario::parse(
            "b.toml",
            &format!("{MINIMAL}{BALANCE}").replace("[\"reverse\", \"sms\"]", "[\"sms\"]"),
        )
        .unwrap();
        let a = Accounts::new(&sc);
        assert!(a.sms.is_some() && a.reverse.is_none());
    }
}
