//! Horizontal grouped bar charts: one group per category, one bar per series, each bar
//! labelled with its value.

use super::axes::{Axis, Fitted, Format, Scale, axes, fmt_value, x_label};
use super::canvas::{CHAR_W, LegendItem, Rect, WIDTH, legend, no_data, open_svg};
use crate::report::escape;
use std::fmt::Write as _;

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
        let items: Vec<LegendItem> = self
            .series
            .iter()
            .map(|s| LegendItem {
                name: &s.name,
                color: &s.color,
                dashed: false,
                new_row: false,
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::{Format, Scale};

    #[test]
    fn empty_bar_chart_renders() {
        let b = BarChart {
            id: "b".into(),
            title: "t".into(),
            description: "d".into(),
            value_axis: Axis::new("USD", Scale::Linear, Format::Usd),
            categories: vec![],
            series: vec![],
        };
        assert!(b.to_svg().contains("no data"));
    }
}
