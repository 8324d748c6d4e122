//! SMS pumping: premium-range numbers asked for through both flows' SMS paths and defences.
//!
//! One request is a sequence of named steps on a [`Pump`] (the attacker, its settings, the run
//! and the numbering plan): the account it comes from ([`Pump::account`]), the number
//! ([`Pump::next_number`]: held, or a new one by target, carrier and range), the client
//! address ([`Pump::ip`]), then each flow the scenario runs ([`Pump::sms_flow`],
//! [`Pump::reverse_flow`], each given its flow's side), and the attacker's reaction to a
//! refusal ([`Pump::adapt`]).

use super::super::defences::Requester;
use super::super::world::{
    FlowSide, Population, Run, Webhook, attacker_account_base, country_u16, sender,
};
use super::AttackerRt;
use crate::flow::{Flow, PerFlow};
use crate::outcome::CarrierStats;
use crate::scenario::{Adapt, Addresses, Fallback, Numbering, Pumping, range_stride};
use crate::trace::{Action, Answer};
use mo2fa_core::sms_defences::Attempt;
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::verifier::StartRequest;
use rand::Rng;

/// A pumping attacker's numbers, accounts and adaptation while the run lasts.
#[derive(Default)]
pub(in crate::engine) struct PumpingRt {
    /// Cumulative target weights and each target's country.
    pub cum_targets: Vec<(f64, usize)>,
    /// First account id of this attacker's block.
    pub account_base: u64,
    /// Per carrier (all of the world's): the attacker may use it.
    pub allowed_carriers: Vec<bool>,
    /// What adaptation left behind: targets (by position), carriers, ranges.
    pub left_targets: Vec<bool>,
    pub left_carriers: Vec<bool>,
    pub left_ranges: Vec<bool>,
    /// Refusals in a row.
    pub blocks_in_row: u32,
    /// The number in use while `sms_per_number` > 1, and how many numbers were chosen.
    pub held: Option<Held>,
    pub numbers: u64,
}

/// A pumping number and how often it was asked for: its target position, country, carrier,
/// range and offset in the range.
#[derive(Clone, Copy, Debug)]
pub(in crate::engine) struct Held {
    pub target: usize,
    pub country: usize,
    pub network: usize,
    pub range: usize,
    pub offset: u64,
    pub used: u64,
}

/// One pumping request as both flows see it.
struct Request {
    attempt: Attempt,
    network: usize,
    /// The carrier's price of one message.
    price: f64,
}

/// What one flow did with a pumping request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pumped {
    Sent,
    Blocked,
    /// Neither: the flow is not run, or its inbound fallback absorbed the request.
    Neither,
}

impl PumpingRt {
    /// Attacker `index`'s state before its first request: its targets among the world's
    /// countries `isos`, and the world's `carriers` it may use.
    pub fn new(index: usize, p: &Pumping, isos: &[String], carriers: &[CarrierStats]) -> Self {
        let mut cum = 0.0;
        let cum_targets: Vec<(f64, usize)> = p
            .targets
            .iter()
            .map(|(iso, w)| {
                cum += w.0;
                (cum, isos.iter().position(|x| x == &iso.0).unwrap_or(0))
            })
            .collect();
        let n_targets = cum_targets.len();
        Self {
            cum_targets,
            account_base: attacker_account_base(index),
            allowed_carriers: carriers
                .iter()
                .map(|s| p.carriers.allows(&s.name))
                .collect(),
            left_targets: vec![false; n_targets],
            left_carriers: vec![false; carriers.len()],
            left_ranges: vec![false; usize::try_from(p.numbers.ranges).unwrap_or(1)],
            blocks_in_row: 0,
            held: None,
            numbers: 0,
        }
    }
}

/// One pumping request of attacker `a` (`rt`, its state), step by step, through the flows the
/// scenario runs.
pub(super) fn pump(
    run: &mut Run<'_>,
    pop: &Population,
    flows: &mut PerFlow<FlowSide>,
    webhook: &mut Webhook,
    rt: &mut AttackerRt,
    a: usize,
    p: &Pumping,
) {
    let mut pump = Pump { run, pop, rt, a, p };
    pump.request(flows, webhook);
}

/// What a pumping request's steps share: the run, the numbering plan (read only), the
/// attacker's state, its index and its settings.
pub(super) struct Pump<'w, 'a> {
    pub run: &'w mut Run<'a>,
    pub pop: &'w Population,
    pub rt: &'w mut AttackerRt,
    pub a: usize,
    pub p: &'w Pumping,
}

impl Pump<'_, '_> {
    /// One pumping request, step by step.
    fn request(&mut self, flows: &mut PerFlow<FlowSide>, webhook: &mut Webhook) {
        let n = self.rt.counter;
        self.rt.counter += 1;
        let account = self.account(n);
        let held = self.next_number();
        let number = self.pop.carriers[held.network].premium_start
            + u64::try_from(held.range).unwrap_or(0) * range_stride(self.p.numbers.range_size)
            + held.offset;
        debug_assert!(
            self.pop.carrier_of(held.country, number) == held.network,
            "a premium number outside its carrier's block"
        );
        let ip = self.ip(n);
        self.run.acc.attackers[self.a].attacker_cost_usd += self.p.captcha_usd;
        let req = Request {
            attempt: self
                .pop
                .attempt(self.run.clock.now_ms, held.country, number, ip, account),
            network: held.network,
            price: self.pop.carriers[held.network].price,
        };
        let sms = if self.run.runs.sms {
            self.sms_flow(&mut flows.sms, &req)
        } else {
            Pumped::Neither
        };
        let reverse = if self.run.runs.reverse {
            self.reverse_flow(&mut flows.reverse, webhook, &req)
        } else {
            Pumped::Neither
        };
        if sms == Pumped::Sent || reverse == Pumped::Sent {
            self.run.acc.attackers[self.a].succeeded += 1;
            self.rt.pumping.blocks_in_row = 0;
        } else if sms == Pumped::Blocked || reverse == Pumped::Blocked {
            self.run.acc.attackers[self.a].blocked += 1;
            self.adapt(&held);
        }
    }

    /// The account request `n` comes from: `sms_per_account` requests each; without it the
    /// attacker asks without an account (0: account rules do not see it).
    fn account(&mut self, n: u64) -> u64 {
        let Some(accounts) = self.p.accounts else {
            return 0;
        };
        let per_account = u64::from(accounts.sms_per_account);
        if n.is_multiple_of(per_account) {
            self.run.acc.attackers[self.a].accounts += 1;
        }
        self.rt.pumping.account_base + n / per_account
    }

    /// The client address of request `n`.
    fn ip(&mut self, n: u64) -> u32 {
        match self.p.addresses {
            Addresses::Random { pool } => self.run.rng.random_range(0..pool),
            // Below `pool`, a u32.
            Addresses::Rotate { pool, every } => {
                u32::try_from((n / u64::from(every)) % u64::from(pool)).unwrap_or(0)
            }
        }
    }

    /// The number of the previous request while it has had fewer than `sms_per_number` and
    /// adaptation has not left its country, carrier or range; otherwise a new one.
    fn next_number(&mut self) -> Held {
        let per_number = u64::from(self.p.numbers.per_number);
        let rt = &self.rt.pumping;
        let held = rt.held.filter(|h| {
            h.used < per_number
                && !rt.left_targets[h.target]
                && !rt.left_carriers[h.network]
                && !rt.left_ranges[h.range]
        });
        if let Some(h) = held {
            let h = Held {
                used: h.used + 1,
                ..h
            };
            self.rt.pumping.held = Some(h);
            return h;
        }
        let (target, country) = self.pick_target();
        let network = self.pick_carrier(country);
        let m = self.rt.pumping.numbers;
        self.rt.pumping.numbers += 1;
        let (range, offset) = self.pick_range(m);
        let h = Held {
            target,
            country,
            network,
            range,
            offset,
            used: 1,
        };
        if per_number > 1 {
            self.rt.pumping.held = Some(h);
        }
        h
    }

    /// The range and offset of new number `m`: each range walked in turn, or both drawn.
    fn pick_range(&mut self, m: u64) -> (usize, u64) {
        let range = u64::from(self.p.numbers.range_size);
        let active = self.active_ranges();
        match self.p.numbers.order {
            Numbering::Sequential => {
                let turns = u64::try_from(active).unwrap_or(1);
                let r = usize::try_from((m / range) % turns).unwrap_or(0);
                (self.active_range(r), m % range)
            }
            Numbering::Random => {
                let r = if active > 1 {
                    self.run.rng.random_range(0..active)
                } else {
                    0
                };
                (self.active_range(r), self.run.rng.random_range(0..range))
            }
        }
    }

    /// The target country of the next pumping attempt (its position in the attacker's targets
    /// and the country), drawn by weight among the targets adaptation has not left.
    pub(super) fn pick_target(&mut self) -> (usize, usize) {
        let rt = &self.rt.pumping;
        let x = self.run.rng.random::<f64>();
        if !rt.left_targets.contains(&true) {
            let total = rt.cum_targets.last().map_or(0.0, |t| t.0);
            let x = x * total;
            return rt
                .cum_targets
                .iter()
                .enumerate()
                .find(|(_, (c, _))| x < *c)
                .map_or((0, 0), |(pos, (_, i))| (pos, *i));
        }
        let mut prev = 0.0;
        let weights: Vec<f64> = rt
            .cum_targets
            .iter()
            .zip(&rt.left_targets)
            .map(|((c, _), left)| {
                let w = if *left { 0.0 } else { c - prev };
                prev = *c;
                w
            })
            .collect();
        let mut x = x * weights.iter().sum::<f64>();
        for (pos, w) in weights.iter().enumerate() {
            if x < *w {
                return (pos, rt.cum_targets[pos].1);
            }
            x -= w;
        }
        (0, rt.cum_targets.first().map_or(0, |t| t.1))
    }

    /// The carrier of the next pumping number in `country`: among the carriers the attacker
    /// may use and has not left, by share (no draw when there is one).
    pub(super) fn pick_carrier(&mut self, country: usize) -> usize {
        let pop = self.pop;
        let usable = |rt: &PumpingRt| -> Vec<usize> {
            pop.countries[country]
                .carriers
                .iter()
                .copied()
                .filter(|&k| rt.allowed_carriers[k] && !rt.left_carriers[k])
                .collect()
        };
        let mut candidates = usable(&self.rt.pumping);
        if candidates.is_empty() {
            // Every carrier left behind: the attacker comes back to all of them.
            for &k in &pop.countries[country].carriers {
                self.rt.pumping.left_carriers[k] = false;
            }
            candidates = usable(&self.rt.pumping);
        }
        if candidates.len() <= 1 {
            return candidates
                .first()
                .copied()
                .unwrap_or(pop.countries[country].carriers[0]);
        }
        let total: f64 = candidates.iter().map(|&k| pop.carriers[k].share).sum();
        let mut x = self.run.rng.random::<f64>() * total;
        for &k in &candidates {
            if x < pop.carriers[k].share {
                return k;
            }
            x -= pop.carriers[k].share;
        }
        candidates[candidates.len() - 1]
    }

    /// How many ranges adaptation has not left (all of them again once every one was left).
    fn active_ranges(&mut self) -> usize {
        let left = &mut self.rt.pumping.left_ranges;
        if left.iter().all(|l| *l) {
            left.iter_mut().for_each(|l| *l = false);
        }
        left.iter().filter(|l| !**l).count()
    }

    /// The `k`-th range adaptation has not left (`k` below [`Self::active_ranges`]).
    fn active_range(&self, k: usize) -> usize {
        let left = &self.rt.pumping.left_ranges;
        (0..left.len()).filter(|&r| !left[r]).nth(k).unwrap_or(0)
    }

    /// The checks in front of a paid send of `flow` (`side`): the CAPTCHA, the SMS defences,
    /// the provider's account. `true`: the send goes out.
    fn gate(&mut self, side: &mut FlowSide, flow: Flow, req: &Request) -> bool {
        let run = &mut *self.run;
        let solved = self
            .p
            .captcha_pass
            .is_none_or(|pass| run.captcha_passes(pass, flow));
        if !solved {
            run.row().pumping.captcha_blocked_pumping += 1;
            *run.acc.carriers[req.network].blocked_in(flow) += 1;
            return false;
        }
        let by = Requester::Attacker(self.a);
        if side.defend(run, self.pop, flow, &req.attempt, by).is_err() {
            *run.acc.carriers[req.network].blocked_in(flow) += 1;
            return false;
        }
        side.billing_accepts(run, flow, req.price, false)
    }

    /// A pumped SMS of `flow` went out: billed to the defender, paid out to the attacker.
    fn count_pumped(&mut self, flow: Flow, req: &Request) {
        let acc = &mut self.run.acc;
        let row = acc.row(self.run.clock.now_ms);
        *row.pumped_sms_in(flow) += 1;
        *row.usd_in(flow) += req.price;
        *acc.countries[req.attempt.country].pumped_in(flow) += 1;
        *acc.carriers[req.network].pumped_in(flow) += 1;
        let revenue = req.price * self.p.revenue_share;
        let stats = &mut acc.attackers[self.a];
        stats.attacker_revenue_usd += revenue;
        stats.revenue_usd_by_flow[flow.index()] += revenue;
    }

    /// The request in the sms flow: the SMS OTP texts a code, which the attacker may type
    /// back (`submit_codes`) or feign a conversion for (`camouflage`).
    fn sms_flow(&mut self, side: &mut FlowSide, req: &Request) -> Pumped {
        if !self.gate(side, Flow::Sms, req) {
            return Pumped::Blocked;
        }
        let (number, country) = (req.attempt.number, req.attempt.country);
        let run = &mut *self.run;
        let sent = side.otp.start(&sender(number), run.wall_ms(), &mut run.rng);
        let key = self.p.submit_codes.map(|_| run.new_key());
        run.record(Answer::sent(sent.is_ok()), || Action::SmsStart {
            world: Flow::Sms,
            key,
            number,
            country: country_u16(country),
        });
        self.count_pumped(Flow::Sms, req);
        if self.run.rng.random::<f64>() < self.p.camouflage {
            side.defended_verified(self.run, Flow::Sms, &req.attempt);
        }
        if let (Some(share), Ok(code), Some(key)) = (self.p.submit_codes, sent, key)
            && self.run.rng.random::<f64>() < share
        {
            self.submit_code(side, Flow::Sms, &req.attempt, (code.code, key));
        }
        Pumped::Sent
    }

    /// The request in the reverse flow: the attacker says "no iMessage, text me". Where the
    /// fallback is outbound SMS it is pumpable; where it is inbound, the request only creates
    /// a challenge nobody answers.
    fn reverse_flow(
        &mut self,
        side: &mut FlowSide,
        webhook: &mut Webhook,
        req: &Request,
    ) -> Pumped {
        let (number, country) = (req.attempt.number, req.attempt.country);
        if self.pop.countries[country].fallback != Fallback::OutboundSms {
            let run = &mut *self.run;
            let started =
                webhook
                    .verifier
                    .start(&StartRequest::default(), run.wall_ms(), &mut run.rng);
            run.record_unkeyed_start(started.is_ok());
            run.row().pumping.pumping_absorbed += 1;
            return Pumped::Neither;
        }
        if !self.gate(side, Flow::Reverse, req) {
            return Pumped::Blocked;
        }
        let key = self.p.submit_codes.map(|_| self.run.new_key());
        self.run.record(Answer::Sent, || Action::SmsStart {
            world: Flow::Reverse,
            key,
            number,
            country: country_u16(country),
        });
        self.count_pumped(Flow::Reverse, req);
        if let (Some(share), Some(key)) = (self.p.submit_codes, key)
            && self.run.rng.random::<f64>() < share
        {
            // Only a submitted code needs the real challenge behind it.
            let run = &mut *self.run;
            let started = side.otp.start(&sender(number), run.wall_ms(), &mut run.rng);
            if let Ok(code) = started {
                self.submit_code(side, Flow::Reverse, &req.attempt, (code.code, key));
            }
        }
        Pumped::Sent
    }

    /// The attacker, who holds the number, types the code it received into the app: the real
    /// SMS-OTP check, so the app, the guard's conversion and the Verify fee all see it.
    fn submit_code(
        &mut self,
        side: &mut FlowSide,
        flow: Flow,
        attempt: &Attempt,
        (code, key): (u32, u32),
    ) {
        let number = attempt.number;
        let run = &mut *self.run;
        let text = side.otp.format(code);
        let checked = side.otp.check(&sender(number), &text, run.wall_ms());
        run.record(Answer::of_check(&checked), || Action::SmsRead {
            world: flow,
            key,
            number,
        });
        if checked != CheckOutcome::Verified {
            return;
        }
        let network = self.pop.carrier_of(attempt.country, number);
        *run.acc.carriers[network].verified_in(flow) += 1;
        side.defended_verified(run, flow, attempt);
        *run.row().pumped_verified_in(flow) += 1;
    }

    /// After `adapt.after_blocks` refusals in a row, the attacker changes course: it leaves
    /// the refused number's range, carrier or country, or stops for a while.
    fn adapt(&mut self, refused: &Held) {
        let Some(adapt) = self.p.adapt else {
            return;
        };
        let rt = &mut *self.rt;
        rt.pumping.blocks_in_row += 1;
        if rt.pumping.blocks_in_row < adapt.after_blocks {
            return;
        }
        rt.pumping.blocks_in_row = 0;
        self.run.acc.attackers[self.a].adaptations += 1;
        let pumping = &mut rt.pumping;
        match adapt.action {
            Adapt::NextRange => pumping.left_ranges[refused.range] = true,
            Adapt::NextCarrier => pumping.left_carriers[refused.network] = true,
            Adapt::NextCountry => {
                pumping.left_targets[refused.target] = true;
                // Left every target with a weight: back to all of them.
                let mut prev = 0.0;
                let all_left =
                    pumping
                        .cum_targets
                        .iter()
                        .zip(&pumping.left_targets)
                        .all(|((c, _), l)| {
                            let weighted = *c > prev;
                            prev = *c;
                            *l || !weighted
                        });
                if all_left {
                    pumping.left_targets.iter_mut().for_each(|l| *l = false);
                }
            }
            Adapt::BackOff { ms } => {
                rt.silent_until_ms = self.run.clock.now_ms.saturating_add(ms);
            }
        }
    }
}
