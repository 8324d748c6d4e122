//! Time to verify: per flow and per country, p50/p90/p99 of the time from a legit user's
//! start to verified, and the share who never verified, by cause; in summary.json, summary.md
//! and report.html.

use super::cost::{flows_run, md_table};
use super::grouped;
use crate::flow::Flow;
use crate::outcome::{Outcome, TimeToVerify, Unverified};
use crate::scenario::{Fallback, Scenario};
use mo2fa_cost::report::html::{Block, Section};
use serde_json::json;

fn seconds(ms: Option<u64>) -> serde_json::Value {
    json!(ms.map(|ms| ms as f64 / 1000.0))
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 / of as f64 * 10_000.0).round() / 10_000.0
    }
}

fn one_json(t: &TimeToVerify) -> serde_json::Value {
    let users = t.users();
    let never: serde_json::Map<String, serde_json::Value> = Unverified::ALL
        .iter()
        .map(|(c, k)| (k.to_string(), json!(t.causes[*c as usize])))
        .collect();
    json!({
        "users": users,
        "verified": t.verified,
        "p50_s": seconds(t.quantile_ms(0.5)),
        "p90_s": seconds(t.quantile_ms(0.9)),
        "p99_s": seconds(t.quantile_ms(0.99)),
        "never_completed_share": share(users - t.verified, users),
        "never_completed": never,
    })
}

/// A flow's figures over all countries.
pub(super) fn total(o: &Outcome, f: Flow) -> TimeToVerify {
    let mut t = TimeToVerify::default();
    for c in &o.counts.time_to_verify {
        t.add(&c[f.index()]);
    }
    t
}

/// `time_to_verify.<flow>`: null for a flow not run.
pub(super) fn json(sc: &Scenario, o: &Outcome) -> serde_json::Value {
    let flow = |f: Flow| {
        if !sc.run.flows.contains(&f) {
            return serde_json::Value::Null;
        }
        let mut v = one_json(&total(o, f));
        v["countries"] = o
            .counts
            .time_to_verify
            .iter()
            .zip(&o.counts.countries)
            .filter(|(t, _)| t[f.index()].users() > 0)
            .map(|(t, c)| {
                let mut x = one_json(&t[f.index()]);
                x["iso"] = json!(c.iso);
                x
            })
            .collect();
        v
    };
    json!({ "sms_flow": flow(Flow::Sms), "reverse_flow": flow(Flow::Reverse) })
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
}

fn pct(n: u64, of: u64) -> String {
    format!("{:.1} %", share(n, of) * 100.0)
}

/// One table row per flow and country (the flow's total first).
fn rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let mut headers: Vec<String> = [
        "flow",
        "country",
        "users",
        "p50",
        "p90",
        "p99",
        "never verified",
    ]
    .map(String::from)
    .to_vec();
    headers.extend(Unverified::ALL.iter().map(|(_, k)| k.replace('_', " ")));
    let mut out = Vec::new();
    for (f, label) in flows_run(sc) {
        let all = total(o, f);
        let per = o
            .counts
            .time_to_verify
            .iter()
            .zip(&o.counts.countries)
            .filter(|(t, _)| t[f.index()].users() > 0)
            .map(|(t, c)| (c.iso.clone(), t[f.index()].clone()));
        for (iso, t) in std::iter::once(("all".to_string(), all)).chain(per) {
            let users = t.users();
            let mut r = vec![
                label.to_string(),
                iso,
                grouped(users),
                secs(t.quantile_ms(0.5)),
                secs(t.quantile_ms(0.9)),
                secs(t.quantile_ms(0.99)),
                pct(users - t.verified, users),
            ];
            r.extend(
                Unverified::ALL
                    .iter()
                    .map(|(c, _)| pct(t.causes[*c as usize], users)),
            );
            out.push(r);
        }
    }
    (headers, out)
}

/// Where the delivery figures come from, as the reports say it.
fn sources(sc: &Scenario) -> String {
    let s = &sc.sms;
    let sms = if s.delivery_sigma.0 > 0.0 || s.loss.0 > 0.0 {
        format!(
            "SMS delivery: log-normal, median {:.1} s, sigma {}, loss {:.1} %{}{} (scenario [sms]; the shipped values follow vendor_facts §3.1: healthy routes P50 2-6 s and P95 8-15 s, 1-5 % lost (Telesign), up to 5.1 % failed (INFOCOM 2007)).",
            s.delivery.ms() as f64 / 1000.0,
            s.delivery_sigma.0,
            s.loss.0 * 100.0,
            if s.loss_by_country.is_empty() && s.delivery_by_country.is_empty() {
                ""
            } else {
                ", with per-country overrides"
            },
            s.resend_after.map_or(String::new(), |d| format!(
                ", users ask again after {:.0} s",
                d.ms() as f64 / 1000.0
            )),
        )
    } else {
        format!(
            "SMS delivery: a fixed {:.1} s, nothing lost (the scenario sets no delivery distribution).",
            s.delivery.ms() as f64 / 1000.0
        )
    };
    let reverse = format!(
        "Reverse flow: provider latency log-normal, median {:.1} s, loss {:.2} % (assumed: no public iMessage latency or loss figure was found).",
        sc.emitter.latency_median.ms() as f64 / 1000.0,
        sc.emitter.drop_rate.0 * 100.0
    );
    // Name only what the run can do: the SMS delivery where an SMS can be sent (the SMS OTP
    // flow, or the reverse flow's outbound fallback), the provider where the reverse flow ran.
    let runs = |f: Flow| sc.run.flows.contains(&f);
    let outbound = |f: &Fallback| *f == Fallback::OutboundSms;
    let sends_sms = runs(Flow::Sms)
        || (runs(Flow::Reverse)
            && (outbound(&sc.legit.other_fallback)
                || sc.legit.countries.values().any(|c| outbound(&c.fallback))));
    match (sends_sms, runs(Flow::Reverse)) {
        (true, true) => format!("{sms} {reverse}"),
        (true, false) => sms,
        (false, _) => reverse,
    }
}

const INTRO: &str = "Time from a legit user's start to verified (p50, p90, p99 of those who verified) and the share who never verified, by cause, as shares of the users who started.";

pub(super) fn section(sc: &Scenario, o: &Outcome) -> Section {
    let (headers, rows) = rows(sc, o);
    let numeric = (0..headers.len()).map(|i| i > 1).collect();
    Section::new("ttv", "Time to verify")
        .push(Block::Paragraph(format!("{INTRO} {}", sources(sc))))
        .push(Block::Table {
            caption: "Time to verify and who never verified, per flow and country".into(),
            headers,
            rows,
            numeric,
            collapsed: false,
        })
}

pub(super) fn markdown(sc: &Scenario, o: &Outcome) -> String {
    let mut s = format!("\n## Time to verify\n\n{INTRO} {}\n\n", sources(sc));
    let (h, r) = rows(sc, o);
    md_table(&mut s, &h, &r, true);
    s
}
