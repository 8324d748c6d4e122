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
