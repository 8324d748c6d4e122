//! `--format csv`: mo2fa's documented generic CSV (docs/import.md). A header row names the
//! columns, in any order and any case: `timestamp` and `phone` are required; `country`, `ip`,
//! `account`, `verified`, `price_usd`, `segments`, `refused` and `verified_at` are optional; other columns are ignored.
//! Quoted fields (with commas, quotes, line breaks), CRLF line ends and a byte-order mark are
//! read as CSV allows (RFC 4180).

use super::{
    Format, Input, Item, Raw, Sink, account_key, parse_bool, parse_country, parse_price,
    parse_segments,
};
use crate::error::ImportError;
use crate::privacy::{Addr, parse_number};
use csv::ByteRecord;

/// Column positions of a header, matched by name (trimmed, case-insensitive).
pub(crate) struct Columns {
    names: Vec<String>,
}

impl Columns {
    pub(crate) fn new(headers: &ByteRecord) -> Self {
        let names = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
            .collect();
        Columns { names }
    }

    /// The first of `names` the header has.
    pub(crate) fn find(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.names.iter().position(|h| h == n))
    }

    /// The header as read, shortened for an error message.
    pub(crate) fn listed(&self) -> String {
        let all = self.names.join(",");
        match all.char_indices().nth(120) {
            Some((i, _)) => format!("{}…", &all[..i]),
            None => all,
        }
    }
}

/// One field of a record as text (`""` when the row is short); `Err` names a non-UTF-8 field.
pub(crate) fn field(rec: &ByteRecord, at: Option<usize>) -> Result<&str, ()> {
    match at.and_then(|i| rec.get(i)) {
        None => Ok(""),
        Some(b) => std::str::from_utf8(b).map_err(|_| ()),
    }
}

/// Reads a CSV file's header, then hands each record to `row` with its line.
pub(crate) fn records<T>(
    input: Input,
    format: Format,
    sink: &mut Sink<'_>,
    header: impl FnOnce(&Columns) -> Result<T, String>,
    row: impl Fn(&T, &ByteRecord) -> Item,
) -> Result<(), ImportError> {
    let name = input.name.clone();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input.reader);
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(ImportError::WrongFormat {
                file: name,
                line: 1,
                format: format.name(),
                message: format!("no CSV header: {e}"),
            });
        }
    };
    let cols = Columns::new(&headers);
    let cols = header(&cols).map_err(|m| ImportError::WrongFormat {
        file: name.clone(),
        line: 1,
        format: format.name(),
        message: m,
    })?;
    let mut rec = ByteRecord::new();
    // The csv crate counts records' lines, not the line breaks inside quoted fields: add those.
    let mut inner_breaks = 0u64;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = rec.position().map_or(0, |p| p.line()) + inner_breaks;
                inner_breaks += rec.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
                sink(line, row(&cols, &rec))?;
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line()) + inner_breaks;
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(ImportError::Io {
                        file: name.into(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                sink(line, Item::bad("row", e.to_string()))?;
            }
        }
    }
}

struct Generic {
    timestamp: usize,
    phone: usize,
    country: Option<usize>,
    ip: Option<usize>,
    account: Option<usize>,
    verified: Option<usize>,
    price: Option<usize>,
    segments: Option<usize>,
    refused: Option<usize>,
    verified_at: Option<usize>,
}

pub fn read(input: Input, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    records(
        input,
        Format::Csv,
        sink,
        |c| {
            let missing: Vec<&str> = ["timestamp", "phone"]
                .into_iter()
                .filter(|n| c.find(&[n]).is_none())
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "the header has no `{}` column (columns: {})",
                    missing.join("`, `"),
                    c.listed()
                ));
            }
            Ok(Generic {
                timestamp: c.find(&["timestamp"]).unwrap_or(0),
                phone: c.find(&["phone"]).unwrap_or(0),
                country: c.find(&["country"]),
                ip: c.find(&["ip"]),
                account: c.find(&["account"]),
                verified: c.find(&["verified"]),
                price: c.find(&["price_usd"]),
                segments: c.find(&["segments"]),
                refused: c.find(&["refused"]),
                verified_at: c.find(&["verified_at"]),
            })
        },
        row,
    )
}

fn row(c: &Generic, rec: &ByteRecord) -> Item {
    match parse_row(c, rec) {
        Ok(raw) => Item::Send(raw),
        Err((field, message)) => Item::bad(field, message),
    }
}

type Fail = (&'static str, &'static str);

fn parse_row(c: &Generic, rec: &ByteRecord) -> Result<Raw, Fail> {
    const UTF8: &str = "not UTF-8 text";
    let get = |name: &'static str, at: Option<usize>| field(rec, at).map_err(|()| (name, UTF8));
    let ts = get("timestamp", Some(c.timestamp))?;
    let ts_ms = crate::time::parse_ms(ts).ok_or((
        "timestamp",
        "not a timestamp (ISO 8601, RFC 2822 or Unix time)",
    ))?;
    let phone = get("phone", Some(c.phone))?;
    let number =
        parse_number(phone).ok_or(("phone", "not an E.164 number (+ and 7 to 15 digits)"))?;
    let country = parse_country(get("country", c.country)?)
        .map_err(|()| ("country", "not an ISO 3166-1 alpha-2 code"))?;
    let ip_text = get("ip", c.ip)?;
    let ip = if ip_text.trim().is_empty() {
        None
    } else {
        Some(Addr::parse(ip_text).ok_or(("ip", "not an IPv4 or IPv6 address"))?)
    };
    let account = account_key(get("account", c.account)?);
    let converted =
        parse_bool(get("verified", c.verified)?).map_err(|()| ("verified", "not true/false"))?;
    let price_usd =
        parse_price(get("price_usd", c.price)?).map_err(|()| ("price_usd", "not a number"))?;
    let segments = parse_segments(get("segments", c.segments)?)
        .map_err(|()| ("segments", "not a count from 1 to 100"))?;
    let refused = parse_bool(get("refused", c.refused)?)
        .map_err(|()| ("refused", "not true/false"))?
        .unwrap_or(false);
    let at = get("verified_at", c.verified_at)?;
    let verified_ms = if at.trim().is_empty() {
        None
    } else {
        Some(crate::time::parse_ms(at).ok_or(("verified_at", "not a timestamp"))?)
    };
    Ok(Raw {
        ts_ms,
        number,
        country,
        ip,
        account,
        converted,
        conversion_inferred: false,
        price_usd,
        segments,
        carrier: None,
        refused,
        verified_ms,
    })
}

/// The columns [`write`] writes, each one [`read`] takes.
pub const HEADER: [&str; 10] = [
    "timestamp",
    "phone",
    "country",
    "ip",
    "account",
    "verified",
    "verified_at",
    "price_usd",
    "segments",
    "refused",
];

/// Writes attempts as the generic CSV ([`HEADER`]; times in RFC 3339 with milliseconds; the
/// account as its number, empty for none; refused attempts with `refused = true` and no
/// price).
pub fn write<'r>(
    w: &mut dyn std::io::Write,
    rows: impl Iterator<Item = &'r crate::emit::Record>,
) -> std::io::Result<()> {
    use mo2fa_core::timefmt::rfc3339_ms;
    let mut out = csv::Writer::from_writer(w);
    out.write_record(HEADER)?;
    for r in rows {
        let ip =
            r.ip.map(|ip| std::net::Ipv4Addr::from(ip).to_string())
                .unwrap_or_default();
        let account = if r.account == 0 {
            String::new()
        } else {
            r.account.to_string()
        };
        let verified = r.verified.map(|v| v.to_string()).unwrap_or_default();
        let at = r.verified_ms.map(rfc3339_ms).unwrap_or_default();
        out.write_record([
            rfc3339_ms(r.ts_ms).as_str(),
            &format!("+{}", r.number),
            r.country(),
            &ip,
            &account,
            &verified,
            &at,
            &crate::emit::price(r.price_usd),
            &r.segments.max(1).to_string(),
            if r.refused { "true" } else { "false" },
        ])?;
    }
    out.flush()
}
