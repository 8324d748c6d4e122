//! Timelines: lanes of labelled spans over a shared time axis, with vertical event lines
//! (an attack window, what each method is billed, when a defence engages).

use super::axes::{Axis, Fitted, Format, Scale, axes, fmt_value, x_label};
use super::canvas::{CHAR_W, Rect, WIDTH, no_data, open_svg};
use crate::report::escape;
use std::fmt::Write as _;

/// Height of one lane, in SVG units.
const LANE_H: f64 = 30.0;

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
        let top = 48.0 + if self.events.is_empty() { 0.0 } else { 18.0 };
        let r = Rect {
            x0: label_w,
            y0: top,
            x1: WIDTH - 24.0,
            y1: top + LANE_H * self.lanes.len().max(1) as f64,
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
            self.lane(&mut out, &x, r, li, lane);
        }
        for (ex, label) in &self.events {
            event_line(&mut out, &x, r, *ex, label);
        }
        x_label(&mut out, r, &self.x.label, height - 14.0);
        out.push_str("</svg>\n");
        out
    }

    /// One lane: its separator, its label and its spans.
    fn lane(&self, out: &mut String, x: &Fitted, r: Rect, li: usize, lane: &Lane) {
        let ly = r.y0 + li as f64 * LANE_H;
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
            ly + LANE_H / 2.0 + 4.0,
            escape(&lane.label)
        );
        for s in &lane.spans {
            self.span(out, x, r, ly, s);
        }
    }

    /// One span: a bar with its label inside, else to its right when there is room.
    fn span(&self, out: &mut String, x: &Fitted, r: Rect, ly: f64, s: &Span) {
        let (Some(a), Some(b)) = (x.map(s.from, r.x0, r.x1), x.map(s.to, r.x0, r.x1)) else {
            return;
        };
        let (a, b) = (a.clamp(r.x0, r.x1), b.clamp(r.x0, r.x1));
        let w = (b - a).max(2.0);
        let _ = writeln!(
            out,
            "<g><rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"{}\"/><title>{}: {}–{}</title>",
            ly + 6.0,
            LANE_H - 12.0,
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
                ly + LANE_H / 2.0 + 4.0,
                escape(&s.label)
            );
        } else if b + text_w + 6.0 < r.x1 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#333\">{}</text>",
                b + 4.0,
                ly + LANE_H / 2.0 + 4.0,
                escape(&s.label)
            );
        }
        out.push_str("</g>\n");
    }
}

/// A vertical event line across all lanes, labelled on the side with more room.
fn event_line(out: &mut String, x: &Fitted, r: Rect, ex: f64, label: &str) {
    let Some(px) = x.map(ex, r.x0, r.x1) else {
        return;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::{Format, Scale};

    #[test]
    fn empty_timeline_renders() {
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
}
