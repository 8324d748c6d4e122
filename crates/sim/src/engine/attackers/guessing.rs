//! Code guessing: messages full of random codes, sent from the attacker's own accounts.

use super::super::world::World;
use crate::scenario::Guessing;
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

/// Attackers' own sending accounts live in a block no legit user has.
const ATTACKER_ACCOUNTS_BASE: u64 = 99 * 10_000_000_000;

impl World<'_> {
    pub(super) fn guess(&mut self, a: usize, g: &Guessing) {
        let accounts = u64::from(g.sender_accounts);
        let number = ATTACKER_ACCOUNTS_BASE + self.rng.random_range(0..accounts);
        let text: Vec<String> = (0..g.candidates_per_message)
            .map(|_| {
                self.webhook
                    .spec
                    .format(self.webhook.spec.random(&mut self.rng))
                    .to_string()
            })
            .collect();
        let text = text.join(" ");
        self.row().guess_messages += 1;
        if !self.sender_allowed(number) {
            self.acc.attackers[a].blocked += 1;
            return;
        }
        self.webhook.msg_seq += 1;
        let msg = self.webhook.msg_seq;
        let literal = || Text::Literal(text.as_str().into());
        match self.deliver(number, &text, literal, "imessage", msg, false, false) {
            Some(ReceiveOutcome::Verified { .. }) => {
                let row = self.row();
                row.guess_hits += 1;
                row.hijacks += 1;
                self.acc.attackers[a].succeeded += 1;
            }
            Some(ReceiveOutcome::SenderMismatch { .. }) => {
                self.row().guess_hits += 1;
                self.acc.attackers[a].blocked += 1;
            }
            _ => {}
        }
    }
}
