//! Cost model: what 2FA costs a month by outbound SMS OTP and by reverse (inbound) iMessage, at
//! a volume, a country mix and a fraud (SMS pumping) share, and where the two cross.
//!
//! * [`prices`]: the dated per-country SMS price table.
//! * [`config`]: price and mix files (TOML) merged into a validated [`Scenario`].
//! * [`model`]: the cost curves, per-volume breakdowns and the exact break-even.
//! * [`observed`]: pricing the counts a simulation actually produced.
//! * [`sweep`]: the `mo2fa cost` run: a volume grid, the CSV, and the results reports use.
//!
//! Everything here is pure and deterministic: the same inputs give the same numbers, so reports
//! can be diffed and checked in.

pub mod config;
pub mod episode;
pub mod error;
pub mod model;
pub mod observed;
pub mod prices;
pub mod report;
pub mod sweep;

pub use config::{FallbackKind, LoadOptions, Scenario};
pub use error::CostError;
pub use model::{
    BreakEven, CostCurve, CrossingScan, Evaluation, MethodCost, break_even, curves, evaluate,
};
pub use observed::{
    CountryCounts, Observed, ObservedCost, Population, PopulationCountry, cost_observed,
};
pub use prices::{Date, PriceSnapshot, PriceTable};
