//! mo2fa-cost's integration tests, one binary: the public API driven as the `mo2fa cost`
//! command and the simulator drive it, on the shipped mixes (found from `CARGO_MANIFEST_DIR`).
//!
//! * `cards`: the headline cards and break-evens agree with the model; labels do not collide.
//! * `report_html`: the HTML page and SVG are self-contained and hold every chart.
//! * `results`: `results.json` says what the other outputs say, and the same inputs give the
//!   same bytes.

mod cards;
mod report_html;
mod results;

use mo2fa_cost::sweep::{self, Sweep, SweepOptions};
use mo2fa_cost::{LoadOptions, PricedMix};
use std::path::Path;

/// The sweep `mo2fa cost` makes of a shipped mix, from `lo` verifications a month to 1e9.
fn sweep_of(mix: &str, lo: f64, fraud_shares: Vec<f64>) -> Sweep {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/mixes")
        .join(mix);
    let mix = PricedMix::load(&path, &LoadOptions::default()).expect("mix loads");
    sweep::run(
        mix,
        &SweepOptions {
            lo,
            hi: 1e9,
            points_per_decade: 10,
            fraud_shares,
            reference_volume: Some(1e6),
        },
    )
    .expect("sweep")
}
