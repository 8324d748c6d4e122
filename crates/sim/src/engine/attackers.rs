//! Attackers: each is a Poisson process shaped sustained, low-and-slow or in bursts, and each
//! attempt is one of SMS pumping (premium-range numbers through both worlds' SMS paths and
//! defences), code guessing (messages full of random codes from the attacker's own accounts),
//! start floods (challenges per client up to the pending cap), webhook forgeries (signed with
//! a guessed secret), replays of captured deliveries, and reverse-OTP phishing (a persuaded
//! victim sends the attacker's code).

use super::time;
use super::world::{Ev, Held, World, country_u16};
use crate::scenario::{
    AdaptAction, AttackKind, DEFAULT_RANGE_SIZE, Fallback, Flow, Numbering, Shape, Solver,
    range_stride,
};
use crate::trace::{self, Action, Text};
use mo2fa_core::sms_defences::Attempt;
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::verifier::{InboundMessage, ReceiveOutcome, StartRequest};
use mo2fa_core::webhook::Inbound;
use rand::Rng;

/// Attackers' own sending accounts live in a block no legit user has.
const ATTACKER_ACCOUNTS_BASE: u64 = 99 * 10_000_000_000;

impl World<'_> {
    /// The attacker's rate at `t_ms`, after its shape.
    pub(super) fn attack_rate(&self, a: usize, t_ms: u64) -> f64 {
        let cfg = &self.sc.attackers[a];
        if t_ms < cfg.start.ms() || t_ms >= cfg.end.ms() {
            return 0.0;
        }
        match cfg.shape {
            Shape::Sustained | Shape::LowAndSlow => cfg.rate(),
            Shape::Burst => {
                let on_ms = cfg.burst_on.map_or(1, |d| d.ms().max(1));
                let off_ms = cfg.burst_off.map_or(0, |d| d.ms());
                if (t_ms - cfg.start.ms()) % (on_ms + off_ms) < on_ms {
                    cfg.rate()
                } else {
                    0.0
                }
            }
            Shape::Ramp => {
                let points = cfg.ramp.as_deref().unwrap_or_default();
                let since_ms = t_ms - cfg.start.ms();
                let Some(next) = points.iter().position(|p| p.at.ms() > since_ms) else {
                    // After the last point: its rate holds.
                    return points.last().map_or(0.0, |p| p.per_s.0);
                };
                if next == 0 {
                    // Before the first point: its rate holds.
                    return points[0].per_s.0;
                }
                let (p, q) = (&points[next - 1], &points[next]);
                let f = time::ms_f64(since_ms - p.at.ms()) / time::ms_f64(q.at.ms() - p.at.ms());
                p.per_s.0 + (q.per_s.0 - p.per_s.0) * f
            }
            Shape::Diurnal => {
                let hour = time::hours(t_ms % time::MS_PER_DAY);
                let peak = cfg.peak_hour.unwrap_or(12.0);
                let amplitude = cfg.amplitude.map_or(0.5, |p| p.0);
                let phase = std::f64::consts::TAU * (hour - peak) / 24.0;
                cfg.rate() * (1.0 + amplitude * phase.cos())
            }
        }
    }

    /// Schedules the attacker's next attempt on its own fractional clock, skipping the silent
    /// part of a burst cycle.
    pub(super) fn schedule_attack(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let rt = &self.attackers[a];
        if rt.max_attempts.is_some_and(|m| rt.counter >= m) {
            return; // every account used up
        }
        let start_ms = cfg.start.ms();
        let mut t_ms = self.attack_clocks_ms[a]
            .max(time::ms_f64(start_ms))
            .max(time::ms_f64(rt.silent_until_ms));
        // Non-constant shapes: candidates at the peak rate, thinned in `attack`.
        let rate = rt.thinned.unwrap_or(cfg.rate());
        if cfg.shape == Shape::Burst && self.attack_rate(a, time::whole_ms(t_ms)) == 0.0 {
            // Skip the silent part: resume at the start of the next burst.
            let on_ms = cfg.burst_on.map_or(1, |d| d.ms().max(1));
            let period_ms = on_ms + cfg.burst_off.map_or(0, |d| d.ms());
            let since_ms = time::whole_ms(t_ms).saturating_sub(start_ms);
            t_ms = time::ms_f64(start_ms + (since_ms / period_ms + 1) * period_ms);
        }
        let end_ms = time::ms_f64(cfg.end.ms());
        let Some(gap) = self.exp_ms(rate) else {
            return;
        };
        self.attack_clocks_ms[a] = t_ms + gap;
        if t_ms + gap < end_ms {
            let a = u16::try_from(a).expect("scenarios have fewer than 2^16 attackers");
            self.at(time::whole_ms(t_ms + gap), Ev::Attack { a });
        }
    }

    pub(super) fn attack(&mut self, a: usize) {
        self.schedule_attack(a);
        let rate = self.attack_rate(a, self.now_ms);
        if rate == 0.0 || self.now_ms < self.attackers[a].silent_until_ms {
            return;
        }
        let rt = &self.attackers[a];
        if rt.max_attempts.is_some_and(|m| rt.counter >= m) {
            return;
        }
        if let Some(peak) = self.attackers[a].thinned {
            // Thinning: a candidate at the peak rate is an attempt with probability rate/peak.
            if self.rng.random::<f64>() * peak >= rate {
                return;
            }
        }
        self.acc.attackers[a].attempts += 1;
        match self.sc.attackers[a].kind {
            AttackKind::SmsPumping => self.pump(a),
            AttackKind::CodeGuessing => self.guess(a),
            AttackKind::StartFlood => self.flood(a),
            AttackKind::WebhookForgery => self.forge(a),
            AttackKind::Replay => self.replay(a),
            AttackKind::ReverseOtpPhishing => self.phish(a),
        }
    }

    /// The target country of the next pumping attempt (its position in the attacker's targets
    /// and the country), drawn by weight among the targets adaptation has not left.
    fn pick_target(&mut self, a: usize) -> (usize, usize) {
        let rt = &self.attackers[a];
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
    fn pick_carrier(&mut self, a: usize, country: usize) -> usize {
        let usable = |w: &World<'_>| -> Vec<usize> {
            let rt = &w.attackers[a];
            w.countries[country]
                .carriers
                .iter()
                .copied()
                .filter(|&k| rt.allowed_carriers[k] && !rt.left_carriers[k])
                .collect()
        };
        let mut candidates = usable(self);
        if candidates.is_empty() {
            // Every carrier left behind: the attacker comes back to all of them.
            for &k in &self.countries[country].carriers {
                self.attackers[a].left_carriers[k] = false;
            }
            candidates = usable(self);
        }
        if candidates.len() <= 1 {
            return candidates
                .first()
                .copied()
                .unwrap_or(self.countries[country].carriers[0]);
        }
        let total: f64 = candidates.iter().map(|&k| self.carriers[k].share).sum();
        let mut x = self.rng.random::<f64>() * total;
        for &k in &candidates {
            if x < self.carriers[k].share {
                return k;
            }
            x -= self.carriers[k].share;
        }
        candidates[candidates.len() - 1]
    }

    /// How many ranges adaptation has not left (all of them again once every one was left).
    fn active_ranges(&mut self, a: usize) -> usize {
        let left = &mut self.attackers[a].left_ranges;
        if left.iter().all(|l| *l) {
            left.iter_mut().for_each(|l| *l = false);
        }
        left.iter().filter(|l| !**l).count()
    }

    /// The `k`-th range adaptation has not left (`k` below [`Self::active_ranges`]).
    fn active_range(&self, a: usize, k: usize) -> usize {
        let left = &self.attackers[a].left_ranges;
        (0..left.len()).filter(|&r| !left[r]).nth(k).unwrap_or(0)
    }

    fn pump(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let (range, numbering) = (
            u64::from(cfg.range_size.unwrap_or(DEFAULT_RANGE_SIZE).max(1)),
            cfg.numbers.unwrap_or(Numbering::Sequential),
        );
        let stride = range_stride(cfg.range_size.unwrap_or(DEFAULT_RANGE_SIZE));
        let (pool, rotate) = (
            cfg.ip_pool.unwrap_or(1).max(1),
            cfg.rotate_every.unwrap_or(1).max(1),
        );
        let (captcha, share, camouflage) = (
            cfg.captcha_usd.map_or(0.0, |c| c.0),
            cfg.revenue_share.map_or(0.0, |s| s.0),
            cfg.camouflage.map_or(0.0, |c| c.0),
        );
        let per_account = cfg.sms_per_account.map_or(u64::MAX, u64::from);
        let per_number = u64::from(cfg.sms_per_number.unwrap_or(1));
        let submit = cfg.submit_codes.map(|p| p.0);
        let pass = self.sc.defences.captcha.as_ref().map(|c| match cfg.solver {
            Some(Solver::HumanFarm) => c.pass_human_farm.0,
            _ => c.pass_bot.0,
        });
        let low_and_slow = cfg.shape == Shape::LowAndSlow;
        let n = self.attackers[a].counter;
        self.attackers[a].counter += 1;
        // Without `sms_per_account` the attacker asks without an account (0: account rules
        // do not see it).
        let account = if cfg.sms_per_account.is_some() {
            if n.is_multiple_of(per_account) {
                self.acc.attackers[a].accounts += 1;
            }
            self.attackers[a].account_base + n / per_account
        } else {
            0
        };
        // The number of the previous request, while it has had fewer than `sms_per_number`
        // and adaptation has not left its country, carrier or range.
        let rt = &self.attackers[a];
        let held = rt.held.filter(|h| {
            h.used < per_number
                && !rt.left_targets[h.target]
                && !rt.left_carriers[h.network]
                && !rt.left_ranges[h.range]
        });
        let Held {
            target,
            country,
            network,
            range: range_index,
            offset,
            ..
        } = match held {
            Some(h) => {
                let h = Held {
                    used: h.used + 1,
                    ..h
                };
                self.attackers[a].held = Some(h);
                h
            }
            None => {
                let (target, country) = self.pick_target(a);
                let network = self.pick_carrier(a, country);
                let m = self.attackers[a].numbers;
                self.attackers[a].numbers += 1;
                let active = self.active_ranges(a);
                let (range, offset) = match numbering {
                    Numbering::Sequential if !low_and_slow => {
                        // Walk each range in turn.
                        let turns = u64::try_from(active).unwrap_or(1);
                        let r = usize::try_from((m / range) % turns).unwrap_or(0);
                        (self.active_range(a, r), m % range)
                    }
                    _ => {
                        let r = if active > 1 {
                            self.rng.random_range(0..active)
                        } else {
                            0
                        };
                        (self.active_range(a, r), self.rng.random_range(0..range))
                    }
                };
                let h = Held {
                    target,
                    country,
                    network,
                    range,
                    offset,
                    used: 1,
                };
                if per_number > 1 {
                    self.attackers[a].held = Some(h);
                }
                h
            }
        };
        let number = self.carriers[network].premium_start
            + u64::try_from(range_index).unwrap_or(0) * stride
            + offset;
        debug_assert!(
            self.carrier_of(country, number) == network,
            "a premium number outside its carrier's block"
        );
        let ip = if low_and_slow {
            self.rng.random_range(0..pool)
        } else {
            // Below `pool`, a u32.
            u32::try_from((n / u64::from(rotate)) % u64::from(pool)).unwrap_or(0)
        };
        self.acc.attackers[a].attacker_cost_usd += captcha;
        let price = self.carriers[network].price;
        let mut any_sent = false;
        let mut any_blocked = false;
        if self.world_sms {
            let solved = pass.is_none_or(|p| self.captcha_passes(p, false));
            let attempt = self.attempt(country, number, ip, account);
            if !solved {
                self.row().captcha_blocked_pumping += 1;
                self.count_blocked(network, false);
                any_blocked = true;
            } else {
                match self.defend(false, &attempt, false) {
                    true if !self.billing_accepts(Flow::Sms, price, false) => any_blocked = true,
                    true => {
                        let sent =
                            self.sms
                                .start(&Self::sender(number), self.wall_ms(), &mut self.rng);
                        let expect = if sent.is_ok() { "sent" } else { "refused" };
                        let key = submit.map(|_| self.new_key());
                        self.record(expect, || Action::SmsStart {
                            world: Flow::Sms,
                            key,
                            number,
                            country: country_u16(country),
                        });
                        let row = self.row();
                        row.pumped_sms_smsflow += 1;
                        row.usd_sms_flow += price;
                        self.acc.countries[country].pumped_smsflow += 1;
                        self.acc.carriers[network].pumped_smsflow += 1;
                        self.acc.attackers[a].attacker_revenue_usd += price * share;
                        any_sent = true;
                        if self.rng.random::<f64>() < camouflage {
                            self.defended_verified(false, &attempt);
                        }
                        if let (Some(p), Ok(code), Some(key)) = (submit, sent, key)
                            && self.rng.random::<f64>() < p
                        {
                            self.submit_code(&attempt, code.code, key, false);
                        }
                    }
                    false => {
                        self.count_blocked(network, false);
                        any_blocked = true;
                    }
                }
            }
        }
        if self.world_reverse {
            if self.countries[country].fallback == Fallback::OutboundSms {
                // The attacker says "no iMessage, text me": the fallback is pumpable.
                let solved = pass.is_none_or(|p| self.captcha_passes(p, true));
                let attempt = self.attempt(country, number, ip, account);
                if !solved {
                    self.row().captcha_blocked_pumping += 1;
                    self.count_blocked(network, true);
                    any_blocked = true;
                } else {
                    match self.defend(true, &attempt, false) {
                        true if !self.billing_accepts(Flow::Reverse, price, false) => {
                            any_blocked = true;
                        }
                        true => {
                            let key = submit.map(|_| self.new_key());
                            self.record("sent", || Action::SmsStart {
                                world: Flow::Reverse,
                                key,
                                number,
                                country: country_u16(country),
                            });
                            let row = self.row();
                            row.pumped_sms_reverse += 1;
                            row.usd_reverse_flow += price;
                            self.acc.countries[country].pumped_reverse += 1;
                            self.acc.carriers[network].pumped_reverse += 1;
                            self.acc.attackers[a].attacker_revenue_usd += price * share;
                            any_sent = true;
                            if let (Some(p), Some(key)) = (submit, key)
                                && self.rng.random::<f64>() < p
                            {
                                // Only a submitted code needs the real challenge behind it.
                                let started = self.fallback_sms.start(
                                    &Self::sender(number),
                                    self.wall_ms(),
                                    &mut self.rng,
                                );
                                if let Ok(code) = started {
                                    self.submit_code(&attempt, code.code, key, true);
                                }
                            }
                        }
                        false => {
                            self.count_blocked(network, true);
                            any_blocked = true;
                        }
                    }
                }
            } else {
                // Inbound fallback: the request only creates a challenge nobody answers.
                let started =
                    self.verifier
                        .start(&StartRequest::default(), self.wall_ms(), &mut self.rng);
                self.record_unkeyed_start(started.is_ok());
                self.row().pumping_absorbed += 1;
            }
        }
        if any_sent {
            self.acc.attackers[a].succeeded += 1;
            self.attackers[a].blocks_in_row = 0;
        } else if any_blocked {
            self.acc.attackers[a].blocked += 1;
            self.adapt(a, target, network, range_index);
        }
    }

    /// The attacker, who holds the number, types the code it received into the app: the real
    /// SMS-OTP check, so the app, the guard's conversion and the Verify fee all see it.
    fn submit_code(&mut self, attempt: &Attempt, code: u32, key: u32, reverse: bool) {
        let number = attempt.number;
        let otp = if reverse {
            &self.fallback_sms
        } else {
            &self.sms
        };
        let text = otp.format(code);
        let checked = otp.check(&Self::sender(number), &text, self.wall_ms());
        let world = if reverse { Flow::Reverse } else { Flow::Sms };
        let verified = checked == CheckOutcome::Verified;
        let expect = match checked {
            CheckOutcome::Verified => "verified",
            CheckOutcome::WrongCode { .. } => "wrong_code",
            CheckOutcome::NoChallenge => "no_challenge",
        };
        self.record(expect, || Action::SmsRead { world, key, number });
        if !verified {
            return;
        }
        self.count_verified(self.carrier_of(attempt.country, number), reverse);
        self.defended_verified(reverse, attempt);
        let row = self.row();
        if reverse {
            row.pumped_verified_reverse += 1;
        } else {
            row.pumped_verified_smsflow += 1;
        }
    }

    /// After `adapt.after_blocks` refusals in a row, the attacker changes course: it leaves
    /// the last refusal's range, carrier or country, or stops for `back_off`.
    fn adapt(&mut self, a: usize, target: usize, network: usize, range: usize) {
        let Some(adapt) = &self.sc.attackers[a].adapt else {
            return;
        };
        let rt = &mut self.attackers[a];
        rt.blocks_in_row += 1;
        if rt.blocks_in_row < adapt.after_blocks {
            return;
        }
        rt.blocks_in_row = 0;
        self.acc.attackers[a].adaptations += 1;
        match adapt.action {
            AdaptAction::NextRange => rt.left_ranges[range] = true,
            AdaptAction::NextCarrier => rt.left_carriers[network] = true,
            AdaptAction::NextCountry => {
                rt.left_targets[target] = true;
                // Left every target with a weight: back to all of them.
                let mut prev = 0.0;
                let all_left = rt
                    .cum_targets
                    .iter()
                    .zip(&rt.left_targets)
                    .all(|((c, _), l)| {
                        let weighted = *c > prev;
                        prev = *c;
                        *l || !weighted
                    });
                if all_left {
                    rt.left_targets.iter_mut().for_each(|l| *l = false);
                }
            }
            AdaptAction::BackOff => {
                let back_off_ms = adapt.back_off.map_or(0, |d| d.ms());
                rt.silent_until_ms = self.now_ms.saturating_add(back_off_ms);
            }
        }
    }

    fn guess(&mut self, a: usize) {
        let cfg = &self.sc.attackers[a];
        let accounts = u64::from(cfg.sender_accounts.unwrap_or(1).max(1));
        let k = cfg.candidates_per_message.unwrap_or(1).max(1);
        let number = ATTACKER_ACCOUNTS_BASE + self.rng.random_range(0..accounts);
        let text: Vec<String> = (0..k)
            .map(|_| {
                self.spec
                    .format(self.spec.random(&mut self.rng))
                    .to_string()
            })
            .collect();
        let text = text.join(" ");
        self.row().guess_messages += 1;
        if !self.sender_allowed(number) {
            self.acc.attackers[a].blocked += 1;
            return;
        }
        self.msg_seq += 1;
        let msg = self.msg_seq;
        let literal = || Text::Literal(text.as_str().into());
        match self.deliver(number, &text, literal, "imessage", msg, false, false) {
            Some(ReceiveOutcome::Verified { .. }) => {
                let row = self.row();
                row.guess_hits += 1;
                row.hijacks += 1;
                self.acc.attackers[a].succeeded += 1;
            }
            Some(ReceiveOutcome::SenderMismatch { .. }) => {
                self.row().guess_hits += 1;
                self.acc.attackers[a].blocked += 1;
            }
            _ => {}
        }
    }

    fn flood(&mut self, a: usize) {
        let cap =
            usize::try_from(self.sc.defences.reverse.max_pending_per_client).unwrap_or(usize::MAX);
        let clients = self.attackers[a].flood.len();
        let client = self.rng.random_range(0..clients);
        let now_ms = self.now_ms;
        let q = &mut self.attackers[a].flood[client];
        while q.front().is_some_and(|&expires_ms| expires_ms <= now_ms) {
            q.pop_front();
        }
        if cap > 0 && q.len() >= cap {
            self.row().flood_refused += 1;
            self.acc.attackers[a].blocked += 1;
            return;
        }
        let started = self
            .verifier
            .start(&StartRequest::default(), self.wall_ms(), &mut self.rng);
        self.record_unkeyed_start(started.is_ok());
        match started {
            Ok(_) => {
                let expires_ms = now_ms.saturating_add(self.sc.verifier.ttl.ms());
                self.attackers[a].flood[client].push_back(expires_ms);
                self.row().flood_starts += 1;
                self.acc.attackers[a].succeeded += 1;
                self.acc.pending(self.verifier.pending());
            }
            Err(_) => {
                self.row().flood_refused += 1;
                self.acc.attackers[a].blocked += 1;
            }
        }
    }

    fn forge(&mut self, a: usize) {
        let code = self
            .spec
            .format(self.spec.random(&mut self.rng))
            .to_string();
        let n = self.attackers[a].counter;
        self.attackers[a].counter += 1;
        let body = self.emitted(&Inbound {
            message_id: &format!("forged{n}"),
            sender: "+15550000000",
            text: &code,
            protocol: "imessage",
            received_at_ms: self.wall_ms(),
        });
        let header = self
            .forger
            .sign_blooio(time::unix_s(self.wall_ms()), body.as_bytes());
        let accepted = self.signature_ok(&header, body.as_bytes());
        // Accepted forgeries are not processed further here: they are counted as successes.
        self.record(if accepted { "accepted" } else { "rejected" }, || {
            Action::Forged {
                n,
                code: code.as_str().into(),
            }
        });
        if !accepted {
            self.row().forged_rejected += 1;
            self.acc.attackers[a].blocked += 1;
        } else {
            self.acc.attackers[a].succeeded += 1;
        }
    }

    fn replay(&mut self, a: usize) {
        let age_ms = self.sc.attackers[a].capture_age.map_or(0, |d| d.ms());
        let cutoff_ms = self.now_ms.saturating_sub(age_ms);
        // The newest capture at least `capture_age` old.
        let Some(pos) = self.captured.iter().rposition(|c| c.at_ms <= cutoff_ms) else {
            return;
        };
        let c = self.captured[pos].clone();
        let msg = c.msg;
        if !self.signature_ok(&c.signature, c.body.as_bytes()) {
            self.record("rejected", || Action::Replay { msg });
            self.row().replays_rejected += 1;
            self.acc.attackers[a].blocked += 1;
            return;
        }
        // Inside the tolerance: the dedupe cache answers, nothing changes.
        let m = InboundMessage {
            sender: "+15550000000",
            text: "",
            protocol: Some("imessage"),
        };
        let (outcome, duplicate) =
            self.verifier
                .receive_once(&format!("m{msg}"), &m, self.wall_ms());
        let expect = if duplicate {
            "duplicate"
        } else {
            trace::result_name(&outcome)
        };
        self.record(expect, || Action::Replay { msg });
        if duplicate {
            self.row().replays_deduped += 1;
            self.acc.attackers[a].blocked += 1;
        } else {
            self.acc.attackers[a].succeeded += 1;
        }
    }

    fn phish(&mut self, a: usize) {
        let success = self.sc.attackers[a].success.map_or(0.0, |p| p.0);
        let country = self.pick_country();
        let number = self.legit_number(country);
        let victim = self.new_user(country, number);
        self.users[victim as usize].refs = 1;
        // The attacker logs in as the victim: the challenge is bound to the victim's number.
        let req = self.start_request_for(number);
        let started = self.verifier.start(&req, self.wall_ms(), &mut self.rng);
        let key = self.record_start(started.is_ok(), &req, number);
        self.users[victim as usize].key = key;
        if let Ok(s) = started {
            self.users[victim as usize].code = s.code;
            if self.rng.random::<f64>() < success {
                let delay_ms = self.send_delay_ms();
                let send_ms = self.after(delay_ms);
                let a = u16::try_from(a).expect("scenarios have fewer than 2^16 attackers");
                self.hold(victim, send_ms, Ev::VictimSend { user: victim, a });
            }
        }
        self.release(victim);
    }

    pub(super) fn victim_send(&mut self, user: u32, a: usize) {
        let u = self.users[user as usize];
        self.msg_seq += 1;
        let msg = self.msg_seq;
        let text = self.spec.format(u.code).to_string();
        let code = || Text::Code(u.key);
        if let Some(ReceiveOutcome::Verified { .. }) =
            self.deliver(u.number, &text, code, "imessage", msg, false, false)
        {
            self.row().phishing_successes += 1;
            self.acc.attackers[a].succeeded += 1;
        }
        self.release(user);
    }
}

#[cfg(test)]
mod tests {
    use super::super::world::PREMIUM_OFFSET;
    use super::super::world::tests::{drain, scenario, world};
    use super::*;

    const LEGIT: &str = "duration = \"1h\"\n[legit]\nrate_per_s = 0.0\np_send = 1.0\n\
        send_delay_median = \"5s\"\n\
        countries.US = { weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }\n\
        [emitter]\nlatency_median = \"300ms\"\n";

    #[test]
    fn a_burst_attacker_is_silent_between_bursts_and_outside_its_window() {
        let sc = scenario(&format!(
            "{LEGIT}[[attacker]]\nkind = \"start_flood\"\nstart = \"10m\"\nend = \"50m\"\n\
             shape = \"burst\"\nburst_on = \"1m\"\nburst_off = \"4m\"\nrate_per_s = 3.0\n"
        ));
        let w = world(&sc);
        let m = 60_000;
        assert_eq!(w.attack_rate(0, 10 * m - 1), 0.0, "before start");
        assert_eq!(w.attack_rate(0, 10 * m), 3.0);
        assert_eq!(w.attack_rate(0, 11 * m - 1), 3.0);
        assert_eq!(w.attack_rate(0, 11 * m), 0.0, "off part");
        assert_eq!(w.attack_rate(0, 15 * m), 3.0, "next burst");
        assert_eq!(w.attack_rate(0, 50 * m), 0.0, "after end");
    }

    #[test]
    fn the_next_attempt_after_a_burst_skips_to_the_next_burst() {
        let sc = scenario(&format!(
            "{LEGIT}[[attacker]]\nkind = \"start_flood\"\nstart = \"10m\"\nend = \"50m\"\n\
             shape = \"burst\"\nburst_on = \"1m\"\nburst_off = \"4m\"\nrate_per_s = 3.0\n"
        ));
        let mut w = world(&sc);
        w.attack_clocks_ms[0] = 12.0 * 60_000.0; // in the off part
        w.now_ms = 12 * 60_000;
        w.schedule_attack(0);
        let evs = drain(&mut w);
        assert_eq!(evs.len(), 1);
        assert!(
            evs[0].0 >= 15 * 60_000,
            "{evs:?}: resumes at the next burst"
        );
        assert!(
            evs[0].0 < 16 * 60_000,
            "{evs:?}: a gap of seconds, not minutes"
        );
    }

    #[test]
    fn attempts_arrive_at_the_attackers_rate() {
        let sc = scenario(&format!(
            "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"sustained\"\nrate_per_s = 2.0\n"
        ));
        let mut w = world(&sc);
        w.schedule_attack(0);
        while let Some((t, ev)) = w.queue.pop() {
            w.now_ms = t;
            assert!(matches!(ev, Ev::Attack { a: 0 }));
            w.attack(0);
        }
        let n = w.acc.attackers[0].attempts as f64;
        let mean = 2.0 * 3_600.0;
        assert!(
            (n - mean).abs() < 5.0 * mean.sqrt(),
            "{n} attempts vs {mean}"
        );
        assert_eq!(w.acc.attackers[0].blocked, w.acc.attackers[0].attempts);
        assert_eq!(
            w.acc.rows.iter().map(|r| r.forged_rejected).sum::<u64>() as f64,
            n
        );
    }

    #[test]
    fn a_flood_client_is_capped_until_its_challenges_expire() {
        let sc = scenario(&format!(
            "{LEGIT}[verifier]\nttl = \"1m\"\n[defences.reverse]\nmax_pending_per_client = 2\n\
             [[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"sustained\"\nrate_per_s = 1.0\nclients = 1\n"
        ));
        let mut w = world(&sc);
        for _ in 0..3 {
            w.flood(0);
        }
        assert_eq!(w.acc.rows[0].flood_starts, 2);
        assert_eq!(w.acc.rows[0].flood_refused, 1);
        w.now_ms = 60_000;
        w.flood(0);
        assert_eq!(
            w.acc.rows[0].flood_starts, 3,
            "expired challenges free the client"
        );
    }

    #[test]
    fn sequential_pumping_walks_the_premium_range() {
        let sc = scenario(&format!(
            "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
             end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ US = 1.0 }}\n\
             range_size = 3\n"
        ));
        let mut w = world(&sc);
        for _ in 0..4 {
            w.pump(0);
        }
        assert_eq!(w.acc.countries[0].pumped_smsflow, 4);
        assert_eq!(w.acc.attackers[0].succeeded, 4);
        let base = w.countries[0].base + PREMIUM_OFFSET;
        // A range of three: the fourth number is the first again.
        assert_eq!(w.sms.pending(), 3);
        assert_eq!(w.attackers[0].counter, 4);
        assert_eq!(base % 10_000_000_000, PREMIUM_OFFSET);
    }

    /// A pumping attacker (1/s for an hour at MA) with `keys` added, then `tables`.
    fn pumper(keys: &str, tables: &str) -> crate::scenario::Scenario {
        scenario(&format!(
            "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
             end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n\
             {keys}{tables}"
        ))
    }

    /// Runs every queued event (attacks only in these worlds) to the end.
    fn run_attacks(w: &mut World<'_>) {
        for a in 0..w.sc.attackers.len() {
            w.schedule_attack(a);
        }
        while let Some((t, ev)) = w.queue.pop() {
            w.now_ms = t;
            if let Ev::Attack { a } = ev {
                w.attack(usize::from(a));
            }
        }
    }

    /// Records requests, so tests can read the numbers pumped.
    fn traced(w: &mut World<'_>) {
        w.trace = Some(crate::trace::Trace {
            max_steps: usize::MAX,
            ..Default::default()
        });
    }

    /// The numbers of the SMS flow's sends, in order.
    fn sms_numbers(w: &World<'_>) -> Vec<u64> {
        w.trace
            .as_ref()
            .map(|t| {
                t.steps
                    .iter()
                    .filter_map(|s| match s.action {
                        Action::SmsStart {
                            world: Flow::Sms,
                            number,
                            ..
                        } => Some(number),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn accounts_get_their_requests_and_a_capped_attacker_stops() {
        let sc = pumper("sms_per_account = 5\n", "");
        let mut w = world(&sc);
        for _ in 0..12 {
            w.pump(0);
        }
        assert_eq!(w.acc.attackers[0].accounts, 3, "5 + 5 + 2 requests");
        let sc = pumper("", "");
        let mut w = world(&sc);
        for _ in 0..12 {
            w.pump(0);
        }
        assert_eq!(
            w.acc.attackers[0].accounts, 0,
            "without the knob: no account"
        );
        let sc = pumper("sms_per_account = 5\naccounts = 2\n", "");
        let mut w = world(&sc);
        run_attacks(&mut w);
        assert_eq!(w.acc.attackers[0].attempts, 10, "two accounts of five");
        assert_eq!(w.acc.attackers[0].accounts, 2);
    }

    #[test]
    fn sms_per_number_repeats_each_number() {
        let sc = pumper("sms_per_number = 2\n", "");
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..6 {
            w.pump(0);
        }
        let n = sms_numbers(&w);
        let b = n[0];
        assert_eq!(n, [b, b, b + 1, b + 1, b + 2, b + 2]);
        let sc = pumper("numbers = \"random\"\nsms_per_number = 3\n", "");
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..6 {
            w.pump(0);
        }
        let n = sms_numbers(&w);
        assert!(
            n[0] == n[1] && n[1] == n[2] && n[3] == n[4] && n[4] == n[5],
            "{n:?}"
        );
        assert_ne!(n[0], n[3], "a new number after three");
        // Over several countries and carriers the number (country, carrier and all) is held.
        let sc = scenario(&format!(
            "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
             end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
             targets = {{ MA = 1.0, KG = 1.0 }}\nsms_per_number = 3\n{TWO_CARRIERS}"
        ));
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..30 {
            w.pump(0);
        }
        let n = sms_numbers(&w);
        assert!(n.chunks(3).all(|c| c[0] == c[1] && c[1] == c[2]), "{n:?}");
        let distinct: std::collections::BTreeSet<u64> =
            n.iter().map(|x| x / 1_000_000_000).collect();
        assert!(
            distinct.len() > 2,
            "several countries and carriers: {distinct:?}"
        );
    }

    #[test]
    fn ranges_are_separate_prefixes_walked_in_turn_or_drawn() {
        let sc = pumper("range_size = 2\nranges = 3\n", "");
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..7 {
            w.pump(0);
        }
        let n = sms_numbers(&w);
        let (b, stride) = (n[0], crate::scenario::range_stride(2));
        assert_eq!(
            n,
            [
                b,
                b + 1,
                b + stride,
                b + stride + 1,
                b + 2 * stride,
                b + 2 * stride + 1,
                b
            ]
        );
        let prefixes: std::collections::BTreeSet<u64> = n.iter().map(|x| x / 10_000).collect();
        assert_eq!(prefixes.len(), 3, "one prefix per range");
        let sc = pumper("numbers = \"random\"\nrange_size = 10\nranges = 4\n", "");
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..200 {
            w.pump(0);
        }
        let ma = w.countries[1].carriers[0]; // US is country 0
        let start = w.carriers[ma].premium_start;
        let stride = crate::scenario::range_stride(10);
        let used: std::collections::BTreeSet<u64> = sms_numbers(&w)
            .iter()
            .map(|x| {
                assert!((x - start) % stride < 10, "{x} outside its range");
                (x - start) / stride
            })
            .collect();
        assert_eq!(used.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn a_ramp_is_linear_between_its_points_and_holds_outside() {
        let sc = scenario(&format!(
            "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"10m\"\nend = \"1h\"\n\
             shape = \"ramp\"\nramp = [{{ at = \"10m\", per_s = 1.0 }}, {{ at = \"30m\", per_s = 3.0 }}]\n"
        ));
        let w = world(&sc);
        let m = 60_000;
        assert_eq!(w.attack_rate(0, 10 * m - 1), 0.0, "before start");
        assert_eq!(
            w.attack_rate(0, 10 * m),
            1.0,
            "the first point's rate holds before it"
        );
        assert_eq!(w.attack_rate(0, 20 * m), 1.0);
        assert!((w.attack_rate(0, 30 * m) - 2.0).abs() < 1e-12, "half way");
        assert_eq!(w.attack_rate(0, 40 * m), 3.0);
        assert_eq!(w.attack_rate(0, 59 * m), 3.0, "the last point's rate holds");
        assert_eq!(w.attackers[0].thinned, Some(3.0), "candidates at the peak");
    }

    #[test]
    fn ramp_attempts_follow_the_integral_of_the_rate() {
        // 0 → 2/s over the hour: 3,600 attempts expected, not the 7,200 of the peak rate.
        let sc = scenario(&format!(
            "{LEGIT}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"ramp\"\nramp = [{{ at = \"0s\", per_s = 0.0 }}, {{ at = \"1h\", per_s = 2.0 }}]\n"
        ));
        let mut w = world(&sc);
        run_attacks(&mut w);
        let n = w.acc.attackers[0].attempts as f64;
        assert!((n - 3_600.0).abs() < 5.0 * 60.0, "{n} attempts");
        let rows: Vec<u64> = w.acc.rows.iter().map(|r| r.forged_rejected).collect();
        assert!(
            rows[5] > 3 * rows[0],
            "more at the end than at the start: {rows:?}"
        );
    }

    #[test]
    fn a_diurnal_attacker_peaks_at_its_hour() {
        let sc = scenario(&format!(
            "duration = \"1d\"\n{}[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\n\
             end = \"1d\"\nshape = \"diurnal\"\nrate_per_s = 0.2\namplitude = 0.8\npeak_hour = 3\n",
            LEGIT.replace("duration = \"1h\"\n", "")
        ));
        let mut w = world(&sc);
        let h = time::MS_PER_HOUR;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(w.attack_rate(0, 3 * h), 0.2 * 1.8), "peak");
        assert!(close(w.attack_rate(0, 15 * h), 0.2 * 0.2), "trough");
        assert!(
            close(w.attack_rate(0, 9 * h), 0.2),
            "a quarter day off: the mean"
        );
        run_attacks(&mut w);
        let n = w.acc.attackers[0].attempts as f64;
        let mean = 0.2 * 86_400.0; // the cosine averages out over a day
        assert!((n - mean).abs() < 5.0 * mean.sqrt(), "{n} vs {mean}");
        // Rows are 10 minutes: the hours around 03:00 against those around 15:00.
        let around = |hour: usize| -> u64 {
            w.acc.rows[hour * 6 - 6..hour * 6 + 6]
                .iter()
                .map(|r| r.forged_rejected)
                .sum()
        };
        assert!(
            around(3) > 4 * around(15),
            "{} vs {}",
            around(3),
            around(15)
        );
    }

    const TWO_CARRIERS: &str = "[[carrier]]\ncountry = \"MA\"\nname = \"A\"\nshare = 0.3\n\
        [[carrier]]\ncountry = \"MA\"\nname = \"B\"\nshare = 0.5\nprice_usd = 1.0\n";

    #[test]
    fn carriers_own_number_blocks_legit_users_follow_shares_and_attackers_pick_theirs() {
        let sc = scenario(&format!(
            "flows = [\"sms\"]\nduration = \"1h\"\n[legit]\nrate_per_s = 0.0\np_send = 1.0\n\
             send_delay_median = \"5s\"\n\
             countries.MA = {{ weight = 1.0, imessage = 0.0, fallback = \"outbound_sms\" }}\n\
             [emitter]\nlatency_median = \"300ms\"\n[[attacker]]\nkind = \"sms_pumping\"\n\
             start = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
             targets = {{ MA = 1.0 }}\ncarriers = [\"B\"]\n{TWO_CARRIERS}"
        ));
        let mut w = world(&sc);
        let names: Vec<&str> = w.acc.carriers.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            ["A", "B", "(other)"],
            "the rest of the shares is (other)"
        );
        let mut per = [0u32; 3];
        for _ in 0..10_000 {
            let number = w.legit_number(0);
            per[w.carrier_of(0, number)] += 1;
        }
        for (got, share) in per.iter().zip([0.3f64, 0.5, 0.2]) {
            let mean = 10_000.0 * share;
            let sd = (mean * (1.0 - share)).sqrt();
            assert!((f64::from(*got) - mean).abs() < 5.0 * sd, "{per:?}");
        }
        traced(&mut w);
        for _ in 0..50 {
            w.pump(0);
        }
        assert!(sms_numbers(&w).iter().all(|&n| w.carrier_of(0, n) == 1));
        let pumped: Vec<u64> = w.acc.carriers.iter().map(|k| k.pumped_smsflow).collect();
        assert_eq!(pumped, [0, 50, 0]);
        assert_eq!(w.acc.rows[0].usd_sms_flow, 50.0, "billed at B's $1.00");
        assert_eq!(w.acc.countries[0].pumped_smsflow, 50);
    }

    #[test]
    fn a_carrier_without_a_price_takes_the_table_price_or_the_list_price() {
        let sc = scenario(&format!(
            "flows = [\"sms\"]\n{LEGIT}[[carrier]]\ncountry = \"US\"\nname = \"AT&T\"\nshare = 0.5\n\
             [[carrier]]\ncountry = \"US\"\nname = \"Unlisted\"\nshare = 0.5\nprice_usd = 0.02\n"
        ));
        let w = world(&sc);
        assert_eq!(w.carriers[0].price, 0.0083, "carrier_prices.csv");
        assert_eq!(w.carriers[1].price, 0.02, "price_usd");
        assert_eq!(w.acc.carriers.len(), 2, "shares sum to 1: no (other)");
    }

    #[test]
    fn submitted_codes_verify_through_the_real_check() {
        let sc = pumper("submit_codes = 1.0\n", "");
        let mut w = world(&sc);
        traced(&mut w);
        for _ in 0..20 {
            w.pump(0);
        }
        // The trace pairs each send with its read, so a live replay submits the same codes.
        let steps = &w.trace.as_ref().unwrap().steps;
        let (mut started, mut read) = (Vec::new(), Vec::new());
        for s in steps {
            match s.action {
                Action::SmsStart { key: Some(k), .. } => started.push(k),
                Action::SmsRead { key, .. } if s.expect == "verified" => read.push(key),
                _ => {}
            }
        }
        assert_eq!(started.len(), 20);
        assert_eq!(started, read);
        assert_eq!(w.acc.rows[0].pumped_verified_smsflow, 20);
        let ma = w.countries[1].carriers[0];
        assert_eq!(w.acc.carriers[ma].verified_smsflow, 20);
        assert_eq!(w.sms.pending(), 0, "every code was used");
        let sc = pumper("camouflage = 1.0\n", "");
        let mut w = world(&sc);
        for _ in 0..20 {
            w.pump(0);
        }
        assert_eq!(
            w.acc.rows[0].pumped_verified_smsflow, 0,
            "camouflage verifies nothing"
        );
    }

    #[test]
    fn next_range_moves_past_a_prefix_limit() {
        let tables = "[defences.sms]\nper_prefix = 5\n";
        let pumps = |keys: &str| {
            let sc = pumper(&format!("range_size = 100\nranges = 3\n{keys}"), tables);
            let mut w = world(&sc);
            for _ in 0..30 {
                w.pump(0);
            }
            (w.acc.attackers[0].succeeded, w.acc.attackers[0].adaptations)
        };
        assert_eq!(pumps(""), (5, 0), "stuck in the first range");
        let (succeeded, adaptations) =
            pumps("adapt = { after_blocks = 2, action = \"next_range\" }\n");
        assert_eq!(succeeded, 15, "five in each of three ranges");
        assert!(adaptations >= 3, "{adaptations}");
    }

    #[test]
    fn next_country_leaves_a_blocked_destination() {
        let tables = "[defences.sms]\ngeo_allow = [\"KG\"]\n";
        let sc = |keys: &str| {
            scenario(&format!(
                "flows = [\"sms\"]\n{LEGIT}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
                 end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\n\
                 targets = {{ MA = 1.0, KG = 1.0 }}\n{keys}{tables}"
            ))
        };
        let plain = sc("");
        let mut w = world(&plain);
        for _ in 0..100 {
            w.pump(0);
        }
        assert!(w.acc.attackers[0].blocked > 30, "half go to MA");
        let adaptive = sc("adapt = { after_blocks = 3, action = \"next_country\" }\n");
        let mut w = world(&adaptive);
        while w.acc.attackers[0].adaptations == 0 {
            w.pump(0);
        }
        assert_eq!(
            w.attackers[0].left_targets,
            [false, true],
            "KG, MA: MA left"
        );
        let blocked = w.acc.attackers[0].blocked;
        for _ in 0..100 {
            w.pump(0);
        }
        assert_eq!(w.acc.attackers[0].blocked, blocked, "KG only from then on");
        assert_eq!(w.acc.attackers[0].adaptations, 1);
    }

    #[test]
    fn next_carrier_leaves_the_carrier_of_the_refusals() {
        let sc = pumper(
            "adapt = { after_blocks = 1, action = \"next_carrier\" }\n",
            &format!("[defences.sms]\nper_prefix = 1\n{TWO_CARRIERS}"),
        );
        let mut w = world(&sc);
        traced(&mut w);
        // Pump until the first refusal.
        while w.acc.attackers[0].blocked == 0 {
            w.pump(0);
        }
        let ma = w.countries[1].carriers.clone(); // US is country 0
        assert_eq!(ma.len(), 3, "A, B, (other)");
        let left: Vec<usize> = ma
            .iter()
            .copied()
            .filter(|&k| w.attackers[0].left_carriers[k])
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        for _ in 0..20 {
            assert_ne!(w.pick_carrier(0, 1), left[0], "never the carrier it left");
        }
    }

    #[test]
    fn back_off_silences_the_attacker() {
        let tables = "[defences.sms]\ngeo_allow = [\"US\"]\n";
        let attempts = |keys: &str| {
            let sc = pumper(keys, tables);
            let mut w = world(&sc);
            run_attacks(&mut w);
            (w.acc.attackers[0].attempts, w.acc.attackers[0].adaptations)
        };
        assert!(attempts("").0 > 3_000, "refused all hour long");
        let (n, adaptations) =
            attempts("adapt = { after_blocks = 5, action = \"back_off\", back_off = \"25m\" }\n");
        // 5 refusals and 25 minutes of silence, three times: the hour is over.
        assert_eq!((n, adaptations), (15, 3));
    }

    #[test]
    fn a_captcha_stops_bots_not_human_farms_and_bills_each_check() {
        let captcha = "[defences.captcha]\npass_bot = 0.0\npass_human_farm = 1.0\n\
            pass_legit = 0.5\nusd_per_check = 0.01\n";
        let pumps = |solver: &str| {
            let sc = pumper(&format!("solver = \"{solver}\"\n"), captcha);
            let mut w = world(&sc);
            for _ in 0..20 {
                w.pump(0);
            }
            let r = w.acc.rows[0].clone();
            (
                r.pumped_sms_smsflow,
                r.captcha_blocked_pumping,
                r.usd_captcha_sms_flow,
            )
        };
        let (sent, failed, usd) = pumps("bot");
        assert_eq!((sent, failed), (0, 20));
        assert!((usd - 0.2).abs() < 1e-9, "{usd}");
        assert_eq!(pumps("human_farm").0, 20);
        // Legit users fail it half the time: counted, and they get no code.
        let sc = pumper("", captcha);
        let mut w = world(&sc);
        for _ in 0..2_000 {
            let u = w.new_user(0, w.countries[0].base + 1_000_000_000);
            w.users[u as usize].refs = 1;
            w.sms_start(u, false, false, 0);
            w.release(u);
        }
        let r = &w.acc.rows[0];
        assert_eq!(r.captcha_blocked_legit + r.sms_legit_smsflow, 2_000);
        assert!((900..1_100).contains(&r.captcha_blocked_legit), "{r:?}");
    }
}
