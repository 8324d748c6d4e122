//! `--format twilio-verify-attempts`: pages of Twilio's Verification Attempts API
//! (<https://www.twilio.com/docs/verify/api/attempts>, `GET /v2/Attempts`), as saved: a JSON
//! object with an `attempts` array and `meta`; a file may hold several pages one after the
//! other. Each attempt: `sid`, `date_created` (ISO 8601), `conversion_status`
//! (`converted`/`unconverted`), `channel` (`sms`, `call`, `email`, `whatsapp`, `rbm`),
//! `channel_data` (for SMS: `to`, and where present `mcc`, `mnc`, `country`/`country_code`,
//! `error_code`, `segments`) and `price` (`{value, currency}`; Twilio: "the costs related to the
//! succeeded verifications are not included").
//!
//! The file is read a page at a time: a page (at most 1,000 attempts, Twilio's largest
//! `PageSize`, about 0.7 MB as the API writes it) is read into a buffer of at most
//! [`MAX_PAGE_BYTES`] and parsed from there, its attempts into borrowed fields, the values not
//! read skipped ([`super::fastjson`]). A bad attempt is reported at the line where its object
//! ends, with its index in the page. Attempts of other channels are skipped. What the fast
//! path does not take (an escaped string, a number with an exponent, an attempt that is not
//! an object, a syntax error, a truncated page...) is read from there to the end of the file
//! by `serde_json`, attempt by attempt as `serde_json::Value`s, exactly as before the fast
//! path existed: the same items, bad rows, lines and errors.

use super::fastjson::Cursor;
use super::{Format, Input, Item, Raw, Sink, parse_country, parse_price, parse_segments};
use crate::error::ImportError;
use crate::privacy::parse_number;
use crate::source::{Counting, Position};
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, Read};

/// The longest page read into memory, in bytes: 20 times a page of 1,000 attempts as Twilio
/// writes it (about 0.7 MB, pretty-printed). A longer "page" is refused.
pub const MAX_PAGE_BYTES: usize = 16 << 20;

/// Text read at a time: pages are parsed from a buffer of this much (a page that does not fit
/// is parsed again from a buffer twice as long, up to [`MAX_PAGE_BYTES`]).
const CHUNK: usize = 8 << 20;

/// Pages and attempts read so far in a file (an error before any is a wrong format).
#[derive(Clone, Copy, Default)]
struct Count {
    pages: u64,
    attempts: u64,
}

/// The file's text not yet parsed: `text[start..]`, checked as UTF-8, then `pending` (bytes
/// that are not UTF-8, or the start of a character cut by the read).
#[derive(Default)]
struct Buffer {
    text: String,
    start: usize,
    pending: Vec<u8>,
    /// The file is read to its end.
    eof: bool,
    /// `pending` holds bytes that are not UTF-8: the text stops before them.
    broken: bool,
}

impl Buffer {
    /// Whether `text` holds everything left.
    fn all_in(&self) -> bool {
        self.eof && !self.broken
    }

    /// Reads until `want` bytes of text follow `start`, the file ends or bytes that are not
    /// UTF-8 come.
    fn fill(&mut self, reader: &mut dyn BufRead, want: usize) -> std::io::Result<()> {
        self.text.drain(..self.start);
        self.start = 0;
        while self.text.len() < want && !self.eof && !self.broken {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                self.eof = true;
                self.broken = !self.pending.is_empty();
                break;
            }
            let n = chunk.len();
            if self.pending.is_empty() {
                // Most reads: text straight from the reader's buffer, one copy.
                if let Ok(t) = std::str::from_utf8(chunk) {
                    self.text.push_str(t);
                    reader.consume(n);
                    continue;
                }
            }
            self.pending.extend_from_slice(chunk);
            reader.consume(n);
            let (ok, bad) = match std::str::from_utf8(&self.pending) {
                Ok(_) => (self.pending.len(), false),
                Err(e) => (e.valid_up_to(), e.error_len().is_some()),
            };
            if let Ok(t) = std::str::from_utf8(&self.pending[..ok]) {
                self.text.push_str(t);
            }
            self.pending.drain(..ok);
            self.broken = bad;
        }
        Ok(())
    }
}

pub fn read(mut input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let name = input.name.clone();
    let mut buf = Buffer::default();
    // The line of `buf.text[buf.start]`.
    let mut line = 1u64;
    let mut count = Count::default();
    let mut items = Vec::new();
    loop {
        let text = &buf.text[buf.start..];
        match fast_page(text, &mut items) {
            Fast::Page { len, newlines } => {
                for (n, item) in items.drain(..) {
                    sink(line + n, item)?;
                    count.attempts += 1;
                }
                count.pages += 1;
                buf.start += len;
                line += newlines;
            }
            Fast::End | Fast::Short if !buf.eof && !buf.broken => {
                if text.len() >= MAX_PAGE_BYTES {
                    return Err(ImportError::WrongFormat {
                        file: name,
                        line,
                        format: Format::TwilioVerifyAttempts.name(),
                        message: format!(
                            "a page longer than {MAX_PAGE_BYTES} bytes (Twilio's pages hold at \
                             most 1,000 attempts)"
                        ),
                    });
                }
                let want = (text.len() * 2).clamp(CHUNK, MAX_PAGE_BYTES);
                buf.fill(&mut *input.reader, want)
                    .map_err(|source| ImportError::Io {
                        file: name.clone().into(),
                        source,
                    })?;
            }
            Fast::End if buf.all_in() => return slow(&name, &[][..], (line, 0), count, sink),
            _ => {
                let before = &buf.text.as_bytes()[..buf.start];
                let column = before.iter().rev().take_while(|&&b| b != b'\n').count();
                let rest = std::io::Cursor::new(&buf.text.as_bytes()[buf.start..])
                    .chain(&buf.pending[..])
                    .chain(input.reader);
                return slow(&name, rest, (line, column), count, sink);
            }
        }
    }
}

/// What the fast path made of the text after the last page.
enum Fast {
    /// A page of `len` bytes, `newlines` line feeds; its items are ready.
    Page { len: usize, newlines: u64 },
    /// Only white space.
    End,
    /// The text ends inside the page.
    Short,
    /// Not for the fast path.
    Other,
}

/// One page on the fast path: its attempts go to `items`, each with the line feeds before its
/// closing brace (where the streaming reader reported it).
fn fast_page(text: &str, items: &mut Vec<(u64, Item)>) -> Fast {
    items.clear();
    let mut c = Cursor::new(text);
    c.strict = true;
    if c.at_end() {
        return Fast::End;
    }
    let mut found = false;
    let read = c.object(|c, key| {
        if key == "attempts" {
            found = true;
            fast_attempts(c, items)
        } else {
            c.skip(1)
        }
    });
    match read {
        Some(()) if found => Fast::Page {
            len: c.i,
            newlines: c.newlines,
        },
        None if c.short => Fast::Short,
        _ => Fast::Other,
    }
}

fn fast_attempts(c: &mut Cursor<'_>, items: &mut Vec<(u64, Item)>) -> Option<()> {
    c.eat(b'[')?;
    if c.peek()? == b']' {
        c.i += 1;
        return Some(());
    }
    for index in 0.. {
        if c.peek()? != b'{' {
            return None;
        }
        let att = fast_attempt(c)?;
        items.push((c.newlines, named(index, attempt(&att))));
        if c.next_or_end(b']')? {
            return Some(());
        }
    }
    None
}

/// A field as `super::text` reads it from a `Value`: a string (without escapes), an integer
/// written out as it is, null as `None`; anything else is left to the slow path.
fn fast_text<'a>(c: &mut Cursor<'a>) -> Option<Option<Cow<'a, str>>> {
    match c.peek()? {
        b'"' => c.plain_str().map(|s| Some(Cow::Borrowed(s))),
        b'n' => c.null().map(|_| None),
        b'0'..=b'9' => {
            let n = c.number()?;
            (n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit())).then_some(Some(n.into()))
        }
        _ => None,
    }
}

fn fast_attempt<'a>(c: &mut Cursor<'a>) -> Option<Att<'a>> {
    let mut a = Att::default();
    c.object(|c, key| {
        match key {
            "channel" => a.channel = fast_text(c)?,
            "date_created" => a.date_created = fast_text(c)?,
            "date_updated" => a.date_updated = fast_text(c)?,
            "conversion_status" => a.conversion_status = fast_text(c)?,
            "channel_data" => {
                let mut d = Data::default();
                c.object(|c, key| {
                    match key {
                        "to" => d.to = fast_text(c)?,
                        "country" => d.country = Some(fast_text(c)?),
                        "country_code" => d.country_code = fast_text(c)?,
                        "segments" => d.segments = fast_text(c)?,
                        "mcc" => d.mcc = fast_text(c)?,
                        "mnc" => d.mnc = fast_text(c)?,
                        _ => return c.skip(2),
                    }
                    Some(())
                })?;
                a.data = Some(d);
            }
            "price" => {
                a.price = match c.peek()? {
                    b'{' => {
                        let (mut value, mut currency) = (None, None);
                        c.object(|c, key| {
                            match key {
                                "value" => value = fast_text(c)?,
                                "currency" => currency = fast_text(c)?,
                                _ => return c.skip(2),
                            }
                            Some(())
                        })?;
                        Price::Object { value, currency }
                    }
                    b'n' => c.null().map(|_| Price::None)?,
                    _ => Price::Text(fast_text(c)?),
                }
            }
            _ => return c.skip(1),
        }
        Some(())
    })?;
    Some(a)
}

/// The fields of an attempt that are read, as `super::text` gives them.
#[derive(Default)]
struct Att<'a> {
    channel: Option<Cow<'a, str>>,
    date_created: Option<Cow<'a, str>>,
    date_updated: Option<Cow<'a, str>>,
    conversion_status: Option<Cow<'a, str>>,
    /// `None` when absent or not an object.
    data: Option<Data<'a>>,
    price: Price<'a>,
}

#[derive(Default)]
struct Data<'a> {
    to: Option<Cow<'a, str>>,
    /// `Some(None)`: `country` is there but not text (then `country_code` is not read).
    country: Option<Option<Cow<'a, str>>>,
    country_code: Option<Cow<'a, str>>,
    segments: Option<Cow<'a, str>>,
    mcc: Option<Cow<'a, str>>,
    mnc: Option<Cow<'a, str>>,
}

#[derive(Default)]
enum Price<'a> {
    /// Absent or null.
    #[default]
    None,
    Object {
        value: Option<Cow<'a, str>>,
        currency: Option<Cow<'a, str>>,
    },
    /// Anything else, as text.
    Text(Option<Cow<'a, str>>),
}

/// A JSON field as text: strings as they are, numbers written out, null and absent as `None`.
fn text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// The slow path's attempt: the same fields out of a parsed `Value`.
fn from_value(v: &Value) -> Result<Att<'_>, Fail> {
    if !v.is_object() {
        return Err(("", "not an object"));
    }
    let data = v.get("channel_data").filter(|d| d.is_object());
    Ok(Att {
        channel: text(v.get("channel")),
        date_created: text(v.get("date_created")),
        date_updated: text(v.get("date_updated")),
        conversion_status: text(v.get("conversion_status")),
        data: data.map(|d| Data {
            to: text(d.get("to")),
            country: d.get("country").map(|c| text(Some(c))),
            country_code: text(d.get("country_code")),
            segments: text(d.get("segments")),
            mcc: text(d.get("mcc")),
            mnc: text(d.get("mnc")),
        }),
        price: match v.get("price") {
            None | Some(Value::Null) => Price::None,
            Some(p @ Value::Object(_)) => Price::Object {
                value: text(p.get("value")),
                currency: text(p.get("currency")),
            },
            Some(p) => Price::Text(text(Some(p))),
        },
    })
}

/// An attempt's item, its bad field named after its place in the page.
fn named(index: usize, item: Result<Item, Fail>) -> Item {
    item.unwrap_or_else(|(field, m)| match field {
        "" => Item::bad(&format!("attempts[{index}]"), m),
        f => Item::bad(&format!("attempts[{index}].{f}"), m),
    })
}

/// The rest of a file, from `at` (its line, and the bytes before it on that line) on,
/// streamed through `serde_json` (see the module's doc).
fn slow(
    name: &str,
    reader: impl Read,
    at: (u64, usize),
    mut count: Count,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let wrong = |line: u64, message: String| ImportError::WrongFormat {
        file: name.to_string(),
        line,
        format: Format::TwilioVerifyAttempts.name(),
        message,
    };
    let (line, column) = at;
    // serde_json's message, with the position in the file rather than in `reader`.
    let message = |e: &serde_json::Error| {
        let text = e.to_string();
        match text.rsplit_once(" at line ") {
            Some((what, _)) if e.line() > 0 => {
                let col = e.column() + if e.line() == 1 { column } else { 0 };
                format!("{what} at line {} column {col}", e.line() as u64 + line - 1)
            }
            _ => text,
        }
    };
    let counting = Counting::starting_at(reader, line);
    let pos = counting.state.clone();
    let mut de = serde_json::Deserializer::from_reader(counting);
    loop {
        pos.content.set(false);
        let start_line = pos.lines.get();
        let mut page = Page {
            sink: &mut *sink,
            pos: &pos,
            found: false,
            stop: None,
            attempts: 0,
        };
        let result = (&mut page).deserialize(&mut de);
        let (found, stop) = (page.found, page.stop.take());
        count.attempts += page.attempts;
        if let Some(e) = stop {
            return Err(e);
        }
        match result {
            Ok(()) if found => count.pages += 1,
            Ok(()) => {
                return Err(wrong(
                    start_line,
                    "a JSON object without an `attempts` array".into(),
                ));
            }
            Err(e) if e.is_eof() && !pos.content.get() => {
                return if count.pages == 0 {
                    Err(wrong(
                        start_line,
                        "no Verify Attempts page in the file".into(),
                    ))
                } else {
                    Ok(())
                };
            }
            Err(e) if count.pages == 0 && count.attempts == 0 && !e.is_eof() => {
                return Err(wrong(e.line() as u64 + line - 1, message(&e)));
            }
            Err(e) => {
                let message = if e.is_eof() {
                    "truncated JSON: the file ends inside a page".to_string()
                } else {
                    format!("not JSON: {}", message(&e))
                };
                sink(pos.lines.get(), Item::bad("json", message))?;
                return Ok(());
            }
        }
    }
}

/// One page being read: attempts go to the sink as they are parsed.
struct Page<'s, 'a> {
    sink: &'s mut Sink<'a>,
    pos: &'s Position,
    found: bool,
    /// The sink's error, which stops the file.
    stop: Option<ImportError>,
    attempts: u64,
}

impl<'de> DeserializeSeed<'de> for &mut Page<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Page<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Verify Attempts page (an object with an `attempts` array)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "attempts" {
                self.found = true;
                map.next_value_seed(Attempts(&mut *self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Attempts<'p, 's, 'a>(&'p mut Page<'s, 'a>);

impl<'de> DeserializeSeed<'de> for Attempts<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Attempts<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of attempts")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let page = self.0;
        let mut index = 0usize;
        while let Some(v) = seq.next_element::<Value>()? {
            let line = page.pos.lines.get();
            page.attempts += 1;
            let item = named(index, from_value(&v).and_then(|a| attempt(&a)));
            if let Err(e) = (page.sink)(line, item) {
                page.stop = Some(e);
                return Err(S::Error::custom("stopped"));
            }
            index += 1;
        }
        Ok(())
    }
}

type Fail = (&'static str, &'static str);

fn attempt(a: &Att) -> Result<Item, Fail> {
    if let Some(ch) = &a.channel
        && !ch.eq_ignore_ascii_case("sms")
    {
        return Ok(Item::Skip("not an SMS attempt"));
    }
    let date = a
        .date_created
        .as_deref()
        .ok_or(("date_created", "missing"))?;
    let ts_ms = crate::time::parse_ms(date).ok_or(("date_created", "not an ISO 8601 date-time"))?;
    let data = a.data.as_ref().ok_or(("channel_data", "missing"))?;
    let to = data.to.as_deref().ok_or(("channel_data.to", "missing"))?;
    let number = parse_number(to).ok_or(("channel_data.to", "not an E.164 number"))?;
    let country = match data.country.as_ref().unwrap_or(&data.country_code) {
        Some(c) => parse_country(c)
            .map_err(|()| ("channel_data.country", "not an ISO 3166-1 alpha-2 code"))?,
        None => None,
    };
    let converted = match a.conversion_status.as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("converted") => Some(true),
        Some(s) if s.eq_ignore_ascii_case("unconverted") => Some(false),
        Some(_) => return Err(("conversion_status", "neither converted nor unconverted")),
    };
    let price_usd = match &a.price {
        Price::None => None,
        Price::Object { value, currency } => {
            let currency = currency.as_deref().unwrap_or_default();
            let price = parse_price(value.as_deref().unwrap_or_default())
                .map_err(|()| ("price.value", "not a number"))?;
            if currency.is_empty() || currency.eq_ignore_ascii_case("usd") {
                price
            } else {
                None
            }
        }
        Price::Text(t) => {
            parse_price(t.as_deref().unwrap_or_default()).map_err(|()| ("price", "not a number"))?
        }
    };
    let segments = parse_segments(data.segments.as_deref().unwrap_or_default())
        .map_err(|()| ("channel_data.segments", "not a count from 1 to 100"))?;
    // A converted attempt was last updated by its conversion.
    let verified_ms = match (converted, a.date_updated.as_deref()) {
        (Some(true), Some(d)) => {
            Some(crate::time::parse_ms(d).ok_or(("date_updated", "not an ISO 8601 date-time"))?)
        }
        _ => None,
    };
    Ok(Item::Send(Raw {
        verified_ms,
        ts_ms,
        number,
        country,
        converted,
        price_usd,
        segments,
        carrier: carrier(data.mcc.as_deref(), data.mnc.as_deref()),
        ..Raw::default()
    }))
}

/// Mobile country and network codes (up to 3 digits each).
fn carrier(mcc: Option<&str>, mnc: Option<&str>) -> Option<(u16, u16)> {
    let mcc: u16 = mcc?.trim().parse().ok()?;
    let mnc: u16 = mnc?.trim().parse().ok()?;
    (mcc < 1000 && mnc < 1000).then_some((mcc, mnc))
}

/// Attempts per page written: Twilio's largest `PageSize`.
pub const PAGE_SIZE: usize = 1_000;

/// Writes sends as Verify Attempts pages of [`PAGE_SIZE`], one after the other, with the
/// fields [`read`] takes (`date_created`, `date_updated` (the conversion's time when
/// converted), `conversion_status`, `channel`, `channel_data.to`/`.country`/`.segments`,
/// `price`) and the identifiers Twilio's schema has (`sid`, `account_sid`, `service_sid`,
/// `verification_sid`, `url`). Pages are in time order (Twilio's API lists newest first).
pub fn write<'r>(
    w: &mut dyn std::io::Write,
    sends: impl Iterator<Item = &'r crate::emit::Record>,
) -> std::io::Result<()> {
    use crate::emit::{iso_seconds, price, sid};
    const BASE: &str = "https://verify.twilio.com/v2/Attempts";
    let mut sends = sends.enumerate().peekable();
    let mut page = 0usize;
    while sends.peek().is_some() || page == 0 {
        w.write_all(b"{\"attempts\": [")?;
        for k in 0..PAGE_SIZE {
            let Some((n, r)) = sends.next() else { break };
            let id = sid("VL", n as u64 + 1);
            let updated = r.verified_ms.filter(|_| r.verified == Some(true));
            let attempt = serde_json::json!({
                "sid": id,
                "account_sid": sid("AC", 1),
                "service_sid": sid("VA", 1),
                "verification_sid": sid("VE", n as u64 + 1),
                "date_created": iso_seconds(r.ts_ms),
                "date_updated": iso_seconds(updated.unwrap_or(r.ts_ms)),
                "conversion_status": if r.verified == Some(true) { "converted" } else { "unconverted" },
                "channel": "sms",
                "channel_data": {
                    "to": format!("+{}", r.number),
                    "country": r.country(),
                    "segments": r.segments.max(1),
                },
                "price": { "value": price(r.price_usd), "currency": "usd" },
                "url": format!("{BASE}/{id}"),
            });
            if k > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"\n  ")?;
            serde_json::to_writer(&mut *w, &attempt)?;
        }
        let meta = serde_json::json!({
            "page": page,
            "page_size": PAGE_SIZE,
            "first_page_url": format!("{BASE}?PageSize={PAGE_SIZE}&Page=0"),
            "previous_page_url": (page > 0).then(|| format!("{BASE}?PageSize={PAGE_SIZE}&Page={}", page - 1)),
            "next_page_url": sends.peek().is_some().then(|| format!("{BASE}?PageSize={PAGE_SIZE}&Page={}", page + 1)),
            "url": format!("{BASE}?PageSize={PAGE_SIZE}&Page={page}"),
            "key": "attempts",
        });
        w.write_all(b"\n], \"meta\": ")?;
        serde_json::to_writer(&mut *w, &meta)?;
        w.write_all(b"}\n")?;
        page += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
