//! Hand-written SVG charts. Each chart is a plain struct of data and labels; `to_svg` returns a
//! standalone `<svg>` element (it also works inline in HTML) with a `<title>` and `<desc>` for
//! screen readers. Output is deterministic: coordinates are printed with one decimal.
//!
//! Charts never fail: empty or non-positive data on a log axis is skipped and an empty plot
//! says "no data", because a report must still render when a simulation produced nothing.
//!
//! * `axes`: scales, tick formats, fitting a domain to the data, grid and tick labels.
//! * `canvas`: the `<svg>` frame, legends, clip paths, the "no data" notice.
//! * `line`: [`LineChart`] and [`TimeSeriesChart`].
//! * `bar`: [`BarChart`].
//! * `percentile`: [`PercentileChart`], latency percentile distributions.
//! * `timeline`: [`Timeline`].

mod axes;
mod bar;
mod canvas;
mod line;
mod percentile;
mod timeline;

pub use axes::{Axis, Format, Scale};
pub use bar::{BarChart, BarSeries};
pub use line::{Band, LineChart, Marker, Panel, Series, TimeSeriesChart};
pub use percentile::{Distribution, PercentileChart};
pub use timeline::{Lane, Span, Timeline};

/// Colour-blind-friendly palette (Okabe–Ito based), in the order series are usually assigned.
pub const PALETTE: [&str; 8] = [
    "#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f", "#000000",
];
