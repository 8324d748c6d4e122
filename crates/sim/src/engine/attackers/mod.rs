//! Attackers: each is a Poisson process at its [`Pace`] (sustained, low-and-slow, bursts, a
//! ramp or a daily cycle), and each attempt is one of its kind's: SMS pumping (`pumping`),
//! code guessing (`guessing`), start floods (`flood`), webhook forgeries (`forgery`), replays
//! of captured deliveries (`replay`), reverse-OTP phishing (`phishing`), and the takeovers on
//! both flows (what they share in `takeover`): SIM swaps (`sim_swap`), real-time relay
//! phishing (`relay`) and spoofed sender IDs (`spoofing`).
//!
//! This file holds what every kind shares: the attacker's state while the run lasts, its rate
//! at a point in time, the scheduling of its attempts and the dispatch to its kind, which
//! hands each kind's step only the parts of the world it touches.

mod flood;
mod forgery;
mod guessing;
mod phishing;
mod pumping;
mod relay;
mod replay;
mod sim_swap;
mod spoofing;
mod takeover;
#[cfg(test)]
mod tests;

use super::time;
use super::world::{Ev, Run, World};
use crate::scenario::{Attack, Attacker, Pace, RampPoint};
use rand::Rng;
use std::collections::VecDeque;

pub(super) use phishing::victim_send;
pub(super) use pumping::PumpingRt;
pub(super) use relay::relay_arrives;

/// One attacker while the run lasts.
pub(super) struct AttackerRt {
    /// Requests made so far (pumping and forgery number their requests by it).
    pub counter: u64,
    /// The attacker's own fractional clock: the time of its next candidate (virtual ms).
    pub clock_ms: f64,
    /// Shapes drawn by thinning (`ramp`, `diurnal`) draw candidates at this peak rate.
    pub thinned: Option<f64>,
    /// Attempts after which every account is used up (`accounts` × `sms_per_account`).
    pub max_attempts: Option<u64>,
    /// The end of a back-off (virtual ms).
    pub silent_until_ms: u64,
    /// Per flood client: when each of its pending challenges expires (virtual ms).
    pub flood: Vec<VecDeque<u64>>,
    /// A pumping attacker's numbers, accounts and adaptation (empty for other kinds).
    pub pumping: PumpingRt,
}

impl AttackerRt {
    /// An attacker before its first attempt.
    pub fn new(a: &Attacker, pumping: PumpingRt) -> Self {
        let (clients, max_attempts) = match &a.attack {
            Attack::StartFlood(f) => (f.clients, None),
            Attack::Pumping(p) => (
                1,
                p.accounts.and_then(|u| {
                    u.accounts
                        .map(|n| u64::from(n).saturating_mul(u64::from(u.sms_per_account)))
                }),
            ),
            _ => (1, None),
        };
        Self {
            counter: 0,
            clock_ms: 0.0,
            thinned: a.pace.thinned_peak(),
            max_attempts,
            silent_until_ms: 0,
            flood: vec![VecDeque::new(); usize::try_from(clients).unwrap_or(1)],
            pumping,
        }
    }

    /// Every account is used up.
    fn exhausted(&self) -> bool {
        self.max_attempts.is_some_and(|m| self.counter >= m)
    }
}

/// A ramp's rate `since_ms` after the attacker's start: linear between its points, the first
/// point's rate before it and the last one's after it.
fn ramp_rate(points: &[RampPoint], since_ms: u64) -> f64 {
    let Some(next) = points.iter().position(|p| p.at.ms() > since_ms) else {
        return points.last().map_or(0.0, |p| p.per_s.0);
    };
    if next == 0 {
        return points[0].per_s.0;
    }
    let (p, q) = (&points[next - 1], &points[next]);
    let f = time::ms_f64(since_ms - p.at.ms()) / time::ms_f64(q.at.ms() - p.at.ms());
    p.per_s.0 + (q.per_s.0 - p.per_s.0) * f
}

/// An attacker's index as events carry it.
fn attacker_u16(a: usize) -> u16 {
    u16::try_from(a).expect("scenarios have fewer than 2^16 attackers")
}

/// The attacker's rate at `t_ms`, after its pace.
pub(super) fn attack_rate(cfg: &Attacker, t_ms: u64) -> f64 {
    if t_ms < cfg.start.ms() || t_ms >= cfg.end.ms() {
        return 0.0;
    }
    let since_ms = t_ms - cfg.start.ms();
    match &cfg.pace {
        Pace::Sustained { per_s } | Pace::LowAndSlow { per_s } => *per_s,
        Pace::Burst {
            per_s,
            on_ms,
            off_ms,
        } => {
            if since_ms % (on_ms + off_ms) < *on_ms {
                *per_s
            } else {
                0.0
            }
        }
        Pace::Ramp(points) => ramp_rate(points, since_ms),
        Pace::Diurnal {
            per_s,
            amplitude,
            peak_hour,
        } => {
            let hour = time::hours(t_ms % time::MS_PER_DAY);
            let phase = std::f64::consts::TAU * (hour - peak_hour) / 24.0;
            per_s * (1.0 + amplitude * phase.cos())
        }
    }
}

/// Schedules attacker `a`'s next attempt on its own fractional clock, skipping the silent
/// part of a burst cycle.
pub(super) fn schedule_attack(run: &mut Run<'_>, rt: &mut AttackerRt, a: usize) {
    let cfg = &run.sc.attackers[a];
    if rt.exhausted() {
        return;
    }
    let start_ms = cfg.start.ms();
    let mut t_ms = rt
        .clock_ms
        .max(time::ms_f64(start_ms))
        .max(time::ms_f64(rt.silent_until_ms));
    // Non-constant shapes: candidates at the peak rate, thinned in `attack`.
    let rate = rt.thinned.unwrap_or(cfg.pace.per_s());
    if let Pace::Burst { on_ms, off_ms, .. } = cfg.pace
        && attack_rate(cfg, time::whole_ms(t_ms)) == 0.0
    {
        // Skip the silent part: resume at the start of the next burst.
        let period_ms = on_ms + off_ms;
        let since_ms = time::whole_ms(t_ms).saturating_sub(start_ms);
        t_ms = time::ms_f64(start_ms + (since_ms / period_ms + 1) * period_ms);
    }
    let end_ms = time::ms_f64(cfg.end.ms());
    let Some(gap) = run.exp_ms(rate) else {
        return;
    };
    rt.clock_ms = t_ms + gap;
    if t_ms + gap < end_ms {
        run.at(
            time::whole_ms(t_ms + gap),
            Ev::Attack { a: attacker_u16(a) },
        );
    }
}

/// Attacker `a`'s candidate attempt now: thinned by its pace, then whether it attempts at
/// all (in its window, not silent, accounts left). `true`: it attempts (and it is counted).
pub(super) fn attempts(run: &mut Run<'_>, rt: &mut AttackerRt, a: usize) -> bool {
    schedule_attack(run, rt, a);
    let rate = attack_rate(&run.sc.attackers[a], run.clock.now_ms);
    if rate == 0.0 || run.clock.now_ms < rt.silent_until_ms || rt.exhausted() {
        return false;
    }
    if let Some(peak) = rt.thinned {
        // Thinning: a candidate at the peak rate is an attempt with probability rate/peak.
        if run.rng.random::<f64>() * peak >= rate {
            return false;
        }
    }
    run.acc.attackers[a].attempts += 1;
    true
}

/// One candidate attempt of attacker `a`, made by its kind: each kind's step takes the parts
/// of the world it touches.
pub(super) fn attack(w: &mut World<'_>, a: usize) {
    let World {
        run,
        pop,
        webhook,
        flows,
        attackers,
        ..
    } = w;
    let rt = &mut attackers[a];
    if !attempts(run, rt, a) {
        return;
    }
    let sc = run.sc;
    match &sc.attackers[a].attack {
        Attack::Pumping(p) => pumping::pump(run, pop, flows, webhook, rt, a, p),
        Attack::Guessing(g) => guessing::guess(run, webhook, a, g),
        Attack::StartFlood(_) => flood::flood(run, webhook, rt, a),
        Attack::Forgery(_) => forgery::forge(run, webhook, rt, a),
        Attack::Replay(r) => replay::replay(run, webhook, a, r),
        Attack::Phishing(p) => phishing::phish(run, pop, webhook, a, p),
        Attack::SimSwap(s) => sim_swap::swap(run, pop, flows, webhook, a, s),
        Attack::Relay(r) => relay::lure(run, pop, flows, webhook, a, r),
        Attack::Spoof(s) => spoofing::spoof(run, pop, flows, webhook, (rt, a), s),
    }
}
