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

/// The answer of a step whose outcome a `--target`'s profile cannot see (a webhook answer that
/// says nothing, a poll without a status route). Never counted as agreeing or as a
/// verification; not a latency sample when nothing was sent.
pub const UNOBSERVED: &str = "unobserved";

pub(super) fn endpoint_index(e: Endpoint) -> usize {
    Endpoint::ALL.iter().position(|x| *x == e).unwrap_or(0)
}

impl LiveReport {
    /// Verifications (webhooks and SMS checks answered `verified`): (virtual, live), over
    /// the steps whose live outcome could be seen. Against a `--target`, steps it was not sent
    /// or whose outcome its profile cannot see are left out of both ([`Self::not_compared`]).
    pub fn verified(&self) -> (u64, u64) {
        let mut v = (0, 0);
        for ((ep, expect, got), n) in &self.outcomes {
            if matches!(ep, Endpoint::Webhook | Endpoint::SmsCheck) && self.compared(got) {
                v.0 += n * u64::from(*expect == "verified");
                v.1 += n * u64::from(got == "verified");
            }
        }
        v
    }

    /// Whether a live answer counts in the comparison: everything in-process; against a
    /// `--target`, what was sent to it and seen.
    fn compared(&self, got: &str) -> bool {
        self.target.is_none() || (got != UNOBSERVED && got != SKIPPED)
    }

    /// Virtual verifications whose live outcome was not compared (against a `--target`: not
    /// sent, or not seen through its profile).
    pub fn not_compared(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|((ep, expect, got), _)| {
                matches!(ep, Endpoint::Webhook | Endpoint::SmsCheck)
                    && *expect == "verified"
                    && !self.compared(got)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// "virtual 12, live 12 (agree)", and what could not be compared; "not compared" when no
    /// verification could be seen, never "agree".
    pub fn verified_line(&self) -> String {
        let (v, l) = self.verified();
        let skipped = self.not_compared();
        if skipped > 0 && v == 0 && l == 0 {
            return format!(
                "NOT COMPARED: none of the virtual run's {skipped} verifications could be seen \
                 on the target"
            );
        }
        let verdict = if v == l { "agree" } else { "DIFFER" };
        let mut line = format!("virtual {v}, live {l} ({verdict})");
        if skipped > 0 {
            line.push_str(&format!(
                "; {skipped} more virtual verifications not compared (not seen on the target)"
            ));
        }
        line
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

    /// Steps whose live answer equals the virtual one, and all steps answered (against a
    /// `--target`, those it was sent and whose outcome was seen).
    pub fn agreement(&self) -> (u64, u64) {
        self.outcomes
            .iter()
            .filter(|((_, _, got), _)| self.compared(got))
            .fold((0, 0), |(same, all), ((_, expect, got), n)| {
                (same + n * u64::from(expect == got), all + n)
            })
    }
}
