//! The headline cost ("cost of the period", [`PeriodCost`]) as every output shows it: its parts
//! in summary.json, the table of parts and the cost model's prices in summary.md and
//! report.html, and the console's lines. Thousands separators only in HTML and Markdown.

use super::{grouped_cents, two_decimals};
use crate::costs;
use crate::flow::Flow;
use crate::outcome::{Outcome, PeriodCost};
use crate::scenario::{OTHER_CARRIER, Scenario};
use mo2fa_cost::report::html::{Block, Section};
use serde_json::json;
use std::fmt::Write as _;

/// The flows a run ran, in report order, with their names in tables.
pub(super) fn flows_run(sc: &Scenario) -> Vec<(Flow, &'static str)> {
    Flow::ALL
        .into_iter()
        .filter(|f| sc.run.flows.contains(f))
        .map(|f| (f, flow_label(f)))
        .collect()
}

/// A flow's name in tables and cards.
pub(super) fn flow_label(f: Flow) -> &'static str {
    match f {
        Flow::Sms => "SMS OTP flow",
        Flow::Reverse => "reverse flow",
    }
}

fn cents_str(c: i64) -> String {
    two_decimals(c as f64 / 100.0)
}

/// `cost_of_period_usd.<flow>`: the total and its parts, or null for a flow not run.
pub(super) fn period_json(p: &Option<PeriodCost>) -> serde_json::Value {
    let Some(p) = p else {
        return serde_json::Value::Null;
    };
    let mut m = serde_json::Map::new();
    m.insert("total".into(), json!(cents_str(p.total_cents())));
    for (key, _, c) in p.parts() {
        m.insert(key.into(), json!(cents_str(c)));
    }
    // Not a part: claimed from the vendor afterwards, not taken off the total.
    m.insert(
        "vendor_credit_claimable".into(),
        json!(cents_str(p.vendor_credit_cents)),
    );
    serde_json::Value::Object(m)
}

/// The table of parts: one row per part that is non-zero in some flow, then the total; cells
/// with thousands separators.
fn parts_rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let flows = flows_run(sc);
    let mut headers = vec!["part".to_string()];
    headers.extend(flows.iter().map(|(_, l)| l.to_string()));
    let period: Vec<&PeriodCost> = flows
        .iter()
        .filter_map(|(f, _)| o.costs.period[*f].as_ref())
        .collect();
    let Some(first) = period.first() else {
        return (headers, Vec::new());
    };
    let mut rows = Vec::new();
    for (i, (_, label, _)) in first.parts().iter().enumerate() {
        let cells: Vec<i64> = period.iter().map(|p| p.parts()[i].2).collect();
        if cells.iter().all(|c| *c == 0) {
            continue;
        }
        let mut row = vec![label.to_string()];
        row.extend(cells.into_iter().map(grouped_cents));
        rows.push(row);
    }
    let mut total = vec!["cost of the period".to_string()];
    total.extend(period.iter().map(|p| grouped_cents(p.total_cents())));
    rows.push(total);
    if period.iter().any(|p| p.vendor_credit_cents > 0) {
        let mut credit = vec![CREDIT_LABEL.to_string()];
        credit.extend(period.iter().map(|p| grouped_cents(p.vendor_credit_cents)));
        rows.push(credit);
    }
    if let Some(r) = &sc.money.report {
        let mut row = vec![format!("cost of the period ({})", r.currency)];
        row.extend(
            period
                .iter()
                .map(|p| format!("{} {}", two_decimals(r.convert(p.total_usd())), r.currency)),
        );
        rows.push(row);
    }
    (headers, rows)
}

/// One row of the cost model's price table: fee, price, unit, where it comes from.
type PriceRow = [String; 4];

/// Every price and fee the cost of the period applies, named, for the run's countries.
fn price_rows(sc: &Scenario, o: &Outcome) -> Vec<PriceRow> {
    let Ok(model) = costs::model(sc) else {
        return Vec::new();
    };
    let date = model.snapshot.date();
    let list = format!("Twilio list price, snapshot {date}");
    let mut rows: Vec<PriceRow> = Vec::new();
    let row = |fee: String, usd: String, unit: &str, source: &str| {
        [fee, usd, unit.to_string(), source.to_string()]
    };
    for c in &o.counts.countries {
        rows.push(row(
            format!("SMS list price, {}", c.iso),
            format!("${:.5}", c.usd_per_segment),
            "per segment",
            &list,
        ));
    }
    for k in o.counts.carriers.iter().filter(|k| k.name != OTHER_CARRIER) {
        rows.push(row(
            format!("SMS price, carrier {} ({})", k.name, k.iso),
            format!("${:.5}", k.usd_per_segment),
            "per segment",
            "scenario [[carrier]] or scenarios/data/carrier_prices.csv",
        ));
    }
    for c in &o.counts.countries {
        if let Some(fee) = model.sms.carrier_fees_usd.get(&c.iso) {
            rows.push(row(
                format!("carrier fee, {}", c.iso),
                format!("${fee:.5}"),
                "per segment, on top of the list price",
                &model.prices_origin,
            ));
        }
    }
    rows.push(row(
        "Verify fee".into(),
        format!("${:.4}", model.sms.verify_fee_usd),
        "per successful SMS verification",
        &model.prices_origin,
    ));
    for c in o
        .counts
        .countries
        .iter()
        .filter(|c| c.inbound_sms_reverse > 0)
    {
        if let Some(p) = model.inbound_usd_per_message(&c.iso) {
            rows.push(row(
                format!("inbound SMS, {}", c.iso),
                format!("${p:.5}"),
                "per message a user sends",
                &model.prices_origin,
            ));
        }
    }
    rows.extend(fixed_and_defence_rows(sc, o, &model));
    rows
}

/// [`price_rows`]' monthly fees (the iMessage line, fixed fees), the defences' fees and CAPTCHA.
fn fixed_and_defence_rows(
    sc: &Scenario,
    o: &Outcome,
    model: &mo2fa_cost::PricedMix,
) -> Vec<PriceRow> {
    let mut rows: Vec<PriceRow> = Vec::new();
    let row = |fee: String, usd: String, unit: &str, source: &str| {
        [fee, usd, unit.to_string(), source.to_string()]
    };
    rows.push(row(
        "iMessage line".into(),
        format!("${:.2}", model.imessage.line_usd_per_month),
        &format!(
            "per line per month (one line per {} contacts a day), prorated",
            model.imessage.capacity_per_line_per_day
        ),
        &model.prices_origin,
    ));
    for f in &model.sms.fixed_fees {
        rows.push(row(
            format!("fixed fee: {}", f.name),
            format!("${:.2}", f.monthly_usd),
            &match &f.country {
                Some(c) => format!("per month while SMS go to {c}, prorated"),
                None => "per month while any SMS goes out, prorated".into(),
            },
            &model.prices_origin,
        ));
    }
    let fees: std::collections::BTreeSet<&str> = o
        .counts
        .defences
        .iter()
        .flat_map(|d| d.fees.keys().copied())
        .collect();
    for name in fees {
        rows.push(row(
            format!("SMS defence fee, {name}"),
            format!("${:.4}", crate::fees::fee_usd(name)),
            "per message screened",
            "assumed (no published price; docs/defences.md, \"Fees and credits\")",
        ));
    }
    if let Some(c) = &sc.defences.captcha {
        rows.push(row(
            "CAPTCHA check".into(),
            format!("${:.4}", c.usd_per_check.0),
            "per check (defender)",
            "scenario [defences.captcha]",
        ));
    }
    rows
}

/// The "What it cost" section: the headline and its parts per flow, then the prices.
pub(super) fn section(sc: &Scenario, o: &Outcome) -> Section {
    let (headers, rows) = parts_rows(sc, o);
    let numeric = vec![true; headers.len()]
        .into_iter()
        .enumerate()
        .map(|(i, n)| i > 0 && n)
        .collect();
    let prices = price_rows(sc, o);
    Section::new("cost", "What it cost")
        .push(Block::Paragraph(DEFINITION.into()))
        .push(Block::Table {
            caption: "Cost of the period and its parts (USD)".into(),
            headers,
            rows,
            numeric,
            collapsed: false,
        })
        .push(Block::Table {
            caption: "The cost model's prices and fees".into(),
            headers: vec![
                "fee".into(),
                "price (USD)".into(),
                "unit".into(),
                "source".into(),
            ],
            rows: prices.into_iter().map(Vec::from).collect(),
            numeric: vec![false, true, false, false],
            collapsed: true,
        })
}

/// The line of a vendor's credit (Twilio's Fraud Guard Promise), under the total.
pub(super) const CREDIT_LABEL: &str =
    "vendor credit, claimable afterwards (Fraud Guard Promise; not taken off the total)";

/// What "cost of the period" means, as the reports say it.
pub(super) const DEFINITION: &str = "Cost of the period: everything the SMS provider (Twilio list prices, carrier fees, Verify fees, inbound SMS) and the messaging provider (iMessage lines) would bill for the simulated period, with fixed fees prorated, plus the defender's own CAPTCHA checks and the SMS defences' own fees (assumed prices). A vendor's credit (Twilio's Fraud Guard Promise at Max) is its own line: it is claimed afterwards and not taken off the total. Every other money figure but that credit is one of its parts, and the parts add up to it (docs/metrics.md, docs/cost.md).";

/// summary.md's cost sections: the parts table and the price table.
pub(super) fn markdown(sc: &Scenario, o: &Outcome) -> String {
    let mut s = String::from("\n## Cost of the period\n\n");
    let _ = writeln!(s, "{DEFINITION}\n");
    let (headers, rows) = parts_rows(sc, o);
    md_table(&mut s, &headers, &rows, true);
    s.push_str("\n### The cost model's prices and fees\n\n");
    let prices: Vec<Vec<String>> = price_rows(sc, o).into_iter().map(Vec::from).collect();
    md_table(
        &mut s,
        &["fee", "price (USD)", "unit", "source"].map(String::from),
        &prices,
        false,
    );
    s
}

/// A Markdown table; `numeric` right-aligns every column but the first.
pub(super) fn md_table(s: &mut String, headers: &[String], rows: &[Vec<String>], numeric: bool) {
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let align: Vec<&str> = (0..headers.len())
        .map(|i| if numeric && i > 0 { "---:" } else { "---" })
        .collect();
    let _ = writeln!(s, "|{}|", align.join("|"));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
}

/// The console's cost lines: each flow's cost of the period, then its non-zero parts, dollars
/// only (no counts among them) and no thousands separators.
pub fn console_lines(o: &Outcome) -> String {
    let mut s = String::new();
    for f in Flow::ALL {
        let Some(p) = &o.costs.period[f] else {
            continue;
        };
        let _ = writeln!(
            s,
            "  {:<44} {:>14}",
            format!("cost of the period, {} (USD)", flow_label(f)),
            cents_str(p.total_cents())
        );
        for (_, label, c) in p.parts().into_iter().filter(|p| p.2 != 0) {
            let _ = writeln!(
                s,
                "    {:<42} {:>14}",
                format!("part: {label}"),
                cents_str(c)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Control, simulate};
    use std::sync::atomic::AtomicBool;

    /// Sums the parts of `cost_of_period_usd.<flow>` as printed.
    fn printed_parts_cents(v: &serde_json::Value) -> (i64, i64) {
        let m = v.as_object().expect("an object");
        let c = |s: &serde_json::Value| cents_of(s.as_str().expect("a string"));
        let parts: i64 = m
            .iter()
            .filter(|(k, _)| *k != "total")
            .map(|(_, v)| c(v))
            .sum();
        (parts, c(&m["total"]))
    }

    fn cents_of(s: &str) -> i64 {
        let (whole, frac) = s.split_once('.').expect("two decimals");
        let sign = if whole.starts_with('-') { -1 } else { 1 };
        sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100
            + frac.parse::<i64>().unwrap())
    }

    #[test]
    fn the_parts_add_up_to_the_cost_of_the_period_in_every_output() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scenarios/quickstart.toml"),
        )
        .unwrap()
        .replace("rate_per_s = 2.0", "rate_per_s = 0.2");
        let mut text = text;
        text.push_str(
            "\n[defences.captcha]\npass_bot = 0.5\npass_human_farm = 0.9\npass_legit = 0.99\nusd_per_check = 0.001\n",
        );
        let sc = Scenario::parse("q.toml", &text).expect("parses");
        let stop = AtomicBool::new(false);
        let o = simulate(
            &sc,
            7,
            &Control {
                interrupt: &stop,
                progress: &|_| {},
            },
        )
        .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&super::super::summary_json(&sc, "q", 7, &o)).unwrap();
        for flow in ["sms_flow", "reverse_flow"] {
            let v = &json["cost_of_period_usd"][flow];
            let (parts, total) = printed_parts_cents(v);
            assert_eq!(parts, total, "{flow}: {v}");
            assert!(total > 0, "{flow}");
        }
        let sms = o.costs.period[Flow::Sms].as_ref().unwrap();
        assert!(sms.captcha_cents > 0, "CAPTCHA is a part");
        assert!(sms.carrier_fees_cents > 0, "the US carrier fee is named");
        let list = super::super::cents(o.counts.totals.usd.usd_sms_flow);
        let parts_list = sms.legit_sms_list_cents + sms.pumped_sms_list_cents;
        assert!(
            (list - parts_list).abs() <= 1,
            "list price parts {parts_list} agree with the run's list-price spend {list}"
        );
        let model = o.costs.sms.as_ref().unwrap();
        assert!(
            (sms.total_usd() - model.total_usd - o.counts.totals.usd.usd_captcha_sms_flow).abs()
                < 0.05,
            "the headline is the cost model's total plus CAPTCHA"
        );
        let md = super::super::summary_md(&sc, "q", 7, &o);
        assert!(md.contains("| cost of the period |"), "{md}");
        assert!(md.contains("carrier fee, US"), "{md}");
        let console = console_lines(&o);
        assert!(
            console.contains("cost of the period, SMS OTP flow"),
            "{console}"
        );
        let separated = console
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && w[1] == b',');
        assert!(!separated, "no separators in the console: {console}");
    }
}
