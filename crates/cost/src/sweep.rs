//! The `mo2fa cost` computation: a logarithmic volume grid × fraud shares, the exact
//! break-even per fraud share, and the CSV. Output is deterministic: fixed decimals, no clock.

use super::config::PricedMix;
use super::error::CostError;
use super::model::{BreakEven, CostCurve, CrossingScan, Evaluation, break_even, curves, evaluate};

/// Volume the break-even search starts at, whatever the range: the report's close-up chart
/// starts at zero, so a crossing below the range's start is still reported (the cards and the
/// charts then agree instead of saying "always cheaper" above a crossing the chart shows).
pub const BREAK_EVEN_FROM: f64 = 1.0;
/// Default grid density.
pub const DEFAULT_POINTS_PER_DECADE: u32 = 10;
/// Step of a fraud-share range given without one (`0..0.5`).
pub const DEFAULT_FRAUD_STEP: f64 = 0.1;
/// Largest grid accepted, to keep files and charts sane.
const MAX_GRID_POINTS: usize = 100_000;

fn parse_number(arg: &str, s: &str) -> Result<f64, CostError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| CostError::argument(arg, format!("`{s}` is not a number")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(CostError::argument(arg, format!("`{s}` is not finite")))
    }
}

/// Parses `LO..HI` (e.g. `1e3..1e9`) or a single volume, as monthly verifications.
pub fn parse_volume_range(s: &str) -> Result<(f64, f64), CostError> {
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (parse_number("volumes", a)?, parse_number("volumes", b)?),
        None => {
            let v = parse_number("volumes", s)?;
            (v, v)
        }
    };
    if !(lo >= 1.0 && hi >= lo && hi <= 1e15) {
        return Err(CostError::argument(
            "volumes",
            format!("need 1 <= LO <= HI <= 1e15, got `{s}`"),
        ));
    }
    Ok((lo, hi))
}

/// Parses fraud shares: one value (`0.2`), a list (`0,0.1,0.2`), or a range `A..B` with an
/// optional step `A..B:STEP` (default 0.1). Values are rounded to 1e-9 so ranges print cleanly.
pub fn parse_fraud_shares(s: &str) -> Result<Vec<f64>, CostError> {
    const ARG: &str = "fraud-share";
    let clean = |v: f64| (v * 1e9).round() / 1e9;
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once("..") {
            Some((a, rest)) => {
                let (b, step) = match rest.split_once(':') {
                    Some((b, st)) => (b, parse_number(ARG, st)?),
                    None => (rest, DEFAULT_FRAUD_STEP),
                };
                let (a, b) = (parse_number(ARG, a)?, parse_number(ARG, b)?);
                if step <= 0.0 || b < a {
                    return Err(CostError::argument(
                        ARG,
                        format!("`{part}` needs A <= B and a step > 0"),
                    ));
                }
                let n = ((b - a) / step + 1e-9).floor();
                if n > 1000.0 {
                    return Err(CostError::argument(
                        ARG,
                        format!("`{part}` has too many steps"),
                    ));
                }
                for i in 0..=(n as u32) {
                    out.push(clean(a + f64::from(i) * step));
                }
            }
            None => out.push(clean(parse_number(ARG, part)?)),
        }
    }
    for &f in &out {
        if !(0.0..=super::model::MAX_FRAUD_SHARE).contains(&f) {
            return Err(CostError::argument(
                ARG,
                format!("{f} is outside [0, {}]", super::model::MAX_FRAUD_SHARE),
            ));
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

/// Volumes from `lo` to `hi`, `per_decade` points per factor of ten, rounded to whole
/// verifications; always includes both ends; strictly increasing.
pub fn log_grid(lo: f64, hi: f64, per_decade: u32) -> Result<Vec<f64>, CostError> {
    if per_decade == 0 {
        return Err(CostError::argument(
            "points-per-decade",
            "must be at least 1",
        ));
    }
    let (l0, l1) = (lo.log10(), hi.log10());
    let steps = ((l1 - l0) * f64::from(per_decade)).ceil();
    if steps as usize > MAX_GRID_POINTS {
        return Err(CostError::argument(
            "points-per-decade",
            format!("the grid would have {steps} points; at most {MAX_GRID_POINTS}"),
        ));
    }
    let mut out: Vec<f64> = Vec::with_capacity(steps as usize + 1);
    out.push(lo.round().max(1.0));
    let mut i = 1u32;
    loop {
        let v = 10f64
            .powf(l0 + f64::from(i) / f64::from(per_decade))
            .round();
        if v >= hi {
            break;
        }
        if out.last().is_some_and(|&last| v > last) {
            out.push(v);
        }
        i += 1;
    }
    let top = hi.round();
    if out.last().is_some_and(|&last| top > last) {
        out.push(top);
    }
    Ok(out)
}

/// What to compute.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub lo: f64,
    pub hi: f64,
    pub points_per_decade: u32,
    pub fraud_shares: Vec<f64>,
    /// Volume for the per-country breakdown; default 1e6 clamped into the range.
    pub reference_volume: Option<f64>,
}

/// One grid point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepRow {
    pub volume: f64,
    pub fraud_share: f64,
    pub sms_usd: f64,
    pub reverse_usd: f64,
    pub lines: u64,
}

impl SweepRow {
    /// Which method is cheaper at this point.
    pub fn cheaper(&self) -> &'static str {
        cheaper_label(self.sms_usd, self.reverse_usd)
    }
}

/// `reverse_imessage`, `sms_otp` or `equal`, compared at cent precision so that the label
/// agrees with the printed numbers.
pub fn cheaper_label(sms: f64, reverse: f64) -> &'static str {
    let (s, r) = ((sms * 100.0).round(), (reverse * 100.0).round());
    if r < s {
        "reverse_imessage"
    } else if s < r {
        "sms_otp"
    } else {
        "equal"
    }
}

/// Results for one fraud share.
#[derive(Clone, Debug)]
pub struct FraudResult {
    pub fraud_share: f64,
    pub sms: CostCurve,
    pub reverse: CostCurve,
    pub scan: CrossingScan,
    pub break_even: BreakEven,
    /// Breakdown at the reference volume.
    pub reference: Evaluation,
}

/// A finished sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub mix: PricedMix,
    pub lo: f64,
    pub hi: f64,
    pub reference_volume: f64,
    pub volumes: Vec<f64>,
    /// Grid rows, fraud share major, volume minor.
    pub rows: Vec<SweepRow>,
    pub per_fraud: Vec<FraudResult>,
}

/// Runs the grid and the exact break-even search.
pub fn run(mix: PricedMix, opts: &SweepOptions) -> Result<Sweep, CostError> {
    if opts.fraud_shares.is_empty() {
        return Err(CostError::argument(
            "fraud-share",
            "give at least one value",
        ));
    }
    let volumes = log_grid(opts.lo, opts.hi, opts.points_per_decade)?;
    let reference_volume = opts
        .reference_volume
        .unwrap_or(1e6)
        .clamp(opts.lo, opts.hi)
        .round();
    let mut rows = Vec::with_capacity(volumes.len() * opts.fraud_shares.len());
    let mut per_fraud = Vec::with_capacity(opts.fraud_shares.len());
    for &f in &opts.fraud_shares {
        let (sms, reverse) = curves(&mix, f)?;
        for &v in &volumes {
            rows.push(SweepRow {
                volume: v,
                fraud_share: f,
                sms_usd: sms.at(v),
                reverse_usd: reverse.at(v),
                lines: reverse.lines_at(v),
            });
        }
        let scan = break_even(&mix, f, BREAK_EVEN_FROM.min(opts.lo), opts.hi)?;
        per_fraud.push(FraudResult {
            fraud_share: f,
            sms,
            reverse,
            break_even: scan.break_even(),
            scan,
            reference: evaluate(&mix, reference_volume, f)?,
        });
    }
    Ok(Sweep {
        mix,
        lo: opts.lo,
        hi: opts.hi,
        reference_volume,
        volumes,
        rows,
        per_fraud,
    })
}

/// `cost_curve.csv`: one row per grid point and fraud share, written with the `csv` crate.
pub fn csv(sweep: &Sweep) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail: the writer's errors come from the sink it writes to.
    let _ = w.write_record([
        "monthly_verifications",
        "fraud_share",
        "sms_otp_usd",
        "reverse_imessage_usd",
        "cheaper",
        "imessage_lines",
    ]);
    for r in &sweep.rows {
        let _ = w.write_record([
            format!("{:.0}", r.volume),
            r.fraud_share.to_string(),
            format!("{:.2}", r.sms_usd),
            format!("{:.2}", r.reverse_usd),
            r.cheaper().to_string(),
            r.lines.to_string(),
        ]);
    }
    w.into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        assert_eq!(parse_volume_range("1e3..1e9").expect("range"), (1e3, 1e9));
        assert_eq!(parse_volume_range("5000").expect("single"), (5e3, 5e3));
        for bad in ["0..10", "10..1", "a..b", "1e3..", "1e20"] {
            assert!(parse_volume_range(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_fraud_shares("0..0.5").expect("range"),
            vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
        );
        assert_eq!(parse_fraud_shares("0.2,0").expect("list"), vec![0.0, 0.2]);
        assert_eq!(parse_fraud_shares("0..0.2:0.05").expect("step").len(), 5);
        for bad in ["1", "-0.1", "x", "0.5..0.1", "0..0.5:0"] {
            assert!(parse_fraud_shares(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_grid_covers_the_range() {
        let g = log_grid(1e3, 1e6, 1).expect("grid");
        assert_eq!(g, vec![1e3, 1e4, 1e5, 1e6]);
        let g = log_grid(1e3, 1e9, 10).expect("grid");
        assert_eq!(g.len(), 61);
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(log_grid(7.0, 7.0, 10).expect("grid"), vec![7.0]);
        assert!(log_grid(1.0, 10.0, 0).is_err());
    }
}
