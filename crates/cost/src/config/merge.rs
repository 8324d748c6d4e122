//! The price file merged under a mix's overrides, step by step: which price file, which price
//! table and snapshot, then each table's values (a key the mix sets wins). What comes out,
//! [`Merged`], is everything a [`PricedMix`](super::PricedMix) needs but its countries, so a
//! mix file and a simulation's population share it.

use super::file::{Doc, FixedFeeSpec, ImessageSettings, PricesFile, SmsSettings, Tables};
use super::{
    BUILTIN_PRICES, BUILTIN_PRICES_NAME, CountryParams, Destination, FallbackKind, FixedFee,
    ImessageParams, LoadOptions, PricedMix, SmsParams,
};
use crate::error::CostError;
use crate::prices::{Date, PriceSnapshot, PriceTable, Quote, QuoteSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The mix's side of a merge: its tables, the price file it names and where it lies.
pub(super) struct MixSide<'a> {
    pub(super) doc: &'a Doc<'a>,
    pub(super) tables: Tables<'a>,
    pub(super) prices: Option<&'a Spanned<String>>,
    /// Resolves relative paths the mix names; `None` when the mix is not a file on disk.
    pub(super) dir: Option<&'a Path>,
}

/// Everything but the countries, merged and checked.
pub(crate) struct Merged {
    /// The price file's name, as errors and reports give it.
    pub(super) prices_origin: String,
    pub(super) snapshot: PriceSnapshot,
    pub(super) sms: SmsParams,
    pub(super) imessage: ImessageParams,
    /// The fallback of a mix country that names none.
    pub(super) fallback_kind: FallbackKind,
    pub(super) fallback_other_countries: FallbackKind,
    pub(crate) inbound_default: Option<f64>,
    pumping_weights: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
}

/// Removes `.` and `name/..` pairs without touching the file system, so reports show
/// `scenarios/prices/default.toml` rather than `scenarios/mixes/../prices/default.toml`.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

pub(super) fn read(path: &Path) -> Result<String, CostError> {
    std::fs::read_to_string(path).map_err(|source| CostError::Io {
        file: path.to_path_buf(),
        source,
    })
}

fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
    over.clone().or_else(|| base.clone())
}

/// The note a country priced at the fallback row gets (`role`: "mix" or "pumping"), if any.
pub(crate) fn fallback_price_note(iso: &str, q: &Quote, role: &str) -> Option<String> {
    let why = match q.source {
        QuoteSource::Listed => return None,
        QuoteSource::NotInTable => "is not in the price table",
        QuoteSource::NoPriceInSnapshot => "has no price in this snapshot",
    };
    Some(format!(
        "{role} country {iso} {why}; priced at the fallback (\"Unknown\") row, ${:.4} per segment",
        q.usd_per_segment
    ))
}

impl MixSide<'_> {
    /// A path the mix names, relative to the mix's directory.
    fn relative(&self, s: &Spanned<String>, key: &str) -> Result<PathBuf, CostError> {
        let p = Path::new(s.get_ref());
        match self.dir {
            _ if p.is_absolute() => Ok(p.to_path_buf()),
            Some(dir) => Ok(tidy(&dir.join(p))),
            None => Err(self
                .doc
                .err(s, key, "relative paths need a mix file on disk")),
        }
    }
}

/// A key missing from both files.
fn missing(prices: &str, key: &str) -> CostError {
    CostError::invalid(
        prices,
        0,
        key,
        "missing: set it in the price file or the mix",
    )
}

/// The mix's value of a number, else the price file's.
fn num(
    over: &Option<Spanned<f64>>,
    base: &Option<Spanned<f64>>,
    prices: &str,
    key: &str,
) -> Result<f64, CostError> {
    pick(over, base)
        .map(|s| *s.get_ref())
        .ok_or_else(|| missing(prices, key))
}

impl Merged {
    /// Merges the price file (the command line's, else the mix's `prices`, else the built-in
    /// one) under the mix's tables. The mix's own tables are checked by the caller.
    pub(super) fn new(mix: &MixSide, opts: &LoadOptions) -> Result<Merged, CostError> {
        let prices_path = match (&opts.prices, mix.prices) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) => Some(mix.relative(p, "prices")?),
            (None, None) => None,
        };
        let (pname, ptext) = match &prices_path {
            Some(p) => (p.display().to_string(), read(p)?),
            None => (BUILTIN_PRICES_NAME.to_string(), BUILTIN_PRICES.to_string()),
        };
        let pdoc = Doc {
            name: &pname,
            text: &ptext,
        };
        let base: PricesFile = pdoc.parse(|b: &PricesFile, found| {
            super::file::validate_all(&pdoc, b.tables(), found);
        })?;
        let under = base.tables();
        let snapshot = snapshot(mix, under.sms, &pname, prices_path.as_deref(), opts)?;
        let sms = sms_params(mix.tables.sms, under.sms, &pname)?;
        let imessage = imessage_params(mix.tables.imessage, under.imessage, &pname)?;
        let (mf, bf) = (mix.tables.fallback, under.fallback);
        let fallback_kind = pick(&mf.kind, &bf.kind)
            .map(Spanned::into_inner)
            .ok_or_else(|| missing(&pname, "fallback.kind"))?;
        let fallback_other_countries = pick(&mf.other_countries, &bf.other_countries)
            .map(Spanned::into_inner)
            .ok_or_else(|| missing(&pname, "fallback.other_countries"))?;
        let inbound_default =
            pick(&mf.inbound_usd_per_message, &bf.inbound_usd_per_message).map(Spanned::into_inner);
        Ok(Merged {
            snapshot,
            sms,
            imessage,
            fallback_kind,
            fallback_other_countries,
            inbound_default,
            pumping_weights: pick(&mix.tables.pumping.weights, &under.pumping.weights),
            prices_origin: pname,
        })
    }

    /// The priced mix `name` (its origin too): these settings with `countries` and `pumping`.
    pub(super) fn into_priced(
        self,
        name: &str,
        countries: Vec<CountryParams>,
        pumping: Vec<Destination>,
        notes: Vec<String>,
    ) -> PricedMix {
        PricedMix {
            name: name.to_string(),
            description: String::new(),
            mix_origin: name.to_string(),
            prices_origin: self.prices_origin,
            snapshot: self.snapshot,
            sms: self.sms,
            imessage: self.imessage,
            fallback_other_countries: self.fallback_other_countries,
            default_inbound_usd_per_message: self.inbound_default,
            countries,
            pumping,
            notes,
        }
    }

    /// The inbound SMS price of a country with `fallback`: its `own`, else the default; zero
    /// when it falls back to outbound SMS and neither is set; `None` when inbound needs one.
    pub(crate) fn inbound_usd(&self, fallback: FallbackKind, own: Option<f64>) -> Option<f64> {
        match (fallback, own.or(self.inbound_default)) {
            (_, Some(v)) => Some(v),
            (FallbackKind::OutboundSms, None) => Some(0.0),
            (FallbackKind::InboundSms, None) => None,
        }
    }

    /// A destination at `share`, priced from the snapshot plus its carrier fee.
    pub(crate) fn destination(&self, iso: &str, share: f64) -> Destination {
        Destination {
            iso: iso.to_string(),
            share,
            carrier_fee_usd: self.sms.carrier_fees_usd.get(iso).copied().unwrap_or(0.0),
            quote: self.snapshot.quote(iso),
        }
    }

    /// Countries outside the mix fall back to inbound SMS only with an inbound price.
    pub(super) fn check_other_countries(&self) -> Result<(), CostError> {
        if self.fallback_other_countries == FallbackKind::InboundSms
            && self.inbound_default.is_none()
        {
            return Err(missing(
                &self.prices_origin,
                "fallback.inbound_usd_per_message",
            ));
        }
        Ok(())
    }

    /// The pumping destinations (weights normalised, zero weights left out), with a note for
    /// each one priced at the fallback row.
    pub(super) fn pumping(&self, notes: &mut Vec<String>) -> Result<Vec<Destination>, CostError> {
        let weights = self
            .pumping_weights
            .as_ref()
            .ok_or_else(|| missing(&self.prices_origin, "pumping.weights"))?;
        let total: f64 = weights.values().map(|w| *w.get_ref()).sum();
        let mut pumping = Vec::new();
        for (iso, w) in weights {
            if *w.get_ref() > 0.0 {
                let d = self.destination(iso.get_ref(), *w.get_ref() / total);
                notes.extend(fallback_price_note(iso.get_ref(), &d.quote, "pumping"));
                pumping.push(d);
            }
        }
        Ok(pumping)
    }
}

/// The price table (relative to whichever file named it) and the snapshot the date picks.
fn snapshot(
    mix: &MixSide,
    base: &SmsSettings,
    pname: &str,
    prices_path: Option<&Path>,
    opts: &LoadOptions,
) -> Result<PriceSnapshot, CostError> {
    let over = mix.tables.sms;
    let table = match (&over.price_table, &base.price_table, prices_path) {
        (Some(p), _, _) => PriceTable::load(&mix.relative(p, "price_table")?)?,
        (None, Some(p), Some(pp)) => {
            let dir = pp.parent().unwrap_or(Path::new("."));
            PriceTable::load(&tidy(&dir.join(Path::new(p.get_ref()))))?
        }
        (None, _, None) => PriceTable::builtin()?,
        (None, None, Some(_)) => {
            return Err(CostError::invalid(
                pname,
                0,
                "sms.price_table",
                "missing: name the per-country price table (CSV)",
            ));
        }
    };
    let date = match (opts.price_date, pick(&over.price_date, &base.price_date)) {
        (Some(d), _) => Some(d),
        // Already validated as a date in the file that set it.
        (None, Some(s)) => s.get_ref().parse::<Date>().ok(),
        (None, None) => None,
    };
    table.snapshot(date)
}

/// A fixed fee as a monthly amount (one-time fees spread over their months).
fn monthly(f: FixedFeeSpec) -> FixedFee {
    let monthly_usd = match (&f.monthly_usd, &f.one_time_usd, &f.amortize_months) {
        (Some(m), _, _) => *m.get_ref(),
        (None, Some(o), Some(n)) => *o.get_ref() / f64::from(*n.get_ref()),
        // Validation guarantees one of the forms above.
        _ => 0.0,
    };
    FixedFee {
        name: f.name.into_inner(),
        country: f.country.map(Spanned::into_inner),
        monthly_usd,
    }
}

fn sms_params(ms: &SmsSettings, bs: &SmsSettings, pname: &str) -> Result<SmsParams, CostError> {
    let carrier_fees_usd: BTreeMap<String, f64> = pick(&ms.carrier_fees_usd, &bs.carrier_fees_usd)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.into_inner(), v.into_inner()))
        .collect();
    let fixed_fees = pick(&ms.fixed_fees, &bs.fixed_fees)
        .unwrap_or_default()
        .into_iter()
        .map(monthly)
        .collect();
    Ok(SmsParams {
        segments_per_otp: num(
            &ms.segments_per_otp,
            &bs.segments_per_otp,
            pname,
            "sms.segments_per_otp",
        )?,
        resend_rate: num(&ms.resend_rate, &bs.resend_rate, pname, "sms.resend_rate")?,
        success_rate: num(
            &ms.success_rate,
            &bs.success_rate,
            pname,
            "sms.success_rate",
        )?,
        verify_fee_usd: num(
            &ms.verify_fee_usd,
            &bs.verify_fee_usd,
            pname,
            "sms.verify_fee_usd",
        )?,
        carrier_fees_usd,
        fixed_fees,
    })
}

fn imessage_params(
    mi: &ImessageSettings,
    bi: &ImessageSettings,
    pname: &str,
) -> Result<ImessageParams, CostError> {
    let n = |over: &Option<Spanned<f64>>, base: &Option<Spanned<f64>>, key: &str| {
        num(over, base, pname, key)
    };
    Ok(ImessageParams {
        line_usd_per_month: n(
            &mi.line_usd_per_month,
            &bi.line_usd_per_month,
            "imessage.line_usd_per_month",
        )?,
        capacity_per_line_per_day: n(
            &mi.capacity_per_line_per_day,
            &bi.capacity_per_line_per_day,
            "imessage.capacity_per_line_per_day",
        )?,
        peak_factor: n(&mi.peak_factor, &bi.peak_factor, "imessage.peak_factor")?,
        days_per_month: n(
            &mi.days_per_month,
            &bi.days_per_month,
            "imessage.days_per_month",
        )?,
        contacts_per_verification: n(
            &mi.contacts_per_verification,
            &bi.contacts_per_verification,
            "imessage.contacts_per_verification",
        )?,
    })
}
