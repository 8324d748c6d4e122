//! The deterministic scenario simulator: `mo2fa run`.
//!
//! `scenario` parses and checks scenario files; `engine` replays them in virtual time through
//! the real verifier core (its parts: `time`, `queue`, `world`, `legit`, `provider`,
//! `attackers`, `accounting`, `billing`); `billing` holds the provider's billing and the
//! reports' second currency; `costs` turns the population and what a run sent into typed
//! cost-model input, priced once per run; `report` writes what happened (summary.json,
//! timeline.csv, summary.md, report.html); `trace` records the requests a virtual run made, for
//! live replay by the harness.

pub mod billing;
pub mod carriers;
pub mod costs;
pub mod engine;
pub mod incidents;
pub mod report;
pub mod scenario;
pub mod trace;
pub mod variants;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Prices(#[from] mo2fa_cost::CostError),
    #[error("writing reports: {0}")]
    Io(#[from] std::io::Error),
}
