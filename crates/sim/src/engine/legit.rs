//! Legit users: Poisson arrivals shaped by the diurnal cycle and growth (by thinning), the
//! reverse flow's start, the SMS flow and the reverse flow's outbound-SMS fallback (texted code,
//! read and typed back), and the trace records of those requests.

use super::time;
use super::world::{Ev, Texted, World, country_u16};
use crate::flow::Flow;
use crate::outcome::Unverified;
use crate::scenario::Fallback;
use crate::trace::{Action, Answer};
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::verifier::StartRequest;
use rand::Rng;
use rand_distr::Distribution;

impl World<'_> {
    /// The legit arrival rate at `t_ms`, per second.
    pub(super) fn legit_rate(&self, t_ms: u64) -> f64 {
        let l = &self.sc.legit;
        let day = time::days(t_ms);
        let diurnal =
            1.0 + l.diurnal_amplitude.0 * (std::f64::consts::TAU * (day.fract() - 0.25)).sin();
        l.rate_per_s.0 * diurnal * (1.0 + l.growth_per_day.0 * day)
    }

    /// Schedules the next arrival candidate at the peak rate.
    pub(super) fn schedule_arrival(&mut self) {
        if let Some(gap) = self.exp_ms(self.pop.max_legit_rate) {
            self.pop.arrival_clock_ms += gap;
            self.at(time::whole_ms(self.pop.arrival_clock_ms), Ev::Arrival);
        }
    }

    pub(super) fn arrival(&mut self) {
        // Thinning: candidates at the peak rate, accepted in proportion to the rate now.
        self.schedule_arrival();
        if self.rng.random::<f64>() * self.pop.max_legit_rate > self.legit_rate(self.clock.now_ms) {
            return;
        }
        self.acc.legit_users += 1;
        let country = self.pick_country();
        let number = self.legit_number(country);
        let user = self.new_user(country, number);
        // The app account asking for the codes: one per legit user.
        let now = self.clock.now_ms;
        let u = &mut self.pop.users[user as usize];
        u.account = self.acc.legit_users;
        u.legit = true;
        u.start_ms = now;
        let sends = self.rng.random::<f64>() < self.sc.legit.p_send.0;
        let delay_ms = self.send_delay_ms();
        self.pop.users[user as usize].refs = 1; // held by this function until the end
        if self.flows.sms.runs {
            self.sms_start(user, Flow::Sms, sends, delay_ms);
        }
        if self.flows.reverse.runs {
            self.row().legit_starts += 1;
            let c = &self.pop.countries[country];
            let has_imessage = self.rng.random::<f64>() < c.imessage;
            match (has_imessage, c.fallback) {
                (false, Fallback::OutboundSms) => {
                    self.sms_start(user, Flow::Reverse, sends, delay_ms);
                }
                (imessage, _) => {
                    self.pop.users[user as usize].inbound_sms = !imessage;
                    self.reverse_start(user, sends, delay_ms);
                }
            }
        }
        self.release(user);
    }

    /// A start request on behalf of `number`: bound to it when the binding defence is on.
    pub(super) fn start_request_for(&self, number: u64) -> StartRequest {
        StartRequest {
            expected_sender: self
                .sc
                .defences
                .reverse
                .expected_sender
                .then(|| Self::sender(number).to_string()),
            ttl_ms: None,
        }
    }

    fn reverse_start(&mut self, user: u32, sends: bool, delay_ms: u64) {
        let number = self.pop.users[user as usize].number;
        let req = self.start_request_for(number);
        let started = self
            .webhook
            .verifier
            .start(&req, self.wall_ms(), &mut self.rng);
        self.acc.pending(self.webhook.verifier.pending());
        let key = self.record_start(started.is_ok(), &req, number);
        let u = &mut self.pop.users[user as usize];
        u.key = key;
        u.id = started.as_ref().ok().map(|s| s.id);
        let Ok(s) = started else {
            self.row().legit_refused += 1;
            self.pop.users[user as usize].unverified.reverse = Unverified::Blocked;
            return;
        };
        self.pop.users[user as usize].code = s.code;
        if sends {
            self.acc.legit_sent_reverse += 1;
            let typo = self.rng.random::<f64>() < self.sc.legit.typo_rate.0;
            let send_ms = self.after(delay_ms);
            self.hold(user, send_ms, Ev::UserSend { user, typo });
            if typo {
                // Seeing no confirmation, the user retypes it correctly.
                let again_ms = send_ms.saturating_add(self.send_delay_ms());
                self.hold(user, again_ms, Ev::UserSend { user, typo: false });
            }
            if self.rng.random::<f64>() < self.sc.legit.double_send.0 {
                let again_ms = send_ms.saturating_add(1_000);
                self.hold(user, again_ms, Ev::UserSend { user, typo: false });
            }
        }
    }

    /// Records a start made for `number` under a new key.
    pub(super) fn record_start(&mut self, ok: bool, req: &StartRequest, number: u64) -> u32 {
        let key = self.new_key();
        let bound = req.expected_sender.is_some();
        self.record(Answer::created(ok), || Action::Start {
            key: Some(key),
            expected_sender: bound.then_some(number),
        });
        key
    }

    /// Records a start nobody follows up.
    pub(super) fn record_unkeyed_start(&mut self, ok: bool) {
        self.record(Answer::created(ok), || Action::Start {
            key: None,
            expected_sender: None,
        });
    }

    /// Outbound SMS code: the sms flow, or the reverse flow's outbound fallback.
    pub(super) fn sms_start(&mut self, user: u32, flow: Flow, sends: bool, delay_ms: u64) {
        let u = self.pop.users[user as usize];
        let c = usize::from(u.country);
        let ip = self.rng.random::<u32>();
        let network = self.pop.carrier_of(c, u.number);
        if let Some(captcha) = &self.sc.defences.captcha
            && !self.captcha_passes(captcha.pass_legit.0, flow)
        {
            self.row().captcha_blocked_legit += 1;
            *self.acc.carriers[network].blocked_in(flow) += 1;
            self.pop.users[user as usize].unverified[flow] = Unverified::Blocked;
            return;
        }
        if !self.defend(flow, &self.attempt(c, u.number, ip, u.account), true) {
            *self.acc.carriers[network].blocked_in(flow) += 1;
            let u = &mut self.pop.users[user as usize];
            u.refused_by[flow] = self.effects.last_refusal;
            u.unverified[flow] = Unverified::Blocked;
            return;
        }
        if !self.billing_accepts(flow, self.pop.carriers[network].price, true) {
            self.pop.users[user as usize].unverified[flow] = Unverified::Suspended;
            return;
        }
        let wall_ms = self.wall_ms();
        let started = self.flows[flow]
            .otp
            .start(&Self::sender(u.number), wall_ms, &mut self.rng);
        let key = self.new_key();
        self.record(Answer::sent(started.is_ok()), || Action::SmsStart {
            world: flow,
            key: Some(key),
            number: u.number,
            country: country_u16(c),
        });
        let Ok(code) = started else {
            self.pop.users[user as usize].unverified[flow] = Unverified::Other;
            return;
        };
        let price = self.pop.carriers[network].price;
        let row = self.row();
        *row.sms_legit_in(flow) += 1;
        *row.usd_in(flow) += price;
        *self.acc.carriers[network].sms_legit_in(flow) += 1;
        *self.acc.countries[c].sms_legit_in(flow) += 1;
        self.pop.users[user as usize].texted[flow] = Texted {
            code: code.code,
            key,
            ip,
        };
        if sends {
            self.sms_deliver(user, flow, c, delay_ms);
        }
    }

    /// The texted code on its way: lost (`[sms] loss`), or read after the delivery time
    /// (log-normal with `delivery_sigma`) and the user's delay; a user whose code has not
    /// come by `resend_after` asks for a new one instead, once. With none of these keys set
    /// it draws nothing and reads after the fixed `delivery`, as before they existed.
    fn sms_deliver(&mut self, user: u32, flow: Flow, country: usize, delay_ms: u64) {
        let (median_ms, loss) = {
            let c = &self.pop.countries[country];
            (c.sms_delivery_ms, c.sms_loss)
        };
        let lost = loss > 0.0 && self.rng.random::<f64>() < loss;
        let sigma = self.sc.sms.delivery_sigma.0;
        let delivery_ms = if sigma > 0.0 {
            time::whole_ms(super::world::lognormal(median_ms, sigma).sample(&mut self.rng))
        } else {
            median_ms
        };
        let resend_ms = self
            .sc
            .sms
            .resend_after
            .map(|d| d.ms())
            .filter(|_| !self.pop.users[user as usize].resent[flow]);
        let u = &mut self.pop.users[user as usize];
        if lost {
            u.unverified[flow] = Unverified::NotDelivered;
        } else if delivery_ms.saturating_add(delay_ms) > self.sc.sms.ttl.ms() {
            u.unverified[flow] = Unverified::AfterTtl;
        }
        match resend_ms {
            Some(r) if lost || delivery_ms > r => {
                let at = self.after(r);
                self.hold(user, at, Ev::SmsResend { user, flow });
            }
            _ if !lost => {
                let read_ms = self.after(delivery_ms.saturating_add(delay_ms));
                self.hold(user, read_ms, Ev::SmsRead { user, flow });
            }
            _ => {}
        }
    }

    /// The user's code did not come: they ask for a new one.
    pub(super) fn sms_resend(&mut self, user: u32, flow: Flow) {
        self.pop.users[user as usize].resent[flow] = true;
        let delay_ms = self.send_delay_ms();
        self.sms_start(user, flow, true, delay_ms);
        self.release(user);
    }

    /// A legit user verified in `flow` now: their time from start to verified.
    pub(super) fn verified_in(&mut self, user: u32, flow: Flow) {
        let u = &mut self.pop.users[user as usize];
        match flow {
            Flow::Sms => u.verified_sms = true,
            Flow::Reverse => u.verified_reverse = true,
        }
        if u.legit {
            let ms = self.clock.now_ms.saturating_sub(u.start_ms);
            self.acc.time_to_verify[usize::from(u.country)][flow.index()].record(ms);
        }
    }

    /// A CAPTCHA in front of a send, passed with probability `pass`; the defender pays for
    /// the check in the flow's column.
    pub(super) fn captcha_passes(&mut self, pass: f64, flow: Flow) -> bool {
        let usd = self
            .sc
            .defences
            .captcha
            .as_ref()
            .map_or(0.0, |c| c.usd_per_check.0);
        *self.row().usd_captcha_in(flow) += usd;
        self.rng.random::<f64>() < pass
    }

    pub(super) fn sms_read(&mut self, user: u32, flow: Flow) {
        let u = self.pop.users[user as usize];
        let wall_ms = self.wall_ms();
        let texted = u.texted[flow];
        let otp = &self.flows[flow].otp;
        let text = otp.format(texted.code);
        let checked = otp.check(&Self::sender(u.number), &text, wall_ms);
        self.record(Answer::of_check(&checked), || Action::SmsRead {
            world: flow,
            key: texted.key,
            number: u.number,
        });
        if checked == CheckOutcome::Verified {
            let country = usize::from(u.country);
            let network = self.pop.carrier_of(country, u.number);
            *self.acc.carriers[network].verified_in(flow) += 1;
            let sent = self.attempt(country, u.number, texted.ip, u.account);
            self.defended_verified(flow, &sent);
            self.verified_in(user, flow);
            if flow == Flow::Reverse {
                self.acc.fallback_sms_verified += 1;
            }
            *self.row().legit_verified_in(flow) += 1;
        } else {
            let u = &mut self.pop.users[user as usize].unverified[flow];
            if *u == Unverified::NeverSent {
                *u = Unverified::Other;
            }
        }
        self.release(user);
    }
}

#[cfg(test)]
mod tests {
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
            close(w.legit_rate(day / 4), 10.0 * 1.025),
            "06:00 is the mean"
        );
        assert!(
            close(w.legit_rate(day / 2), 15.0 * 1.05),
            "noon is the peak"
        );
        assert!(close(w.legit_rate(0), 5.0), "midnight is the trough");
        assert!(close(w.legit_rate(day + day / 4), 10.0 * 1.125));
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
        let u = w.new_user(0, 10_005_550_100);
        w.pop.users[u as usize].refs = 1;
        w.sms_start(u, Flow::Sms, true, 700);
        assert_eq!(w.acc.rows[0].sms_legit_smsflow, 1);
        assert_eq!(w.acc.countries[0].sms_legit_smsflow, 1);
        assert_eq!(
            drain(&mut w),
            [(
                5_700,
                Ev::SmsRead {
                    user: u,
                    flow: Flow::Sms
                }
            )]
        );
        w.clock.now_ms = 5_700;
        w.sms_read(u, Flow::Sms);
        assert_eq!(
            w.acc.rows[0].legit_verified_sms, 1,
            "the texted code verifies"
        );
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
        let u = w.new_user(0, 10_005_550_100);
        w.pop.users[u as usize].refs = 1;
        w.pop.users[u as usize].legit = true;
        w.sms_start(u, Flow::Sms, true, 700);
        assert!(drain(&mut w).is_empty(), "nothing to read");
        w.release(u);
        let t = &w.acc.time_to_verify[0][Flow::Sms.index()];
        assert_eq!(t.causes[Unverified::NotDelivered as usize], 1);
        assert_eq!(t.verified, 0);
    }

    #[test]
    fn a_user_whose_code_did_not_come_asks_again_once() {
        let sc = lossy("resend_after = \"60s\"\n");
        let mut w = world(&sc);
        let u = w.new_user(0, 10_005_550_100);
        w.pop.users[u as usize].refs = 1;
        w.sms_start(u, Flow::Sms, true, 700);
        assert_eq!(
            drain(&mut w),
            [(
                60_000,
                Ev::SmsResend {
                    user: u,
                    flow: Flow::Sms
                }
            )]
        );
        w.clock.now_ms = 60_000;
        w.sms_resend(u, Flow::Sms);
        assert_eq!(w.acc.rows[0].sms_legit_smsflow, 2, "a second code was sent");
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
