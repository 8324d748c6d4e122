//! Line charts: [`LineChart`] (log or linear axes, labelled markers such as a break-even,
//! shaded bands) and [`TimeSeriesChart`] (panels stacked over one time axis).

use super::axes::{Axis, Fitted, axes, x_label, y_label};
use super::canvas::{CHAR_W, LegendItem, Rect, WIDTH, clip_def, legend, no_data, open_svg};
use crate::report::escape;
use std::fmt::Write as _;

/// A named polyline.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub dashed: bool,
    /// Start a new legend row with this series (keeps series that belong together on a row).
    pub legend_row: bool,
    /// `(x, y)` in data units, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: &str, color: &str, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.to_string(),
            color: color.to_string(),
            dashed: false,
            legend_row: false,
            points,
        }
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// Starts a new legend row with this series.
    pub fn legend_row(mut self) -> Self {
        self.legend_row = true;
        self
    }

    fn legend_item(&self) -> LegendItem<'_> {
        LegendItem {
            name: &self.name,
            color: &self.color,
            dashed: self.dashed,
            new_row: self.legend_row,
        }
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

/// A marker label's row and horizontal extent, once placed.
struct Placed {
    row: usize,
    px: f64,
    from: f64,
    to: f64,
}

/// Gap kept between two labels on one row, and between a label and a leader line.
const LABEL_GAP: f64 = 8.0;
/// Height of a row of marker labels.
const LABEL_ROW: f64 = 18.0;

/// Where a label of `width` pixels for a marker at `px` goes: right of it when it fits in the
/// plot, else left of it, else pushed inside the plot. Returns (from, to, text x, anchor).
fn label_extent(px: f64, width: f64, r: Rect) -> (f64, f64, f64, &'static str) {
    if px + 6.0 + width <= r.x1 {
        (px + 6.0, px + 6.0 + width, px + 6.0, "start")
    } else if px - 6.0 - width >= r.x0 {
        (px - 6.0 - width, px - 6.0, px - 6.0, "end")
    } else {
        let from = (r.x1 - width).max(r.x0);
        (from, from + width, from, "start")
    }
}

/// Markers inside the plot, each with a dashed leader from its label down to the x axis.
/// Markers outside the axes' range are not drawn (a label outside the plot would clip).
/// Labels take the first row from the top where they overlap no other label and cross no
/// other marker's leader line, and where their own leader crosses no label below them; so
/// labels far apart share a row and close ones step down without touching.
fn markers(out: &mut String, r: Rect, x: &Fitted, y: &Fitted, markers: &[Marker]) {
    let inside = |v: f64, a: f64, b: f64| v >= a.min(b) - 0.5 && v <= a.max(b) + 0.5;
    let mut shown: Vec<(f64, f64, &Marker)> = markers
        .iter()
        .filter_map(|m| Some((x.map(m.x, r.x0, r.x1)?, y.map(m.y, r.y1, r.y0)?, m)))
        .filter(|(px, py, _)| inside(*px, r.x0, r.x1) && inside(*py, r.y0, r.y1))
        .collect();
    shown.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut placed: Vec<Placed> = Vec::new();
    let max_rows = ((r.y1 - r.y0 - 24.0) / LABEL_ROW).floor().max(1.0) as usize;
    for (px, py, m) in shown {
        let width = m.label.chars().count() as f64 * CHAR_W;
        let (from, to, tx, anchor) = label_extent(px, width, r);
        let fits = |row: usize| {
            placed.iter().all(|p| {
                // Markers at the same x share one leader line: only their labels may collide.
                let same_leader = (p.px - px).abs() < 1.0;
                let overlaps = from < p.to + LABEL_GAP && p.from < to + LABEL_GAP;
                let same_row = p.row == row && overlaps;
                // Another marker's leader runs from its row down: it crosses this label when
                // this row is below it and the leader is within the label.
                let crosses_leader =
                    !same_leader && p.row < row && p.px > from - LABEL_GAP && p.px < to + LABEL_GAP;
                // This leader runs from `row` down: it crosses labels on lower rows.
                let crosses_label =
                    !same_leader && p.row > row && px > p.from - LABEL_GAP && px < p.to + LABEL_GAP;
                !(same_row || crosses_leader || crosses_label)
            })
        };
        let row = (0..max_rows).find(|&k| fits(k)).unwrap_or(max_rows - 1);
        placed.push(Placed { row, px, from, to });
        let color = escape(&m.color);
        let label = escape(&m.label);
        let ly = r.y0 + LABEL_ROW + LABEL_ROW * row as f64;
        let _ = writeln!(
            out,
            "<g><line x1=\"{px:.1}\" y1=\"{ly:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"3 3\"/>\
<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5.5\" fill=\"#fff\" stroke=\"{color}\" stroke-width=\"2.5\"/>\
<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-weight=\"600\" fill=\"{color}\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{label}</text><title>{label}</title></g>",
            r.y1,
            ly + 4.0
        );
    }
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
        let items: Vec<LegendItem> = self.series.iter().map(Series::legend_item).collect();
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
        } else if all_zero(&self.series) {
            zero_notice(&mut out, r, &self.y.label);
        }
        polylines(&mut out, &clip, r, &x, &y, &self.series);
        markers(&mut out, r, &x, &y, &self.markers);
        y_label(&mut out, r, &self.y.label);
        x_label(&mut out, r, &self.x.label, height - 14.0);
        out.push_str("</svg>\n");
        out
    }
}

/// Every point of every series is zero (and there is at least one point): the plot would be
/// an empty frame, so it says so in words instead.
fn all_zero(series: &[Series]) -> bool {
    series.iter().any(|s| !s.points.is_empty())
        && series.iter().all(|s| s.points.iter().all(|p| p.1 == 0.0))
}

/// The words in place of a plot whose values are all zero.
fn zero_notice(out: &mut String, r: Rect, what: &str) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}: 0 throughout the run</text>",
        (r.x0 + r.x1) / 2.0,
        (r.y0 + r.y1) / 2.0 + 4.0,
        escape(what)
    );
}

impl TimeSeriesChart {
    pub fn to_svg(&self) -> String {
        let xs = self
            .panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)));
        let x = Fitted::fit(&self.x, xs, false);
        let mut out = String::new();
        let mut body = String::new();
        let mut top = 44.0;
        for (i, p) in self.panels.iter().enumerate() {
            let items: Vec<LegendItem> = p.series.iter().map(Series::legend_item).collect();
            let after = legend(&mut body, &items, 80.0, top + 12.0, WIDTH - 20.0);
            // A panel of zeros shrinks to a strip that says so: no empty frame, no y ticks.
            let zero = all_zero(&p.series);
            let r = Rect {
                x0: 80.0,
                y0: after,
                x1: WIDTH - 24.0,
                y1: after + if zero { 32.0 } else { 150.0 },
            };
            let ys = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1));
            let mut y = Fitted::fit(&p.y, ys, true);
            if zero {
                y.ticks.clear();
            }
            let clip = format!("{}-clip{i}", self.id);
            clip_def(&mut body, &clip, r);
            bands(&mut body, r, &x, &self.bands, i == 0);
            axes(&mut body, r, &x, &y, i + 1 == self.panels.len());
            if p.series.iter().all(|s| s.points.is_empty()) {
                no_data(&mut body, r);
            }
            polylines(&mut body, &clip, r, &x, &y, &p.series);
            if zero {
                zero_notice(&mut body, r, &p.y.label);
            } else {
                y_label(&mut body, r, &p.y.label);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::{Format, PALETTE, Scale};

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
    fn a_panel_of_zeros_says_so_in_a_strip() {
        let panel = |v: f64, label: &str| Panel {
            y: Axis::new(label, Scale::Linear, Format::Count),
            series: vec![Series::new("a", PALETTE[0], vec![(0.0, v), (1.0, v)])],
        };
        let chart = |panels| TimeSeriesChart {
            id: "t".into(),
            title: "t".into(),
            description: "d".into(),
            x: Axis::new("Hours", Scale::Linear, Format::Hours),
            panels,
            bands: vec![],
        };
        let zero = chart(vec![panel(3.0, "Verified"), panel(0.0, "Pumped SMS")]).to_svg();
        assert!(zero.contains("Pumped SMS: 0 throughout the run"), "{zero}");
        assert!(!zero.contains("rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">Pumped SMS"));
        let both = chart(vec![panel(3.0, "Verified"), panel(2.0, "Pumped SMS")]).to_svg();
        assert!(!both.contains("throughout the run"));
        let height = |svg: &str| -> f64 {
            let i = svg.find("height=\"").expect("height") + 8;
            svg[i..]
                .split('"')
                .next()
                .expect("value")
                .parse()
                .expect("number")
        };
        assert!(height(&zero) < height(&both) - 100.0, "the strip is short");
    }

    #[test]
    fn empty_line_chart_renders() {
        let mut c = line_chart();
        c.series.clear();
        c.markers.clear();
        assert!(c.to_svg().contains("no data"));
    }
}
