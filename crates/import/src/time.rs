//! Timestamps as the logs write them, to Unix milliseconds (UTC), without a calendar crate.
//!
//! Accepted: ISO 8601 / RFC 3339 date-times (`2026-11-02T10:00:00Z`, a space instead of the
//! `T`, fractional seconds, `Z`, `±HH:MM`, `±HHMM` or no zone meaning UTC), RFC 2822 (`Mon, 02
//! Nov 2026 10:00:00 +0000`, the Twilio REST API's form) and Unix time as digits (seconds, or
//! milliseconds from 13 digits on). Anything else is `None`, so the caller reports the field.

/// Milliseconds in a day and an hour.
pub const DAY_MS: u64 = 86_400_000;
pub const HOUR_MS: u64 = 3_600_000;

/// Parses one timestamp; `None` when it is not one of the accepted forms or is before 1970.
pub fn parse_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.iter().all(u8::is_ascii_digit) {
        let v: u64 = s.parse().ok()?;
        return Some(if b.len() >= 13 {
            v
        } else {
            v.checked_mul(1000)?
        });
    }
    if b.len() > 4 && b[4] == b'-' {
        iso8601(b)
    } else {
        rfc2822(s)
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn iso8601(b: &[u8]) -> Option<u64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b' ' && b[10] != b't' {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let mut i = 19;
    let mut ms = 0u32;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_min = zone(&b[i..])?;
    to_ms(y, mo, d, h, mi, s, ms, offset_min)
}

/// `Z`, `±HH:MM`, `±HHMM`, `±HH`, ` UTC`, ` +0000` or nothing: minutes east of UTC.
fn zone(rest: &[u8]) -> Option<i64> {
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    match rest {
        [] | b"Z" | b"z" | b"UTC" | b"GMT" => Some(0),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail.len() {
                2 => (digits(tail, 0, 2)?, 0),
                4 => (digits(tail, 0, 2)?, digits(tail, 2, 2)?),
                5 if tail[2] == b':' => (digits(tail, 0, 2)?, digits(tail, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let v = i64::from(h * 60 + m);
            Some(if *sign == b'-' { -v } else { v })
        }
        _ => None,
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `[Day, ]DD Mon YYYY HH:MM:SS ZONE`.
fn rfc2822(s: &str) -> Option<u64> {
    let s = match s.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => s,
    };
    let mut parts = s.split_ascii_whitespace();
    let d: u32 = parts.next()?.parse().ok()?;
    let mon = parts.next()?.to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let y: u32 = parts.next()?.parse().ok()?;
    let hms = parts.next()?.as_bytes();
    if hms.len() != 8 || hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    let (h, mi, sec) = (digits(hms, 0, 2)?, digits(hms, 3, 2)?, digits(hms, 6, 2)?);
    let offset = zone(parts.next().unwrap_or("").as_bytes())?;
    if parts.next().is_some() {
        return None;
    }
    to_ms(y, mo, d, h, mi, sec, 0, offset)
}

#[allow(clippy::too_many_arguments)]
fn to_ms(
    y: u32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    ms: u32,
    offset_min: i64,
) -> Option<u64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_min * 60;
    let total = secs.checked_mul(1000)?.checked_add(i64::from(ms))?;
    u64::try_from(total).ok()
}

fn days_in_month(y: u32, m: u32) -> u32 {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a Unix day number.
pub fn day_string(day: u64) -> String {
    let t = mo2fa_core::timefmt::rfc3339_ms(day.saturating_mul(DAY_MS));
    t[..10].to_string()
}

/// Unix milliseconds as RFC 2822 in UTC, whole seconds (`Thu, 01 Jan 2026 00:00:00 +0000`), as
/// Twilio's Message resource writes its dates.
pub fn rfc2822_string(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let full = mo2fa_core::timefmt::rfc3339_ms(ms);
    let month: usize = full[5..7].parse().unwrap_or(1);
    let mon = MONTHS[month.clamp(1, 12) - 1];
    let mut m = mon.to_string();
    m[..1].make_ascii_uppercase();
    format!(
        "{}, {} {m} {} {} +0000",
        DAYS[((ms / DAY_MS) % 7) as usize],
        &full[8..10],
        &full[..4],
        &full[11..19]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_logs_use() {
        assert_eq!(
            rfc2822_string(1_767_225_600_000),
            "Thu, 01 Jan 2026 00:00:00 +0000"
        );
        assert_eq!(
            rfc2822_string(1_798_761_599_999),
            "Thu, 31 Dec 2026 23:59:59 +0000"
        );
        let t = 1_798_761_599_000; // 2026-12-31T23:59:59Z
        assert_eq!(parse_ms("2026-12-31T23:59:59Z"), Some(t));
        assert_eq!(parse_ms("2026-12-31 23:59:59"), Some(t));
        assert_eq!(parse_ms("2026-12-31T23:59:59.5Z"), Some(t + 500));
        assert_eq!(parse_ms("2026-12-31T23:59:59.123456Z"), Some(t + 123));
        assert_eq!(parse_ms("2027-01-01T01:59:59+02:00"), Some(t));
        assert_eq!(parse_ms("2026-12-31T22:59:59-0100"), Some(t));
        assert_eq!(parse_ms("Thu, 31 Dec 2026 23:59:59 +0000"), Some(t));
        assert_eq!(parse_ms("31 Dec 2026 23:59:59 GMT"), Some(t));
        assert_eq!(parse_ms("1798761599"), Some(t));
        assert_eq!(parse_ms("1798761599000"), Some(t));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-31",
            "2026-12-31T24:00:00Z",
            "2026-12-31T10:00:00+2",
            "Thu, 31 Foo 2026 23:59:59 +0000",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_match_the_core_formatter() {
        for day in [0u64, 59, 365, 10_957, 20_818, 20_819] {
            let s = day_string(day);
            let parsed = parse_ms(&format!("{s}T00:00:00Z")).unwrap();
            assert_eq!(parsed, day * DAY_MS, "{s}");
        }
    }
}
