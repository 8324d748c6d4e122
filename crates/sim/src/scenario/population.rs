//! Default iMessage shares: a country in `[legit.countries]` without `imessage` gets
//! StatCounter's iOS share of mobile web traffic (February–April 2025,
//! `scenarios/data/ios_share_statcounter_2025.csv`, cited there), an **upper bound** on iMessage
//! reach, times `[legit] imessage_activation` (default 1: the bound itself; an assumed rate of
//! iPhone users with iMessage on scales it down). A country's own `imessage` is kept as
//! written.

use super::{Legit, Prob, ScenarioError};
use std::sync::OnceLock;

const CSV: &str = include_str!("../../../../scenarios/data/ios_share_statcounter_2025.csv");

/// StatCounter's iOS share of `iso` (0–1), if the table has the country.
pub fn ios_share(iso: &str) -> Option<f64> {
    static TABLE: OnceLock<Vec<(String, f64)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        CSV.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("iso,"))
            .filter_map(|l| {
                let mut f = l.split(',');
                let iso = f.next()?.to_string();
                let pct: f64 = f.nth(1)?.trim().parse().ok()?;
                Some((iso, pct / 100.0))
            })
            .collect()
    });
    table.iter().find(|(k, _)| k == iso).map(|(_, v)| *v)
}

/// The marker of a country written without `imessage` (resolved by [`resolve`]).
pub(super) fn unset() -> Prob {
    Prob(f64::NAN)
}

/// Fills every country's missing `imessage` from StatCounter × `imessage_activation`.
pub(super) fn resolve(legit: &mut Legit, file: &str) -> Result<(), ScenarioError> {
    let activation = legit.imessage_activation.map_or(1.0, |p| p.0);
    for (iso, c) in &mut legit.countries {
        if !c.imessage.0.is_nan() {
            continue;
        }
        let share = ios_share(&iso.0).ok_or_else(|| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("legit.countries.{}.imessage", iso.0),
            message: "missing, and StatCounter's table (scenarios/data/ios_share_statcounter_2025.csv) has no share for this country: give one".into(),
        })?;
        c.imessage = Prob(share * activation);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn statcounter_gives_the_published_shares() {
        assert_eq!(ios_share("FR"), Some(0.2159));
        assert_eq!(ios_share("MY"), Some(0.3282));
        assert_eq!(ios_share("US"), Some(0.5763));
        assert_eq!(ios_share("XX"), None);
    }

    #[test]
    fn a_missing_share_defaults_to_statcounter_scaled_and_a_written_one_stays() {
        let text = crate::scenario::tests::MINIMAL.replace(
            "countries = { US = { weight = 1.0, imessage = 0.5, fallback = \"inbound_sms\" } }",
            "imessage_activation = 0.5\ncountries = { US = { weight = 1.0, imessage = 0.5, fallback = \"inbound_sms\" }, \
             FR = { weight = 1.0, fallback = \"inbound_sms\" } }",
        );
        let sc = Scenario::parse("x.toml", &text).unwrap();
        let share = |iso: &str| {
            sc.legit
                .countries
                .iter()
                .find(|(k, _)| k.0 == iso)
                .map(|(_, c)| c.imessage.0)
        };
        assert_eq!(share("US"), Some(0.5), "the file's own value");
        assert!((share("FR").unwrap() - 0.2159 * 0.5).abs() < 1e-12);
        let unknown = text.replace("FR = {", "AQ = {");
        let e = Scenario::parse("x.toml", &unknown).unwrap_err().to_string();
        assert!(e.contains("legit.countries.AQ.imessage"), "{e}");
    }
}
