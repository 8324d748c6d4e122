//! Agreement between the live answers and the virtual ones: every step's pair of answers is
//! counted, and the replay stands as a comparison when it kept to its schedule and its
//! verifications are the virtual run's.

use super::LiveReport;
use mo2fa_sim::trace::Endpoint;
use std::collections::BTreeMap;

/// (endpoint, virtual answer, live answer) → count.
pub type Outcomes = BTreeMap<(Endpoint, &'static str, String), u64>;

/// The answer of a step that could not be sent: what it depends on failed, or its server is
/// not running. Not a latency sample.
pub(super) const SKIPPED: &str = "skipped";

pub(super) fn endpoint_index(e: Endpoint) -> usize {
    Endpoint::ALL.iter().position(|x| *x == e).unwrap_or(0)
}

impl LiveReport {
    /// Verifications (webhooks and SMS checks answered `verified`): (virtual, live).
    pub fn verified(&self) -> (u64, u64) {
        let mut v = (0, 0);
        for ((ep, expect, got), n) in &self.outcomes {
            if matches!(ep, Endpoint::Webhook | Endpoint::SmsCheck) {
                v.0 += n * u64::from(*expect == "verified");
                v.1 += n * u64::from(got == "verified");
            }
        }
        v
    }

    /// Why the replay cannot stand as a comparison, if it cannot: it fell behind schedule, or
    /// its verifications differ from the virtual run's. Interruptions are the caller's.
    pub fn problem(&self) -> Option<String> {
        if let Some(b) = &self.behind {
            return Some(b.short());
        }
        let (v, l) = self.verified();
        (v != l).then(|| {
            format!(
                "the live replay's verifications DIFFER from the virtual run's (virtual {v}, live {l}) \
                 although it kept to its schedule (largest lag {:.1} ms); live/live.md lists the answers \
                 that moved",
                self.max_lag.as_secs_f64() * 1000.0
            )
        })
    }

    /// Steps whose live answer equals the virtual one, and all steps answered.
    pub fn agreement(&self) -> (u64, u64) {
        self.outcomes
            .iter()
            .fold((0, 0), |(same, all), ((_, expect, got), n)| {
                (same + n * u64::from(expect == got), all + n)
            })
    }
}
