//! The headline cards and the break-even say what the cost data says, as a new user meets
//! them: `mo2fa cost --mix us-eu.toml --fraud-share 0,0.1,0.2` with the default volume range
//! (from 1,000 a month). Every card names its fraud share; a break-even card agrees with the
//! first volume where the model's own evaluation makes reverse iMessage the cheaper method,
//! found here by walking volumes one by one (not with the crossing search the report uses);
//! the break-even labels on the charts neither overlap nor leave the plot.

use crate::sweep_of;
use mo2fa_cost::model::evaluate;
use mo2fa_cost::report::cost::CostReport;
use mo2fa_cost::report::currency::Currency;
use mo2fa_cost::report::{group_thousands, usd_label};
use mo2fa_cost::sweep::Sweep;

/// The value of the card whose label is exactly `label`.
fn card<'a>(html: &'a str, label: &str) -> &'a str {
    let tail = format!("</div><div class=\"l\">{label}</div>");
    let end = html
        .find(&tail)
        .unwrap_or_else(|| panic!("no card labelled {label:?}"));
    let start = html[..end].rfind("<div class=\"v\">").expect("card value") + 15;
    &html[start..end]
}

/// The first whole volume from 1 at which the model's evaluation has reverse iMessage strictly
/// cheaper, within `limit`.
fn first_cheaper(s: &Sweep, f: f64, limit: u32) -> Option<f64> {
    (1..=limit).map(f64::from).find(|&v| {
        let e = evaluate(&s.mix, v, f).expect("evaluate");
        e.reverse.total_usd < e.sms.total_usd
    })
}

#[test]
fn every_card_names_its_fraud_share_and_agrees_with_the_model() {
    let s = sweep_of("us-eu.toml", 1e3, vec![0.0, 0.1, 0.2]);
    let html = CostReport::render(&s, None, None).html;
    for r in &s.per_fraud {
        let f = format!("{:.0}%", r.fraud_share * 100.0);
        let e = evaluate(&s.mix, 1e6, r.fraud_share).expect("evaluate");
        assert_eq!(
            card(&html, &format!("SMS OTP at 1M/mo, fraud share {f}")),
            usd_label(e.sms.total_usd)
        );
        assert_eq!(
            card(
                &html,
                &format!("Reverse iMessage at 1M/mo, fraud share {f}")
            ),
            usd_label(e.reverse.total_usd)
        );
        // The crossing lies below the range's start (1,000) at 10 % and 20 %: the card gives
        // it rather than "always cheaper", as the close-up chart shows it.
        let walked = first_cheaper(&s, r.fraud_share, 100_000).expect("a crossing");
        let shown = card(
            &html,
            &format!("Reverse iMessage break-even, fraud share {f}"),
        );
        let exact = shown.trim_end_matches("/mo").replace(',', "");
        let rounded: f64 = exact.parse().unwrap_or_else(|_| panic!("{shown}"));
        // The card rounds the exact crossing x to a whole number; the model is first cheaper
        // at the next whole volume above x: walked - 1 <= x < walked.
        assert!(
            rounded >= walked - 1.5 && rounded <= walked + 0.5,
            "fraud {f}: card {shown}, model first cheaper at {walked}"
        );
        assert_ne!(shown, "always cheaper");
    }
    // The no-fraud case has its own card, and the 20 % one is labelled as such.
    assert_eq!(card(&html, "SMS OTP at 1M/mo, fraud share 0%"), "$79,255");
    assert_eq!(card(&html, "SMS OTP at 1M/mo, fraud share 20%"), "$209,462");
    assert!(html.contains("below 1,000, where the chosen volume range starts"));
}

#[test]
fn reverse_cards_name_the_fraud_share_when_pumping_reaches_the_fallback() {
    // global.toml: outbound SMS fallback everywhere, so the reverse cost moves with fraud.
    let s = sweep_of("global.toml", 1e3, vec![0.0, 0.2]);
    let html = CostReport::render(&s, None, None).html;
    let at = |f: f64| {
        evaluate(&s.mix, 1e6, f)
            .expect("evaluate")
            .reverse
            .total_usd
    };
    assert_ne!(at(0.0), at(0.2));
    assert_eq!(
        card(&html, "Reverse iMessage at 1M/mo, fraud share 0%"),
        usd_label(at(0.0))
    );
    assert_eq!(
        card(&html, "Reverse iMessage at 1M/mo, fraud share 20%"),
        usd_label(at(0.2))
    );
}

#[test]
fn second_currency_is_an_added_view() {
    let s = sweep_of("us-eu.toml", 1e3, vec![0.2]);
    let eur = Currency::new("EUR", 0.5, "2026-05-25", "test rate").expect("currency");
    let with = CostReport::render(&s, None, Some(&eur));
    let without = CostReport::render(&s, None, None);
    let usd = evaluate(&s.mix, 1e6, 0.2).expect("evaluate").sms.total_usd;
    let want = format!("{} ({} EUR)", usd_label(usd), group_thousands(usd * 0.5));
    let eur = format!("{} EUR", group_thousands(usd * 0.5));
    assert_eq!(
        card(
            &with.html,
            &format!("SMS OTP at 1M/mo, fraud share 20% ({eur})")
        ),
        usd_label(usd)
    );
    assert!(with.summary_md.contains(&want), "{}", with.summary_md);
    assert!(
        with.summary_md
            .contains("EUR figures at 0.5 EUR per US dollar")
    );
    assert_eq!(with.csv, without.csv, "the CSV stays in USD");
    let j: serde_json::Value = serde_json::from_str(&with.results_json).expect("JSON");
    let k: serde_json::Value = serde_json::from_str(&without.results_json).expect("JSON");
    assert_eq!(
        j["fraud_shares"], k["fraud_shares"],
        "results.json stays in USD"
    );
    assert_eq!(j["report_currency"]["currency"], "EUR");
    assert_eq!(j["report_currency"]["per_usd"], 0.5);
    assert!(k.get("report_currency").is_none());
}

/// Marker labels of an SVG chart: (x from, x to, y), from their text element and the same
/// character width the charts lay out with.
fn marker_labels(svg: &str) -> Vec<(f64, f64, f64)> {
    const CHAR_W: f64 = 6.8;
    let mut out = Vec::new();
    for part in svg.split("<text ").skip(1) {
        if !part.contains("font-weight=\"600\" fill=") || !part.contains("paint-order") {
            continue;
        }
        let attr = |name: &str| -> f64 {
            let i = part.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            part[i..]
                .split('"')
                .next()
                .expect("value")
                .parse()
                .expect("number")
        };
        let text = &part[part.find('>').expect(">") + 1..part.find("</text>").expect("end")];
        let w = text.chars().count() as f64 * CHAR_W;
        let (x, y) = (attr("x"), attr("y"));
        if part.contains("text-anchor=\"end\"") {
            out.push((x - w, x, y));
        } else {
            out.push((x, x + w, y));
        }
    }
    out
}

#[test]
fn break_even_labels_neither_overlap_nor_clip() {
    // Six fraud shares, break-evens close together on the log axis.
    let s = sweep_of("us-eu.toml", 1e2, vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    let html = CostReport::render(&s, None, None).html;
    let charts: Vec<&str> = html.split("<svg").skip(1).take(2).collect();
    assert_eq!(charts.len(), 2, "the curves and their close-up");
    for svg in charts {
        let labels = marker_labels(svg);
        assert_eq!(labels.len(), 6, "one label per fraud share: {labels:?}");
        for (i, a) in labels.iter().enumerate() {
            assert!(
                a.0 >= 80.0 && a.1 <= 776.0 + 0.1,
                "label leaves the plot: {a:?}"
            );
            for b in &labels[i + 1..] {
                let same_row = (a.2 - b.2).abs() < 1.0;
                assert!(
                    !(same_row && a.0 < b.1 && b.0 < a.1),
                    "labels overlap: {a:?} {b:?}"
                );
            }
        }
    }
}

#[test]
fn labels_of_one_break_even_stack_on_adjacent_rows() {
    // global.toml: pumping moves both curves together, so both fraud shares break even at the
    // same volume; their labels share a leader line and take the two top rows.
    let s = sweep_of("global.toml", 1e3, vec![0.0, 0.2]);
    let html = CostReport::render(&s, None, None).html;
    for svg in html.split("<svg").skip(1).take(2) {
        let labels = marker_labels(svg);
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!((labels[1].2 - labels[0].2).abs() == 18.0, "{labels:?}");
    }
}
