//! `results.json`: what `mo2fa cost` found, for programs rather than people: the inputs it used,
//! the exact break-even per fraud share, and both methods' cost components at the reference
//! volume. Field order is fixed and numbers are printed exactly as computed, so the same inputs
//! give the same bytes.

use crate::model::{BreakEven, MethodCost};
use crate::report::currency::Currency;
use crate::sweep::{BREAK_EVEN_FROM, Sweep};
use serde::Serialize;

/// The whole file.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The mix's display name.
    pub mix: String,
    pub mix_file: String,
    pub prices_file: String,
    /// Date of the SMS price snapshot used (YYYY-MM-DD).
    pub price_snapshot: String,
    pub monthly_verifications_from: f64,
    pub monthly_verifications_to: f64,
    /// Volume the break-even search starts at (it ends at `monthly_verifications_to`), so a
    /// break-even below the grid's start is still reported.
    pub break_even_searched_from: f64,
    /// Volume of the per-method breakdown in `fraud_shares[].at_reference`.
    pub reference_volume: f64,
    pub fraud_shares: Vec<FraudShareResult>,
    /// What the reader must know, e.g. countries priced at the fallback row.
    pub notes: Vec<String>,
    /// The second currency the pages show, with its rate (`--currency`); absent without one.
    /// Every figure in this file stays in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_currency: Option<ReportCurrency>,
}

/// The rate of the second currency, as a run's summary.json names it.
#[derive(Debug, Serialize)]
pub struct ReportCurrency {
    pub currency: String,
    pub per_usd: f64,
    pub rate_date: String,
    pub rate_source: String,
}

/// Results at one fraud share.
#[derive(Debug, Serialize)]
pub struct FraudShareResult {
    pub fraud_share: f64,
    pub break_even: BreakEvenResult,
    pub at_reference: AtReference,
}

/// [`BreakEven`] with its volumes named; `kind` says which case it is.
#[derive(Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakEvenResult {
    /// Reverse iMessage is cheaper over the whole range.
    Always,
    /// Reverse iMessage is never cheaper in the range.
    Never,
    /// Reverse iMessage first becomes cheaper just above `first_cheaper_above` and stays cheaper
    /// above `cheaper_from` (`null`: SMS OTP is cheaper again at the range end).
    At {
        first_cheaper_above: f64,
        cheaper_from: Option<f64>,
    },
    /// SMS OTP is cheaper from `sms_cheaper_from` on.
    SmsCheaperAbove { sms_cheaper_from: f64 },
}

impl From<BreakEven> for BreakEvenResult {
    fn from(be: BreakEven) -> Self {
        match be {
            BreakEven::Always => BreakEvenResult::Always,
            BreakEven::Never => BreakEvenResult::Never,
            BreakEven::At { first, stays_from } => BreakEvenResult::At {
                first_cheaper_above: first,
                cheaper_from: stays_from,
            },
            BreakEven::SmsFrom { sms_from } => BreakEvenResult::SmsCheaperAbove {
                sms_cheaper_from: sms_from,
            },
        }
    }
}

/// Both methods at the reference volume.
#[derive(Debug, Serialize)]
pub struct AtReference {
    pub sms_otp: Components,
    pub reverse_imessage: Components,
}

/// One method's monthly cost by component, USD.
#[derive(Debug, Serialize)]
pub struct Components {
    pub total_usd: f64,
    pub legit_sms_usd: f64,
    pub pumped_sms_usd: f64,
    pub verify_fees_usd: f64,
    pub inbound_sms_usd: f64,
    pub imessage_lines: u64,
    pub lines_usd: f64,
    pub fixed_usd: f64,
}

impl From<&MethodCost> for Components {
    fn from(m: &MethodCost) -> Self {
        Components {
            total_usd: m.total_usd,
            legit_sms_usd: m.legit_sms_usd,
            pumped_sms_usd: m.pumped_sms_usd,
            verify_fees_usd: m.verify_fees_usd,
            inbound_sms_usd: m.inbound_sms_usd,
            imessage_lines: m.lines,
            lines_usd: m.lines_usd,
            fixed_usd: m.fixed_usd,
        }
    }
}

impl Results {
    pub fn of(sweep: &Sweep, currency: Option<&Currency>) -> Self {
        let m = &sweep.mix;
        Results {
            mix: m.name.clone(),
            mix_file: m.mix_origin.clone(),
            prices_file: m.prices_origin.clone(),
            price_snapshot: m.snapshot.date().to_string(),
            monthly_verifications_from: sweep.lo,
            monthly_verifications_to: sweep.hi,
            break_even_searched_from: BREAK_EVEN_FROM.min(sweep.lo),
            reference_volume: sweep.reference_volume,
            fraud_shares: sweep
                .per_fraud
                .iter()
                .map(|r| FraudShareResult {
                    fraud_share: r.fraud_share,
                    break_even: r.break_even.into(),
                    at_reference: AtReference {
                        sms_otp: (&r.reference.sms).into(),
                        reverse_imessage: (&r.reference.reverse).into(),
                    },
                })
                .collect(),
            notes: m.notes.clone(),
            report_currency: currency.map(|c| ReportCurrency {
                currency: c.code.clone(),
                per_usd: c.per_usd,
                rate_date: c.rate_date.to_string(),
                rate_source: c.rate_source.clone(),
            }),
        }
    }
}

/// `results.json`, pretty-printed, ending in a newline.
pub fn results_json(sweep: &Sweep, currency: Option<&Currency>) -> String {
    let mut out = serde_json::to_string_pretty(&Results::of(sweep, currency))
        .unwrap_or_else(|e| unreachable!("plain structs of numbers and strings serialize: {e}"));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_evens_are_tagged_by_kind() {
        let j =
            |be: BreakEven| serde_json::to_string(&BreakEvenResult::from(be)).expect("serializes");
        assert_eq!(j(BreakEven::Always), r#"{"kind":"always"}"#);
        assert_eq!(j(BreakEven::Never), r#"{"kind":"never"}"#);
        assert_eq!(
            j(BreakEven::At {
                first: 1851.5,
                stays_from: None
            }),
            r#"{"kind":"at","first_cheaper_above":1851.5,"cheaper_from":null}"#
        );
        assert_eq!(
            j(BreakEven::SmsFrom { sms_from: 2e5 }),
            r#"{"kind":"sms_cheaper_above","sms_cheaper_from":200000.0}"#
        );
    }
}
