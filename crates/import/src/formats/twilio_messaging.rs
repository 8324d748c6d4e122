//! `--format twilio-messaging`: Twilio Programmable Messaging logs, in either of two forms,
//! told apart by the first byte:
//! - the console's Messaging Logs CSV export. Twilio does not document its header; public
//!   copies show `From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,AccountSid,
//!   Sid,Direction,Price,PriceUnit`, so columns are matched by name, in any order and case;
//! - BulkExport day files: JSON lines (gzip or plain), "similar to the Message resource"
//!   (<https://www.twilio.com/docs/usage/bulkexport/day>): `to`, `date_sent`/`date_created`
//!   (ISO 8601 there; the Message resource's RFC 2822 is read too), `num_segments`, `price`
//!   (negative, a string), `status`, `direction`. Twilio says `price_units` is absent from
//!   these files: a price without a unit is read as USD (assumed; a `price_unit` other than
//!   USD, where a file has one, makes the price inferred).
//!
//! Inbound messages are skipped. Twilio's `status` is delivery, not conversion: a message that
//! `failed` or was `undelivered` cannot have been converted, so it is read as unconverted
//! (marked inferred); any other status leaves conversion unknown.

use super::fastjson::Cursor;
use super::generic::{Columns, field, records};
use super::{Format, Input, Item, Raw, Sink, Text, parse_price, parse_segments};
use crate::error::ImportError;
use crate::privacy::parse_number;
use csv::ByteRecord;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;

pub fn read(mut input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let head = input.reader.fill_buf().map_err(|source| ImportError::Io {
        file: input.name.clone().into(),
        source,
    })?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'{') {
        super::json_lines(input, sink, |text| match fast_bulk(text) {
            Some(b) => Ok(bulk_row(&b)),
            None => serde_json::from_slice::<Bulk>(text).map(|b| bulk_row(&b)),
        })
    } else {
        read_csv(input, sink)
    }
}

struct Cols {
    to: usize,
    date: usize,
    status: Option<usize>,
    segments: Option<usize>,
    direction: Option<usize>,
    price: Option<usize>,
    unit: Option<usize>,
}

fn read_csv(input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    records(
        input,
        Format::TwilioMessaging,
        sink,
        |c: &Columns| {
            let to = c.find(&["to"]);
            let date = c.find(&[
                "sentdate",
                "datesent",
                "date_sent",
                "datecreated",
                "date_created",
            ]);
            let (Some(to), Some(date)) = (to, date) else {
                return Err(format!(
                    "the header needs `To` and `SentDate` columns (columns: {})",
                    c.listed()
                ));
            };
            Ok(Cols {
                to,
                date,
                status: c.find(&["status"]),
                segments: c.find(&["numsegments", "num_segments"]),
                direction: c.find(&["direction"]),
                price: c.find(&["price"]),
                unit: c.find(&["priceunit", "price_unit"]),
            })
        },
        |c, rec| csv_row(c, rec).unwrap_or_else(|(f, m)| Item::bad(f, m)),
    )
}

type Fail = (&'static str, &'static str);

fn csv_row(c: &Cols, rec: &ByteRecord) -> Result<Item, Fail> {
    let get = |name: &'static str, at: Option<usize>| {
        field(rec, at).map_err(|()| (name, "not UTF-8 text"))
    };
    let fields = Fields {
        to: get("To", Some(c.to))?,
        date: get("SentDate", Some(c.date))?,
        status: get("Status", c.status)?,
        segments: get("NumSegments", c.segments)?,
        direction: get("Direction", c.direction)?,
        price: get("Price", c.price)?,
        unit: get("PriceUnit", c.unit)?,
    };
    fields.item(["To", "SentDate", "NumSegments", "Price"])
}

/// The fields of a BulkExport message record that are read; the others are skipped unbuilt.
#[derive(Deserialize, Default)]
struct Bulk<'a> {
    #[serde(borrow, default)]
    to: Option<Text<'a>>,
    #[serde(borrow, default)]
    date_sent: Option<Text<'a>>,
    #[serde(borrow, default)]
    date_created: Option<Text<'a>>,
    #[serde(borrow, default)]
    num_segments: Option<Text<'a>>,
    #[serde(borrow, default)]
    price: Option<Text<'a>>,
    #[serde(borrow, default)]
    price_unit: Option<Text<'a>>,
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
    #[serde(borrow, default)]
    direction: Option<Text<'a>>,
}

/// The fast path ([`super::fastjson`]): the [`Bulk`] record that `serde_json` would build from
/// the line, or `None` to let `serde_json` read it (an escaped string in a field that is read,
/// a duplicate field, text that is not UTF-8, an error...).
fn fast_bulk(text: &[u8]) -> Option<Bulk<'_>> {
    let mut c = Cursor::new(std::str::from_utf8(text).ok()?);
    let mut b = Bulk::default();
    let mut seen = 0u32;
    c.object(|c, key| {
        let (bit, slot) = match key {
            "to" => (0, &mut b.to),
            "date_sent" => (1, &mut b.date_sent),
            "date_created" => (2, &mut b.date_created),
            "num_segments" => (3, &mut b.num_segments),
            "price" => (4, &mut b.price),
            "price_unit" => (5, &mut b.price_unit),
            "status" => (6, &mut b.status),
            "direction" => (7, &mut b.direction),
            _ => return c.skip(1),
        };
        super::fast_field(c, &mut seen, bit, slot)
    })?;
    c.at_end().then_some(b)
}

fn bulk_row(b: &Bulk) -> Item {
    fn s<'b>(v: &'b Option<Text<'_>>) -> Cow<'b, str> {
        v.as_ref().map(Text::text).unwrap_or_default()
    }
    let date = match s(&b.date_sent) {
        d if d.trim().is_empty() => s(&b.date_created),
        d => d,
    };
    let (to, status, segments, direction, price, unit) = (
        s(&b.to),
        s(&b.status),
        s(&b.num_segments),
        s(&b.direction),
        s(&b.price),
        s(&b.price_unit),
    );
    let fields = Fields {
        to: &to,
        date: &date,
        status: &status,
        segments: &segments,
        direction: &direction,
        price: &price,
        unit: &unit,
    };
    fields
        .item(["to", "date_sent", "num_segments", "price"])
        .unwrap_or_else(|(f, m)| Item::bad(f, m))
}

/// The fields both forms share, as text.
struct Fields<'a> {
    to: &'a str,
    date: &'a str,
    status: &'a str,
    segments: &'a str,
    direction: &'a str,
    price: &'a str,
    unit: &'a str,
}

impl Fields<'_> {
    /// `names`: how this form spells to, date, segments and price (for messages).
    fn item(&self, names: [&'static str; 4]) -> Result<Item, Fail> {
        let direction = self.direction.trim().as_bytes();
        if direction
            .get(..7)
            .is_some_and(|d| d.eq_ignore_ascii_case(b"inbound"))
        {
            return Ok(Item::Skip("inbound message"));
        }
        let number = parse_number(self.to).ok_or((names[0], "not an E.164 number"))?;
        let ts_ms = crate::time::parse_ms(self.date).ok_or((names[1], "not a timestamp"))?;
        let segments =
            parse_segments(self.segments).map_err(|()| (names[2], "not a count from 1 to 100"))?;
        let mut price_usd = parse_price(self.price).map_err(|()| (names[3], "not a number"))?;
        let unit = self.unit.trim();
        if price_usd.is_some() && !unit.is_empty() && !unit.eq_ignore_ascii_case("usd") {
            // Priced in another currency: the dated USD table prices it instead (inferred).
            price_usd = None;
        }
        let status = self.status.trim();
        let failed = ["failed", "undelivered", "canceled"]
            .iter()
            .any(|s| status.eq_ignore_ascii_case(s));
        Ok(Item::Send(Raw {
            ts_ms,
            number,
            converted: failed.then_some(false),
            conversion_inferred: failed,
            price_usd,
            segments,
            ..Raw::default()
        }))
    }
}

/// The console export's header, in the order public copies show it ([`read`] matches by
/// name).
pub const CSV_HEADER: [&str; 13] = [
    "From",
    "To",
    "Body",
    "Status",
    "SentDate",
    "ApiVersion",
    "NumSegments",
    "ErrorCode",
    "AccountSid",
    "Sid",
    "Direction",
    "Price",
    "PriceUnit",
];

/// The sender written in every message: Twilio's documented test number.
const FROM: &str = "+15005550006";
/// The body written instead of a code (no code is ever logged).
const BODY: &str = "Your verification code (simulated)";

/// Writes sends as the console's Messaging Logs CSV ([`CSV_HEADER`]; `SentDate` as
/// `YYYY-MM-DD HH:MM:SS` UTC, prices negative as Twilio writes them).
pub fn write_csv<'r>(
    w: &mut dyn std::io::Write,
    sends: impl Iterator<Item = &'r crate::emit::Record>,
) -> std::io::Result<()> {
    use crate::emit::{iso_seconds, price, sid};
    let mut out = csv::Writer::from_writer(w);
    out.write_record(CSV_HEADER)?;
    for (n, r) in sends.enumerate() {
        let date = iso_seconds(r.ts_ms).replace('T', " ").replace('Z', "");
        out.write_record([
            FROM,
            &format!("+{}", r.number),
            BODY,
            "delivered",
            &date,
            "2010-04-01",
            &r.segments.max(1).to_string(),
            "",
            &sid("AC", 1),
            &sid("SM", n as u64 + 1),
            "outbound-api",
            &price(-r.price_usd),
            "USD",
        ])?;
    }
    out.flush()
}

/// Writes sends as a BulkExport day file: JSON lines with the Message resource's fields, as
/// Twilio's Day resource page says they differ from it: timestamps in UTC ISO 8601, and no
/// `price_unit`, `api_version`, `error_message`, `uri` or `subresource_uris`
/// (<https://www.twilio.com/docs/usage/bulkexport/day>).
pub fn write_bulk<'r>(
    w: &mut dyn std::io::Write,
    sends: impl Iterator<Item = &'r crate::emit::Record>,
) -> std::io::Result<()> {
    use crate::emit::{iso_seconds, price, sid};
    for (n, r) in sends.enumerate() {
        let date = iso_seconds(r.ts_ms);
        let line = serde_json::json!({
            "sid": sid("SM", n as u64 + 1),
            "account_sid": sid("AC", 1),
            "messaging_service_sid": null,
            "from": FROM,
            "to": format!("+{}", r.number),
            "body": BODY,
            "status": "delivered",
            "direction": "outbound-api",
            "num_segments": r.segments.max(1).to_string(),
            "num_media": "0",
            "price": price(-r.price_usd),
            "error_code": null,
            "date_created": date,
            "date_sent": date,
            "date_updated": date,
        });
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
