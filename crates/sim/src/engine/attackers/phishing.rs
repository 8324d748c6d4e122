//! Reverse-OTP phishing: the attacker starts a login as the victim and persuades the victim
//! to send the attacker's code.

use super::super::world::{Ev, World};
use super::attacker_u16;
use crate::scenario::Phishing;
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

impl World<'_> {
    pub(super) fn phish(&mut self, a: usize, p: &Phishing) {
        let country = self.pick_country();
        let number = self.legit_number(country);
        let victim = self.new_user(country, number);
        self.pop.users[victim as usize].refs = 1;
        // The attacker logs in as the victim: the challenge is bound to the victim's number.
        let req = self.start_request_for(number);
        let started = self
            .webhook
            .verifier
            .start(&req, self.wall_ms(), &mut self.rng);
        let key = self.record_start(started.is_ok(), &req, number);
        self.pop.users[victim as usize].key = key;
        if let Ok(s) = started {
            self.pop.users[victim as usize].code = s.code;
            if self.rng.random::<f64>() < p.success {
                let delay_ms = self.send_delay_ms();
                let send_ms = self.after(delay_ms);
                let a = attacker_u16(a);
                self.hold(victim, send_ms, Ev::VictimSend { user: victim, a });
            }
        }
        self.release(victim);
    }

    /// The persuaded victim sends the attacker's code.
    pub(in crate::engine) fn victim_send(&mut self, user: u32, a: usize) {
        let u = self.pop.users[user as usize];
        self.webhook.msg_seq += 1;
        let msg = self.webhook.msg_seq;
        let text = self.webhook.spec.format(u.code).to_string();
        let code = || Text::Code(u.key);
        if let Some(ReceiveOutcome::Verified { .. }) =
            self.deliver(u.number, &text, code, "imessage", msg, false, false)
        {
            self.row().phishing_successes += 1;
            self.acc.attackers[a].succeeded += 1;
        }
        self.release(user);
    }
}
