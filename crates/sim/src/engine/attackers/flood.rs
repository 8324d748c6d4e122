//! Start floods: each client asks for challenges up to the per-client pending cap.

use super::super::world::World;
use mo2fa_core::verifier::StartRequest;
use rand::Rng;

impl World<'_> {
    pub(super) fn flood(&mut self, a: usize) {
        let cap =
            usize::try_from(self.sc.defences.reverse.max_pending_per_client).unwrap_or(usize::MAX);
        let clients = self.attackers[a].flood.len();
        let client = self.rng.random_range(0..clients);
        let now_ms = self.clock.now_ms;
        let q = &mut self.attackers[a].flood[client];
        while q.front().is_some_and(|&expires_ms| expires_ms <= now_ms) {
            q.pop_front();
        }
        if cap > 0 && q.len() >= cap {
            self.row().flood_refused += 1;
            self.acc.attackers[a].blocked += 1;
            return;
        }
        let started =
            self.webhook
                .verifier
                .start(&StartRequest::default(), self.wall_ms(), &mut self.rng);
        self.record_unkeyed_start(started.is_ok());
        match started {
            Ok(_) => {
                let expires_ms = now_ms.saturating_add(self.sc.verifier.ttl.ms());
                self.attackers[a].flood[client].push_back(expires_ms);
                self.row().flood_starts += 1;
                self.acc.attackers[a].succeeded += 1;
                self.acc.pending(self.webhook.verifier.pending());
            }
            Err(_) => {
                self.row().flood_refused += 1;
                self.acc.attackers[a].blocked += 1;
            }
        }
    }
}
