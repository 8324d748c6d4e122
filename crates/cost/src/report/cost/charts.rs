//! The charts of a cost report: cost curves on log axes with the break-evens marked and a linear
//! close-up around them, cost by country, cost by fraud share, and the illustrative episode
//! (pumped SMS and spend over time, its timeline). Each returns a chart from [`crate::report::svg`].

use super::text::{break_even_volume, breakdown_result, country_rows, describe, pct};
use crate::episode::Episode;
use crate::model::{BreakEven, CostCurve, evaluate};
use crate::report::svg::{
    Axis, Band, BarChart, BarSeries, Format, Lane, LineChart, Marker, Panel, Scale, Series, Span,
    TimeSeriesChart, Timeline,
};
use crate::report::{group_thousands, short_count};
use crate::sweep::{FraudResult, Sweep};

/// Colours of the country and fraud-share charts, which have one SMS and one reverse series.
const SMS_COLOR: &str = "#d55e00";
const REV_COLOR: &str = "#0072b2";
/// One colour family per fraud share on the cost-curve charts (Okabe–Ito): its SMS OTP line is
/// solid and its reverse iMessage line dashed in the same colour, so each pair reads together.
const FAMILIES: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f", "#000000",
];
/// The one reverse line drawn when pumping cannot move it (the same at every fraud share).
const SHARED_REVERSE: &str = "#333333";
/// Line steps drawn exactly (as vertical jumps) on the cost-curve chart; beyond them a step is
/// too small to see on a log axis and the dense grid is enough.
const DRAWN_STEPS: u64 = 200;

/// Chart titles, shared with tests so they can look for them.
pub const TITLE_CURVES: &str = "Monthly cost by volume";
pub const TITLE_ZOOM: &str = "Around the break-even (linear axes)";
pub const TITLE_COUNTRY: &str = "Cost by country";
pub const TITLE_FRAUD: &str = "Monthly cost by fraud share";
pub const TITLE_EPISODE: &str = "Pumped SMS and spend over time";
pub const TITLE_TIMELINE: &str = "Attack and defence timeline";

/// Whether the reverse curve is the same at every fraud share (pumping cannot reach it).
fn reverse_invariant(sweep: &Sweep) -> bool {
    let first = sweep.per_fraud.first().map(|r| r.reverse);
    sweep.per_fraud.iter().all(|r| Some(r.reverse) == first)
}

fn curve_points(c: &CostCurve, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let mut xs: Vec<f64> = Vec::new();
    let (l0, l1) = (lo.log10(), hi.log10());
    let n = ((l1 - l0) * 40.0).ceil().max(1.0) as u32;
    for i in 0..=n {
        xs.push(10f64.powf(l0 + (l1 - l0) * f64::from(i) / f64::from(n)));
    }
    if let Some(step) = c.lines {
        let first = (lo / step.verifications_per_line).ceil() as u64;
        for k in first.max(1)..first.max(1) + DRAWN_STEPS {
            let v = k as f64 * step.verifications_per_line;
            if v >= hi {
                break;
            }
            xs.push(v);
            xs.push(v * (1.0 + 1e-9));
        }
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter().map(|v| (v, c.at(v))).collect()
}

fn break_even_marker(r: &FraudResult, color: &str, label_f: bool) -> Option<Marker> {
    let (v, what) = match r.break_even {
        BreakEven::At { first, .. } => (first, "break-even"),
        BreakEven::SmsFrom { sms_from } => (sms_from, "SMS cheaper above"),
        BreakEven::Always | BreakEven::Never => return None,
    };
    let suffix = if label_f {
        format!(" (fraud {})", pct(r.fraud_share))
    } else {
        String::new()
    };
    Some(Marker {
        x: v,
        y: r.sms.at(v),
        label: format!("{what} {}/mo{suffix}", group_thousands(v)),
        color: color.to_string(),
    })
}

/// The colour of fraud share number `i` on the cost-curve charts.
pub(super) fn family(i: usize) -> &'static str {
    FAMILIES[i % FAMILIES.len()]
}

/// The SMS and reverse series of both cost charts, with the SMS break-evens, so the two charts
/// keep the same colours, order and markers; `points` samples one cost curve for the chart's
/// axes. Each fraud share's pair shares a colour and a legend row: SMS OTP solid, reverse
/// iMessage dashed. When pumping cannot move the reverse curve it is drawn once, last, in a
/// neutral colour.
fn cost_series(
    sweep: &Sweep,
    points: impl Fn(&CostCurve) -> Vec<(f64, f64)>,
) -> (Vec<Series>, Vec<Marker>) {
    let same_rev = reverse_invariant(sweep);
    let many = sweep.per_fraud.len() > 1;
    let mut series = Vec::new();
    let mut markers = Vec::new();
    for (i, r) in sweep.per_fraud.iter().enumerate() {
        let color = family(i);
        let f = pct(r.fraud_share);
        let sms_name = if many || r.fraud_share > 0.0 {
            format!("SMS OTP, fraud {f}")
        } else {
            String::from("SMS OTP")
        };
        series.push(Series::new(&sms_name, color, points(&r.sms)).legend_row());
        if !same_rev {
            series.push(
                Series::new(
                    &format!("Reverse iMessage, fraud {f}"),
                    color,
                    points(&r.reverse),
                )
                .dashed(),
            );
        }
        markers.extend(break_even_marker(r, color, many));
    }
    if same_rev && let Some(r) = sweep.per_fraud.first() {
        let name = if many {
            "Reverse iMessage, every fraud share (pumping cannot reach it)"
        } else {
            "Reverse iMessage"
        };
        series.push(
            Series::new(name, SHARED_REVERSE, points(&r.reverse))
                .dashed()
                .legend_row(),
        );
    }
    (series, markers)
}

/// The log-log cost-curve chart with break-evens marked.
pub fn curve_chart(sweep: &Sweep) -> LineChart {
    let (series, markers) = cost_series(sweep, |c| curve_points(c, sweep.lo, sweep.hi));
    let be: Vec<String> = sweep
        .per_fraud
        .iter()
        .map(|r| format!("fraud share {}: {}", pct(r.fraud_share), describe(r, sweep)))
        .collect();
    LineChart {
        id: String::from("curves"),
        title: String::from(TITLE_CURVES),
        description: format!(
            "Monthly cost in USD of SMS OTP and reverse iMessage verification from {} to {} \
verifications a month, both axes logarithmic. {}.",
            short_count(sweep.lo),
            short_count(sweep.hi),
            be.join("; ")
        ),
        x: Axis::new(
            "Verifications per month (log scale)",
            Scale::Log,
            Format::Count,
        )
        .with_range(sweep.lo, sweep.hi),
        y: Axis::new("USD per month (log scale)", Scale::Log, Format::Usd),
        series,
        markers,
        bands: Vec::new(),
    }
}

/// Linear-axis close-up of the volumes up to 2.5× the furthest break-even, where the log chart
/// squeezes the crossing into a corner.
/// `None` when no fraud share has a break-even in the range.
pub fn zoom_chart(sweep: &Sweep) -> Option<LineChart> {
    let points: Vec<f64> = sweep
        .per_fraud
        .iter()
        .filter_map(|r| break_even_volume(&r.break_even))
        .collect();
    let furthest = points.iter().copied().fold(f64::NAN, f64::max);
    if !furthest.is_finite() {
        return None;
    }
    let top = (furthest * 2.5).min(sweep.hi).max(furthest * 1.2);
    let linear = |c: &CostCurve| {
        let mut xs: Vec<f64> = (0..=400).map(|i| top * f64::from(i) / 400.0).collect();
        if let Some(l) = c.lines {
            let mut k = 1u64;
            while (k as f64) * l.verifications_per_line < top && k <= DRAWN_STEPS {
                let v = k as f64 * l.verifications_per_line;
                xs.push(v);
                xs.push(v * (1.0 + 1e-9));
                k += 1;
            }
        }
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs.into_iter()
            .filter(|v| *v > 0.0)
            .map(|v| (v, c.at(v)))
            .collect::<Vec<_>>()
    };
    let (series, markers) = cost_series(sweep, linear);
    Some(LineChart {
        id: String::from("zoom"),
        title: String::from(TITLE_ZOOM),
        description: format!(
            "Monthly cost from 0 to {} verifications a month on linear axes; reverse iMessage \
steps up by one line price each time the peak day outgrows its lines.",
            group_thousands(top)
        ),
        x: Axis::new("Verifications per month", Scale::Linear, Format::Count).with_range(0.0, top),
        y: Axis::new("USD per month", Scale::Linear, Format::Usd),
        series,
        markers,
        bands: Vec::new(),
    })
}

/// Horizontal bars: cost per country at the reference volume.
pub fn country_chart(sweep: &Sweep) -> BarChart {
    let rows = country_rows(sweep);
    let f = breakdown_result(sweep).map_or(0.0, |r| r.fraud_share);
    BarChart {
        id: String::from("countries"),
        title: format!(
            "{TITLE_COUNTRY} at {} verifications a month, fraud share {}",
            short_count(sweep.reference_volume),
            pct(f)
        ),
        description: format!(
            "Monthly cost per country for both methods at {} verifications a month. Reverse \
iMessage line cost is allocated to countries by their share of inbound iMessage contacts.",
            group_thousands(sweep.reference_volume)
        ),
        value_axis: Axis::new("USD per month", Scale::Linear, Format::Usd),
        categories: rows.iter().map(|r| r.0.clone()).collect(),
        series: vec![
            BarSeries {
                name: String::from("SMS OTP"),
                color: SMS_COLOR.to_string(),
                values: rows.iter().map(|r| r.1).collect(),
            },
            BarSeries {
                name: String::from("Reverse iMessage"),
                color: REV_COLOR.to_string(),
                values: rows.iter().map(|r| r.2).collect(),
            },
        ],
    }
}

/// Cost at the reference volume as the fraud share rises (linear axes).
pub fn fraud_chart(sweep: &Sweep) -> Option<LineChart> {
    let max_f = sweep.per_fraud.last()?.fraud_share;
    if sweep.per_fraud.len() < 2 || max_f <= 0.0 {
        return None;
    }
    let v = sweep.reference_volume;
    let mut sms = Vec::new();
    let mut rev = Vec::new();
    for i in 0..=50 {
        let f = max_f * f64::from(i) / 50.0;
        let e = evaluate(&sweep.mix, v, f).ok()?;
        sms.push((f, e.sms.total_usd));
        rev.push((f, e.reverse.total_usd));
    }
    Some(LineChart {
        id: String::from("fraud"),
        title: format!("{TITLE_FRAUD} at {} verifications a month", short_count(v)),
        description: format!(
            "Monthly cost at {} verifications a month as the share of pumped OTP SMS rises from 0 to {}.",
            group_thousands(v),
            pct(max_f)
        ),
        x: Axis::new(
            "Fraud share: pumped / all OTP SMS sent",
            Scale::Linear,
            Format::Percent,
        )
        .with_range(0.0, max_f),
        y: Axis::new("USD per month", Scale::Linear, Format::Usd),
        series: vec![
            Series::new("SMS OTP", SMS_COLOR, sms),
            Series::new("Reverse iMessage", REV_COLOR, rev),
        ],
        markers: Vec::new(),
        bands: Vec::new(),
    })
}

/// Per-hour values drawn as steps: each value spans its hour `[i, i + 1)`.
fn hourly(values: &[f64]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .flat_map(|(i, v)| [(i as f64, *v), (i as f64 + 1.0, *v)])
        .collect()
}

/// Cumulative values at the end of each hour, starting from zero.
fn cumulative(values: &[f64]) -> Vec<(f64, f64)> {
    std::iter::once((0.0, 0.0))
        .chain(values.iter().enumerate().map(|(i, v)| (i as f64 + 1.0, *v)))
        .collect()
}

/// Two stacked panels: pumped SMS per hour, cumulative spend.
pub fn episode_chart(e: &Episode) -> TimeSeriesChart {
    let s = &e.spec;
    let horizon = f64::from(s.horizon_hours);
    let attack = Band {
        from: s.attack_start_hour,
        to: s.attack_start_hour + s.attack_hours,
        label: String::from("attack"),
        color: String::from("#d55e00"),
    };
    let block = if s.block_after.is_some() {
        format!(
            "SMS OTP, block after {} pumped",
            group_thousands(s.block_after.unwrap_or(0.0))
        )
    } else {
        String::from("SMS OTP, no block")
    };
    TimeSeriesChart {
        id: String::from("episode"),
        title: String::from(TITLE_EPISODE),
        description: format!(
            "Illustration: {}. Pumped SMS billed per hour and cumulative spend for SMS OTP with \
and without a block, and for reverse iMessage, with legitimate traffic of {} verifications a month.",
            s.name,
            group_thousands(s.monthly_verifications)
        ),
        x: Axis::new("Hours", Scale::Linear, Format::Hours).with_range(0.0, horizon),
        panels: vec![
            Panel {
                y: Axis::new("Pumped SMS per hour", Scale::Linear, Format::Count),
                series: vec![
                    Series::new("SMS OTP, no block", SMS_COLOR, hourly(&e.pumped_sms_open)),
                    Series::new(&block, "#e69f00", hourly(&e.pumped_sms_blocked)).dashed(),
                    Series::new("Reverse iMessage", REV_COLOR, hourly(&e.pumped_reverse)),
                ],
            },
            Panel {
                y: Axis::new("Cumulative spend, USD", Scale::Linear, Format::Usd),
                series: vec![
                    Series::new(
                        "SMS OTP, no block",
                        SMS_COLOR,
                        cumulative(&e.spend_sms_open),
                    ),
                    Series::new(&block, "#e69f00", cumulative(&e.spend_sms_blocked)).dashed(),
                    Series::new("Reverse iMessage", REV_COLOR, cumulative(&e.spend_reverse)),
                ],
            },
        ],
        bands: vec![attack],
    }
}

/// Lanes for the attack, what each method is billed, and when the defence is active.
pub fn episode_timeline(e: &Episode) -> Timeline {
    let s = &e.spec;
    let (a0, a1) = (s.attack_start_hour, s.attack_start_hour + s.attack_hours);
    let horizon = f64::from(s.horizon_hours);
    let span = |from: f64, to: f64, label: &str, color: &str| Span {
        from,
        to,
        label: label.to_string(),
        color: color.to_string(),
    };
    let billed_until = e.block_hour.unwrap_or(a1).min(a1);
    let mut lanes = vec![
        Lane {
            label: String::from("Attack: pumping requests"),
            spans: vec![span(
                a0,
                a1,
                &format!("{} requests, ramping", group_thousands(s.pumped_total)),
                "#d55e00",
            )],
        },
        Lane {
            label: String::from("SMS OTP, no block: billed"),
            spans: vec![span(
                a0,
                a1,
                &format!("{} pumped SMS", group_thousands(s.pumped_total)),
                "#e69f00",
            )],
        },
    ];
    if s.block_after.is_some() {
        let mut spans = vec![span(a0, billed_until, "billed", "#e69f00")];
        if let Some(b) = e.block_hour {
            spans.push(span(b, horizon, "destination blocked", "#009e73"));
        }
        lanes.push(Lane {
            label: String::from("SMS OTP with block"),
            spans,
        });
    }
    lanes.push(Lane {
        label: String::from("Reverse iMessage"),
        spans: if e.reverse_exposed {
            vec![span(
                a0,
                billed_until,
                "billed via outbound fallback",
                "#e69f00",
            )]
        } else {
            vec![span(
                a0,
                a1,
                "nothing to pump: code shown on screen",
                "#0072b2",
            )]
        },
    });
    let mut events = vec![(a0, String::from("attack starts"))];
    if let Some(b) = e.block_hour {
        events.push((
            b,
            format!(
                "block after {}",
                group_thousands(s.block_after.unwrap_or(0.0))
            ),
        ));
    }
    Timeline {
        id: String::from("timeline"),
        title: String::from(TITLE_TIMELINE),
        description: format!(
            "Attack window from hour {a0} to {a1}; the block engages {}; reverse iMessage is {}.",
            e.block_hour
                .map_or(String::from("never"), |b| format!("at hour {b:.1}")),
            if e.reverse_exposed {
                "exposed through its outbound SMS fallback"
            } else {
                "not exposed"
            }
        ),
        x: Axis::new("Hours", Scale::Linear, Format::Hours).with_range(0.0, horizon),
        lanes,
        events,
    }
}
