//! The price and mix files as written: their serde types, [`Doc`] (a file's text and name, so
//! every error names file:line:key), and the range checks each file's values pass before they
//! are merged.

use super::FallbackKind;
use crate::error::{CostError, line_of};
use crate::prices::Date;
use mo2fa_core::conf::Problem;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct SmsSettings {
    pub(super) price_table: Option<Spanned<String>>,
    pub(super) price_date: Option<Spanned<String>>,
    pub(super) segments_per_otp: Option<Spanned<f64>>,
    pub(super) resend_rate: Option<Spanned<f64>>,
    pub(super) success_rate: Option<Spanned<f64>>,
    pub(super) verify_fee_usd: Option<Spanned<f64>>,
    pub(super) carrier_fees_usd: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
    pub(super) fixed_fees: Option<Vec<FixedFeeSpec>>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FixedFeeSpec {
    pub(super) name: Spanned<String>,
    pub(super) country: Option<Spanned<String>>,
    pub(super) monthly_usd: Option<Spanned<f64>>,
    pub(super) one_time_usd: Option<Spanned<f64>>,
    pub(super) amortize_months: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct ImessageSettings {
    pub(super) line_usd_per_month: Option<Spanned<f64>>,
    pub(super) capacity_per_line_per_day: Option<Spanned<f64>>,
    pub(super) peak_factor: Option<Spanned<f64>>,
    pub(super) days_per_month: Option<Spanned<f64>>,
    pub(super) contacts_per_verification: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FallbackSettings {
    pub(super) kind: Option<Spanned<FallbackKind>>,
    pub(super) other_countries: Option<Spanned<FallbackKind>>,
    pub(super) inbound_usd_per_message: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct PumpingSettings {
    pub(super) weights: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct PricesFile {
    #[serde(default)]
    pub(super) sms: SmsSettings,
    #[serde(default)]
    pub(super) imessage: ImessageSettings,
    #[serde(default)]
    pub(super) fallback: FallbackSettings,
    #[serde(default)]
    pub(super) pumping: PumpingSettings,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct CountrySpec {
    pub(super) weight: Spanned<f64>,
    pub(super) imessage_share: Option<Spanned<f64>>,
    pub(super) fallback: Option<Spanned<FallbackKind>>,
    pub(super) inbound_usd_per_message: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct MixFile {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) prices: Option<Spanned<String>>,
    pub(super) imessage_share: Option<Spanned<f64>>,
    pub(super) countries: BTreeMap<Spanned<String>, CountrySpec>,
    #[serde(default)]
    pub(super) sms: SmsSettings,
    #[serde(default)]
    pub(super) imessage: ImessageSettings,
    #[serde(default)]
    pub(super) fallback: FallbackSettings,
    #[serde(default)]
    pub(super) pumping: PumpingSettings,
}

/// One file's text and name, for turning spans into line numbers.
pub(super) struct Doc<'a> {
    pub(super) name: &'a str,
    pub(super) text: &'a str,
}

/// The errors the range checks of one file found, each `file:line: key: message`.
pub(super) type Found = Vec<Problem>;

impl Doc<'_> {
    pub(super) fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.text, s.span().start)
    }

    pub(super) fn err<T>(&self, s: &Spanned<T>, key: &str, msg: impl Into<String>) -> CostError {
        CostError::invalid(self.name, self.line(s), key, msg)
    }

    /// A problem about `key`, at the line of `s`.
    pub(super) fn problem<T>(&self, s: &Spanned<T>, key: &str, msg: impl Into<String>) -> Problem {
        Problem {
            line: Some(self.line(s)),
            key: key.to_string(),
            message: msg.into(),
        }
    }

    /// Checks an optional number against `ok`; `want` describes the accepted range.
    pub(super) fn num(
        &self,
        found: &mut Found,
        v: &Option<Spanned<f64>>,
        key: &str,
        want: &str,
        ok: impl Fn(f64) -> bool,
    ) {
        if let Some(s) = v
            && !(s.get_ref().is_finite() && ok(*s.get_ref()))
        {
            found.push(self.problem(s, key, format!("must be {want}, got {}", s.get_ref())));
        }
    }

    pub(super) fn iso(&self, found: &mut Found, s: &Spanned<String>, key: &str) {
        if let Err(e) = mo2fa_core::iso3166::check(s.get_ref()) {
            found.push(self.problem(s, key, e));
        }
    }

    /// Parses the document and range-checks what parsed with `check`. Every TOML, serde and
    /// range error is reported at once, in file order, as `file:line: key: message`
    /// (mo2fa_core::conf::collect); a check about a key that failed to parse is left out.
    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        check: impl Fn(&T, &mut Found),
    ) -> Result<T, CostError> {
        let c = mo2fa_core::conf::collect::<T>(self.text);
        let mut problems = c.problems.clone();
        if let Some(v) = &c.value {
            let mut found = Found::new();
            check(v, &mut found);
            problems.extend(found.into_iter().filter(|p| !c.touches_removed(&p.key)));
        }
        match c.value {
            Some(v) if problems.is_empty() => Ok(v),
            _ => Err(CostError::problems(self.name, problems)),
        }
    }
}

fn validate_sms(doc: &Doc, s: &SmsSettings, found: &mut Found) {
    doc.num(
        found,
        &s.segments_per_otp,
        "sms.segments_per_otp",
        "in (0, 10]",
        |v| v > 0.0 && v <= 10.0,
    );
    doc.num(
        found,
        &s.resend_rate,
        "sms.resend_rate",
        "in [0, 10]",
        |v| (0.0..=10.0).contains(&v),
    );
    doc.num(
        found,
        &s.success_rate,
        "sms.success_rate",
        "in [0, 1]",
        |v| (0.0..=1.0).contains(&v),
    );
    doc.num(
        found,
        &s.verify_fee_usd,
        "sms.verify_fee_usd",
        ">= 0",
        |v| v >= 0.0,
    );
    if let Some(d) = &s.price_date
        && let Err(m) = d.get_ref().parse::<Date>()
    {
        found.push(doc.problem(d, "sms.price_date", m));
    }
    for (iso, fee) in s.carrier_fees_usd.iter().flatten() {
        let key = format!("sms.carrier_fees_usd.{}", iso.get_ref());
        doc.iso(found, iso, &key);
        doc.num(found, &Some(fee.clone()), &key, ">= 0", |v| v >= 0.0);
    }
    for (i, fee) in s.fixed_fees.iter().flatten().enumerate() {
        validate_fixed_fee(doc, fee, &format!("sms.fixed_fees[{}]", i + 1), found);
    }
}

/// One `[[sms.fixed_fees]]` table, whose keys are `at.name` and so on.
fn validate_fixed_fee(doc: &Doc, fee: &FixedFeeSpec, at: &str, found: &mut Found) {
    if fee.name.get_ref().trim().is_empty() {
        found.push(doc.problem(&fee.name, &format!("{at}.name"), "must not be empty"));
    }
    if let Some(c) = &fee.country {
        doc.iso(found, c, &format!("{at}.country"));
    }
    doc.num(
        found,
        &fee.monthly_usd,
        &format!("{at}.monthly_usd"),
        ">= 0",
        |v| v >= 0.0,
    );
    doc.num(
        found,
        &fee.one_time_usd,
        &format!("{at}.one_time_usd"),
        ">= 0",
        |v| v >= 0.0,
    );
    match (&fee.monthly_usd, &fee.one_time_usd, &fee.amortize_months) {
        (Some(_), None, None) => {}
        (None, Some(_), Some(m)) if *m.get_ref() >= 1 => {}
        (None, Some(_), Some(m)) => {
            found.push(doc.problem(m, &format!("{at}.amortize_months"), "must be at least 1"));
        }
        _ => found.push(doc.problem(
            &fee.name,
            at,
            "give either `monthly_usd`, or `one_time_usd` with `amortize_months`",
        )),
    }
}

fn validate_imessage(doc: &Doc, s: &ImessageSettings, found: &mut Found) {
    doc.num(
        found,
        &s.line_usd_per_month,
        "imessage.line_usd_per_month",
        ">= 0",
        |v| v >= 0.0,
    );
    doc.num(
        found,
        &s.capacity_per_line_per_day,
        "imessage.capacity_per_line_per_day",
        "> 0",
        |v| v > 0.0,
    );
    doc.num(
        found,
        &s.peak_factor,
        "imessage.peak_factor",
        ">= 1 (the peak day is at least the average day)",
        |v| v >= 1.0,
    );
    doc.num(
        found,
        &s.days_per_month,
        "imessage.days_per_month",
        "in [1, 31]",
        |v| (1.0..=31.0).contains(&v),
    );
    doc.num(
        found,
        &s.contacts_per_verification,
        "imessage.contacts_per_verification",
        "in [0, 10]",
        |v| (0.0..=10.0).contains(&v),
    );
}

fn validate_fallback(doc: &Doc, s: &FallbackSettings, found: &mut Found) {
    doc.num(
        found,
        &s.inbound_usd_per_message,
        "fallback.inbound_usd_per_message",
        ">= 0",
        |v| v >= 0.0,
    );
}

fn validate_pumping(doc: &Doc, s: &PumpingSettings, found: &mut Found) {
    let Some(weights) = &s.weights else { return };
    for (iso, w) in weights {
        let key = format!("pumping.weights.{}", iso.get_ref());
        doc.iso(found, iso, &key);
        doc.num(found, &Some(w.clone()), &key, ">= 0", |v| v >= 0.0);
    }
    if !weights.values().any(|v| *v.get_ref() > 0.0) {
        found.push(Problem {
            line: weights.values().next().map(|v| doc.line(v)),
            key: "pumping.weights".into(),
            message: "at least one weight must be > 0".into(),
        });
    }
}

/// The tables a price file holds and a mix may override key by key.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tables<'a> {
    pub(super) sms: &'a SmsSettings,
    pub(super) imessage: &'a ImessageSettings,
    pub(super) fallback: &'a FallbackSettings,
    pub(super) pumping: &'a PumpingSettings,
}

impl PricesFile {
    pub(super) fn tables(&self) -> Tables<'_> {
        Tables {
            sms: &self.sms,
            imessage: &self.imessage,
            fallback: &self.fallback,
            pumping: &self.pumping,
        }
    }
}

impl MixFile {
    pub(super) fn tables(&self) -> Tables<'_> {
        Tables {
            sms: &self.sms,
            imessage: &self.imessage,
            fallback: &self.fallback,
            pumping: &self.pumping,
        }
    }
}

/// Range-checks every table of one file, each error into `found`.
pub(super) fn validate_all(doc: &Doc, t: Tables, found: &mut Found) {
    validate_sms(doc, t.sms, found);
    validate_imessage(doc, t.imessage, found);
    validate_fallback(doc, t.fallback, found);
    validate_pumping(doc, t.pumping, found);
}
