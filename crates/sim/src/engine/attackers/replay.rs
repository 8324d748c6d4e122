//! Replays: a captured genuine delivery, sent again byte for byte.

use super::super::world::World;
use crate::scenario::Replay;
use crate::trace::{Action, Answer};
use mo2fa_core::verifier::InboundMessage;

impl World<'_> {
    pub(super) fn replay(&mut self, a: usize, r: &Replay) {
        let cutoff_ms = self.clock.now_ms.saturating_sub(r.capture_age_ms);
        // The newest capture at least `capture_age` old.
        let Some(pos) = self
            .webhook
            .captured
            .iter()
            .rposition(|c| c.at_ms <= cutoff_ms)
        else {
            return;
        };
        let c = self.webhook.captured[pos].clone();
        let msg = c.msg;
        if !self.signature_ok(&c.signature, c.body.as_bytes()) {
            self.record(Answer::Rejected, || Action::Replay { msg });
            self.row().replays_rejected += 1;
            self.acc.attackers[a].blocked += 1;
            return;
        }
        // Inside the tolerance: the dedupe cache answers, nothing changes.
        let m = InboundMessage {
            sender: "+15550000000",
            text: "",
            protocol: Some("imessage"),
        };
        let (outcome, duplicate) =
            self.webhook
                .verifier
                .receive_once(&format!("m{msg}"), &m, self.wall_ms());
        let answer = if duplicate {
            Answer::Duplicate
        } else {
            Answer::of_receive(&outcome)
        };
        self.record(answer, || Action::Replay { msg });
        if duplicate {
            self.row().replays_deduped += 1;
            self.acc.attackers[a].blocked += 1;
        } else {
            self.acc.attackers[a].succeeded += 1;
        }
    }
}
