//! The flows' SMS guards: one call to ask before a paid send, one to report a verified code,
//! counting per flow what the defences refused (and whose sends they were).

use super::world::World;
use crate::flow::Flow;
use mo2fa_core::sms_defences::Attempt;

impl World<'_> {
    /// Asks the flow's guard whether `a` may be sent; a refusal is counted for the flow (and
    /// as a legit user's when `legit`). `a.now` is virtual time.
    pub(super) fn defend(&mut self, flow: Flow, a: &Attempt, legit: bool) -> bool {
        let verdict = self.flows[flow].guard.check(a);
        if let Some(log) = &mut self.sms_log {
            log.judged(flow, a, legit, verdict.is_ok());
        }
        self.note_defence(flow, a, legit, verdict.err().map(|b| b.name()));
        if verdict.is_ok() {
            return true;
        }
        let row = self.row();
        row.blocked_sms += 1;
        *row.blocked_sms_in(flow) += 1;
        if legit {
            *row.legit_blocked_in(flow) += 1;
        }
        let now = self.clock.now_ms;
        let d = &mut self.acc.defences[flow.index()];
        d.first_block_ms.get_or_insert(now);
        d.blocked += 1;
        d.legit_blocked += u64::from(legit);
        false
    }

    /// The code sent for `a` was verified now.
    pub(super) fn defended_verified(&mut self, flow: Flow, a: &Attempt) {
        let a = Attempt {
            now: self.clock.now_ms,
            ..*a
        };
        self.flows[flow].guard.verified(&a);
        if let Some(log) = &mut self.sms_log {
            log.verified(flow, a.number, a.now);
        }
    }

    /// The attempt the engine knows for a send now.
    pub(super) fn attempt(&self, country: usize, number: u64, ip: u32, account: u64) -> Attempt {
        Attempt {
            country,
            network: self.pop.network_in_country(country, number),
            number,
            ip: u128::from(ip),
            account,
            now: self.clock.now_ms,
        }
    }
}
