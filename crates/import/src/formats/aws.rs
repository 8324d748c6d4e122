//! `--format aws-sms-events`: AWS End User Messaging SMS event records, one JSON object per
//! line (as a Firehose or CloudWatch destination writes them), optionally inside an
//! EventBridge envelope (`detail`). Fields (<https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html>):
//! `eventType` (`TEXT_SUCCESSFUL`, `TEXT_DELIVERED`, ...), `eventTimestamp` and
//! `messageRequestTimestamp` (Unix ms), `isFinal`, `destinationPhoneNumber`, `isoCountryCode`,
//! `mcc`, `mnc`, `messageId`, `totalMessageParts`, `totalMessagePrice`, `totalCarrierFee`.
//!
//! One message has several events (queued, pending, then a final one; AWS says
//! `TEXT_DELIVERED` and `TEXT_SUCCESSFUL` "may be used interchangeably", and both can come).
//! A message is counted once: at its first final event (`isFinal`, or a delivered/successful
//! event when `isFinal` is absent), deduplicated by `messageId` over the last
//! [`DEDUPE_WINDOW`] messages; other events are skipped. The send time is the request time.
//! The price is `totalMessagePrice + totalCarrierFee`. The events carry no conversion.

use super::fastjson::Cursor;
use super::{Input, Item, Raw, Sink, Text, parse_country};
use crate::error::ImportError;
use crate::privacy::parse_number;
use serde::Deserialize;
use std::borrow::Cow;

/// Message ids remembered for deduplication, in two generations of this many each.
pub const DEDUPE_WINDOW: usize = 500_000;

/// Slots of one generation's table: a power of two at least twice [`DEDUPE_WINDOW`], so a
/// table is at most half full and a probe ends after a slot or two.
const SLOTS: usize = (2 * DEDUPE_WINDOW).next_power_of_two();

/// Recent message ids in two generations: a bounded set that forgets the oldest half. An id is
/// kept as its 64-bit hash ([`id_hash`]): two of the 1,000,000 ids remembered
/// share a hash with a probability of about 1,000,000² / 2⁶⁵ ≈ 3·10⁻⁸, and then the later
/// message would be taken for an event of the earlier one. Each generation is a flat table
/// with linear probing (0 marks a free slot), allocated once and cleared when it is recycled:
/// no per-row allocation, no rehashing, one or two cache misses per event.
struct Recent {
    current: Vec<u64>,
    previous: Vec<u64>,
    len: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            current: vec![0; SLOTS],
            previous: vec![0; SLOTS],
            len: 0,
        }
    }
}

/// A message id's 64-bit hash (0 for an empty id), eight bytes at a time, each word folded in
/// by a 128-bit multiply (a byte-at-a-time hash is a chain of 36 dependent multiplies for an
/// AWS message id).
fn id_hash(id: &str) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let fold = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let t = id.trim().as_bytes();
    if t.is_empty() {
        return 0;
    }
    let mut h = t.len() as u64;
    let mut words = t.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = fold(h ^ u64::from_le_bytes(b), K);
    }
    let mut b = [0u8; 8];
    b[..words.remainder().len()].copy_from_slice(words.remainder());
    h = fold(h ^ u64::from_le_bytes(b), K ^ 0x2545_F491_4F6C_DD1D);
    fold(h, K).max(1)
}

/// Whether `table` holds `key`, and the slot where it is or would go.
fn probe(table: &[u64], key: u64) -> (bool, usize) {
    let mask = table.len() - 1;
    // The id hash's bits mixed, so that the slot does not depend on its low bits alone.
    let mut at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
    loop {
        match table[at] {
            0 => return (false, at),
            k if k == key => return (true, at),
            _ => at = (at + 1) & mask,
        }
    }
}

impl Recent {
    /// Whether `id` is new (and remembers it).
    fn insert(&mut self, id: u64) -> bool {
        let key = id.max(1);
        let (known, mut at) = probe(&self.current, key);
        if known || probe(&self.previous, key).0 {
            return false;
        }
        if self.len >= DEDUPE_WINDOW {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.fill(0);
            self.len = 0;
            at = probe(&self.current, key).1;
        }
        self.current[at] = key;
        self.len += 1;
        true
    }
}

pub fn read(input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let mut recent = Recent::default();
    super::json_lines(input, sink, |text| {
        let event = match fast_event(text) {
            Some(e) => e,
            None => serde_json::from_slice::<Event>(text)?,
        };
        let e = event.detail.as_deref().unwrap_or(&event);
        Ok(row(e, &mut recent).unwrap_or_else(|(f, m)| Item::bad(f, m)))
    })
}

/// The fast path ([`super::fastjson`]): the [`Event`] that `serde_json` would build from the
/// line, or `None` to let `serde_json` read it (an envelope, an escaped string in a field that
/// is read, a duplicate field, text that is not UTF-8, an error...).
fn fast_event(text: &[u8]) -> Option<Event<'_>> {
    let mut c = Cursor::new(std::str::from_utf8(text).ok()?);
    let mut e = Event::default();
    let mut seen = 0u32;
    c.object(|c, key| {
        let (bit, slot) = match key {
            "eventType" => (0, &mut e.event_type),
            "isFinal" => (1, &mut e.is_final),
            "destinationPhoneNumber" => (2, &mut e.destination_phone_number),
            "messageRequestTimestamp" => (3, &mut e.message_request_timestamp),
            "eventTimestamp" => (4, &mut e.event_timestamp),
            "messageId" => (5, &mut e.message_id),
            "isoCountryCode" => (6, &mut e.iso_country_code),
            "mcc" => (7, &mut e.mcc),
            "mnc" => (8, &mut e.mnc),
            "totalMessagePrice" => (9, &mut e.total_message_price),
            "totalCarrierFee" => (10, &mut e.total_carrier_fee),
            "totalMessageParts" => (11, &mut e.total_message_parts),
            "messageParts" => (12, &mut e.message_parts),
            "detail" => return None, // an envelope
            _ => return c.skip(1),
        };
        super::fast_field(c, &mut seen, bit, slot)
    })?;
    c.at_end().then_some(e)
}

/// The fields of an event that are read (the others are skipped unbuilt); `detail` is the
/// event inside an EventBridge envelope.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow, default)]
    event_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    is_final: Option<Text<'a>>,
    #[serde(borrow, default)]
    destination_phone_number: Option<Text<'a>>,
    #[serde(borrow, default)]
    message_request_timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    event_timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    message_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    iso_country_code: Option<Text<'a>>,
    #[serde(borrow, default)]
    mcc: Option<Text<'a>>,
    #[serde(borrow, default)]
    mnc: Option<Text<'a>>,
    #[serde(borrow, default)]
    total_message_price: Option<Text<'a>>,
    #[serde(borrow, default)]
    total_carrier_fee: Option<Text<'a>>,
    #[serde(borrow, default)]
    total_message_parts: Option<Text<'a>>,
    #[serde(borrow, default)]
    message_parts: Option<Text<'a>>,
    #[serde(borrow, default)]
    detail: Option<Box<Event<'a>>>,
}

type Fail = (&'static str, &'static str);

fn get<'b>(v: &'b Option<Text<'_>>) -> Option<Cow<'b, str>> {
    v.as_ref().map(Text::text)
}

fn row(v: &Event, recent: &mut Recent) -> Result<Item, Fail> {
    let event = get(&v.event_type).ok_or((
        "eventType",
        "missing: not an AWS End User Messaging SMS event",
    ))?;
    if !event.starts_with("TEXT_") {
        return Ok(Item::Skip("not an SMS event"));
    }
    let is_final = match &v.is_final {
        Some(Text::B(b)) => *b,
        Some(t) => match t.text().as_ref() {
            "true" => true,
            "false" => false,
            _ => return Err(("isFinal", "neither true nor false")),
        },
        None => matches!(event.as_ref(), "TEXT_SUCCESSFUL" | "TEXT_DELIVERED"),
    };
    if !is_final {
        return Ok(Item::Skip("intermediate event (not final)"));
    }
    let to = get(&v.destination_phone_number).ok_or(("destinationPhoneNumber", "missing"))?;
    let number = parse_number(&to).ok_or(("destinationPhoneNumber", "not an E.164 number"))?;
    let ts = (v.message_request_timestamp.as_ref())
        .or(v.event_timestamp.as_ref())
        .ok_or(("eventTimestamp", "missing"))?;
    let ts_ms = ts
        .unix_ms()
        .ok_or(("eventTimestamp", "not Unix milliseconds"))?;
    if let Some(id) = get(&v.message_id)
        && !recent.insert(id_hash(&id))
    {
        return Ok(Item::Skip("a later event of a message already counted"));
    }
    let country = match get(&v.iso_country_code) {
        Some(c) => {
            parse_country(&c).map_err(|()| ("isoCountryCode", "not an ISO 3166-1 alpha-2 code"))?
        }
        None => None,
    };
    let num = |k: &'static str, t: &Option<Text>| -> Result<Option<f64>, Fail> {
        t.as_ref()
            .map_or(Ok(None), Text::price)
            .map_err(|()| (k, "not a number"))
    };
    let price = num("totalMessagePrice", &v.total_message_price)?;
    let fee = num("totalCarrierFee", &v.total_carrier_fee)?;
    let parts = num("totalMessageParts", &v.total_message_parts)?
        .or(num("messageParts", &v.message_parts)?);
    let segments = match parts {
        Some(p) if (1.0..=100.0).contains(&p) && p.fract() == 0.0 => Some(p as u32),
        Some(_) => return Err(("totalMessageParts", "not a count from 1 to 100")),
        None => None,
    };
    let carrier = match (get(&v.mcc), get(&v.mnc)) {
        (Some(mcc), Some(mnc)) => match (mcc.trim().parse::<u16>(), mnc.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) if a < 1000 && b < 1000 => Some((a, b)),
            _ => None,
        },
        _ => None,
    };
    Ok(Item::Send(Raw {
        ts_ms,
        number,
        country,
        price_usd: price.map(|p| p + fee.unwrap_or(0.0)),
        segments,
        carrier,
        ..Raw::default()
    }))
}

/// Writes sends as AWS End User Messaging SMS events, one final `TEXT_SUCCESSFUL` event per
/// message with the fields of AWS's SMS example log (`mcc`/`mnc` left out: the simulator does
/// not model them). The price is all in `totalMessagePrice` (`totalCarrierFee` 0).
pub fn write<'r>(
    w: &mut dyn std::io::Write,
    sends: impl Iterator<Item = &'r crate::emit::Record>,
) -> std::io::Result<()> {
    for (n, r) in sends.enumerate() {
        let event = serde_json::json!({
            "eventType": "TEXT_SUCCESSFUL",
            "eventVersion": "1.0",
            "eventTimestamp": r.ts_ms,
            "isFinal": true,
            "originationPhoneNumber": "+12065550152",
            "destinationPhoneNumber": format!("+{}", r.number),
            "isoCountryCode": r.country(),
            "isInternationalSend": r.country() != "US",
            "messageId": format!("{:08x}-0000-4000-8000-{:012x}", n >> 48, n & 0xffff_ffff_ffff),
            "messageRequestTimestamp": r.ts_ms,
            "messageEncoding": "GSM",
            "messageType": "TRANSACTIONAL",
            "messageStatus": "SUCCESSFUL",
            "messageStatusDescription": "Message has been accepted by phone carrier",
            "totalMessageParts": r.segments.max(1),
            "totalMessagePrice": r.price_usd + 0.0,
            "totalCarrierFee": 0.0,
        });
        serde_json::to_writer(&mut *w, &event)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
