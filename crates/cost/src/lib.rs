//! Cost model: what 2FA costs a month by outbound SMS OTP and by reverse (inbound) iMessage, at
//! a volume, a country mix and a fraud (SMS pumping) share, and where the two cross.
//!
//! The model:
//! * [`prices`]: the dated per-country SMS price table.
//! * [`config`]: price and mix files (TOML) merged into a validated [`PricedMix`].
//! * [`model`]: the cost curves, per-volume breakdowns and the exact break-even.
//! * [`sweep`]: the `mo2fa cost` run: a volume grid, the exact break-even per fraud share, the CSV.
//! * [`episode`]: an illustrative pumping episode priced with a mix.
//! * [`observed`]: pricing the counts a simulation actually produced.
//! * [`error`]: [`CostError`], naming the file, line and key of a bad input.
//!
//! The reports, which read the model and are never read by it:
//! * [`report`]: formatting helpers; [`report::svg`] charts, [`report::html`] pages, and
//!   [`report::cost`], the `mo2fa cost` files (`report.html`, `summary.md`, `results.json`,
//!   `cost_curve.svg`) and the sections a simulation report embeds.
//!
//! Everything here is pure and deterministic: the same inputs give the same numbers, so reports
//! can be diffed and checked in.

#![forbid(unsafe_code)]

pub mod config;
pub mod episode;
pub mod error;
pub mod model;
pub mod observed;
pub mod prices;
pub mod report;
pub mod sweep;

pub use config::{FallbackKind, LoadOptions, PricedMix};
pub use error::CostError;
pub use model::{
    BreakEven, CostCurve, CrossingScan, Evaluation, MethodCost, break_even, curves, evaluate,
};
pub use observed::{
    CountryCounts, Observed, ObservedCost, Population, PopulationCountry, cost_observed,
};
pub use prices::{Date, PriceSnapshot, PriceTable};

#[cfg(test)]
pub(crate) mod test_files {
    //! What the unit tests share: shipped files found from the crate's manifest directory (not
    //! from the working directory), and text variants that fail loudly when the text changes.

    use std::path::Path;

    /// A file shipped with the repository, by its path from the repository root.
    pub(crate) fn shipped(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// `text` with every `from` replaced by `to`; panics if `from` does not occur, so a variant
    /// cannot silently become the original when the original changes.
    pub(crate) fn replaced(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "`{from}` does not occur in the text");
        text.replace(from, to)
    }

    #[test]
    #[should_panic(expected = "does not occur")]
    fn a_replacement_that_matches_nothing_panics() {
        replaced("weight = 1", "weight = 2", "weight = 3");
    }
}

#[cfg(test)]
mod layering {
    //! The model never imports the reports: `report` reads the model, not the other way round.

    use std::path::Path;

    #[test]
    fn model_modules_do_not_import_report() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for m in [
            "config", "episode", "error", "model", "observed", "prices", "sweep",
        ] {
            // A module is `m.rs`, or every file of the directory `m/`.
            let files: Vec<_> = match std::fs::read_dir(src.join(m)) {
                Ok(dir) => dir.map(|e| e.expect("module file").path()).collect(),
                Err(_) => vec![src.join(format!("{m}.rs"))],
            };
            assert!(!files.is_empty(), "module {m} has no source");
            for file in files {
                let text = std::fs::read_to_string(&file).expect("module source");
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    assert!(
                        !code.contains("report::"),
                        "{}:{}: the model imports the report: {line}",
                        file.display(),
                        i + 1
                    );
                }
            }
        }
    }
}
