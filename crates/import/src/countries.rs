//! The countries a log can name, in one fixed order (the index the defences see), and the
//! dated list price of each, from the same tables the simulator and the server use:
//! `mo2fa_core::dialing` (calling codes) and `mo2fa_cost::prices` (the dated price table).

use crate::error::ImportError;
use crate::time::DAY_MS;
use mo2fa_cost::prices::{Date, PriceTable, QuoteSource};
use rustc_hash::FxHashMap;

/// Every ISO code of the calling-code table, sorted; the index of a code is its country index.
pub struct Countries {
    pub iso: Vec<String>,
    index: FxHashMap<[u8; 2], u16>,
}

impl Countries {
    pub fn builtin() -> Self {
        let (mut reader, _) =
            mo2fa_core::dialing::commented_csv(mo2fa_core::dialing::BUILTIN_TABLE);
        let mut iso: Vec<String> = reader
            .records()
            .filter_map(Result::ok)
            .filter_map(|r| r.get(1).map(str::to_string))
            .filter(|s| mo2fa_core::dialing::is_iso_code(s))
            .collect();
        iso.sort();
        iso.dedup();
        let index = iso
            .iter()
            .enumerate()
            .map(|(i, s)| ([s.as_bytes()[0], s.as_bytes()[1]], i as u16))
            .collect();
        Countries { iso, index }
    }

    /// The index of an ISO code the table lists.
    pub fn index(&self, iso: &str) -> Option<u16> {
        let b = iso.as_bytes();
        if b.len() != 2 {
            return None;
        }
        self.index.get(&[b[0], b[1]]).copied()
    }

    pub fn name(&self, i: u16) -> &str {
        &self.iso[usize::from(i)]
    }

    pub fn len(&self) -> usize {
        self.iso.len()
    }

    pub fn is_empty(&self) -> bool {
        self.iso.is_empty()
    }
}

/// One dated column of the price table, as a price per country index.
struct Column {
    from_ms: u64,
    date: Date,
    usd: Vec<f64>,
    listed: Vec<bool>,
}

/// List prices per segment by country and date: a send is priced from the newest snapshot on
/// or before its day (the oldest snapshot for sends before it), or from one snapshot for all
/// when the user names a date.
pub struct Prices {
    columns: Vec<Column>,
    pub origin: String,
}

impl Prices {
    pub fn new(countries: &Countries, fixed: Option<Date>) -> Result<Self, ImportError> {
        let table = PriceTable::builtin()?;
        let mut dates: Vec<Date> = match fixed {
            Some(d) => vec![table.snapshot(Some(d))?.date()],
            None => table.dates().to_vec(),
        };
        dates.sort();
        let mut columns = Vec::new();
        let mut origin = String::new();
        for (k, date) in dates.iter().enumerate() {
            let snap = table.snapshot(Some(*date))?;
            origin = snap.origin().to_string();
            let (usd, listed) = countries
                .iso
                .iter()
                .map(|iso| {
                    let q = snap.quote(iso);
                    (q.usd_per_segment, q.source == QuoteSource::Listed)
                })
                .unzip();
            let from_ms = if k == 0 { 0 } else { date_ms(*date) };
            columns.push(Column {
                from_ms,
                date: *date,
                usd,
                listed,
            });
        }
        Ok(Prices { columns, origin })
    }

    fn column(&self, ts_ms: u64) -> &Column {
        let i = self.columns.partition_point(|c| c.from_ms <= ts_ms);
        &self.columns[i.saturating_sub(1)]
    }

    /// Price of one segment to `country` at `ts_ms`, and whether the snapshot lists it.
    pub fn per_segment(&self, country: u16, ts_ms: u64) -> (f64, bool) {
        let c = self.column(ts_ms);
        (c.usd[usize::from(country)], c.listed[usize::from(country)])
    }

    /// The snapshot date used at `ts_ms`.
    pub fn date_at(&self, ts_ms: u64) -> Date {
        self.column(ts_ms).date
    }

    /// Snapshot dates in use.
    pub fn dates(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.date.to_string()).collect()
    }
}

/// The day a row's timestamp falls on, as a price-table date.
pub fn date_of(ts_ms: u64) -> Option<Date> {
    crate::time::day_string(ts_ms / DAY_MS).parse().ok()
}

fn date_ms(d: Date) -> u64 {
    crate::time::parse_ms(&format!("{d}T00:00:00Z")).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_list_and_dated_prices() {
        let c = Countries::builtin();
        assert!(c.len() > 200);
        let us = c.index("US").unwrap();
        assert_eq!(c.name(us), "US");
        assert_eq!(c.index("UK"), None);
        let p = Prices::new(&c, None).unwrap();
        let early = crate::time::parse_ms("2024-02-01T00:00:00Z").unwrap();
        let late = crate::time::parse_ms("2026-06-01T00:00:00Z").unwrap();
        assert_eq!(p.date_at(early).to_string(), "2024-01-23");
        assert_eq!(p.date_at(late).to_string(), "2026-05-25");
        assert_eq!(
            p.date_at(0).to_string(),
            "2024-01-23",
            "before the oldest: the oldest"
        );
        let table = PriceTable::builtin().unwrap();
        let want = table
            .snapshot(date_of(late))
            .unwrap()
            .quote("US")
            .usd_per_segment;
        assert_eq!(p.per_segment(us, late).0, want);
    }
}
