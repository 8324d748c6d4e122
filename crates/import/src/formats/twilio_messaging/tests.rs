//! The BulkExport fast path reads every line it takes exactly as `serde_json` does, and leaves
//! the others to it.

use super::{Bulk, bulk_row, fast_bulk};
use crate::formats::Text;
use crate::formats::fastjson::mutate;
use proptest::prelude::*;

fn show(t: &Option<Text<'_>>) -> String {
    match t {
        None => "-".into(),
        Some(Text::S(s)) => format!("S{s}"),
        Some(Text::N(n)) => format!("N{n:?}"),
        Some(Text::B(b)) => format!("B{b}"),
    }
}

fn project(b: &Bulk<'_>) -> Vec<String> {
    [
        &b.to,
        &b.date_sent,
        &b.date_created,
        &b.num_segments,
        &b.price,
        &b.price_unit,
        &b.status,
        &b.direction,
    ]
    .into_iter()
    .map(show)
    .collect()
}

/// Whether the fast path took the line; panics if it read it differently from serde_json.
fn agree(line: &[u8]) -> bool {
    let slow = serde_json::from_slice::<Bulk>(line);
    match fast_bulk(line) {
        Some(fast) => {
            let slow = slow.unwrap_or_else(|e| {
                panic!(
                    "fast path took {:?}, serde_json: {e}",
                    String::from_utf8_lossy(line)
                )
            });
            assert_eq!(
                project(&fast),
                project(&slow),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(bulk_row(&fast), bulk_row(&slow));
            true
        }
        None => false,
    }
}

const MESSAGE: &str = r#"{"sid": "SM00000000000000000000000000000000", "account_sid": "AC00000000000000000000000000000001", "messaging_service_sid": null, "from": "+15005550006", "to": "+14155550000", "body": "Your code is 000000", "status": "delivered", "direction": "outbound-api", "num_segments": "1", "num_media": "0", "price": "-0.00830", "error_code": null, "date_created": "2026-11-02T00:00:00Z", "date_sent": "2026-11-02T00:00:00Z", "date_updated": "2026-11-02T00:00:00Z"}"#;

#[test]
fn the_fast_path_takes_common_lines_and_reads_them_as_serde_json() {
    assert!(agree(MESSAGE.as_bytes()));
    for line in [
        r#"{}"#,
        r#"{"to": "+4477000001", "num_segments": 2, "price": -0.0075, "price_unit": "EUR"}"#,
        r#"{"to": "+4477000001", "status": "FAILED", "direction": "Inbound", "price": null}"#,
        r#"{"x": [1, -2.5e-3, {"y": [true, false, null]}, "a\"b\\c\u00e9\n"], "to": "+1"}"#,
        "{\t\"to\" :\r\"+14155550000\" , \"body\": \"caf\u{e9} \u{1F600}\" }",
    ] {
        assert!(agree(line.as_bytes()), "{line}");
    }
}

#[test]
fn the_fast_path_leaves_the_rest_to_serde_json() {
    for line in [
        r#"{"to": "+14155550000", "to": "+14155550001"}"#,
        r#"{"to": "+1415555\u0030000"}"#,
        r#"{"t\u006f": "+14155550000"}"#,
        r#"{"to": {"a": 1}}"#,
        r#"{"to": "+14155550000", "price": 1e400}"#,
        r#"{"to": "+14155550000", "x": 01}"#,
        r#"{"to": "+14155550000"} x"#,
        r#"{"to": "+14155550000", }"#,
        r#"{"to": "+14155550000""#,
        r#"["+14155550000"]"#,
    ] {
        assert!(!agree(line.as_bytes()), "{line}");
    }
    assert!(!agree(b"{\"body\": \"caf\xe9\", \"to\": \"+14155550000\"}"));
}

proptest! {
    /// Any line made by cutting, repeating or replacing a few bytes of a real record: the fast
    /// path never reads it differently from serde_json.
    #[test]
    fn mutated_records_agree(edits in prop::collection::vec((0usize..400, 0usize..4, 0u8..128), 1..4)) {
        let line = mutate(MESSAGE.as_bytes().to_vec(), &edits, b"\"\\{}[],:e-.0 un");
        agree(&line);
    }
}
