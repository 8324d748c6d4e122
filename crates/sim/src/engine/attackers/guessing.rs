//! Code guessing: messages full of random codes, sent from the attacker's own accounts.

use super::super::provider::{Delivery, deliver};
use super::super::world::{Run, Webhook};
use crate::scenario::Guessing;
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

/// Attackers' own sending accounts live in a block no legit user has.
const ATTACKER_ACCOUNTS_BASE: u64 = 99 * 10_000_000_000;

/// One message of guesses from attacker `a`.
pub(super) fn guess(run: &mut Run<'_>, webhook: &mut Webhook, a: usize, g: &Guessing) {
    let accounts = u64::from(g.sender_accounts);
    let number = ATTACKER_ACCOUNTS_BASE + run.rng.random_range(0..accounts);
    let text: Vec<String> = (0..g.candidates_per_message)
        .map(|_| {
            webhook
                .spec
                .format(webhook.spec.random(&mut run.rng))
                .to_string()
        })
        .collect();
    let text = text.join(" ");
    run.row().webhook.guess_messages += 1;
    let limit = run.sc.defences.reverse.per_sender_per_hour;
    if !webhook.sender_allowed(limit, run.clock.now_ms, number) {
        run.acc.attackers[a].blocked += 1;
        return;
    }
    webhook.msg_seq += 1;
    let msg = webhook.msg_seq;
    let delivery = Delivery {
        number,
        text: &text,
        text_ref: || Text::Literal(text.as_str().into()),
        protocol: "imessage",
        msg,
        legit: false,
        twice: false,
    };
    match deliver(run, webhook, delivery) {
        Some(ReceiveOutcome::Verified { .. }) => {
            let row = run.row();
            row.webhook.guess_hits += 1;
            row.webhook.hijacks += 1;
            run.acc.attackers[a].succeeded += 1;
        }
        Some(ReceiveOutcome::SenderMismatch { .. }) => {
            run.row().webhook.guess_hits += 1;
            run.acc.attackers[a].blocked += 1;
        }
        _ => {}
    }
}
