//! Legit users: Poisson arrivals shaped by the diurnal cycle and growth (by thinning), the
//! reverse flow's start, the SMS flow and the reverse flow's outbound-SMS fallback (texted code,
//! read and typed back), and the trace records of those requests.

use super::defences::Requester;
use super::time;
use super::world::{Ev, FlowSide, Population, Run, Texted, Webhook, country_u16, sender};
use crate::flow::{Flow, PerFlow};
use crate::outcome::Unverified;
use crate::scenario::{Fallback, Scenario};
use crate::trace::{Action, Answer};
use mo2fa_core::sms_otp::CheckOutcome;
use rand::Rng;
use rand_distr::Distribution;

/// The legit arrival rate at `t_ms`, per second.
pub(super) fn legit_rate(sc: &Scenario, t_ms: u64) -> f64 {
    let l = &sc.legit;
    let day = time::days(t_ms);
    let diurnal =
        1.0 + l.diurnal_amplitude.0 * (std::f64::consts::TAU * (day.fract() - 0.25)).sin();
    l.rate_per_s.0 * diurnal * (1.0 + l.growth_per_day.0 * day)
}

/// Schedules the next arrival candidate at the peak rate.
pub(super) fn schedule_arrival(run: &mut Run<'_>, pop: &mut Population) {
    if let Some(gap) = run.exp_ms(pop.max_legit_rate) {
        pop.arrival_clock_ms += gap;
        run.at(time::whole_ms(pop.arrival_clock_ms), Ev::Arrival);
    }
}

/// A legit arrival candidate: thinned to the rate now, then a user who starts in every flow
/// the scenario runs.
pub(super) fn arrival(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    flows: &mut PerFlow<FlowSide>,
) {
    // Thinning: candidates at the peak rate, accepted in proportion to the rate now.
    schedule_arrival(run, pop);
    if run.rng.random::<f64>() * pop.max_legit_rate > legit_rate(run.sc, run.clock.now_ms) {
        return;
    }
    run.acc.users.legit += 1;
    let country = pop.pick_country(&mut run.rng);
    let number = pop.legit_number(&mut run.rng, country);
    let user = pop.new_user(country, number);
    // The app account asking for the codes: one per legit user.
    let now = run.clock.now_ms;
    let u = &mut pop.users[user as usize];
    u.account = run.acc.users.legit;
    u.legit = true;
    u.start_ms = now;
    let sends = run.rng.random::<f64>() < run.sc.legit.p_send.0;
    let delay_ms = pop.send_delay_ms(&mut run.rng);
    pop.users[user as usize].refs = 1; // held by this function until the end
    if run.runs.sms {
        sms_start(run, pop, &mut flows.sms, Flow::Sms, user, (sends, delay_ms));
    }
    if run.runs.reverse {
        run.row().legit.legit_starts += 1;
        let c = &pop.countries[country];
        let has_imessage = run.rng.random::<f64>() < c.imessage;
        match (has_imessage, c.fallback) {
            (false, Fallback::OutboundSms) => {
                sms_start(
                    run,
                    pop,
                    &mut flows.reverse,
                    Flow::Reverse,
                    user,
                    (sends, delay_ms),
                );
            }
            (imessage, _) => {
                pop.users[user as usize].inbound_sms = !imessage;
                reverse_start(run, pop, webhook, user, (sends, delay_ms));
            }
        }
    }
    pop.release(run, user);
}

/// The reverse flow's start for `user`, and their sends of the code (`sends`, after
/// `delay_ms`; a typo retyped, a second send).
fn reverse_start(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    user: u32,
    (sends, delay_ms): (bool, u64),
) {
    let number = pop.users[user as usize].number;
    let req = run.start_request_for(number);
    let started = webhook.verifier.start(&req, run.wall_ms(), &mut run.rng);
    run.acc.pending(webhook.verifier.pending());
    let key = run.record_start(started.is_ok(), &req, number);
    let u = &mut pop.users[user as usize];
    u.key = key;
    u.id = started.as_ref().ok().map(|s| s.id);
    let Ok(s) = started else {
        run.row().legit.legit_refused += 1;
        pop.users[user as usize].flows.reverse.unverified = Unverified::Blocked;
        return;
    };
    pop.users[user as usize].code = s.code;
    if sends {
        run.acc.users.sent_reverse += 1;
        let typo = run.rng.random::<f64>() < run.sc.legit.typo_rate.0;
        let send_ms = run.after(delay_ms);
        pop.hold(run, user, send_ms, Ev::UserSend { user, typo });
        if typo {
            // Seeing no confirmation, the user retypes it correctly.
            let again_ms = send_ms.saturating_add(pop.send_delay_ms(&mut run.rng));
            pop.hold(run, user, again_ms, Ev::UserSend { user, typo: false });
        }
        if run.rng.random::<f64>() < run.sc.legit.double_send.0 {
            let again_ms = send_ms.saturating_add(1_000);
            pop.hold(run, user, again_ms, Ev::UserSend { user, typo: false });
        }
    }
}

/// Outbound SMS code: the sms flow, or the reverse flow's outbound fallback (`side` is
/// `flow`'s). The user reads it if `sends`, after the delivery and `delay_ms`.
pub(super) fn sms_start(
    run: &mut Run<'_>,
    pop: &mut Population,
    side: &mut FlowSide,
    flow: Flow,
    user: u32,
    (sends, delay_ms): (bool, u64),
) {
    let u = pop.users[user as usize];
    let c = usize::from(u.country);
    let ip = run.rng.random::<u32>();
    let network = pop.carrier_of(c, u.number);
    if let Some(captcha) = &run.sc.defences.captcha
        && !run.captcha_passes(captcha.pass_legit.0, flow)
    {
        run.row().legit.captcha_blocked_legit += 1;
        *run.acc.carriers[network].blocked_in(flow) += 1;
        pop.users[user as usize].flows[flow].unverified = Unverified::Blocked;
        return;
    }
    let attempt = pop.attempt(run.clock.now_ms, c, u.number, ip, u.account);
    if let Err(rule) = side.defend(run, pop, flow, &attempt, Requester::Legit) {
        *run.acc.carriers[network].blocked_in(flow) += 1;
        let u = &mut pop.users[user as usize];
        u.flows[flow].refused_by = Some(rule);
        u.flows[flow].unverified = Unverified::Blocked;
        return;
    }
    if !side.billing_accepts(run, flow, pop.carriers[network].price, true) {
        pop.users[user as usize].flows[flow].unverified = Unverified::Suspended;
        return;
    }
    let wall_ms = run.wall_ms();
    let started = side.otp.start(&sender(u.number), wall_ms, &mut run.rng);
    let key = run.new_key();
    run.record(Answer::sent(started.is_ok()), || Action::SmsStart {
        world: flow,
        key: Some(key),
        number: u.number,
        country: country_u16(c),
    });
    let Ok(code) = started else {
        pop.users[user as usize].flows[flow].unverified = Unverified::Other;
        return;
    };
    let price = pop.carriers[network].price;
    let row = run.row();
    *row.sms_legit_in(flow) += 1;
    *row.usd_in(flow) += price;
    *run.acc.carriers[network].sms_legit_in(flow) += 1;
    *run.acc.countries[c].sms_legit_in(flow) += 1;
    pop.users[user as usize].flows[flow].texted = Texted {
        code: code.code,
        key,
        ip,
    };
    if sends {
        sms_deliver(run, pop, user, flow, c, delay_ms);
    }
}

/// The texted code on its way: lost (`[sms] loss`), or read after the delivery time
/// (log-normal with `delivery_sigma`) and the user's delay; a user whose code has not
/// come by `resend_after` asks for a new one instead, once. With none of these keys set
/// it draws nothing and reads after the fixed `delivery`, as before they existed.
fn sms_deliver(
    run: &mut Run<'_>,
    pop: &mut Population,
    user: u32,
    flow: Flow,
    country: usize,
    delay_ms: u64,
) {
    let (median_ms, loss) = {
        let c = &pop.countries[country];
        (c.sms_delivery_ms, c.sms_loss)
    };
    let lost = loss > 0.0 && run.rng.random::<f64>() < loss;
    let sigma = run.sc.sms.delivery_sigma.0;
    let delivery_ms = if sigma > 0.0 {
        time::whole_ms(super::world::lognormal(median_ms, sigma).sample(&mut run.rng))
    } else {
        median_ms
    };
    let resend_ms = run
        .sc
        .sms
        .resend_after
        .map(|d| d.ms())
        .filter(|_| !pop.users[user as usize].flows[flow].resent);
    let u = &mut pop.users[user as usize];
    if lost {
        u.flows[flow].unverified = Unverified::NotDelivered;
    } else if delivery_ms.saturating_add(delay_ms) > run.sc.sms.ttl.ms() {
        u.flows[flow].unverified = Unverified::AfterTtl;
    }
    match resend_ms {
        Some(r) if lost || delivery_ms > r => {
            let at = run.after(r);
            pop.hold(run, user, at, Ev::SmsResend { user, flow });
        }
        _ if !lost => {
            let read_ms = run.after(delivery_ms.saturating_add(delay_ms));
            pop.hold(run, user, read_ms, Ev::SmsRead { user, flow });
        }
        _ => {}
    }
}

/// The user's code did not come: they ask for a new one.
pub(super) fn sms_resend(
    run: &mut Run<'_>,
    pop: &mut Population,
    side: &mut FlowSide,
    flow: Flow,
    user: u32,
) {
    pop.users[user as usize].flows[flow].resent = true;
    let delay_ms = pop.send_delay_ms(&mut run.rng);
    sms_start(run, pop, side, flow, user, (true, delay_ms));
    pop.release(run, user);
}

/// The user types the code texted to them in `flow` into the app.
pub(super) fn sms_read(
    run: &mut Run<'_>,
    pop: &mut Population,
    side: &mut FlowSide,
    flow: Flow,
    user: u32,
) {
    let u = pop.users[user as usize];
    let wall_ms = run.wall_ms();
    let texted = u.flows[flow].texted;
    let text = side.otp.format(texted.code);
    let checked = side.otp.check(&sender(u.number), &text, wall_ms);
    run.record(Answer::of_check(&checked), || Action::SmsRead {
        world: flow,
        key: texted.key,
        number: u.number,
    });
    if checked == CheckOutcome::Verified {
        let country = usize::from(u.country);
        let network = pop.carrier_of(country, u.number);
        *run.acc.carriers[network].verified_in(flow) += 1;
        let sent = pop.attempt(run.clock.now_ms, country, u.number, texted.ip, u.account);
        side.defended_verified(run, flow, &sent);
        run.verified_in(&mut pop.users[user as usize], flow);
        if flow == Flow::Reverse {
            run.acc.users.fallback_sms_verified += 1;
        }
        *run.row().legit_verified_in(flow) += 1;
    } else {
        let u = &mut pop.users[user as usize].flows[flow].unverified;
        if *u == Unverified::NeverSent {
            *u = Unverified::Other;
        }
    }
    pop.release(run, user);
}

#[cfg(test)]
mod tests {
    use super::super::world::World;
    use super::super::world::tests::{drain, scenario, world};
    use super::*;

    #[test]
    fn the_diurnal_cycle_peaks_at_noon_and_growth_compounds_per_day() {
        let sc = scenario(
            "duration = \"2d\"\n[legit]\nrate_per_s = 10.0\ndiurnal_amplitude = 0.5\n\
             p_send = 1.0\nsend_delay_median = \"5s\"\n\
             growth_per_day = 0.1\ncountries.US = { weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }\n\
             [emitter]\nlatency_median = \"300ms\"\n",
        );
        let w = world(&sc);
        let day = time::MS_PER_DAY;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(legit_rate(&sc, day / 4), 10.0 * 1.025),
            "06:00 is the mean"
        );
        assert!(
            close(legit_rate(&sc, day / 2), 15.0 * 1.05),
            "noon is the peak"
        );
        assert!(close(legit_rate(&sc, 0), 5.0), "midnight is the trough");
        assert!(close(legit_rate(&sc, day + day / 4), 10.0 * 1.125));
        assert!(
            close(w.pop.max_legit_rate, 10.0 * 1.5 * 1.2),
            "peak bound over two days"
        );
    }

    #[test]
    fn an_sms_user_gets_one_code_and_reads_it_after_delivery_and_delay() {
        let sc = scenario(
            "duration = \"1h\"\nflows = [\"sms\"]\n[sms]\ndelivery = \"5s\"\n[legit]\n\
             rate_per_s = 1.0\np_send = 1.0\nsend_delay_median = \"5s\"\n\
             countries.US = { weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }\n\
             [emitter]\nlatency_median = \"300ms\"\n",
        );
        let mut w = world(&sc);
        let u = sms_user_starts(&mut w, false);
        assert_eq!(w.run.acc.rows[0].legit.sms_legit_smsflow, 1);
        assert_eq!(w.run.acc.countries[0].sms_legit_smsflow, 1);
        let flow = Flow::Sms;
        next_is(&mut w, 5_700, Ev::SmsRead { user: u, flow });
        sms_read(&mut w.run, &mut w.pop, &mut w.flows.sms, Flow::Sms, u);
        assert_eq!(
            w.run.acc.rows[0].legit.legit_verified_sms, 1,
            "the texted code verifies"
        );
    }

    /// A new user of the first country (`legit` or a victim), held once, who asks for a code
    /// of the sms flow and will type it after 700 ms.
    fn sms_user_starts(w: &mut World<'_>, legit: bool) -> u32 {
        let u = w.pop.new_user(0, 10_005_550_100);
        w.pop.users[u as usize].refs = 1;
        w.pop.users[u as usize].legit = legit;
        let (run, pop, side) = (&mut w.run, &mut w.pop, &mut w.flows.sms);
        sms_start(run, pop, side, Flow::Sms, u, (true, 700));
        u
    }

    /// The only event pending is `ev` at `at_ms`: the clock moves there.
    fn next_is(w: &mut World<'_>, at_ms: u64, ev: Ev) {
        assert_eq!(drain(w), [(at_ms, ev)]);
        w.run.clock.now_ms = at_ms;
    }

    fn lossy(extra: &str) -> crate::scenario::Scenario {
        scenario(&format!(
            "duration = \"1h\"\nflows = [\"sms\"]\n[sms]\ndelivery = \"5s\"\nloss = 1.0\n{extra}[legit]\n\
             rate_per_s = 1.0\np_send = 1.0\nsend_delay_median = \"5s\"\n\
             countries.US = {{ weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }}\n\
             [emitter]\nlatency_median = \"300ms\"\n"
        ))
    }

    #[test]
    fn a_lost_sms_is_never_read_and_its_user_counts_as_not_delivered() {
        let sc = lossy("");
        let mut w = world(&sc);
        let u = sms_user_starts(&mut w, true);
        assert!(drain(&mut w).is_empty(), "nothing to read");
        w.pop.release(&mut w.run, u);
        let t = &w.run.acc.time_to_verify[0][Flow::Sms.index()];
        assert_eq!(t.causes[Unverified::NotDelivered as usize], 1);
        assert_eq!(t.verified, 0);
    }

    #[test]
    fn a_user_whose_code_did_not_come_asks_again_once() {
        let sc = lossy("resend_after = \"60s\"\n");
        let mut w = world(&sc);
        let u = sms_user_starts(&mut w, false);
        let flow = Flow::Sms;
        next_is(&mut w, 60_000, Ev::SmsResend { user: u, flow });
        sms_resend(&mut w.run, &mut w.pop, &mut w.flows.sms, Flow::Sms, u);
        assert_eq!(
            w.run.acc.rows[0].legit.sms_legit_smsflow, 2,
            "a second code was sent"
        );
        assert!(drain(&mut w).is_empty(), "and lost too: no third");
    }

    #[test]
    fn time_to_verify_quantiles_are_within_one_percent() {
        let mut t = crate::outcome::TimeToVerify::default();
        for ms in 1..=1000u64 {
            t.record(ms * 100);
        }
        let close = |q: f64, want: f64| {
            let got = t.quantile_ms(q).unwrap() as f64;
            assert!((got - want).abs() <= want * 0.011, "q{q}: {got} vs {want}");
        };
        close(0.5, 50_000.0);
        close(0.9, 90_000.0);
        close(0.99, 99_000.0);
        t.unverified(Unverified::AfterTtl);
        assert_eq!(t.users(), 1001);
        assert_eq!(
            crate::outcome::TimeToVerify::default().quantile_ms(0.5),
            None
        );
    }
}
