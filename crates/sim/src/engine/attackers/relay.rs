//! Real-time relay phishing: a lured victim logs in on the attacker's page (`success`), which
//! relays in real time. SMS OTP: the attacker asks the app for the victim's code, the victim
//! types the texted code into the page, and the attacker types it into the app `relay_delay`
//! later (the real check decides, TTL included). Reverse flow (the mirror relay): the attacker
//! starts a login as the victim, the page shows its code and the victim sends it from their
//! own phone, so the sender binding holds and the code verifies the attacker's session.

use super::super::provider::{Delivery, deliver};
use super::super::world::{Ev, FlowSide, Population, Run, Texted, Webhook, country_u16, sender};
use super::attacker_u16;
use super::takeover::{Kind, attempt, count, typed_back};
use crate::flow::{Flow, PerFlow};
use crate::scenario::Relay;
use crate::trace::{Action, Answer, Text};
use mo2fa_core::verifier::ReceiveOutcome;
use rand::Rng;

use super::super::defences::Requester;

/// One lured victim of attacker `a`, in every flow the scenario runs.
pub(super) fn lure(
    run: &mut Run<'_>,
    pop: &mut Population,
    flows: &mut PerFlow<FlowSide>,
    webhook: &mut Webhook,
    a: usize,
    r: &Relay,
) {
    let Some((country, number)) = attempt(run, pop, Kind::Relay, a, r.success) else {
        return;
    };
    let user = pop.new_user(country, number);
    pop.users[user as usize].refs = 1;
    let delay_ms = pop.send_delay_ms(&mut run.rng);
    let a16 = attacker_u16(a);
    if run.runs.sms {
        let delivery_ms = pop.countries[country].sms_delivery_ms;
        if sms_code_to_victim(run, pop, &mut flows.sms, (a, user)) {
            let at = run.after(
                delivery_ms
                    .saturating_add(delay_ms)
                    .saturating_add(r.relay_ms),
            );
            let ev = Ev::Relay {
                user,
                a: a16,
                flow: Flow::Sms,
            };
            pop.hold(run, user, at, ev);
        } else {
            count(run, Kind::Relay, a, Flow::Sms, false);
        }
    }
    if run.runs.reverse {
        let req = run.start_request_for(number);
        let started = webhook.verifier.start(&req, run.wall_ms(), &mut run.rng);
        let key = run.record_start(started.is_ok(), &req, number);
        match started {
            Ok(s) => {
                run.acc.pending(webhook.verifier.pending());
                let u = &mut pop.users[user as usize];
                (u.code, u.key) = (s.code, key);
                let at = run.after(delay_ms);
                let ev = Ev::Relay {
                    user,
                    a: a16,
                    flow: Flow::Reverse,
                };
                pop.hold(run, user, at, ev);
            }
            Err(_) => count(run, Kind::Relay, a, Flow::Reverse, false),
        }
    }
    pop.release(run, user);
}

/// The attacker, logging in as `user`, has the app text the victim a code (through the flow's
/// SMS defences); `true` when it was sent.
fn sms_code_to_victim(
    run: &mut Run<'_>,
    pop: &mut Population,
    side: &mut FlowSide,
    (a, user): (usize, u32),
) -> bool {
    let u = pop.users[user as usize];
    let country = usize::from(u.country);
    let ip = run.rng.random::<u32>();
    let attempt = pop.attempt(run.clock.now_ms, country, u.number, ip, 0);
    if side
        .defend(run, pop, Flow::Sms, &attempt, Requester::Attacker(a))
        .is_err()
    {
        return false;
    }
    let started = side
        .otp
        .start(&sender(u.number), run.wall_ms(), &mut run.rng);
    let key = run.new_key();
    run.record(Answer::sent(started.is_ok()), || Action::SmsStart {
        world: Flow::Sms,
        key: Some(key),
        number: u.number,
        country: country_u16(country),
    });
    let Ok(code) = started else {
        return false;
    };
    pop.users[user as usize].flows.sms.texted = Texted {
        code: code.code,
        key,
        ip,
    };
    true
}

/// The victim's code is handed over in `flow`: relayed into the app (sms), or sent by the
/// victim from their phone (reverse).
pub(in crate::engine) fn relay_arrives(
    run: &mut Run<'_>,
    pop: &mut Population,
    flows: &mut PerFlow<FlowSide>,
    webhook: &mut Webhook,
    (user, a): (u32, usize),
    flow: Flow,
) {
    let u = pop.users[user as usize];
    let taken = match flow {
        Flow::Sms => {
            let t = u.flows.sms.texted;
            let country = usize::from(u.country);
            typed_back(
                run,
                pop,
                &mut flows.sms,
                flow,
                (country, u.number, t.code, t.key),
            )
        }
        Flow::Reverse => {
            webhook.msg_seq += 1;
            let text = webhook.spec.format(u.code).to_string();
            let delivery = Delivery {
                number: u.number,
                text: &text,
                text_ref: || Text::Code(u.key),
                protocol: "imessage",
                msg: webhook.msg_seq,
                legit: false,
                twice: false,
            };
            matches!(
                deliver(run, webhook, delivery),
                Some(ReceiveOutcome::Verified { .. })
            )
        }
    };
    count(run, Kind::Relay, a, flow, taken);
    pop.release(run, user);
}
