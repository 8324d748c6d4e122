//! Virtual time: the units the engine counts in and the only conversions between them.
//!
//! The engine's clock is `now_ms`, milliseconds since the start of the run (`u64`). The core
//! (verifier, SMS OTP) is given wall time, [`EPOCH_MS`] + `now_ms`, so signature timestamps and
//! expiry times look like real ones. Distributions sample fractional milliseconds (`f64`); the
//! one place they become whole milliseconds is [`whole_ms`]. Every conversion here is checked
//! or saturating, never a bare `as` on a time value.

/// Virtual epoch: 2026-01-01T00:00:00Z, so signature timestamps look like real ones.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
pub const MS_PER_S: u64 = 1_000;
pub const MS_PER_HOUR: u64 = 3_600_000;
pub const MS_PER_DAY: u64 = 86_400_000;

/// The largest integer an `f64` holds exactly; virtual times stay far below it (285 000 years).
const F64_EXACT_MAX: u64 = 1 << 53;

/// Wall time the core sees at virtual time `now_ms`.
pub fn wall_ms(now_ms: u64) -> u64 {
    EPOCH_MS.saturating_add(now_ms)
}

/// Whole seconds of a wall time, as signature headers carry them.
pub fn unix_s(wall_ms: u64) -> i64 {
    i64::try_from(wall_ms / MS_PER_S).unwrap_or(i64::MAX)
}

/// A sampled duration or clock reading in fractional milliseconds, truncated to whole
/// milliseconds. Samples are finite and non-negative; anything else is a bug upstream
/// (checked in debug builds, saturated to the `u64` range in release builds).
pub fn whole_ms(ms: f64) -> u64 {
    debug_assert!(
        ms.is_finite() && ms >= 0.0,
        "a time sample must be finite and >= 0, got {ms}"
    );
    // `as` from f64 truncates towards zero and saturates (NaN -> 0): exactly the rounding the
    // engine has always used, now in one place.
    ms as u64
}

/// A whole-millisecond time as `f64`, exact below 2^53 ms.
pub fn ms_f64(ms: u64) -> f64 {
    debug_assert!(ms <= F64_EXACT_MAX, "{ms} ms is not exact as f64");
    // Exact: `u32` halves convert losslessly and recombine without rounding below 2^53.
    let high = u32::try_from(ms >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(ms & 0xFFFF_FFFF).unwrap_or(u32::MAX);
    f64::from(high) * 4_294_967_296.0 + f64::from(low)
}

/// A count (an index into rows) as `f64`, exact below 2^53.
pub fn count_f64(n: usize) -> f64 {
    ms_f64(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Hours (fractional) in `ms`.
pub fn hours(ms: u64) -> f64 {
    ms_f64(ms) / ms_f64(MS_PER_HOUR)
}

/// Days (fractional) since the start of the run.
pub fn days(now_ms: u64) -> f64 {
    ms_f64(now_ms) / ms_f64(MS_PER_DAY)
}

/// Index of the bucket of width `width_ms` that holds `t_ms`, clamped to the last of `len`
/// buckets (flows draining after the end are counted in the last one).
pub fn bucket(t_ms: u64, width_ms: u64, len: usize) -> usize {
    debug_assert!(width_ms > 0 && len > 0);
    let i = usize::try_from(t_ms / width_ms.max(1)).unwrap_or(usize::MAX);
    i.min(len.saturating_sub(1))
}

/// How many buckets of `width_ms` cover `span_ms` (at least one).
pub fn buckets(span_ms: u64, width_ms: u64) -> usize {
    usize::try_from(span_ms.div_ceil(width_ms.max(1)))
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_starts_at_the_epoch_and_signatures_use_whole_seconds() {
        assert_eq!(wall_ms(0), EPOCH_MS);
        assert_eq!(wall_ms(1_999), EPOCH_MS + 1_999);
        assert_eq!(unix_s(wall_ms(1_999)), 1_767_225_601);
        assert_eq!(wall_ms(u64::MAX), u64::MAX, "saturates instead of wrapping");
        assert_eq!(EPOCH_MS % MS_PER_DAY, 0, "the epoch is a midnight");
    }

    #[test]
    fn samples_truncate_to_whole_milliseconds() {
        assert_eq!(whole_ms(0.0), 0);
        assert_eq!(whole_ms(0.999), 0);
        assert_eq!(whole_ms(1.5), 1);
        assert_eq!(whole_ms(86_400_000.7), 86_400_000);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "finite")]
    fn a_negative_sample_is_a_bug() {
        whole_ms(-1.0);
    }

    #[test]
    fn whole_ms_as_f64_is_exact() {
        for ms in [
            0,
            1,
            4_294_967_295,
            4_294_967_296,
            4_294_967_297,
            EPOCH_MS,
            1 << 53,
        ] {
            assert_eq!(ms_f64(ms), ms as f64, "{ms}");
        }
        assert_eq!(days(MS_PER_DAY / 2), 0.5);
    }

    #[test]
    fn buckets_clamp_to_the_last() {
        assert_eq!(buckets(7_200_000, 600_000), 12);
        assert_eq!(buckets(7_200_001, 600_000), 13);
        assert_eq!(buckets(0, 600_000), 1);
        assert_eq!(bucket(0, 600_000, 12), 0);
        assert_eq!(bucket(599_999, 600_000, 12), 0);
        assert_eq!(bucket(600_000, 600_000, 12), 1);
        assert_eq!(
            bucket(99 * 600_000, 600_000, 12),
            11,
            "drain counts go to the last row"
        );
    }
}
