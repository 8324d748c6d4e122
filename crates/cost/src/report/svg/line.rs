//! Line charts: [`LineChart`] (log or linear axes, labelled markers such as a break-even,
//! shaded bands) and [`TimeSeriesChart`] (panels stacked over one time axis).

use super::axes::{Axis, Fitted, axes, x_label, y_label};
use super::canvas::{CHAR_W, Rect, WIDTH, clip_def, legend, no_data, open_svg};
use crate::report::escape;
use std::fmt::Write as _;

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
    fn empty_line_chart_renders() {
        let mut c = line_chart();
        c.series.clear();
        c.markers.clear();
        assert!(c.to_svg().contains("no data"));
    }
}
