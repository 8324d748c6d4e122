//! The discrete-event engine.
//!
//! Virtual time in milliseconds, one priority queue of small `Copy` events ordered by
//! (time, sequence number), and one ChaCha8 stream seeded from the scenario: the same scenario
//! and seed replay the same events in the same order, so reports are byte-identical.
//!
//! Two worlds run side by side on the same users and attackers: the **sms** world (outbound SMS
//! one-time codes through [`SmsOtp`](mo2fa_core::sms_otp::SmsOtp)) and the **reverse** world
//! (challenges through the real [`Verifier`](mo2fa_core::verifier::Verifier), messages through
//! the simulated provider, each country's fallback for users without iMessage). Every decision
//! is made by the real core code; the engine only decides who does what when.
//!
//! This file is the run loop; the parts are `queue` (the event heap), `world` (the run's state
//! in owned parts, and the helpers every flow uses), `legit` (legit users), `provider` (the
//! webhook emitter and the webhook), `attackers` (one module per kind), `defences` (each
//! flow's SMS guard), `accounting` (the counters, turned into the [`Outcome`]) and `billing`
//! (each flow's provider account).

mod accounting;
mod attackers;
mod billing;
mod defences;
mod legit;
mod provider;
mod queue;
mod sms_log;
mod warmup;
mod world;

pub use crate::outcome::{
    AttackerStats, Block, CarrierStats, CountryStats, Counts, FlowDefences, Outcome, Row,
    UserCounts,
};
pub use crate::time::{self, EPOCH_MS};
pub use sms_log::{SmsFate, SmsLog, SmsRecord, simulate_logged};
pub use world::{CoreConfig, FORGER_SECRET, SIM_SECRET, TOLERANCE_S, core_config};

use crate::flow::{Flow, PerFlow};
use crate::scenario::Scenario;
use crate::trace::Trace;
use crate::{SimError, costs};
use std::sync::atomic::{AtomicBool, Ordering};
use world::{Ev, World};

/// How often the verifier and the SMS OTP sweep expired challenges (virtual ms).
const SWEEP_EVERY_MS: u64 = 1_000;
/// Progress is reported and interruption checked every this many events.
const CHECK_EVERY_EVENTS: u64 = 0x1_0000;

/// Progress reporting and interruption, supplied by the caller.
pub struct Control<'a> {
    pub interrupt: &'a AtomicBool,
    /// Called with the virtual time (ms) every 65,536 events.
    pub progress: &'a dyn Fn(u64),
}

impl World<'_> {
    /// Handles one event: each step is given the parts of the world it touches.
    fn handle(&mut self, ev: Ev) {
        let World {
            run,
            pop,
            webhook,
            flows,
            ..
        } = self;
        match ev {
            Ev::Arrival => legit::arrival(run, pop, webhook, flows),
            Ev::UserSend { user, typo } => provider::user_send(run, pop, webhook, user, typo),
            Ev::Deliver {
                user,
                msg,
                typo,
                twice,
            } => provider::on_deliver(run, pop, webhook, user, msg, (typo, twice)),
            Ev::SmsRead { user, flow } => legit::sms_read(run, pop, &mut flows[flow], flow, user),
            Ev::SmsResend { user, flow } => {
                legit::sms_resend(run, pop, &mut flows[flow], flow, user);
            }
            Ev::VictimSend { user, a } => {
                attackers::victim_send(run, pop, webhook, user, usize::from(a));
            }
            Ev::Relay { user, a, flow } => {
                attackers::relay_arrives(run, pop, flows, webhook, (user, usize::from(a)), flow);
            }
            Ev::Attack { a } => attackers::attack(self, usize::from(a)),
            Ev::Sweep => {
                let wall_ms = run.wall_ms();
                webhook.verifier.sweep(wall_ms);
                flows.sms.otp.sweep(wall_ms);
                flows.reverse.otp.sweep(wall_ms);
                run.at(run.after(SWEEP_EVERY_MS), Ev::Sweep);
            }
        }
    }

    fn run(mut self, control: &Control<'_>) -> Result<(Outcome, Option<Trace>), SimError> {
        legit::schedule_arrival(&mut self.run, &mut self.pop);
        self.run.at(SWEEP_EVERY_MS, Ev::Sweep);
        for (a, rt) in self.attackers.iter_mut().enumerate() {
            attackers::schedule_attack(&mut self.run, rt, a);
        }
        let mut events = 0u64;
        let mut interrupted = false;
        while let Some((t_ms, ev)) = self.run.clock.queue.pop() {
            let clock = &mut self.run.clock;
            debug_assert!(t_ms >= clock.now_ms, "virtual time went backwards");
            clock.now_ms = t_ms;
            debug_assert_eq!(clock.now_ms, clock.queue.now_ms());
            events += 1;
            if events.is_multiple_of(CHECK_EVERY_EVENTS) {
                (control.progress)(t_ms);
                if control.interrupt.load(Ordering::Relaxed) {
                    interrupted = true;
                    break;
                }
            }
            self.handle(ev);
        }
        let (run, pop, flows) = (&mut self.run, &self.pop, &mut self.flows);
        let blocks = PerFlow::new(|flow| {
            std::mem::take(&mut flows[flow].guard.blocks)
                .into_iter()
                .map(|(from_ms, until_ms, i)| Block {
                    from_ms,
                    until_ms,
                    iso: pop.countries[i].iso.clone(),
                })
                .collect()
        });
        for flow in Flow::ALL {
            let guard = &flows[flow].guard;
            let d = &mut run.acc.defences[flow.index()];
            let report = guard.report();
            d.blocked_by_rule = report.blocked;
            d.alerts_by_rule = report.alerts;
            d.fees = report.fees;
            d.credits = report.credits;
        }
        let acc = &mut run.acc;
        for (i, d) in acc.defences.iter_mut().enumerate() {
            d.attacker_revenue_left_usd =
                acc.attackers.iter().map(|a| a.revenue_usd_by_flow[i]).sum();
        }
        let counts = self.run.acc.finish(blocks);
        // Priced once, from the finished counts; a pricing error is the run's error.
        let costs = costs::flow_costs(self.run.sc, &self.cost_model, &counts)?;
        let outcome = Outcome {
            counts,
            events,
            interrupted,
            costs,
            billing: crate::billing::Accounts {
                sms: self.flows.sms.account.take(),
                reverse: self.flows.reverse.account.take(),
            },
        };
        Ok((outcome, self.run.trace))
    }
}

/// Runs a scenario with `seed`: what happened, and what it cost.
pub fn simulate(sc: &Scenario, seed: u64, control: &Control<'_>) -> Result<Outcome, SimError> {
    Ok(World::new(sc, seed)?.run(control)?.0)
}

/// Runs a scenario with `seed` and records every request a real deployment would have served,
/// for live replay. The outcome is the same as [`simulate`]'s: tracing draws no randomness.
pub fn simulate_traced(
    sc: &Scenario,
    seed: u64,
    control: &Control<'_>,
    max_steps: usize,
) -> Result<(Outcome, Trace), SimError> {
    let mut world = World::new(sc, seed)?;
    world.run.trace = Some(Trace {
        countries: world.pop.countries.iter().map(|c| c.iso.clone()).collect(),
        max_steps,
        ..Trace::default()
    });
    let (outcome, trace) = world.run(control)?;
    Ok((outcome, trace.unwrap_or_default()))
}
