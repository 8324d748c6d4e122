//! Reverse-OTP phishing: the attacker starts a login as the victim and persuades the victim
//! to send the attacker's code.

use super::super::provider::{Delivery, deliver};
use super::super::world::{Ev, Population, Run, Webhook};
use super::attacker_u16;
use crate::scenario::Phishing;
use crate::trace::Text;
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

/// One phishing attempt of attacker `a` on a new victim.
pub(super) fn phish(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    a: usize,
    p: &Phishing,
) {
    let country = pop.pick_country(&mut run.rng);
    let number = pop.legit_number(&mut run.rng, country);
    let victim = pop.new_user(country, number);
    pop.users[victim as usize].refs = 1;
    // The attacker logs in as the victim: the challenge is bound to the victim's number.
    let req = run.start_request_for(number);
    let started = webhook.verifier.start(&req, run.wall_ms(), &mut run.rng);
    let key = run.record_start(started.is_ok(), &req, number);
    pop.users[victim as usize].key = key;
    if let Ok(s) = started {
        pop.users[victim as usize].code = s.code;
        if run.rng.random::<f64>() < p.success {
            let delay_ms = pop.send_delay_ms(&mut run.rng);
            let send_ms = run.after(delay_ms);
            let a = attacker_u16(a);
            pop.hold(run, victim, send_ms, Ev::VictimSend { user: victim, a });
        }
    }
    pop.release(run, victim);
}

/// The persuaded victim sends attacker `a`'s code.
pub(in crate::engine) fn victim_send(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    user: u32,
    a: usize,
) {
    let u = pop.users[user as usize];
    webhook.msg_seq += 1;
    let msg = webhook.msg_seq;
    let text = webhook.spec.format(u.code).to_string();
    let delivery = Delivery {
        number: u.number,
        text: &text,
        text_ref: || Text::Code(u.key),
        protocol: "imessage",
        msg,
        legit: false,
        twice: false,
    };
    if let Some(ReceiveOutcome::Verified { .. }) = deliver(run, webhook, delivery) {
        run.row().webhook.phishing_successes += 1;
        run.acc.attackers[a].succeeded += 1;
    }
    pop.release(run, user);
}
