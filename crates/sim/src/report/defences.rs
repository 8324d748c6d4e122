//! "What the defences did": per flow and per rule, attackers' against legit users' requests
//! refused, legit users lost, the SMS spend refused, the attackers' revenue left, each
//! attack's time to its first block and monitor-mode alerts split the same way; in
//! summary.json, summary.md and report.html (tables and a chart of refusals per interval).

use super::cost::{flows_run, md_table};
use super::{grouped, grouped_usd, hours_axis, series, two_decimals};
use crate::first_block::attacker_time_to_first_block_ms;
use crate::flow::Flow;
use crate::outcome::{FlowDefences, Outcome, RuleEffect};
use crate::scenario::Scenario;
use crate::time;
use mo2fa_cost::report::html::{Block, Section};
use mo2fa_cost::report::svg::{Axis, Format, Panel, Scale, Series, TimeSeriesChart};
use serde_json::json;

fn seconds(ms: Option<u64>) -> serde_json::Value {
    json!(ms.map(|ms| ms as f64 / time::MS_PER_S as f64))
}

/// The per-rule object of `defences.<flow>.rules.<rule>`.
fn rule_json(r: &RuleEffect) -> serde_json::Value {
    json!({
        "attack_blocked": r.attack_blocked,
        "legit_blocked": r.legit_blocked,
        "legit_users_lost": r.legit_users_lost,
        "sms_usd_blocked": two_decimals(r.sms_usd_blocked),
        "first_block_s": seconds(r.first_block_ms),
        "attack_alerts": r.attack_alerts,
        "legit_alerts": r.legit_alerts,
    })
}

/// The keys item 2 adds to `defences.<flow>`.
pub(super) fn flow_json(d: &FlowDefences, v: &mut serde_json::Value) {
    v["attack_blocked"] = json!(d.blocked - d.legit_blocked);
    v["legit_users_lost"] = json!(d.legit_users_lost());
    v["sms_usd_blocked"] = json!(two_decimals(d.sms_usd_blocked));
    v["attacker_revenue_left_usd"] = json!(two_decimals(d.attacker_revenue_left_usd));
    v["attack_alerts"] = json!(d.attack_alerts());
    v["legit_alerts"] = json!(d.legit_alerts());
    v["rules"] = serde_json::Value::Object(
        d.rules
            .iter()
            .map(|(k, r)| (k.to_string(), rule_json(r)))
            .collect(),
    );
}

/// `attackers[].time_to_first_block_s`: per flow, from the attacker's start to the first
/// refusal of one of its requests; null when none was refused.
pub(super) fn attacker_ttfb_json(sc: &Scenario, o: &Outcome, i: usize) -> serde_json::Value {
    let a = &o.counts.attackers[i];
    let ttfb = |flow| attacker_time_to_first_block_ms(sc, a, i, flow);
    json!({
        "sms_flow": seconds(ttfb(Flow::Sms)),
        "reverse_flow": seconds(ttfb(Flow::Reverse)),
    })
}

fn hours_or_none(ms: Option<u64>) -> String {
    ms.map_or("none".into(), |ms| format!("{:.2} h", time::hours(ms)))
}

/// Rows of the per-flow table: measure, then one cell per flow that ran.
fn flow_rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let flows = flows_run(sc);
    let mut headers = vec!["measure".to_string()];
    headers.extend(flows.iter().map(|(_, l)| l.to_string()));
    type Cell = fn(&FlowDefences) -> String;
    let measures: [(&str, Cell); 8] = [
        ("attack requests blocked", |d| {
            grouped(d.blocked - d.legit_blocked)
        }),
        ("legit requests blocked", |d| grouped(d.legit_blocked)),
        ("legit users who never verified because of it", |d| {
            grouped(d.legit_users_lost())
        }),
        ("SMS spend blocked (list price)", |d| {
            grouped_usd(d.sms_usd_blocked)
        }),
        (
            "attacker revenue left (their share of what got through)",
            |d| grouped_usd(d.attacker_revenue_left_usd),
        ),
        ("first block since the run's start", |d| {
            hours_or_none(d.first_block_ms)
        }),
        ("monitor-mode alerts on attack requests", |d| {
            grouped(d.attack_alerts())
        }),
        ("monitor-mode alerts on legit requests", |d| {
            grouped(d.legit_alerts())
        }),
    ];
    let rows = measures
        .iter()
        .map(|(m, f)| {
            let mut r = vec![m.to_string()];
            r.extend(
                flows
                    .iter()
                    .map(|(fl, _)| f(&o.counts.defences[fl.index()])),
            );
            r
        })
        .collect();
    (headers, rows)
}

/// Rows of the per-rule table, one per (flow, rule) that refused or alerted.
fn rule_rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let headers = [
        "rule",
        "flow",
        "attack blocked",
        "legit blocked",
        "legit users lost",
        "SMS spend blocked",
        "first block",
        "alerts: attack",
        "alerts: legit",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for (f, label) in flows_run(sc) {
        for (rule, r) in &o.counts.defences[f.index()].rules {
            rows.push(vec![
                rule.to_string(),
                label.to_string(),
                grouped(r.attack_blocked),
                grouped(r.legit_blocked),
                grouped(r.legit_users_lost),
                grouped_usd(r.sms_usd_blocked),
                hours_or_none(r.first_block_ms),
                grouped(r.attack_alerts),
                grouped(r.legit_alerts),
            ]);
        }
    }
    (headers, rows)
}

/// Rows of the per-attack table: each attacker's time from its start to its first block.
fn attack_rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let flows = flows_run(sc);
    let mut headers = vec!["attacker".to_string()];
    headers.extend(
        flows
            .iter()
            .map(|(_, l)| format!("time to first block, {l}")),
    );
    let rows = o
        .counts
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut r = vec![a.label.clone()];
            r.extend(
                flows
                    .iter()
                    .map(|(f, _)| hours_or_none(attacker_time_to_first_block_ms(sc, a, i, *f))),
            );
            r
        })
        .collect();
    (headers, rows)
}

/// One count of a timeline row.
type RowCount = fn(&crate::outcome::Row) -> u64;

/// Refused requests per interval, attack against legit, one panel per flow that ran.
fn chart(sc: &Scenario, o: &Outcome) -> TimeSeriesChart {
    let hours = time::hours(sc.run.interval.ms());
    let panels = flows_run(sc)
        .into_iter()
        .map(|(f, label)| {
            let (all, legit): (RowCount, RowCount) = match f {
                Flow::Sms => (
                    |r| r.pumping.blocked_sms_smsflow,
                    |r| r.legit.legit_blocked_smsflow,
                ),
                Flow::Reverse => (
                    |r| r.pumping.blocked_sms_reverse,
                    |r| r.legit.legit_blocked_reverse,
                ),
            };
            Panel {
                y: Axis::new(
                    &format!("Blocked per interval, {label}"),
                    Scale::Linear,
                    Format::Count,
                ),
                series: vec![
                    Series::new(
                        "attack requests",
                        "#c0392b",
                        series(o, hours, |r| (all(r) - legit(r)) as f64),
                    ),
                    Series::new(
                        "legit requests",
                        "#1f6fb2",
                        series(o, hours, |r| legit(r) as f64),
                    )
                    .dashed(),
                ],
            }
        })
        .collect();
    TimeSeriesChart {
        id: "blocked".into(),
        title: "Requests the defences blocked, per interval".into(),
        description: "Attackers' requests against legit users' requests the SMS defences refused."
            .into(),
        x: hours_axis(),
        panels,
        bands: Vec::new(),
    }
}

const INTRO: &str = "What the SMS defences refused, per flow and per rule, split into attackers' and legit users' requests; legit users lost are counted per user (refused, and never verified in that flow afterwards). Monitor-mode rules only alert: those sends went out.";

/// The report.html section.
pub(super) fn section(sc: &Scenario, o: &Outcome) -> Section {
    let preset = sc
        .defences
        .sms
        .preset
        .as_deref()
        .map_or(String::new(), |p| {
            format!(" Preset: {p} (docs/defences.md).")
        });
    let table = |caption: &str, (headers, rows): (Vec<String>, Vec<Vec<String>>)| {
        let numeric = (0..headers.len()).map(|i| i > 0).collect();
        Block::Table {
            caption: caption.into(),
            headers,
            rows,
            numeric,
            collapsed: false,
        }
    };
    let mut s = Section::new("defences", "What the defences did")
        .push(Block::Paragraph(format!("{INTRO}{preset}")))
        .push(table("Per flow", flow_rows(sc, o)))
        .push(table("Per rule", rule_rows(sc, o)));
    if !o.counts.attackers.is_empty() {
        s = s.push(table("Per attack", attack_rows(sc, o)));
    }
    if o.counts.defences.iter().all(|d| d.blocked == 0) {
        return s;
    }
    s.push(Block::Svg(chart(sc, o).to_svg()))
}

/// summary.md's section.
pub(super) fn markdown(sc: &Scenario, o: &Outcome) -> String {
    let mut s = format!("\n## What the defences did\n\n{INTRO}\n\n");
    let (h, r) = flow_rows(sc, o);
    md_table(&mut s, &h, &r, true);
    let (h, r) = rule_rows(sc, o);
    if r.is_empty() {
        s.push_str("\nNo rule refused or alerted.\n");
    } else {
        s.push('\n');
        md_table(&mut s, &h, &r, true);
    }
    if !o.counts.attackers.is_empty() {
        s.push('\n');
        let (h, r) = attack_rows(sc, o);
        md_table(&mut s, &h, &r, true);
    }
    s
}
