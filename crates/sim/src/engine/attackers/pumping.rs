//! SMS pumping: premium-range numbers asked for through both flows' SMS paths and defences.
//!
//! One request is a sequence of named steps: the account it comes from
//! ([`World::pumping_account`]), the number ([`World::next_number`]: held, or a new one by
//! target, carrier and range), the client address ([`World::pumping_ip`]), then each flow the
//! scenario runs ([`World::pump_sms_flow`], [`World::pump_reverse_flow`]), and the attacker's
//! reaction to a refusal ([`World::adapt`]).

use super::super::world::{World, attacker_account_base, country_u16};
use crate::flow::Flow;
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

impl World<'_> {
    /// One pumping request, step by step.
    pub(super) fn pump(&mut self, a: usize, p: &Pumping) {
        let n = self.attackers[a].counter;
        self.attackers[a].counter += 1;
        let account = self.pumping_account(a, p, n);
        let held = self.next_number(a, p);
        let number = self.pop.carriers[held.network].premium_start
            + u64::try_from(held.range).unwrap_or(0) * range_stride(p.numbers.range_size)
            + held.offset;
        debug_assert!(
            self.pop.carrier_of(held.country, number) == held.network,
            "a premium number outside its carrier's block"
        );
        let ip = self.pumping_ip(p, n);
        self.acc.attackers[a].attacker_cost_usd += p.captcha_usd;
        let req = Request {
            attempt: self.attempt(held.country, number, ip, account),
            network: held.network,
            price: self.pop.carriers[held.network].price,
        };
        let sms = if self.flows.sms.runs {
            self.pump_sms_flow(a, p, &req)
        } else {
            Pumped::Neither
        };
        let reverse = if self.flows.reverse.runs {
            self.pump_reverse_flow(a, p, &req)
        } else {
            Pumped::Neither
        };
        if sms == Pumped::Sent || reverse == Pumped::Sent {
            self.acc.attackers[a].succeeded += 1;
            self.attackers[a].pumping.blocks_in_row = 0;
        } else if sms == Pumped::Blocked || reverse == Pumped::Blocked {
            self.acc.attackers[a].blocked += 1;
            self.adapt(a, p, &held);
        }
    }

    /// The account request `n` comes from: `sms_per_account` requests each; without it the
    /// attacker asks without an account (0: account rules do not see it).
    fn pumping_account(&mut self, a: usize, p: &Pumping, n: u64) -> u64 {
        let Some(accounts) = p.accounts else {
            return 0;
        };
        let per_account = u64::from(accounts.sms_per_account);
        if n.is_multiple_of(per_account) {
            self.acc.attackers[a].accounts += 1;
        }
        self.attackers[a].pumping.account_base + n / per_account
    }

    /// The client address of request `n`.
    fn pumping_ip(&mut self, p: &Pumping, n: u64) -> u32 {
        match p.addresses {
            Addresses::Random { pool } => self.rng.random_range(0..pool),
            // Below `pool`, a u32.
            Addresses::Rotate { pool, every } => {
                u32::try_from((n / u64::from(every)) % u64::from(pool)).unwrap_or(0)
            }
        }
    }

    /// The number of the previous request while it has had fewer than `sms_per_number` and
    /// adaptation has not left its country, carrier or range; otherwise a new one.
    fn next_number(&mut self, a: usize, p: &Pumping) -> Held {
        let per_number = u64::from(p.numbers.per_number);
        let rt = &self.attackers[a].pumping;
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
            self.attackers[a].pumping.held = Some(h);
            return h;
        }
        let (target, country) = self.pick_target(a);
        let network = self.pick_carrier(a, country);
        let m = self.attackers[a].pumping.numbers;
        self.attackers[a].pumping.numbers += 1;
        let (range, offset) = self.pick_range(a, p, m);
        let h = Held {
            target,
            country,
            network,
            range,
            offset,
            used: 1,
        };
        if per_number > 1 {
            self.attackers[a].pumping.held = Some(h);
        }
        h
    }

    /// The range and offset of new number `m`: each range walked in turn, or both drawn.
    fn pick_range(&mut self, a: usize, p: &Pumping, m: u64) -> (usize, u64) {
        let range = u64::from(p.numbers.range_size);
        let active = self.active_ranges(a);
        match p.numbers.order {
            Numbering::Sequential => {
                let turns = u64::try_from(active).unwrap_or(1);
                let r = usize::try_from((m / range) % turns).unwrap_or(0);
                (self.active_range(a, r), m % range)
            }
            Numbering::Random => {
                let r = if active > 1 {
                    self.rng.random_range(0..active)
                } else {
                    0
                };
                (self.active_range(a, r), self.rng.random_range(0..range))
            }
        }
    }

    /// The target country of the next pumping attempt (its position in the attacker's targets
    /// and the country), drawn by weight among the targets adaptation has not left.
    pub(super) fn pick_target(&mut self, a: usize) -> (usize, usize) {
        let rt = &self.attackers[a].pumping;
        let x = self.rng.random::<f64>();
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
    pub(super) fn pick_carrier(&mut self, a: usize, country: usize) -> usize {
        let usable = |w: &World<'_>| -> Vec<usize> {
            let rt = &w.attackers[a].pumping;
            w.pop.countries[country]
                .carriers
                .iter()
                .copied()
                .filter(|&k| rt.allowed_carriers[k] && !rt.left_carriers[k])
                .collect()
        };
        let mut candidates = usable(self);
        if candidates.is_empty() {
            // Every carrier left behind: the attacker comes back to all of them.
            for &k in &self.pop.countries[country].carriers {
                self.attackers[a].pumping.left_carriers[k] = false;
            }
            candidates = usable(self);
        }
        if candidates.len() <= 1 {
            return candidates
                .first()
                .copied()
                .unwrap_or(self.pop.countries[country].carriers[0]);
        }
        let total: f64 = candidates.iter().map(|&k| self.pop.carriers[k].share).sum();
        let mut x = self.rng.random::<f64>() * total;
        for &k in &candidates {
            if x < self.pop.carriers[k].share {
                return k;
            }
            x -= self.pop.carriers[k].share;
        }
        candidates[candidates.len() - 1]
    }

    /// How many ranges adaptation has not left (all of them again once every one was left).
    fn active_ranges(&mut self, a: usize) -> usize {
        let left = &mut self.attackers[a].pumping.left_ranges;
        if left.iter().all(|l| *l) {
            left.iter_mut().for_each(|l| *l = false);
        }
        left.iter().filter(|l| !**l).count()
    }

    /// The `k`-th range adaptation has not left (`k` below [`Self::active_ranges`]).
    fn active_range(&self, a: usize, k: usize) -> usize {
        let left = &self.attackers[a].pumping.left_ranges;
        (0..left.len()).filter(|&r| !left[r]).nth(k).unwrap_or(0)
    }

    /// The checks in front of a paid send of `flow`: the CAPTCHA, the SMS defences, the
    /// provider's account. `true`: the send goes out.
    fn pumping_gate(&mut self, flow: Flow, p: &Pumping, req: &Request) -> bool {
        let solved = p
            .captcha_pass
            .is_none_or(|pass| self.captcha_passes(pass, flow));
        if !solved {
            self.row().captcha_blocked_pumping += 1;
            *self.acc.carriers[req.network].blocked_in(flow) += 1;
            return false;
        }
        if !self.defend(flow, &req.attempt, false) {
            *self.acc.carriers[req.network].blocked_in(flow) += 1;
            return false;
        }
        self.billing_accepts(flow, req.price, false)
    }

    /// A pumped SMS of `flow` went out: billed to the defender, paid out to the attacker.
    fn count_pumped(&mut self, a: usize, flow: Flow, p: &Pumping, req: &Request) {
        let row = self.row();
        *row.pumped_sms_in(flow) += 1;
        *row.usd_in(flow) += req.price;
        *self.acc.countries[req.attempt.country].pumped_in(flow) += 1;
        *self.acc.carriers[req.network].pumped_in(flow) += 1;
        self.acc.attackers[a].attacker_revenue_usd += req.price * p.revenue_share;
        self.acc.attackers[a].revenue_usd_by_flow[flow.index()] += req.price * p.revenue_share;
    }

    /// The request in the sms flow: the SMS OTP texts a code, which the attacker may type
    /// back (`submit_codes`) or feign a conversion for (`camouflage`).
    fn pump_sms_flow(&mut self, a: usize, p: &Pumping, req: &Request) -> Pumped {
        if !self.pumping_gate(Flow::Sms, p, req) {
            return Pumped::Blocked;
        }
        let (number, country) = (req.attempt.number, req.attempt.country);
        let sent = self
            .flows
            .sms
            .otp
            .start(&Self::sender(number), self.wall_ms(), &mut self.rng);
        let key = p.submit_codes.map(|_| self.new_key());
        self.record(Answer::sent(sent.is_ok()), || Action::SmsStart {
            world: Flow::Sms,
            key,
            number,
            country: country_u16(country),
        });
        self.count_pumped(a, Flow::Sms, p, req);
        if self.rng.random::<f64>() < p.camouflage {
            self.defended_verified(Flow::Sms, &req.attempt);
        }
        if let (Some(share), Ok(code), Some(key)) = (p.submit_codes, sent, key)
            && self.rng.random::<f64>() < share
        {
            self.submit_code(&req.attempt, code.code, key, Flow::Sms);
        }
        Pumped::Sent
    }

    /// The request in the reverse flow: the attacker says "no iMessage, text me". Where the
    /// fallback is outbound SMS it is pumpable; where it is inbound, the request only creates
    /// a challenge nobody answers.
    fn pump_reverse_flow(&mut self, a: usize, p: &Pumping, req: &Request) -> Pumped {
        let (number, country) = (req.attempt.number, req.attempt.country);
        if self.pop.countries[country].fallback != Fallback::OutboundSms {
            let started = self.webhook.verifier.start(
                &StartRequest::default(),
                self.wall_ms(),
                &mut self.rng,
            );
            self.record_unkeyed_start(started.is_ok());
            self.row().pumping_absorbed += 1;
            return Pumped::Neither;
        }
        if !self.pumping_gate(Flow::Reverse, p, req) {
            return Pumped::Blocked;
        }
        let key = p.submit_codes.map(|_| self.new_key());
        self.record(Answer::Sent, || Action::SmsStart {
            world: Flow::Reverse,
            key,
            number,
            country: country_u16(country),
        });
        self.count_pumped(a, Flow::Reverse, p, req);
        if let (Some(share), Some(key)) = (p.submit_codes, key)
            && self.rng.random::<f64>() < share
        {
            // Only a submitted code needs the real challenge behind it.
            let started =
                self.flows
                    .reverse
                    .otp
                    .start(&Self::sender(number), self.wall_ms(), &mut self.rng);
            if let Ok(code) = started {
                self.submit_code(&req.attempt, code.code, key, Flow::Reverse);
            }
        }
        Pumped::Sent
    }

    /// The attacker, who holds the number, types the code it received into the app: the real
    /// SMS-OTP check, so the app, the guard's conversion and the Verify fee all see it.
    fn submit_code(&mut self, attempt: &Attempt, code: u32, key: u32, flow: Flow) {
        let number = attempt.number;
        let otp = &self.flows[flow].otp;
        let text = otp.format(code);
        let checked = otp.check(&Self::sender(number), &text, self.wall_ms());
        self.record(Answer::of_check(&checked), || Action::SmsRead {
            world: flow,
            key,
            number,
        });
        if checked != CheckOutcome::Verified {
            return;
        }
        let network = self.pop.carrier_of(attempt.country, number);
        *self.acc.carriers[network].verified_in(flow) += 1;
        self.defended_verified(flow, attempt);
        *self.row().pumped_verified_in(flow) += 1;
    }

    /// After `adapt.after_blocks` refusals in a row, the attacker changes course: it leaves
    /// the refused number's range, carrier or country, or stops for a while.
    fn adapt(&mut self, a: usize, p: &Pumping, refused: &Held) {
        let Some(adapt) = p.adapt else {
            return;
        };
        let rt = &mut self.attackers[a];
        rt.pumping.blocks_in_row += 1;
        if rt.pumping.blocks_in_row < adapt.after_blocks {
            return;
        }
        rt.pumping.blocks_in_row = 0;
        self.acc.attackers[a].adaptations += 1;
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
            Adapt::BackOff { ms } => rt.silent_until_ms = self.clock.now_ms.saturating_add(ms),
        }
    }
}
