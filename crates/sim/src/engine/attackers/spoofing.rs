//! Spoofed sender IDs against each flow's check. SMS OTP checks only the code: a lure sent
//! under the app's spoofed sender ID asks the victim for the code just texted to them
//! (`success`), and the attacker types it in. The reverse flow checks who sent the code, as
//! the provider attests it: the attacker starts a login as the victim and sends its code
//! "from" the victim's number. Posted straight to the webhook without the secret, the
//! signature check refuses it (an unsigned webhook, `emitter.sign = false`, takes it); sent as
//! an SMS with a forged From, it reaches the provider as from the victim for a share
//! (`spoof_delivery`) and verifies where the verifier accepts SMS; otherwise the attacker can
//! only send from its own iMessage, which Apple attests, and the sender binding refuses it.

use super::super::provider::{Delivery, deliver};
use super::super::world::{FlowSide, Population, Run, Webhook, sender};
use super::AttackerRt;
use super::forgery::post_forged;
use super::takeover::{Kind, code_to_attacker, count, victim};
use crate::flow::{Flow, PerFlow};
use crate::scenario::Spoof;
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

/// The attacker's own iMessage handle (in the attackers' block, where no legit user is).
const ATTACKER_HANDLE: u64 = 99 * 10_000_000_000 + 999_999_999;

/// One spoofing attempt of attacker `a` (`rt`, its state) on a new victim, in every flow.
pub(super) fn spoof(
    run: &mut Run<'_>,
    pop: &Population,
    flows: &mut PerFlow<FlowSide>,
    webhook: &mut Webhook,
    (rt, a): (&mut AttackerRt, usize),
    s: &Spoof,
) {
    Kind::Spoof.counts(run).victims += 1;
    let (country, number) = victim(run, pop);
    let before = run.acc.attackers[a].succeeded;
    if run.runs.sms {
        let lured = run.rng.random::<f64>() < s.success;
        let taken =
            lured && code_to_attacker(run, pop, &mut flows.sms, Flow::Sms, (a, country, number));
        count(run, Kind::Spoof, a, Flow::Sms, taken);
    }
    if run.runs.reverse {
        let taken = reverse(run, webhook, (rt, number), s);
        count(run, Kind::Spoof, a, Flow::Reverse, taken);
    }
    if run.acc.attackers[a].succeeded == before {
        run.acc.attackers[a].blocked += 1;
    }
}

/// The reverse flow: a login started as the victim, its code sent under the victim's number.
fn reverse(
    run: &mut Run<'_>,
    webhook: &mut Webhook,
    (rt, number): (&mut AttackerRt, u64),
    s: &Spoof,
) -> bool {
    let req = run.start_request_for(number);
    let started = webhook.verifier.start(&req, run.wall_ms(), &mut run.rng);
    let key = run.record_start(started.is_ok(), &req, number);
    let Ok(started) = started else {
        return false;
    };
    run.acc.pending(webhook.verifier.pending());
    let code = webhook.spec.format(started.code).to_string();
    // 1. Straight to the webhook, signed with a guess at the secret.
    if run.sc.emitter.sign {
        let victim = sender(number).to_string();
        if post_forged(run, webhook, rt, ("spoofed", &victim), &code) {
            return true;
        }
        Kind::Spoof.counts(run).refused_signature += 1;
    }
    // 2. An unsigned webhook takes the post; else an SMS with a forged From, where the
    //    verifier accepts SMS and the forged From gets through; else its own iMessage.
    let (from, protocol) = if !run.sc.emitter.sign {
        (number, "imessage")
    } else if run.sc.verifier.accept_sms && run.rng.random::<f64>() < s.spoof_delivery {
        (number, "sms")
    } else {
        (ATTACKER_HANDLE, "imessage")
    };
    webhook.msg_seq += 1;
    let delivery = Delivery {
        number: from,
        text: &code,
        text_ref: || Text::Code(key),
        protocol,
        msg: webhook.msg_seq,
        legit: false,
        twice: false,
    };
    match deliver(run, webhook, delivery) {
        Some(ReceiveOutcome::Verified { .. }) => true,
        Some(ReceiveOutcome::SenderMismatch { .. }) => {
            Kind::Spoof.counts(run).refused_sender += 1;
            false
        }
        _ => false,
    }
}
