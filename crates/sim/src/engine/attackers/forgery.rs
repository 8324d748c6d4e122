//! Webhook forgeries: deliveries signed with a guessed secret.

use super::super::provider::emitted;
use super::super::time;
use super::super::world::{Run, Webhook};
use super::AttackerRt;
use crate::trace::{Action, Answer};
use mo2fa_core::webhook::Inbound;

/// One forged delivery of attacker `a`.
pub(super) fn forge(run: &mut Run<'_>, webhook: &mut Webhook, rt: &mut AttackerRt, a: usize) {
    let code = webhook
        .spec
        .format(webhook.spec.random(&mut run.rng))
        .to_string();
    let n = rt.counter;
    rt.counter += 1;
    let body = emitted(
        run.sc,
        &Inbound {
            message_id: &format!("forged{n}"),
            sender: "+15550000000",
            text: &code,
            protocol: "imessage",
            received_at_ms: run.wall_ms(),
        },
    );
    let header = webhook
        .forger
        .sign_blooio(time::unix_s(run.wall_ms()), body.as_bytes());
    let accepted = webhook.signature_ok(run.wall_ms(), &header, body.as_bytes());
    // Accepted forgeries are not processed further here: they are counted as successes.
    let answer = if accepted {
        Answer::Accepted
    } else {
        Answer::Rejected
    };
    run.record(answer, || Action::Forged {
        n,
        code: code.as_str().into(),
    });
    if !accepted {
        run.row().webhook.forged_rejected += 1;
        run.acc.attackers[a].blocked += 1;
    } else {
        run.acc.attackers[a].succeeded += 1;
    }
}
