//! SIM swap: the carrier moves a victim's number to the attacker's SIM (`swap_success`), and
//! the attacker logs in as the victim in each flow. SMS OTP texts the code to the number: the
//! attacker has it. The reverse flow asks for a message from the victim: the attacker sends
//! it by iMessage only with the victim's Apple ID (`apple_id`); otherwise it claims to have no
//! iMessage and takes the country's fallback: an outbound SMS code comes to the swapped SIM,
//! an inbound SMS is sent from it (verified only where the verifier accepts SMS).

use super::super::provider::{Delivery, deliver};
use super::super::world::{FlowSide, Population, Run, Webhook};
use super::takeover::{Kind, attempt, code_to_attacker, count};
use crate::flow::{Flow, PerFlow};
use crate::scenario::{Fallback, SimSwap};
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

/// One SIM swap of attacker `a`, then a login as the victim in every flow the scenario runs.
pub(super) fn swap(
    run: &mut Run<'_>,
    pop: &Population,
    flows: &mut PerFlow<FlowSide>,
    webhook: &mut Webhook,
    a: usize,
    s: &SimSwap,
) {
    let Some((country, number)) = attempt(run, pop, Kind::SimSwap, a, s.swap_success) else {
        return;
    };
    let before = run.acc.attackers[a].succeeded;
    if run.runs.sms {
        let taken = code_to_attacker(run, pop, &mut flows.sms, Flow::Sms, (a, country, number));
        count(run, Kind::SimSwap, a, Flow::Sms, taken);
    }
    if run.runs.reverse {
        let taken = reverse(
            run,
            pop,
            &mut flows.reverse,
            webhook,
            (a, country, number),
            s,
        );
        count(run, Kind::SimSwap, a, Flow::Reverse, taken);
    }
    if run.acc.attackers[a].succeeded == before {
        run.acc.attackers[a].blocked += 1;
    }
}

/// The reverse flow with the victim's number but not (unless `apple_id`) their Apple ID.
fn reverse(
    run: &mut Run<'_>,
    pop: &Population,
    fallback_side: &mut FlowSide,
    webhook: &mut Webhook,
    (a, country, number): (usize, usize, u64),
    s: &SimSwap,
) -> bool {
    let apple_id = run.rng.random::<f64>() < s.apple_id;
    let fallback = pop.countries[country].fallback;
    if !apple_id && fallback == Fallback::OutboundSms {
        // "No iMessage, text me": the fallback's code comes to the swapped SIM.
        return code_to_attacker(run, pop, fallback_side, Flow::Reverse, (a, country, number));
    }
    let req = run.start_request_for(number);
    let started = webhook.verifier.start(&req, run.wall_ms(), &mut run.rng);
    let key = run.record_start(started.is_ok(), &req, number);
    let Ok(s) = started else {
        return false;
    };
    run.acc.pending(webhook.verifier.pending());
    let text = webhook.spec.format(s.code).to_string();
    webhook.msg_seq += 1;
    let delivery = Delivery {
        number,
        text: &text,
        text_ref: || Text::Code(key),
        // With the Apple ID, an iMessage from the victim's handle; without it, an SMS from the
        // swapped number to the inbound fallback.
        protocol: if apple_id { "imessage" } else { "sms" },
        msg: webhook.msg_seq,
        legit: false,
        twice: false,
    };
    matches!(
        deliver(run, webhook, delivery),
        Some(ReceiveOutcome::Verified { .. })
    )
}
