//! The per-country outbound SMS price table (Twilio list prices, several dated snapshots).
//!
//! Snapshots are chosen by date because prices moved a lot between 2024 and 2026 (the median
//! destination rose about 80%); a finance comparison must say which price list it used.

use super::error::{CostError, line_of};
use mo2fa_core::dialing::commented_csv;
pub use mo2fa_core::dialing::is_iso_code;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The price table shipped with the crate, so `mo2fa cost` works from any directory.
pub const BUILTIN_TABLE: &str = include_str!("../../../scenarios/data/sms_prices.csv");
/// Name the built-in table is reported under in messages.
pub const BUILTIN_TABLE_NAME: &str = "<built-in>/scenarios/data/sms_prices.csv";

/// Column-name prefix of a price snapshot; the rest of the name is its date.
const SNAPSHOT_PREFIX: &str = "max_usd_per_segment_";

/// A calendar day. Ordering is chronological because fields compare year, month, day in turn.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A valid Gregorian date, or `None`.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (day >= 1 && day <= days).then_some(Date { year, month, day })
    }
}

impl FromStr for Date {
    type Err = String;

    /// Accepts exactly `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a date of the form YYYY-MM-DD");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, String> {
            let part = s.get(r).ok_or_else(bad)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u16>().map_err(|_| bad())
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (m, d) = (
            u8::try_from(m).map_err(|_| bad())?,
            u8::try_from(d).map_err(|_| bad())?,
        );
        Date::new(y, m, d).ok_or_else(|| format!("{s:?} is not a calendar date"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[derive(Clone, Debug)]
struct Row {
    name: String,
    /// One entry per snapshot, in column order; `None` where the snapshot lists no price.
    prices: Vec<Option<f64>>,
}

/// All snapshots of the price table.
///
/// Invariants: at least one snapshot; every row has one entry per snapshot; the fallback row
/// ("Unknown", empty ISO code) exists and has a price in every snapshot.
#[derive(Clone, Debug)]
pub struct PriceTable {
    origin: String,
    dates: Vec<Date>,
    fallback: Vec<f64>,
    rows: BTreeMap<String, Row>,
}

impl PriceTable {
    /// The table compiled into the crate (a copy of `scenarios/data/sms_prices.csv`).
    pub fn builtin() -> Result<Self, CostError> {
        Self::parse(BUILTIN_TABLE_NAME, BUILTIN_TABLE)
    }

    /// Reads and parses a table file.
    pub fn load(path: &Path) -> Result<Self, CostError> {
        let text = std::fs::read_to_string(path).map_err(|source| CostError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses a table. `origin` names the file in error messages. Lines starting with `#` are
    /// comments (provenance headers).
    pub fn parse(origin: &str, text: &str) -> Result<Self, CostError> {
        let (mut reader, header_line) = commented_csv(text);
        let headers = reader
            .headers()
            .map_err(|e| CostError::invalid(origin, header_line, "header", e.to_string()))?
            .clone();
        let dates = snapshot_dates(origin, header_line, &headers)?;
        let mut fallback = None;
        let mut rows = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                CostError::invalid(origin, line, "record", e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let bad = |key: &str, msg: String| CostError::invalid(origin, line, key, msg);
            let iso = record.get(0).unwrap_or("").trim().to_string();
            let name = record.get(1).unwrap_or("").trim().to_string();
            let prices = row_prices(&record, &headers, dates.len(), bad)?;
            if iso.is_empty() {
                if fallback.is_some() {
                    return Err(bad(
                        "iso",
                        "more than one fallback row (empty ISO code)".into(),
                    ));
                }
                fallback = Some(fallback_prices(&prices, &headers, bad)?);
                continue;
            }
            if !is_iso_code(&iso) {
                return Err(bad(
                    "iso",
                    format!("{iso:?} is not a two-letter upper-case ISO 3166-1 code"),
                ));
            }
            if rows.insert(iso.clone(), Row { name, prices }).is_some() {
                return Err(bad("iso", format!("duplicate country {iso:?}")));
            }
        }
        let fallback = fallback.ok_or_else(|| {
            CostError::invalid(
                origin,
                line_of(text, text.len()),
                "iso",
                "missing the fallback row (empty ISO code, e.g. `,Unknown,0.1,...`)",
            )
        })?;
        Ok(PriceTable {
            origin: origin.to_string(),
            dates,
            fallback,
            rows,
        })
    }

    /// Whether `iso` has a row in the table (priced or not in a given snapshot).
    pub fn lists(&self, iso: &str) -> bool {
        self.rows.contains_key(iso)
    }

    /// Snapshot dates in column order.
    pub fn dates(&self) -> &[Date] {
        &self.dates
    }

    /// The newest snapshot dated on or before `on_or_before`, or the newest of all when `None`.
    pub fn snapshot(&self, on_or_before: Option<Date>) -> Result<PriceSnapshot, CostError> {
        let pick = self
            .dates
            .iter()
            .enumerate()
            .filter(|(_, d)| on_or_before.is_none_or(|limit| **d <= limit))
            .max_by_key(|(_, d)| **d);
        let Some((idx, &date)) = pick else {
            let earliest = self
                .dates
                .iter()
                .min()
                .map_or(String::new(), |d| d.to_string());
            let asked = on_or_before.map_or(String::new(), |d| d.to_string());
            return Err(CostError::invalid(
                &self.origin,
                0,
                "price_date",
                format!("no snapshot on or before {asked}; the earliest is {earliest}"),
            ));
        };
        let prices = self
            .rows
            .iter()
            .map(|(iso, row)| (iso.clone(), (row.name.clone(), row.prices[idx])))
            .collect();
        Ok(PriceSnapshot {
            origin: self.origin.clone(),
            date,
            fallback_usd: self.fallback[idx],
            prices,
        })
    }
}

/// How a price was found; anything but `Listed` is reported to the user.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QuoteSource {
    /// The country has a price in the chosen snapshot.
    Listed,
    /// The country is not in the table; priced at the fallback ("Unknown") row.
    NotInTable,
    /// The country is in the table but this snapshot has no price; priced at the fallback row.
    NoPriceInSnapshot,
}

/// The price of one outbound segment to a country.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    pub usd_per_segment: f64,
    pub country_name: String,
    pub source: QuoteSource,
}

/// One dated column of the table.
#[derive(Clone, Debug)]
pub struct PriceSnapshot {
    origin: String,
    date: Date,
    fallback_usd: f64,
    prices: BTreeMap<String, (String, Option<f64>)>,
}

impl PriceSnapshot {
    pub fn date(&self) -> Date {
        self.date
    }

    /// The file the snapshot came from, for reports.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Twilio's fallback price for destinations it does not list.
    pub fn fallback_usd(&self) -> f64 {
        self.fallback_usd
    }

    /// Price per outbound segment to `iso`. Never fails: unlisted countries get the fallback
    /// price, and `source` says so.
    pub fn quote(&self, iso: &str) -> Quote {
        match self.prices.get(iso) {
            Some((name, Some(p))) => Quote {
                usd_per_segment: *p,
                country_name: name.clone(),
                source: QuoteSource::Listed,
            },
            Some((name, None)) => Quote {
                usd_per_segment: self.fallback_usd,
                country_name: name.clone(),
                source: QuoteSource::NoPriceInSnapshot,
            },
            None => Quote {
                usd_per_segment: self.fallback_usd,
                country_name: format!("{iso} (not in price table)"),
                source: QuoteSource::NotInTable,
            },
        }
    }
}

/// The header's snapshot columns (`usd_YYYY-MM-DD`, after `iso,country`), each date once.
fn snapshot_dates(
    origin: &str,
    header_line: usize,
    headers: &csv::StringRecord,
) -> Result<Vec<Date>, CostError> {
    let col = |i: usize| headers.get(i).unwrap_or("").trim();
    let bad = |key: &str, msg: String| CostError::invalid(origin, header_line, key, msg);
    if col(0) != "iso" || col(1) != "country" {
        return Err(bad(
            "header",
            "the first two columns must be `iso,country`".into(),
        ));
    }
    let mut dates = Vec::new();
    for i in 2..headers.len() {
        let name = col(i);
        let date = name
            .strip_prefix(SNAPSHOT_PREFIX)
            .ok_or_else(|| format!("expected a column named {SNAPSHOT_PREFIX}YYYY-MM-DD"))
            .and_then(|d| d.parse::<Date>())
            .map_err(|m| bad(name, m))?;
        if dates.contains(&date) {
            return Err(bad(name, "duplicate snapshot date".into()));
        }
        dates.push(date);
    }
    if dates.is_empty() {
        return Err(bad("header", "no price snapshot columns".into()));
    }
    Ok(dates)
}

/// One row's price per snapshot; an empty cell is no price in that snapshot.
fn row_prices(
    record: &csv::StringRecord,
    headers: &csv::StringRecord,
    snapshots: usize,
    bad: impl Fn(&str, String) -> CostError,
) -> Result<Vec<Option<f64>>, CostError> {
    let mut prices = Vec::with_capacity(snapshots);
    for i in 0..snapshots {
        let field = record.get(i + 2).unwrap_or("").trim();
        if field.is_empty() {
            prices.push(None);
            continue;
        }
        match field
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
        {
            Some(v) => prices.push(Some(v)),
            None => {
                let column = headers.get(i + 2).unwrap_or("").trim();
                return Err(bad(
                    column,
                    format!("{field:?} is not a non-negative price"),
                ));
            }
        }
    }
    Ok(prices)
}

/// The fallback row's prices: it needs one in every snapshot.
fn fallback_prices(
    prices: &[Option<f64>],
    headers: &csv::StringRecord,
    bad: impl Fn(&str, String) -> CostError,
) -> Result<Vec<f64>, CostError> {
    let mut all = Vec::with_capacity(prices.len());
    for (i, p) in prices.iter().enumerate() {
        let column = headers.get(i + 2).unwrap_or("").trim();
        all.push(p.ok_or_else(|| {
            bad(
                column,
                "the fallback row needs a price in every snapshot".into(),
            )
        })?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().expect("valid test date")
    }

    const SMALL: &str = "# provenance line\n\
iso,country,max_usd_per_segment_2024-01-23,max_usd_per_segment_2025-01-07\n\
,Unknown,0.1,0.2\n\
US,United States,0.0079,0.0083\n\
SS,South Sudan,,0.24\n";

    #[test]
    fn dates_parse_and_order() {
        assert!(d("2024-01-23") < d("2024-04-29"));
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-32",
            "abcd-ef-gh",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn snapshot_is_newest_on_or_before_the_date() {
        let t = PriceTable::parse("t.csv", SMALL).expect("parses");
        assert_eq!(t.snapshot(None).expect("newest").date(), d("2025-01-07"));
        let s = t.snapshot(Some(d("2024-12-31"))).expect("older");
        assert_eq!(s.date(), d("2024-01-23"));
        assert_eq!(s.quote("US").usd_per_segment, 0.0079);
        assert_eq!(
            t.snapshot(Some(d("2025-01-07"))).expect("same day").date(),
            d("2025-01-07")
        );
        let err = t.snapshot(Some(d("2023-01-01"))).expect_err("too early");
        assert!(err.to_string().contains("earliest is 2024-01-23"), "{err}");
    }

    #[test]
    fn snapshot_choice_does_not_depend_on_column_order() {
        // An older snapshot appended as the last column (as a newly found copy would be).
        let table = "iso,country,max_usd_per_segment_2024-01-23,max_usd_per_segment_2025-01-07,\
max_usd_per_segment_2022-12-01\n,Unknown,0.1,0.2,0.05\nUS,United States,0.0079,0.0083,0.0075\n";
        let t = PriceTable::parse("t.csv", table).expect("parses");
        assert_eq!(t.snapshot(None).expect("newest").date(), d("2025-01-07"));
        let old = t.snapshot(Some(d("2023-06-30"))).expect("old");
        assert_eq!(
            (old.date(), old.quote("US").usd_per_segment),
            (d("2022-12-01"), 0.0075)
        );
        let mid = t.snapshot(Some(d("2024-06-01"))).expect("mid");
        assert_eq!(mid.quote("US").usd_per_segment, 0.0079);
        let err = t.snapshot(Some(d("2022-11-30"))).expect_err("too early");
        assert!(err.to_string().contains("earliest is 2022-12-01"), "{err}");
    }

    #[test]
    fn unknown_and_unpriced_countries_use_the_fallback_row() {
        let t = PriceTable::parse("t.csv", SMALL).expect("parses");
        let old = t.snapshot(Some(d("2024-06-01"))).expect("snapshot");
        let q = old.quote("SS");
        assert_eq!(
            (q.usd_per_segment, q.source),
            (0.1, QuoteSource::NoPriceInSnapshot)
        );
        let q = old.quote("ZZ");
        assert_eq!(
            (q.usd_per_segment, q.source),
            (0.1, QuoteSource::NotInTable)
        );
        let new = t.snapshot(None).expect("snapshot");
        assert_eq!(new.quote("SS").source, QuoteSource::Listed);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let bad = crate::test_files::replaced(SMALL, "0.0083", "cheap");
        let err = PriceTable::parse("t.csv", &bad)
            .expect_err("bad price")
            .to_string();
        assert!(
            err.starts_with("t.csv:4: max_usd_per_segment_2025-01-07: "),
            "{err}"
        );
        let bad = crate::test_files::replaced(SMALL, ",Unknown,0.1,0.2\n", "");
        let err = PriceTable::parse("t.csv", &bad)
            .expect_err("no fallback")
            .to_string();
        assert!(err.contains("fallback row"), "{err}");
        let bad = crate::test_files::replaced(SMALL, "US,", "usa,");
        let err = PriceTable::parse("t.csv", &bad)
            .expect_err("bad iso")
            .to_string();
        assert!(err.starts_with("t.csv:4: iso: "), "{err}");
        let bad = crate::test_files::replaced(SMALL, "_2025-01-07", "_2025-02-30");
        let err = PriceTable::parse("t.csv", &bad)
            .expect_err("bad date")
            .to_string();
        assert!(err.starts_with("t.csv:2:"), "{err}");
    }

    #[test]
    fn builtin_table_loads_with_five_snapshots() {
        let t = PriceTable::builtin().expect("built-in table parses");
        assert_eq!(t.dates().len(), 5);
        let s = t.snapshot(None).expect("newest");
        assert_eq!(s.date(), d("2026-05-25"));
        assert_eq!(s.quote("US").usd_per_segment, 0.0083);
        assert_eq!(s.quote("RU").usd_per_segment, 0.7522);
        assert_eq!(s.fallback_usd(), 0.1);
    }
}
