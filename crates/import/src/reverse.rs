//! What the imported traffic would have cost through reverse iMessage, priced by the same cost
//! model as `mo2fa cost` and the simulator (`mo2fa_cost::observed::cost_observed`).
//!
//! Per country, the sends whose code was converted (and those whose outcome the log does not
//! give) are users: a share of them (the iMessage share, an assumption: `data/imessage_share.csv`,
//! overridable) verify by iMessage, the rest take the fallback. The unconverted sends are
//! treated as pumping: nobody sends an iMessage for them, so they cost nothing with the
//! inbound-SMS fallback and an outbound SMS each with the outbound-SMS fallback. Both fallback
//! choices are priced, and the SMS flow by the same model, for a like-for-like comparison.

use crate::analysis::{Agg, Analysis};
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
        } else if crate::countries::Countries::builtin().index(iso).is_some() {
            self.map
                .insert(iso.to_string(), (share, "--imessage-share"));
        } else {
            return Err(bad(
                "not an ISO 3166-1 alpha-2 code of the calling-code table, nor `default`",
            ));
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

/// One country of the log as the model sees it.
struct Row<'a> {
    iso: String,
    agg: &'a Agg,
    share: f64,
    source: &'static str,
}

impl Row<'_> {
    /// Users: converted sends and those whose outcome is unknown.
    fn users(&self) -> f64 {
        (self.agg.sms - self.agg.unconverted) as f64
    }

    fn segments_per_sms(&self) -> f64 {
        self.agg.segments as f64 / self.agg.sms.max(1) as f64
    }
}

fn mix(rows: &[Row], fallback: FallbackKind, price_date: Date) -> Result<PricedMix, ImportError> {
    let pop = Population {
        name: "imported traffic".into(),
        countries: rows
            .iter()
            .map(|r| PopulationCountry {
                iso: r.iso.clone(),
                weight: r.agg.sms as f64,
                imessage_share: r.share,
                fallback,
            })
            .collect(),
        other_countries: fallback,
        price_date: Some(price_date),
    };
    Ok(PricedMix::from_population(&pop)?)
}

/// The SMS flow: every send an outbound SMS; the unconverted ones pumped.
fn sms_observed(rows: &[Row], period_days: f64, converted: u64) -> Observed {
    Observed {
        period_days,
        countries: rows
            .iter()
            .map(|r| CountryCounts {
                iso: r.iso.clone(),
                legit_segments: (r.users() * r.segments_per_sms()).round() as u64,
                pumped_segments: (r.agg.unconverted as f64 * r.segments_per_sms()).round() as u64,
                inbound_sms: 0,
            })
            .collect(),
        successful_sms_verifications: converted,
        ..Observed::default()
    }
}

/// The reverse flow with one fallback; `peak_users_day`: the most users in one day.
fn reverse_observed(
    rows: &[Row],
    fallback: FallbackKind,
    period_days: f64,
    peak_users_day: u64,
) -> Observed {
    let outbound = fallback == FallbackKind::OutboundSms;
    let users: f64 = rows.iter().map(Row::users).sum();
    let imessage: f64 = rows.iter().map(|r| r.users() * r.share).sum();
    let ratio = if users > 0.0 { imessage / users } else { 0.0 };
    let mut obs = Observed {
        period_days,
        inbound_imessage: imessage.round() as u64,
        peak_daily_inbound_imessage: (peak_users_day as f64 * ratio).round() as u64,
        ..Observed::default()
    };
    for r in rows {
        let rest = r.users() * (1.0 - r.share);
        let (legit, pumped, inbound) = if outbound {
            let seg = r.segments_per_sms();
            (
                (rest * seg).round() as u64,
                (r.agg.unconverted as f64 * seg).round() as u64,
                0,
            )
        } else {
            (0, 0, rest.round() as u64)
        };
        obs.countries.push(CountryCounts {
            iso: r.iso.clone(),
            legit_segments: legit,
            pumped_segments: pumped,
            inbound_sms: inbound,
        });
        if outbound {
            obs.successful_sms_verifications +=
                (r.agg.converted as f64 * (1.0 - r.share)).round() as u64;
        }
    }
    obs
}

pub fn price(
    a: &Analysis,
    countries: &Countries,
    shares: &Shares,
) -> Result<ReverseReport, ImportError> {
    let price_date = snapshot_date(a)?;
    let period_days = a.period_days().max(1.0 / 24.0);
    let rows: Vec<Row> = a
        .by_country
        .iter()
        .enumerate()
        .filter(|(_, c)| c.sms > 0)
        .map(|(i, agg)| {
            let iso = countries.name(i as u16);
            let (share, source) = shares.get(iso);
            Row {
                iso: iso.to_string(),
                agg,
                share,
                source,
            }
        })
        .collect();
    let peak_users_day = a
        .by_day
        .values()
        .map(|d| d.sms - d.unconverted)
        .max()
        .unwrap_or(0);
    let sms_flow = cost_observed(
        &mix(&rows, FallbackKind::OutboundSms, price_date)?,
        &sms_observed(&rows, period_days, a.total.converted),
    )?;
    let mut reverse = Vec::new();
    for fallback in [FallbackKind::InboundSms, FallbackKind::OutboundSms] {
        let obs = reverse_observed(&rows, fallback, period_days, peak_users_day);
        reverse.push(Priced {
            fallback,
            cost: cost_observed(&mix(&rows, fallback, price_date)?, &obs)?,
        });
    }
    Ok(ReverseReport {
        price_date,
        shares: rows
            .iter()
            .map(|r| (r.iso.clone(), r.share, r.source))
            .collect(),
        sms_flow,
        reverse,
    })
}
