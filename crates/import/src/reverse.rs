//! What the imported traffic would have cost through reverse iMessage, priced by the same cost
//! model as `mo2fa cost` and the simulator (`mo2fa_cost::observed::cost_observed`).
//!
//! Per country, the sends whose code was converted (and those whose outcome the log does not
//! give) are users: a share of them (the iMessage share, an assumption: `data/imessage_share.csv`,
//! overridable) verify by iMessage, the rest take the fallback. The unconverted sends are
//! treated as pumping: nobody sends an iMessage for them, so they cost nothing with the
//! inbound-SMS fallback and an outbound SMS each with the outbound-SMS fallback. Both fallback
//! choices are priced, and the SMS flow by the same model, for a like-for-like comparison.

use crate::analysis::Analysis;
use crate::countries::Countries;
use crate::error::ImportError;
use mo2fa_cost::config::{FallbackKind, PricedMix};
use mo2fa_cost::observed::{
    CountryCounts, Observed, ObservedCost, Population, PopulationCountry, cost_observed,
};
use mo2fa_cost::prices::{Date, PriceTable};
use std::collections::BTreeMap;

/// The built-in iMessage shares (with their source in the file's header).
pub const SHARES_CSV: &str = include_str!("../data/imessage_share.csv");
/// The share of countries the table does not list (assumed).
pub const DEFAULT_SHARE: f64 = 0.10;

/// iMessage share per country: the built-in table, then the user's overrides.
#[derive(Clone, Debug)]
pub struct Shares {
    map: BTreeMap<String, (f64, &'static str)>,
    pub default: f64,
}

impl Shares {
    pub fn builtin() -> Self {
        let (mut reader, _) = mo2fa_core::dialing::commented_csv(SHARES_CSV);
        let map = reader
            .records()
            .filter_map(Result::ok)
            .filter_map(|r| {
                Some((
                    r.get(0)?.to_string(),
                    (
                        r.get(1)?.parse().ok()?,
                        "StatCounter iOS share (upper bound)",
                    ),
                ))
            })
            .collect();
        Shares {
            map,
            default: DEFAULT_SHARE,
        }
    }

    /// Applies `ISO=SHARE` (or `default=SHARE`).
    pub fn set(&mut self, spec: &str) -> Result<(), ImportError> {
        let bad = |m: &str| ImportError::Config(format!("--imessage-share {spec:?}: {m}"));
        let (iso, share) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected ISO=SHARE, e.g. US=0.5"))?;
        let share: f64 = share
            .trim()
            .parse()
            .map_err(|_| bad("the share is not a number"))?;
        if !(0.0..=1.0).contains(&share) {
            return Err(bad("the share must be in [0, 1]"));
        }
        let iso = iso.trim();
        if iso == "default" {
            self.default = share;
        } else if mo2fa_core::dialing::is_iso_code(iso) {
            self.map
                .insert(iso.to_string(), (share, "--imessage-share"));
        } else {
            return Err(bad("not an ISO 3166-1 alpha-2 code or `default`"));
        }
        Ok(())
    }

    pub fn get(&self, iso: &str) -> (f64, &'static str) {
        self.map
            .get(iso)
            .copied()
            .unwrap_or((self.default, "default (assumed)"))
    }
}

/// The reverse flow's cost with one fallback.
#[derive(Clone, Debug)]
pub struct Priced {
    pub fallback: FallbackKind,
    pub cost: ObservedCost,
}

#[derive(Clone, Debug)]
pub struct ReverseReport {
    pub price_date: Date,
    /// (ISO, share, where it comes from) for each country of the log.
    pub shares: Vec<(String, f64, &'static str)>,
    /// The SMS flow through the same model (list prices, Verify fees).
    pub sms_flow: ObservedCost,
    pub reverse: Vec<Priced>,
}

/// The snapshot the model prices with: the newest on or before the log's last day.
fn snapshot_date(a: &Analysis) -> Result<Date, ImportError> {
    let table = PriceTable::builtin()?;
    let last = crate::countries::date_of(a.last_ms);
    let dates = table.dates();
    let pick = dates.iter().filter(|d| last.is_none_or(|l| **d <= l)).max();
    Ok(*pick
        .or_else(|| dates.iter().min())
        .ok_or_else(|| ImportError::Config("the price table has no snapshot".into()))?)
}

pub fn price(
    a: &Analysis,
    countries: &Countries,
    shares: &Shares,
) -> Result<ReverseReport, ImportError> {
    let price_date = snapshot_date(a)?;
    let period_days = a.period_days().max(1.0 / 24.0);
    let used: Vec<(u16, &crate::analysis::Agg)> = a
        .by_country
        .iter()
        .enumerate()
        .filter(|(_, c)| c.sms > 0)
        .map(|(i, c)| (i as u16, c))
        .collect();
    let shares_used: Vec<(String, f64, &'static str)> = used
        .iter()
        .map(|(i, _)| {
            let iso = countries.name(*i);
            let (s, src) = shares.get(iso);
            (iso.to_string(), s, src)
        })
        .collect();
    let mix = |fallback: FallbackKind| -> Result<PricedMix, ImportError> {
        let pop = Population {
            name: "imported traffic".into(),
            countries: used
                .iter()
                .zip(&shares_used)
                .map(|((_, c), (iso, s, _))| PopulationCountry {
                    iso: iso.clone(),
                    weight: c.sms as f64,
                    imessage_share: *s,
                    fallback,
                })
                .collect(),
            other_countries: fallback,
            price_date: Some(price_date),
        };
        Ok(PricedMix::from_population(&pop)?)
    };
    // Users (converted or unknown) and pumping (unconverted), per country.
    let users: f64 = used
        .iter()
        .map(|(_, c)| (c.sms - c.unconverted) as f64)
        .sum();
    let users_imessage: f64 = used
        .iter()
        .zip(&shares_used)
        .map(|((_, c), (_, s, _))| (c.sms - c.unconverted) as f64 * s)
        .sum();
    let imessage_ratio = if users > 0.0 {
        users_imessage / users
    } else {
        0.0
    };
    let peak_users_day = a
        .by_day
        .values()
        .map(|d| d.sms - d.unconverted)
        .max()
        .unwrap_or(0);
    let seg = |c: &crate::analysis::Agg| c.segments as f64 / c.sms.max(1) as f64;

    let sms_obs = Observed {
        period_days,
        countries: used
            .iter()
            .map(|(i, c)| CountryCounts {
                iso: countries.name(*i).to_string(),
                legit_segments: ((c.sms - c.unconverted) as f64 * seg(c)).round() as u64,
                pumped_segments: (c.unconverted as f64 * seg(c)).round() as u64,
                inbound_sms: 0,
            })
            .collect(),
        successful_sms_verifications: a.total.converted,
        inbound_imessage: 0,
        peak_daily_inbound_imessage: 0,
    };
    let sms_flow = cost_observed(&mix(FallbackKind::OutboundSms)?, &sms_obs)?;
    let mut reverse = Vec::new();
    for fallback in [FallbackKind::InboundSms, FallbackKind::OutboundSms] {
        let outbound = fallback == FallbackKind::OutboundSms;
        let mut obs = Observed {
            period_days,
            inbound_imessage: users_imessage.round() as u64,
            peak_daily_inbound_imessage: (peak_users_day as f64 * imessage_ratio).round() as u64,
            ..Observed::default()
        };
        for ((i, c), (_, s, _)) in used.iter().zip(&shares_used) {
            let rest = (c.sms - c.unconverted) as f64 * (1.0 - s);
            obs.countries.push(CountryCounts {
                iso: countries.name(*i).to_string(),
                legit_segments: if outbound {
                    (rest * seg(c)).round() as u64
                } else {
                    0
                },
                pumped_segments: if outbound {
                    (c.unconverted as f64 * seg(c)).round() as u64
                } else {
                    0
                },
                inbound_sms: if outbound { 0 } else { rest.round() as u64 },
            });
            if outbound {
                obs.successful_sms_verifications += (c.converted as f64 * (1.0 - s)).round() as u64;
            }
        }
        reverse.push(Priced {
            fallback,
            cost: cost_observed(&mix(fallback)?, &obs)?,
        });
    }
    Ok(ReverseReport {
        price_date,
        shares: shares_used,
        sms_flow,
        reverse,
    })
}
