//! What every chart draws the same way: the page width and font, the `<svg>` opening with its
//! title and description, legends, clip paths and the "no data" notice.

use crate::report::escape;
use std::fmt::Write as _;

pub(super) const WIDTH: f64 = 800.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
/// Rough advance of one character at 12px, for laying out legends and labels without a font
/// engine. Errs wide so text does not overlap.
pub(super) const CHAR_W: f64 = 6.8;

/// A rectangle in pixels.
#[derive(Clone, Copy)]
pub(super) struct Rect {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) x1: f64,
    pub(super) y1: f64,
}

pub(super) fn open_svg(out: &mut String, id: &str, title: &str, desc: &str, height: f64) {
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

/// One entry of a legend.
pub(super) struct LegendItem<'a> {
    pub(super) name: &'a str,
    pub(super) color: &'a str,
    pub(super) dashed: bool,
    /// Start a new row with this item (e.g. one row per pair of series that belong together).
    pub(super) new_row: bool,
}

/// Lays out legend items left to right from `(x, y)`, wrapping at `max_x` and before an item
/// that asks for a new row; returns the y of the row after the last one.
pub(super) fn legend(
    out: &mut String,
    items: &[LegendItem],
    x: f64,
    mut y: f64,
    max_x: f64,
) -> f64 {
    if items.is_empty() {
        return y;
    }
    let mut cx = x;
    for item in items {
        let w = 28.0 + item.name.chars().count() as f64 * CHAR_W + 16.0;
        if (cx + w > max_x || item.new_row) && cx > x {
            cx = x;
            y += 18.0;
        }
        let dash = if item.dashed {
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
            escape(item.color),
            cx + 28.0,
            y,
            escape(item.name)
        );
        cx += w;
    }
    y + 18.0
}

pub(super) fn clip_def(out: &mut String, id: &str, r: Rect) {
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

pub(super) fn no_data(out: &mut String, r: Rect) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#777\">no data</text>",
        (r.x0 + r.x1) / 2.0,
        (r.y0 + r.y1) / 2.0
    );
}
