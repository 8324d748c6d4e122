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
    // Accepted forgeries are not processed further here: they are counted as successes.
    if post_forged(run, webhook, rt, ("forged", "+15550000000"), &code) {
        run.acc.attackers[a].succeeded += 1;
    } else {
        run.row().webhook.forged_rejected += 1;
        run.acc.attackers[a].blocked += 1;
    }
}

/// Posts `code` straight to the webhook as an iMessage from `sender`, signed with the
/// forger's guess at the secret, under the message id `{prefix}{n}` (`n` counts the
/// attacker's posts); records it and says whether the signature check took it.
pub(super) fn post_forged(
    run: &mut Run<'_>,
    webhook: &mut Webhook,
    rt: &mut AttackerRt,
    (prefix, sender): (&str, &str),
    code: &str,
) -> bool {
    let n = rt.counter;
    rt.counter += 1;
    let body = emitted(
        run.sc,
        &Inbound {
            message_id: &format!("{prefix}{n}"),
            sender,
            text: code,
            protocol: "imessage",
            received_at_ms: run.wall_ms(),
        },
    );
    let header = webhook
        .forger
        .sign_blooio(time::unix_s(run.wall_ms()), body.as_bytes());
    let accepted = webhook.signature_ok(run.wall_ms(), &header, body.as_bytes());
    let answer = if accepted {
        Answer::Accepted
    } else {
        Answer::Rejected
    };
    run.record(answer, || Action::Forged {
        n,
        code: code.into(),
    });
    accepted
}
