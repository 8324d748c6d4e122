//! What the takeover attacks (`sim_swap`, `relay_phishing`, `spoofed_sender`) share: a victim
//! drawn from the legit population, and an SMS code of a flow that reaches the attacker (on a
//! swapped SIM, or handed over by the victim) and is typed into the app through the real
//! SMS-OTP check. The code's send goes through the flow's SMS defences like any request (the
//! attacker's: a rule may refuse it); it is not priced, as it is one SMS per victim.

use super::super::defences::Requester;
use super::super::world::{FlowSide, Population, Run, country_u16, sender};
use crate::flow::Flow;
use crate::outcome::TakeoverCounts;
use crate::trace::{Action, Answer};
use mo2fa_core::sms_otp::CheckOutcome;
use rand::Rng;

/// A victim: a legit user's country and number, drawn as legit arrivals draw them.
pub(super) fn victim(run: &mut Run<'_>, pop: &Population) -> (usize, u64) {
    let country = pop.pick_country(&mut run.rng);
    (country, pop.legit_number(&mut run.rng, country))
}

/// One attempt of attacker `a` of `kind` on a drawn victim, which succeeds with probability
/// `p`: the victim's country and number, or `None` (counted as failed and blocked).
pub(super) fn attempt(
    run: &mut Run<'_>,
    pop: &Population,
    kind: Kind,
    a: usize,
    p: f64,
) -> Option<(usize, u64)> {
    kind.counts(run).victims += 1;
    let found = victim(run, pop);
    if run.rng.random::<f64>() >= p {
        kind.counts(run).failed_before += 1;
        run.acc.attackers[a].blocked += 1;
        return None;
    }
    Some(found)
}

/// Attacker `a` asks `flow` (`side`) for a code to `number` and types it back: `true` when it
/// verified. `reaches`: whether the code reaches the attacker (a draw made after the send).
pub(super) fn code_to_attacker(
    run: &mut Run<'_>,
    pop: &Population,
    side: &mut FlowSide,
    flow: Flow,
    (a, country, number): (usize, usize, u64),
) -> bool {
    let ip = run.rng.random::<u32>();
    let attempt = pop.attempt(run.clock.now_ms, country, number, ip, 0);
    if side
        .defend(run, pop, flow, &attempt, Requester::Attacker(a))
        .is_err()
    {
        return false;
    }
    let started = side.otp.start(&sender(number), run.wall_ms(), &mut run.rng);
    let key = run.new_key();
    run.record(Answer::sent(started.is_ok()), || Action::SmsStart {
        world: flow,
        key: Some(key),
        number,
        country: country_u16(country),
    });
    let Ok(code) = started else {
        return false;
    };
    typed_back(run, pop, side, flow, (country, number, code.code, key))
}

/// The code `code` (trace key `key`) of `number`, typed into the app now in `flow`: the real
/// SMS-OTP check; a verified code is reported to the flow's defences as any verification.
pub(super) fn typed_back(
    run: &mut Run<'_>,
    pop: &Population,
    side: &mut FlowSide,
    flow: Flow,
    (country, number, code, key): (usize, u64, u32, u32),
) -> bool {
    let text = side.otp.format(code);
    let checked = side.otp.check(&sender(number), &text, run.wall_ms());
    run.record(Answer::of_check(&checked), || Action::SmsRead {
        world: flow,
        key,
        number,
    });
    if checked != CheckOutcome::Verified {
        return false;
    }
    let attempt = pop.attempt(run.clock.now_ms, country, number, 0, 0);
    side.defended_verified(run, flow, &attempt);
    true
}

/// Counts one flow's outcome of a takeover attempt for attacker `a`.
pub(super) fn count(run: &mut Run<'_>, kind: Kind, a: usize, flow: Flow, taken: bool) {
    let t = kind.counts(run);
    if taken {
        t.taken[flow.index()] += 1;
        run.acc.attackers[a].succeeded += 1;
    } else {
        t.refused[flow.index()] += 1;
    }
}

/// The takeover kinds, for their counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    SimSwap,
    Relay,
    Spoof,
}

impl Kind {
    pub fn counts<'r>(self, run: &'r mut Run<'_>) -> &'r mut TakeoverCounts {
        let t = &mut run.acc.takeovers;
        match self {
            Kind::SimSwap => &mut t.sim_swap,
            Kind::Relay => &mut t.relay,
            Kind::Spoof => &mut t.spoof,
        }
    }
}
