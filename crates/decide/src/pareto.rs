//! A sweep's `report.html`: the Pareto chart of pumped dollars that got through against legit
//! users blocked (one point per setting, its mean across seeds with the 95 % intervals as
//! whiskers; the Pareto-optimal settings marked and joined), and the table of settings.
//!
//! A setting is Pareto-optimal when no other setting has both fewer legit users blocked and
//! fewer pumped dollars, one of them strictly: moving off it costs on one axis.

use crate::metrics::{pareto_axes, show};
use crate::sweep::{Manifest, Row};
use mo2fa_cost::report::escape;
use mo2fa_cost::report::html::{Block, Page, Section};
use std::fmt::Write as _;

/// Marks the rows no other row dominates (rows without runs are never optimal).
pub fn mark_optimal(rows: &mut [Row]) {
    let points: Vec<Option<(f64, f64)>> = rows
        .iter()
        .map(|r| Some((r.legit_blocked?.mean, r.pumped_usd?.mean)))
        .collect();
    for (i, row) in rows.iter_mut().enumerate() {
        let Some((x, y)) = points[i] else { continue };
        row.optimal = !points
            .iter()
            .flatten()
            .any(|&(qx, qy)| qx <= x && qy <= y && (qx < x || qy < y));
    }
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 56.0;

/// A scale from [0, max] to pixels, with round tick values.
fn ticks(max: f64) -> (f64, Vec<f64>) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let n = (top / step).round() as usize;
    (top, (0..=n).map(|i| i as f64 * step).collect())
}

/// Grid lines, tick labels and axis titles.
fn frame(s: &mut String, xt: &[f64], yt: &[f64], px: &dyn Fn(f64) -> f64, py: &dyn Fn(f64) -> f64) {
    for x in xt {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
            px(*x),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            escape(&show(*x))
        );
    }
    for y in yt {
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\">${4}</text>",
            py(*y),
            W - RIGHT,
            LEFT - 6.0,
            py(*y) + 4.0,
            escape(&show(*y))
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">legit users blocked (mean per run)</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">pumped USD that got through (mean per run)</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 12.0,
        TOP + (H - TOP - BOTTOM) / 2.0
    );
}

/// The chart as inline SVG (deterministic: positions rounded to 0.1 px).
pub fn chart(rows: &[Row]) -> String {
    let pts: Vec<(&Row, f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r, r.legit_blocked?.mean, r.pumped_usd?.mean)))
        .collect();
    let hi = |f: &dyn Fn(&Row) -> Option<f64>| rows.iter().filter_map(f).fold(0.0f64, f64::max);
    let xmax = hi(&|r| r.legit_blocked.map(|e| e.ci95.map_or(e.mean, |c| c.1)));
    let ymax = hi(&|r| r.pumped_usd.map(|e| e.ci95.map_or(e.mean, |c| c.1)));
    let (xtop, xt) = ticks(xmax);
    let (ytop, yt) = ticks(ymax);
    let px = |x: f64| LEFT + (x / xtop).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y / ytop).clamp(0.0, 1.0) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"Pareto chart: pumped USD against legit users blocked\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\">"
    );
    frame(&mut s, &xt, &yt, &px, &py);
    // The frontier: optimal points by legit users blocked.
    let mut front: Vec<(f64, f64)> = pts
        .iter()
        .filter(|(r, _, _)| r.optimal)
        .map(|(_, x, y)| (*x, *y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
            path.join(" ")
        );
    }
    for (r, x, y) in &pts {
        let colour = if r.optimal { "#c0392b" } else { "#7f8c8d" };
        if let Some((lo, hi)) = r.legit_blocked.and_then(|e| e.ci95) {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{2:.1}\" x2=\"{:.1}\" y2=\"{2:.1}\" stroke=\"{colour}\" stroke-opacity=\"0.5\"/>",
                px(lo.max(0.0)),
                px(hi),
                py(*y)
            );
        }
        if let Some((lo, hi)) = r.pumped_usd.and_then(|e| e.ci95) {
            let _ = write!(
                s,
                "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{colour}\" stroke-opacity=\"0.5\"/>",
                px(*x),
                py(lo.max(0.0)),
                py(hi)
            );
        }
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{colour}\"><title>{}</title></circle>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
            px(*x),
            py(*y),
            if r.optimal { "5" } else { "3.5" },
            escape(&format!(
                "#{} {}: {} legit blocked, ${} pumped{}",
                r.setting,
                r.label,
                show(*x),
                show(*y),
                if r.optimal { " (Pareto-optimal)" } else { "" }
            )),
            px(*x) + 6.0,
            py(*y) - 6.0,
            r.setting
        );
    }
    s.push_str("</svg>");
    s
}

fn interval(e: Option<crate::stats::Estimate>, money: bool) -> String {
    let d = if money { "$" } else { "" };
    match e {
        None => String::new(),
        Some(e) => match e.ci95 {
            Some((lo, hi)) => format!("{d}{} [{d}{}, {d}{}]", show(e.mean), show(lo), show(hi)),
            None => format!("{d}{}", show(e.mean)),
        },
    }
}

/// The whole page.
pub fn html(m: &Manifest, rows: &[Row]) -> String {
    let scope = match m.shard {
        Some(s) => format!(
            "shard {}/{} of the sweep: figures over this shard's {} runs only; \
             `mo2fa sweep merge` gives the whole sweep",
            s.index, s.count, m.runs
        ),
        None if m.interrupted => format!(
            "interrupted: {} of {} runs finished; figures over those",
            m.runs, m.runs_total
        ),
        None => format!("{} runs", m.runs),
    };
    let subtitle = format!(
        "scenario {}, {} settings × {} seeds (sweep {}); {scope}",
        m.scenario,
        m.settings.len(),
        m.seeds.len(),
        m.sweep_id
    );
    let optimal: Vec<String> = rows
        .iter()
        .filter(|r| r.optimal)
        .map(|r| format!("#{} {}", r.setting, r.label))
        .collect();
    let chart = Section::new("pareto", "Pumped dollars against legit users blocked")
        .push(Block::Paragraph(format!(
            "One point per setting: its mean per run across seeds, whiskers its 95 % t \
             interval. Red points are Pareto-optimal (no other setting blocks fewer legit users \
             and lets fewer pumped dollars through); the dashed line joins them. Pumped USD is \
             the sum of {}; legit users blocked the sum of {} (docs/metrics.md).",
            pareto_axes::PUMPED_USD.join(" and "),
            pareto_axes::LEGIT_BLOCKED.join(", ")
        )))
        .push(Block::Svg(chart(rows)))
        .push(Block::List(if optimal.is_empty() {
            vec!["No setting finished a run.".into()]
        } else {
            optimal
                .iter()
                .map(|o| format!("Pareto-optimal: {o}"))
                .collect()
        }));
    let table = Block::Table {
        caption: "Each setting: mean per run [95 % t interval across seeds]".into(),
        headers: [
            "#",
            "setting",
            "runs",
            "pumped USD",
            "legit users blocked",
            "Pareto-optimal",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.setting.to_string(),
                    r.label.clone(),
                    r.runs.to_string(),
                    interval(r.pumped_usd, true),
                    interval(r.legit_blocked, false),
                    if r.optimal { "yes" } else { "" }.into(),
                ]
            })
            .collect(),
        numeric: vec![true, false, true, true, true, false],
        collapsed: false,
    };
    Page {
        title: format!("Sweep of {}", m.scenario),
        subtitle,
        sections: vec![chart, Section::new("settings", "Settings").push(table)],
        footer: vec![
            "Intervals: mean ± t(0.975, n−1)·s/√n over the n seeds of a setting (Student's t, \
             critical values from the NIST/SEMATECH e-Handbook, table 1.3.6.7.2); none with one \
             seed. sweep.csv has every metric of summary.json this way."
                .into(),
            format!("Seeds: {:?}.", m.seeds),
        ],
    }
    .to_html()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::estimate;

    fn row(i: usize, legit: f64, usd: f64) -> Row {
        Row {
            setting: i,
            label: format!("s{i}"),
            values: vec![],
            runs: 1,
            stats: Default::default(),
            pumped_usd: estimate(&[usd]),
            legit_blocked: estimate(&[legit]),
            optimal: false,
        }
    }

    #[test]
    fn dominated_settings_are_not_optimal() {
        let mut rows = vec![
            row(0, 0.0, 100.0),
            row(1, 5.0, 10.0),
            row(2, 6.0, 50.0), // dominated by 1
            row(3, 5.0, 10.0), // equal to 1: both optimal
            row(4, 20.0, 0.0),
        ];
        mark_optimal(&mut rows);
        let opt: Vec<bool> = rows.iter().map(|r| r.optimal).collect();
        assert_eq!(opt, [true, true, false, true, true]);
        let svg = chart(&rows);
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains("polyline"));
    }
}
