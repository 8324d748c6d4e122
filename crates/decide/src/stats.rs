//! Means and 95 % intervals across seeds. The interval is Student's t interval for the mean:
//! mean ± t(0.975, n−1) · s / √n, with s the sample standard deviation of the n seeds' values.
//! It assumes the seeds' results are independent draws of one distribution (they are: each
//! seed is its own random stream); it says nothing for n = 1.

/// t(0.975, df) for df = 1..=30: the two-sided 95 % critical values of Student's t
/// distribution, published in the NIST/SEMATECH e-Handbook of Statistical Methods, table
/// 1.3.6.7.2 (https://www.itl.nist.gov/div898/handbook/eda/section3/eda3672.htm).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// t(0.975, df): the table up to 30 degrees of freedom, then the Cornish-Fisher expansion of
/// t around the normal quantile 1.959964 (Abramowitz and Stegun 26.7.5), within 0.001 there.
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if let Some(t) = T975.get(df - 1) {
        return *t;
    }
    let z: f64 = 1.959_964;
    let n = df as f64;
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    z + g1 / n + g2 / (n * n) + g3 / (n * n * n)
}

/// The mean of `xs` and its 95 % t interval (`None` with fewer than two values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub n: usize,
    pub mean: f64,
    pub ci95: Option<(f64, f64)>,
}

pub fn estimate(xs: &[f64]) -> Option<Estimate> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let ci95 = (n >= 2).then(|| {
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        (mean - half, mean + half)
    });
    Some(Estimate { n, mean, ci95 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_students_t() {
        // 2, 4, 6: mean 4, s = 2, t(0.975, 2) = 4.303 → 4 ± 4.303·2/√3.
        let e = estimate(&[2.0, 4.0, 6.0]).unwrap();
        assert_eq!(e.mean, 4.0);
        let (lo, hi) = e.ci95.unwrap();
        let half = 4.303 * 2.0 / 3f64.sqrt();
        assert!((lo - (4.0 - half)).abs() < 1e-12 && (hi - (4.0 + half)).abs() < 1e-12);
        assert_eq!(estimate(&[5.0]).unwrap().ci95, None);
        assert_eq!(estimate(&[]), None);
        let e = estimate(&[3.0, 3.0]).unwrap();
        assert_eq!(e.ci95, Some((3.0, 3.0)));
    }

    #[test]
    fn past_the_table_the_expansion_continues_it() {
        // Published: t(0.975, 40) = 2.021, t(0.975, 60) = 2.000, t(0.975, 100) = 1.984.
        for (df, t) in [(30, 2.042), (40, 2.021), (60, 2.000), (100, 1.984)] {
            assert!((t975(df) - t).abs() < 0.0015, "df {df}: {}", t975(df));
        }
    }
}
