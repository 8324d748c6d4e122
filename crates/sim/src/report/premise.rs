//! "The premise, checked": each row of Blooio's comparison of reverse iMessage 2FA with SMS 2FA
//! (../shared/research/vendor_facts_2026-12.md §0) with what this run measured in both flows,
//! and whether the run supports the claim, contradicts it, or cannot say (no attacker that
//! tests the row, only one flow run, or nothing to tell the flows apart). Also summary.json's
//! `takeovers` block: what the takeover attacks did, per kind and flow.

use super::cost::md_table;
use super::{grouped, grouped_cents};
use crate::flow::Flow;
use crate::outcome::{Outcome, PeriodCost, TakeoverCounts};
use crate::scenario::{AttackKind, Scenario};
use crate::time;
use mo2fa_cost::report::html::{Block, Section};
use serde_json::json;

/// Where the claims come from.
const SOURCE: &str = "Blooio, \"SMS Pumping Is Draining Your 2FA Budget — and \
    Mobile-Originated iMessage 2FA Fixes It\" (DEV Community), its comparison table";

/// What a run says about one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Supports,
    Contradicts,
    CannotSay,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Supports => "supports",
            Verdict::Contradicts => "contradicts",
            Verdict::CannotSay => "cannot say",
        }
    }

    /// The verdict on "the reverse flow does better": `reverse` against `sms`, lower is better,
    /// with why (`what` was compared; a tie cannot tell the flows apart).
    fn compare(reverse: f64, sms: f64, what: &str) -> (Self, String) {
        let v = Self::lower_is_better(reverse, sms);
        if v == Verdict::CannotSay {
            (v, format!("{what}: the same in both flows"))
        } else {
            (v, what.to_string())
        }
    }

    fn lower_is_better(reverse: f64, sms: f64) -> Self {
        if reverse < sms {
            Verdict::Supports
        } else if reverse > sms {
            Verdict::Contradicts
        } else {
            Verdict::CannotSay
        }
    }
}

/// One row of the table: the claim for each flow, what was measured, the verdict and why.
pub struct PremiseRow {
    pub row: &'static str,
    pub claim_reverse: &'static str,
    pub claim_sms: &'static str,
    pub measured_reverse: String,
    pub measured_sms: String,
    pub verdict: Verdict,
    pub why: String,
}

fn has(sc: &Scenario, kind: AttackKind) -> bool {
    sc.attackers.iter().any(|a| a.kind() == kind)
}

fn both_flows(sc: &Scenario) -> bool {
    Flow::ALL.iter().all(|f| sc.run.flows.contains(f))
}

/// Per-message and fixed parts of a period cost, cents.
fn per_message_cents(p: &PeriodCost) -> (i64, i64) {
    let per_message = p.legit_sms_list_cents
        + p.pumped_sms_list_cents
        + p.carrier_fees_cents
        + p.verify_fees_cents
        + p.inbound_sms_cents;
    (per_message, p.imessage_lines_cents + p.fixed_fees_cents)
}

fn period(o: &Outcome, f: Flow) -> Option<&PeriodCost> {
    o.costs.period[f].as_ref()
}

/// The rows, in the order of Blooio's table.
pub fn rows(sc: &Scenario, o: &Outcome) -> Vec<PremiseRow> {
    let both = both_flows(sc);
    let one_flow = || "only one flow ran".to_string();
    let mut rows = Vec::new();
    // Pricing: a flat rate against pay per message.
    let shares = Flow::ALL.map(|f| {
        period(o, f).map(|p| {
            let (per_msg, fixed) = per_message_cents(p);
            let total = (per_msg + fixed).max(1) as f64;
            (p.total_cents(), per_msg as f64 / total)
        })
    });
    let show = |x: Option<(i64, f64)>| {
        x.map_or("not run".into(), |(c, s)| {
            format!("{}, {:.0} % per message", grouped_cents(c), s * 100.0)
        })
    };
    let (verdict, why) = match (both, shares[1], shares[0]) {
        (true, Some((_, rev)), Some((_, sms))) if rev < 0.5 && sms >= 0.5 => (
            Verdict::Supports,
            "the reverse flow's cost is mostly fixed, the SMS flow's mostly per message".into(),
        ),
        (true, Some((_, rev)), Some(_)) if rev >= 0.5 => (
            Verdict::Contradicts,
            "most of the reverse flow's cost is per message (fallback SMS, inbound SMS)".into(),
        ),
        (true, _, _) => (
            Verdict::CannotSay,
            "neither flow's cost is mostly per message".into(),
        ),
        _ => (Verdict::CannotSay, one_flow()),
    };
    rows.push(PremiseRow {
        row: "Pricing",
        claim_reverse: "flat monthly rate, predictable",
        claim_sms: "pay per message, spikes are surprise bills",
        measured_reverse: show(shares[1]),
        measured_sms: show(shares[0]),
        verdict,
        why,
    });
    // Abuse: pumping.
    let t = &o.counts.totals.pumping;
    let (rev, sms) = (t.pumped_sms_reverse, t.pumped_sms_smsflow);
    let (verdict, why) = if !both {
        (Verdict::CannotSay, one_flow())
    } else if !has(sc, AttackKind::SmsPumping) {
        (Verdict::CannotSay, "no SMS pumping attacker".into())
    } else if rev > 0 {
        (
            Verdict::Contradicts,
            "the reverse flow's outbound-SMS fallback was pumped".into(),
        )
    } else if sms > 0 {
        (
            Verdict::Supports,
            "nothing was pumped through the reverse flow".into(),
        )
    } else {
        (Verdict::CannotSay, "neither flow was pumped".into())
    };
    rows.push(PremiseRow {
        row: "Abuse",
        claim_reverse: "can't be pumped (users message you)",
        claim_sms: "wide open to SMS pumping",
        measured_reverse: format!("{} pumped SMS", grouped(rev)),
        measured_sms: format!("{} pumped SMS", grouped(sms)),
        verdict,
        why,
    });
    // Cost at scale.
    let cents = Flow::ALL.map(|f| period(o, f).map(PeriodCost::total_cents));
    let (verdict, why) = match (both, cents[1], cents[0]) {
        (true, Some(r), Some(s)) => {
            Verdict::compare(r as f64, s as f64, "the cost of the period of each flow")
        }
        _ => (Verdict::CannotSay, one_flow()),
    };
    let usd = |c: Option<i64>| c.map_or("not run".into(), grouped_cents);
    rows.push(PremiseRow {
        row: "Cost at scale",
        claim_reverse: "cheap, especially cross-border",
        claim_sms: "steep international and carrier surcharges",
        measured_reverse: usd(cents[1]),
        measured_sms: usd(cents[0]),
        verdict,
        why,
    });
    rows.push(security(sc, o, both));
    rows.push(phishing(sc, o, both));
    rows.push(speed(sc, o, both));
    rows
}

/// Accounts taken over per flow by `counts`.
fn taken(c: &TakeoverCounts, f: Flow) -> u64 {
    c.taken[f.index()]
}

/// Security: spoofable sender IDs and SIM-swap exposure.
fn security(sc: &Scenario, o: &Outcome, both: bool) -> PremiseRow {
    let t = &o.counts.takeovers;
    let swap = has(sc, AttackKind::SimSwap);
    let spoof = has(sc, AttackKind::SpoofedSender);
    let show = |f: Flow| {
        format!(
            "{} taken over by SIM swap, {} by a spoofed sender",
            grouped(taken(&t.sim_swap, f)),
            grouped(taken(&t.spoof, f))
        )
    };
    let total = |f: Flow| taken(&t.sim_swap, f) + taken(&t.spoof, f);
    let (verdict, why) = if !both {
        (Verdict::CannotSay, "only one flow ran".into())
    } else if !swap && !spoof {
        (
            Verdict::CannotSay,
            "no SIM-swap or spoofed-sender attacker".into(),
        )
    } else {
        Verdict::compare(
            total(Flow::Reverse) as f64,
            total(Flow::Sms) as f64,
            "accounts taken over in each flow",
        )
    };
    PremiseRow {
        row: "Security",
        claim_reverse: "E2E encrypted, tied to Apple ID",
        claim_sms: "sender IDs spoofable, SIM-swap exposure",
        measured_reverse: show(Flow::Reverse),
        measured_sms: show(Flow::Sms),
        verdict,
        why,
    }
}

/// Anti-phishing: codes phished or relayed.
fn phishing(sc: &Scenario, o: &Outcome, both: bool) -> PremiseRow {
    let relay = &o.counts.takeovers.relay;
    let mirror = o.counts.totals.webhook.phishing_successes;
    let rev = taken(relay, Flow::Reverse) + mirror;
    let sms = taken(relay, Flow::Sms);
    let (verdict, why) = if !both {
        (Verdict::CannotSay, "only one flow ran".into())
    } else if !has(sc, AttackKind::RelayPhishing) {
        (
            Verdict::CannotSay,
            "no relay phisher attacks both flows".into(),
        )
    } else {
        let v = Verdict::lower_is_better(rev as f64, sms as f64);
        (
            v,
            "accounts taken over by phished codes in each flow".into(),
        )
    };
    PremiseRow {
        row: "Anti-phishing",
        claim_reverse: "user proves real possession",
        claim_sms: "codes get phished or relayed",
        measured_reverse: format!(
            "{} taken over (relay and reverse-OTP phishing)",
            grouped(rev)
        ),
        measured_sms: format!("{} taken over (relay phishing)", grouped(sms)),
        verdict,
        why,
    }
}

/// Speed: median time to verify, and the legit users whose code never arrived.
fn speed(sc: &Scenario, o: &Outcome, both: bool) -> PremiseRow {
    let t = Flow::ALL.map(|f| super::ttv::total(o, f));
    let p50 = |f: Flow| t[f.index()].quantile_ms(0.5);
    let show = |f: Flow| {
        let tv = &t[f.index()];
        let lost = tv.causes[crate::outcome::Unverified::NotDelivered as usize];
        match p50(f) {
            Some(ms) => format!(
                "p50 {:.1} s, {} never delivered",
                time::ms_f64(ms) / time::MS_PER_S as f64,
                grouped(lost)
            ),
            None if sc.run.flows.contains(&f) => "nobody verified".into(),
            None => "not run".into(),
        }
    };
    let (verdict, why) = match (both, p50(Flow::Reverse), p50(Flow::Sms)) {
        (true, Some(r), Some(s)) => Verdict::compare(
            r as f64,
            s as f64,
            "median time from a legit user's start to verified",
        ),
        (true, _, _) => (Verdict::CannotSay, "a flow had nobody verify".into()),
        _ => (Verdict::CannotSay, "only one flow ran".into()),
    };
    PremiseRow {
        row: "Speed",
        claim_reverse: "instant over WiFi/data",
        claim_sms: "often delayed, sometimes never delivered",
        measured_reverse: show(Flow::Reverse),
        measured_sms: show(Flow::Sms),
        verdict,
        why,
    }
}

fn table(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let headers = [
        "row",
        "claim: reverse / SMS",
        "reverse flow, measured",
        "SMS OTP flow, measured",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    let ran = |f: Flow, measured: String| {
        if sc.run.flows.contains(&f) {
            measured
        } else {
            "not run".into()
        }
    };
    let rows = rows(sc, o)
        .into_iter()
        .map(|r| {
            vec![
                r.row.to_string(),
                format!("{} / {}", r.claim_reverse, r.claim_sms),
                ran(Flow::Reverse, r.measured_reverse),
                ran(Flow::Sms, r.measured_sms),
                format!("{} ({})", r.verdict.name(), r.why),
            ]
        })
        .collect();
    (headers, rows)
}

pub(super) fn markdown(sc: &Scenario, o: &Outcome) -> String {
    let mut s = format!("\n## The premise, checked\n\nClaims: {SOURCE}.\n\n");
    let (h, r) = table(sc, o);
    md_table(&mut s, &h, &r, false);
    s
}

pub(super) fn section(sc: &Scenario, o: &Outcome) -> Section {
    let (headers, rows) = table(sc, o);
    let numeric = vec![false; headers.len()];
    Section::new("premise", "The premise, checked")
        .push(Block::Paragraph(format!(
            "Each claim of {SOURCE}, with what this run measured in both flows."
        )))
        .push(Block::Table {
            caption: "The premise, row by row".into(),
            headers,
            rows,
            numeric,
            collapsed: false,
        })
}

fn counts_json(c: &TakeoverCounts) -> serde_json::Value {
    json!({
        "victims": c.victims,
        "failed_before": c.failed_before,
        "taken": {"sms_flow": c.taken[0], "reverse_flow": c.taken[1]},
        "refused": {"sms_flow": c.refused[0], "reverse_flow": c.refused[1]},
    })
}

/// summary.json's `takeovers`: one block per takeover kind the scenario has; `None` without
/// any (so runs without them write what they always wrote).
pub(super) fn takeovers_json(sc: &Scenario, o: &Outcome) -> Option<serde_json::Value> {
    let t = &o.counts.takeovers;
    let mut v = serde_json::Map::new();
    if has(sc, AttackKind::SimSwap) {
        v.insert("sim_swap".into(), counts_json(&t.sim_swap));
    }
    if has(sc, AttackKind::RelayPhishing) {
        v.insert("relay_phishing".into(), counts_json(&t.relay));
    }
    if has(sc, AttackKind::SpoofedSender) {
        let mut s = counts_json(&t.spoof);
        s["refused_signature"] = json!(t.spoof.refused_signature);
        s["refused_sender"] = json!(t.spoof.refused_sender);
        v.insert("spoofed_sender".into(), s);
    }
    (!v.is_empty()).then_some(serde_json::Value::Object(v))
}
