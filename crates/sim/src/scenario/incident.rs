//! `[incident]`: the figures a source documents about an incident a scenario replays, each
//! marked as an **input** (used to build the file: a rate, a price or a threshold was chosen
//! to give it, so the replay meets it by construction) or **predicted** (not used: the replay
//! is a test of the model on it). `mo2fa incidents` and the incident test check only the
//! predicted figures; inputs are shown as inputs.

use super::{Dur, Flow, NonNeg, ScenarioError};
use serde::Deserialize;

/// The documented figures of an incident a scenario replays.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// The primary source (a URL).
    pub source: String,
    /// The flow the victim ran; the documented figures are about it.
    #[serde(default = "sms_flow")]
    pub flow: Flow,
    /// Pumped SMS the victim was billed for, if the source gives a count.
    pub sms: Option<u64>,
    /// Pumped SMS the defences refused, if the source gives a count.
    pub blocked: Option<u64>,
    /// The bill for the pumped SMS in USD, if the source gives one (convert a bill in another
    /// currency at a dated, cited rate and say so in the file).
    pub bill_usd: Option<NonNeg>,
    /// The bill per pumped SMS in USD, if the source gives one.
    pub usd_per_sms: Option<NonNeg>,
    /// The time to first block as a documented range `[earliest, latest]` (e.g. "a few
    /// hours"), from the attack's start (crate::first_block).
    pub first_block: Option<[Dur; 2]>,
    /// The figures not used to build the file (names of the keys above); every other figure
    /// given is an input.
    #[serde(default)]
    pub predicted: Vec<Figure>,
    /// How long the app's own log keeps a record (assumed): the report then says how many of
    /// the pumped SMS the log still held at the end, as an investigator reading it would have
    /// found (Blackpanda: "confirmed transmissions from server logs were less than half").
    pub app_log_retention: Option<Dur>,
}

/// A documented figure's name, as `predicted` lists it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Sms,
    Blocked,
    BillUsd,
    UsdPerSms,
    FirstBlock,
}

impl Figure {
    pub fn name(self) -> &'static str {
        match self {
            Figure::Sms => "sms",
            Figure::Blocked => "blocked",
            Figure::BillUsd => "bill_usd",
            Figure::UsdPerSms => "usd_per_sms",
            Figure::FirstBlock => "first_block",
        }
    }
}

impl Incident {
    /// How far a replay may be from a documented figure.
    pub const TOLERANCE: f64 = 0.10;

    /// Whether `f` is a predicted figure (else, if given, an input).
    pub fn is_predicted(&self, f: Figure) -> bool {
        self.predicted.contains(&f)
    }

    /// Whether the file gives figure `f`.
    pub fn gives(&self, f: Figure) -> bool {
        match f {
            Figure::Sms => self.sms.is_some(),
            Figure::Blocked => self.blocked.is_some(),
            Figure::BillUsd => self.bill_usd.is_some(),
            Figure::UsdPerSms => self.usd_per_sms.is_some(),
            Figure::FirstBlock => self.first_block.is_some(),
        }
    }

    pub(super) fn check(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("incident.{key}"),
            message,
        };
        if let Some(f) = self.predicted.iter().find(|f| !self.gives(**f)) {
            return Err(bad(
                "predicted",
                format!("names {:?}, which the section does not give", f.name()),
            ));
        }
        if let Some([a, b]) = self.first_block
            && a.ms() > b.ms()
        {
            return Err(bad(
                "first_block",
                "is [earliest, latest]: the first is later".into(),
            ));
        }
        if self.app_log_retention.is_some_and(|d| d.ms() == 0) {
            return Err(bad("app_log_retention", "must be positive".into()));
        }
        Ok(())
    }
}

fn sms_flow() -> Flow {
    Flow::Sms
}
