//! `--format twilio-verify-attempts`: pages of Twilio's Verification Attempts API
//! (<https://www.twilio.com/docs/verify/api/attempts>, `GET /v2/Attempts`), as saved: a JSON
//! object with an `attempts` array and `meta`; a file may hold several pages one after the
//! other. Each attempt: `sid`, `date_created` (ISO 8601), `conversion_status`
//! (`converted`/`unconverted`), `channel` (`sms`, `call`, `email`, `whatsapp`, `rbm`),
//! `channel_data` (for SMS: `to`, and where present `mcc`, `mnc`, `country`/`country_code`,
//! `error_code`, `segments`) and `price` (`{value, currency}`; Twilio: "the costs related to the
//! succeeded verifications are not included").
//!
//! The file is streamed: one attempt is held at a time (a page holds at most 1,000, Twilio's
//! largest `PageSize`). A bad attempt is reported at the line where its object ends, with its
//! index in the page. Attempts of other channels are skipped.

use super::{
    Format, Input, Item, Raw, Sink, parse_carrier, parse_country, parse_price, parse_segments, text,
};
use crate::error::ImportError;
use crate::privacy::parse_number;
use crate::source::{Counting, Position};
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use std::fmt;

pub fn read(input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let name = input.name.clone();
    let wrong = |line: u64, message: String| ImportError::WrongFormat {
        file: name.clone(),
        line,
        format: Format::TwilioVerifyAttempts.name(),
        message,
    };
    let counting = Counting::new(input.reader);
    let pos = counting.state.clone();
    let mut de = serde_json::Deserializer::from_reader(counting);
    let mut pages = 0u64;
    let mut attempts = 0u64;
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
        attempts += page.attempts;
        if let Some(e) = stop {
            return Err(e);
        }
        match result {
            Ok(()) if found => pages += 1,
            Ok(()) => {
                return Err(wrong(
                    start_line,
                    "a JSON object without an `attempts` array".into(),
                ));
            }
            Err(e) if e.is_eof() && !pos.content.get() => {
                return if pages == 0 {
                    Err(wrong(
                        start_line,
                        "no Verify Attempts page in the file".into(),
                    ))
                } else {
                    Ok(())
                };
            }
            Err(e) if pages == 0 && attempts == 0 && !e.is_eof() => {
                return Err(wrong(e.line() as u64, e.to_string()));
            }
            Err(e) => {
                let message = if e.is_eof() {
                    "truncated JSON: the file ends inside a page".to_string()
                } else {
                    format!("not JSON: {e}")
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
            let item = attempt(&v).unwrap_or_else(|(field, m)| match field {
                "" => Item::bad(&format!("attempts[{index}]"), m),
                f => Item::bad(&format!("attempts[{index}].{f}"), m),
            });
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

fn attempt(v: &Value) -> Result<Item, Fail> {
    if !v.is_object() {
        return Err(("", "not an object"));
    }
    if let Some(ch) = text(v.get("channel"))
        && !ch.eq_ignore_ascii_case("sms")
    {
        return Ok(Item::Skip("not an SMS attempt"));
    }
    let date = text(v.get("date_created")).ok_or(("date_created", "missing"))?;
    let ts_ms =
        crate::time::parse_ms(&date).ok_or(("date_created", "not an ISO 8601 date-time"))?;
    let data = v
        .get("channel_data")
        .filter(|d| d.is_object())
        .ok_or(("channel_data", "missing"))?;
    let to = text(data.get("to")).ok_or(("channel_data.to", "missing"))?;
    let number = parse_number(&to).ok_or(("channel_data.to", "not an E.164 number"))?;
    let country = match text(data.get("country").or_else(|| data.get("country_code"))) {
        Some(c) => parse_country(&c)
            .map_err(|()| ("channel_data.country", "not an ISO 3166-1 alpha-2 code"))?,
        None => None,
    };
    let converted = match text(v.get("conversion_status")) {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("converted") => Some(true),
        Some(s) if s.eq_ignore_ascii_case("unconverted") => Some(false),
        Some(_) => return Err(("conversion_status", "neither converted nor unconverted")),
    };
    let price_usd = match v.get("price") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => {
            let currency = text(p.get("currency")).unwrap_or_default();
            let value = text(p.get("value")).unwrap_or_default();
            let price = parse_price(&value).map_err(|()| ("price.value", "not a number"))?;
            if currency.is_empty() || currency.eq_ignore_ascii_case("usd") {
                price
            } else {
                None
            }
        }
        Some(p) => parse_price(&text(Some(p)).unwrap_or_default())
            .map_err(|()| ("price", "not a number"))?,
    };
    let segments = parse_segments(&text(data.get("segments")).unwrap_or_default())
        .map_err(|()| ("channel_data.segments", "not a count from 1 to 100"))?;
    // A converted attempt was last updated by its conversion.
    let verified_ms = match (converted, text(v.get("date_updated"))) {
        (Some(true), Some(d)) => {
            Some(crate::time::parse_ms(&d).ok_or(("date_updated", "not an ISO 8601 date-time"))?)
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
        carrier: parse_carrier(data.get("mcc"), data.get("mnc")),
        ..Raw::default()
    }))
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
