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

use super::{Input, Item, Raw, Sink, parse_carrier, parse_country, text};
use crate::error::ImportError;
use crate::privacy::parse_number;
use rustc_hash::FxHashSet;
use serde_json::Value;

/// Message ids remembered for deduplication, in two generations of this many each.
pub const DEDUPE_WINDOW: usize = 500_000;

/// Recent message ids in two generations: a bounded set that forgets the oldest half.
#[derive(Default)]
struct Recent {
    current: FxHashSet<u64>,
    previous: FxHashSet<u64>,
}

impl Recent {
    /// Whether `id` is new (and remembers it).
    fn insert(&mut self, id: u64) -> bool {
        if self.current.contains(&id) || self.previous.contains(&id) {
            return false;
        }
        if self.current.len() >= DEDUPE_WINDOW {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(id);
        true
    }
}

pub fn read(input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let mut recent = Recent::default();
    super::json_lines(input, sink, |v| {
        let v = v.get("detail").filter(|d| d.is_object()).unwrap_or(v);
        row(v, &mut recent).unwrap_or_else(|(f, m)| Item::bad(f, m))
    })
}

type Fail = (&'static str, &'static str);

fn row(v: &Value, recent: &mut Recent) -> Result<Item, Fail> {
    let event = v.get("eventType").and_then(Value::as_str).ok_or((
        "eventType",
        "missing: not an AWS End User Messaging SMS event",
    ))?;
    if !event.starts_with("TEXT_") {
        return Ok(Item::Skip("not an SMS event"));
    }
    let is_final = match v.get("isFinal").and_then(Value::as_bool) {
        Some(f) => f,
        None => matches!(event, "TEXT_SUCCESSFUL" | "TEXT_DELIVERED"),
    };
    if !is_final {
        return Ok(Item::Skip("intermediate event (not final)"));
    }
    let to = text(v.get("destinationPhoneNumber")).ok_or(("destinationPhoneNumber", "missing"))?;
    let number = parse_number(&to).ok_or(("destinationPhoneNumber", "not an E.164 number"))?;
    let ts = v
        .get("messageRequestTimestamp")
        .or_else(|| v.get("eventTimestamp"))
        .ok_or(("eventTimestamp", "missing"))?;
    let ts_ms = match ts {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => crate::time::parse_ms(s),
        _ => None,
    }
    .ok_or(("eventTimestamp", "not Unix milliseconds"))?;
    if let Some(id) = text(v.get("messageId"))
        && !recent.insert(super::account_key(&id))
    {
        return Ok(Item::Skip("a later event of a message already counted"));
    }
    let country = match text(v.get("isoCountryCode")) {
        Some(c) => {
            parse_country(&c).map_err(|()| ("isoCountryCode", "not an ISO 3166-1 alpha-2 code"))?
        }
        None => None,
    };
    let num = |k: &'static str| -> Result<Option<f64>, Fail> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().filter(|x| x.is_finite() && *x >= 0.0)),
            Some(Value::String(s)) => super::parse_price(s).map_err(|()| (k, "not a number")),
            Some(_) => Err((k, "not a number")),
        }
    };
    let price = num("totalMessagePrice")?;
    let fee = num("totalCarrierFee")?;
    let parts = num("totalMessageParts")?.or(num("messageParts")?);
    let segments = match parts {
        Some(p) if (1.0..=100.0).contains(&p) && p.fract() == 0.0 => Some(p as u32),
        Some(_) => return Err(("totalMessageParts", "not a count from 1 to 100")),
        None => None,
    };
    Ok(Item::Send(Raw {
        ts_ms,
        number,
        country,
        price_usd: price.map(|p| p + fee.unwrap_or(0.0)),
        segments,
        carrier: parse_carrier(v.get("mcc"), v.get("mnc")),
        ..Raw::default()
    }))
}
