//! summary.md and report.html, both written from summary.json's values so the three files
//! cannot disagree. The page is `mo2fa_cost::report::html`'s: self-contained, no scripts.

use crate::run::Imported;
use mo2fa_cost::report::html::{Block, Page, Section};
use serde_json::Value;
use std::fmt::Write as _;

/// A table of a JSON array: (header, key) per column; numbers right-aligned.
struct Table {
    caption: &'static str,
    cols: &'static [(&'static str, &'static str)],
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

impl Table {
    fn rows(&self, arr: &Value) -> Vec<Vec<String>> {
        arr.as_array()
            .map(|a| {
                a.iter()
                    .map(|row| self.cols.iter().map(|(_, k)| cell(&row[*k])).collect())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn html(&self, arr: &Value) -> Block {
        let rows = self.rows(arr);
        let numeric = self
            .cols
            .iter()
            .enumerate()
            .map(|(i, _)| rows.first().is_some_and(|r| r[i].parse::<f64>().is_ok()))
            .collect();
        Block::Table {
            caption: self.caption.to_string(),
            headers: self.cols.iter().map(|(h, _)| h.to_string()).collect(),
            rows,
            numeric,
            collapsed: false,
        }
    }

    fn md(&self, arr: &Value, out: &mut String) {
        let rows = self.rows(arr);
        if rows.is_empty() {
            out.push_str("(none)\n\n");
            return;
        }
        let _ = writeln!(out, "{}:\n", self.caption);
        let _ = writeln!(
            out,
            "| {} |",
            self.cols
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(out, "|{}", "---|".repeat(self.cols.len()));
        for r in rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out.push('\n');
    }
}

const COUNTRY: Table = Table {
    caption: "Spend by country",
    cols: &[
        ("country", "country"),
        ("SMS", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("converted", "converted"),
        ("unconverted", "unconverted"),
        ("conversion", "conversion"),
    ],
};
const DAY: Table = Table {
    caption: "Spend by day (UTC)",
    cols: &[
        ("day", "day"),
        ("SMS", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("converted", "converted"),
        ("unconverted", "unconverted"),
    ],
};
const RANGE: Table = Table {
    caption: "Top number ranges by spend (masked)",
    cols: &[
        ("range", "range"),
        ("SMS", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("converted", "converted"),
        ("unconverted", "unconverted"),
    ],
};
const CARRIER: Table = Table {
    caption: "Top carriers by spend (mcc/mnc)",
    cols: &[
        ("mcc", "mcc"),
        ("mnc", "mnc"),
        ("SMS", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("unconverted", "unconverted"),
    ],
};
const IPS: Table = Table {
    caption: "Top client address blocks by spend",
    cols: &[
        ("block", "block"),
        ("SMS", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("unconverted", "unconverted"),
    ],
};
const PUMP_COUNTRY: Table = Table {
    caption: "Likely pumping by country",
    cols: &[
        ("country", "country"),
        ("SMS", "sms"),
        ("spend USD", "spend_usd"),
    ],
};
const PUMP_DAY: Table = Table {
    caption: "Likely pumping by day",
    cols: &[("day", "day"), ("SMS", "sms"), ("spend USD", "spend_usd")],
};
const RULES: Table = Table {
    caption: "By rule",
    cols: &[
        ("rule", "rule"),
        ("blocked", "sms_sent"),
        ("spend USD", "spend_usd"),
        ("converted (legit)", "converted"),
        ("unconverted", "unconverted"),
        ("first block", "first_block"),
        ("last block", "last_block"),
    ],
};
const REVERSE: Table = Table {
    caption: "The same traffic through reverse iMessage (cost model)",
    cols: &[
        ("fallback", "fallback"),
        ("total USD", "total_usd"),
        ("outbound SMS USD", "legit_sms_usd"),
        ("pumped SMS USD", "pumped_sms_usd"),
        ("inbound SMS USD", "inbound_sms_usd"),
        ("Verify fees USD", "verify_fees_usd"),
        ("iMessage lines USD", "imessage_lines_usd"),
    ],
};
const SHARES: Table = Table {
    caption: "iMessage share assumed per country",
    cols: &[
        ("country", "country"),
        ("share", "share"),
        ("source", "source"),
    ],
};
const BAD: Table = Table {
    caption: "First bad rows",
    cols: &[
        ("file", "file"),
        ("line", "line"),
        ("field", "field"),
        ("problem", "message"),
    ],
};

fn figures(j: &Value) -> Vec<(String, String)> {
    vec![
        ("SMS sent".into(), cell(&j["sms_sent"])),
        ("spend (USD)".into(), cell(&j["spend_usd"])),
        ("conversion".into(), cell(&j["conversion"])),
        (
            "likely pumping SMS".into(),
            cell(&j["likely_pumping"]["sms"]),
        ),
        (
            "likely pumping spend (USD)".into(),
            cell(&j["likely_pumping"]["spend_usd"]),
        ),
        ("bad rows".into(), cell(&j["bad_rows"]["count"])),
    ]
}

fn subtitle(im: &Imported, j: &Value) -> String {
    format!(
        "{} file(s), format {}, {} to {}; numbers {}",
        im.files.len(),
        im.format.name(),
        cell(&j["period"]["first"]),
        cell(&j["period"]["last"]),
        cell(&j["privacy"]["numbers"])
    )
}

fn inferred_line(j: &Value) -> String {
    let i = &j["inferred"];
    format!(
        "Inferred, not in the log: country from the calling code for {} sends ({} from a shared code such as +1), price from the dated list-price table for {} ({} at its \"Unknown\" row), segments taken as 1 for {}, conversion read off a failed delivery for {}.",
        cell(&i["country"]),
        cell(&i["country_shared_code"]),
        cell(&i["price_usd"]),
        cell(&i["price_unlisted"]),
        cell(&i["segments"]),
        cell(&i["verified"])
    )
}

/// summary.md.
pub fn markdown(im: &Imported, j: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Imported traffic\n\n{}\n", subtitle(im, j));
    for (k, v) in figures(j) {
        let _ = writeln!(out, "- {k}: {v}");
    }
    let _ = writeln!(out, "\n{}\n\n## Spend\n", inferred_line(j));
    for (t, key) in [
        (&COUNTRY, "by_country"),
        (&DAY, "by_day"),
        (&RANGE, "top_ranges"),
        (&CARRIER, "by_carrier"),
        (&IPS, "top_ip_blocks"),
    ] {
        t.md(&j[key], &mut out);
    }
    let _ = writeln!(
        out,
        "## Likely pumping\n\nRule: {}.\n",
        cell(&j["likely_pumping"]["rule"])
    );
    PUMP_COUNTRY.md(&j["likely_pumping"]["by_country"], &mut out);
    PUMP_DAY.md(&j["likely_pumping"]["by_day"], &mut out);
    out.push_str("## Defences replayed\n\n");
    for r in j["defences"]["replays"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "### {}\n\nBlocked {} of {} sends (${} of ${}); legit (converted) sends blocked: {}, distinct legit numbers hit: {}; likely pumping (unconverted) blocked: {}.\n",
            cell(&r["name"]),
            cell(&r["blocked"]["sms_sent"]),
            cell(&r["judged"]["sms_sent"]),
            cell(&r["blocked"]["spend_usd"]),
            cell(&r["judged"]["spend_usd"]),
            cell(&r["legit_blocked"]),
            cell(&r["legit_numbers_hit"]),
            cell(&r["blocked_unconverted_likely_pumping"])
        );
        RULES.md(&r["by_rule"], &mut out);
    }
    let _ = writeln!(
        out,
        "## Reverse iMessage\n\nThe SMS flow by the same model: ${} (the log's actual spend: ${}).\n",
        cell(&j["reverse"]["sms_flow_model"]["total_usd"]),
        cell(&j["spend_usd"])
    );
    REVERSE.md(&j["reverse"]["reverse_flow"], &mut out);
    SHARES.md(&j["reverse"]["imessage_shares"], &mut out);
    out.push_str("## Bad rows\n\n");
    BAD.md(&j["bad_rows"]["first"], &mut out);
    out
}

/// report.html.
pub fn page(im: &Imported, j: &Value) -> String {
    let mut sections = vec![
        Section::new("overview", "Overview")
            .push(Block::KeyFigures(figures(j)))
            .push(Block::Paragraph(inferred_line(j))),
        Section::new("spend", "Spend").push_all([
            COUNTRY.html(&j["by_country"]),
            DAY.html(&j["by_day"]),
            RANGE.html(&j["top_ranges"]),
            CARRIER.html(&j["by_carrier"]),
            IPS.html(&j["top_ip_blocks"]),
        ]),
        Section::new("pumping", "Likely pumping").push_all([
            Block::Paragraph(format!("Rule: {}.", cell(&j["likely_pumping"]["rule"]))),
            PUMP_COUNTRY.html(&j["likely_pumping"]["by_country"]),
            PUMP_DAY.html(&j["likely_pumping"]["by_day"]),
        ]),
    ];
    let mut defences = Section::new("defences", "Defences replayed");
    for r in j["defences"]["replays"].as_array().into_iter().flatten() {
        defences = defences
            .push(Block::Paragraph(format!(
                "{}: blocked {} of {} sends (${}); legit (converted) sends blocked {}, distinct legit numbers hit {}; likely pumping blocked {}.",
                cell(&r["name"]), cell(&r["blocked"]["sms_sent"]), cell(&r["judged"]["sms_sent"]), cell(&r["blocked"]["spend_usd"]),
                cell(&r["legit_blocked"]), cell(&r["legit_numbers_hit"]), cell(&r["blocked_unconverted_likely_pumping"])
            )))
            .push(RULES.html(&r["by_rule"]));
    }
    sections.push(defences);
    sections.push(Section::new("reverse", "Reverse iMessage").push_all([
        Block::Paragraph(format!(
            "The SMS flow by the same model: ${}; the log's actual spend: ${}.",
            cell(&j["reverse"]["sms_flow_model"]["total_usd"]),
            cell(&j["spend_usd"])
        )),
        REVERSE.html(&j["reverse"]["reverse_flow"]),
        SHARES.html(&j["reverse"]["imessage_shares"]),
    ]));
    sections.push(Section::new("bad", "Bad rows").push(BAD.html(&j["bad_rows"]["first"])));
    Page {
        title: "Imported traffic".into(),
        subtitle: subtitle(im, j),
        sections,
        footer: vec!["Written by mo2fa import on this machine; nothing was sent anywhere. docs/import.md says what each figure means.".into()],
    }
    .to_html()
}
