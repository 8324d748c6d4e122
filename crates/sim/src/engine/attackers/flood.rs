//! Start floods: each client asks for challenges up to the per-client pending cap.

use super::super::world::{Run, Webhook};
use super::AttackerRt;
use mo2fa_core::verifier::StartRequest;
use rand::Rng;

/// One flood request of attacker `a` from one of its clients.
pub(super) fn flood(run: &mut Run<'_>, webhook: &mut Webhook, rt: &mut AttackerRt, a: usize) {
    let cap = usize::try_from(run.sc.defences.reverse.max_pending_per_client).unwrap_or(usize::MAX);
    let clients = rt.flood.len();
    let client = run.rng.random_range(0..clients);
    let now_ms = run.clock.now_ms;
    let q = &mut rt.flood[client];
    while q.front().is_some_and(|&expires_ms| expires_ms <= now_ms) {
        q.pop_front();
    }
    if cap > 0 && q.len() >= cap {
        run.row().webhook.flood_refused += 1;
        run.acc.attackers[a].blocked += 1;
        return;
    }
    let started = webhook
        .verifier
        .start(&StartRequest::default(), run.wall_ms(), &mut run.rng);
    run.record_unkeyed_start(started.is_ok());
    match started {
        Ok(_) => {
            let expires_ms = now_ms.saturating_add(run.sc.verifier.ttl.ms());
            rt.flood[client].push_back(expires_ms);
            run.row().webhook.flood_starts += 1;
            run.acc.attackers[a].succeeded += 1;
            run.acc.pending(webhook.verifier.pending());
        }
        Err(_) => {
            run.row().webhook.flood_refused += 1;
            run.acc.attackers[a].blocked += 1;
        }
    }
}
