//! Time written for people: RFC 3339 timestamps for API answers (UTC only, milliseconds,
//! without a calendar crate), and the one duration syntax of every file and flag.
//!
//! A duration is a number with a unit (`250ms`, `30s`, `15m`, `2h`, `1d`), several of them in
//! a row (`1h30m`, `2m30s`), or a plain number, which means seconds (`300`, `1.5`). Scenario,
//! defence, mix and target files and the command line all read it with [`parse_duration`].

use crate::clock::Millis;

/// The longest duration any file or flag may give.
pub const MAX_DURATION_MS: u64 = 400 * 86_400_000;

/// What a duration looks like, for error messages.
const SYNTAX: &str = "write a number with a unit (250ms, 30s, 15m, 2h, 1d, 1h30m) or a plain \
                      number of seconds";

/// A duration in milliseconds (see the module header for the syntax), at most 400 days.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("duration {s:?} is empty: {SYNTAX}"));
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let secs: f64 = t
            .parse()
            .map_err(|_| format!("duration {s:?} is not a number: {SYNTAX}"))?;
        return seconds_to_ms(secs).map_err(|m| format!("duration {s:?}: {m}"));
    }
    let mut rest = t;
    let mut total = 0.0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(split);
        let v: f64 = num
            .parse()
            .map_err(|_| format!("duration {s:?} does not start with a number: {SYNTAX}"))?;
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_ms = match unit {
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86_400e3,
            "" => return Err(format!("duration {s:?} needs a unit after {num}: {SYNTAX}")),
            _ => {
                return Err(format!(
                    "duration {s:?}: unknown unit {unit:?} (ms, s, m, h, d): {SYNTAX}"
                ));
            }
        };
        total += v * unit_ms;
        rest = next;
    }
    if !total.is_finite() || total > MAX_DURATION_MS as f64 {
        return Err(format!("duration {s:?} is longer than 400 days"));
    }
    Ok(total.round() as u64)
}

/// A plain number of seconds in milliseconds: finite, not negative, at most 400 days.
pub fn seconds_to_ms(secs: f64) -> Result<u64, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "{secs} is not a duration: a plain number is seconds, 0 or more"
        ));
    }
    let ms = secs * 1000.0;
    if ms > MAX_DURATION_MS as f64 {
        return Err(format!("{secs} seconds is longer than 400 days"));
    }
    Ok(ms.round() as u64)
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ms: Millis) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm, eras of 400 years).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_duration_syntax() {
        for (text, ms) in [
            ("250ms", 250),
            ("1.5h", 5_400_000),
            ("30d", 2_592_000_000),
            ("300", 300_000),
            ("1.5", 1_500),
            (" 90s ", 90_000),
            ("1h30m", 5_400_000),
            ("2m30s", 150_000),
            ("1d12h", 129_600_000),
            ("1s500ms", 1_500),
            ("0", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
        for bad in [
            "",
            "5 minutes",
            "5y",
            "999d",
            "h",
            "1h30",
            "-5s",
            "1..5s",
            "300 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(seconds_to_ms(300.0), Ok(300_000));
        assert!(seconds_to_ms(-1.0).is_err());
        assert!(seconds_to_ms(f64::NAN).is_err());
        assert!(seconds_to_ms(401.0 * 86_400.0).is_err());
    }

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
    }
}
