//! The destination country of a phone number, from its E.164 country calling code.
//!
//! SMS-pumping bots submit phone numbers, not countries, so a send must be priced and defended
//! by where the number points. The table (`scenarios/data/calling_codes.csv`, compiled in,
//! transcribed from libphonenumber's metadata) maps number prefixes to ISO 3166-1 alpha-2
//! codes. Lookup is the longest matching prefix: ITU's country codes are prefix-free, but
//! several countries share some of them, told apart by the digits after the code (`1876` and
//! `1658` Jamaica inside `1`, `77` Kazakhstan inside `7`, `447624` the Isle of Man inside `44`,
//! `3906698` the Vatican inside `39`), so a prefix has up to [`MAX_PREFIX_DIGITS`] digits.
//!
//! Where the table cannot tell sharers apart (an unlisted +1 area code, a Guernsey number in a
//! range the data gives to no one), it marks one row of the shared code `primary`, and that
//! country is the answer; [`Inferred::shared`] says the answer is a best guess.
//!
//! The table also says, per calling code, whether national numbers may begin with 0. Where
//! they never do, a 0 right after the code is a national trunk prefix written by mistake
//! (`+44 (0)7700 900123`); [`without_trunk_zeros`] drops it, so such spellings are one number.
//! Trunk prefixes other than 0 (`+1 1 …`, `+7 8 …`, `+36 06 …`) are [`national`]'s.

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

pub mod national;

/// The table shipped with the crate.
pub const BUILTIN_TABLE: &str = include_str!("../../../scenarios/data/calling_codes.csv");
/// Name the built-in table is reported under in messages.
pub const BUILTIN_TABLE_NAME: &str = "<built-in>/scenarios/data/calling_codes.csv";

/// Longest prefix the table may hold: ITU codes have 1 to 3 digits, and telling sharers apart
/// needs up to 8 (Saint Martin's `59059000` inside Guadeloupe's `590`).
pub const MAX_PREFIX_DIGITS: usize = 8;

/// Longest ITU country calling code.
const MAX_ITU_DIGITS: usize = 3;

/// E.164 allows at most 15 digits after the `+`.
const MAX_E164_DIGITS: usize = 15;

/// Why a calling-code table was refused. `line` is 1-based and counts comment lines.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {field}: {message}")]
pub struct DialingError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl DialingError {
    fn new(file: &str, line: usize, field: &str, message: impl Into<String>) -> Self {
        DialingError {
            file: file.to_string(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// One prefix. Invariant: `primary` is the row marked `yes`; `others` are the rest of the rows
/// with this prefix, in file order, none equal to `primary`; `itu_digits` is the length of the
/// shortest listed prefix of `prefix` (its ITU country code, 1 to 3 digits), and `leading_zero`
/// equals that code's.
#[derive(Clone, Debug)]
struct Code {
    prefix: String,
    primary: String,
    others: Vec<String>,
    itu_digits: usize,
    leading_zero: bool,
}

/// A parsed table. Invariant: keys are the prefixes' numeric values (no prefix starts with 0,
/// so a value names exactly one digit string) and every prefix has exactly one primary.
#[derive(Clone, Debug)]
pub struct CallingCodes {
    codes: FxHashMap<u32, Code>,
}

/// A country read off a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inferred<'a> {
    /// ISO 3166-1 alpha-2 code: the primary country of the calling code.
    pub country: &'a str,
    /// The calling code that matched, digits only (`"1876"`, `"44"`).
    pub calling_code: &'a str,
    /// Other countries that use the same calling code; empty if it is not shared.
    pub shared_with: &'a [String],
    /// The ITU country calling code the prefix belongs to (`"1"` for `"1876"`).
    pub country_code: &'a str,
    /// Whether national numbers after `country_code` may begin with 0.
    pub leading_zero: bool,
}

impl Inferred<'_> {
    /// Whether other countries share the calling code, so `country` is a best guess.
    pub fn shared(&self) -> bool {
        !self.shared_with.is_empty()
    }
}

/// The rows of one prefix while parsing; `first_line` locates a missing-primary error.
struct Pending {
    prefix: String,
    first_line: usize,
    primary: Option<String>,
    others: Vec<String>,
    leading_zero: bool,
}

impl CallingCodes {
    /// Parses a table with the header `prefix,iso,primary,leading_zero`. `origin` names the file in error
    /// messages. Lines starting with `#` are comments (provenance headers).
    pub fn parse(origin: &str, text: &str) -> Result<Self, DialingError> {
        let (pending, header_line) = Self::rows(origin, text)?;
        if pending.is_empty() {
            return Err(DialingError::new(
                origin,
                header_line,
                "header",
                "the table has no rows",
            ));
        }
        Ok(CallingCodes {
            codes: Self::codes(origin, &pending)?,
        })
    }

    /// The table's rows grouped by prefix, each row checked on its own, and the header's line.
    fn rows(origin: &str, text: &str) -> Result<(FxHashMap<u32, Pending>, usize), DialingError> {
        let (mut reader, header_line) = commented_csv(text);
        let headers = reader
            .headers()
            .map_err(|e| DialingError::new(origin, header_line, "header", e.to_string()))?;
        let names: Vec<&str> = headers.iter().map(str::trim).collect();
        if names != ["prefix", "iso", "primary", "leading_zero"] {
            return Err(DialingError::new(
                origin,
                header_line,
                "header",
                "the columns must be `prefix,iso,primary,leading_zero`",
            ));
        }
        let mut pending: FxHashMap<u32, Pending> = FxHashMap::default();
        for record in reader.records() {
            let (record, line) = record_at(origin, record)?;
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let (prefix, iso, primary) = (field(0), field(1), field(2));
            let leading_zero = yes_no(origin, line, "leading_zero", field(3))?;
            let key = prefix_key(prefix).ok_or_else(|| {
                DialingError::new(
                    origin,
                    line,
                    "prefix",
                    format!(
                        "`{prefix}` is not a calling code of 1 to {MAX_PREFIX_DIGITS} digits \
                         without a leading 0"
                    ),
                )
            })?;
            crate::iso3166::check(iso).map_err(|e| DialingError::new(origin, line, "iso", e))?;
            let is_primary = yes_no(origin, line, "primary", primary)?;
            let entry = pending.entry(key).or_insert_with(|| Pending {
                prefix: prefix.to_string(),
                first_line: line,
                primary: None,
                others: Vec::new(),
                leading_zero,
            });
            if entry.leading_zero != leading_zero {
                return Err(DialingError::new(
                    origin,
                    line,
                    "leading_zero",
                    format!("prefix {prefix} says both `yes` and `no`"),
                ));
            }
            if entry.primary.as_deref() == Some(iso) || entry.others.iter().any(|o| o == iso) {
                return Err(DialingError::new(
                    origin,
                    line,
                    "iso",
                    format!("{iso:?} is listed twice under calling code {prefix}"),
                ));
            }
            if !is_primary {
                entry.others.push(iso.to_string());
            } else if let Some(first) = &entry.primary {
                return Err(DialingError::new(
                    origin,
                    line,
                    "primary",
                    format!("calling code {prefix} already has the primary country {first}"),
                ));
            } else {
                entry.primary = Some(iso.to_string());
            }
        }
        Ok((pending, header_line))
    }

    /// The prefixes of `pending`, each checked against its calling code.
    fn codes(
        origin: &str,
        pending: &FxHashMap<u32, Pending>,
    ) -> Result<FxHashMap<u32, Code>, DialingError> {
        let mut codes = FxHashMap::default();
        for (&key, p) in pending {
            let Some(primary) = p.primary.clone() else {
                return Err(DialingError::new(
                    origin,
                    p.first_line,
                    "primary",
                    format!(
                        "calling code {} has no row marked `yes`; exactly one must be",
                        p.prefix
                    ),
                ));
            };
            // The ITU code: the shortest listed prefix of this one (itself, if none is).
            let itu = (1..=p.prefix.len())
                .find_map(|len| pending.get(&prefix_key(&p.prefix[..len])?))
                .unwrap_or(p);
            if itu.prefix.len() > MAX_ITU_DIGITS {
                return Err(DialingError::new(
                    origin,
                    p.first_line,
                    "prefix",
                    format!(
                        "{} extends no listed country calling code of 1 to {MAX_ITU_DIGITS} digits",
                        p.prefix
                    ),
                ));
            }
            if itu.leading_zero != p.leading_zero {
                return Err(DialingError::new(
                    origin,
                    p.first_line,
                    "leading_zero",
                    format!(
                        "prefix {} disagrees with its calling code {}",
                        p.prefix, itu.prefix
                    ),
                ));
            }
            codes.insert(
                key,
                Code {
                    prefix: p.prefix.clone(),
                    primary,
                    others: p.others.clone(),
                    itu_digits: itu.prefix.len(),
                    leading_zero: itu.leading_zero,
                },
            );
        }
        Ok(codes)
    }

    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The country of an E.164 number written as `+` and 1 to 15 digits; spaces, hyphens, dots
    /// and parentheses between digits are ignored. `None` for anything else or an unlisted code.
    pub fn lookup(&self, e164: &str) -> Option<Inferred<'_>> {
        let rest = e164.trim().strip_prefix('+')?;
        let (mut top, mut taken, mut digits) = (0u32, 0usize, 0usize);
        for b in rest.bytes() {
            match b {
                b'0'..=b'9' => {
                    digits += 1;
                    if digits > MAX_E164_DIGITS {
                        return None;
                    }
                    if taken < MAX_PREFIX_DIGITS {
                        top = top * 10 + u32::from(b - b'0');
                        taken += 1;
                    }
                }
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                _ => return None,
            }
        }
        self.longest(top, taken)
    }

    /// The country of a number kept as its digits (how [`crate::sender::Sender::Phone`] stores
    /// it), without formatting it first.
    pub fn lookup_number(&self, number: u64) -> Option<Inferred<'_>> {
        if number == 0 {
            return None;
        }
        let digits = number.ilog10() as usize + 1;
        if digits > MAX_E164_DIGITS {
            return None;
        }
        let taken = digits.min(MAX_PREFIX_DIGITS);
        let top = number / 10u64.pow((digits - taken) as u32);
        self.longest(u32::try_from(top).ok()?, taken)
    }

    /// `number` without the zeros right after its calling code, if the code's national numbers
    /// never begin with 0 (`44 0 7700900123` → `447700900123`); unchanged otherwise. `None` if
    /// nothing but zeros follows the code.
    pub fn without_trunk_zeros(&self, number: u64) -> Option<u64> {
        let Some(found) = self.lookup_number(number) else {
            return Some(number);
        };
        if found.leading_zero || number == 0 {
            return Some(number);
        }
        let digits = number.ilog10() + 1;
        let national_digits = digits.checked_sub(found.country_code.len() as u32)?;
        let scale = 10u64.pow(national_digits);
        let (code, national) = (number / scale, number % scale);
        if national == 0 {
            return None;
        }
        let kept = national.ilog10() + 1;
        Some(code * 10u64.pow(kept) + national)
    }

    /// Longest listed prefix of the `taken` leading digits whose value is `top`.
    fn longest(&self, top: u32, taken: usize) -> Option<Inferred<'_>> {
        (1..=taken).rev().find_map(|len| {
            let value = top / 10u32.pow((taken - len) as u32);
            let code = self.codes.get(&value)?;
            // The value drops leading zeros ("+0044" is 44 at length 4); the length check keeps
            // such input from matching a shorter code.
            (code.prefix.len() == len).then_some(Inferred {
                country: &code.primary,
                calling_code: &code.prefix,
                shared_with: &code.others,
                country_code: &code.prefix[..code.itu_digits],
                leading_zero: code.leading_zero,
            })
        })
    }
}

/// `yes` or `no` in a table's field.
fn yes_no(origin: &str, line: usize, field: &str, value: &str) -> Result<bool, DialingError> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(DialingError::new(
            origin,
            line,
            field,
            format!("`{other}` must be `yes` or `no`"),
        )),
    }
}

/// The numeric value of a prefix of 1..=[`MAX_PREFIX_DIGITS`] ASCII digits without a leading
/// zero.
fn prefix_key(prefix: &str) -> Option<u32> {
    let ok = (1..=MAX_PREFIX_DIGITS).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && !prefix.starts_with('0');
    if !ok {
        return None;
    }
    prefix.parse().ok()
}

static BUILTIN: LazyLock<Result<CallingCodes, DialingError>> =
    LazyLock::new(|| CallingCodes::parse(BUILTIN_TABLE_NAME, BUILTIN_TABLE));

/// The built-in table, parsed on first use. A unit test keeps it valid.
pub fn builtin() -> Result<&'static CallingCodes, &'static DialingError> {
    BUILTIN.as_ref()
}

/// The destination country of an E.164 number by the built-in table (see
/// [`CallingCodes::lookup`]). Pure and total: any string gives an answer or `None`.
pub fn country_of(e164: &str) -> Option<Inferred<'static>> {
    builtin().ok()?.lookup(e164)
}

/// [`country_of`] for a number kept as its digits.
pub fn country_of_number(number: u64) -> Option<Inferred<'static>> {
    builtin().ok()?.lookup_number(number)
}

/// [`CallingCodes::without_trunk_zeros`] by the built-in table (unchanged if it is unusable).
pub fn without_trunk_zeros(number: u64) -> Option<u64> {
    match builtin() {
        Ok(t) => t.without_trunk_zeros(number),
        Err(_) => Some(number),
    }
}

/// A reader for the shipped reference tables: CSV with a header row, after `#` comment lines
/// that carry the data's provenance. Also returns the header's 1-based line number, for errors
/// about the header.
pub fn commented_csv(text: &str) -> (csv::Reader<&[u8]>, usize) {
    let reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header_line = text
        .lines()
        .position(|l| !l.starts_with('#'))
        .map_or(1, |i| i + 1);
    (reader, header_line)
}

/// A table's record and its 1-based line, or the CSV error at its line.
fn record_at(
    origin: &str,
    record: csv::Result<csv::StringRecord>,
) -> Result<(csv::StringRecord, usize), DialingError> {
    let record = record.map_err(|e| {
        let line = e.position().map_or(0, |p| p.line() as usize);
        DialingError::new(origin, line, "record", e.to_string())
    })?;
    let line = record.position().map_or(0, |p| p.line() as usize);
    Ok((record, line))
}

/// Two ASCII upper-case letters.
pub fn is_iso_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iso(e164: &str) -> Option<(&'static str, bool)> {
        country_of(e164).map(|i| (i.country, i.shared()))
    }

    #[test]
    fn builtin_table_parses() {
        let t = builtin().expect("built-in table is valid");
        assert!(t.len() > 200, "{}", t.len());
    }

    /// The shared codes and their primaries, as scenarios/data/README.md documents them.
    #[test]
    fn shared_codes_and_primaries_are_as_documented() {
        let t = builtin().expect("valid");
        let mut shared: Vec<(&str, &str)> = t
            .codes
            .values()
            .filter(|c| !c.others.is_empty())
            .map(|c| (c.prefix.as_str(), c.primary.as_str()))
            .collect();
        shared.sort();
        let want = [
            ("1", "US"),
            ("212", "MA"),
            ("262", "RE"),
            ("358", "FI"),
            ("39", "IT"),
            ("44", "GB"),
            ("47", "NO"),
            ("500", "FK"),
            ("590", "GP"),
            ("599", "CW"),
            ("61", "AU"),
            ("672", "NF"),
            ("7", "RU"),
        ];
        assert_eq!(shared, want);
    }

    #[test]
    fn known_numbers() {
        assert_eq!(iso("+14155550100"), Some(("US", true)));
        assert_eq!(iso("+18765550100"), Some(("JM", false)));
        assert_eq!(iso("+447700900123"), Some(("GB", true)));
        assert_eq!(iso("+33612345678"), Some(("FR", false)));
        assert_eq!(iso("+79001234567"), Some(("RU", true)));
        assert_eq!(iso("+2348031234567"), Some(("NG", false)));
        assert_eq!(
            iso("+18095550100"),
            Some(("DO", false)),
            "one of DO's three"
        );
        assert_eq!(iso("+390612345678"), Some(("IT", true)), "Rome is Italy");
        let us = country_of("+1 (415) 555-0100").expect("separators are fine");
        assert_eq!((us.calling_code, us.country_code), ("1", "1"));
        assert!(us.shared_with.iter().any(|c| c == "CA"));
    }

    /// One test per overlay the issue named, plus the other shared codes libphonenumber splits
    /// (resources/PhoneNumberMetadata.xml v9.0.35: `leadingDigits` and number patterns).
    #[test]
    fn overlays_inside_shared_codes_have_their_own_country() {
        let cases = [
            ("+16585550100", "JM", "1658", "Jamaica's overlay since 2019"),
            ("+18765550100", "JM", "1876", "Jamaica's original area code"),
            ("+17875550100", "PR", "1787", "Puerto Rico"),
            ("+19395550100", "PR", "1939", "Puerto Rico's overlay"),
            ("+14165550100", "CA", "1416", "Toronto"),
            ("+16045550100", "CA", "1604", "Vancouver"),
            ("+77012345678", "KZ", "77", "Kazakh mobile"),
            ("+77172123456", "KZ", "77", "Astana fixed line"),
            ("+447624123456", "IM", "447624", "Isle of Man mobile"),
            ("+441624123456", "IM", "441624", "Isle of Man fixed line"),
            ("+441534123456", "JE", "441534", "Jersey fixed line"),
            ("+447797123456", "JE", "447797", "Jersey mobile"),
            ("+441481123456", "GG", "441481", "Guernsey fixed line"),
            ("+447781123456", "GG", "447781", "Guernsey mobile"),
            (
                "+390669812345",
                "VA",
                "3906698",
                "the Vatican inside Rome's 06",
            ),
            ("+262639123456", "YT", "26263", "Mayotte mobile"),
            ("+35818123456", "AX", "35818", "Åland"),
            ("+4779123456", "SJ", "4779", "Svalbard"),
            ("+5997123456", "BQ", "5997", "Bonaire"),
            ("+38344123456", "XK", "383", "Kosovo"),
        ];
        for (number, want, prefix, what) in cases {
            let got = country_of(number).expect(what);
            assert_eq!((got.country, got.calling_code), (want, prefix), "{what}");
            assert!(!got.shared(), "{what}: an overlay is not a guess");
        }
        // Their neighbours stay with the main country.
        for (number, want) in [
            ("+14155550100", "US"),
            ("+79161234567", "RU"),
            ("+447700900123", "GB"),
            ("+442079460958", "GB"),
        ] {
            assert_eq!(
                country_of(number).map(|i| i.country),
                Some(want),
                "{number}"
            );
        }
    }

    #[test]
    fn trunk_zeros_are_dropped_only_where_national_numbers_never_begin_with_0() {
        let t = builtin().expect("valid");
        for (written, want) in [
            (4407700900123u64, 447700900123u64),
            (44007700900123, 447700900123),
            (447700900123, 447700900123),
            (709161234567, 79161234567),
            (104155550100, 14155550100),
            (330612345678, 33612345678),
            // Italy's national numbers begin with 0 (Rome is 06): nothing to drop.
            (390612345678, 390612345678),
            // An unlisted code is left as written.
            (882012345678, 882012345678),
        ] {
            assert_eq!(t.without_trunk_zeros(written), Some(want), "{written}");
        }
        assert_eq!(
            t.without_trunk_zeros(44000000),
            None,
            "only zeros after +44"
        );
        for (number, zero) in [
            (447700900123u64, false),
            (390612345678, true),
            (2250712345678, true),
        ] {
            let got = t.lookup_number(number).expect("listed");
            assert_eq!(got.leading_zero, zero, "{number}");
        }
    }

    #[test]
    fn unlisted_and_malformed_numbers_have_no_country() {
        // 882 is ITU's "international networks" code; the source lists no country for it.
        assert_eq!(iso("+88212345678"), None);
        assert_eq!(iso("+80012345678"), None, "800: international freephone");
        for bad in [
            "",
            "+",
            "14155550100",
            "+0044",
            "+44x",
            "++44",
            "+1234567890123456",
        ] {
            assert_eq!(iso(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn number_and_string_lookups_agree() {
        for n in [
            14155550100u64,
            18765550100,
            447700900123,
            2348031234567,
            88212345678,
            1,
            7,
            999_999_999_999_999,
        ] {
            assert_eq!(country_of_number(n), country_of(&format!("+{n}")), "{n}");
        }
        assert_eq!(country_of_number(0), None);
        assert_eq!(country_of_number(u64::MAX), None, "20 digits");
    }

    const HEAD: &str = "# provenance\nprefix,iso,primary,leading_zero\n";

    fn parse(rows: &str) -> Result<CallingCodes, String> {
        CallingCodes::parse("t.csv", &format!("{HEAD}{rows}")).map_err(|e| e.to_string())
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            (
                "1,US,yes,no\n1,CA,yes,no\n",
                "t.csv:4: primary: calling code 1 already",
            ),
            (
                "1,US,no,no\n1,CA,no,no\n",
                "t.csv:3: primary: calling code 1 has no row",
            ),
            ("1-684,AS,yes,no\n", "t.csv:3: prefix:"),
            ("123456789,US,yes,no\n", "t.csv:3: prefix:"),
            ("044,GB,yes,no\n", "t.csv:3: prefix:"),
            ("44,gb,yes,no\n", "t.csv:3: iso:"),
            ("44,GBR,yes,no\n", "t.csv:3: iso:"),
            (
                "44,UK,yes,no\n",
                "t.csv:3: iso: \"UK\" is not an ISO 3166-1",
            ),
            ("44,GB,true,no\n", "t.csv:3: primary:"),
            ("44,GB,yes,maybe\n", "t.csv:3: leading_zero:"),
            (
                "44,GB,yes,no\n44,GB,no,no\n",
                "t.csv:4: iso: \"GB\" is listed twice",
            ),
            (
                "44,GB,yes,no\n44,GG,no,yes\n",
                "t.csv:4: leading_zero: prefix 44 says both",
            ),
            (
                "44,GB,yes,no\n441534,JE,yes,yes\n",
                "t.csv:4: leading_zero: prefix 441534 disagrees with its calling code 44",
            ),
            (
                "1876,JM,yes,no\n",
                "t.csv:3: prefix: 1876 extends no listed country calling code",
            ),
            ("", "t.csv:2: header: the table has no rows"),
        ];
        for (rows, want) in cases {
            let err = parse(rows).expect_err(rows);
            assert!(err.starts_with(want), "{rows:?}: {err}");
        }
        let err = CallingCodes::parse("t.csv", "code,iso\n1,US\n").expect_err("header");
        assert_eq!(err.line, 1);
        assert_eq!(err.field, "header");
    }

    #[test]
    fn longest_prefix_wins() {
        let t = parse("1,US,yes,no\n1876,JM,yes,no\n").expect("parses");
        assert_eq!(t.lookup("+18761234567").map(|i| i.country), Some("JM"));
        assert_eq!(t.lookup("+18771234567").map(|i| i.country), Some("US"));
        assert_eq!(t.lookup("+1").map(|i| i.country), Some("US"));
        assert_eq!(t.lookup("+187").map(|i| i.country), Some("US"));
    }

    /// For every row: the code followed by digits maps to the longest listed prefix of those
    /// digits (the row's own code unless a NANP row extends it), and to that code's primary.
    fn expected(t: &CallingCodes, digits: &str) -> Option<(String, String)> {
        (1..=digits.len().min(MAX_PREFIX_DIGITS))
            .rev()
            .find_map(|len| {
                t.codes
                    .values()
                    .find(|c| c.prefix == digits[..len])
                    .map(|c| (c.prefix.clone(), c.primary.clone()))
            })
    }

    proptest! {
        #[test]
        fn any_string_is_answered_without_panicking(s in any::<String>()) {
            let _ = country_of(&s);
        }

        #[test]
        fn phone_like_strings_are_answered_without_panicking(s in "[+]?[0-9 ()+.-]{0,24}") {
            let _ = country_of(&s);
        }

        #[test]
        fn any_number_is_answered_without_panicking(n in any::<u64>()) {
            let _ = country_of_number(n);
        }

        #[test]
        fn every_row_maps_to_its_code_and_primary(row in 0usize..1000, rest in "[0-9]{0,7}") {
            let t = builtin().expect("valid");
            let mut codes: Vec<&Code> = t.codes.values().collect();
            codes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
            let code = codes[row % codes.len()];
            let digits = format!("{}{rest}", code.prefix);
            let got = t.lookup(&format!("+{digits}")).expect("a listed code always matches");
            let (prefix, primary) = expected(t, &digits).expect("the row's own code matches");
            prop_assert!(prefix.len() >= code.prefix.len());
            prop_assert_eq!(got.calling_code, prefix.as_str());
            prop_assert_eq!(got.country, primary.as_str());
            if prefix == code.prefix {
                prop_assert_eq!(got.shared(), !code.others.is_empty());
            }
            prop_assert_eq!(Some(got), t.lookup_number(digits.parse().expect("digits")));
        }

        /// Writing zeros after a calling code whose numbers never begin with 0 gives the same
        /// number as not writing them; where they may, the zeros are kept.
        #[test]
        fn trunk_zeros_never_make_a_new_number(
            row in 0usize..1000,
            zeros in 1usize..3,
            rest in "[1-9][0-9]{6,9}",
        ) {
            let t = builtin().expect("valid");
            let mut codes: Vec<&Code> = t.codes.values().collect();
            codes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
            let code = &codes[row % codes.len()].prefix[..codes[row % codes.len()].itu_digits];
            let plain: u64 = format!("{code}{rest}").parse().expect("digits");
            let padded: u64 = format!("{code}{}{rest}", "0".repeat(zeros)).parse().expect("digits");
            let zero_ok = t.lookup_number(padded).expect("listed code").leading_zero;
            let want = if zero_ok { padded } else { plain };
            prop_assert_eq!(t.without_trunk_zeros(padded), Some(want));
            prop_assert_eq!(t.without_trunk_zeros(want), Some(want), "idempotent");
        }
    }
}
