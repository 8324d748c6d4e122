//! `mo2fa fit`: a scenario for `mo2fa run` fitted to a log, so a team can sweep defences over
//! its own traffic's shape.
//!
//! - Time: the scenario starts at the UTC midnight before the log's first send and lasts to the
//!   end of the hour of its last (virtual time 0 is that midnight, so the diurnal phase holds).
//! - Attacks: the likely-pumping cells of [`crate::analysis::Analysis::suspects`], grouped into
//!   episodes of suspect hours (a gap of one quiet hour joins them), become `sms_pumping`
//!   attackers: a `ramp` through each hour's rate (its integral is the episode's count
//!   exactly), the episode's countries as `targets`, its distinct number ranges as `ranges`.
//!   At most [`MAX_EPISODES`] (the largest); the others stay legit traffic.
//! - Legit users: the rest; `rate_per_s` such that the diurnal curve's integral over the
//!   scenario is the legit count, `diurnal_amplitude` the first harmonic of the hour-of-day
//!   profile (the simulator's curve peaks at noon UTC), the country mix, and `p_send` the legit
//!   conversion (0.93, assumed, when the log has none).
//! - Prices: one `[[carrier]]` per country (`name = "fitted"`, share 1) at the log's mean spend
//!   per SMS to that country, so the run's spend follows the log's.
//!
//! The run's SMS count and spend then match the log's in expectation (the test holds them
//! within 5 %); what the log cannot tell (delays, iMessage shares, fallbacks) is written as a
//! commented assumption.

use crate::analysis::{Analysis, Rule, Suspects};
use crate::countries::{Countries, Prices};
use crate::error::ImportError;
use crate::formats::Format;
use crate::reverse::Shares;
use crate::scan::{BadRow, Scanner};
use crate::time::{DAY_MS, HOUR_MS};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Attack episodes written as attackers.
pub const MAX_EPISODES: usize = 50;
/// Hours a scenario may last (the simulator's limit, 400 days).
pub const MAX_HOURS: u64 = 400 * 24;
/// Distinct number ranges counted per episode and country.
pub const MAX_RANGES: usize = 10_000;
/// `p_send` when the log has no conversion (the template's value, assumed).
pub const DEFAULT_P_SEND: f64 = 0.93;

/// A fitted scenario and the figures it was fitted to.
pub struct Fitted {
    pub toml: String,
    pub legit_sms: u64,
    pub legit_rate_per_s: f64,
    pub attackers: usize,
    pub attack_sms: u64,
    pub log_sms: u64,
    pub log_spend_usd: f64,
}

/// Suspect hours grouped: first and last hour (since the epoch), sends per hour and country.
struct Episode {
    first: u32,
    last: u32,
    cells: BTreeMap<(u32, u16), u64>,
    ranges: FxHashMap<u16, FxHashSet<u64>>,
}

impl Episode {
    fn sms(&self) -> u64 {
        self.cells.values().sum()
    }
}

fn episodes(s: &Suspects) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    let mut cells: Vec<_> = s.cells.iter().collect();
    cells.sort_by_key(|(k, _)| **k);
    for (&(h, c), &(n, _)) in cells {
        match out.last_mut() {
            Some(e) if h <= e.last + 2 => {
                e.last = e.last.max(h);
                e.cells.insert((h, c), n);
            }
            _ => out.push(Episode {
                first: h,
                last: h,
                cells: BTreeMap::from([((h, c), n)]),
                ranges: FxHashMap::default(),
            }),
        }
    }
    out.sort_by(|a, b| b.sms().cmp(&a.sms()).then(a.first.cmp(&b.first)));
    out.truncate(MAX_EPISODES);
    out.sort_by_key(|e| e.first);
    out
}

/// Reads the log (twice: the second pass counts the attacks' number ranges) and writes the
/// scenario's text.
pub fn fit(
    files: &[PathBuf],
    format: Format,
    strict: bool,
    seed: u64,
    shares: &Shares,
    on_bad: &mut dyn FnMut(&BadRow),
) -> Result<Fitted, ImportError> {
    let countries = Countries::builtin();
    let prices = Prices::new(&countries, None)?;
    let scanner = Scanner {
        countries: &countries,
        prices: &prices,
        format,
        strict,
    };
    let mut a = Analysis::new(countries.len());
    let stats = scanner.scan(files, &mut |s| a.add(s), on_bad)?;
    a.finish();
    if a.total.sms == 0 {
        return Err(ImportError::Empty {
            bad: stats.bad,
            skipped: stats.skipped_total(),
        });
    }
    let suspects = a.suspects();
    let mut eps = episodes(&suspects);
    // A scenario lasts at most 400 days: episodes past that stay out (docs/import.md).
    let start_h = a.first_ms / DAY_MS * DAY_MS / HOUR_MS;
    eps.retain(|e| u64::from(e.last) + 1 - start_h <= MAX_HOURS);
    // Second pass: the number ranges each episode's sends went to.
    let mut owner: FxHashMap<u32, usize> = FxHashMap::default();
    for (i, e) in eps.iter().enumerate() {
        for h in e.first..=e.last {
            owner.insert(h, i);
        }
    }
    let conversion_rule = suspects.rule == Rule::Conversion;
    scanner.scan(
        files,
        &mut |s| {
            let h = (s.ts_ms / HOUR_MS) as u32;
            let Some(&i) = owner.get(&h) else { return };
            let e = &mut eps[i];
            if !e.cells.contains_key(&(h, s.country))
                || (conversion_rule && s.converted != Some(false))
            {
                return;
            }
            let set = e.ranges.entry(s.country).or_default();
            if set.len() < MAX_RANGES {
                set.insert(s.number / 10_000);
            }
        },
        &mut |_| {},
    )?;
    Ok(write(&a, &eps, &countries, seed, shares, format))
}

/// Legit sends per country and per hour of the day, once the episodes' sends are taken out.
fn legit(a: &Analysis, eps: &[Episode]) -> (Vec<u64>, [f64; 24], u64) {
    let mut attack: FxHashMap<(u32, u16), u64> = FxHashMap::default();
    for e in eps {
        attack.extend(e.cells.iter().map(|(k, v)| (*k, *v)));
    }
    let mut per_country: Vec<u64> = a.by_country.iter().map(|c| c.sms).collect();
    let mut hod = [0f64; 24];
    let mut attack_unconverted = 0u64;
    for ((h, c), agg) in &a.buckets.map {
        let att = attack.get(&(*h, *c)).copied().unwrap_or(0).min(agg.sms);
        per_country[usize::from(*c)] -= att;
        hod[(*h % 24) as usize] += (agg.sms - att) as f64;
        attack_unconverted += att.min(agg.unconverted);
    }
    (per_country, hod, attack_unconverted)
}

/// The first harmonic of the hour-of-day profile against the simulator's
/// `1 + a·sin(2π(day − 0.25))`, clamped to [0, 1].
fn amplitude(hod: &[f64; 24]) -> f64 {
    let total: f64 = hod.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let s: f64 = hod
        .iter()
        .enumerate()
        .map(|(i, n)| n * (std::f64::consts::TAU * ((i as f64 + 0.5) / 24.0 - 0.25)).sin())
        .sum();
    (2.0 * s / total).clamp(0.0, 1.0)
}

/// ∫ (1 + a·sin(2π(day − 0.25))) over `days` days, in days.
fn diurnal_days(a: f64, days: f64) -> f64 {
    let w = std::f64::consts::TAU;
    days + a / w * ((w * -0.25).cos() - (w * (days - 0.25)).cos())
}

fn write(
    a: &Analysis,
    eps: &[Episode],
    countries: &Countries,
    seed: u64,
    shares: &Shares,
    format: Format,
) -> Fitted {
    let start_h = (a.first_ms / DAY_MS * DAY_MS / HOUR_MS) as u32;
    let hours = (a.last_ms / HOUR_MS + 1 - u64::from(start_h)).clamp(1, MAX_HOURS);
    let (per_country, hod, attack_unconverted) = legit(a, eps);
    let legit_sms: u64 = per_country.iter().sum();
    let amp = amplitude(&hod);
    let days = hours as f64 / 24.0;
    let rate = legit_sms as f64 / (diurnal_days(amp, days) * 86_400.0);
    let known_legit = (a.total.converted + a.total.unconverted).saturating_sub(attack_unconverted);
    let p_send = if known_legit > 0 {
        (a.total.converted as f64 / known_legit as f64).clamp(0.01, 1.0)
    } else {
        DEFAULT_P_SEND
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Fitted by `mo2fa fit` to a {} log: {} SMS, ${:.2}, {} to {} (UTC).\n# Fitted: legit rate, diurnal amplitude, country mix, p_send (the legit conversion), the\n# attack episodes and the mean price per SMS per country. Assumed (the log cannot say):\n# send delays, the provider's latency, iMessage shares (data/imessage_share.csv: StatCounter\n# iOS share, an upper bound) and the inbound-SMS fallback. docs/import.md explains each.",
        format.name(),
        a.total.sms,
        a.total.spend_usd,
        mo2fa_core::timefmt::rfc3339_ms(a.first_ms),
        mo2fa_core::timefmt::rfc3339_ms(a.last_ms)
    );
    let _ = writeln!(
        t,
        "description = \"Fitted to an imported {} log\"\nseed = {seed}\nduration = \"{hours}h\"\ninterval = \"1h\"\nflows = [\"reverse\", \"sms\"]\n",
        format.name()
    );
    let _ = writeln!(
        t,
        "[legit]\n# {legit_sms} legit sends over {hours} h.\nrate_per_s = {rate:.6}\ndiurnal_amplitude = {amp:.4}\np_send = {p_send:.4}\n# Assumed: the log has no send delays.\nsend_delay_median = \"12s\"\nsend_delay_sigma = 0.5"
    );
    let mut priced: Vec<u16> = Vec::new();
    for (i, n) in per_country.iter().enumerate().filter(|(_, n)| **n > 0) {
        let iso = countries.name(i as u16);
        let (share, _) = shares.get(iso);
        let _ = writeln!(
            t,
            "countries.{iso} = {{ weight = {n}, imessage = {share:.3}, fallback = \"inbound_sms\" }}"
        );
        priced.push(i as u16);
    }
    t.push_str("\n[emitter]\n# Assumed: the provider's delivery latency is not in an SMS log.\nlatency_median = \"400ms\"\n");
    let mut attack_sms = 0;
    for (k, e) in eps.iter().enumerate() {
        attack_sms += e.sms();
        attacker(&mut t, k, e, start_h, countries);
        for c in e.cells.keys().map(|k| k.1) {
            if !priced.contains(&c) {
                priced.push(c);
            }
        }
    }
    priced.sort_unstable();
    for c in priced {
        let agg = &a.by_country[usize::from(c)];
        let per_sms = agg.spend_usd / agg.sms.max(1) as f64;
        let _ = writeln!(
            t,
            "\n[[carrier]]\n# The log's mean spend per SMS to {iso} ({} SMS).\ncountry = \"{iso}\"\nname = \"fitted\"\nshare = 1.0\nprice_usd = {per_sms:.6}",
            agg.sms,
            iso = countries.name(c)
        );
    }
    Fitted {
        toml: t,
        legit_sms,
        legit_rate_per_s: rate,
        attackers: eps.len(),
        attack_sms,
        log_sms: a.total.sms,
        log_spend_usd: a.total.spend_usd,
    }
}

fn attacker(t: &mut String, k: usize, e: &Episode, start_h: u32, countries: &Countries) {
    let n_hours = (e.last - e.first + 1) as usize;
    let mut per_hour = vec![0u64; n_hours];
    let mut per_country: BTreeMap<&str, u64> = BTreeMap::new();
    for ((h, c), n) in &e.cells {
        per_hour[(h - e.first) as usize] += n;
        *per_country.entry(countries.name(*c)).or_default() += n;
    }
    let targets: Vec<String> = per_country
        .iter()
        .map(|(iso, n)| format!("{iso} = {n}"))
        .collect();
    let ranges = e
        .ranges
        .values()
        .map(FxHashSet::len)
        .max()
        .unwrap_or(1)
        .max(1);
    let ramp: Vec<String> = per_hour
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{{ at = \"{}m\", per_s = {:.6} }}",
                30 + 60 * i,
                *n as f64 / 3600.0
            )
        })
        .collect();
    let _ = writeln!(
        t,
        "\n[[attacker]]\n# Episode {}: {} likely-pumped SMS in {n_hours} h.\nkind = \"sms_pumping\"\nname = \"fitted episode {}\"\nstart = \"{}h\"\nend = \"{}h\"\nshape = \"ramp\"\nramp = [{}]\ntargets = {{ {} }}\nnumbers = \"random\"\nrange_size = 10000\nranges = {ranges}",
        k + 1,
        e.sms(),
        k + 1,
        e.first - start_h,
        e.last + 1 - start_h,
        ramp.join(", "),
        targets.join(", ")
    );
}
