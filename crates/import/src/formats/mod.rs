//! The log formats: each reads one file and hands every row to a sink as an [`Item`]: a send
//! (fields as the log gives them, before anything is inferred), a row that is not an SMS send
//! (skipped with a reason), or a bad row (the field at fault). The sources of each format are
//! in docs/import.md and in the header of each fixture under tests/fixtures/import/.

pub mod aws;
mod fastjson;
pub mod generic;
pub mod twilio_messaging;
pub mod twilio_verify;

use crate::error::ImportError;
use crate::privacy::Addr;
use crate::source::Input;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead as _;

/// The formats `--format` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    TwilioVerifyAttempts,
    TwilioMessaging,
    AwsSmsEvents,
    Csv,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::TwilioVerifyAttempts,
        Format::TwilioMessaging,
        Format::AwsSmsEvents,
        Format::Csv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::TwilioVerifyAttempts => "twilio-verify-attempts",
            Format::TwilioMessaging => "twilio-messaging",
            Format::AwsSmsEvents => "aws-sms-events",
            Format::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Reads one opened file, row by row.
    pub fn read(self, input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        match self {
            Format::TwilioVerifyAttempts => twilio_verify::read(input, sink),
            Format::TwilioMessaging => twilio_messaging::read(input, sink),
            Format::AwsSmsEvents => aws::read(input, sink),
            Format::Csv => generic::read(input, sink),
        }
    }
}

/// A send as one format read it. `None` fields are absent from the log (inferred later).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Raw {
    pub ts_ms: u64,
    pub number: u64,
    pub country: Option<[u8; 2]>,
    pub ip: Option<Addr>,
    /// The app account asking, hashed (0 = none).
    pub account: u64,
    pub converted: Option<bool>,
    /// `converted` was read off a delivery status rather than a conversion field.
    pub conversion_inferred: bool,
    pub price_usd: Option<f64>,
    pub segments: Option<u32>,
    /// Mobile country and network codes.
    pub carrier: Option<(u16, u16)>,
    /// Not sent: refused by a defence or the provider account (the generic CSV's `refused`).
    /// Replayed through the defences, left out of the spend and the send counts.
    pub refused: bool,
    /// When the code was used (Unix ms), where the log says.
    pub verified_ms: Option<u64>,
}

/// What one row of a log is.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Send(Raw),
    /// Not an outbound SMS send (another channel, an inbound message, an intermediate event).
    Skip(&'static str),
    Bad {
        field: String,
        message: String,
    },
}

impl Item {
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        Item::Bad {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Where a format hands its rows: the 1-based line and the item. An error stops the file.
pub type Sink<'a> = dyn FnMut(u64, Item) -> Result<(), ImportError> + 'a;

/// A string, or a number or boolean written out (BulkExport writes `num_segments` as text,
/// other exports as a number). Read by a visitor of its own rather than `#[serde(untagged)]`,
/// which buffers every value before trying each variant (a third of the JSON formats' time).
pub(crate) enum Text<'a> {
    S(Cow<'a, str>),
    N(serde_json::Number),
    B(bool),
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::S(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text::S(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text::S(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text<'de>, E> {
                Ok(Text::B(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text::N(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text::N(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text<'de>, E> {
                serde_json::Number::from_f64(v)
                    .map(Text::N)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Text<'_> {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Text::S(s) => Cow::Borrowed(s.as_ref()),
            Text::N(n) => Cow::Owned(n.to_string()),
            Text::B(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    /// [`parse_price`] of [`Text::text`], without writing a number out and reading it back
    /// (the same value: a JSON number is written in its shortest form that reads back to it).
    pub(crate) fn price(&self) -> Result<Option<f64>, ()> {
        match self {
            Text::N(n) => match n.as_f64() {
                Some(v) if v.is_finite() && v.abs() < 1e6 => Ok(Some(v.abs())),
                _ => Err(()),
            },
            _ => parse_price(&self.text()),
        }
    }

    /// [`crate::time::parse_ms`] of [`Text::text`], without writing an integer out: Unix
    /// milliseconds from 13 digits on, seconds below.
    pub(crate) fn unix_ms(&self) -> Option<u64> {
        match self {
            Text::N(n) if n.is_u64() => {
                let v = n.as_u64()?;
                if v >= 1_000_000_000_000 {
                    Some(v)
                } else {
                    v.checked_mul(1000)
                }
            }
            _ => crate::time::parse_ms(&self.text()),
        }
    }
}

/// A number token as `serde_json` reads it: an integer of up to 19 digits is a `u64`; a
/// decimal with up to 15 digits and no exponent is its digits as an `f64` (exact) divided by
/// 10^k (exact): one rounding, so the correctly rounded value, which `serde_json` gives too
/// (with or without its `float_roundtrip` feature); anything else is handed to `serde_json`.
fn number(token: &str) -> Option<serde_json::Number> {
    // 10^k is exact up to 10^22, and so is any integer below 2^53 (> 10^15).
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, unsigned) = match token.strip_prefix('-') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, token.as_bytes()),
    };
    let (mut m, mut digits, mut point) = (0u64, 0usize, None);
    for (k, &c) in unsigned.iter().enumerate() {
        match c {
            b'0'..=b'9' if digits < 19 => {
                m = m * 10 + u64::from(c - b'0');
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(unsigned.len() - k - 1),
            _ => return serde_json::from_str(token).ok(),
        }
    }
    match point {
        None if !negative => Some(m.into()),
        Some(decimals) if digits <= 15 => {
            let v = m as f64 / POW10[decimals];
            serde_json::Number::from_f64(if negative { -v } else { v })
        }
        _ => serde_json::from_str(token).ok(),
    }
}

/// The fast path's reading of a field `Option<Text>`: what `serde_json` would give, or `None`
/// (the outer option) to leave the record to `serde_json`.
fn fast_text<'a>(c: &mut fastjson::Cursor<'a>) -> Option<Option<Text<'a>>> {
    Some(match c.peek()? {
        b'"' => Some(Text::S(Cow::Borrowed(c.plain_str()?))),
        b'n' => {
            c.null()?;
            None
        }
        b't' | b'f' => Some(Text::B(c.boolean()?)),
        b'-' | b'0'..=b'9' => Some(Text::N(number(c.number()?)?)),
        _ => return None,
    })
}

/// The fast path's reading of a record's field number `bit` into `slot`, marking it in `seen`:
/// `None` (leave the record to `serde_json`) for a field given twice, which `serde_json` refuses,
/// or a value [`fast_text`] does not take.
fn fast_field<'a>(
    c: &mut fastjson::Cursor<'a>,
    seen: &mut u32,
    bit: u32,
    slot: &mut Option<Text<'a>>,
) -> Option<()> {
    if *seen & (1 << bit) != 0 {
        return None;
    }
    *seen |= 1 << bit;
    *slot = fast_text(c)?;
    Some(())
}

/// `true`/`false` and the spellings logs use for them; `None` for empty, `Err` for others.
pub(crate) fn parse_bool(s: &str) -> Result<Option<bool>, ()> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "converted" | "verified" | "approved" => Ok(Some(true)),
        "false" | "0" | "no" | "n" | "unconverted" | "unverified" | "pending" => Ok(Some(false)),
        _ => Err(()),
    }
}

/// A price as text: Twilio writes outbound prices as negative strings (`"-0.00750"`), so the
/// magnitude is the cost. `None` for empty; `Err` for text that is not a finite number.
pub(crate) fn parse_price(s: &str) -> Result<Option<f64>, ()> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() < 1e6 => Ok(Some(v.abs())),
        _ => Err(()),
    }
}

/// An ISO code as the log writes it (upper-cased), or an error for anything but 2 letters.
pub(crate) fn parse_country(s: &str) -> Result<Option<[u8; 2]>, ()> {
    let t = s.trim().as_bytes();
    match t {
        [] => Ok(None),
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Ok(Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
        }
        _ => Err(()),
    }
}

/// Segments as text or a JSON number (1..=100).
pub(crate) fn parse_segments(s: &str) -> Result<Option<u32>, ()> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(v) if v <= 100 => Ok(Some(v)),
        _ => Err(()),
    }
}

/// An account name hashed to a non-zero key (FNV-1a), so no name is kept.
pub fn account_key(s: &str) -> u64 {
    let t = s.trim();
    if t.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in t.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// Reads JSON lines: one object per line, blank lines ignored, CR before LF dropped. `row`
/// parses each line itself, into a typed record that skips the fields it does not read; a
/// line that is not JSON (a truncated last line, say) is a bad row.
pub(crate) fn json_lines(
    mut input: Input,
    sink: &mut Sink<'_>,
    mut row: impl FnMut(&[u8]) -> Result<Item, serde_json::Error>,
) -> Result<(), ImportError> {
    // A line cut by the end of the reader's buffer is put together here; the others are
    // parsed where they lie.
    let mut cut = Vec::new();
    let mut line = 0u64;
    let mut one = |line: u64, text: &[u8]| -> Result<(), ImportError> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        let item = match row(text) {
            Ok(item) => item,
            Err(e) if e.is_eof() => {
                Item::bad("json", "truncated JSON (the line ends inside a value)")
            }
            Err(e) if std::str::from_utf8(text).is_err() => {
                Item::bad("json", format!("not UTF-8 text ({e})"))
            }
            Err(e) if e.classify() == serde_json::error::Category::Data => Item::bad(
                "json",
                format!("JSON, but not a record of this format: {e}"),
            ),
            Err(e) => Item::bad("json", format!("not JSON: {e}")),
        };
        sink(line, item)
    };
    loop {
        let chunk = input.reader.fill_buf().map_err(|source| ImportError::Io {
            file: input.name.clone().into(),
            source,
        })?;
        if chunk.is_empty() {
            if !cut.is_empty() {
                one(line + 1, &cut)?;
            }
            return Ok(());
        }
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            line += 1;
            if cut.is_empty() {
                one(line, &chunk[from..end])?;
            } else {
                cut.extend_from_slice(&chunk[from..end]);
                one(line, &cut)?;
                cut.clear();
            }
            from = end + 1;
        }
        cut.extend_from_slice(&chunk[from..]);
        let n = chunk.len();
        input.reader.consume(n);
    }
}
