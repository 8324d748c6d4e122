//! The `mo2fa cost` report: `report.html`, `summary.md`, `cost_curve.svg` (and the CSV from
//! [`crate::sweep::csv`]). Built from plain results so the simulator can reuse the
//! sections in its own run report.

use super::html::{Block, Page, Section};
use super::svg::{
    Axis, Band, BarChart, BarSeries, Format, Lane, LineChart, Marker, Panel, Scale, Series, Span,
    TimeSeriesChart, Timeline,
};
use super::{group_thousands, short_count, usd_label};
use crate::episode::Episode;
use crate::model::{BreakEven, CostCurve, evaluate};
use crate::sweep::{FraudResult, Sweep, cheaper_label, csv};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SMS_COLORS: [&str; 6] = [
    "#d55e00", "#e69f00", "#cc79a7", "#a6761d", "#7f7f7f", "#000000",
];
const REV_COLORS: [&str; 6] = [
    "#0072b2", "#56b4e9", "#009e73", "#332288", "#44aa99", "#88ccee",
];
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

fn pct(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

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

/// What the log chart and its linear close-up draw differently from the same curves.
struct CurveStyle {
    /// A lone zero-fraud SMS curve reads better without "fraud share 0%" in its name.
    plain_lone_sms: bool,
    /// Name of the single reverse curve when pumping cannot move it.
    shared_reverse: &'static str,
    /// Log axes squeeze the reverse curves of different fraud shares together, so the log chart
    /// dashes all but the first to keep them apart.
    dash_later_reverse: bool,
}

/// The SMS and reverse series of both cost charts, with the SMS break-evens, so the two charts
/// keep the same colours, order and markers; `points` samples one cost curve for the chart's axes.
fn cost_series(
    sweep: &Sweep,
    style: &CurveStyle,
    points: impl Fn(&CostCurve) -> Vec<(f64, f64)>,
) -> (Vec<Series>, Vec<Marker>) {
    let same_rev = reverse_invariant(sweep);
    let many = sweep.per_fraud.len() > 1;
    let mut series = Vec::new();
    let mut markers = Vec::new();
    for (i, r) in sweep.per_fraud.iter().enumerate() {
        let sc = SMS_COLORS[i % SMS_COLORS.len()];
        let name = if style.plain_lone_sms && !(many || r.fraud_share > 0.0) {
            String::from("SMS OTP")
        } else {
            format!("SMS OTP, fraud share {}", pct(r.fraud_share))
        };
        series.push(Series::new(&name, sc, points(&r.sms)));
        markers.extend(break_even_marker(r, sc, many));
    }
    let shown = if same_rev { 1 } else { sweep.per_fraud.len() };
    for (i, r) in sweep.per_fraud.iter().enumerate().take(shown) {
        let name = if same_rev {
            String::from(style.shared_reverse)
        } else {
            format!("Reverse iMessage, fraud share {}", pct(r.fraud_share))
        };
        let mut s = Series::new(&name, REV_COLORS[i % REV_COLORS.len()], points(&r.reverse));
        if style.dash_later_reverse && !same_rev && i > 0 {
            s = s.dashed();
        }
        series.push(s);
    }
    (series, markers)
}

/// The log-log cost-curve chart with break-evens marked.
pub fn curve_chart(sweep: &Sweep) -> LineChart {
    let style = CurveStyle {
        plain_lone_sms: true,
        shared_reverse: "Reverse iMessage (any fraud share)",
        dash_later_reverse: true,
    };
    let (series, markers) = cost_series(sweep, &style, |c| curve_points(c, sweep.lo, sweep.hi));
    let be: Vec<String> = sweep
        .per_fraud
        .iter()
        .map(|r| {
            format!(
                "fraud share {}: {}",
                pct(r.fraud_share),
                describe_break_even(&r.break_even, sweep.lo, sweep.hi)
            )
        })
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
        .filter_map(|r| match r.break_even {
            BreakEven::At { first, .. } => Some(first),
            BreakEven::SmsFrom { sms_from } => Some(sms_from),
            BreakEven::Always | BreakEven::Never => None,
        })
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
    let style = CurveStyle {
        plain_lone_sms: false,
        shared_reverse: "Reverse iMessage",
        dash_later_reverse: false,
    };
    let (series, markers) = cost_series(sweep, &style, linear);
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

/// The fraud share used for the per-country breakdown: the largest one in the run.
fn breakdown_result(sweep: &Sweep) -> Option<&FraudResult> {
    sweep.per_fraud.last()
}

fn country_label(sweep: &Sweep, i: usize) -> String {
    let c = &sweep.mix.countries[i];
    format!("{} ({})", c.dest.quote.country_name, c.dest.iso)
}

/// Category rows of the by-country breakdown: label, SMS cost, reverse cost.
fn country_rows(sweep: &Sweep) -> Vec<(String, f64, f64)> {
    let Some(r) = breakdown_result(sweep) else {
        return Vec::new();
    };
    let e = &r.reference;
    let mut rows: Vec<(String, f64, f64)> = (0..sweep.mix.countries.len())
        .map(|i| {
            (
                country_label(sweep, i),
                e.sms.by_country.get(i).copied().unwrap_or(0.0),
                e.reverse.by_country.get(i).copied().unwrap_or(0.0),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.push((
        format!("Pumped SMS ({} destinations)", sweep.mix.pumping.len()),
        e.sms.pumped_sms_usd,
        e.reverse.pumped_sms_usd,
    ));
    rows.push((
        String::from("Fixed fees"),
        e.sms.fixed_usd,
        e.reverse.fixed_usd,
    ));
    rows
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
                color: SMS_COLORS[0].to_string(),
                values: rows.iter().map(|r| r.1).collect(),
            },
            BarSeries {
                name: String::from("Reverse iMessage"),
                color: REV_COLORS[0].to_string(),
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
            Series::new("SMS OTP", SMS_COLORS[0], sms),
            Series::new("Reverse iMessage", REV_COLORS[0], rev),
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
                    Series::new(
                        "SMS OTP, no block",
                        SMS_COLORS[0],
                        hourly(&e.pumped_sms_open),
                    ),
                    Series::new(&block, SMS_COLORS[1], hourly(&e.pumped_sms_blocked)).dashed(),
                    Series::new("Reverse iMessage", REV_COLORS[0], hourly(&e.pumped_reverse)),
                ],
            },
            Panel {
                y: Axis::new("Cumulative spend, USD", Scale::Linear, Format::Usd),
                series: vec![
                    Series::new(
                        "SMS OTP, no block",
                        SMS_COLORS[0],
                        cumulative(&e.spend_sms_open),
                    ),
                    Series::new(&block, SMS_COLORS[1], cumulative(&e.spend_sms_blocked)).dashed(),
                    Series::new(
                        "Reverse iMessage",
                        REV_COLORS[0],
                        cumulative(&e.spend_reverse),
                    ),
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

/// One line describing a break-even, for terminals and summaries.
pub fn describe_break_even(be: &BreakEven, lo: f64, hi: f64) -> String {
    let n = group_thousands;
    let (lo, hi) = (n(lo), n(hi));
    match *be {
        BreakEven::Always => {
            format!("reverse iMessage is cheaper at every volume from {lo} to {hi}")
        }
        BreakEven::Never => {
            format!("reverse iMessage is never cheaper between {lo} and {hi} verifications a month")
        }
        BreakEven::At {
            first,
            stays_from: Some(stay),
        } if (stay - first).abs() < 0.5 => format!(
            "break-even at {} verifications a month; reverse iMessage is cheaper above it",
            n(first)
        ),
        BreakEven::At {
            first,
            stays_from: Some(stay),
        } => format!(
            "reverse iMessage first cheaper above {} and cheaper at every volume above {} verifications a month",
            n(first),
            n(stay)
        ),
        BreakEven::At {
            first,
            stays_from: None,
        } => format!(
            "reverse iMessage first cheaper above {} verifications a month, but SMS OTP is cheaper again at {hi}",
            n(first)
        ),
        BreakEven::SmsFrom { sms_from } => format!(
            "reverse iMessage is cheaper below {} verifications a month; SMS OTP above",
            n(sms_from)
        ),
    }
}

/// Volumes at powers of ten inside the range (or the grid ends if there are none).
fn decade_volumes(sweep: &Sweep) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    let mut k = sweep.lo.log10().ceil() as i32;
    while 10f64.powi(k) <= sweep.hi * (1.0 + 1e-12) {
        out.push(10f64.powi(k));
        k += 1;
    }
    if out.is_empty() {
        out = vec![sweep.lo, sweep.hi];
        out.dedup();
    }
    out
}

fn decade_rows(sweep: &Sweep) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in &sweep.per_fraud {
        for v in decade_volumes(sweep) {
            let (s, rv) = (r.sms.at(v), r.reverse.at(v));
            rows.push(vec![
                group_thousands(v),
                pct(r.fraud_share),
                usd_label(s),
                usd_label(rv),
                r.reverse.lines_at(v).to_string(),
                cheaper_label(s, rv).replace('_', " "),
            ]);
        }
    }
    rows
}

fn breakdown_rows(sweep: &Sweep) -> Vec<Vec<String>> {
    let Some(r) = breakdown_result(sweep) else {
        return Vec::new();
    };
    let (s, v) = (&r.reference.sms, &r.reference.reverse);
    let row = |name: &str, a: f64, b: f64| vec![name.to_string(), usd_label(a), usd_label(b)];
    vec![
        row("Legitimate outbound SMS", s.legit_sms_usd, v.legit_sms_usd),
        row(
            "Per-success verify fees",
            s.verify_fees_usd,
            v.verify_fees_usd,
        ),
        row("Pumped SMS", s.pumped_sms_usd, v.pumped_sms_usd),
        row("Inbound SMS fallback", s.inbound_sms_usd, v.inbound_sms_usd),
        vec![
            format!("iMessage lines ({})", v.lines),
            usd_label(s.lines_usd),
            usd_label(v.lines_usd),
        ],
        row("Fixed fees", s.fixed_usd, v.fixed_usd),
        row("Total", s.total_usd, v.total_usd),
    ]
}

fn assumptions(sweep: &Sweep) -> Vec<String> {
    let s = &sweep.mix;
    let mut out = vec![
        format!(
            "Outbound SMS prices: Twilio list prices, snapshot {} from {} (max over carrier rows; US carrier fee ${} per segment added).",
            s.snapshot.date(),
            s.snapshot.origin(),
            s.sms
                .carrier_fees_usd
                .get("US")
                .map_or(String::from("0"), |f| format!("{f}"))
        ),
        format!(
            "{} segment(s) per OTP, {} resends per verification, {} of verifications succeed, verify fee {} per success.",
            s.sms.segments_per_otp,
            s.sms.resend_rate,
            pct(s.sms.success_rate),
            usd_label(s.sms.verify_fee_usd)
        ),
        format!(
            "iMessage lines: {} per line per month, {} inbound contacts per line per day, sized for a peak day {}× the average of a {}-day month.",
            usd_label(s.imessage.line_usd_per_month),
            group_thousands(s.imessage.capacity_per_line_per_day),
            s.imessage.peak_factor,
            s.imessage.days_per_month
        ),
        format!(
            "Fraud share = pumped SMS / all OTP SMS of the SMS method; pumped SMS go to {} high-price destinations (equal weights) and never succeed. Numbers from countries outside the mix get the {} fallback under reverse iMessage.",
            s.pumping.len(),
            s.fallback_other_countries.as_str().replace('_', " ")
        ),
    ];
    for f in &s.sms.fixed_fees {
        out.push(format!(
            "Fixed fee: {} = {} per month{}.",
            f.name,
            usd_label(f.monthly_usd),
            f.country
                .as_ref()
                .map_or(String::new(), |c| format!(" (when sending SMS to {c})"))
        ));
    }
    out
}

fn country_table_rows(sweep: &Sweep) -> Vec<Vec<String>> {
    sweep
        .mix
        .countries
        .iter()
        .map(|c| {
            vec![
                format!("{} ({})", c.dest.quote.country_name, c.dest.iso),
                pct(c.dest.share),
                pct(c.imessage_share),
                c.fallback.as_str().replace('_', " "),
                format!("${:.4}", c.dest.usd_per_segment()),
            ]
        })
        .collect()
}

/// Report sections for a sweep (and an optional illustrative episode), for embedding in any page.
pub fn sections(sweep: &Sweep, episode: Option<&Episode>) -> Vec<Section> {
    let mut figures = Vec::new();
    for r in &sweep.per_fraud {
        let value = match r.break_even {
            BreakEven::At { first, .. } => format!("{}/mo", group_thousands(first)),
            BreakEven::Always => String::from("always cheaper"),
            BreakEven::Never => String::from("never cheaper"),
            BreakEven::SmsFrom { sms_from } => format!("below {}/mo", group_thousands(sms_from)),
        };
        figures.push((
            format!(
                "Reverse iMessage break-even, fraud share {}",
                pct(r.fraud_share)
            ),
            value,
        ));
    }
    if let Some(r) = breakdown_result(sweep) {
        figures.push((
            format!(
                "SMS OTP at {}/mo, fraud {}",
                short_count(sweep.reference_volume),
                pct(r.fraud_share)
            ),
            usd_label(r.reference.sms.total_usd),
        ));
        figures.push((
            format!(
                "Reverse iMessage at {}/mo",
                short_count(sweep.reference_volume)
            ),
            usd_label(r.reference.reverse.total_usd),
        ));
    }
    let summary_lines: Vec<String> = sweep
        .per_fraud
        .iter()
        .map(|r| {
            format!(
                "Fraud share {}: {}.",
                pct(r.fraud_share),
                describe_break_even(&r.break_even, sweep.lo, sweep.hi)
            )
        })
        .collect();
    let mut out = vec![
        Section::new("summary", "Summary")
            .push(Block::KeyFigures(figures))
            .push(Block::List(summary_lines)),
        Section::new("curves", TITLE_CURVES)
            .push(Block::Paragraph(String::from(
                "Monthly cost of each method by monthly verification volume. SMS OTP grows in \
proportion to volume; reverse iMessage steps up by one line price each time the peak day \
outgrows the lines. The marked point is the break-even: above it reverse iMessage is cheaper.",
            )))
            .push(Block::Svg(curve_chart(sweep).to_svg()))
            .push_all(zoom_chart(sweep).map(|c| Block::Svg(c.to_svg())))
            .push(Block::Table {
                caption: String::from("Cost at each power of ten"),
                headers: [
                    "Verifications/month",
                    "Fraud share",
                    "SMS OTP",
                    "Reverse iMessage",
                    "Lines",
                    "Cheaper",
                ]
                .map(String::from)
                .to_vec(),
                rows: decade_rows(sweep),
                numeric: vec![true, true, true, true, true, false],
                collapsed: true,
            }),
        Section::new("countries", TITLE_COUNTRY)
            .push(Block::Svg(country_chart(sweep).to_svg()))
            .push(Block::Table {
                caption: format!(
                    "Cost components at {} verifications a month",
                    group_thousands(sweep.reference_volume)
                ),
                headers: ["Component", "SMS OTP", "Reverse iMessage"]
                    .map(String::from)
                    .to_vec(),
                rows: breakdown_rows(sweep),
                numeric: vec![false, true, true],
                collapsed: false,
            })
            .push(Block::Table {
                caption: String::from("Country mix"),
                headers: [
                    "Country",
                    "Share",
                    "iMessage share",
                    "Fallback",
                    "SMS $/segment",
                ]
                .map(String::from)
                .to_vec(),
                rows: country_table_rows(sweep),
                numeric: vec![false, true, true, false, true],
                collapsed: true,
            }),
    ];
    if let Some(chart) = fraud_chart(sweep) {
        out.push(
            Section::new("fraud", TITLE_FRAUD)
                .push(Block::Paragraph(String::from(
                    "Pumped SMS are billed at the price of the pumping destinations, which are \
among the most expensive in the price table; reverse iMessage sends no SMS to pump, except \
through an outbound SMS fallback.",
                )))
                .push(Block::Svg(chart.to_svg())),
        );
    }
    if let Some(e) = episode {
        out.push(
            Section::new("episode", TITLE_EPISODE)
                .push(Block::Paragraph(format!(
                    "Illustration, not a simulation: {}. A block engages after {} pumped sends \
(the Fraud Guard anecdote in the research note). Each pumped SMS costs {}.",
                    e.spec.name,
                    e.spec
                        .block_after
                        .map_or(String::from("no"), group_thousands),
                    usd_label(e.usd_per_pumped_sms)
                )))
                .push(Block::Svg(episode_chart(e).to_svg()))
                .push(Block::Svg(episode_timeline(e).to_svg())),
        );
    }
    let mut notes = assumptions(sweep);
    notes.extend(sweep.mix.notes.iter().cloned());
    out.push(Section::new("assumptions", "Assumptions and notes").push(Block::List(notes)));
    out
}

/// The whole page.
pub fn page(sweep: &Sweep, episode: Option<&Episode>) -> Page {
    let s = &sweep.mix;
    let mut subtitle = format!(
        "Mix: {} · prices: Twilio list, snapshot {} · volumes {} to {} a month",
        s.name,
        s.snapshot.date(),
        short_count(sweep.lo),
        short_count(sweep.hi)
    );
    if !s.description.is_empty() {
        let _ = write!(subtitle, " · {}", s.description);
    }
    Page {
        title: String::from("2FA cost: SMS OTP vs reverse iMessage"),
        subtitle,
        sections: sections(sweep, episode),
        footer: vec![
            format!(
                "Mix file: {}. Price file: {}.",
                s.mix_origin, s.prices_origin
            ),
            String::from(
                "Sources: Twilio SMSPricing.csv snapshots (scenarios/data/README.md); fees and line prices with their sources in scenarios/prices/default.toml; model definitions in docs/cost.md.",
            ),
            String::from(
                "Generated by mo2fa cost. Self-contained: no scripts, no external resources.",
            ),
        ],
    }
}

/// `summary.md`.
pub fn summary_markdown(sweep: &Sweep, episode: Option<&Episode>) -> String {
    let s = &sweep.mix;
    let mut out = String::new();
    let _ = writeln!(out, "# 2FA cost: SMS OTP vs reverse iMessage\n");
    let _ = writeln!(out, "- Mix: **{}** (`{}`)", s.name, s.mix_origin);
    let _ = writeln!(
        out,
        "- Prices: `{}`; SMS price snapshot **{}**",
        s.prices_origin,
        s.snapshot.date()
    );
    let _ = writeln!(
        out,
        "- Volumes: {} to {} verifications a month; fraud shares: {}\n",
        group_thousands(sweep.lo),
        group_thousands(sweep.hi),
        sweep
            .per_fraud
            .iter()
            .map(|r| pct(r.fraud_share))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "## Break-even\n");
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "- Fraud share {}: {}.",
            pct(r.fraud_share),
            describe_break_even(&r.break_even, sweep.lo, sweep.hi)
        );
    }
    let _ = writeln!(out, "\n## Monthly cost at each power of ten\n");
    let _ = writeln!(
        out,
        "| Verifications/month | Fraud share | SMS OTP | Reverse iMessage | Lines | Cheaper |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---|");
    for row in decade_rows(sweep) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if let Some(r) = breakdown_result(sweep) {
        let _ = writeln!(
            out,
            "\n## Cost components at {} verifications a month (fraud share {})\n",
            group_thousands(sweep.reference_volume),
            pct(r.fraud_share)
        );
        let _ = writeln!(out, "| Component | SMS OTP | Reverse iMessage |");
        let _ = writeln!(out, "|---|---:|---:|");
        for row in breakdown_rows(sweep) {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let _ = writeln!(out, "\n## Cost by country\n");
        let _ = writeln!(out, "| Country | SMS OTP | Reverse iMessage |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (label, a, b) in country_rows(sweep) {
            let _ = writeln!(out, "| {label} | {} | {} |", usd_label(a), usd_label(b));
        }
    }
    if let Some(e) = episode {
        let n = e.spend_sms_open.len();
        let last = |v: &[f64]| v.get(n.wrapping_sub(1)).copied().unwrap_or(0.0);
        let _ = writeln!(out, "\n## Illustrative pumping episode\n");
        let _ = writeln!(out, "{}; {} h shown.\n", e.spec.name, e.spec.horizon_hours);
        let _ = writeln!(
            out,
            "- SMS OTP, no block: {} spent",
            usd_label(last(&e.spend_sms_open))
        );
        let _ = writeln!(
            out,
            "- SMS OTP, block after {} pumped sends{}: {} spent",
            e.spec
                .block_after
                .map_or(String::from("(none)"), group_thousands),
            e.block_hour
                .map_or(String::new(), |h| format!(" (engages at hour {h:.1})")),
            usd_label(last(&e.spend_sms_blocked))
        );
        let _ = writeln!(
            out,
            "- Reverse iMessage: {} spent",
            usd_label(last(&e.spend_reverse))
        );
    }
    let _ = writeln!(out, "\n## Assumptions and notes\n");
    for a in assumptions(sweep).iter().chain(&s.notes) {
        let _ = writeln!(out, "- {a}");
    }
    let _ = writeln!(
        out,
        "\nModel and sources: `docs/cost.md`, `scenarios/data/README.md`, `scenarios/prices/default.toml`."
    );
    out
}

/// A compact table for the terminal.
pub fn terminal_table(sweep: &Sweep) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mix: {} | SMS prices: snapshot {}",
        sweep.mix.name,
        sweep.mix.snapshot.date()
    );
    for n in &sweep.mix.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(
        out,
        "{:>15} {:>7} {:>14} {:>14} {:>6}  cheaper",
        "verif/month", "fraud", "sms_otp", "reverse_imsg", "lines"
    );
    for row in decade_rows(sweep) {
        let _ = writeln!(
            out,
            "{:>15} {:>7} {:>14} {:>14} {:>6}  {}",
            row[0], row[1], row[2], row[3], row[4], row[5]
        );
    }
    for r in &sweep.per_fraud {
        let _ = writeln!(
            out,
            "fraud share {}: {}",
            pct(r.fraud_share),
            describe_break_even(&r.break_even, sweep.lo, sweep.hi)
        );
    }
    out
}

/// Every file of a cost report, rendered.
#[derive(Clone, Debug)]
pub struct CostReport {
    pub csv: String,
    pub summary_md: String,
    pub html: String,
    pub curve_svg: String,
}

impl CostReport {
    pub fn render(sweep: &Sweep, episode: Option<&Episode>) -> Self {
        CostReport {
            csv: csv(sweep),
            summary_md: summary_markdown(sweep, episode),
            html: page(sweep, episode).to_html(),
            curve_svg: curve_chart(sweep).to_svg(),
        }
    }

    /// Writes `cost_curve.csv`, `summary.md`, `report.html` and `cost_curve.svg` into `dir`
    /// (created if missing); returns the paths written.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            ("cost_curve.csv", &self.csv),
            ("summary.md", &self.summary_md),
            ("report.html", &self.html),
            ("cost_curve.svg", &self.curve_svg),
        ];
        let mut out = Vec::with_capacity(files.len());
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::write(&p, body)?;
            out.push(p);
        }
        Ok(out)
    }
}
