//! The simulator's side of the cost model: the scenario's population as typed values for
//! [`mo2fa_cost::PricedMix::from_population`], and what a run sent as
//! [`mo2fa_cost::Observed`] counts, priced once per run.

use crate::SimError;
use crate::outcome::{CarrierStats, CountryStats, Counts, PeriodCost};
use crate::scenario::{Fallback, Flow, Scenario};
use crate::time;
use mo2fa_cost::observed::{CountryCounts, Observed, ObservedCost, cost_observed};
use mo2fa_cost::prices::Date;
use mo2fa_cost::{FallbackKind, Population, PopulationCountry};

pub use crate::outcome::FlowCosts;

fn fallback_kind(f: Fallback) -> FallbackKind {
    match f {
        Fallback::InboundSms => FallbackKind::InboundSms,
        Fallback::OutboundSms => FallbackKind::OutboundSms,
    }
}

/// The scenario's legit population, as the cost model takes it (built-in price defaults).
pub fn population(sc: &Scenario) -> Result<Population, SimError> {
    let price_date = sc
        .sms
        .price_date
        .as_deref()
        .map(|d| {
            d.parse::<Date>()
                .map_err(|_| SimError::Config(format!("sms.price_date: {d:?} is not YYYY-MM-DD")))
        })
        .transpose()?;
    Ok(Population {
        name: "simulated population".into(),
        countries: sc
            .legit
            .countries
            .iter()
            .map(|(iso, c)| PopulationCountry {
                iso: iso.0.clone(),
                weight: c.weight.0,
                imessage_share: c.imessage.0,
                fallback: fallback_kind(c.fallback),
            })
            .collect(),
        other_countries: fallback_kind(sc.legit.other_fallback),
        price_date,
    })
}

/// The cost model of the scenario's population.
pub fn model(sc: &Scenario) -> Result<mo2fa_cost::PricedMix, SimError> {
    Ok(mo2fa_cost::PricedMix::from_population(&population(sc)?)?)
}

/// Prices both flows of a run's finished counts with `model`.
pub fn flow_costs(
    sc: &Scenario,
    model: &mo2fa_cost::PricedMix,
    o: &Counts,
) -> Result<FlowCosts, SimError> {
    let period_days = time::days(sc.run.duration.ms());
    // The provider's bill, not the app's log: segments as billed (`[billing]`).
    let billed = |messages: u64| sc.billed_segments(messages);
    let counts = |legit: fn(&CountryStats) -> u64,
                  pumped: fn(&CountryStats) -> u64,
                  inbound: fn(&CountryStats) -> u64| {
        o.countries
            .iter()
            .map(|c| CountryCounts {
                iso: c.iso.clone(),
                legit_segments: billed(legit(c)),
                pumped_segments: billed(pumped(c)),
                inbound_sms: inbound(c),
            })
            .collect::<Vec<_>>()
    };
    let sms = sc.run.flows.contains(&Flow::Sms).then(|| {
        cost_observed(
            model,
            &Observed {
                period_days,
                countries: counts(|c| c.sms_legit_smsflow, |c| c.pumped_smsflow, |_| 0),
                successful_sms_verifications: o.totals.legit.legit_verified_sms
                    + o.totals.pumping.pumped_verified_smsflow,
                inbound_imessage: 0,
                peak_daily_inbound_imessage: 0,
            },
        )
    });
    let reverse = sc.run.flows.contains(&Flow::Reverse).then(|| {
        cost_observed(
            model,
            &Observed {
                period_days,
                countries: counts(
                    |c| c.sms_legit_reverse,
                    |c| c.pumped_reverse,
                    |c| c.inbound_sms_reverse,
                ),
                successful_sms_verifications: o.users.fallback_sms_verified
                    + o.totals.pumping.pumped_verified_reverse,
                inbound_imessage: o.users.imessage_per_day.iter().sum(),
                peak_daily_inbound_imessage: o
                    .users
                    .imessage_per_day
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0),
            },
        )
    });
    let mut sms = sms.transpose()?;
    let mut reverse = reverse.transpose()?;
    if let Some(c) = &mut sms {
        carrier_prices(c, o, &billed, |k| (k.sms_legit_smsflow, k.pumped_smsflow));
        crate::fees::charge(c, &o.defences[0], o.totals.pumping.pumped_sms_smsflow);
    }
    if let Some(c) = &mut reverse {
        carrier_prices(c, o, &billed, |k| (k.sms_legit_reverse, k.pumped_reverse));
        crate::fees::charge(c, &o.defences[1], o.totals.pumping.pumped_sms_reverse);
    }
    let period = crate::flow::PerFlow::new(|flow| {
        let c = match flow {
            Flow::Sms => sms.as_ref(),
            Flow::Reverse => reverse.as_ref(),
        }?;
        Some(flow_period(sc, model, o, flow, c))
    });
    Ok(FlowCosts {
        sms,
        reverse,
        period,
    })
}

/// One flow's cost of the period: the cost model's figures `c` with the carrier fees, CAPTCHA
/// checks, the defences' fees and the vendor's credit of `o`.
fn flow_period(
    sc: &Scenario,
    model: &mo2fa_cost::PricedMix,
    o: &Counts,
    flow: Flow,
    c: &ObservedCost,
) -> PeriodCost {
    let billed = |messages: u64| sc.billed_segments(messages);
    let (legit, pumped): (Count, Count) = match flow {
        Flow::Sms => (|c| c.sms_legit_smsflow, |c| c.pumped_smsflow),
        Flow::Reverse => (|c| c.sms_legit_reverse, |c| c.pumped_reverse),
    };
    let fee = |sent: fn(&CountryStats) -> u64| -> f64 {
        o.countries
            .iter()
            .map(|k| {
                let per_segment = model.sms.carrier_fees_usd.get(&k.iso).copied();
                per_segment.unwrap_or(0.0) * billed(sent(k)) as f64
            })
            .sum()
    };
    let captcha = match flow {
        Flow::Sms => o.totals.usd.usd_captcha_sms_flow,
        Flow::Reverse => o.totals.usd.usd_captcha_reverse_flow,
    };
    let mut p = period_cost(c, fee(legit), fee(pumped), captcha);
    let (d, pumped_sms) = match flow {
        Flow::Sms => (&o.defences[0], o.totals.pumping.pumped_sms_smsflow),
        Flow::Reverse => (&o.defences[1], o.totals.pumping.pumped_sms_reverse),
    };
    p.defence_fees_cents = crate::outcome::cents(crate::fees::fees_usd(d).values().sum());
    let credited = d.credits.values().sum();
    p.vendor_credit_cents = crate::outcome::cents(crate::fees::credit_usd(
        credited,
        pumped_sms,
        c.pumped_sms_usd,
    ));
    p
}

/// One flow's cost of the period from the cost model's figures: the model prices a segment at
/// list price plus the carrier fee, so the fees (`legit_fee_usd`, `pumped_fee_usd`) are taken
/// out of its SMS parts and shown as a part of their own; `captcha_usd` is the defender's.
/// The defences' fees and a vendor's credit are set by the caller (none here).
pub fn period_cost(
    c: &ObservedCost,
    legit_fee_usd: f64,
    pumped_fee_usd: f64,
    captcha_usd: f64,
) -> PeriodCost {
    use crate::outcome::cents;
    PeriodCost {
        legit_sms_list_cents: cents(c.legit_sms_usd - legit_fee_usd),
        pumped_sms_list_cents: cents(c.pumped_sms_usd - pumped_fee_usd),
        carrier_fees_cents: cents(legit_fee_usd + pumped_fee_usd),
        verify_fees_cents: cents(c.verify_fees_usd),
        inbound_sms_cents: cents(c.inbound_sms_usd),
        imessage_lines_cents: cents(c.lines_usd),
        fixed_fees_cents: cents(c.fixed_usd),
        captcha_cents: cents(captcha_usd),
        defence_fees_cents: 0,
        vendor_credit_cents: 0,
    }
}

/// One count of a country's.
type Count = fn(&CountryStats) -> u64;

/// Carriers priced apart from their country: the model prices every segment at the country's
/// list price, so each such carrier's segments get the difference added (legit and pumped,
/// per country and in the totals). Carrier fees are untouched.
fn carrier_prices(
    cost: &mut ObservedCost,
    o: &Counts,
    billed: &dyn Fn(u64) -> u64,
    sent: fn(&CarrierStats) -> (u64, u64),
) {
    for k in &o.carriers {
        let Some(country) = o.countries.iter().find(|c| c.iso == k.iso) else {
            continue;
        };
        let delta = k.usd_per_segment - country.usd_per_segment;
        let (legit, pumped) = sent(k);
        if delta == 0.0 || legit + pumped == 0 {
            continue;
        }
        let legit_usd = delta * billed(legit) as f64;
        let pumped_usd = delta * billed(pumped) as f64;
        if let Some(c) = cost.by_country.iter_mut().find(|c| c.iso == k.iso) {
            c.legit_sms_usd += legit_usd;
            c.pumped_sms_usd += pumped_usd;
        }
        cost.legit_sms_usd += legit_usd;
        cost.pumped_sms_usd += pumped_usd;
        cost.total_usd += legit_usd + pumped_usd;
    }
}
