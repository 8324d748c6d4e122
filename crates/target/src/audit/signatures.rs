//! Signature cases: a genuine delivery first (without it a refusal proves nothing), then
//! deliveries a verifier must refuse: unsigned, forged, stale, future-dated, signed over
//! another body, and signatures split over duplicate or differently spelled headers.

use super::{Case, Ctx, Found, fail, pass, started, unknown};
use crate::client::{Seen, Started, Target, now_secs};
use crate::wire::{Exchange, Outcome, Request, Send};
use mo2fa_core::webhook::Secret;

/// Blooio: "Reject webhooks older than 5 minutes"; Standard Webhooks: a tolerance of minutes.
/// Twice that is outside any sensible tolerance.
const SKEW_SECS: i64 = 600;

const REF: &str = "Blooio, \"Verify webhook signatures\" (docs.blooio.com/guides/webhook-signatures); \
                   Standard Webhooks 1.0, \"Verifying webhook authenticity\"; THREATS.md §3";

pub const GENUINE: Case = Case {
    id: "signatures.genuine",
    title: "a genuine delivery verifies",
    why: "The control for every other case: if the audit's own correctly signed delivery is not \
          accepted, a refused forgery proves nothing (wrong secret, wrong shape, wrong path).",
    pass_means: "answered 2xx and the challenge was seen verified",
    reference: REF,
};
pub const UNSIGNED: Case = Case {
    id: "signatures.unsigned",
    title: "an unsigned delivery is refused",
    why: "Anyone can POST to a webhook URL. Without a signature check, anyone who can guess or \
          read a pending code verifies it from any sender.",
    pass_means: "refused with 4xx (or accepted without effect), and a genuine delivery still \
                 verifies the challenge afterwards",
    reference: REF,
};
pub const FORGED: Case = Case {
    id: "signatures.forged",
    title: "a delivery signed with the wrong secret is refused",
    why: "A check that only looks for the header's presence or format accepts any signature.",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};
pub const STALE: Case = Case {
    id: "signatures.stale_timestamp",
    title: "a correctly signed delivery 10 minutes old is refused",
    why: "A captured genuine delivery can be replayed later unless the signed timestamp is \
          checked against a tolerance (Blooio: 5 minutes).",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};
pub const FUTURE: Case = Case {
    id: "signatures.future_timestamp",
    title: "a correctly signed delivery dated 10 minutes ahead is refused",
    why: "A check of age alone (now - t > tolerance) lets a future-dated signature live for as \
          long as it is in the future; the tolerance must hold in both directions.",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};
pub const OTHER_BODY: Case = Case {
    id: "signatures.other_body",
    title: "a signature made over a different body is refused",
    why: "The signature must cover the raw body as received; a verifier that signs a re-encoded \
          copy, or checks a signature without the body, lets a captured signature carry any text.",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};
pub const DUPLICATE_HEADER: Case = Case {
    id: "signatures.duplicate_header",
    title: "two signature headers: a fresh forged one and a stale genuine one",
    why: "Frameworks join repeated headers or keep the first or the last. A verifier that takes \
          the timestamp from one and the MAC from the other accepts a replay outside the window.",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};
pub const HEADER_CASE: Case = Case {
    id: "signatures.header_case",
    title: "signature headers differing only in case or in name",
    why: "Header names are case-insensitive, and Blooio's deliveries and clients use both \
          X-Blooio-Signature and Blooio-Signature. A verifier that looks headers up by exact \
          spelling, or reads one name for the time and another for the MAC, can be split.",
    pass_means: UNSIGNED.pass_means,
    reference: REF,
};

pub(super) async fn genuine(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    let s = started!(ctx.start(ev).await);
    let m = t.message(&s.sender, &s.code);
    let (ex, seen) = t.deliver_and_see(ev, &s, &m).await;
    let accepted = ex.answer().is_some_and(|a| a.is_success());
    ctx.genuine_accepted = accepted;
    match (accepted, seen) {
        (true, Seen::Verified) => pass("accepted and verified"),
        (true, Seen::Unseen) => unknown(
            "accepted (2xx), but whether it verified the challenge cannot be seen with this profile",
        ),
        (true, Seen::Not(why)) => fail(format!(
            "accepted, but the challenge is not verified: {why}"
        )),
        (false, _) => fail(format!(
            "a genuine delivery was answered {}: check --secret-env (the target's secret), the \
             profile's webhook.signature and webhook.shape",
            ex.outcome
        )),
    }
}

/// One of the refusal cases, by id.
pub(super) async fn attack(ctx: &mut Ctx<'_>, id: &str, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    if t.scheme().core().is_none() {
        return unknown("the profile says deliveries are unsigned (webhook.signature = \"none\")");
    }
    if t.secret().is_none() {
        return unknown("no webhook secret");
    }
    if !ctx.genuine_accepted {
        return unknown(
            "a genuine delivery was not accepted (signatures.genuine), so a refusal here would \
             prove nothing",
        );
    }
    let s = started!(ctx.start(ev).await);
    let attacks = match requests(t, id, &s) {
        Ok(a) => a,
        Err(f) => return f,
    };
    let mut notes = Vec::new();
    for req in &attacks {
        let ex = t.send(req, Send::Normal).await;
        ev.push(ex.clone());
        match &ex.result {
            Outcome::Answered(a) if a.is_client_error() => {
                notes.push(format!("refused {}", a.status))
            }
            Outcome::Answered(a) if a.is_success() => match t.verified_after(ev, &s, &ex).await {
                Seen::Verified => {
                    return fail(format!(
                        "accepted ({}) and the challenge was verified by it",
                        a.status
                    ));
                }
                Seen::Unseen => {
                    return fail(format!(
                        "accepted with {} (a refusing verifier answers 4xx); whether it used \
                             the code cannot be seen with this profile",
                        a.status
                    ));
                }
                Seen::Not(why) => {
                    notes.push(format!("accepted {} without effect ({why})", a.status))
                }
            },
            _ => return fail(format!("answered {} instead of refusing", ex.outcome)),
        }
    }
    // The control: the challenge must still be there for the genuine delivery.
    let (ex, seen) = t
        .deliver_and_see(ev, &s, &t.message(&s.sender, &s.code))
        .await;
    match seen {
        Seen::Verified | Seen::Unseen if ex.answer().is_some_and(|a| a.is_success()) => {
            pass(format!(
                "{}; the genuine delivery afterwards was accepted",
                notes.join(", ")
            ))
        }
        Seen::Not(why) => fail(format!(
            "{}; but the genuine delivery afterwards did not verify: {why}",
            notes.join(", ")
        )),
        _ => fail(format!(
            "{}; but the genuine delivery afterwards was answered {}",
            notes.join(", "),
            ex.outcome
        )),
    }
}

/// The attack requests of case `id` on the challenge `s`.
fn requests(t: &Target, id: &str, s: &Started) -> Result<Vec<Request>, Found> {
    let (Some(scheme), Some(secret)) = (t.scheme().core(), t.secret()) else {
        return Err(unknown("the deliveries are not signed"));
    };
    let m = t.message(&s.sender, &s.code);
    let b = t.build(t.profile.webhook.shape, &m);
    let now = now_secs();
    let stale = now - SKEW_SECS;
    let zeros = "0".repeat(64);
    let plain = |extra: Vec<(String, String)>| {
        let mut h = b.headers.clone();
        h.extend(extra);
        t.webhook_request(b.body.clone(), h)
    };
    let h = |k: &str, v: String| (k.to_string(), v);
    let standard = scheme == mo2fa_core::webhook::Scheme::Standard;
    Ok(match id {
        "signatures.unsigned" => vec![plain(Vec::new())],
        "signatures.forged" => match Secret::new(scheme, "audit-forger-not-the-target-secret") {
            Ok(forger) => vec![t.sign_with(&forger, &b, now)],
            Err(e) => return Err(unknown(format!("cannot make a forger's key: {e}"))),
        },
        "signatures.stale_timestamp" => vec![t.sign(&b, stale)],
        "signatures.future_timestamp" => vec![t.sign(&b, now + SKEW_SECS)],
        "signatures.other_body" => {
            let other = t.build(t.profile.webhook.shape, &t.message(&s.sender, "hello"));
            let sig = secret.signature_headers(&b.id, now, &other.body);
            vec![plain(sig.into_iter().map(|(k, v)| h(k, v)).collect())]
        }
        "signatures.duplicate_header" if standard => vec![plain(vec![
            h("webhook-id", b.id.clone()),
            h("webhook-timestamp", now.to_string()),
            h("webhook-timestamp", stale.to_string()),
            h(
                "webhook-signature",
                secret.sign_standard(&b.id, stale, &b.body),
            ),
        ])],
        "signatures.duplicate_header" => vec![
            plain(vec![
                h("X-Blooio-Signature", format!("t={now},v1={zeros}")),
                h("X-Blooio-Signature", secret.sign_blooio(stale, &b.body)),
            ]),
            plain(vec![
                h("X-Blooio-Signature", secret.sign_blooio(stale, &b.body)),
                h("X-Blooio-Signature", format!("t={now},v1={zeros}")),
            ]),
        ],
        "signatures.header_case" if standard => vec![plain(vec![
            h("webhook-id", b.id.clone()),
            h("webhook-timestamp", stale.to_string()),
            h("Webhook-Timestamp", now.to_string()),
            h(
                "WEBHOOK-SIGNATURE",
                secret.sign_standard(&b.id, stale, &b.body),
            ),
        ])],
        "signatures.header_case" => vec![
            plain(vec![
                h("x-blooio-signature", secret.sign_blooio(stale, &b.body)),
                h("X-BLOOIO-SIGNATURE", format!("t={now},v1={zeros}")),
            ]),
            plain(vec![
                h("X-Blooio-Signature", format!("t={now},v1={zeros}")),
                h("Blooio-Signature", secret.sign_blooio(stale, &b.body)),
            ]),
        ],
        other => return Err(unknown(format!("no such case {other}"))),
    })
}
