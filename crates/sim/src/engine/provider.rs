//! The simulated provider and the webhook in front of the verifier: a user's message is
//! dropped or accepted, delivered after a log-normal latency and sometimes delivered twice
//! (a retry as if our answer had been lost); each delivery is a body in the emitter's shape,
//! signed and checked by the real signature code, rate-limited per sender and handed to the
//! real verifier (through the dedupe cache when it can come back).

use super::time;
use super::world::{Capture, Ev, Population, Run, TOLERANCE_S, Webhook, sender};
use crate::flow::Flow;
use crate::outcome::Unverified;
use crate::scenario::Scenario;
use crate::trace::{self, Action, Answer, Text};
use mo2fa_core::store::Store;
use mo2fa_core::verifier::{InboundMessage, ReceiveOutcome};
use mo2fa_core::webhook::{Inbound, SignatureHeaders};
use rand::Rng;

/// How long the provider waits before retrying a delivery whose answer it lost.
pub(super) const RETRY_AFTER_MS: u64 = 5_000;
/// How many deliveries an eavesdropper keeps.
const MAX_CAPTURES: usize = 4096;

/// The user sends their code: the provider drops the message, or delivers it once or twice.
pub(super) fn user_send(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    user: u32,
    typo: bool,
) {
    webhook.msg_seq += 1;
    let msg = webhook.msg_seq;
    let e = &run.sc.emitter;
    if run.rng.random::<f64>() >= e.drop_rate.0 {
        // A message the provider received: an inbound SMS to pay for, or an iMessage
        // contact that counts towards the lines.
        let u = pop.users[user as usize];
        if u.inbound_sms {
            run.acc.countries[usize::from(u.country)].inbound_sms_reverse += 1;
        } else {
            run.acc.imessage_contact(run.clock.now_ms);
        }
        let latency_ms = webhook.latency_ms(&mut run.rng);
        let deliver_ms = run.after(latency_ms);
        let twice = run.rng.random::<f64>() < e.duplicate_rate.0;
        let ev = Ev::Deliver {
            user,
            msg,
            typo,
            twice,
        };
        pop.hold(run, user, deliver_ms, ev);
        if twice {
            // The provider retries as if our answer had been lost.
            let retry_ms = deliver_ms
                .saturating_add(RETRY_AFTER_MS)
                .saturating_add(webhook.latency_ms(&mut run.rng));
            pop.hold(run, user, retry_ms, ev);
        }
    } else {
        let u = &mut pop.users[user as usize].flows.reverse.unverified;
        if *u == Unverified::NeverSent {
            *u = Unverified::NotDelivered;
        }
    }
    pop.release(run, user);
}

/// A delivery's body in the scenario's emitter shape.
pub(super) fn emitted(sc: &Scenario, m: &Inbound<'_>) -> String {
    String::from_utf8(sc.emitter.shape.body(m)).unwrap_or_default()
}

impl Webhook {
    /// Whether the webhook's real signature check accepts `header` for `body` at `wall_ms`.
    pub(super) fn signature_ok(&self, wall_ms: u64, header: &str, body: &[u8]) -> bool {
        let h = SignatureHeaders {
            blooio_signature: Some(header),
            ..Default::default()
        };
        let now_s = time::unix_s(wall_ms);
        self.secret.verify(&h, body, now_s, TOLERANCE_S).is_ok()
    }

    /// Per-sender rate limit on inbound messages (`limit` per hour, 0: none) at `now_ms`;
    /// true if this message may be processed.
    pub(super) fn sender_allowed(&mut self, limit: u32, now_ms: u64, number: u64) -> bool {
        if limit == 0 {
            return true;
        }
        let hour = now_ms / time::MS_PER_HOUR;
        if self.sender_window.0 != hour {
            self.sender_window = (hour, Default::default());
        }
        let n = self.sender_window.1.entry(number).or_default();
        *n += 1;
        *n <= limit
    }
}

/// One message the provider delivers to the webhook: from `number`, its `text` (and, for the
/// trace, where the text came from), its protocol and message number; `legit`: a legit
/// user's (an eavesdropper may capture it); `twice`: the provider delivers it twice.
pub(super) struct Delivery<'t, F: FnOnce() -> Text> {
    pub number: u64,
    pub text: &'t str,
    pub text_ref: F,
    pub protocol: &'static str,
    pub msg: u32,
    pub legit: bool,
    pub twice: bool,
}

/// One delivery through the real signature check and verifier. `None` if it was refused,
/// or was a redelivery answered from the dedupe cache (by design, no second effect).
pub(super) fn deliver<F: FnOnce() -> Text>(
    run: &mut Run<'_>,
    webhook: &mut Webhook,
    d: Delivery<'_, F>,
) -> Option<ReceiveOutcome> {
    let Delivery {
        number,
        text,
        text_ref,
        protocol,
        msg,
        legit,
        twice,
    } = d;
    let id = format!("m{msg}");
    let sender = sender(number).to_string();
    let action = || Action::Webhook {
        msg,
        sender: number,
        text: text_ref(),
        protocol,
    };
    if let Some(t) = &mut run.trace {
        t.messages = t.messages.max(msg);
    }
    if run.sc.emitter.sign {
        let body = emitted(
            run.sc,
            &Inbound {
                message_id: &id,
                sender: &sender,
                text,
                protocol,
                received_at_ms: run.wall_ms(),
            },
        );
        let header = webhook
            .secret
            .sign_blooio(time::unix_s(run.wall_ms()), body.as_bytes());
        if !webhook.signature_ok(run.wall_ms(), &header, body.as_bytes()) {
            run.record(Answer::Rejected, action);
            return None;
        }
        if legit && webhook.replays {
            webhook.captured.push_back(Capture {
                at_ms: run.clock.now_ms,
                msg,
                body,
                signature: header,
            });
            if webhook.captured.len() > MAX_CAPTURES {
                webhook.captured.pop_front();
            }
        }
    }
    let m = InboundMessage {
        sender: &sender,
        text,
        protocol: Some(protocol),
    };
    let now = run.wall_ms();
    // Only a message the provider delivers twice (or any, once someone replays captured
    // deliveries) can come back, so only those need the dedupe cache; the answer for the
    // rest is the same either way, and the cache is the costliest step at a month's scale.
    let (outcome, duplicate) = if twice || webhook.replays {
        webhook.verifier.receive_once(&id, &m, now)
    } else {
        (webhook.verifier.receive(&m, now), false)
    };
    if duplicate {
        run.record(Answer::Duplicate, action);
        run.row().webhook.duplicate_deliveries += 1;
        return None;
    }
    run.record(Answer::of_receive(&outcome), action);
    Some(outcome)
}

/// A legit user's message reaches the webhook.
pub(super) fn on_deliver(
    run: &mut Run<'_>,
    pop: &mut Population,
    webhook: &mut Webhook,
    user: u32,
    msg: u32,
    (typo, twice): (bool, bool),
) {
    let u = pop.users[user as usize];
    let code = webhook.spec.format(u.code);
    let (text, text_ref) = if typo {
        (trace::typo(code.as_str()), Text::Typo(u.key))
    } else {
        (code.to_string(), Text::Code(u.key))
    };
    let protocol = if u.inbound_sms { "sms" } else { "imessage" };
    let limit = run.sc.defences.reverse.per_sender_per_hour;
    if !webhook.sender_allowed(limit, run.clock.now_ms, u.number) {
        pop.release(run, user);
        return;
    }
    let outcome = deliver(
        run,
        webhook,
        Delivery {
            number: u.number,
            text: &text,
            text_ref: || text_ref,
            protocol,
            msg,
            legit: true,
            twice,
        },
    );
    if run.trace.is_some()
        && let Some(id) = u.id
    {
        let status = webhook.verifier.store().get(&id, run.wall_ms());
        let answer = Answer::of_status(status.map(|v| v.status));
        run.record(answer, || Action::Poll {
            key: u.key,
            after: msg,
        });
    }
    let u = &mut pop.users[user as usize];
    if let Some(ReceiveOutcome::Verified { .. }) = outcome {
        if u.flows.reverse.verified {
            run.acc.users.double_verified += 1;
        } else {
            run.verified_in(u, Flow::Reverse);
            run.row().legit.legit_verified_reverse += 1;
        }
    } else if matches!(
        u.flows.reverse.unverified,
        Unverified::NeverSent | Unverified::NotDelivered
    ) {
        u.flows.reverse.unverified = Unverified::Other;
    }
    pop.release(run, user);
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
        let u = w.pop.new_user(0, 10_000_000_001);
        w.pop.users[u as usize].refs = 1;
        user_send(&mut w.run, &mut w.pop, &mut w.webhook, u, false);
        assert!(drain(&mut w).is_empty());
        assert_eq!(
            w.run.acc.users.imessage_per_day,
            [0],
            "a dropped message is no contact"
        );
        assert_eq!(w.pop.free_users, [u], "the user is released");
    }

    #[test]
    fn a_duplicated_message_is_delivered_twice_the_retry_later() {
        let sc = emitter(0.0, 1.0);
        let mut w = world(&sc);
        let u = w.pop.new_user(0, 10_000_000_001);
        w.pop.users[u as usize].refs = 1;
        user_send(&mut w.run, &mut w.pop, &mut w.webhook, u, false);
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
            w.run.acc.users.imessage_per_day,
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
        let req = w.run.start_request_for(14_155_550_101);
        let started = w
            .webhook
            .verifier
            .start(&req, w.run.wall_ms(), &mut w.run.rng)
            .unwrap();
        let text = w.webhook.spec.format(started.code).to_string();
        let text_ref = || Text::Code(0);
        let delivery = || Delivery {
            number: 14_155_550_101,
            text: &text,
            text_ref,
            protocol: "imessage",
            msg: 1,
            legit: true,
            twice: true,
        };
        let first = deliver(&mut w.run, &mut w.webhook, delivery());
        assert!(
            matches!(first, Some(ReceiveOutcome::Verified { .. })),
            "{first:?}"
        );
        let second = deliver(&mut w.run, &mut w.webhook, delivery());
        assert_eq!(second, None);
        assert_eq!(w.run.acc.rows[0].webhook.duplicate_deliveries, 1);
    }

    #[test]
    fn signatures_hold_for_the_tolerance_only() {
        let sc = emitter(0.0, 0.0);
        let mut w = world(&sc);
        let body = b"{}";
        let header = w
            .webhook
            .secret
            .sign_blooio(time::unix_s(w.run.wall_ms()), body);
        assert!(w.webhook.signature_ok(w.run.wall_ms(), &header, body));
        w.run.clock.now_ms += u64::try_from(TOLERANCE_S).unwrap() * 1_000 + 1_000;
        assert!(
            !w.webhook.signature_ok(w.run.wall_ms(), &header, body),
            "too old"
        );
        let forged = w
            .webhook
            .forger
            .sign_blooio(time::unix_s(w.run.wall_ms()), body);
        assert!(
            !w.webhook.signature_ok(w.run.wall_ms(), &forged, body),
            "wrong secret"
        );
    }
}
