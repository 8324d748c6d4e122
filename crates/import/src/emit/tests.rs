//! Each writer against its own reader: whatever a format writes, the reader of that format
//! reads back as the same send (to the precision the format keeps), and what the format cannot
//! carry is absent rather than made up.

use super::{LogFormat, Record};
use crate::formats::{Item, Raw};
use proptest::prelude::*;

fn read_back(f: LogFormat, records: &[Record]) -> Vec<Raw> {
    let mut bytes = Vec::new();
    f.write(&mut bytes, records).unwrap();
    let input = crate::source::Input {
        name: f.file_name("t"),
        reader: Box::new(std::io::Cursor::new(bytes)),
    };
    let mut got = Vec::new();
    f.import_format()
        .read(input, &mut |line, item| {
            match item {
                Item::Send(r) => got.push(r),
                other => panic!("{}: line {line}: {other:?}", f.name()),
            }
            Ok(())
        })
        .unwrap();
    got
}

fn record() -> impl Strategy<Value = Record> {
    (
        1_700_000_000_000u64..1_900_000_000_000,
        1_000_000_000u64..999_999_999_999_999,
        prop::sample::select(vec![*b"US", *b"GB", *b"MA", *b"AZ"]),
        any::<u32>(),
        0u64..5,
        prop::option::of(0u64..600_000),
        0.0001f64..2.0,
        1u32..5,
        any::<bool>(),
    )
        .prop_map(
            |(ts_ms, number, country, ip, account, used, price, segments, refused)| Record {
                ts_ms,
                number,
                country,
                ip: Some(ip),
                account,
                verified: Some(used.is_some() && !refused),
                verified_ms: used.filter(|_| !refused).map(|d| ts_ms + d),
                price_usd: if refused { 0.0 } else { price },
                segments,
                refused,
            },
        )
}

proptest! {
    #[test]
    fn every_format_reads_back_what_it_wrote(records in prop::collection::vec(record(), 1..40)) {
        for f in LogFormat::ALL {
            let kept: Vec<&Record> = records
                .iter()
                .filter(|r| f.carries_refused() || !r.refused)
                .collect();
            if kept.is_empty() {
                continue; // an empty log (`import` refuses it as empty)
            }
            let got = read_back(f, &records);
            prop_assert_eq!(got.len(), kept.len(), "{}", f.name());
            let whole_seconds = matches!(
                f,
                LogFormat::TwilioVerifyAttempts | LogFormat::TwilioMessaging | LogFormat::TwilioBulkExport
            );
            for (r, g) in kept.iter().zip(&got) {
                let ts = if whole_seconds { r.ts_ms / 1000 * 1000 } else { r.ts_ms };
                prop_assert_eq!(g.ts_ms, ts, "{}", f.name());
                prop_assert_eq!(g.number, r.number);
                let price = g.price_usd.unwrap();
                if f == LogFormat::AwsSmsEvents {
                    // A JSON number: serde_json reads it back to within an ulp or so.
                    prop_assert!((price - r.price_usd).abs() <= r.price_usd * 1e-15, "{}", f.name());
                } else {
                    prop_assert_eq!(price, r.price_usd, "{}: exact price", f.name());
                }
                prop_assert_eq!(g.segments, Some(r.segments));
                prop_assert_eq!(g.refused, r.refused);
                if f != LogFormat::TwilioMessaging && f != LogFormat::TwilioBulkExport {
                    prop_assert_eq!(g.country, Some(r.country));
                }
                if f.carries_client() {
                    prop_assert_eq!(g.ip.map(|a| a.bits), r.ip.map(u128::from));
                    prop_assert_eq!(g.account == 0, r.account == 0);
                } else {
                    prop_assert!(g.ip.is_none() && g.account == 0, "{}: no client", f.name());
                }
                if f.carries_verified() {
                    prop_assert_eq!(g.converted, r.verified);
                    let at = r.verified_ms.map(|t| if whole_seconds { t / 1000 * 1000 } else { t });
                    prop_assert_eq!(g.verified_ms, at.filter(|_| r.verified == Some(true)));
                } else {
                    prop_assert!(g.converted.is_none() && g.verified_ms.is_none());
                }
            }
        }
    }
}

#[test]
fn file_names_are_distinct_and_formats_parse_by_name() {
    let names: std::collections::BTreeSet<String> = LogFormat::ALL
        .iter()
        .map(|f| f.file_name("traffic"))
        .collect();
    assert_eq!(names.len(), LogFormat::ALL.len());
    for f in LogFormat::ALL {
        assert_eq!(LogFormat::parse(f.name()), Some(f));
    }
    assert_eq!(LogFormat::parse("twilio"), None);
    assert_eq!(LogFormat::Csv.file_name("traffic"), "traffic.csv");
    assert_eq!(
        LogFormat::TwilioVerifyAttempts.file_name("traffic"),
        "traffic.json"
    );
    assert_eq!(
        LogFormat::AwsSmsEvents.file_name("traffic"),
        "traffic.jsonl"
    );
}

#[test]
fn verify_pages_hold_at_most_a_thousand_attempts() {
    let r = Record {
        ts_ms: 1_767_225_600_000,
        number: 14_155_550_101,
        country: *b"US",
        ip: None,
        account: 0,
        verified: Some(false),
        verified_ms: None,
        price_usd: 0.0083,
        segments: 1,
        refused: false,
    };
    let records = vec![r; 2_500];
    let mut bytes = Vec::new();
    LogFormat::TwilioVerifyAttempts
        .write(&mut bytes, &records)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches("{\"attempts\": [").count(), 3);
    assert_eq!(text.matches("\"next_page_url\":null").count(), 1);
    assert_eq!(
        read_back(LogFormat::TwilioVerifyAttempts, &records).len(),
        2_500
    );
}

/// Twilio's Day resource page: BulkExport records are the Message resource's, with timestamps
/// in UTC ISO 8601 and without `price_units`, `api_version`, `error_message`, `uri` and
/// `subresource_uris` (<https://www.twilio.com/docs/usage/bulkexport/day>).
#[test]
fn bulkexport_lines_are_as_the_day_resource_describes_them() {
    let r = Record {
        ts_ms: 1_767_225_600_000,
        number: 14_155_550_101,
        country: *b"US",
        ip: None,
        account: 0,
        verified: None,
        verified_ms: None,
        price_usd: 0.0083,
        segments: 2,
        refused: false,
    };
    let mut bytes = Vec::new();
    LogFormat::TwilioBulkExport.write(&mut bytes, &[r]).unwrap();
    let line: serde_json::Value = serde_json::from_slice(bytes.trim_ascii()).unwrap();
    for date in ["date_created", "date_sent", "date_updated"] {
        assert_eq!(line[date], "2026-01-01T00:00:00Z", "{date}");
    }
    for absent in [
        "price_unit",
        "price_units",
        "api_version",
        "error_message",
        "uri",
        "subresource_uris",
    ] {
        assert!(line.get(absent).is_none(), "{absent} in {line}");
    }
    assert_eq!(
        (&line["price"], &line["num_segments"]),
        (&"-0.0083".into(), &"2".into())
    );
    assert!(line.get("error_code").is_some(), "error_code stays");
}
