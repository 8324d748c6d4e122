//! The per-SMS log `mo2fa run --emit-log` writes: one [`SmsRecord`] per attempt that reached a
//! flow's SMS guard (sent, refused by a defence, or refused by the provider account), with
//! what a provider's log holds about it (time, number, country, client address, account,
//! price, segments, verified or not). Off unless asked: [`simulate_logged`] lends the world a
//! log; [`simulate`](super::simulate) has none, so its speed and reports do not change. The
//! log draws no randomness, so the outcome is the same as `simulate`'s.

use super::world::World;
use super::{Control, Outcome};
use crate::SimError;
use crate::flow::Flow;
use crate::scenario::Scenario;
use mo2fa_core::sms_defences::Attempt;
use rustc_hash::FxHashMap;

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsFate {
    /// Sent and billed.
    Sent,
    /// Refused by the flow's SMS defences (nothing sent, nothing billed).
    Refused,
    /// Allowed by the defences, refused by the provider account (`[billing.balance]`).
    Unbilled,
}

/// One attempt at an outbound SMS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmsRecord {
    /// Virtual milliseconds from the start of the run (wall time is `time::wall_ms`).
    pub at_ms: u64,
    pub flow: Flow,
    pub number: u64,
    /// Index into [`SmsLog::countries`].
    pub country: u16,
    /// The carrier's position among its country's carriers, as the guard sees it.
    pub network: u32,
    /// The client's IPv4 address.
    pub ip: u32,
    /// The app account asking (0: none).
    pub account: u64,
    /// A legit user's (else an attacker's).
    pub legit: bool,
    pub fate: SmsFate,
    /// The price billed, all segments (0 unless sent).
    pub usd: f64,
    /// Segments billed per message.
    pub segments: u32,
    /// When the guard was told the code was verified (virtual ms), if it was.
    pub verified_ms: Option<u64>,
}

/// The records of a run, in the order the guards saw the attempts (time order).
#[derive(Clone, Debug, Default)]
pub struct SmsLog {
    /// ISO codes by country index.
    pub countries: Vec<String>,
    pub records: Vec<SmsRecord>,
    /// The last record of each (flow, number), to mark it verified.
    last: FxHashMap<(usize, u64), usize>,
}

impl SmsLog {
    /// The guard judged `a` (`allowed` or not) for `flow`.
    pub(super) fn judged(&mut self, flow: Flow, a: &Attempt, legit: bool, allowed: bool) {
        if allowed {
            self.last
                .insert((flow.index(), a.number), self.records.len());
        }
        self.records.push(SmsRecord {
            at_ms: a.now,
            flow,
            number: a.number,
            country: u16::try_from(a.country).unwrap_or(u16::MAX),
            network: a.network,
            ip: u32::try_from(a.ip).unwrap_or(0),
            account: a.account,
            legit,
            fate: if allowed {
                SmsFate::Unbilled
            } else {
                SmsFate::Refused
            },
            usd: 0.0,
            segments: 0,
            verified_ms: None,
        });
    }

    /// The last attempt of `flow`, allowed by the guard, was billed `usd` (or refused).
    pub(super) fn billed(&mut self, flow: Flow, usd: f64, segments: u32, accepted: bool) {
        if let Some(r) = self.records.iter_mut().rev().find(|r| r.flow == flow) {
            r.segments = segments;
            if accepted && r.fate == SmsFate::Unbilled {
                r.fate = SmsFate::Sent;
                r.usd = usd;
            }
        }
    }

    /// The guard of `flow` was told, at `now_ms`, that the code sent to `number` was verified.
    pub(super) fn verified(&mut self, flow: Flow, number: u64, now_ms: u64) {
        if let Some(&i) = self.last.get(&(flow.index(), number)) {
            self.records[i].verified_ms.get_or_insert(now_ms);
        }
    }
}

/// Runs a scenario with `seed` and logs every SMS attempt. The outcome is [`simulate`]'s.
///
/// [`simulate`]: super::simulate
pub fn simulate_logged(
    sc: &Scenario,
    seed: u64,
    control: &Control<'_>,
) -> Result<(Outcome, SmsLog), SimError> {
    let mut log = SmsLog::default();
    let mut world = World::new(sc, seed)?;
    log.countries = world.pop.countries.iter().map(|c| c.iso.clone()).collect();
    world.run.sms_log = Some(&mut log);
    let (outcome, _) = world.run(control)?;
    log.last = FxHashMap::default();
    Ok((outcome, log))
}
