//! The deterministic scenario simulator: `mo2fa run`.
//!
//! `scenario` parses and checks scenario files, `engine` replays them in virtual time through
//! the real verifier core, `report` writes what happened.

pub mod engine;
pub mod report;
pub mod scenario;
pub mod trace;

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
