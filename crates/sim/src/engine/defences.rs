//! The flows' SMS guards: one call to ask before a paid send, one to report a verified code,
//! counting per flow what the defences refused (and whose sends they were).

use super::world::World;
use mo2fa_core::sms_defences::{Attempt, SmsGuard};

impl World<'_> {
    fn guard(&mut self, reverse: bool) -> &mut SmsGuard {
        if reverse {
            &mut self.guard_reverse
        } else {
            &mut self.guard_sms
        }
    }

    /// Asks the flow's guard whether `a` may be sent; a refusal is counted for the flow (and
    /// as a legit user's when `legit`). `a.now` is virtual time.
    pub(super) fn defend(&mut self, reverse: bool, a: &Attempt, legit: bool) -> bool {
        if self.guard(reverse).check(a).is_ok() {
            return true;
        }
        let row = self.row();
        row.blocked_sms += 1;
        match (reverse, legit) {
            (false, false) => row.blocked_sms_smsflow += 1,
            (true, false) => row.blocked_sms_reverse += 1,
            (false, true) => {
                row.blocked_sms_smsflow += 1;
                row.legit_blocked_smsflow += 1;
            }
            (true, true) => {
                row.blocked_sms_reverse += 1;
                row.legit_blocked_reverse += 1;
            }
        }
        let now = self.now_ms;
        let flow = &mut self.acc.defences[usize::from(reverse)];
        flow.first_block_ms.get_or_insert(now);
        flow.blocked += 1;
        flow.legit_blocked += u64::from(legit);
        false
    }

    /// The code sent for `a` was verified now.
    pub(super) fn defended_verified(&mut self, reverse: bool, a: &Attempt) {
        let a = Attempt {
            now: self.now_ms,
            ..*a
        };
        self.guard(reverse).verified(&a);
    }

    /// The attempt the engine knows for a send now.
    pub(super) fn attempt(&self, country: usize, number: u64, ip: u32, account: u64) -> Attempt {
        Attempt {
            country,
            network: self.network_in_country(country, number),
            number,
            ip: u128::from(ip),
            account,
            now: self.now_ms,
        }
    }
}
