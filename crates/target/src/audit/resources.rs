//! Resource cases: a body trickled one byte at a time, a body far larger than any delivery,
//! bodies that are not the JSON they claim to be, and a flood of starts against the pending
//! bound. A verifier must end each cleanly (a 4xx, a 408, a 503 with Retry-After), never crash
//! or hold on.

use super::{Case, Ctx, Found, fail, pass, unknown};
use crate::client::{Built, now_secs};
use crate::wire::{Exchange, Outcome, Send};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Bytes in the oversized body: 16 times the largest delivery mo2fa accepts (64 KiB).
const OVERSIZED: usize = 1024 * 1024;
/// The trickle: one byte this often.
const TRICKLE_EVERY: Duration = Duration::from_millis(500);
/// The start flood stops after this long, whatever its count.
const FLOOD_TIME: Duration = Duration::from_secs(60);

const REF_CONN: &str = "THREATS.md §9 (slow clients and connection exhaustion); ARCHITECTURE.md \
                        \"Limits\" (body 64 KiB)";

pub const SLOW_BODY: Case = Case {
    id: "resources.slow_body",
    title: "a body trickled one byte every half second is cut off",
    why: "A server that waits as long as bytes keep coming can be held by a few thousand slow \
          connections that cost the attacker nothing.",
    pass_means: "the target answered (e.g. 408) or closed the connection before the audit's \
                 slow budget (--slow-budget, 15 s by default) ran out",
    reference: REF_CONN,
};
pub const OVERSIZED_BODY: Case = Case {
    id: "resources.oversized_body",
    title: "a correctly signed 1 MiB delivery is refused",
    why: "Provider deliveries are small. Reading, hashing and parsing any size the client \
          offers turns the webhook into a memory and CPU sink.",
    pass_means: "answered 4xx (413) or closed before reading it all",
    reference: REF_CONN,
};
pub const MALFORMED: Case = Case {
    id: "resources.malformed_json",
    title: "signed bodies that are not the expected JSON do not crash the webhook",
    why: "Whatever a signed body holds, the answer must be a clean 4xx or a handled 2xx: a 5xx \
          makes the provider retry the same poison forever, and a crash loses every pending \
          challenge of an in-memory verifier.",
    pass_means: "truncated JSON is answered 4xx; an array and a body of wrongly typed fields \
                 get no 5xx and no dropped connection",
    reference: "ARCHITECTURE.md \"Errors\" (nothing panics on input); docs/provider.md",
};
pub const FLOOD: Case = Case {
    id: "resources.start_flood",
    title: "a flood of starts is served or refused cleanly against the pending bound",
    why: "Filling the store with challenges so real users are refused. The store must be \
          bounded and refuse cleanly (503 or 429 with Retry-After), never fail or hand out a \
          code that is already pending.",
    pass_means: "every start of the flood (--flood, 300 by default) got a distinct code or a \
                 429/503 refusal; none got a 5xx or no answer",
    reference: "THREATS.md §4 (start floods); ARCHITECTURE.md invariants \"Bounded memory\", \
                \"Unique pending codes\"",
};

/// A signed delivery of `body` under a fresh id (it need not be a real message).
fn signed_raw(ctx: &Ctx<'_>, body: Vec<u8>) -> crate::wire::Request {
    let b = Built {
        body,
        headers: Vec::new(),
        id: ctx.t.new_message_id(),
    };
    ctx.t.sign(&b, now_secs())
}

pub(super) async fn slow_body(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let m = t.message(&t.new_sender(), "slow");
    let req = t.delivery(&m, now_secs());
    let budget = ctx.opts.slow_budget;
    let ex = t
        .send(
            &req,
            Send::Trickle {
                every: TRICKLE_EVERY,
                budget,
            },
        )
        .await;
    ev.push(ex.clone());
    let after = format!("after {:.1} s", ex.elapsed_ms as f64 / 1000.0);
    match &ex.result {
        Outcome::TimedOut => fail(format!(
            "still reading after {} s of one byte per {} ms",
            budget.as_secs(),
            TRICKLE_EVERY.as_millis()
        )),
        Outcome::Answered(a) => pass(format!("answered {} {after}", a.status)),
        Outcome::Closed { .. } => pass(format!("closed the connection {after}")),
        other => unknown(format!("the connection failed: {}", other.describe())),
    }
}

pub(super) async fn oversized(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let mut text = "x".repeat(OVERSIZED);
    text.push_str(" ABC234");
    let m = t.message(&t.new_sender(), &text);
    let ex = t.send(&t.delivery(&m, now_secs()), Send::Normal).await;
    ev.push(ex.clone());
    match &ex.result {
        Outcome::Answered(a) if a.is_client_error() => pass(format!("refused {}", a.status)),
        Outcome::Closed { body_sent: false } => pass("closed before the body was all sent"),
        Outcome::Answered(a) if a.is_success() => fail(format!(
            "accepted a {} KiB delivery ({})",
            ex.body_bytes / 1024,
            a.status
        )),
        _ => fail(format!("answered {}", ex.outcome)),
    }
}

pub(super) async fn malformed(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let genuine = t.build(
        t.profile.webhook.shape,
        &t.message(&t.new_sender(), "ABC234"),
    );
    let half = genuine.body[..genuine.body.len() / 2].to_vec();
    let typed = br#"{"event":"message.received","message_id":5,"external_id":7,"sender":7,"text":7,"protocol":"imessage"}"#;
    let bodies: [(&str, Vec<u8>, bool); 3] = [
        ("truncated JSON", half, true),
        ("a JSON array", b"[1,2,3]".to_vec(), false),
        ("wrongly typed fields", typed.to_vec(), false),
    ];
    let mut notes = Vec::new();
    let mut bad = Vec::new();
    for (name, body, must_refuse) in bodies {
        let ex = t.send(&signed_raw(ctx, body), Send::Normal).await;
        let status = ex.answer().map(|a| a.status);
        let line = format!("{name}: {}", ex.outcome);
        match status {
            Some(400..=499) => notes.push(line),
            Some(200..=299) if !must_refuse => notes.push(line),
            _ => bad.push(line),
        }
        ev.push(ex);
    }
    if bad.is_empty() {
        pass(notes.join("; "))
    } else {
        fail(bad.join("; "))
    }
}

pub(super) async fn flood(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let began = Instant::now();
    let mut codes = HashSet::new();
    let (mut served, mut refused, mut no_retry_after) = (0usize, 0usize, 0usize);
    let mut first_refusal = None;
    let mut broken = Vec::new();
    let mut duplicates = Vec::new();
    let mut scratch = Vec::new();
    for i in 0..ctx.opts.flood {
        if began.elapsed() > FLOOD_TIME {
            break;
        }
        scratch.clear();
        let got = t.start(&mut scratch, None).await;
        let Some(ex) = scratch.first().cloned() else {
            continue;
        };
        match (&got, ex.answer()) {
            (Ok(s), _) => {
                served += 1;
                if !codes.insert(s.code.clone()) {
                    duplicates.push(s.code.clone());
                }
            }
            (Err(_), Some(a)) if a.status == 429 || a.status == 503 => {
                refused += 1;
                first_refusal.get_or_insert(i + 1);
                if a.header("retry-after").is_none() {
                    no_retry_after += 1;
                }
            }
            (Err(e), _) => broken.push(e.0.clone()),
        }
        if i < 2 || (got.is_err() && ev.len() < 10) {
            ev.push(ex);
        }
    }
    let sent = served + refused + broken.len();
    let bound = match first_refusal {
        Some(n) => format!("refusals began at start {n}"),
        None => format!(
            "no refusal within {sent} starts: any pending bound is above that (this case does not \
             show one exists)"
        ),
    };
    let measured = format!(
        "{sent} starts in {:.1} s: {served} served, {refused} refused ({no_retry_after} without \
         Retry-After); {bound}",
        began.elapsed().as_secs_f64()
    );
    if !broken.is_empty() {
        fail(format!(
            "{} starts failed ({}); {measured}",
            broken.len(),
            broken[0]
        ))
    } else if !duplicates.is_empty() {
        fail(format!(
            "codes handed out twice while pending: {:?}; {measured}",
            &duplicates[..duplicates.len().min(5)]
        ))
    } else if sent == 0 {
        unknown("no start was sent")
    } else {
        pass(measured)
    }
}
