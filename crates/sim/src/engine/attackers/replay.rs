//! Replays: a captured genuine delivery, sent again byte for byte.

use super::super::world::{Run, Webhook};
use crate::scenario::Replay;
use crate::trace::{Action, Answer};
use mo2fa_core::verifier::InboundMessage;

/// One replay of attacker `a`: the newest capture at least `capture_age` old.
pub(super) fn replay(run: &mut Run<'_>, webhook: &mut Webhook, a: usize, r: &Replay) {
    let cutoff_ms = run.clock.now_ms.saturating_sub(r.capture_age_ms);
    let Some(pos) = webhook.captured.iter().rposition(|c| c.at_ms <= cutoff_ms) else {
        return;
    };
    let c = webhook.captured[pos].clone();
    let msg = c.msg;
    if !webhook.signature_ok(run.wall_ms(), &c.signature, c.body.as_bytes()) {
        run.record(Answer::Rejected, || Action::Replay { msg });
        run.row().webhook.replays_rejected += 1;
        run.acc.attackers[a].blocked += 1;
        return;
    }
    // Inside the tolerance: the dedupe cache answers, nothing changes.
    let m = InboundMessage {
        sender: "+15550000000",
        text: "",
        protocol: Some("imessage"),
    };
    let (outcome, duplicate) = webhook
        .verifier
        .receive_once(&format!("m{msg}"), &m, run.wall_ms());
    let answer = if duplicate {
        Answer::Duplicate
    } else {
        Answer::of_receive(&outcome)
    };
    run.record(answer, || Action::Replay { msg });
    if duplicate {
        run.row().webhook.replays_deduped += 1;
        run.acc.attackers[a].blocked += 1;
    } else {
        run.acc.attackers[a].succeeded += 1;
    }
}
