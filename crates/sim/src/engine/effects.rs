//! What each defence did, per rule and per flow, split by whose request it was: refusals of
//! attackers' and of legit users' requests, the list price of the refused sends, each rule's
//! and each attacker's first refusal, monitor-mode alerts on either, and (per user) the legit
//! users a rule refused who never verified afterwards.

use super::world::{User, World};
use crate::flow::Flow;
use mo2fa_core::sms_defences::Attempt;

/// Per flow: the guard's alert counts as last seen, so each new alert is put down to the
/// request that raised it.
#[derive(Default)]
pub(super) struct Effects {
    seen_alerts: [std::collections::BTreeMap<&'static str, u64>; 2],
    /// The attacker whose event is running (`None` while a legit user's is).
    pub acting: Option<usize>,
    /// The rule that refused the last request (`None` when it went through).
    pub last_refusal: Option<&'static str>,
}

impl World<'_> {
    /// Records the guard's verdict on `a` in `flow` (`blocked`: the refusing rule's name).
    pub(super) fn note_defence(
        &mut self,
        flow: Flow,
        a: &Attempt,
        legit: bool,
        blocked: Option<&'static str>,
    ) {
        let i = flow.index();
        self.effects.last_refusal = blocked;
        let alerts = &self.flows[flow].guard.stats.alerts;
        if !alerts.is_empty() {
            let d = &mut self.acc.defences[i];
            for (rule, &n) in alerts {
                let seen = self.effects.seen_alerts[i].entry(rule).or_default();
                if n > *seen {
                    let e = d.rules.entry(rule).or_default();
                    if legit {
                        e.legit_alerts += n - *seen;
                    } else {
                        e.attack_alerts += n - *seen;
                    }
                    *seen = n;
                }
            }
        }
        let Some(rule) = blocked else {
            return;
        };
        let now = self.clock.now_ms;
        let country = &self.pop.countries[a.country];
        let carrier = country
            .carriers
            .get(a.network as usize)
            .or(country.carriers.first())
            .copied();
        let price = carrier.map_or(0.0, |k| self.pop.carriers[k].price);
        let d = &mut self.acc.defences[i];
        d.sms_usd_blocked += price;
        let e = d.rules.entry(rule).or_default();
        e.sms_usd_blocked += price;
        e.first_block_ms.get_or_insert(now);
        if legit {
            e.legit_blocked += 1;
        } else {
            e.attack_blocked += 1;
            if let Some(at) = self.effects.acting {
                self.acc.attackers[at].first_block_ms[i].get_or_insert(now);
            }
        }
    }

    /// A user's last event has run: each flow where a rule refused them and they never
    /// verified counts one legit user lost to that rule.
    pub(super) fn user_finished(&mut self, u: &User) {
        for flow in Flow::ALL {
            if u.legit && self.flows[flow].runs {
                let verified = match flow {
                    Flow::Sms => u.verified_sms,
                    Flow::Reverse => u.verified_reverse,
                };
                if !verified {
                    self.acc.time_to_verify[usize::from(u.country)][flow.index()]
                        .unverified(u.unverified[flow]);
                }
            }
            let verified = match flow {
                Flow::Sms => u.verified_sms,
                Flow::Reverse => u.verified_reverse,
            };
            if let (Some(rule), false) = (u.refused_by[flow], verified) {
                let d = &mut self.acc.defences[flow.index()];
                d.rules.entry(rule).or_default().legit_users_lost += 1;
            }
        }
    }
}
