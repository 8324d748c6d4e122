//! Price and mix files: the price file (`scenarios/prices/*.toml`) and the mix file
//! (`scenarios/mixes/*.toml`), merged into one validated [`PricedMix`].
//!
//! Both files share the `[sms]`, `[imessage]`, `[fallback]` and `[pumping]` tables; a key set in
//! the mix wins over the price file, so a mix can try "what if lines cost $399" without copying
//! the whole price file. Every value is range-checked in the file that set it, so an error names
//! that file, the line and the key.

mod file;
mod merge;
#[cfg(test)]
mod tests;

use super::error::CostError;
use super::prices::{Date, PriceSnapshot, Quote};
use file::{CountrySpec, Doc, MixFile};
use merge::MixSide;
pub(crate) use merge::{Merged, fallback_price_note};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default price file compiled into the crate.
pub const BUILTIN_PRICES: &str = include_str!("../../../../scenarios/prices/default.toml");
/// Name the built-in price file is reported under in messages.
pub const BUILTIN_PRICES_NAME: &str = "<built-in>/scenarios/prices/default.toml";

/// How users who cannot use iMessage verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackKind {
    /// The user texts the code to a long number; the business pays the inbound price. Pumping
    /// cannot reach it: the sender pays for the message, nobody earns a termination fee.
    InboundSms,
    /// The business sends an SMS OTP, exactly as the SMS method does, pumping exposure included.
    OutboundSms,
}

impl FallbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackKind::InboundSms => "inbound_sms",
            FallbackKind::OutboundSms => "outbound_sms",
        }
    }
}

/// A fixed fee of the SMS channel, already converted to a monthly amount.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedFee {
    pub name: String,
    /// The fee is due only when the method sends outbound SMS to this country; `None` = always.
    pub country: Option<String>,
    pub monthly_usd: f64,
}

/// Outbound SMS parameters after merging the price file and the mix.
#[derive(Clone, Debug, PartialEq)]
pub struct SmsParams {
    pub segments_per_otp: f64,
    /// Extra sends per verification: a verification costs `1 + resend_rate` messages.
    pub resend_rate: f64,
    /// Share of legitimate verifications that succeed (per-success fees apply to these).
    pub success_rate: f64,
    pub verify_fee_usd: f64,
    pub carrier_fees_usd: BTreeMap<String, f64>,
    pub fixed_fees: Vec<FixedFee>,
}

/// Reverse iMessage parameters after merging.
#[derive(Clone, Debug, PartialEq)]
pub struct ImessageParams {
    pub line_usd_per_month: f64,
    pub capacity_per_line_per_day: f64,
    /// Busiest day / average day; >= 1.
    pub peak_factor: f64,
    pub days_per_month: f64,
    pub contacts_per_verification: f64,
}

/// One destination, with its resolved outbound price.
#[derive(Clone, Debug, PartialEq)]
pub struct Destination {
    pub iso: String,
    /// Normalised share; the shares of one mix (or of the pumping mix) sum to 1.
    pub share: f64,
    pub quote: Quote,
    /// Carrier pass-through fee per outbound segment, added to the list price.
    pub carrier_fee_usd: f64,
}

impl Destination {
    /// All-in outbound price per segment.
    pub fn usd_per_segment(&self) -> f64 {
        self.quote.usd_per_segment + self.carrier_fee_usd
    }
}

/// A country of the verification mix.
#[derive(Clone, Debug, PartialEq)]
pub struct CountryParams {
    pub dest: Destination,
    /// Share of this country's users who can verify by iMessage, in [0, 1].
    pub imessage_share: f64,
    pub fallback: FallbackKind,
    pub inbound_usd_per_message: f64,
}

/// Everything the cost model needs, validated.
///
/// Invariants: `countries` and `pumping` are non-empty, sorted by ISO code, and their shares
/// each sum to 1; all prices and rates are finite and in range.
#[derive(Clone, Debug)]
pub struct PricedMix {
    pub name: String,
    pub description: String,
    /// Where the mix came from (file name), for reports.
    pub mix_origin: String,
    /// Where the prices came from.
    pub prices_origin: String,
    pub snapshot: PriceSnapshot,
    pub sms: SmsParams,
    pub imessage: ImessageParams,
    /// Fallback for numbers from countries outside the mix (decides pumping exposure).
    pub fallback_other_countries: FallbackKind,
    /// Inbound SMS price for countries that do not set their own (`None` if no file sets one).
    pub default_inbound_usd_per_message: Option<f64>,
    pub countries: Vec<CountryParams>,
    pub pumping: Vec<Destination>,
    /// Things the reader must know, e.g. countries priced at the fallback row.
    pub notes: Vec<String>,
}

/// Where to look for the price file and which snapshot to use; `None` fields defer to the mix
/// file and then to the built-in defaults.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub prices: Option<PathBuf>,
    pub price_date: Option<Date>,
}

impl PricedMix {
    /// Loads a mix file and the price file it uses.
    pub fn load(mix_path: &Path, opts: &LoadOptions) -> Result<PricedMix, CostError> {
        let text = merge::read(mix_path)?;
        Self::from_mix_text(
            &mix_path.display().to_string(),
            &text,
            mix_path.parent(),
            opts,
        )
    }

    /// Builds a priced mix from mix text. `mix_dir` resolves relative paths in the mix; without it
    /// the mix may not name files.
    pub fn from_mix_text(
        mix_name: &str,
        mix_text: &str,
        mix_dir: Option<&Path>,
        opts: &LoadOptions,
    ) -> Result<PricedMix, CostError> {
        let doc = Doc {
            name: mix_name,
            text: mix_text,
        };
        let mix: MixFile = doc.parse(|m: &MixFile, found| {
            file::validate_all(&doc, m.tables(), found);
            check_countries(&doc, m, found);
        })?;
        let side = MixSide {
            doc: &doc,
            tables: mix.tables(),
            prices: mix.prices.as_ref(),
            dir: mix_dir,
        };
        let merged = Merged::new(&side, opts)?;
        let mut notes = Vec::new();
        let countries = mix_countries(&doc, &mix, &merged, &mut notes)?;
        merged.check_other_countries()?;
        let pumping = merged.pumping(&mut notes)?;
        let mut s = merged.into_priced(mix_name, countries, pumping, notes);
        s.name = mix.name.unwrap_or(s.name);
        s.description = mix.description.unwrap_or_default();
        Ok(s)
    }

    /// The built-in (or `opts`') price file's settings with the given countries, each already
    /// checked by the caller: how a simulation's population is priced without a mix file.
    pub(crate) fn from_price_file(
        name: &str,
        opts: &LoadOptions,
        countries: impl FnOnce(&Merged, &mut Vec<String>) -> Result<Vec<CountryParams>, CostError>,
    ) -> Result<PricedMix, CostError> {
        let doc = Doc { name, text: "" };
        let empty = MixFile::default();
        let side = MixSide {
            doc: &doc,
            tables: empty.tables(),
            prices: None,
            dir: None,
        };
        let merged = Merged::new(&side, opts)?;
        merged.check_other_countries()?;
        let mut pumping_notes = Vec::new();
        let pumping = merged.pumping(&mut pumping_notes)?;
        let mut notes = Vec::new();
        let countries = countries(&merged, &mut notes)?;
        notes.extend(pumping_notes);
        Ok(merged.into_priced(name, countries, pumping, notes))
    }

    /// All-in price of one outbound segment to `iso` (list price plus carrier fee).
    pub fn outbound_usd_per_segment(&self, iso: &str) -> f64 {
        let fee = self.sms.carrier_fees_usd.get(iso).copied().unwrap_or(0.0);
        self.snapshot.quote(iso).usd_per_segment + fee
    }

    /// Price of one inbound SMS from `iso`, if the priced mix knows one.
    pub fn inbound_usd_per_message(&self, iso: &str) -> Option<f64> {
        self.countries
            .iter()
            .find(|c| c.dest.iso == iso && c.fallback == FallbackKind::InboundSms)
            .map(|c| c.inbound_usd_per_message)
            .or(self.default_inbound_usd_per_message)
    }

    /// The fallback a phone number from `iso` gets.
    pub fn fallback_for(&self, iso: &str) -> FallbackKind {
        self.countries
            .iter()
            .find(|c| c.dest.iso == iso)
            .map_or(self.fallback_other_countries, |c| c.fallback)
    }
}

/// The mix's countries (already checked): each share normalised, its iMessage share,
/// fallback and inbound price resolved (the country's own, else the mix's or price file's
/// default).
fn mix_countries(
    doc: &Doc,
    mix: &MixFile,
    merged: &Merged,
    notes: &mut Vec<String>,
) -> Result<Vec<CountryParams>, CostError> {
    let total_weight: f64 = mix.countries.values().map(|c| *c.weight.get_ref()).sum();
    let mut countries = Vec::with_capacity(mix.countries.len());
    for (iso, spec) in &mix.countries {
        countries.push(mix_country(doc, mix, merged, iso, spec, total_weight)?);
        let d = &countries[countries.len() - 1].dest;
        notes.extend(fallback_price_note(iso.get_ref(), &d.quote, "mix"));
    }
    Ok(countries)
}

/// Range-checks every country's keys and the mix's default iMessage share, and the weights'
/// sum; each error into `found`.
fn check_countries(doc: &Doc, mix: &MixFile, found: &mut file::Found) {
    let whole = |message: &str| mo2fa_core::conf::Problem {
        line: None,
        key: "countries".into(),
        message: message.into(),
    };
    if mix.countries.is_empty() {
        found.push(whole("the mix needs at least one country"));
        return;
    }
    let mut total_weight = 0.0;
    for (iso, spec) in &mix.countries {
        let at = format!("countries.{}", iso.get_ref());
        doc.iso(found, iso, &at);
        let w = Some(spec.weight.clone());
        doc.num(found, &w, &format!("{at}.weight"), ">= 0", |v| v >= 0.0);
        doc.num(
            found,
            &spec.imessage_share,
            &format!("{at}.imessage_share"),
            "in [0, 1]",
            |v| (0.0..=1.0).contains(&v),
        );
        if spec.imessage_share.is_none() && mix.imessage_share.is_none() {
            found.push(doc.problem(
                &spec.weight,
                &format!("{at}.imessage_share"),
                "missing: set it for the country or as a top-level default",
            ));
        }
        doc.num(
            found,
            &spec.inbound_usd_per_message,
            &format!("{at}.inbound_usd_per_message"),
            ">= 0",
            |v| v >= 0.0,
        );
        total_weight += *spec.weight.get_ref();
    }
    doc.num(
        found,
        &mix.imessage_share,
        "imessage_share",
        "in [0, 1]",
        |v| (0.0..=1.0).contains(&v),
    );
    if total_weight <= 0.0 || !total_weight.is_finite() {
        found.push(whole("the country weights must sum to more than 0"));
    }
}

fn mix_country(
    doc: &Doc,
    mix: &MixFile,
    merged: &Merged,
    iso: &Spanned<String>,
    spec: &CountrySpec,
    total_weight: f64,
) -> Result<CountryParams, CostError> {
    let imessage_share = spec
        .imessage_share
        .as_ref()
        .or(mix.imessage_share.as_ref())
        .map(|s| *s.get_ref())
        .ok_or_else(|| {
            doc.err(
                &spec.weight,
                &format!("countries.{}.imessage_share", iso.get_ref()),
                "missing: set it for the country or as a top-level default",
            )
        })?;
    let fallback = spec
        .fallback
        .as_ref()
        .map_or(merged.fallback_kind, |f| *f.get_ref());
    let own = spec.inbound_usd_per_message.as_ref().map(|s| *s.get_ref());
    let inbound_usd_per_message = merged.inbound_usd(fallback, own).ok_or_else(|| {
        CostError::invalid(
            &merged.prices_origin,
            0,
            "fallback.inbound_usd_per_message",
            "missing: set it in the price file or the mix",
        )
    })?;
    Ok(CountryParams {
        dest: merged.destination(iso.get_ref(), *spec.weight.get_ref() / total_weight),
        imessage_share,
        fallback,
        inbound_usd_per_message,
    })
}
