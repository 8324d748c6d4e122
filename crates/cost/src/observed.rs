//! Pricing what a simulation actually sent, instead of what the volume model predicts.
//!
//! The simulator counts messages per destination and calls [`cost_observed`]; the prices,
//! fees and line capacity come from the same [`PricedMix`] as the cost curves, so a simulated
//! month and the model at the same volume are directly comparable. A simulation's population
//! reaches the model as values ([`Population`], [`PricedMix::from_population`]), not as a mix
//! file written out and parsed back.

use super::config::{
    CountryParams, FallbackKind, LoadOptions, Merged, PricedMix, fallback_price_note,
};
use super::error::CostError;
use super::model::lines_needed;
use super::prices::{Date, QuoteSource, is_iso_code};
use std::collections::BTreeMap;

/// One country of a [`Population`].
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationCountry {
    /// ISO 3166-1 alpha-2 code.
    pub iso: String,
    /// Relative weight (>= 0); the weights of a population sum to more than 0.
    pub weight: f64,
    /// Share of this country's users who can verify by iMessage, in [0, 1].
    pub imessage_share: f64,
    pub fallback: FallbackKind,
}

/// A verification mix given as values, e.g. the population a simulation ran: the same as a mix
/// file that lists these countries and otherwise keeps the built-in price file's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    pub name: String,
    pub countries: Vec<PopulationCountry>,
    /// Fallback for numbers from countries outside the mix.
    pub other_countries: FallbackKind,
    /// Price snapshot; `None` = the newest.
    pub price_date: Option<Date>,
}

impl PricedMix {
    /// The cost model of a population with the built-in prices: the price file's settings, then
    /// the population's countries, checked as a mix file's would be.
    pub fn from_population(pop: &Population) -> Result<PricedMix, CostError> {
        let opts = LoadOptions {
            prices: None,
            price_date: pop.price_date,
        };
        let mut s = PricedMix::from_price_file(&pop.name, &opts, |merged, notes| {
            population_countries(pop, merged, notes)
        })?;
        s.fallback_other_countries = pop.other_countries;
        Ok(s)
    }
}

/// The population's countries, sorted by ISO code and checked as a mix file's would be.
fn population_countries(
    pop: &Population,
    merged: &Merged,
    notes: &mut Vec<String>,
) -> Result<Vec<CountryParams>, CostError> {
    let invalid = |key: String, msg: &str| CostError::invalid(&pop.name, 0, &key, msg);
    if pop.countries.is_empty() {
        return Err(invalid(
            "countries".into(),
            "the mix needs at least one country",
        ));
    }
    let total_weight: f64 = pop.countries.iter().map(|c| c.weight).sum();
    let mut sorted: Vec<&PopulationCountry> = pop.countries.iter().collect();
    sorted.sort_by(|a, b| a.iso.cmp(&b.iso));
    let mut countries = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        if !is_iso_code(&c.iso) || sorted[..i].iter().any(|p| p.iso == c.iso) {
            return Err(invalid(
                format!("countries.{}", c.iso),
                "not a distinct ISO 3166-1 alpha-2 code",
            ));
        }
        if !(c.weight.is_finite() && c.weight >= 0.0) {
            return Err(invalid(
                format!("countries.{}.weight", c.iso),
                "must be >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&c.imessage_share) {
            return Err(invalid(
                format!("countries.{}.imessage_share", c.iso),
                "must be in [0, 1]",
            ));
        }
        let inbound_usd_per_message = merged.inbound_usd(c.fallback, None).ok_or_else(|| {
            invalid(
                "fallback.inbound_usd_per_message".into(),
                "missing: set it in the price file or the mix",
            )
        })?;
        let dest = merged.destination(&c.iso, c.weight / total_weight);
        notes.extend(fallback_price_note(&c.iso, &dest.quote, "mix"));
        countries.push(CountryParams {
            dest,
            imessage_share: c.imessage_share,
            fallback: c.fallback,
            inbound_usd_per_message,
        });
    }
    if !(total_weight.is_finite() && total_weight > 0.0) {
        return Err(invalid(
            "countries".into(),
            "the country weights must sum to more than 0",
        ));
    }
    if pop.other_countries == FallbackKind::InboundSms && merged.inbound_default.is_none() {
        return Err(invalid(
            "fallback.inbound_usd_per_message".into(),
            "missing: set it in the price file or the mix",
        ));
    }
    Ok(countries)
}

/// Messages one destination country saw during the simulated period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountryCounts {
    /// ISO 3166-1 alpha-2 code of the phone number.
    pub iso: String,
    /// Outbound OTP segments to legitimate users (sends and resends, times segments).
    pub legit_segments: u64,
    /// Outbound segments to pumped (attacker-controlled) numbers.
    pub pumped_segments: u64,
    /// Inbound SMS received from users of this country (fallback path).
    pub inbound_sms: u64,
}

/// Counts from a simulation run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Length of the simulated period in days (> 0); monthly fees and lines are prorated by
    /// `period_days / days_per_month`.
    pub period_days: f64,
    pub countries: Vec<CountryCounts>,
    /// Successful verifications billed a per-success fee (SMS OTP through a Verify-style API).
    pub successful_sms_verifications: u64,
    /// Inbound iMessage contacts (cost $0 per message; they size the lines).
    pub inbound_imessage: u64,
    /// Inbound iMessage contacts on the busiest day of the period.
    pub peak_daily_inbound_imessage: u64,
}

/// Cost of one destination in an [`ObservedCost`].
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCountryCost {
    pub iso: String,
    pub name: String,
    pub legit_sms_usd: f64,
    pub pumped_sms_usd: f64,
    pub inbound_sms_usd: f64,
}

/// What the simulated period cost.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCost {
    pub period_days: f64,
    pub legit_sms_usd: f64,
    pub pumped_sms_usd: f64,
    pub verify_fees_usd: f64,
    pub inbound_sms_usd: f64,
    /// Lines needed for the peak day.
    pub lines: u64,
    /// Line cost prorated to the period.
    pub lines_usd: f64,
    /// Fixed fees prorated to the period.
    pub fixed_usd: f64,
    pub total_usd: f64,
    /// Sorted by ISO code.
    pub by_country: Vec<ObservedCountryCost>,
    /// Countries priced at the fallback row, and similar caveats.
    pub notes: Vec<String>,
}

/// Prices the counts of a simulation run with the priced mix's prices.
///
/// Fixed fees are due for a country when any outbound segment went there (the registration is
/// needed to send at all); a fee without a country is due when any outbound segment was sent.
pub fn cost_observed(s: &PricedMix, obs: &Observed) -> Result<ObservedCost, CostError> {
    if !(obs.period_days.is_finite() && obs.period_days > 0.0) {
        return Err(CostError::Model(format!(
            "observed period must be > 0 days, got {}",
            obs.period_days
        )));
    }
    let prorate = obs.period_days / s.imessage.days_per_month;
    let mut merged: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for c in &obs.countries {
        let e = merged.entry(c.iso.as_str()).or_default();
        e.0 = e.0.saturating_add(c.legit_segments);
        e.1 = e.1.saturating_add(c.pumped_segments);
        e.2 = e.2.saturating_add(c.inbound_sms);
    }
    let mut notes = Vec::new();
    let mut by_country = Vec::with_capacity(merged.len());
    let mut sent_to: Vec<&str> = Vec::new();
    for (iso, (legit, pumped, inbound)) in merged {
        let quote = s.snapshot.quote(iso);
        if quote.source != QuoteSource::Listed && legit + pumped > 0 {
            notes.push(format!(
                "{iso} has no listed price in the {} snapshot; priced at the fallback row",
                s.snapshot.date()
            ));
        }
        let per_segment = s.outbound_usd_per_segment(iso);
        let inbound_usd = if inbound > 0 {
            let price = s.inbound_usd_per_message(iso).ok_or_else(|| {
                CostError::Model(format!(
                    "{inbound} inbound SMS from {iso}, but no inbound SMS price is configured"
                ))
            })?;
            inbound as f64 * price
        } else {
            0.0
        };
        if legit + pumped > 0 {
            sent_to.push(iso);
        }
        by_country.push(ObservedCountryCost {
            iso: iso.to_string(),
            name: quote.country_name,
            legit_sms_usd: legit as f64 * per_segment,
            pumped_sms_usd: pumped as f64 * per_segment,
            inbound_sms_usd: inbound_usd,
        });
    }
    let fixed_monthly: f64 = s
        .sms
        .fixed_fees
        .iter()
        .filter(|f| match &f.country {
            Some(c) => sent_to.contains(&c.as_str()),
            None => !sent_to.is_empty(),
        })
        .map(|f| f.monthly_usd)
        .sum();
    let lines = if obs.inbound_imessage > 0 || obs.peak_daily_inbound_imessage > 0 {
        lines_needed(
            obs.peak_daily_inbound_imessage.max(1) as f64,
            s.imessage.capacity_per_line_per_day,
        )
    } else {
        0
    };
    let legit_sms_usd = by_country.iter().map(|c| c.legit_sms_usd).sum();
    let pumped_sms_usd = by_country.iter().map(|c| c.pumped_sms_usd).sum();
    let inbound_sms_usd = by_country.iter().map(|c| c.inbound_sms_usd).sum();
    let verify_fees_usd = obs.successful_sms_verifications as f64 * s.sms.verify_fee_usd;
    let lines_usd = lines as f64 * s.imessage.line_usd_per_month * prorate;
    let fixed_usd = fixed_monthly * prorate;
    Ok(ObservedCost {
        period_days: obs.period_days,
        legit_sms_usd,
        pumped_sms_usd,
        verify_fees_usd,
        inbound_sms_usd,
        lines,
        lines_usd,
        fixed_usd,
        total_usd: legit_sms_usd
            + pumped_sms_usd
            + verify_fees_usd
            + inbound_sms_usd
            + lines_usd
            + fixed_usd,
        by_country,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    fn two() -> PricedMix {
        let text = crate::test_files::shipped("scenarios/mixes/two-country.toml");
        PricedMix::from_mix_text("two-country.toml", &text, None, &LoadOptions::default())
            .expect("test mix loads")
    }

    #[test]
    fn prices_observed_counts() {
        let s = two();
        let obs = Observed {
            period_days: 15.0,
            countries: vec![
                CountryCounts {
                    iso: "US".into(),
                    legit_segments: 1000,
                    pumped_segments: 0,
                    inbound_sms: 200,
                },
                CountryCounts {
                    iso: "RU".into(),
                    legit_segments: 0,
                    pumped_segments: 100,
                    inbound_sms: 0,
                },
                CountryCounts {
                    iso: "ZZ".into(),
                    legit_segments: 0,
                    pumped_segments: 10,
                    inbound_sms: 0,
                },
            ],
            successful_sms_verifications: 800,
            inbound_imessage: 30_000,
            peak_daily_inbound_imessage: 2_500,
        };
        let c = cost_observed(&s, &obs).expect("prices");
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(c.legit_sms_usd, 1000.0 * 0.0124),
            "{}",
            c.legit_sms_usd
        );
        assert!(close(c.pumped_sms_usd, 100.0 * 0.7096 + 10.0 * 0.1));
        assert!(close(c.inbound_sms_usd, 2.0));
        assert!(close(c.verify_fees_usd, 40.0));
        assert_eq!(c.lines, 3);
        assert!(close(c.lines_usd, 150.0), "3 lines for half a month");
        assert!(close(c.fixed_usd, 5.0), "US fee for half a month");
        assert!(close(
            c.total_usd,
            c.legit_sms_usd + c.pumped_sms_usd + 2.0 + 40.0 + 150.0 + 5.0
        ));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert_eq!(c.by_country.len(), 3);
    }

    fn population(price_date: Option<Date>) -> Population {
        let c = |iso: &str, weight, imessage_share, fallback| PopulationCountry {
            iso: iso.into(),
            weight,
            imessage_share,
            fallback,
        };
        Population {
            name: "simulated population".into(),
            countries: vec![
                c("US", 0.6, 0.55, FallbackKind::InboundSms),
                c("DE", 0.3, 0.2, FallbackKind::OutboundSms),
                c("XK", 0.1, 0.0, FallbackKind::OutboundSms),
            ],
            other_countries: FallbackKind::OutboundSms,
            price_date,
        }
    }

    #[test]
    fn a_population_loads_like_the_equivalent_mix_file() {
        let date = "2025-01-07".parse::<Date>().ok();
        let typed = PricedMix::from_population(&population(date)).expect("population loads");
        let text = "name = \"simulated population\"\n\
            [countries.US]\nweight = 0.6\nimessage_share = 0.55\nfallback = \"inbound_sms\"\n\
            [countries.DE]\nweight = 0.3\nimessage_share = 0.2\nfallback = \"outbound_sms\"\n\
            [countries.XK]\nweight = 0.1\nimessage_share = 0.0\nfallback = \"outbound_sms\"\n\
            [fallback]\nother_countries = \"outbound_sms\"\n[sms]\nprice_date = \"2025-01-07\"\n";
        let parsed =
            PricedMix::from_mix_text("simulated population", text, None, &LoadOptions::default())
                .expect("mix loads");
        assert_eq!(typed.name, parsed.name);
        assert_eq!(typed.countries, parsed.countries);
        assert_eq!(typed.pumping, parsed.pumping);
        assert_eq!(typed.sms, parsed.sms);
        assert_eq!(typed.imessage, parsed.imessage);
        assert_eq!(
            typed.fallback_other_countries,
            parsed.fallback_other_countries
        );
        assert_eq!(
            typed.default_inbound_usd_per_message,
            parsed.default_inbound_usd_per_message
        );
        assert_eq!(typed.snapshot.date(), parsed.snapshot.date());
        assert_eq!(typed.notes, parsed.notes);
        assert!(
            typed.notes.iter().any(|n| n.contains("XK")),
            "{:?}",
            typed.notes
        );
    }

    #[test]
    fn a_bad_population_is_an_error() {
        let mut p = population(None);
        p.countries[1].imessage_share = 1.5;
        assert!(PricedMix::from_population(&p).is_err());
        let mut p = population(None);
        p.countries.iter_mut().for_each(|c| c.weight = 0.0);
        assert!(PricedMix::from_population(&p).is_err());
        let mut p = population(None);
        p.countries[2].iso = "US".into();
        assert!(PricedMix::from_population(&p).is_err());
        p.countries.clear();
        assert!(PricedMix::from_population(&p).is_err());
    }

    #[test]
    fn bad_period_is_an_error() {
        let s = two();
        let obs = Observed {
            period_days: 0.0,
            ..Observed::default()
        };
        assert!(cost_observed(&s, &obs).is_err());
    }
}
