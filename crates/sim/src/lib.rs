//! The deterministic scenario simulator: `mo2fa run`.
//!
//! `scenario` parses and checks scenario files (attackers become one checked type per kind,
//! defaults resolved); `engine` replays them in virtual time through the real verifier core
//! (its parts: `queue`, `world`, `legit`, `provider`, `attackers`, `defences`, `accounting`,
//! `billing`); `flow` names the two flows; `time` holds the units; `outcome` is what a run
//! counted; `costs` prices a finished outcome with the cost model; `billing` holds the
//! provider's billing and the reports' second currency; `report` writes what happened
//! (summary.json, timeline.csv, summary.md, report.html); `trace` records the requests a
//! virtual run made, for live replay by the harness.

#![forbid(unsafe_code)]

pub mod billing;
pub mod carriers;
pub mod costs;
pub mod engine;
pub mod fees;
pub mod first_block;
pub mod flow;
pub mod incidents;
pub mod outcome;
pub mod report;
pub mod scenario;
pub mod time;
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
    /// I/O that has no file to name (the live replay's runtime and sockets).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A report file (or its directory) that could not be written, named.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}
