//! The simulated provider and the webhook in front of the verifier: a user's message is
//! dropped or accepted, delivered after a log-normal latency and sometimes delivered twice
//! (a retry as if our answer had been lost); each delivery is a body in the emitter's shape,
//! signed and checked by the real signature code, rate-limited per sender and handed to the
//! real verifier (through the dedupe cache when it can come back).

use super::time;
use super::world::{Capture, Ev, TOLERANCE_S, World};
use crate::trace::{self, Action, Answer, Text};
use mo2fa_core::store::Store;
use mo2fa_core::verifier::{InboundMessage, ReceiveOutcome};
use mo2fa_core::webhook::{Inbound, SignatureHeaders};
use rand::Rng;

/// How long the provider waits before retrying a delivery whose answer it lost.
pub(super) const RETRY_AFTER_MS: u64 = 5_000;
/// How many deliveries an eavesdropper keeps.
const MAX_CAPTURES: usize = 4096;

impl World<'_> {
    /// The user sends their code: the provider drops the message, or delivers it once or twice.
    pub(super) fn user_send(&mut self, user: u32, typo: bool) {
        self.webhook.msg_seq += 1;
        let msg = self.webhook.msg_seq;
        let e = &self.sc.emitter;
        if self.rng.random::<f64>() >= e.drop_rate.0 {
            // A message the provider received: an inbound SMS to pay for, or an iMessage
            // contact that counts towards the lines.
            let u = self.pop.users[user as usize];
            if u.inbound_sms {
                self.acc.countries[usize::from(u.country)].inbound_sms_reverse += 1;
            } else {
                self.acc.imessage_contact(self.clock.now_ms);
            }
            let latency_ms = self.latency_ms();
            let deliver_ms = self.after(latency_ms);
            let twice = self.rng.random::<f64>() < e.duplicate_rate.0;
            let ev = Ev::Deliver {
                user,
                msg,
                typo,
                twice,
            };
            self.hold(user, deliver_ms, ev);
            if twice {
                // The provider retries as if our answer had been lost.
                let retry_ms = deliver_ms
                    .saturating_add(RETRY_AFTER_MS)
                    .saturating_add(self.latency_ms());
                self.hold(user, retry_ms, ev);
            }
        } else {
            let u = &mut self.pop.users[user as usize].unverified.reverse;
            if *u == crate::outcome::Unverified::NeverSent {
                *u = crate::outcome::Unverified::NotDelivered;
            }
        }
        self.release(user);
    }

    /// A delivery's body in the scenario's emitter shape.
    pub(super) fn emitted(&self, m: &Inbound<'_>) -> String {
        String::from_utf8(self.sc.emitter.shape.body(m)).unwrap_or_default()
    }

    /// Whether the webhook's real signature check accepts `header` for `body` right now.
    pub(super) fn signature_ok(&self, header: &str, body: &[u8]) -> bool {
        let h = SignatureHeaders {
            blooio_signature: Some(header),
            ..Default::default()
        };
        let now_s = time::unix_s(self.wall_ms());
        self.webhook
            .secret
            .verify(&h, body, now_s, TOLERANCE_S)
            .is_ok()
    }

    /// Per-sender rate limit on inbound messages; true if this message may be processed.
    pub(super) fn sender_allowed(&mut self, number: u64) -> bool {
        let limit = self.sc.defences.reverse.per_sender_per_hour;
        if limit == 0 {
            return true;
        }
        let hour = self.clock.now_ms / time::MS_PER_HOUR;
        if self.webhook.sender_window.0 != hour {
            self.webhook.sender_window = (hour, Default::default());
        }
        let n = self.webhook.sender_window.1.entry(number).or_default();
        *n += 1;
        *n <= limit
    }

    /// One delivery through the real signature check and verifier. `None` if it was refused,
    /// or was a redelivery answered from the dedupe cache (by design, no second effect).
    /// `text_ref` says, for the trace, where `text` came from.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver(
        &mut self,
        number: u64,
        text: &str,
        text_ref: impl FnOnce() -> Text,
        protocol: &'static str,
        msg: u32,
        legit: bool,
        twice: bool,
    ) -> Option<ReceiveOutcome> {
        let id = format!("m{msg}");
        let sender = Self::sender(number).to_string();
        let webhook = || Action::Webhook {
            msg,
            sender: number,
            text: text_ref(),
            protocol,
        };
        if let Some(t) = &mut self.trace {
            t.messages = t.messages.max(msg);
        }
        if self.sc.emitter.sign {
            let body = self.emitted(&Inbound {
                message_id: &id,
                sender: &sender,
                text,
                protocol,
                received_at_ms: self.wall_ms(),
            });
            let header = self
                .webhook
                .secret
                .sign_blooio(time::unix_s(self.wall_ms()), body.as_bytes());
            if !self.signature_ok(&header, body.as_bytes()) {
                self.record(Answer::Rejected, webhook);
                return None;
            }
            if legit && self.webhook.replays {
                self.webhook.captured.push_back(Capture {
                    at_ms: self.clock.now_ms,
                    msg,
                    body,
                    signature: header,
                });
                if self.webhook.captured.len() > MAX_CAPTURES {
                    self.webhook.captured.pop_front();
                }
            }
        }
        let m = InboundMessage {
            sender: &sender,
            text,
            protocol: Some(protocol),
        };
        let now = self.wall_ms();
        // Only a message the provider delivers twice (or any, once someone replays captured
        // deliveries) can come back, so only those need the dedupe cache; the answer for the
        // rest is the same either way, and the cache is the costliest step at a month's scale.
        let (outcome, duplicate) = if twice || self.webhook.replays {
            self.webhook.verifier.receive_once(&id, &m, now)
        } else {
            (self.webhook.verifier.receive(&m, now), false)
        };
        if duplicate {
            self.record(Answer::Duplicate, webhook);
            self.row().duplicate_deliveries += 1;
            return None;
        }
        self.record(Answer::of_receive(&outcome), webhook);
        Some(outcome)
    }

    /// A legit user's message reaches the webhook.
    pub(super) fn on_deliver(&mut self, user: u32, msg: u32, typo: bool, twice: bool) {
        let u = self.pop.users[user as usize];
        let code = self.webhook.spec.format(u.code);
        let (text, text_ref) = if typo {
            (trace::typo(code.as_str()), Text::Typo(u.key))
        } else {
            (code.to_string(), Text::Code(u.key))
        };
        let protocol = if u.inbound_sms { "sms" } else { "imessage" };
        if !self.sender_allowed(u.number) {
            self.release(user);
            return;
        }
        let outcome = self.deliver(u.number, &text, || text_ref, protocol, msg, true, twice);
        if self.trace.is_some()
            && let Some(id) = u.id
        {
            let status = self.webhook.verifier.store().get(&id, self.wall_ms());
            let answer = Answer::of_status(status.map(|v| v.status));
            self.record(answer, || Action::Poll {
                key: u.key,
                after: msg,
            });
        }
        if let Some(ReceiveOutcome::Verified { .. }) = outcome {
            if self.pop.users[user as usize].verified_reverse {
                self.acc.double_verified += 1;
            } else {
                self.verified_in(user, crate::flow::Flow::Reverse);
                self.row().legit_verified_reverse += 1;
            }
        } else {
            let u = &mut self.pop.users[user as usize].unverified.reverse;
            if matches!(
                *u,
                crate::outcome::Unverified::NeverSent | crate::outcome::Unverified::NotDelivered
            ) {
                *u = crate::outcome::Unverified::Other;
            }
        }
        self.release(user);
    }
}

#[cfg(test)]
mod tests {
    use super::super::world::tests::{drain, scenario, world};
    use super::*;

    fn emitter(drop_rate: f64, duplicate_rate: f64) -> crate::scenario::Scenario {
        scenario(&format!(
            "duration = \"1h\"\n[legit]\nrate_per_s = 1.0\np_send = 1.0\nsend_delay_median = \"5s\"\n\
             countries.US = {{ weight = 1.0, imessage = 1.0, fallback = \"inbound_sms\" }}\n\
             [emitter]\nlatency_median = \"300ms\"\ndrop_rate = {drop_rate:?}\n\
             duplicate_rate = {duplicate_rate:?}\n"
        ))
    }

    #[test]
    fn a_dropped_message_is_never_delivered_nor_counted() {
        let sc = emitter(1.0, 0.0);
        let mut w = world(&sc);
        let u = w.new_user(0, 10_000_000_001);
        w.pop.users[u as usize].refs = 1;
        w.user_send(u, false);
        assert!(drain(&mut w).is_empty());
        assert_eq!(
            w.acc.imessage_per_day,
            [0],
            "a dropped message is no contact"
        );
        assert_eq!(w.pop.free_users, [u], "the user is released");
    }

    #[test]
    fn a_duplicated_message_is_delivered_twice_the_retry_later() {
        let sc = emitter(0.0, 1.0);
        let mut w = world(&sc);
        let u = w.new_user(0, 10_000_000_001);
        w.pop.users[u as usize].refs = 1;
        w.user_send(u, false);
        let evs = drain(&mut w);
        let ev = Ev::Deliver {
            user: u,
            msg: 1,
            typo: false,
            twice: true,
        };
        assert_eq!(evs.len(), 2, "{evs:?}");
        assert!(evs.iter().all(|(_, e)| *e == ev));
        assert!(evs[1].0 >= evs[0].0 + RETRY_AFTER_MS, "{evs:?}");
        assert_eq!(
            w.acc.imessage_per_day,
            [1],
            "one contact, however often delivered"
        );
        assert_eq!(
            w.pop.users[u as usize].refs, 2,
            "each delivery holds the user"
        );
    }

    #[test]
    fn the_dedupe_cache_answers_the_second_delivery() {
        let sc = emitter(0.0, 1.0);
        let mut w = world(&sc);
        let req = w.start_request_for(14_155_550_101);
        let started = w
            .webhook
            .verifier
            .start(&req, w.wall_ms(), &mut w.rng)
            .unwrap();
        let text = w.webhook.spec.format(started.code).to_string();
        let text_ref = || Text::Code(0);
        let first = w.deliver(14_155_550_101, &text, text_ref, "imessage", 1, true, true);
        assert!(
            matches!(first, Some(ReceiveOutcome::Verified { .. })),
            "{first:?}"
        );
        let second = w.deliver(14_155_550_101, &text, text_ref, "imessage", 1, true, true);
        assert_eq!(second, None);
        assert_eq!(w.acc.rows[0].duplicate_deliveries, 1);
    }

    #[test]
    fn signatures_hold_for_the_tolerance_only() {
        let sc = emitter(0.0, 0.0);
        let mut w = world(&sc);
        let body = b"{}";
        let header = w
            .webhook
            .secret
            .sign_blooio(time::unix_s(w.wall_ms()), body);
        assert!(w.signature_ok(&header, body));
        w.clock.now_ms += u64::try_from(TOLERANCE_S).unwrap() * 1_000 + 1_000;
        assert!(!w.signature_ok(&header, body), "too old");
        let forged = w
            .webhook
            .forger
            .sign_blooio(time::unix_s(w.wall_ms()), body);
        assert!(!w.signature_ok(&forged, body), "wrong secret");
    }
}
