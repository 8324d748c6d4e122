//! Sender cases: a challenge bound to one sender must not be verified by another, and the
//! sender must be read from where Blooio's documented v2 event puts it (`external_id`).

use super::{Case, Ctx, Found, fail, pass, started, unknown};
use crate::client::{Seen, now_secs};
use crate::wire::{Exchange, Send};
use mo2fa_core::webhook::PayloadShape;

pub const BINDING: Case = Case {
    id: "sender.binding",
    title: "a code sent from the wrong phone does not verify a bound challenge",
    why: "Binding a challenge to the user's number (expected sender) is the defence that holds \
          whatever the guessing rate: a hit from another account is a mismatch, not a login.",
    pass_means: "the delivery from another sender was not seen verified",
    reference: "THREATS.md §1 (expected-sender binding); docs/provider.md (sender field)",
};
pub const EXTERNAL_ID: Case = Case {
    id: "sender.external_id",
    title: "the sender is read from external_id, where Blooio's v2 event puts it",
    why: "Blooio's documented message.received event names the other party in external_id; the \
          older demo and client shape used sender. A verifier reading `sender` sees nobody in \
          a real delivery: binding can never match, or the recorded sender is empty.",
    pass_means: "a v2 delivery (external_id only) from the bound sender verifies, and the status \
                 names that sender where it reports one",
    reference: "Blooio, \"Webhook events\" (docs.blooio.com/api-reference/webhooks/events); \
                docs/provider.md shape 1",
};

pub(super) async fn binding(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    if !t.profile.binds_sender() {
        return unknown(
            "the profile's start body has no {sender}: a challenge cannot be bound to a sender",
        );
    }
    if !t.profile.observes_verification() {
        return unknown("neither a status route nor the webhook's answer says what a delivery did");
    }
    let s = started!(ctx.start(ev).await);
    let intruder = t.new_sender();
    let (ex, seen) = t
        .deliver_and_see(ev, &s, &t.message(&intruder, &s.code))
        .await;
    match seen {
        Seen::Verified => fail(format!(
            "{intruder} verified a challenge bound to {} (answered {})",
            s.sender, ex.outcome
        )),
        Seen::Unseen => unknown("what the wrong sender's delivery did cannot be seen"),
        Seen::Not(why) => {
            let (_, own) = t
                .deliver_and_see(ev, &s, &t.message(&s.sender, &s.code))
                .await;
            pass(format!(
                "the wrong sender was not verified ({why}); the bound sender afterwards: {}",
                own
            ))
        }
    }
}

pub(super) async fn external_id(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let reads_sender = t
        .profile
        .status
        .as_ref()
        .is_some_and(|s| s.sender.is_some());
    if !(t.profile.binds_sender() || reads_sender) {
        return unknown(
            "the profile neither binds a sender nor reads the recorded one back (status.sender), \
             so which field the target read cannot be seen",
        );
    }
    if !t.profile.observes_verification() {
        return unknown("neither a status route nor the webhook's answer says what a delivery did");
    }
    let s = started!(ctx.start(ev).await);
    let m = t.message(&s.sender, &s.code);
    let ex = t
        .send(
            &t.delivery_in(PayloadShape::V2, &m, now_secs()),
            Send::Normal,
        )
        .await;
    ev.push(ex.clone());
    let (seen, recorded) = if t.profile.status.is_some() {
        t.status_and_sender(ev, &s).await
    } else {
        (t.answer_says(&ex), None)
    };
    match (seen, recorded) {
        (Seen::Verified, Some(r)) if r != s.sender => fail(format!(
            "verified, but the status names sender {r:?} instead of {:?} (external_id)",
            s.sender
        )),
        (Seen::Verified, Some(r)) => pass(format!("verified; the status names {r:?}")),
        (Seen::Verified, None) if reads_sender => {
            fail("verified, but the status names no sender: external_id was not read")
        }
        (Seen::Verified, None) => pass("the bound challenge verified from external_id"),
        (Seen::Not(why), _) => fail(format!(
            "a v2 delivery from the bound sender {} (in external_id) did not verify: {why}",
            s.sender
        )),
        (Seen::Unseen, _) => unknown("what the delivery did cannot be seen"),
    }
}
