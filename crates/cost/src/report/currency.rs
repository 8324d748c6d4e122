//! A second currency for the pages people read: the same four facts a simulation's `[report]`
//! table takes (ISO 4217 code other than USD, units per US dollar, the rate's day and its
//! source), checked the same way. It is an added view only: every figure is computed in USD,
//! and JSON and CSV stay in USD.

use super::usd_label;
use crate::error::CostError;
use crate::prices::Date;

/// A second currency and the rate it is shown at.
#[derive(Clone, Debug, PartialEq)]
pub struct Currency {
    /// ISO 4217 code, three capitals, not USD.
    pub code: String,
    /// Units of `code` per US dollar.
    pub per_usd: f64,
    /// The day the rate is for.
    pub rate_date: Date,
    /// Where the rate comes from (a publication or URL).
    pub rate_source: String,
}

impl Currency {
    /// Checks the four values; errors name the command-line argument.
    pub fn new(
        code: &str,
        per_usd: f64,
        rate_date: &str,
        rate_source: &str,
    ) -> Result<Self, CostError> {
        if !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) && code != "USD") {
            return Err(CostError::argument(
                "currency",
                format!(
                    "{code:?} is not an ISO 4217 code other than USD (three capitals, e.g. \"EUR\")"
                ),
            ));
        }
        if !(per_usd.is_finite() && per_usd > 0.0 && per_usd <= 1.0e6) {
            return Err(CostError::argument(
                "per-usd",
                format!(
                    "{per_usd} must be a positive number of units per US dollar (at most 1,000,000)"
                ),
            ));
        }
        let rate_date = rate_date
            .parse::<Date>()
            .map_err(|m| CostError::argument("rate-date", m))?;
        if rate_source.trim().is_empty() {
            return Err(CostError::argument(
                "rate-source",
                "must name where the rate comes from",
            ));
        }
        Ok(Currency {
            code: code.to_string(),
            per_usd,
            rate_date,
            rate_source: rate_source.to_string(),
        })
    }

    /// `usd` in this currency.
    pub fn convert(&self, usd: f64) -> f64 {
        usd * self.per_usd
    }

    /// `usd` converted and written as a label: "193,647 EUR", "12.30 EUR".
    pub fn label(&self, usd: f64) -> String {
        let body = usd_label(self.convert(usd)).replacen('$', "", 1);
        format!("{body} {}", self.code)
    }

    /// The rate as one sentence, worded as a run's report words it.
    pub fn sentence(&self) -> String {
        format!(
            "{} figures at {} {} per US dollar, the rate of {} ({}); every figure is computed in USD.",
            self.code, self.per_usd, self.code, self.rate_date, self.rate_source
        )
    }
}

/// `usd` as a label, followed by " (… EUR)" when there is a second currency.
pub fn money(usd: f64, currency: Option<&Currency>) -> String {
    match currency {
        None => usd_label(usd),
        Some(c) => format!("{} ({})", usd_label(usd), c.label(usd)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_four_values_like_a_run_does() {
        let ok = Currency::new("EUR", 0.9245, "2023-10-16", "example").expect("valid");
        assert_eq!(ok.label(209_462.4), "193,648 EUR");
        assert_eq!(ok.label(12.0), "11.09 EUR");
        assert_eq!(money(1000.0, Some(&ok)), "$1,000 (924.50 EUR)");
        assert_eq!(money(1000.0, None), "$1,000");
        for (code, rate, date, source, arg) in [
            ("USD", 1.0, "2023-10-16", "x", "--currency"),
            ("eur", 1.0, "2023-10-16", "x", "--currency"),
            ("EUR", 0.0, "2023-10-16", "x", "--per-usd"),
            ("EUR", f64::NAN, "2023-10-16", "x", "--per-usd"),
            ("EUR", 1.0, "2023-13-01", "x", "--rate-date"),
            ("EUR", 1.0, "2023-10-16", " ", "--rate-source"),
        ] {
            let e = Currency::new(code, rate, date, source).expect_err(code);
            assert!(e.to_string().starts_with(arg), "{e}");
        }
    }
}
