//! Axes of every chart: scales (linear or log), tick formats, fitting a domain and its ticks to
//! the data, and drawing grid lines, tick labels and axis titles.

use super::canvas::Rect;
use crate::report::{escape, group_thousands, short_count, usd_label};
use std::fmt::Write as _;

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
    /// A value `1/(1-p)` written as the percentile `p`: 1 → 0%, 10 → 90%, 1000 → 99.9%.
    /// For the log x axis of latency percentile plots.
    Nines,
}

fn fmt_tick(format: Format, v: f64) -> String {
    match format {
        Format::Count => short_count(v),
        Format::Usd if v.abs() >= 1000.0 => format!("${}", short_count(v)),
        Format::Usd if v.abs() >= 1.0 || v == 0.0 => format!("${}", short_count(v)),
        Format::Usd => usd_label(v),
        Format::Hours => format!("{}h", short_count(v)),
        Format::Percent => format!("{}%", short_count(v * 100.0)),
        Format::Nines => nines(v),
    }
}

/// `1/(1-p)` as a percentile with as many decimals as it has nines: 1000 → "99.9%".
fn nines(v: f64) -> String {
    if !(v.is_finite() && v >= 1.0) {
        return String::from("n/a");
    }
    let p = 100.0 * (1.0 - 1.0 / v);
    let decimals = (v.log10().round() as i32 - 2).clamp(0, 12) as usize;
    let body = format!("{p:.decimals$}");
    format!("{body}%")
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

/// A fitted axis: domain and ticks.
pub(super) struct Fitted {
    pub(super) scale: Scale,
    pub(super) format: Format,
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) ticks: Vec<f64>,
}

impl Fitted {
    pub(super) fn fit(axis: &Axis, values: impl Iterator<Item = f64>, zero_based: bool) -> Fitted {
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
    pub(super) fn map(&self, v: f64, a: f64, b: f64) -> Option<f64> {
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

/// Grid, ticks and tick labels for both axes of a plot.
pub(super) fn axes(out: &mut String, r: Rect, x: &Fitted, y: &Fitted, x_labels: bool) {
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

pub(super) fn y_label(out: &mut String, r: Rect, label: &str) {
    let cy = (r.y0 + r.y1) / 2.0;
    let _ = writeln!(
        out,
        "<text transform=\"translate(16 {cy:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        escape(label)
    );
}

pub(super) fn x_label(out: &mut String, r: Rect, label: &str, y: f64) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        (r.x0 + r.x1) / 2.0,
        escape(label)
    );
}

/// A value as a label (more precise than a tick).
pub(super) fn fmt_value(format: Format, v: f64) -> String {
    match format {
        Format::Usd => usd_label(v),
        Format::Count => group_thousands(v),
        Format::Hours => format!("{v:.1}h"),
        Format::Percent => format!("{:.1}%", v * 100.0),
        Format::Nines => nines(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn nines_are_written_as_percentiles() {
        let labels: Vec<String> = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
            .into_iter()
            .map(nines)
            .collect();
        assert_eq!(
            labels,
            ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].map(String::from)
        );
        assert_eq!(nines(2.0), "50%");
        assert_eq!(nines(0.5), "n/a");
    }
}
