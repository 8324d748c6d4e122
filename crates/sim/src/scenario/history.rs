//! `[history]`: the provider account as it was before the run, which the SMS defences that
//! learn from history read (Fraud Guard's baseline and "never sent to" countries, Plivo's
//! recommended caps, Authgear's 14-day maximum, the 2023 high-risk auto-block).
//!
//! `warmup = "15d"`: the scenario's own legit population is replayed for that long before the
//! clock starts, through the same defences, without being recorded (the engine's `warmup`
//! module); and/or the explicit shape [`mo2fa_core::sms_defences::History`] reads: per-country
//! `daily_sends`, `conversion`, `days`, `peak_hour_share`. With both, the explicit days come
//! first and the warm-up replays the last stretch before the run. Without `[history]` the
//! account starts empty (every country "never sent to").

use super::{Dur, Iso, Prob, ScenarioError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The longest warm-up (the explicit history's own bound).
pub const MAX_WARMUP_DAYS: u64 = 400;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Replay the legit population for this long before time 0.
    pub warmup: Option<Dur>,
    /// Codes sent per day before the run, by destination country.
    pub daily_sends: Option<BTreeMap<Iso, u32>>,
    pub conversion: Option<Prob>,
    pub days: Option<u32>,
    pub peak_hour_share: Option<Prob>,
}

impl History {
    /// A warm-up of `ms` (what `mo2fa incidents` gives a file without `[history]`).
    pub fn warmup(ms: u64) -> Self {
        Self {
            warmup: Some(Dur(ms)),
            ..Self::default()
        }
    }

    /// The explicit history, for `SmsGuard::seed_history` (`None` for a warm-up alone).
    pub fn explicit(&self) -> Option<mo2fa_core::sms_defences::History> {
        let given = self.daily_sends.is_some()
            || self.conversion.is_some()
            || self.days.is_some()
            || self.peak_hour_share.is_some();
        (given || self.warmup.is_none()).then(|| mo2fa_core::sms_defences::History {
            daily_sends: self.daily_sends.clone().unwrap_or_default(),
            conversion: self.conversion,
            days: self.days,
            peak_hour_share: self.peak_hour_share,
        })
    }

    /// The warm-up's length in ms, if this history is one.
    pub fn warmup_ms(&self) -> Option<u64> {
        self.warmup.map(|d| d.ms())
    }

    pub(super) fn check(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: &str| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("history.{key}"),
            message: message.to_string(),
        };
        if self.days.is_some_and(|d| u64::from(d) > MAX_WARMUP_DAYS) {
            return Err(bad("days", "must be at most 400"));
        }
        if self
            .warmup
            .is_some_and(|w| w.ms() == 0 || w.ms() > MAX_WARMUP_DAYS * 86_400_000)
        {
            return Err(bad("warmup", "must be positive and at most 400d"));
        }
        Ok(())
    }
}
