//! Hand-written SVG charts. Each chart is a plain struct of data and labels; `to_svg` returns a
//! standalone `<svg>` element (it also works inline in HTML) with a `<title>` and `<desc>` for
//! screen readers. Output is deterministic: coordinates are printed with one decimal.
//!
//! Charts never fail: empty or non-positive data on a log axis is skipped and an empty plot
//! says "no data", because a report must still render when a simulation produced nothing.

use super::{escape, short_count, usd_label};
use std::fmt::Write as _;

/// Colour-blind-friendly palette (Okabe–Ito based), in the order series are usually assigned.
pub const PALETTE: [&str; 8] = [
    "#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f", "#000000",
];

const WIDTH: f64 = 800.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
/// Rough advance of one character at 12px, for laying out legends and labels without a font
/// engine. Errs wide so text does not overlap.
const CHAR_W: f64 = 6.8;

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithmic; only positive values are drawn.
    Log,
}

/// How tick labels are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 1k, 1M, 1B.
    Count,
    /// $1k, $1M.
    Usd,
    /// 0h, 12h, 24h.
    Hours,
    /// 0%, 20%.
    Percent,
}

fn fmt_tick(format: Format, v: f64) -> String {
    match format {
        Format::Count => short_count(v),
        Format::Usd if v.abs() >= 1000.0 => format!("${}", short_count(v)),
        Format::Usd if v.abs() >= 1.0 || v == 0.0 => format!("${}", short_count(v)),
        Format::Usd => usd_label(v),
        Format::Hours => format!("{}h", short_count(v)),
        Format::Percent => format!("{}%", short_count(v * 100.0)),
    }
}

/// One axis: label, scale, tick format, and optionally a fixed range.
#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    pub format: Format,
    /// Fixed `(min, max)`; `None` fits the data (log axes round out to whole decades).
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn new(label: &str, scale: Scale, format: Format) -> Self {
        Axis {
            label: label.to_string(),
            scale,
            format,
            range: None,
        }
    }

    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
}

/// A named polyline.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub dashed: bool,
    /// `(x, y)` in data units, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: &str, color: &str, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.to_string(),
            color: color.to_string(),
            dashed: false,
            points,
        }
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// A labelled point, e.g. a break-even.
#[derive(Clone, Debug)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub color: String,
}

/// A shaded range of x, e.g. an attack window.
#[derive(Clone, Debug)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
    pub color: String,
}

/// Line chart (log or linear axes) with markers and shaded bands.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Unique within a page; used for element ids.
    pub id: String,
    pub title: String,
    /// One or two sentences read by screen readers in place of the picture.
    pub description: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    pub bands: Vec<Band>,
}

/// One panel of a [`TimeSeriesChart`]: its own y axis and series.
#[derive(Clone, Debug)]
pub struct Panel {
    pub y: Axis,
    pub series: Vec<Series>,
}

/// Panels stacked over one shared x axis (time), with bands drawn across all of them.
#[derive(Clone, Debug)]
pub struct TimeSeriesChart {
    pub id: String,
    pub title: String,
    pub description: String,
    pub x: Axis,
    pub panels: Vec<Panel>,
    pub bands: Vec<Band>,
}

/// Values of one series across the categories of a [`BarChart`].
#[derive(Clone, Debug)]
pub struct BarSeries {
    pub name: String,
    pub color: String,
    /// One value per category; must be >= 0 to be drawn.
    pub values: Vec<f64>,
}

/// Horizontal grouped bars: one group per category, one bar per series.
#[derive(Clone, Debug)]
pub struct BarChart {
    pub id: String,
    pub title: String,
    pub description: String,
    pub value_axis: Axis,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

/// A span of time on one lane of a [`Timeline`].
#[derive(Clone, Debug)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    pub label: String,
    pub color: String,
}

/// One row of a [`Timeline`].
#[derive(Clone, Debug)]
pub struct Lane {
    pub label: String,
    pub spans: Vec<Span>,
}

/// Gantt-like chart: lanes of labelled spans over a shared time axis, with vertical event lines.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub id: String,
    pub title: String,
    pub description: String,
    pub x: Axis,
    pub lanes: Vec<Lane>,
    /// `(x, label)` events drawn as vertical lines across all lanes.
    pub events: Vec<(f64, String)>,
}

/// A fitted axis: domain and ticks.
struct Fitted {
    scale: Scale,
    format: Format,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Fitted {
    fn fit(axis: &Axis, values: impl Iterator<Item = f64>, zero_based: bool) -> Fitted {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in values {
            if v.is_finite() && (axis.scale == Scale::Linear || v > 0.0) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if let Some((a, b)) = axis.range
            && a.is_finite()
            && b.is_finite()
            && a < b
            && (axis.scale == Scale::Linear || a > 0.0)
        {
            lo = a;
            hi = b;
        } else if !lo.is_finite() {
            (lo, hi) = match axis.scale {
                Scale::Linear => (0.0, 1.0),
                Scale::Log => (1.0, 10.0),
            };
        }
        match axis.scale {
            Scale::Log => {
                let (mut a, mut b) = (lo.log10().floor(), hi.log10().ceil());
                if axis.range.is_some() {
                    (a, b) = (lo.log10(), hi.log10());
                }
                if b <= a {
                    b = a + 1.0;
                }
                let (lo, hi) = (10f64.powf(a), 10f64.powf(b));
                let decades = (b.floor() - a.ceil()) as i32;
                let every = if decades > 10 { 2 } else { 1 };
                let mut ticks = Vec::new();
                let mut k = a.ceil() as i32;
                while f64::from(k) <= b + 1e-9 {
                    let base = 10f64.powi(k);
                    if (k - a.ceil() as i32) % every == 0 {
                        ticks.push(base);
                    }
                    if decades <= 2 {
                        for m in [2.0, 5.0] {
                            let t = base * m;
                            if t >= lo && t <= hi {
                                ticks.push(t);
                            }
                        }
                    }
                    k += 1;
                }
                ticks.retain(|t| *t >= lo * (1.0 - 1e-9) && *t <= hi * (1.0 + 1e-9));
                ticks.sort_by(f64::total_cmp);
                Fitted {
                    scale: Scale::Log,
                    format: axis.format,
                    lo,
                    hi,
                    ticks,
                }
            }
            Scale::Linear => {
                if zero_based && axis.range.is_none() {
                    lo = lo.min(0.0);
                    hi = hi.max(0.0);
                }
                if hi <= lo {
                    hi = lo + 1.0;
                }
                let step = nice_step(hi - lo, axis.format);
                if axis.range.is_none() {
                    lo = (lo / step).floor() * step;
                    hi = (hi / step).ceil() * step;
                }
                let mut ticks = Vec::new();
                let mut t = (lo / step).ceil() * step;
                while t <= hi + step * 1e-9 && ticks.len() < 50 {
                    ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
                    t += step;
                }
                Fitted {
                    scale: Scale::Linear,
                    format: axis.format,
                    lo,
                    hi,
                    ticks,
                }
            }
        }
    }

    /// Position of `v` between `a` (at `lo`) and `b` (at `hi`); `None` if not drawable.
    fn map(&self, v: f64, a: f64, b: f64) -> Option<f64> {
        let t = match self.scale {
            Scale::Linear => (v - self.lo) / (self.hi - self.lo),
            Scale::Log if v > 0.0 => {
                (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
            }
            Scale::Log => return None,
        };
        t.is_finite().then_some(a + t * (b - a))
    }
}

/// A 1-2-5 step (or hours-friendly step) giving about six ticks over `range`.
fn nice_step(range: f64, format: Format) -> f64 {
    let raw = range / 6.0;
    if format == Format::Hours {
        for s in [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0, 72.0, 168.0] {
            if s >= raw {
                return s;
            }
        }
    }
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

/// A rectangle in pixels.
#[derive(Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

fn open_svg(out: &mut String, id: &str, title: &str, desc: &str, height: f64) {
    let id = escape(id);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH:.0} {height:.0}\" \
width=\"{WIDTH:.0}\" height=\"{height:.0}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
font-family=\"{FONT}\" font-size=\"12\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n\
<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"600\" fill=\"#1a1a1a\">{}</text>\n",
        escape(title),
        escape(desc),
        escape(title)
    );
}

/// Lays out legend items left to right from `(x, y)`, wrapping at `max_x`; returns the y of
/// the row after the last one.
fn legend(out: &mut String, items: &[(&str, &str, bool)], x: f64, mut y: f64, max_x: f64) -> f64 {
    if items.is_empty() {
        return y;
    }
    let mut cx = x;
    for (name, color, dashed) in items {
        let w = 28.0 + name.chars().count() as f64 * CHAR_W + 16.0;
        if cx + w > max_x && cx > x {
            cx = x;
            y += 18.0;
        }
        let dash = if *dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"3\"{dash}/>\
<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\">{}</text>",
            cx,
            y - 4.0,
            cx + 22.0,
            y - 4.0,
            escape(color),
            cx + 28.0,
            y,
            escape(name)
        );
        cx += w;
    }
    y + 18.0
}

/// Grid, ticks and tick labels for both axes of a plot.
fn axes(out: &mut String, r: Rect, x: &Fitted, y: &Fitted, x_labels: bool) {
    out.push_str("<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for t in &y.ticks {
        if let Some(py) = y.map(*t, r.y1, r.y0) {
            let _ = writeln!(
                out,
                "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\"/>",
                r.x0, r.x1
            );
        }
    }
    for t in &x.ticks {
        if let Some(px) = x.map(*t, r.x0, r.x1) {
            let _ = writeln!(
                out,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\"/>",
                r.y0, r.y1
            );
        }
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#999\"/>",
        r.x0,
        r.y0,
        r.x1 - r.x0,
        r.y1 - r.y0
    );
    out.push_str("<g fill=\"#444\">\n");
    for t in &y.ticks {
        if let Some(py) = y.map(*t, r.y1, r.y0) {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                r.x0 - 6.0,
                py + 4.0,
                escape(&fmt_tick(y.format, *t))
            );
        }
    }
    if x_labels {
        for t in &x.ticks {
            if let Some(px) = x.map(*t, r.x0, r.x1) {
                let _ = writeln!(
                    out,
                    "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    r.y1 + 16.0,
                    escape(&fmt_tick(x.format, *t))
                );
            }
        }
    }
    out.push_str("</g>\n");
}

fn y_label(out: &mut String, r: Rect, label: &str) {
    let cy = (r.y0 + r.y1) / 2.0;
    let _ = writeln!(
        out,
        "<text transform=\"translate(16 {cy:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        escape(label)
    );
}

fn x_label(out: &mut String, r: Rect, label: &str, y: f64) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        (r.x0 + r.x1) / 2.0,
        escape(label)
    );
}

fn bands(out: &mut String, r: Rect, x: &Fitted, bands: &[Band], labels: bool) {
    for b in bands {
        let (Some(a), Some(c)) = (x.map(b.from, r.x0, r.x1), x.map(b.to, r.x0, r.x1)) else {
            continue;
        };
        let (a, c) = (a.clamp(r.x0, r.x1), c.clamp(r.x0, r.x1));
        if c <= a {
            continue;
        }
        let _ = writeln!(
            out,
            "<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" fill-opacity=\"0.15\"><title>{}</title></rect>",
            r.y0,
            c - a,
            r.y1 - r.y0,
            escape(&b.color),
            escape(&b.label)
        );
        if labels {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#555\">{}</text>",
                a + 3.0,
                r.y0 + 13.0,
                escape(&b.label)
            );
        }
    }
}

fn polylines(out: &mut String, clip: &str, r: Rect, x: &Fitted, y: &Fitted, series: &[Series]) {
    let _ = writeln!(
        out,
        "<g clip-path=\"url(#{})\" fill=\"none\" stroke-width=\"2.2\" stroke-linejoin=\"round\">",
        escape(clip)
    );
    for s in series {
        let mut d = String::new();
        let mut pen_down = false;
        for &(px, py) in &s.points {
            match (x.map(px, r.x0, r.x1), y.map(py, r.y1, r.y0)) {
                (Some(a), Some(b)) => {
                    let _ = write!(d, "{}{a:.1} {b:.1} ", if pen_down { "L" } else { "M" });
                    pen_down = true;
                }
                _ => pen_down = false,
            }
        }
        if d.is_empty() {
            continue;
        }
        let dash = if s.dashed {
            " stroke-dasharray=\"7 4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<path d=\"{}\" stroke=\"{}\"{dash}><title>{}</title></path>",
            d.trim_end(),
            escape(&s.color),
            escape(&s.name)
        );
    }
    out.push_str("</g>\n");
}

fn clip_def(out: &mut String, id: &str, r: Rect) {
    let _ = writeln!(
        out,
        "<defs><clipPath id=\"{}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/></clipPath></defs>",
        escape(id),
        r.x0,
        r.y0 - 2.0,
        r.x1 - r.x0,
        r.y1 - r.y0 + 4.0
    );
}

fn no_data(out: &mut String, r: Rect) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#777\">no data</text>",
        (r.x0 + r.x1) / 2.0,
        (r.y0 + r.y1) / 2.0
    );
}

impl LineChart {
    pub fn to_svg(&self) -> String {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.markers.iter().map(|m| m.x));
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.markers.iter().map(|m| m.y));
        let x = Fitted::fit(&self.x, xs, false);
        let y = Fitted::fit(&self.y, ys, true);
        let items: Vec<(&str, &str, bool)> = self
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.color.as_str(), s.dashed))
            .collect();
        // Legend height depends on wrapping; lay it out first into a scratch buffer.
        let mut leg = String::new();
        let legend_end = legend(&mut leg, &items, 80.0, 50.0, WIDTH - 20.0);
        let top = legend_end + 4.0;
        let plot_h = 320.0;
        let height = top + plot_h + 56.0;
        let r = Rect {
            x0: 80.0,
            y0: top,
            x1: WIDTH - 24.0,
            y1: top + plot_h,
        };
        let mut out = String::new();
        open_svg(&mut out, &self.id, &self.title, &self.description, height);
        out.push_str(&leg);
        let clip = format!("{}-clip", self.id);
        clip_def(&mut out, &clip, r);
        bands(&mut out, r, &x, &self.bands, true);
        axes(&mut out, r, &x, &y, true);
        if self.series.iter().all(|s| s.points.is_empty()) {
            no_data(&mut out, r);
        }
        polylines(&mut out, &clip, r, &x, &y, &self.series);
        // Labels go on separate rows from the top of the plot, leftmost marker on the top row,
        // so that no label crosses another marker's leader line.
        let mut placed: Vec<(f64, f64, &Marker)> = self
            .markers
            .iter()
            .filter_map(|m| Some((x.map(m.x, r.x0, r.x1)?, y.map(m.y, r.y1, r.y0)?, m)))
            .collect();
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (row, (px, py, m)) in placed.into_iter().enumerate() {
            let color = escape(&m.color);
            let label = escape(&m.label);
            let ly = r.y0 + 18.0 + 18.0 * row as f64;
            let width = m.label.chars().count() as f64 * CHAR_W;
            let (tx, anchor) = if px + 8.0 + width < r.x1 {
                (px + 6.0, "start")
            } else {
                (px - 6.0, "end")
            };
            let _ = writeln!(
                out,
                "<g><line x1=\"{px:.1}\" y1=\"{ly:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"3 3\"/>\
<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5.5\" fill=\"#fff\" stroke=\"{color}\" stroke-width=\"2.5\"/>\
<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-weight=\"600\" fill=\"{color}\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{label}</text><title>{label}</title></g>",
                r.y1,
                ly + 4.0
            );
        }
        y_label(&mut out, r, &self.y.label);
        x_label(&mut out, r, &self.x.label, height - 14.0);
        out.push_str("</svg>\n");
        out
    }
}

impl TimeSeriesChart {
    pub fn to_svg(&self) -> String {
        let xs = self
            .panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)));
        let x = Fitted::fit(&self.x, xs, false);
        let panel_h = 150.0;
        let mut out = String::new();
        let mut body = String::new();
        let mut top = 44.0;
        for (i, p) in self.panels.iter().enumerate() {
            let items: Vec<(&str, &str, bool)> = p
                .series
                .iter()
                .map(|s| (s.name.as_str(), s.color.as_str(), s.dashed))
                .collect();
            let after = legend(&mut body, &items, 80.0, top + 12.0, WIDTH - 20.0);
            let r = Rect {
                x0: 80.0,
                y0: after,
                x1: WIDTH - 24.0,
                y1: after + panel_h,
            };
            let ys = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1));
            let y = Fitted::fit(&p.y, ys, true);
            let clip = format!("{}-clip{i}", self.id);
            clip_def(&mut body, &clip, r);
            bands(&mut body, r, &x, &self.bands, i == 0);
            axes(&mut body, r, &x, &y, i + 1 == self.panels.len());
            if p.series.iter().all(|s| s.points.is_empty()) {
                no_data(&mut body, r);
            }
            polylines(&mut body, &clip, r, &x, &y, &p.series);
            y_label(&mut body, r, &p.y.label);
            top = r.y1 + 8.0;
            if i + 1 == self.panels.len() {
                top += 20.0;
                x_label(&mut body, r, &self.x.label, top + 10.0);
                top += 20.0;
            }
        }
        let height = top.max(120.0);
        open_svg(&mut out, &self.id, &self.title, &self.description, height);
        out.push_str(&body);
        out.push_str("</svg>\n");
        out
    }
}

impl BarChart {
    pub fn to_svg(&self) -> String {
        let label_w = self
            .categories
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0) as f64
            * CHAR_W
            + 24.0;
        let label_w = label_w.clamp(80.0, 260.0);
        let items: Vec<(&str, &str, bool)> = self
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.color.as_str(), false))
            .collect();
        let mut leg = String::new();
        let top = legend(&mut leg, &items, label_w, 50.0, WIDTH - 20.0) + 4.0;
        let bar_h = 14.0;
        let group_h = self.series.len().max(1) as f64 * (bar_h + 2.0) + 12.0;
        let r = Rect {
            x0: label_w,
            y0: top,
            x1: WIDTH - 90.0,
            y1: top + group_h * self.categories.len().max(1) as f64,
        };
        let values = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| *v >= 0.0);
        let x = Fitted::fit(&self.value_axis, values, true);
        let height = r.y1 + 50.0;
        let mut out = String::new();
        open_svg(&mut out, &self.id, &self.title, &self.description, height);
        out.push_str(&leg);
        let dummy = Fitted {
            scale: Scale::Linear,
            format: Format::Count,
            lo: 0.0,
            hi: 1.0,
            ticks: Vec::new(),
        };
        axes(&mut out, r, &x, &dummy, true);
        if self.categories.is_empty() {
            no_data(&mut out, r);
        }
        for (ci, cat) in self.categories.iter().enumerate() {
            let gy = r.y0 + ci as f64 * group_h + 6.0;
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#222\">{}</text>",
                r.x0 - 8.0,
                gy + group_h / 2.0 - 2.0,
                escape(cat)
            );
            for (si, s) in self.series.iter().enumerate() {
                let v = s.values.get(ci).copied().unwrap_or(0.0);
                let by = gy + si as f64 * (bar_h + 2.0);
                let x0 = x.map(0f64.max(x.lo), r.x0, r.x1).unwrap_or(r.x0);
                let x1 = if v > 0.0 {
                    x.map(v, r.x0, r.x1).unwrap_or(x0).clamp(r.x0, r.x1)
                } else {
                    x0
                };
                let label = format!("{}: {}", s.name, fmt_value(self.value_axis.format, v));
                let _ = writeln!(
                    out,
                    "<g><rect x=\"{x0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" fill=\"{}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#333\">{}</text><title>{}: {}</title></g>",
                    (x1 - x0).max(0.0),
                    escape(&s.color),
                    x1 + 4.0,
                    by + bar_h - 3.0,
                    escape(&fmt_value(self.value_axis.format, v)),
                    escape(cat),
                    escape(&label)
                );
            }
        }
        x_label(&mut out, r, &self.value_axis.label, height - 14.0);
        out.push_str("</svg>\n");
        out
    }
}

/// A value as a label (more precise than a tick).
fn fmt_value(format: Format, v: f64) -> String {
    match format {
        Format::Usd => usd_label(v),
        Format::Count => super::group_thousands(v),
        Format::Hours => format!("{v:.1}h"),
        Format::Percent => format!("{:.1}%", v * 100.0),
    }
}

impl Timeline {
    pub fn to_svg(&self) -> String {
        let xs = self
            .lanes
            .iter()
            .flat_map(|l| l.spans.iter().flat_map(|s| [s.from, s.to]))
            .chain(self.events.iter().map(|e| e.0));
        let x = Fitted::fit(&self.x, xs, false);
        let label_w = self
            .lanes
            .iter()
            .map(|l| l.label.chars().count())
            .max()
            .unwrap_or(0) as f64
            * CHAR_W
            + 24.0;
        let label_w = label_w.clamp(80.0, 280.0);
        let lane_h = 30.0;
        let top = 48.0 + if self.events.is_empty() { 0.0 } else { 18.0 };
        let r = Rect {
            x0: label_w,
            y0: top,
            x1: WIDTH - 24.0,
            y1: top + lane_h * self.lanes.len().max(1) as f64,
        };
        let height = r.y1 + 50.0;
        let mut out = String::new();
        open_svg(&mut out, &self.id, &self.title, &self.description, height);
        let dummy = Fitted {
            scale: Scale::Linear,
            format: Format::Count,
            lo: 0.0,
            hi: 1.0,
            ticks: Vec::new(),
        };
        axes(&mut out, r, &x, &dummy, true);
        if self.lanes.is_empty() {
            no_data(&mut out, r);
        }
        for (li, lane) in self.lanes.iter().enumerate() {
            let ly = r.y0 + li as f64 * lane_h;
            if li > 0 {
                let _ = writeln!(
                    out,
                    "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#e3e3e3\"/>",
                    r.x0, r.x1
                );
            }
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#222\">{}</text>",
                r.x0 - 8.0,
                ly + lane_h / 2.0 + 4.0,
                escape(&lane.label)
            );
            for s in &lane.spans {
                let (Some(a), Some(b)) = (x.map(s.from, r.x0, r.x1), x.map(s.to, r.x0, r.x1))
                else {
                    continue;
                };
                let (a, b) = (a.clamp(r.x0, r.x1), b.clamp(r.x0, r.x1));
                let w = (b - a).max(2.0);
                let _ = writeln!(
                    out,
                    "<g><rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"{}\"/><title>{}: {}–{}</title>",
                    ly + 6.0,
                    lane_h - 12.0,
                    escape(&s.color),
                    escape(&s.label),
                    escape(&fmt_value(self.x.format, s.from)),
                    escape(&fmt_value(self.x.format, s.to))
                );
                let text_w = s.label.chars().count() as f64 * CHAR_W;
                if text_w + 8.0 < w {
                    let _ = write!(
                        out,
                        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#fff\">{}</text>",
                        a + 4.0,
                        ly + lane_h / 2.0 + 4.0,
                        escape(&s.label)
                    );
                } else if b + text_w + 6.0 < r.x1 {
                    let _ = write!(
                        out,
                        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#333\">{}</text>",
                        b + 4.0,
                        ly + lane_h / 2.0 + 4.0,
                        escape(&s.label)
                    );
                }
                out.push_str("</g>\n");
            }
        }
        for (ex, label) in &self.events {
            let Some(px) = x.map(*ex, r.x0, r.x1) else {
                continue;
            };
            let right = px < (r.x0 + r.x1) / 2.0;
            let anchor = if right { "start" } else { "end" };
            let _ = writeln!(
                out,
                "<g><line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#222\" stroke-dasharray=\"4 3\"/>\
<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#222\">{}</text></g>",
                r.y0 - 14.0,
                r.y1,
                r.y0 - 4.0,
                escape(label)
            );
        }
        x_label(&mut out, r, &self.x.label, height - 14.0);
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_chart() -> LineChart {
        LineChart {
            id: "c1".into(),
            title: "Cost <curves> & more".into(),
            description: "desc".into(),
            x: Axis::new("verifications", Scale::Log, Format::Count),
            y: Axis::new("USD", Scale::Log, Format::Usd),
            series: vec![
                Series::new("SMS", PALETTE[0], vec![(1e3, 50.0), (1e6, 5e4), (1e9, 5e7)]),
                Series::new("zero", PALETTE[1], vec![(1e3, 0.0), (1e4, 10.0)]).dashed(),
            ],
            markers: vec![Marker {
                x: 2e3,
                y: 100.0,
                label: "break-even".into(),
                color: PALETTE[2].into(),
            }],
            bands: vec![],
        }
    }

    #[test]
    fn line_chart_is_escaped_svg_with_log_ticks() {
        let svg = line_chart().to_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<title id=\"c1-title\">Cost &lt;curves&gt; &amp; more</title>"));
        assert!(!svg.contains("<curves>"));
        for tick in [">1k<", ">1M<", ">1B<", ">$10<", ">$100M<"] {
            assert!(svg.contains(tick), "missing tick {tick}");
        }
        assert!(svg.contains("break-even"));
        assert!(svg.contains("stroke-dasharray=\"7 4\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg, line_chart().to_svg(), "deterministic");
    }

    #[test]
    fn empty_charts_render() {
        let mut c = line_chart();
        c.series.clear();
        c.markers.clear();
        assert!(c.to_svg().contains("no data"));
        let b = BarChart {
            id: "b".into(),
            title: "t".into(),
            description: "d".into(),
            value_axis: Axis::new("USD", Scale::Linear, Format::Usd),
            categories: vec![],
            series: vec![],
        };
        assert!(b.to_svg().contains("no data"));
        let t = Timeline {
            id: "t".into(),
            title: "t".into(),
            description: "d".into(),
            x: Axis::new("hours", Scale::Linear, Format::Hours),
            lanes: vec![],
            events: vec![],
        };
        assert!(t.to_svg().contains("no data"));
    }

    #[test]
    fn linear_ticks_are_round() {
        let f = Fitted::fit(
            &Axis::new("x", Scale::Linear, Format::Count),
            [3.0, 97.0].into_iter(),
            true,
        );
        assert_eq!((f.lo, f.hi), (0.0, 100.0));
        assert_eq!(f.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let f = Fitted::fit(
            &Axis::new("t", Scale::Linear, Format::Hours),
            [0.0, 48.0].into_iter(),
            false,
        );
        assert_eq!(f.ticks, vec![0.0, 12.0, 24.0, 36.0, 48.0]);
    }
}
