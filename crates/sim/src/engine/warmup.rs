//! `[history]` before the clock starts: the explicit history handed to every flow's guard
//! (`SmsGuard::seed_history`, or `seed_history_before` ahead of a warm-up), and a warm-up that
//! replays the scenario's own legit
//! population for `warmup` before time 0 through the flows' guards, without recording it.
//!
//! The warm-up draws from its own random stream (seeded from the run's seed), so the run after
//! it makes exactly the draws a run without history makes: a cold and a warm run of the same
//! scenario and seed differ only in what the guards learnt. Each user is one legit arrival as
//! in the run (country by weight, number, iMessage, fallback, CAPTCHA), at the rate of the
//! time of day without growth (assumed: the history is the traffic of the run's first day);
//! a sent code is verified with probability `p_send`, after the SMS delivery time and the
//! user's delay. Verifications that would land after time 0 are dropped. Nothing is counted
//! or billed; what the guards refused or charged while warming up is forgotten
//! (`SmsGuard::end_replay`), what they learnt stays.

use super::legit::legit_rate;
use super::time;
use super::world::{FlowSide, Population, Run};
use crate::flow::Flow;
use crate::flow::PerFlow;
use crate::scenario::Fallback;
use mo2fa_core::sms_defences::Attempt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Mixed into the run's seed for the warm-up's own stream.
const WARMUP_STREAM: u64 = 0x5741_524d_5550_0001;
/// Warm-up users' app accounts start here, apart from the run's (1, 2, ...).
const WARMUP_ACCOUNTS: u64 = 1 << 48;

/// A code sent during the warm-up: verified at (ms since the warm-up's start), flow index,
/// country, number, address, account.
type Pending = Reverse<(u64, u8, usize, u64, u128, u64)>;

/// Gives every flow's guard the scenario's `[history]` (nothing without one). The warm-up
/// draws from its own stream: `run`'s is put back as it was.
pub(super) fn warm_up(
    run: &mut Run<'_>,
    pop: &Population,
    flows: &mut PerFlow<FlowSide>,
    seed: u64,
) {
    let mut w = Warmup { run, pop, flows };
    w.warm_up(seed);
}

/// What the warm-up touches: the run (its stream swapped for the warm-up's), the population
/// (read only) and the flows' guards.
struct Warmup<'w, 'a> {
    run: &'w mut Run<'a>,
    pop: &'w Population,
    flows: &'w mut PerFlow<FlowSide>,
}

impl Warmup<'_, '_> {
    fn warm_up(&mut self, seed: u64) {
        let Some(h) = &self.run.sc.money.history else {
            return;
        };
        let explicit = h.explicit();
        let Some(span) = h.warmup_ms().filter(|&ms| ms > 0) else {
            for flow in Flow::ALL {
                if let Some(e) = &explicit {
                    self.flows[flow].guard.seed_history(e, 0);
                }
            }
            return;
        };
        for flow in Flow::ALL {
            if let Some(e) = &explicit {
                self.flows[flow].guard.seed_history_before(e, span);
            }
        }
        // Only rules learn: a guard without any (or with per-window limits only) has nothing
        // to warm up, and the replay's cost is skipped.
        let learns = self.run.sc.defences.sms.conversion.is_some()
            || Flow::ALL
                .iter()
                .any(|&f| self.flows[f].runs && self.flows[f].guard.rule_count() > 0);
        if !learns {
            return;
        }
        let main = std::mem::replace(
            &mut self.run.rng,
            ChaCha8Rng::seed_from_u64(seed ^ WARMUP_STREAM),
        );
        for flow in Flow::ALL {
            self.flows[flow].guard.begin_replay(span);
        }
        self.replay_population(span);
        for flow in Flow::ALL {
            self.flows[flow].guard.end_replay();
        }
        self.run.rng = main;
    }

    /// The legit arrivals of `span` ms before time 0, through the guards.
    fn replay_population(&mut self, span: u64) {
        let l = &self.run.sc.legit;
        let peak = l.rate_per_s.0 * (1.0 + l.diurnal_amplitude.0);
        let (p_send, delivery) = (l.p_send.0, self.run.sc.sms.delivery.ms());
        let phase = time::MS_PER_DAY - span % time::MS_PER_DAY;
        let mut pending: BinaryHeap<Pending> = BinaryHeap::new();
        let (mut clock, mut users) = (0.0f64, 0u64);
        while let Some(gap) = self.run.exp_ms(peak) {
            clock += gap;
            let t = time::whole_ms(clock);
            if t >= span {
                break;
            }
            self.verify_due(&mut pending, t, span);
            let time_of_day = (t + phase) % time::MS_PER_DAY;
            if self.run.rng.random::<f64>() * peak > legit_rate(self.run.sc, time_of_day) {
                continue;
            }
            users += 1;
            let country = self.pop.pick_country(&mut self.run.rng);
            let number = self.pop.legit_number(&mut self.run.rng, country);
            let sends = self.run.rng.random::<f64>() < p_send;
            let verify_at = t + delivery + self.pop.send_delay_ms(&mut self.run.rng);
            let c = &self.pop.countries[country];
            let (imessage, fallback) = (c.imessage, c.fallback);
            let texted_in_reverse = self.flows.reverse.runs
                && fallback == Fallback::OutboundSms
                && self.run.rng.random::<f64>() >= imessage;
            for flow in Flow::ALL {
                let texted = match flow {
                    Flow::Sms => self.flows.sms.runs,
                    Flow::Reverse => texted_in_reverse,
                };
                if !texted || !self.warm_captcha() {
                    continue;
                }
                let ip = self.run.rng.random::<u32>();
                let now_ms = self.run.clock.now_ms;
                let a = self
                    .pop
                    .attempt(now_ms, country, number, ip, WARMUP_ACCOUNTS + users);
                let sent = self.flows[flow].guard.check_before(&a, span - t).is_ok();
                if sent && sends {
                    pending.push(Reverse((
                        verify_at,
                        flow.index() as u8,
                        a.country,
                        a.number,
                        a.ip,
                        a.account,
                    )));
                }
            }
        }
        self.verify_due(&mut pending, span, span);
    }

    /// Reports the warm-up's verifications due before `t` (and before time 0).
    fn verify_due(&mut self, pending: &mut BinaryHeap<Pending>, t: u64, span: u64) {
        while let Some(&Reverse((at, flow, country, number, ip, account))) = pending.peek() {
            if at > t {
                break;
            }
            pending.pop();
            if at < span {
                let flow = Flow::ALL[usize::from(flow)];
                let a = Attempt {
                    network: self.pop.network_in_country(country, number),
                    country,
                    number,
                    ip,
                    account,
                    now: 0,
                };
                self.flows[flow].guard.verified_before(&a, span - at);
            }
        }
    }

    /// A legit user passes the scenario's CAPTCHA (always, without one).
    fn warm_captcha(&mut self) -> bool {
        match &self.run.sc.defences.captcha {
            Some(c) => self.run.rng.random::<f64>() < c.pass_legit.0,
            None => true,
        }
    }
}
