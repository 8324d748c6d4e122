//! Phone numbers and client addresses: parsed into numbers, and shown only masked.
//!
//! Reports show a number as its country calling code and its last 2 digits (`+44…23`) unless
//! the user asks for `--show-numbers`; an address only as its /24 (IPv4) or /48 (IPv6); a
//! number range (the number without its last 4 digits) as the calling code, the range's last 2
//! digits and `xxxx`. Nothing here keeps or writes a full number.

use std::net::IpAddr;

/// Digits an E.164 number may have (ITU-T E.164: at most 15) and the fewest a real one has.
pub const MAX_DIGITS: usize = 15;
pub const MIN_DIGITS: usize = 7;

/// An E.164 number (`+` optional) with separators (space, `-`, `.`, parentheses) to its digits
/// as a number. `None` for anything else, a leading zero or a length outside 7..=15 digits.
pub fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    let rest = s.strip_prefix('+').unwrap_or(s);
    let mut n: u64 = 0;
    let mut count = 0usize;
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => {
                if count == 0 && b == b'0' {
                    return None;
                }
                count += 1;
                if count > MAX_DIGITS {
                    return None;
                }
                n = n * 10 + u64::from(b - b'0');
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    (count >= MIN_DIGITS).then_some(n)
}

/// The calling code of a number, or `?` when the table does not know it.
fn calling_code(number: u64) -> &'static str {
    mo2fa_core::dialing::country_of_number(number).map_or("?", |i| i.calling_code)
}

/// `+<calling code>…<last 2 digits>`, or the whole number with `show`.
pub fn mask_number(number: u64, show: bool) -> String {
    if show {
        return format!("+{number}");
    }
    format!("+{}…{:02}", calling_code(number), number % 100)
}

/// A range (number / 10,000) as `+<calling code>…<last 2 digits of the range>xxxx`, or the
/// whole range with `show`.
pub fn mask_prefix(prefix: u64, show: bool) -> String {
    if show {
        return format!("+{prefix}xxxx");
    }
    format!("+{}…{:02}xxxx", calling_code(prefix * 10_000), prefix % 100)
}

/// A client address as the importer keeps it: its bits and its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub bits: u128,
    pub v6: bool,
}

impl Addr {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => Some(Addr {
                bits: u128::from(u32::from(a)),
                v6: false,
            }),
            IpAddr::V6(a) => Some(Addr {
                bits: u128::from(a),
                v6: true,
            }),
        }
    }

    /// The /24 or /48 the address belongs to (host bits zeroed).
    pub fn block(self) -> Addr {
        let bits = if self.v6 {
            self.bits & !((1u128 << 80) - 1)
        } else {
            self.bits & 0xFFFF_FF00
        };
        Addr { bits, ..self }
    }

    /// The block, written `a.b.c.0/24` or `x:y:z::/48`.
    pub fn block_string(self) -> String {
        let b = self.block();
        if b.v6 {
            let a = std::net::Ipv6Addr::from(b.bits);
            format!("{a}/48")
        } else {
            let a = std::net::Ipv4Addr::from(b.bits as u32);
            format!("{a}/24")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_and_mask() {
        assert_eq!(parse_number("+44 20 7946 0123"), Some(442_079_460_123));
        assert_eq!(parse_number("+1 (415) 555-0100"), Some(14_155_550_100));
        assert_eq!(parse_number("14155550100"), Some(14_155_550_100));
        for bad in [
            "",
            "+",
            "+0044123456",
            "+1234",
            "+1234567890123456",
            "+1 415 abc",
            "١٢٣٤٥٦٧٨",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
        assert_eq!(mask_number(442_079_460_123, false), "+44…23");
        assert_eq!(mask_number(442_079_460_123, true), "+442079460123");
        assert_eq!(mask_number(12_125_550_199, false), "+1…99");
        assert_eq!(mask_prefix(44_207_946, false), "+44…46xxxx");
    }

    #[test]
    fn addresses_show_only_their_block() {
        let a = Addr::parse("203.0.113.77").unwrap();
        assert_eq!(a.block_string(), "203.0.113.0/24");
        let b = Addr::parse("2001:db8:abcd:12::1").unwrap();
        assert_eq!(b.block_string(), "2001:db8:abcd::/48");
        assert_eq!(Addr::parse("203.0.113.5").unwrap().block(), a.block());
        assert!(Addr::parse("300.1.1.1").is_none());
    }
}
