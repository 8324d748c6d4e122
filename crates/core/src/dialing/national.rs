//! National trunk prefixes other than a lone 0, written after the calling code.
//!
//! A caller who dials `1 415 555 0100` inside North America, `8 912 345 67 89` inside Russia or
//! `06 1 234 5678` inside Hungary may write the same prefix after the `+` and calling code. The
//! result (`+1 1 415 555 0100`) is not a number anyone owns, but a verifier that keys its
//! per-number allowance on the digits would treat it as a new one. The table
//! (`scenarios/data/national_prefixes.csv`, from libphonenumber's metadata) lists, per calling
//! code, its trunk prefix and the lengths its national numbers may have; [`without_prefix`] drops
//! the prefix exactly when the written national number has a length no number of the code has,
//! and has one without the prefix. Numbers of a valid length are never changed, so the rule
//! cannot merge two real numbers. Codes whose lengths overlap so that both readings are possible
//! (Belarus, +375) keep what was written. Zeros written before Hungary's `06` (`+36 0 06 …`) are
//! left to the trunk-zero rule, which drops them with the 0 of `06`: a known gap, kept because
//! the rest is a number of a valid length.

use super::{DialingError, commented_csv, record_at};
use std::sync::LazyLock;

/// The table shipped with the crate.
pub const BUILTIN_TABLE: &str = include_str!("../../../../scenarios/data/national_prefixes.csv");
/// Name the built-in table is reported under in messages.
pub const BUILTIN_TABLE_NAME: &str = "<built-in>/scenarios/data/national_prefixes.csv";

/// One calling code. Invariant: `prefix` has `prefix_digits` digits (its leading zeros
/// included, so `06` is 6 with 2 digits); bit `n` of `lengths` is set when a national number
/// may have `n` digits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    code: u64,
    code_digits: u32,
    prefix: u64,
    prefix_digits: u32,
    lengths: u32,
}

impl Row {
    fn allows(&self, national_digits: u32) -> bool {
        national_digits < 32 && self.lengths & (1 << national_digits) != 0
    }
}

/// The parsed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationalPrefixes {
    rows: Vec<Row>,
}

impl NationalPrefixes {
    /// Parses a table with the header `code,national_prefix,lengths` (lengths separated by
    /// spaces). `origin` names the file in error messages.
    pub fn parse(origin: &str, text: &str) -> Result<Self, DialingError> {
        let (mut reader, header_line) = commented_csv(text);
        let headers = reader
            .headers()
            .map_err(|e| DialingError::new(origin, header_line, "header", e.to_string()))?;
        let names: Vec<&str> = headers.iter().map(str::trim).collect();
        if names != ["code", "national_prefix", "lengths"] {
            return Err(DialingError::new(
                origin,
                header_line,
                "header",
                "the columns must be code,national_prefix,lengths",
            ));
        }
        let mut rows: Vec<Row> = Vec::new();
        for record in reader.records() {
            let (record, line) = record_at(origin, record)?;
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let bad = |name: &str, message: String| DialingError::new(origin, line, name, message);
            let code = field(0);
            if !(1..=3).contains(&code.len())
                || code.starts_with('0')
                || !code.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(
                    "code",
                    format!("'{code}' is not a calling code of 1 to 3 digits"),
                ));
            }
            let prefix = field(1);
            if !(1..=2).contains(&prefix.len())
                || prefix == "0"
                || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(
                    "national_prefix",
                    format!("'{prefix}' is not a prefix of 1 or 2 digits other than 0"),
                ));
            }
            let mut lengths = 0u32;
            for word in field(2).split_whitespace() {
                match word.parse::<u32>() {
                    Ok(n) if (1..=14).contains(&n) => lengths |= 1 << n,
                    _ => {
                        return Err(bad(
                            "lengths",
                            format!("'{word}' is not a national length from 1 to 14"),
                        ));
                    }
                }
            }
            if lengths == 0 {
                return Err(bad("lengths", "no length given".to_string()));
            }
            let row = Row {
                code: code.parse().expect("checked digits"),
                code_digits: code.len() as u32,
                prefix: prefix.parse().expect("checked digits"),
                prefix_digits: prefix.len() as u32,
                lengths,
            };
            if rows.iter().any(|r| r.code == row.code) {
                return Err(bad("code", format!("'{code}' is listed twice")));
            }
            rows.push(row);
        }
        Ok(NationalPrefixes { rows })
    }

    /// `number` (an E.164 number's digits) without a trunk prefix written after its calling
    /// code, when the written national length is impossible for the code and the length without
    /// the prefix is possible; otherwise `number` unchanged.
    pub fn without_prefix(&self, number: u64) -> u64 {
        let Some(digits) = number.checked_ilog10().map(|d| d + 1) else {
            return number;
        };
        for row in &self.rows {
            let Some(national_digits) = digits.checked_sub(row.code_digits) else {
                continue;
            };
            let scale = 10u64.pow(national_digits);
            if number / scale != row.code {
                continue;
            }
            // A number of a possible length (every valid one) is done here.
            if row.allows(national_digits) {
                return number;
            }
            let national = number % scale;
            let Some(rest_digits) = national_digits.checked_sub(row.prefix_digits) else {
                return number;
            };
            let rest_scale = 10u64.pow(rest_digits);
            if !row.allows(rest_digits)
                || national / rest_scale != row.prefix
                || national % rest_scale < rest_scale / 10
            {
                return number;
            }
            return row.code * rest_scale + national % rest_scale;
        }
        number
    }
}

static BUILTIN: LazyLock<Result<NationalPrefixes, DialingError>> =
    LazyLock::new(|| NationalPrefixes::parse(BUILTIN_TABLE_NAME, BUILTIN_TABLE));

/// The built-in table, parsed on first use. A unit test keeps it valid.
pub fn builtin() -> Result<&'static NationalPrefixes, &'static DialingError> {
    BUILTIN.as_ref()
}

/// [`NationalPrefixes::without_prefix`] by the built-in table (unchanged if it is unusable).
pub fn without_prefix(number: u64) -> u64 {
    match builtin() {
        Ok(t) => t.without_prefix(number),
        Err(_) => number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        let t = builtin().expect("the shipped table is valid");
        assert_eq!(t.rows.len(), 6);
    }

    /// The digits of `spelled` (a number written with spaces after its `+`).
    fn n(spelled: &str) -> u64 {
        spelled
            .trim_start_matches('+')
            .replace(' ', "")
            .parse()
            .unwrap()
    }

    #[test]
    fn a_trunk_prefix_after_the_code_is_dropped_only_where_the_length_says_so() {
        for (written, plain) in [
            ("+1 1 415 555 0100", "+1 415 555 0100"),
            ("+1 1 234 5678", "+1 234 5678"), // a 7-digit NANP number
            ("+7 8 912 345 6789", "+7 912 345 6789"),
            ("+36 06 1 234 5678", "+36 1 234 5678"),
            ("+692 1 234 5678", "+692 234 5678"),
            ("+993 8 12 345 678", "+993 12 345 678"),
        ] {
            assert_eq!(without_prefix(n(written)), n(plain), "{written}");
            assert_eq!(
                without_prefix(n(plain)),
                n(plain),
                "{plain} is already plain"
            );
        }
        for kept in [
            "+1 415 555 0100",      // a valid US number
            "+7 8123 4567 8901 23", // +7 with 14 national digits, beginning with 8
            "+375 8 29 123 4567",   // Belarus: 10 and 9 digits are both possible
            "+36 1234 5678 901",    // +36 with 11 digits: too long with or without
            "+44 1 234 567 890",    // +44 is not in the table
            "+1 1 023 456 7890",    // without the 1 it would begin with 0
        ] {
            assert_eq!(without_prefix(n(kept)), n(kept), "{kept}");
        }
    }

    #[test]
    fn a_bad_table_is_refused_at_its_line_and_field() {
        let head = "# provenance\ncode,national_prefix,lengths\n";
        for (body, want) in [
            ("0,1,7\n", "t.csv:3: code:"),
            ("1,0,7\n", "t.csv:3: national_prefix:"),
            ("1,1,\n", "t.csv:3: lengths: no length given"),
            ("1,1,7 x\n", "t.csv:3: lengths: 'x'"),
            ("1,1,7\n1,1,10\n", "t.csv:4: code: '1' is listed twice"),
        ] {
            let err = NationalPrefixes::parse("t.csv", &format!("{head}{body}")).unwrap_err();
            assert!(err.to_string().starts_with(want), "{body:?}: {err}");
        }
        let err = NationalPrefixes::parse("t.csv", "code,prefix\n1,1\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert_eq!(err.field, "header");
    }
}
