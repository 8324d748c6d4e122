//! [`PercentileChart`]: a latency percentile distribution as HdrHistogram's plotter draws it,
//! latency over percentile on a log axis of `1/(1-p)`, so that 90 %, 99 %, 99.9 % … 99.999 %
//! are equally spaced and the tail gets as much room as the median.

use super::axes::{Axis, Format, Scale};
use super::line::{LineChart, Series};

/// The right edge of the x axis: `1/(1-p)` at p = 99.999 %.
const TAIL: f64 = 1e5;

/// One curve of a [`PercentileChart`].
#[derive(Clone, Debug)]
pub struct Distribution {
    pub name: String,
    pub color: String,
    pub dashed: bool,
    /// `(percentile in 0..=100, value)`, percentile ascending. Points beyond 99.999 % are
    /// drawn at the right edge, so the largest value (the maximum) still shows.
    pub points: Vec<(f64, f64)>,
}

/// Latency (linear y, `y_label`) over percentile (0 % to 99.999 %, log `1/(1-p)` x).
#[derive(Clone, Debug)]
pub struct PercentileChart {
    pub id: String,
    pub title: String,
    pub description: String,
    pub y_label: String,
    pub curves: Vec<Distribution>,
}

/// Where percentile `p` (0..=100) goes on the x axis: `1/(1-p)`, at most [`TAIL`].
fn x_of(p: f64) -> f64 {
    let rest = 1.0 - p / 100.0;
    if rest <= 1.0 / TAIL { TAIL } else { 1.0 / rest }
}

impl PercentileChart {
    pub fn to_svg(&self) -> String {
        LineChart {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            x: Axis::new(
                "percentile (log scale of 1/(1-p))",
                Scale::Log,
                Format::Nines,
            )
            .with_range(1.0, TAIL),
            y: Axis::new(&self.y_label, Scale::Linear, Format::Count),
            series: self
                .curves
                .iter()
                .map(|c| {
                    let points = c
                        .points
                        .iter()
                        .filter(|(p, v)| {
                            p.is_finite() && v.is_finite() && (0.0..=100.0).contains(p)
                        })
                        .map(|&(p, v)| (x_of(p), v))
                        .collect();
                    let s = Series::new(&c.name, &c.color, points);
                    if c.dashed { s.dashed() } else { s }
                })
                .collect(),
            markers: Vec::new(),
            bands: Vec::new(),
        }
        .to_svg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::PALETTE;

    #[test]
    fn percentiles_are_spaced_by_their_nines_up_to_the_tail() {
        assert_eq!(x_of(0.0), 1.0);
        assert!((x_of(90.0) - 10.0).abs() < 1e-9);
        assert!((x_of(99.9) - 1000.0).abs() < 1e-6);
        assert_eq!(x_of(99.9999), TAIL);
        assert_eq!(x_of(100.0), TAIL);
        let chart = PercentileChart {
            id: "lat".into(),
            title: "webhook latency".into(),
            description: "from the scheduled send time".into(),
            y_label: "ms".into(),
            curves: vec![Distribution {
                name: "webhook".into(),
                color: PALETTE[0].into(),
                dashed: false,
                points: vec![(0.0, 0.1), (50.0, 0.2), (99.0, 1.5), (100.0, 9.0)],
            }],
        };
        let svg = chart.to_svg();
        for tick in [">0%<", ">90%<", ">99%<", ">99.9%<", ">99.99%<", ">99.999%<"] {
            assert!(svg.contains(tick), "missing tick {tick}");
        }
        assert!(svg.contains("1/(1-p)"));
        // The maximum is drawn at the right edge (x = 776.0), not dropped.
        assert!(svg.contains("L776.0 "), "{svg}");
    }
}
