//! Per-carrier SMS prices: the compiled-in `scenarios/data/carrier_prices.csv` (Twilio's
//! per-carrier rows for a few countries, one snapshot; provenance in scenarios/data/README.md).
//!
//! A `[[carrier]]` without `price_usd` is priced from this table when it lists the carrier by
//! country and name and the run prices from a snapshot dated on or after the table's; else at
//! its country's list price.

use mo2fa_cost::prices::Date;

/// The table, compiled in.
pub const BUILTIN_TABLE: &str = include_str!("../../../scenarios/data/carrier_prices.csv");

/// One row: a carrier of a country and its list price per segment.
#[derive(Clone, Debug, PartialEq)]
pub struct CarrierPrice {
    pub iso: String,
    pub carrier: String,
    pub usd_per_segment: f64,
    pub snapshot: Date,
}

/// Parses the table (`#` comment lines, a header `iso,carrier,usd_per_segment,snapshot`, then
/// rows); an error names the line.
pub fn parse(text: &str) -> Result<Vec<CarrierPrice>, String> {
    let mut rows = Vec::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !header {
            if line != "iso,carrier,usd_per_segment,snapshot" {
                return Err(format!("line {}: unexpected header {line:?}", i + 1));
            }
            header = true;
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| format!("line {}: {what}", i + 1);
        let [iso, carrier, price, snapshot] = fields[..] else {
            return Err(bad("expected 4 fields"));
        };
        if iso.len() != 2 || !iso.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("iso is not an ISO 3166-1 alpha-2 code"));
        }
        let usd_per_segment: f64 = price
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| bad("usd_per_segment is not a price"))?;
        let snapshot: Date = snapshot
            .parse()
            .map_err(|_| bad("snapshot is not YYYY-MM-DD"))?;
        if carrier.is_empty() {
            return Err(bad("empty carrier"));
        }
        rows.push(CarrierPrice {
            iso: iso.to_string(),
            carrier: carrier.to_string(),
            usd_per_segment,
            snapshot,
        });
    }
    Ok(rows)
}

/// The built-in table's price of `carrier` in `iso` for a run priced from the snapshot dated
/// `snapshot`: `None` when the table does not list it or is newer than that snapshot.
pub fn listed_price(iso: &str, carrier: &str, snapshot: Date) -> Option<f64> {
    parse(BUILTIN_TABLE)
        .ok()?
        .into_iter()
        .find(|r| r.iso == iso && r.carrier == carrier && r.snapshot <= snapshot)
        .map(|r| r.usd_per_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_agrees_with_the_country_table() {
        let rows = parse(BUILTIN_TABLE).unwrap();
        assert!(rows.len() > 50, "{} rows", rows.len());
        let newest: Date = "2026-05-25".parse().unwrap();
        assert_eq!(listed_price("MA", "Inwi", newest), Some(0.2244));
        assert_eq!(listed_price("MA", "Nobody", newest), None);
        let older: Date = "2025-01-07".parse().unwrap();
        assert_eq!(listed_price("MA", "Inwi", older), None, "an older snapshot");
        // Each country's maximum carrier price is its price in sms_prices.csv (same snapshot).
        let snapshot = mo2fa_cost::prices::PriceTable::builtin()
            .unwrap()
            .snapshot(None)
            .unwrap();
        for iso in ["AZ", "DE", "GB", "KG", "MA", "RU", "TJ", "US", "UZ"] {
            let max = rows
                .iter()
                .filter(|r| r.iso == iso)
                .map(|r| r.usd_per_segment)
                .fold(0.0, f64::max);
            assert_eq!(max, snapshot.quote(iso).usd_per_segment, "{iso}");
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = parse("iso,carrier,usd_per_segment,snapshot\nMA,X,abc,2026-05-25\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(parse("iso,carrier\n").is_err());
        assert!(parse("iso,carrier,usd_per_segment,snapshot\nma,X,0.1,2026-05-25\n").is_err());
    }
}
