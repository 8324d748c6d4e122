//! Per-carrier counts (summary.json's `carriers[]`) as a table in summary.md and report.html.

use super::cost::{flows_run, md_table};
use super::grouped;
use crate::flow::Flow;
use crate::outcome::{CarrierStats, Outcome};
use crate::scenario::Scenario;
use mo2fa_cost::report::html::{Block, Section};

fn rows(sc: &Scenario, o: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    let flows = flows_run(sc);
    let mut headers: Vec<String> = vec!["country".into(), "carrier".into(), "share".into()];
    type Pick = fn(&CarrierStats, Flow) -> u64;
    let cols: [(&str, Pick); 4] = [
        ("legit SMS", |k, f| match f {
            Flow::Sms => k.sms_legit_smsflow,
            Flow::Reverse => k.sms_legit_reverse,
        }),
        ("pumped SMS", |k, f| match f {
            Flow::Sms => k.pumped_smsflow,
            Flow::Reverse => k.pumped_reverse,
        }),
        ("verified", |k, f| match f {
            Flow::Sms => k.verified_smsflow,
            Flow::Reverse => k.verified_reverse,
        }),
        ("blocked", |k, f| match f {
            Flow::Sms => k.blocked_smsflow,
            Flow::Reverse => k.blocked_reverse,
        }),
    ];
    for (_, label) in &flows {
        for (c, _) in &cols {
            headers.push(format!("{c}, {label}"));
        }
    }
    let rows = o
        .counts
        .carriers
        .iter()
        .map(|k| {
            let mut r = vec![
                k.iso.clone(),
                k.name.clone(),
                format!("{:.0} %", k.share * 100.0),
            ];
            for (f, _) in &flows {
                r.extend(cols.iter().map(|(_, pick)| grouped(pick(k, *f))));
            }
            r
        })
        .collect();
    (headers, rows)
}

pub(super) fn section(sc: &Scenario, o: &Outcome) -> Section {
    let (headers, rows) = rows(sc, o);
    let numeric = (0..headers.len()).map(|i| i > 1).collect();
    Section::new("carriers", "Per carrier").push(Block::Table {
        caption: "SMS per carrier ((other): the country's numbers outside listed carriers)".into(),
        headers,
        rows,
        numeric,
        collapsed: true,
    })
}

pub(super) fn markdown(sc: &Scenario, o: &Outcome) -> String {
    let mut s = String::from("\n## Per carrier\n\n");
    let (h, r) = rows(sc, o);
    md_table(&mut s, &h, &r, true);
    s
}
