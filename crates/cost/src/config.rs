//! Price and mix files: the price file (`scenarios/prices/*.toml`) and the mix file
//! (`scenarios/mixes/*.toml`), merged into one validated [`PricedMix`].
//!
//! Both files share the `[sms]`, `[imessage]`, `[fallback]` and `[pumping]` tables; a key set in
//! the mix wins over the price file, so a mix can try "what if lines cost $399" without copying
//! the whole price file. Every value is range-checked in the file that set it, so an error names
//! that file, the line and the key.

use super::error::{CostError, line_of};
use super::prices::{Date, PriceSnapshot, PriceTable, Quote, QuoteSource};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default price file compiled into the crate.
pub const BUILTIN_PRICES: &str = include_str!("../../../scenarios/prices/default.toml");
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

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct SmsSettings {
    price_table: Option<Spanned<String>>,
    price_date: Option<Spanned<String>>,
    segments_per_otp: Option<Spanned<f64>>,
    resend_rate: Option<Spanned<f64>>,
    success_rate: Option<Spanned<f64>>,
    verify_fee_usd: Option<Spanned<f64>>,
    carrier_fees_usd: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
    fixed_fees: Option<Vec<FixedFeeSpec>>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct FixedFeeSpec {
    name: Spanned<String>,
    country: Option<Spanned<String>>,
    monthly_usd: Option<Spanned<f64>>,
    one_time_usd: Option<Spanned<f64>>,
    amortize_months: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct ImessageSettings {
    line_usd_per_month: Option<Spanned<f64>>,
    capacity_per_line_per_day: Option<Spanned<f64>>,
    peak_factor: Option<Spanned<f64>>,
    days_per_month: Option<Spanned<f64>>,
    contacts_per_verification: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct FallbackSettings {
    kind: Option<Spanned<FallbackKind>>,
    other_countries: Option<Spanned<FallbackKind>>,
    inbound_usd_per_message: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct PumpingSettings {
    weights: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    #[serde(default)]
    sms: SmsSettings,
    #[serde(default)]
    imessage: ImessageSettings,
    #[serde(default)]
    fallback: FallbackSettings,
    #[serde(default)]
    pumping: PumpingSettings,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct CountrySpec {
    weight: Spanned<f64>,
    imessage_share: Option<Spanned<f64>>,
    fallback: Option<Spanned<FallbackKind>>,
    inbound_usd_per_message: Option<Spanned<f64>>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct MixFile {
    name: Option<String>,
    description: Option<String>,
    prices: Option<Spanned<String>>,
    imessage_share: Option<Spanned<f64>>,
    countries: BTreeMap<Spanned<String>, CountrySpec>,
    #[serde(default)]
    sms: SmsSettings,
    #[serde(default)]
    imessage: ImessageSettings,
    #[serde(default)]
    fallback: FallbackSettings,
    #[serde(default)]
    pumping: PumpingSettings,
}

/// One file's text and name, for turning spans into line numbers.
struct Doc<'a> {
    name: &'a str,
    text: &'a str,
}

impl Doc<'_> {
    fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.text, s.span().start)
    }

    fn err<T>(&self, s: &Spanned<T>, key: &str, msg: impl Into<String>) -> CostError {
        CostError::invalid(self.name, self.line(s), key, msg)
    }

    /// Checks an optional number against `ok`; `want` describes the accepted range.
    fn num(
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

    fn iso(&self, s: &Spanned<String>, key: &str) -> Result<(), CostError> {
        mo2fa_core::iso3166::check(s.get_ref()).map_err(|e| self.err(s, key, e))
    }

    /// Parses the document, turning TOML and serde errors into file:line:key errors.
    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, CostError> {
        toml::from_str(self.text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (line_of(self.text, span.start), key_at(self.text, span)),
                None => (0, String::from("document")),
            };
            CostError::invalid(self.name, line, key, e.message().trim().to_string())
        })
    }
}

/// Best guess at the key an error span belongs to: the text left of `=` on that line, a table
/// header, or the spanned text itself.
fn key_at(text: &str, span: std::ops::Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text
        .get(..start)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(start..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| start + i);
    let line = text.get(line_start..line_end).unwrap_or("").trim();
    let spanned = text.get(span.clone()).unwrap_or("").trim();
    if spanned.starts_with('[') || spanned.is_empty() {
        if let Some(eq) = line.find('=') {
            return line[..eq].trim().to_string();
        }
        return line.trim_matches(|c| c == '[' || c == ']').to_string();
    }
    if let Some(eq) = line.find('=') {
        let key = line[..eq].trim();
        // A span inside the key part is the key itself (e.g. an unknown field).
        if start < line_start + eq {
            return spanned.trim_matches('"').to_string();
        }
        return key.to_string();
    }
    spanned.to_string()
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

fn validate_all(
    doc: &Doc,
    sms: &SmsSettings,
    im: &ImessageSettings,
    fb: &FallbackSettings,
    pump: &PumpingSettings,
) -> Result<(), CostError> {
    validate_sms(doc, sms)?;
    validate_imessage(doc, im)?;
    validate_fallback(doc, fb)?;
    validate_pumping(doc, pump)
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

fn read(path: &Path) -> Result<String, CostError> {
    std::fs::read_to_string(path).map_err(|source| CostError::Io {
        file: path.to_path_buf(),
        source,
    })
}

fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
    over.clone().or_else(|| base.clone())
}

impl PricedMix {
    /// Loads a mix file and the price file it uses.
    pub fn load(mix_path: &Path, opts: &LoadOptions) -> Result<PricedMix, CostError> {
        let text = read(mix_path)?;
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
        let mdoc = Doc {
            name: mix_name,
            text: mix_text,
        };
        let mix: MixFile = mdoc.parse()?;
        validate_all(&mdoc, &mix.sms, &mix.imessage, &mix.fallback, &mix.pumping)?;
        let rel = |s: &Spanned<String>, key: &str| -> Result<PathBuf, CostError> {
            let p = Path::new(s.get_ref());
            match mix_dir {
                _ if p.is_absolute() => Ok(p.to_path_buf()),
                Some(dir) => Ok(tidy(&dir.join(p))),
                None => Err(mdoc.err(s, key, "relative paths need a mix file on disk")),
            }
        };

        // The price file: command line, then the mix's `prices`, then the built-in default.
        let prices_path = match (&opts.prices, &mix.prices) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) => Some(rel(p, "prices")?),
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
        let base: PricesFile = pdoc.parse()?;
        validate_all(
            &pdoc,
            &base.sms,
            &base.imessage,
            &base.fallback,
            &base.pumping,
        )?;

        // The price table: relative to whichever file named it.
        let table = match (&mix.sms.price_table, &base.sms.price_table, &prices_path) {
            (Some(p), _, _) => PriceTable::load(&rel(p, "price_table")?)?,
            (None, Some(p), Some(pp)) => {
                let path = Path::new(p.get_ref());
                let dir = pp.parent().unwrap_or(Path::new("."));
                PriceTable::load(&tidy(&dir.join(path)))?
            }
            (None, _, None) => PriceTable::builtin()?,
            (None, None, Some(_)) => {
                return Err(CostError::invalid(
                    &pname,
                    0,
                    "sms.price_table",
                    "missing: name the per-country price table (CSV)",
                ));
            }
        };
        let date = match (
            opts.price_date,
            pick(&mix.sms.price_date, &base.sms.price_date),
        ) {
            (Some(d), _) => Some(d),
            // Already validated as a date in the file that set it.
            (None, Some(s)) => s.get_ref().parse::<Date>().ok(),
            (None, None) => None,
        };
        let snapshot = table.snapshot(date)?;

        let missing = |key: &str| {
            CostError::invalid(
                &pname,
                0,
                key,
                "missing: set it in the price file or the mix",
            )
        };
        let num = |over: &Option<Spanned<f64>>, base: &Option<Spanned<f64>>, key: &str| {
            pick(over, base)
                .map(|s| *s.get_ref())
                .ok_or_else(|| missing(key))
        };
        let (ms, bs) = (&mix.sms, &base.sms);
        let carrier_fees_usd: BTreeMap<String, f64> =
            pick(&ms.carrier_fees_usd, &bs.carrier_fees_usd)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.into_inner(), v.into_inner()))
                .collect();
        let fixed_fees = pick(&ms.fixed_fees, &bs.fixed_fees)
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
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
            })
            .collect();
        let sms = SmsParams {
            segments_per_otp: num(
                &ms.segments_per_otp,
                &bs.segments_per_otp,
                "sms.segments_per_otp",
            )?,
            resend_rate: num(&ms.resend_rate, &bs.resend_rate, "sms.resend_rate")?,
            success_rate: num(&ms.success_rate, &bs.success_rate, "sms.success_rate")?,
            verify_fee_usd: num(&ms.verify_fee_usd, &bs.verify_fee_usd, "sms.verify_fee_usd")?,
            carrier_fees_usd,
            fixed_fees,
        };
        let (mi, bi) = (&mix.imessage, &base.imessage);
        let imessage = ImessageParams {
            line_usd_per_month: num(
                &mi.line_usd_per_month,
                &bi.line_usd_per_month,
                "imessage.line_usd_per_month",
            )?,
            capacity_per_line_per_day: num(
                &mi.capacity_per_line_per_day,
                &bi.capacity_per_line_per_day,
                "imessage.capacity_per_line_per_day",
            )?,
            peak_factor: num(&mi.peak_factor, &bi.peak_factor, "imessage.peak_factor")?,
            days_per_month: num(
                &mi.days_per_month,
                &bi.days_per_month,
                "imessage.days_per_month",
            )?,
            contacts_per_verification: num(
                &mi.contacts_per_verification,
                &bi.contacts_per_verification,
                "imessage.contacts_per_verification",
            )?,
        };
        let (mf, bf) = (&mix.fallback, &base.fallback);
        let fallback_kind = pick(&mf.kind, &bf.kind)
            .map(Spanned::into_inner)
            .ok_or_else(|| missing("fallback.kind"))?;
        let fallback_other_countries = pick(&mf.other_countries, &bf.other_countries)
            .map(Spanned::into_inner)
            .ok_or_else(|| missing("fallback.other_countries"))?;
        let inbound_default = pick(&mf.inbound_usd_per_message, &bf.inbound_usd_per_message);

        let mut notes = Vec::new();
        let mut note_quote = |iso: &str, q: &Quote, role: &str| {
            let why = match q.source {
                QuoteSource::Listed => return,
                QuoteSource::NotInTable => "is not in the price table",
                QuoteSource::NoPriceInSnapshot => "has no price in this snapshot",
            };
            notes.push(format!(
                "{role} country {iso} {why}; priced at the fallback (\"Unknown\") row, ${:.4} per segment",
                q.usd_per_segment
            ));
        };
        let dest = |iso: &str, share: f64| {
            let quote = snapshot.quote(iso);
            Destination {
                iso: iso.to_string(),
                share,
                carrier_fee_usd: sms.carrier_fees_usd.get(iso).copied().unwrap_or(0.0),
                quote,
            }
        };

        // Countries of the mix.
        if mix.countries.is_empty() {
            return Err(CostError::invalid(
                mix_name,
                0,
                "countries",
                "the mix needs at least one country",
            ));
        }
        let mut total_weight = 0.0;
        for (iso, spec) in &mix.countries {
            mdoc.iso(iso, &format!("countries.{}", iso.get_ref()))?;
            let key = format!("countries.{}.weight", iso.get_ref());
            mdoc.num(&Some(spec.weight.clone()), &key, ">= 0", |v| v >= 0.0)?;
            let key = format!("countries.{}.imessage_share", iso.get_ref());
            mdoc.num(&spec.imessage_share, &key, "in [0, 1]", |v| {
                (0.0..=1.0).contains(&v)
            })?;
            let key = format!("countries.{}.inbound_usd_per_message", iso.get_ref());
            mdoc.num(&spec.inbound_usd_per_message, &key, ">= 0", |v| v >= 0.0)?;
            total_weight += *spec.weight.get_ref();
        }
        mdoc.num(&mix.imessage_share, "imessage_share", "in [0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        })?;
        if total_weight <= 0.0 || !total_weight.is_finite() {
            return Err(CostError::invalid(
                mix_name,
                0,
                "countries",
                "the country weights must sum to more than 0",
            ));
        }
        let mut countries = Vec::with_capacity(mix.countries.len());
        for (iso, spec) in &mix.countries {
            let imessage_share = spec
                .imessage_share
                .as_ref()
                .or(mix.imessage_share.as_ref())
                .map(|s| *s.get_ref())
                .ok_or_else(|| {
                    mdoc.err(
                        &spec.weight,
                        &format!("countries.{}.imessage_share", iso.get_ref()),
                        "missing: set it for the country or as a top-level default",
                    )
                })?;
            let fallback = spec
                .fallback
                .as_ref()
                .map_or(fallback_kind, |f| *f.get_ref());
            let inbound = spec
                .inbound_usd_per_message
                .clone()
                .or_else(|| inbound_default.clone())
                .map(Spanned::into_inner);
            let inbound_usd_per_message = match (fallback, inbound) {
                (_, Some(v)) => v,
                (FallbackKind::OutboundSms, None) => 0.0,
                (FallbackKind::InboundSms, None) => {
                    return Err(missing("fallback.inbound_usd_per_message"));
                }
            };
            let d = dest(iso.get_ref(), *spec.weight.get_ref() / total_weight);
            note_quote(iso.get_ref(), &d.quote, "mix");
            countries.push(CountryParams {
                dest: d,
                imessage_share,
                fallback,
                inbound_usd_per_message,
            });
        }
        if fallback_other_countries == FallbackKind::InboundSms && inbound_default.is_none() {
            return Err(missing("fallback.inbound_usd_per_message"));
        }

        // Pumping destinations.
        let weights = pick(&mix.pumping.weights, &base.pumping.weights)
            .ok_or_else(|| missing("pumping.weights"))?;
        let pump_total: f64 = weights.values().map(|w| *w.get_ref()).sum();
        let mut pumping = Vec::new();
        for (iso, w) in &weights {
            if *w.get_ref() > 0.0 {
                let d = dest(iso.get_ref(), *w.get_ref() / pump_total);
                note_quote(iso.get_ref(), &d.quote, "pumping");
                pumping.push(d);
            }
        }

        Ok(PricedMix {
            name: mix.name.unwrap_or_else(|| mix_name.to_string()),
            description: mix.description.unwrap_or_default(),
            mix_origin: mix_name.to_string(),
            prices_origin: pname,
            snapshot,
            sms,
            imessage,
            fallback_other_countries,
            default_inbound_usd_per_message: inbound_default.map(Spanned::into_inner),
            countries,
            pumping,
            notes,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(mix: &str) -> Result<PricedMix, CostError> {
        PricedMix::from_mix_text("mix.toml", mix, None, &LoadOptions::default())
    }

    const MIX: &str = r#"name = "t"
imessage_share = 0.5

[countries.US]
weight = 3

[countries.GB]
weight = 1
imessage_share = 0.4
fallback = "outbound_sms"
"#;

    #[test]
    fn mix_merges_over_builtin_prices() {
        let s = load(MIX).expect("valid mix");
        assert_eq!(s.countries.len(), 2);
        let gb = &s.countries[0];
        assert_eq!((gb.dest.iso.as_str(), gb.dest.share), ("GB", 0.25));
        assert_eq!(gb.fallback, FallbackKind::OutboundSms);
        let us = &s.countries[1];
        assert_eq!(
            (us.imessage_share, us.fallback),
            (0.5, FallbackKind::InboundSms)
        );
        assert_eq!(us.dest.carrier_fee_usd, 0.0045);
        assert_eq!(us.inbound_usd_per_message, 0.0113);
        assert_eq!(s.sms.verify_fee_usd, 0.05);
        assert_eq!(s.imessage.line_usd_per_month, 100.0);
        assert_eq!(s.pumping.len(), 26);
        assert!((s.pumping.iter().map(|d| d.share).sum::<f64>() - 1.0).abs() < 1e-12);
        let one_time = &s.sms.fixed_fees[1];
        assert!((one_time.monthly_usd - 110.5 / 12.0).abs() < 1e-12);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn overrides_win_and_unknown_countries_are_noted() {
        let mix = format!(
            "{MIX}\n[countries.XK]\nweight = 1\n\n[sms]\nverify_fee_usd = 0\n\n[imessage]\nline_usd_per_month = 399\n"
        );
        let s = load(&mix).expect("valid mix");
        assert_eq!(s.sms.verify_fee_usd, 0.0);
        assert_eq!(s.imessage.line_usd_per_month, 399.0);
        assert_eq!(
            s.sms.resend_rate, 0.05,
            "untouched keys keep the price file's value"
        );
        assert_eq!(s.notes.len(), 1);
        assert!(
            s.notes[0].contains("XK is not in the price table"),
            "{:?}",
            s.notes
        );
    }

    fn err(mix: &str) -> String {
        load(mix).expect_err("must fail").to_string()
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let e = err(&crate::test_files::replaced(
            MIX,
            "weight = 1\n",
            "weight = 1\nweigth = 2\n",
        ));
        assert!(e.starts_with("mix.toml:9: `weigth`:"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
        let e = err(&format!("{MIX}\n[imessage]\nline_price = 5\n"));
        assert!(e.starts_with("mix.toml:13: `line_price`:"), "{e}");
        let e = err(&format!("bogus = 1\n{MIX}"));
        assert!(e.starts_with("mix.toml:1: `bogus`:"), "{e}");
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = err(&crate::test_files::replaced(
            MIX,
            "imessage_share = 0.4",
            "imessage_share = 1.4",
        ));
        assert!(
            e.starts_with("mix.toml:9: `countries.GB.imessage_share`: must be in [0, 1]"),
            "{e}"
        );
        let e = err(&crate::test_files::replaced(
            MIX,
            "weight = 3",
            "weight = \"three\"",
        ));
        assert!(e.starts_with("mix.toml:5: `weight`:"), "{e}");
        let e = err(&crate::test_files::replaced(
            MIX,
            "\"outbound_sms\"",
            "\"carrier_pigeon\"",
        ));
        assert!(e.starts_with("mix.toml:10: `fallback`:"), "{e}");
        let e = err(&crate::test_files::replaced(
            MIX,
            "[countries.GB]",
            "[countries.gb]",
        ));
        assert!(
            e.starts_with("mix.toml:7: `countries.gb`: \"gb\" is not an ISO 3166-1")
                && e.ends_with("did you mean GB?"),
            "{e}"
        );
        // A code that only looks like one is refused the same way, at its line.
        for (wrong, hint) in [("UK", "; did you mean GB?"), ("XX", "")] {
            let e = err(&crate::test_files::replaced(
                MIX,
                "[countries.GB]",
                &format!("[countries.{wrong}]"),
            ));
            assert!(
                e.starts_with(&format!("mix.toml:7: `countries.{wrong}`:")),
                "{e}"
            );
            assert!(
                e.ends_with(&format!("country code like \"US\"{hint}")),
                "{e}"
            );
        }
        let e = err(&format!("{MIX}\n[sms]\nresend_rate = -1\n"));
        assert!(
            e.starts_with("mix.toml:13: `resend_rate`: must be in [0, 10]"),
            "{e}"
        );
        let e = err(&format!("{MIX}\n[sms]\nprice_date = \"2026-02-30\"\n"));
        assert!(e.starts_with("mix.toml:13: `price_date`:"), "{e}");
        let e = err("[countries.US]\nweight = 1\n");
        assert!(e.contains("countries.US.imessage_share`: missing"), "{e}");
        let e = err("imessage_share = 0.5\n[countries.US]\nweight = 0\n");
        assert!(e.contains("sum to more than 0"), "{e}");
        let e = err(
            "imessage_share = 0.5\n[countries.US]\nweight = 1\n[imessage]\npeak_factor = 0.5\n",
        );
        assert!(e.starts_with("mix.toml:5: `peak_factor`"), "{e}");
    }

    #[test]
    fn builtin_prices_parse() {
        let doc = Doc {
            name: BUILTIN_PRICES_NAME,
            text: BUILTIN_PRICES,
        };
        let p: PricesFile = doc.parse().expect("built-in prices parse");
        validate_all(&doc, &p.sms, &p.imessage, &p.fallback, &p.pumping).expect("valid");
    }
}
