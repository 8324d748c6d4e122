//! Delivery cases: the provider delivers at least once, so the same delivery arrives twice,
//! races another for the same code, is retried after a timeout, and is replayed with headers
//! that are not signed. A verifier must handle each delivery once and give every repeat the
//! first answer.

use super::{Case, Ctx, Found, fail, pass, started, unknown};
use crate::client::{Seen, now_secs};
use crate::wire::{Exchange, Send};
use std::time::Duration;

/// Racing pairs sent (each on its own challenge).
pub(super) const RACE_PAIRS: usize = 4;
/// How long the "provider" waits before giving up on the first attempt.
const PROVIDER_TIMEOUT: Duration = Duration::from_millis(300);

const REF: &str = "Standard Webhooks 1.0 (\"webhook-id … used for idempotency\"; deliveries are \
                   at least once); Blooio \"Webhook events\" (X-Blooio-Replay, \
                   X-Original-Event-Id); THREATS.md §3; ARCHITECTURE.md invariants \"One-shot \
                   challenges\", \"Only signed values choose a dedupe key\"";

pub const TWICE: Case = Case {
    id: "delivery.twice",
    title: "the same delivery twice gets the same answer",
    why: "Providers retry. A verifier without deduplication handles the repeat again: it \
          answers \"no match\" for a code it just verified, or counts a wrong-sender attempt \
          twice and locks the user out.",
    pass_means: "both answers say verified",
    reference: REF,
};
pub const RACE: Case = Case {
    id: "delivery.race",
    title: "two deliveries racing for one code verify it at most once",
    why: "Two messages with the same code (the user sends twice, or an attacker races the \
          user) arrive together. A check-then-set without atomicity verifies both, each for \
          its own sender.",
    pass_means: "for each of 4 pairs sent at once, exactly one answer says verified",
    reference: REF,
};
pub const RETRY: Case = Case {
    id: "delivery.retry_after_timeout",
    title: "a retry after the provider timed out gets the first answer",
    why: "The provider gave up waiting after the verifier had already used the code. The retry \
          must be told \"verified\", not \"no match\", or the app reports a failed login that \
          in fact succeeded.",
    pass_means: "the retry is answered verified (or accepted, with the challenge verified, when \
                 the answer says nothing)",
    reference: REF,
};
pub const REPLAY: Case = Case {
    id: "delivery.replay_headers",
    title: "a replay naming an unknown original is answered from the record",
    why: "X-Blooio-Replay and X-Original-Event-Id are not signed. A verifier that deduplicates \
          by them can be made to handle a captured delivery again by naming a made-up original.",
    pass_means: "the replay, naming an original never seen, still gets the first answer \
                 (verified)",
    reference: REF,
};

fn needs_answer(ctx: &Ctx<'_>) -> Option<Found> {
    ctx.t.profile.webhook.answer.is_none().then(|| {
        unknown(
            "the webhook's answer says nothing (no webhook.answer_pointer), so a repeat's \
             handling cannot be told from the first's",
        )
    })
}

pub(super) async fn twice(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_answer(ctx) {
        return f;
    }
    let t = ctx.t;
    let s = started!(ctx.start(ev).await);
    let req = t.delivery(&t.message(&s.sender, &s.code), now_secs());
    let first = t.send(&req, Send::Normal).await;
    let second = t.send(&req, Send::Normal).await;
    ev.push(first.clone());
    ev.push(second.clone());
    match (t.answer_says(&first), t.answer_says(&second)) {
        (Seen::Verified, Seen::Verified) => pass("both answered verified"),
        (Seen::Verified, other) => fail(format!(
            "the first answer said verified; the identical second one was handled again: {other}"
        )),
        (other, _) => fail(format!("the first delivery did not verify: {other}")),
    }
}

pub(super) async fn race(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_answer(ctx) {
        return f;
    }
    let t = ctx.t;
    let mut verified_per_pair = Vec::new();
    for _ in 0..RACE_PAIRS {
        let s = started!(ctx.start(ev).await);
        let now = now_secs();
        let a = t.delivery(&t.message(&s.sender, &s.code), now);
        let b = t.delivery(&t.message(&s.sender, &s.code), now);
        let (x, y) = tokio::join!(t.send(&a, Send::Normal), t.send(&b, Send::Normal));
        let n = [&x, &y]
            .iter()
            .filter(|e| t.answer_says(e).verified())
            .count();
        ev.push(x);
        ev.push(y);
        verified_per_pair.push(n);
    }
    let shown = format!("verified answers per pair: {verified_per_pair:?}");
    if verified_per_pair.iter().any(|n| *n > 1) {
        fail(format!("a code was verified twice: {shown}"))
    } else if verified_per_pair.contains(&0) {
        fail(format!("a pair verified nothing: {shown}"))
    } else {
        pass(shown)
    }
}

pub(super) async fn retry(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    if !t.profile.observes_verification() {
        return unknown("neither a status route nor the webhook's answer says what a delivery did");
    }
    let s = started!(ctx.start(ev).await);
    let b = t.build(t.profile.webhook.shape, &t.message(&s.sender, &s.code));
    let first = t
        .send(&t.sign(&b, now_secs()), Send::Abandon(PROVIDER_TIMEOUT))
        .await;
    ev.push(first);
    // The provider's retry: the same body, signed again when it is sent.
    let again = t.send(&t.sign(&b, now_secs()), Send::Normal).await;
    ev.push(again.clone());
    let accepted = again.answer().is_some_and(|a| a.is_success());
    match t.answer_says(&again) {
        Seen::Verified => pass("the retry was answered verified"),
        Seen::Not(why) => fail(format!("the retry was answered {why}, not verified")),
        Seen::Unseen => match t.status(ev, &s).await {
            Seen::Verified if accepted => pass(
                "the retry was accepted and the challenge is verified (the answer says nothing)",
            ),
            other => fail(format!(
                "the retry was answered {}; status afterwards: {other}",
                again.outcome
            )),
        },
    }
}

pub(super) async fn replay(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_answer(ctx) {
        return f;
    }
    let t = ctx.t;
    let s = started!(ctx.start(ev).await);
    let b = t.build(t.profile.webhook.shape, &t.message(&s.sender, &s.code));
    let first = t.send(&t.sign(&b, now_secs()), Send::Normal).await;
    ev.push(first.clone());
    let replay = t
        .sign(&b, now_secs())
        .header("X-Blooio-Replay", "true")
        .header("X-Original-Event-Id", format!("evt_{}", t.new_message_id()));
    let second = t.send(&replay, Send::Normal).await;
    ev.push(second.clone());
    match (t.answer_says(&first), t.answer_says(&second)) {
        (Seen::Verified, Seen::Verified) => pass("the replay got the first answer (verified)"),
        (Seen::Verified, other) => fail(format!(
            "the replay naming an unknown original was handled again: {other}"
        )),
        (other, _) => fail(format!("the first delivery did not verify: {other}")),
    }
}
