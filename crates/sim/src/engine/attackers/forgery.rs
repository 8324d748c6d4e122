//! Webhook forgeries: deliveries signed with a guessed secret.

use super::super::time;
use super::super::world::World;
use crate::trace::{Action, Answer};
use mo2fa_core::webhook::Inbound;

impl World<'_> {
    pub(super) fn forge(&mut self, a: usize) {
        let code = self
            .webhook
            .spec
            .format(self.webhook.spec.random(&mut self.rng))
            .to_string();
        let n = self.attackers[a].counter;
        self.attackers[a].counter += 1;
        let body = self.emitted(&Inbound {
            message_id: &format!("forged{n}"),
            sender: "+15550000000",
            text: &code,
            protocol: "imessage",
            received_at_ms: self.wall_ms(),
        });
        let header = self
            .webhook
            .forger
            .sign_blooio(time::unix_s(self.wall_ms()), body.as_bytes());
        let accepted = self.signature_ok(&header, body.as_bytes());
        // Accepted forgeries are not processed further here: they are counted as successes.
        let answer = if accepted {
            Answer::Accepted
        } else {
            Answer::Rejected
        };
        self.record(answer, || Action::Forged {
            n,
            code: code.as_str().into(),
        });
        if !accepted {
            self.row().forged_rejected += 1;
            self.acc.attackers[a].blocked += 1;
        } else {
            self.acc.attackers[a].succeeded += 1;
        }
    }
}
