//! The summary's key figures, chosen by what the scenario is about: each flow's cost of the
//! period first (after the attack when the scenario stages no pumping), then the attack the
//! scenario stages (takeovers for phishing, guessing and
//! the takeover attacks on both flows,
//! pumped SMS and what the defences saved for pumping, legit users turned away when a defence
//! refused any), then verified users. Only flows that ran appear, and no figure is a zero
//! amount that says nothing.

use super::cost::{flow_label, flows_run};
use super::{grouped, grouped_cents, two_decimals};
use crate::flow::Flow;
use crate::outcome::Outcome;
use crate::scenario::{AttackKind, Scenario};

/// (label, value) pairs, thousands separators in the values (HTML and Markdown only).
pub(super) fn key_figures(sc: &Scenario, o: &Outcome) -> Vec<(String, String)> {
    let t = &o.counts.totals;
    let flows = flows_run(sc);
    // A cost of $0.00 says nothing; a scenario that stages attacks but no pumping leads with
    // them and puts its costs after.
    let costs: Vec<(String, String)> = flows
        .iter()
        .filter_map(|(f, label)| {
            let p = o.costs.period[*f].as_ref()?;
            (p.total_cents() > 0).then(|| {
                (
                    format!("cost of the period, {label}"),
                    grouped_cents(p.total_cents()),
                )
            })
        })
        .collect();
    let has = |k: AttackKind| sc.attackers.iter().any(|a| a.kind() == k);
    let no_pumping = !sc.attackers.is_empty() && !has(AttackKind::SmsPumping);
    let mut v: Vec<(String, String)> = Vec::new();
    if !no_pumping {
        v.extend(costs.iter().cloned());
    }
    if has(AttackKind::ReverseOtpPhishing) || has(AttackKind::CodeGuessing) {
        v.push((
            "account takeovers (reverse flow)".into(),
            grouped(t.webhook.phishing_successes + t.webhook.hijacks),
        ));
    }
    if has(AttackKind::SimSwap) || has(AttackKind::RelayPhishing) || has(AttackKind::SpoofedSender)
    {
        let k = &o.counts.takeovers;
        for (f, label) in &flows {
            let i = f.index();
            v.push((
                format!("accounts taken over (SIM swap, relay, spoofing), {label}"),
                grouped(k.sim_swap.taken[i] + k.relay.taken[i] + k.spoof.taken[i]),
            ));
        }
    }
    if has(AttackKind::SmsPumping) {
        pumping_figures(o, &flows, &mut v);
    }
    if no_pumping {
        v.extend(costs);
    }
    for (f, label) in &flows {
        let d = &o.counts.defences[f.index()];
        if d.legit_blocked > 0 {
            v.push((
                format!("legit requests blocked, {label}"),
                grouped(d.legit_blocked),
            ));
        }
    }
    for (f, label) in &flows {
        let (verified, of) = match f {
            Flow::Sms => (t.legit.legit_verified_sms, o.counts.users.legit),
            Flow::Reverse => (t.legit.legit_verified_reverse, t.legit.legit_starts),
        };
        v.push((
            format!("legit users verified, {label}"),
            format!("{} of {}", grouped(verified), grouped(of)),
        ));
    }
    if let Some(r) = &sc.money.report {
        for (f, _) in &flows {
            if let Some(p) = &o.costs.period[*f] {
                v.push((
                    format!("cost of the period, {} ({})", flow_label(*f), r.currency),
                    format!("{} {}", two_decimals(r.convert(p.total_usd())), r.currency),
                ));
            }
        }
    }
    v
}

/// [`key_figures`]' pumping lines per flow: what got through, the vendor's credit and what the
/// defences blocked.
fn pumping_figures(o: &Outcome, flows: &[(Flow, &str)], v: &mut Vec<(String, String)>) {
    let t = &o.counts.totals;
    for (f, label) in flows {
        let (sent, period) = match f {
            Flow::Sms => (t.pumping.pumped_sms_smsflow, &o.costs.period.sms),
            Flow::Reverse => (t.pumping.pumped_sms_reverse, &o.costs.period.reverse),
        };
        let usd = period.as_ref().map_or(0, |p| p.pumped_sms_list_cents);
        if usd > 0 {
            v.push((
                format!("pumped SMS, {label} ({} sent)", grouped(sent)),
                grouped_cents(usd),
            ));
        }
        let credit = period.as_ref().map_or(0, |p| p.vendor_credit_cents);
        if credit > 0 {
            v.push((
                format!("vendor credit claimable (Fraud Guard Promise), {label}"),
                grouped_cents(credit),
            ));
        }
        let saved = o.counts.defences[f.index()].sms_usd_blocked;
        if saved > 0.0 {
            v.push((
                format!("SMS spend the defences blocked, {label}"),
                grouped_cents(super::cents(saved)),
            ));
        }
    }
}
