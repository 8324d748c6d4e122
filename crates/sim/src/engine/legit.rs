//! Legit users: Poisson arrivals shaped by the diurnal cycle and growth (by thinning), the
//! reverse flow's start, the SMS flow and the reverse flow's outbound-SMS fallback (texted code,
//! read and typed back), and the trace records of those requests.

use super::time;
use super::world::{Ev, World, country_u16};
use crate::scenario::{Fallback, Flow};
use crate::trace::Action;
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::verifier::StartRequest;
use rand::Rng;

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
        if let Some(gap) = self.exp_ms(self.max_legit_rate) {
            self.arrival_clock_ms += gap;
            self.at(time::whole_ms(self.arrival_clock_ms), Ev::Arrival);
        }
    }

    pub(super) fn arrival(&mut self) {
        // Thinning: candidates at the peak rate, accepted in proportion to the rate now.
        self.schedule_arrival();
        if self.rng.random::<f64>() * self.max_legit_rate > self.legit_rate(self.now_ms) {
            return;
        }
        self.acc.legit_users += 1;
        let country = self.pick_country();
        let number = self.legit_number(country);
        let user = self.new_user(country, number);
        // The app account asking for the codes: one per legit user.
        self.users[user as usize].account = self.acc.legit_users;
        let sends = self.rng.random::<f64>() < self.sc.legit.p_send.0;
        let delay_ms = self.send_delay_ms();
        self.users[user as usize].refs = 1; // held by this function until the end
        if self.world_sms {
            self.sms_start(user, false, sends, delay_ms);
        }
        if self.world_reverse {
            self.row().legit_starts += 1;
            let c = &self.countries[country];
            let has_imessage = self.rng.random::<f64>() < c.imessage;
            match (has_imessage, c.fallback) {
                (false, Fallback::OutboundSms) => self.sms_start(user, true, sends, delay_ms),
                (imessage, _) => {
                    self.users[user as usize].inbound_sms = !imessage;
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
        let number = self.users[user as usize].number;
        let req = self.start_request_for(number);
        let started = self.verifier.start(&req, self.wall_ms(), &mut self.rng);
        self.acc.pending(self.verifier.pending());
        let key = self.record_start(started.is_ok(), &req, number);
        let u = &mut self.users[user as usize];
        u.key = key;
        u.id = started.as_ref().ok().map(|s| s.id);
        let Ok(s) = started else {
            self.row().legit_refused += 1;
            return;
        };
        self.users[user as usize].code = s.code;
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
        self.record(if ok { "created" } else { "refused" }, || Action::Start {
            key: Some(key),
            expected_sender: bound.then_some(number),
        });
        key
    }

    /// Records a start nobody follows up.
    pub(super) fn record_unkeyed_start(&mut self, ok: bool) {
        self.record(if ok { "created" } else { "refused" }, || Action::Start {
            key: None,
            expected_sender: None,
        });
    }

    /// Outbound SMS code: the sms world, or the reverse world's outbound fallback.
    pub(super) fn sms_start(&mut self, user: u32, reverse: bool, sends: bool, delay_ms: u64) {
        let u = self.users[user as usize];
        let c = usize::from(u.country);
        let ip = self.rng.random::<u32>();
        let network = self.carrier_of(c, u.number);
        if let Some(captcha) = &self.sc.defences.captcha
            && !self.captcha_passes(captcha.pass_legit.0, reverse)
        {
            self.row().captcha_blocked_legit += 1;
            self.count_blocked(network, reverse);
            return;
        }
        if !self.defend(reverse, &self.attempt(c, u.number, ip, u.account), true) {
            self.count_blocked(network, reverse);
            return;
        }
        let world = if reverse { Flow::Reverse } else { Flow::Sms };
        if !self.billing_accepts(world, self.carriers[network].price, true) {
            return;
        }
        let wall_ms = self.wall_ms();
        let otp = if reverse {
            &self.fallback_sms
        } else {
            &self.sms
        };
        let started = otp.start(&Self::sender(u.number), wall_ms, &mut self.rng);
        let key = self.new_key();
        self.record(if started.is_ok() { "sent" } else { "refused" }, || {
            Action::SmsStart {
                world,
                key: Some(key),
                number: u.number,
                country: country_u16(c),
            }
        });
        let Ok(code) = started else {
            return;
        };
        let price = self.carriers[network].price;
        let row = self.row();
        if reverse {
            row.sms_legit_reverse += 1;
            row.usd_reverse_flow += price;
        } else {
            row.sms_legit_smsflow += 1;
            row.usd_sms_flow += price;
        }
        let ks = &mut self.acc.carriers[network];
        if reverse {
            ks.sms_legit_reverse += 1;
        } else {
            ks.sms_legit_smsflow += 1;
        }
        let cs = &mut self.acc.countries[c];
        let u = &mut self.users[user as usize];
        if reverse {
            cs.sms_legit_reverse += 1;
            u.fallback_code = code.code;
            u.fallback_key = key;
            u.fallback_ip = ip;
        } else {
            cs.sms_legit_smsflow += 1;
            u.sms_code = code.code;
            u.sms_key = key;
            u.sms_ip = ip;
        }
        if sends {
            let read_ms = self.after(self.sc.sms.delivery.ms().saturating_add(delay_ms));
            self.hold(user, read_ms, Ev::SmsRead { user, reverse });
        }
    }

    /// A CAPTCHA in front of a send, passed with probability `pass`; the defender pays for
    /// the check in the flow's column.
    pub(super) fn captcha_passes(&mut self, pass: f64, reverse: bool) -> bool {
        let usd = self
            .sc
            .defences
            .captcha
            .as_ref()
            .map_or(0.0, |c| c.usd_per_check.0);
        let row = self.row();
        if reverse {
            row.usd_captcha_reverse_flow += usd;
        } else {
            row.usd_captcha_sms_flow += usd;
        }
        self.rng.random::<f64>() < pass
    }

    /// A request to `network` a defence refused, in the flow's column.
    pub(super) fn count_blocked(&mut self, network: usize, reverse: bool) {
        let ks = &mut self.acc.carriers[network];
        if reverse {
            ks.blocked_reverse += 1;
        } else {
            ks.blocked_smsflow += 1;
        }
    }

    /// A code sent to `network` checked correct, in the flow's column.
    pub(super) fn count_verified(&mut self, network: usize, reverse: bool) {
        let ks = &mut self.acc.carriers[network];
        if reverse {
            ks.verified_reverse += 1;
        } else {
            ks.verified_smsflow += 1;
        }
    }

    pub(super) fn sms_read(&mut self, user: u32, reverse: bool) {
        let u = self.users[user as usize];
        let wall_ms = self.wall_ms();
        let (otp, code) = if reverse {
            (&self.fallback_sms, u.fallback_code)
        } else {
            (&self.sms, u.sms_code)
        };
        let text = otp.format(code);
        let checked = otp.check(&Self::sender(u.number), &text, wall_ms);
        let (world, key) = if reverse {
            (Flow::Reverse, u.fallback_key)
        } else {
            (Flow::Sms, u.sms_key)
        };
        let expect = match checked {
            CheckOutcome::Verified => "verified",
            CheckOutcome::WrongCode { .. } => "wrong_code",
            CheckOutcome::NoChallenge => "no_challenge",
        };
        self.record(expect, || Action::SmsRead {
            world,
            key,
            number: u.number,
        });
        if checked == CheckOutcome::Verified {
            let country = usize::from(u.country);
            self.count_verified(self.carrier_of(country, u.number), reverse);
            let ip = if reverse { u.fallback_ip } else { u.sms_ip };
            let sent = self.attempt(country, u.number, ip, u.account);
            self.defended_verified(reverse, &sent);
            if reverse {
                self.acc.fallback_sms_verified += 1;
            }
            let row = self.row();
            if reverse {
                row.legit_verified_reverse += 1;
            } else {
                row.legit_verified_sms += 1;
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
            close(w.max_legit_rate, 10.0 * 1.5 * 1.2),
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
        w.users[u as usize].refs = 1;
        w.sms_start(u, false, true, 700);
        assert_eq!(w.acc.rows[0].sms_legit_smsflow, 1);
        assert_eq!(w.acc.countries[0].sms_legit_smsflow, 1);
        assert_eq!(
            drain(&mut w),
            [(
                5_700,
                Ev::SmsRead {
                    user: u,
                    reverse: false
                }
            )]
        );
        w.now_ms = 5_700;
        w.sms_read(u, false);
        assert_eq!(
            w.acc.rows[0].legit_verified_sms, 1,
            "the texted code verifies"
        );
    }
}
