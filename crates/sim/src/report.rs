//! What a run writes: summary.json, timeline.csv, summary.md, report.html, and the console
//! table. Files hold only simulated quantities (no wall-clock time), so the same scenario and
//! seed give byte-identical files; speed is printed to the console only.

mod billing;
mod carriers;
mod cost;
mod defences;
mod headline;
mod premise;
mod ttv;

pub(crate) use crate::outcome::cents;
pub use cost::console_lines as cost_console_lines;

use super::scenario::Scenario;
use crate::SimError;
use crate::outcome::{Block as Blocked, FlowDefences, Outcome, Row};
use crate::time;
use mo2fa_cost::observed::ObservedCost;
use mo2fa_cost::report::html::{Block, Page, Section};
use mo2fa_cost::report::svg::{
    Axis, Format, Lane, Panel, Scale, Series, Span, TimeSeriesChart, Timeline,
};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

/// A USD amount with two decimals and no sign for zero, as summary.json and the tables show
/// it (unlike `mo2fa_cost::report::usd`, a label format with `$`, grouping and `k`/`M`).
fn two_decimals(v: f64) -> String {
    // Adding +0.0 turns a negative zero into zero, so no "-0.00" is printed.
    format!("{:.2}", v + 0.0)
}

/// `n` with a comma every three digits, for HTML and Markdown only (summary.json and
/// timeline.csv keep plain numbers).
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Whole cents as "$1,234.56" (HTML and Markdown).
pub fn grouped_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let c = c.unsigned_abs();
    format!("{sign}${}.{:02}", grouped(c / 100), c % 100)
}

/// A USD amount as "$1,234.56" (HTML and Markdown).
pub fn grouped_usd(usd: f64) -> String {
    grouped_cents(cents(usd))
}

fn cost_json(c: &Option<ObservedCost>) -> serde_json::Value {
    match c {
        None => serde_json::Value::Null,
        Some(c) => json!({
            "legit_sms": two_decimals(c.legit_sms_usd),
            "pumped_sms": two_decimals(c.pumped_sms_usd),
            "verify_fees": two_decimals(c.verify_fees_usd),
            "inbound_sms": two_decimals(c.inbound_sms_usd),
            "imessage_lines": c.lines,
            "lines": two_decimals(c.lines_usd),
            "fixed_fees": two_decimals(c.fixed_usd),
            "total": two_decimals(c.total_usd),
        }),
    }
}

/// Blocks as `[from_s, until_s, iso]`.
fn blocks_json(blocks: &[Blocked]) -> Vec<serde_json::Value> {
    blocks
        .iter()
        .map(|b| {
            json!([
                b.from_ms / time::MS_PER_S,
                b.until_ms / time::MS_PER_S,
                b.iso
            ])
        })
        .collect()
}

/// What one flow's SMS defences did, for summary.json. Time to first block has the one
/// definition of [`crate::first_block`] (from the first pumping attack's start).
fn defences_json(sc: &Scenario, d: &FlowDefences) -> serde_json::Value {
    let mut v = json!({
        "blocked": d.blocked,
        "legit_blocked": d.legit_blocked,
        "alerts": d.alerts(),
        "time_to_first_block_s": crate::first_block::time_to_first_block_ms(sc, d)
            .map(|ms| ms as f64 / time::MS_PER_S as f64),
        "blocked_by_rule": d.blocked_by_rule,
        "alerts_by_rule": d.alerts_by_rule,
    });
    defences::flow_json(d, &mut v);
    v
}

/// A first block's virtual time as the tables show it.
fn first_block(d: &FlowDefences) -> String {
    d.first_block_ms
        .map_or("none".into(), |ms| format!("{:.1} h", time::hours(ms)))
}

pub fn summary_json(sc: &Scenario, name: &str, seed: u64, o: &Outcome) -> String {
    let costs = &o.costs;
    let t = &o.counts.totals;
    let mut v = json!({
        "scenario": name,
        "description": sc.run.description,
        "seed": seed,
        "duration_s": sc.run.duration.ms() / time::MS_PER_S,
        "interval_s": sc.run.interval.ms() / time::MS_PER_S,
        "interrupted": o.interrupted,
        "events": o.events,
        "legit": {
            "users": o.counts.users.legit,
            "starts_reverse": t.legit.legit_starts,
            "sent_code_reverse": o.counts.users.sent_reverse,
            "verified_reverse": t.legit.legit_verified_reverse,
            "verified_sms": t.legit.legit_verified_sms,
            "refused_reverse": t.legit.legit_refused,
            "double_verified": o.counts.users.double_verified,
        },
        "sms": {
            "legit_sms_flow": t.legit.sms_legit_smsflow,
            "legit_reverse_fallback": t.legit.sms_legit_reverse,
            "pumped_sms_flow": t.pumping.pumped_sms_smsflow,
            "pumped_reverse_fallback": t.pumping.pumped_sms_reverse,
            "blocked": t.pumping.blocked_sms,
            "pumping_absorbed_by_inbound": t.pumping.pumping_absorbed,
            "pumped_verified_sms_flow": t.pumping.pumped_verified_smsflow,
            "pumped_verified_reverse_fallback": t.pumping.pumped_verified_reverse,
            "captcha_blocked_legit": t.legit.captcha_blocked_legit,
            "captcha_blocked_pumping": t.pumping.captcha_blocked_pumping,
        },
        "reverse_attacks": {
            "guess_messages": t.webhook.guess_messages,
            "guess_hits": t.webhook.guess_hits,
            "hijacks": t.webhook.hijacks,
            "flood_starts": t.webhook.flood_starts,
            "flood_refused": t.webhook.flood_refused,
            "forged_rejected": t.webhook.forged_rejected,
            "replays_rejected": t.webhook.replays_rejected,
            "replays_deduped": t.webhook.replays_deduped,
            "phishing_successes": t.webhook.phishing_successes,
            "duplicate_deliveries": t.webhook.duplicate_deliveries,
            "peak_pending": o.counts.users.peak_pending,
        },
        "sms_list_price_usd": {
            "sms_flow": two_decimals(t.usd.usd_sms_flow),
            "reverse_flow": two_decimals(t.usd.usd_reverse_flow),
        },
        "captcha_usd": {
            "sms_flow": two_decimals(t.usd.usd_captcha_sms_flow),
            "reverse_flow": two_decimals(t.usd.usd_captcha_reverse_flow),
        },
        "cost_of_period_usd": {
            "sms_flow": cost::period_json(&costs.period.sms),
            "reverse_flow": cost::period_json(&costs.period.reverse),
        },
        "cost_model_usd": {
            "sms_flow": cost_json(&costs.sms),
            "reverse_flow": cost_json(&costs.reverse),
        },
        "attackers": attackers_json(sc, o),
        "countries": countries_json(o),
        "carriers": carriers_json(o),
        "blocks": {
            "sms_flow": blocks_json(&o.counts.blocks.sms),
            "reverse_flow": blocks_json(&o.counts.blocks.reverse),
        },
        "time_to_verify": ttv::json(sc, o),
        "defences": {
            "preset": sc.defences.sms.preset,
            "sms_flow": defences_json(sc, &o.counts.defences[0]),
            "reverse_flow": defences_json(sc, &o.counts.defences[1]),
        },
    });
    // Present only when the scenario has takeover attackers, `[billing]` / `[report]`.
    if let Some(t) = premise::takeovers_json(sc, o) {
        v["takeovers"] = t;
    }
    if let Some(b) = billing::billing_json(sc, o) {
        v["billing"] = b;
    }
    if let Some(c) = billing::currency_json(sc, o) {
        v["report_currency"] = c;
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// summary.json's `attackers`: one object per attacker, in file order.
fn attackers_json(sc: &Scenario, o: &Outcome) -> Vec<serde_json::Value> {
    o.counts
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "label": a.label, "kind": a.kind, "attempts": a.attempts, "blocked": a.blocked,
                "succeeded": a.succeeded, "attacker_cost_usd": two_decimals(a.attacker_cost_usd),
                "attacker_revenue_usd": two_decimals(a.attacker_revenue_usd),
                "adaptations": a.adaptations, "accounts": a.accounts,
                "time_to_first_block_s": defences::attacker_ttfb_json(sc, o, i),
                "revenue_usd_by_flow": {
                    "sms_flow": two_decimals(a.revenue_usd_by_flow[0]),
                    "reverse_flow": two_decimals(a.revenue_usd_by_flow[1]),
                },
            })
        })
        .collect::<Vec<_>>()
}

/// summary.json's `countries`.
fn countries_json(o: &Outcome) -> Vec<serde_json::Value> {
    o.counts
        .countries
        .iter()
        .map(|c| {
            json!({
                "iso": c.iso, "usd_per_segment": format!("{:.5}", c.usd_per_segment),
                "sms_legit_sms_flow": c.sms_legit_smsflow, "sms_legit_reverse": c.sms_legit_reverse,
                "pumped_sms_flow": c.pumped_smsflow, "pumped_reverse": c.pumped_reverse,
            })
        })
        .collect::<Vec<_>>()
}

/// summary.json's `carriers`.
fn carriers_json(o: &Outcome) -> Vec<serde_json::Value> {
    o.counts
        .carriers
        .iter()
        .map(|k| {
            json!({
                "iso": k.iso, "name": k.name, "share": k.share,
                "usd_per_segment": format!("{:.5}", k.usd_per_segment),
                "sms_legit_sms_flow": k.sms_legit_smsflow, "sms_legit_reverse": k.sms_legit_reverse,
                "pumped_sms_flow": k.pumped_smsflow, "pumped_reverse": k.pumped_reverse,
                "verified_sms_flow": k.verified_smsflow, "verified_reverse": k.verified_reverse,
                "blocked_sms_flow": k.blocked_smsflow, "blocked_reverse": k.blocked_reverse,
            })
        })
        .collect::<Vec<_>>()
}

/// `timeline.csv`: the start of each interval in seconds, then [`Row::COLUMNS`].
pub fn timeline_csv(sc: &Scenario, o: &Outcome) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(o.counts.rows.len() * 80));
    let mut header = vec!["t_start_s"];
    header.extend_from_slice(Row::COLUMNS);
    w.write_record(&header)?;
    let mut t_start_ms = 0u64;
    for r in &o.counts.rows {
        let mut record = vec![(t_start_ms / time::MS_PER_S).to_string()];
        record.extend(r.cells());
        w.write_record(&record)?;
        t_start_ms = t_start_ms.saturating_add(sc.run.interval.ms());
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every cell is a number or an ASCII column name.
    Ok(String::from_utf8(bytes).unwrap_or_default())
}

/// The compact table printed after a run (and in summary.md): counts, then the cost lines.
pub fn table(o: &Outcome) -> String {
    let mut s = String::new();
    for (k, v) in table_rows(o) {
        let _ = writeln!(s, "  {k:<44} {v:>14}");
    }
    s.push_str(&cost::console_lines(o));
    if o.interrupted {
        s.push_str("  (interrupted: partial results)\n");
    }
    s
}

/// The counts of [`table`] as (measure, value) pairs; money is in [`cost::console_lines`].
fn table_rows(o: &Outcome) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    traffic_rows(o, &mut rows);
    defence_rows(o, &mut rows);
    attack_rows(o, &mut rows);
    rows
}

/// [`table_rows`]' users, verifications and SMS sent.
fn traffic_rows(o: &Outcome, rows: &mut Vec<(String, String)>) {
    let t = &o.counts.totals;
    let mut line = |k: &str, v: String| rows.push((k.to_string(), v));
    line("legit users", o.counts.users.legit.to_string());
    line(
        "  reverse: verified / started",
        format!(
            "{} / {}",
            t.legit.legit_verified_reverse, t.legit.legit_starts
        ),
    );
    line(
        "  sms:     verified",
        t.legit.legit_verified_sms.to_string(),
    );
    line("  refused (store full)", t.legit.legit_refused.to_string());
    line(
        "SMS sent, sms flow: legit / pumped",
        format!(
            "{} / {}",
            t.legit.sms_legit_smsflow, t.pumping.pumped_sms_smsflow
        ),
    );
    line(
        "SMS sent, reverse fallback: legit / pumped",
        format!(
            "{} / {}",
            t.legit.sms_legit_reverse, t.pumping.pumped_sms_reverse
        ),
    );
}

/// [`table_rows`]' defence refusals and alerts, per flow and per rule.
fn defence_rows(o: &Outcome, rows: &mut Vec<(String, String)>) {
    let mut line = |k: &str, v: String| rows.push((k.to_string(), v));
    // Per flow: an attempt both flows refuse is one refusal in each, never two in one line.
    let [d_sms, d_rev] = &o.counts.defences;
    line(
        "blocked by defences, sms flow: all / legit",
        format!("{} / {}", d_sms.blocked, d_sms.legit_blocked),
    );
    line(
        "  reverse fallback: all / legit",
        format!("{} / {}", d_rev.blocked, d_rev.legit_blocked),
    );
    line(
        "  first block at (run time): sms flow / reverse fallback",
        format!("{} / {}", first_block(d_sms), first_block(d_rev)),
    );
    line(
        "  monitor alerts: sms flow / reverse fallback",
        format!("{} / {}", d_sms.alerts(), d_rev.alerts()),
    );
    for rule in rule_names(o) {
        let n = |m: &std::collections::BTreeMap<&str, u64>| m.get(rule).copied().unwrap_or(0);
        line(
            &format!("  {rule}: blocked / alerts (sms, reverse)"),
            format!(
                "{}/{}, {}/{}",
                n(&d_sms.blocked_by_rule),
                n(&d_sms.alerts_by_rule),
                n(&d_rev.blocked_by_rule),
                n(&d_rev.alerts_by_rule)
            ),
        );
    }
}

/// [`table_rows`]' attacks, billing refusals and attackers.
fn attack_rows(o: &Outcome, rows: &mut Vec<(String, String)>) {
    let t = &o.counts.totals;
    let mut line = |k: &str, v: String| rows.push((k.to_string(), v));
    if t.legit.captcha_blocked_legit + t.pumping.captcha_blocked_pumping > 0 {
        line(
            "CAPTCHA refusals: legit / pumping",
            format!(
                "{} / {}",
                t.legit.captcha_blocked_legit, t.pumping.captcha_blocked_pumping
            ),
        );
    }
    if t.pumping.pumped_verified_smsflow + t.pumping.pumped_verified_reverse > 0 {
        line(
            "codes attackers submitted: sms / reverse",
            format!(
                "{} / {}",
                t.pumping.pumped_verified_smsflow, t.pumping.pumped_verified_reverse
            ),
        );
    }
    line(
        "code-guessing messages / hits / hijacks",
        format!(
            "{} / {} / {}",
            t.webhook.guess_messages, t.webhook.guess_hits, t.webhook.hijacks
        ),
    );
    line(
        "forged rejected / replays rejected+deduped",
        format!(
            "{} / {}",
            t.webhook.forged_rejected,
            t.webhook.replays_rejected + t.webhook.replays_deduped
        ),
    );
    line(
        "phishing successes",
        t.webhook.phishing_successes.to_string(),
    );
    for (name, account) in [
        ("sms flow", o.billing.sms.as_ref()),
        ("reverse fallback", o.billing.reverse.as_ref()),
    ] {
        if let Some(a) = account {
            line(
                &format!("SMS refused by billing, {name}: legit / pumped"),
                format!("{} / {}", a.refused_legit, a.refused_pumped),
            );
            if let Some(at) = a.account.suspended_at_ms() {
                line(
                    &format!("  provider account suspended, {name}"),
                    format!("at {:.2} h", time::hours(at)),
                );
            }
        }
    }
    for a in &o.counts.attackers {
        line(
            &format!("attacker {} attempts/blocked/succeeded", a.label),
            format!("{}/{}/{}", a.attempts, a.blocked, a.succeeded),
        );
    }
}

/// Every rule that refused or alerted in either flow, in name order.
fn rule_names(o: &Outcome) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = o
        .counts
        .defences
        .iter()
        .flat_map(|d| d.blocked_by_rule.keys().chain(d.alerts_by_rule.keys()))
        .copied()
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn series(o: &Outcome, hours_per_row: f64, mut f: impl FnMut(&Row) -> f64) -> Vec<(f64, f64)> {
    o.counts
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| (time::count_f64(i) * hours_per_row, f(r)))
        .collect()
}

pub fn html(sc: &Scenario, name: &str, seed: u64, o: &Outcome) -> String {
    let mut sections = vec![
        Section::new("summary", "Summary").push(Block::KeyFigures(headline::key_figures(sc, o))),
        Section::new("timeline", "Over time").push(Block::Svg(timeline_chart(sc, o).to_svg())),
    ];
    sections.push(premise::section(sc, o));
    sections.extend(attacks_section(sc, o));
    sections.push(defences::section(sc, o));
    sections.push(ttv::section(sc, o));
    sections.push(carriers::section(sc, o));
    sections.push(cost::section(sc, o));
    sections.extend(billing_section(sc, o));
    sections.push(numbers_section(o));
    Page {
        title: format!("Scenario run: {name}"),
        subtitle: format!("{} · seed {seed} · {} events", sc.run.description, o.events),
        sections,
        footer: vec!["SMS prices: Twilio public list prices (scenarios/data/README.md).".into()],
    }
    .to_html()
}

fn hours_axis() -> Axis {
    Axis::new("Hours since start", Scale::Linear, Format::Hours)
}

/// The report's chart: verifications, pumped SMS and cumulative spend per interval.
fn timeline_chart(sc: &Scenario, o: &Outcome) -> TimeSeriesChart {
    let hours = time::hours(sc.run.interval.ms());
    let mut cum_sms = 0.0;
    let mut cum_rev = 0.0;
    TimeSeriesChart {
        id: "timeline".into(),
        title: "What happened, per interval".into(),
        description: "Legit verifications, pumped SMS and cumulative spend over time.".into(),
        x: hours_axis(),
        panels: vec![
            Panel {
                y: Axis::new("Verified per interval", Scale::Linear, Format::Count),
                series: vec![
                    Series::new(
                        "reverse",
                        "#1f6fb2",
                        series(o, hours, |r| r.legit.legit_verified_reverse as f64),
                    ),
                    Series::new(
                        "sms",
                        "#d1600f",
                        series(o, hours, |r| r.legit.legit_verified_sms as f64),
                    )
                    .dashed(),
                ],
            },
            Panel {
                y: Axis::new("Pumped SMS per interval", Scale::Linear, Format::Count),
                series: vec![
                    Series::new(
                        "sms flow",
                        "#d1600f",
                        series(o, hours, |r| r.pumping.pumped_sms_smsflow as f64),
                    ),
                    Series::new(
                        "reverse fallback",
                        "#1f6fb2",
                        series(o, hours, |r| r.pumping.pumped_sms_reverse as f64),
                    )
                    .dashed(),
                ],
            },
            Panel {
                y: Axis::new("Cumulative spend", Scale::Linear, Format::Usd),
                series: vec![
                    Series::new(
                        "sms flow",
                        "#d1600f",
                        series(o, hours, |r| {
                            cum_sms += r.usd.usd_sms_flow;
                            cum_sms
                        }),
                    ),
                    Series::new(
                        "reverse flow",
                        "#1f6fb2",
                        series(o, hours, |r| {
                            cum_rev += r.usd.usd_reverse_flow;
                            cum_rev
                        }),
                    )
                    .dashed(),
                ],
            },
        ],
        bands: Vec::new(),
    }
}

/// When each attacker was active and when a defence blocked a destination.
fn attacks_section(sc: &Scenario, o: &Outcome) -> Option<Section> {
    let h = time::hours;
    let mut lanes: Vec<Lane> = sc
        .attackers
        .iter()
        .enumerate()
        .map(|(i, a)| Lane {
            label: a.label(i),
            spans: vec![Span {
                from: h(a.start.ms()),
                to: h(a.end.ms()),
                label: a.kind().name().into(),
                color: "#c0392b".into(),
            }],
        })
        .collect();
    for (title, blocks) in [
        ("blocks (sms flow)", &o.counts.blocks.sms),
        ("blocks (reverse)", &o.counts.blocks.reverse),
    ] {
        if !blocks.is_empty() {
            lanes.push(Lane {
                label: title.into(),
                spans: blocks
                    .iter()
                    .map(|b| Span {
                        from: h(b.from_ms),
                        to: h(b.until_ms.min(sc.run.duration.ms())),
                        label: b.iso.clone(),
                        color: "#2e8b57".into(),
                    })
                    .collect(),
            });
        }
    }
    for (title, account) in [
        ("account suspended (sms flow)", o.billing.sms.as_ref()),
        ("account suspended (reverse)", o.billing.reverse.as_ref()),
    ] {
        if let Some(at) = account.and_then(|a| a.account.suspended_at_ms()) {
            lanes.push(Lane {
                label: title.into(),
                spans: vec![Span {
                    from: h(at),
                    to: h(sc.run.duration.ms()),
                    label: "provider account suspended: SMS refused".into(),
                    color: "#7f8c8d".into(),
                }],
            });
        }
    }
    if lanes.is_empty() {
        return None;
    }
    let tl = Timeline {
            id: "attacks".into(),
            title: "Attacks and defences".into(),
            description:
                "When each attacker was active and when a defence blocked a destination (conversion, network or country-cap blocks)."
                    .into(),
            x: hours_axis().with_range(0.0, h(sc.run.duration.ms())),
            lanes,
            events: Vec::new(),
        };
    Some(Section::new("attacks", "Attacks and defences").push(Block::Svg(tl.to_svg())))
}

/// What the app logged, what the provider billed, the account.
fn billing_section(sc: &Scenario, o: &Outcome) -> Option<Section> {
    let extra = billing::lines(sc, o);
    if extra.is_empty() {
        return None;
    }
    let mut section = Section::new("billing", "Billing and currency");
    if let Some(r) = &sc.money.report {
        section = section.push(Block::Paragraph(billing::rate_sentence(r)));
    }
    Some(section.push(Block::Table {
        caption: "What the app logged, what the provider billed, the account".into(),
        headers: vec!["measure".into(), "value".into()],
        rows: extra.into_iter().map(|(k, v)| vec![k, v]).collect(),
        numeric: vec![false, true],
        collapsed: false,
    }))
}

/// The totals table: the counts (thousands separators), then each flow's cost of the period.
fn numbers_section(o: &Outcome) -> Section {
    let mut rows: Vec<Vec<String>> = table_rows(o)
        .into_iter()
        .map(|(k, v)| vec![k, group_numbers(&v)])
        .collect();
    for f in crate::flow::Flow::ALL {
        if let Some(p) = &o.costs.period[f] {
            rows.push(vec![
                format!("cost of the period, {}", cost::flow_label(f)),
                grouped_cents(p.total_cents()),
            ]);
        }
    }
    Section::new("numbers", "Numbers").push(Block::Table {
        caption: "Totals".into(),
        headers: vec!["measure".into(), "value".into()],
        rows,
        numeric: vec![false, true],
        collapsed: false,
    })
}

/// Every run of digits in `v` with thousands separators ("172367 / 8670" → "172,367 / 8,670");
/// digits after a decimal point are left alone.
fn group_numbers(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 8);
    let mut digits = String::new();
    let mut after_point = false;
    let flush = |digits: &mut String, out: &mut String, after_point: bool| {
        if digits.is_empty() {
            return;
        }
        match digits.parse::<u64>() {
            Ok(n) if !after_point => out.push_str(&grouped(n)),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for ch in v.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        flush(&mut digits, &mut out, after_point);
        after_point = ch == '.';
        out.push(ch);
    }
    flush(&mut digits, &mut out, after_point);
    out
}

pub fn summary_md(sc: &Scenario, name: &str, seed: u64, o: &Outcome) -> String {
    let mut s = format!("# Scenario run: {name} (seed {seed})\n\n");
    let figures: Vec<Vec<String>> = headline::key_figures(sc, o)
        .into_iter()
        .map(|(k, v)| vec![k, v])
        .collect();
    cost::md_table(&mut s, &["figure".into(), "value".into()], &figures, true);
    let _ = write!(s, "\n## Totals\n\n```\n{}```\n", table(o));
    s.push_str(&premise::markdown(sc, o));
    s.push_str(&cost::markdown(sc, o));
    s.push_str(&defences::markdown(sc, o));
    s.push_str(&ttv::markdown(sc, o));
    s.push_str(&carriers::markdown(sc, o));
    let extra = billing::lines(sc, o);
    if !extra.is_empty() {
        s.push_str("\n## Billing and currency\n\n");
        if let Some(r) = &sc.money.report {
            let _ = writeln!(s, "{}\n", billing::rate_sentence(r));
        }
        s.push_str("```\n");
        for (k, v) in extra {
            let _ = writeln!(s, "  {k:<52} {v:>14}");
        }
        s.push_str("```\n");
    }
    s
}

/// Writes summary.json, timeline.csv, summary.md and report.html into `dir` (created); a
/// failure names the file.
pub fn write_all(
    dir: &Path,
    sc: &Scenario,
    name: &str,
    seed: u64,
    o: &Outcome,
) -> Result<(), SimError> {
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source: std::io::Error| SimError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let csv_path = dir.join("timeline.csv");
    let files = [
        ("summary.json", summary_json(sc, name, seed, o)),
        (
            "timeline.csv",
            timeline_csv(sc, o).map_err(|e| failed(&csv_path)(e.into()))?,
        ),
        ("summary.md", summary_md(sc, name, seed, o)),
        ("report.html", html(sc, name, seed, o)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(failed(&path))?;
    }
    Ok(())
}
