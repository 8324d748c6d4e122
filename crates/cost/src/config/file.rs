//! The price and mix files as written: their serde types, [`Doc`] (a file's text and name, so
//! every error names file:line:key), and the range checks each file's values pass before they
//! are merged.

use super::FallbackKind;
use crate::error::{CostError, line_of};
use crate::prices::Date;
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

impl Doc<'_> {
    pub(super) fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.text, s.span().start)
    }

    pub(super) fn err<T>(&self, s: &Spanned<T>, key: &str, msg: impl Into<String>) -> CostError {
        CostError::invalid(self.name, self.line(s), key, msg)
    }

    /// Checks an optional number against `ok`; `want` describes the accepted range.
    pub(super) fn num(
        &self,
        v: &Option<Spanned<f64>>,
        key: &str,
        want: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<(), CostError> {
        match v {
            Some(s) if !(s.get_ref().is_finite() && ok(*s.get_ref())) => {
                Err(self.err(s, key, format!("must be {want}, got {}", s.get_ref())))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn iso(&self, s: &Spanned<String>, key: &str) -> Result<(), CostError> {
        mo2fa_core::iso3166::check(s.get_ref()).map_err(|e| self.err(s, key, e))
    }

    /// Parses the document. Every TOML and serde error is reported at once, in file order,
    /// as `file:line: key: message` (mo2fa_core::conf::collect).
    pub(super) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, CostError> {
        let c = mo2fa_core::conf::collect::<T>(self.text);
        match c.value {
            Some(v) if c.problems.is_empty() => Ok(v),
            _ => Err(CostError::Problems {
                file: self.name.to_string(),
                problems: c.problems,
            }),
        }
    }
}

fn validate_sms(doc: &Doc, s: &SmsSettings) -> Result<(), CostError> {
    doc.num(&s.segments_per_otp, "segments_per_otp", "in (0, 10]", |v| {
        v > 0.0 && v <= 10.0
    })?;
    doc.num(&s.resend_rate, "resend_rate", "in [0, 10]", |v| {
        (0.0..=10.0).contains(&v)
    })?;
    doc.num(&s.success_rate, "success_rate", "in [0, 1]", |v| {
        (0.0..=1.0).contains(&v)
    })?;
    doc.num(&s.verify_fee_usd, "verify_fee_usd", ">= 0", |v| v >= 0.0)?;
    if let Some(d) = &s.price_date {
        d.get_ref()
            .parse::<Date>()
            .map_err(|m| doc.err(d, "price_date", m))?;
    }
    for (iso, fee) in s.carrier_fees_usd.iter().flatten() {
        doc.iso(iso, "carrier_fees_usd")?;
        doc.num(&Some(fee.clone()), iso.get_ref(), ">= 0", |v| v >= 0.0)?;
    }
    for fee in s.fixed_fees.iter().flatten() {
        if fee.name.get_ref().trim().is_empty() {
            return Err(doc.err(&fee.name, "name", "must not be empty"));
        }
        if let Some(c) = &fee.country {
            doc.iso(c, "country")?;
        }
        doc.num(&fee.monthly_usd, "monthly_usd", ">= 0", |v| v >= 0.0)?;
        doc.num(&fee.one_time_usd, "one_time_usd", ">= 0", |v| v >= 0.0)?;
        match (&fee.monthly_usd, &fee.one_time_usd, &fee.amortize_months) {
            (Some(_), None, None) => {}
            (None, Some(_), Some(m)) if *m.get_ref() >= 1 => {}
            (None, Some(_), Some(m)) => {
                return Err(doc.err(m, "amortize_months", "must be at least 1"));
            }
            _ => {
                return Err(doc.err(
                    &fee.name,
                    "fixed_fees",
                    "give either `monthly_usd`, or `one_time_usd` with `amortize_months`",
                ));
            }
        }
    }
    Ok(())
}

fn validate_imessage(doc: &Doc, s: &ImessageSettings) -> Result<(), CostError> {
    doc.num(&s.line_usd_per_month, "line_usd_per_month", ">= 0", |v| {
        v >= 0.0
    })?;
    doc.num(
        &s.capacity_per_line_per_day,
        "capacity_per_line_per_day",
        "> 0",
        |v| v > 0.0,
    )?;
    doc.num(
        &s.peak_factor,
        "peak_factor",
        ">= 1 (the peak day is at least the average day)",
        |v| v >= 1.0,
    )?;
    doc.num(&s.days_per_month, "days_per_month", "in [1, 31]", |v| {
        (1.0..=31.0).contains(&v)
    })?;
    doc.num(
        &s.contacts_per_verification,
        "contacts_per_verification",
        "in [0, 10]",
        |v| (0.0..=10.0).contains(&v),
    )
}

fn validate_fallback(doc: &Doc, s: &FallbackSettings) -> Result<(), CostError> {
    doc.num(
        &s.inbound_usd_per_message,
        "inbound_usd_per_message",
        ">= 0",
        |v| v >= 0.0,
    )
}

fn validate_weights(
    doc: &Doc,
    weights: &BTreeMap<Spanned<String>, Spanned<f64>>,
    table: &str,
) -> Result<(), CostError> {
    for (iso, w) in weights {
        doc.iso(iso, table)?;
        doc.num(&Some(w.clone()), iso.get_ref(), ">= 0", |v| v >= 0.0)?;
    }
    Ok(())
}

fn validate_pumping(doc: &Doc, s: &PumpingSettings) -> Result<(), CostError> {
    if let Some(w) = &s.weights {
        validate_weights(doc, w, "pumping.weights")?;
        if !w.values().any(|v| *v.get_ref() > 0.0) {
            return Err(CostError::invalid(
                doc.name,
                w.values().next().map_or(0, |v| doc.line(v)),
                "pumping.weights",
                "at least one weight must be > 0",
            ));
        }
    }
    Ok(())
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

/// Range-checks every table of one file.
pub(super) fn validate_all(doc: &Doc, t: Tables) -> Result<(), CostError> {
    validate_sms(doc, t.sms)?;
    validate_imessage(doc, t.imessage)?;
    validate_fallback(doc, t.fallback)?;
    validate_pumping(doc, t.pumping)
}
