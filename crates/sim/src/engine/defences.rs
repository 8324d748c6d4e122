//! The flows' SMS guards: one call to ask before a paid send, one to report a verified code,
//! counting per flow what the defences refused, whose sends they were and what each rule did
//! (refusals of attackers' and of legit users' requests, the list price of the refused sends,
//! each rule's and each attacker's first refusal, monitor-mode alerts on either). The legit
//! users a rule refused who never verified are counted when they finish (`Run::user_finished`).

use super::world::{FlowSide, Population, Run};
use crate::flow::Flow;
use mo2fa_core::sms_defences::Attempt;

/// Whose request a guard judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Requester {
    Legit,
    /// Attacker `a` (its index).
    Attacker(usize),
}

impl FlowSide {
    /// Asks this flow's guard whether `a` may be sent: `Err(rule)` names the refusing rule.
    /// A refusal is counted for the flow (and as a legit user's or the attacker's). `a.now`
    /// is virtual time; `pop` prices the refused send.
    pub(super) fn defend(
        &mut self,
        run: &mut Run<'_>,
        pop: &Population,
        flow: Flow,
        a: &Attempt,
        by: Requester,
    ) -> Result<(), &'static str> {
        let legit = by == Requester::Legit;
        let verdict = self.guard.check(a);
        if let Some(log) = &mut run.sms_log {
            log.judged(flow, a, legit, verdict.is_ok());
        }
        let refused = verdict.err().map(|b| b.name());
        self.note_defence(run, pop, flow, a, by, refused);
        let Some(rule) = refused else {
            return Ok(());
        };
        let row = run.row();
        row.pumping.blocked_sms += 1;
        *row.blocked_sms_in(flow) += 1;
        if legit {
            *row.legit_blocked_in(flow) += 1;
        }
        let now = run.clock.now_ms;
        let d = &mut run.acc.defences[flow.index()];
        d.first_block_ms.get_or_insert(now);
        d.blocked += 1;
        d.legit_blocked += u64::from(legit);
        Err(rule)
    }

    /// The code sent for `a` was verified now.
    pub(super) fn defended_verified(&mut self, run: &mut Run<'_>, flow: Flow, a: &Attempt) {
        let a = Attempt {
            now: run.clock.now_ms,
            ..*a
        };
        self.guard.verified(&a);
        if let Some(log) = &mut run.sms_log {
            log.verified(flow, a.number, a.now);
        }
    }

    /// Attributes the guard's verdict on `a` (`refused`: the refusing rule's name): new
    /// monitor-mode alerts, and a refusal's price, first time and requester.
    fn note_defence(
        &mut self,
        run: &mut Run<'_>,
        pop: &Population,
        flow: Flow,
        a: &Attempt,
        by: Requester,
        refused: Option<&'static str>,
    ) {
        let i = flow.index();
        let legit = by == Requester::Legit;
        let alerts = &self.guard.stats.alerts;
        if !alerts.is_empty() {
            let d = &mut run.acc.defences[i];
            for (rule, &n) in alerts {
                let seen = self.seen_alerts.entry(rule).or_default();
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
        let Some(rule) = refused else {
            return;
        };
        let now = run.clock.now_ms;
        let country = &pop.countries[a.country];
        let carrier = country
            .carriers
            .get(a.network as usize)
            .or(country.carriers.first())
            .copied();
        let price = carrier.map_or(0.0, |k| pop.carriers[k].price);
        let d = &mut run.acc.defences[i];
        d.sms_usd_blocked += price;
        let e = d.rules.entry(rule).or_default();
        e.sms_usd_blocked += price;
        e.first_block_ms.get_or_insert(now);
        match by {
            Requester::Legit => e.legit_blocked += 1,
            Requester::Attacker(at) => {
                e.attack_blocked += 1;
                run.acc.attackers[at].first_block_ms[i].get_or_insert(now);
            }
        }
    }
}
