//! The fast path reads every line it takes exactly as `serde_json` does, and leaves the others
//! to it; and the message-id tables deduplicate as the sets they replaced.

use super::{DEDUPE_WINDOW, Event, Recent, fast_event, id_hash};
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

fn project(e: &Event<'_>) -> Vec<String> {
    let mut v: Vec<String> = [
        &e.event_type,
        &e.is_final,
        &e.destination_phone_number,
        &e.message_request_timestamp,
        &e.event_timestamp,
        &e.message_id,
        &e.iso_country_code,
        &e.mcc,
        &e.mnc,
        &e.total_message_price,
        &e.total_carrier_fee,
        &e.total_message_parts,
        &e.message_parts,
    ]
    .into_iter()
    .map(show)
    .collect();
    v.push(
        e.detail
            .as_deref()
            .map(project)
            .unwrap_or_default()
            .join("|"),
    );
    v
}

/// Whether the fast path took the line; panics if it read it differently from serde_json.
fn agree(line: &[u8]) -> bool {
    let slow = serde_json::from_slice::<Event>(line);
    match fast_event(line) {
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
            true
        }
        None => false,
    }
}

const EVENT: &str = r#"{"eventType": "TEXT_SUCCESSFUL", "eventVersion": "1.0", "eventTimestamp": 1686975103470, "isFinal": true, "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156", "isInternationalSend": false, "mcc": "310", "mnc": "800", "messageId": "862a8790-60c0-4430-9b2b-658bdexample", "messageRequestTimestamp": 1686975103170, "messageEncoding": "GSM", "messageType": "PROMOTIONAL", "messageStatus": "SUCCESSFUL", "messageStatusDescription": "Message has been accepted by phone carrier", "context": { "account": "bar" }, "totalMessageParts": 1, "totalMessagePrice": 0.09582, "totalCarrierFee": 0.0 }"#;

#[test]
fn the_fast_path_takes_common_lines_and_reads_them_as_serde_json() {
    assert!(agree(EVENT.as_bytes()));
    for line in [
        r#"{}"#,
        r#"{"eventType":"TEXT_DELIVERED","isFinal":"true","totalMessagePrice":"0.0075","totalCarrierFee":null}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "totalMessagePrice": -0.0, "totalCarrierFee": 12345678901234.5}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "messageRequestTimestamp": 18446744073709551615}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "mcc": 310, "mnc": -1, "totalMessageParts": 1.50}"#,
        r#"{"x": [1, -2.5e-3, {"y": [true, false, null]}, "a\"b\\c\u00e9\n"], "eventType": "TEXT_PENDING"}"#,
        "{\t\"eventType\" :\r\"TEXT_SUCCESSFUL\" , \"messageBody\": \"caf\u{e9} \u{1F600}\" }",
    ] {
        assert!(agree(line.as_bytes()), "{line}");
    }
}

#[test]
fn the_fast_path_leaves_the_rest_to_serde_json() {
    for line in [
        // read differently or refused by serde_json: left to it
        r#"{"eventType": "TEXT_SUCCESSFUL", "eventType": "TEXT_DELIVERED"}"#,
        r#"{"detail": {"eventType": "TEXT_SUCCESSFUL"}}"#,
        r#"{"eventType": "TEXT_\u0053UCCESSFUL"}"#,
        r#"{"event\u0054ype": "TEXT_SUCCESSFUL"}"#,
        r#"{"eventType": {"a": 1}}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "totalMessagePrice": 1e400}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "x": 01}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", "x": "\q"}"#,
        r#"{"eventType": "TEXT_SUCCESSFUL"} x"#,
        r#"{"eventType": "TEXT_SUCCESSFUL", }"#,
        r#"{"eventType": "TEXT_SUCCESSFUL""#,
        r#"["TEXT_SUCCESSFUL"]"#,
        "{\"eventType\": \"TEXT\u{1}SUCCESSFUL\"}",
    ] {
        assert!(!agree(line.as_bytes()), "{line}");
    }
    // Bytes that are not UTF-8, in a skipped value and in a key.
    assert!(!agree(
        b"{\"x\": \"caf\xe9\", \"eventType\": \"TEXT_SUCCESSFUL\"}"
    ));
    assert!(!agree(b"{\"caf\xe9\": 1}"));
}

proptest! {
    /// Any line made by cutting, repeating or replacing a few bytes of a real event: the fast
    /// path never reads it differently from serde_json.
    #[test]
    fn mutated_events_agree(edits in prop::collection::vec((0usize..400, 0usize..4, 0u8..128), 1..4)) {
        let line = mutate(EVENT.as_bytes().to_vec(), &edits, b"\"\\{}[],:e-.0 un");
        agree(&line);
    }
}

/// The tables remember each id of the last DEDUPE_WINDOW to 2 × DEDUPE_WINDOW and forget
/// older ones, as the two generations of hash sets did.
#[test]
fn recent_ids_are_remembered_for_two_generations() {
    let mut recent = Recent::default();
    let id = |n: usize| id_hash(&format!("{n:08x}-0000-4000-8000-{n:012x}"));
    for n in 0..DEDUPE_WINDOW {
        assert!(recent.insert(id(n)));
    }
    assert!(!recent.insert(id(0)) && !recent.insert(id(DEDUPE_WINDOW - 1)));
    for n in DEDUPE_WINDOW..2 * DEDUPE_WINDOW {
        assert!(recent.insert(id(n)));
    }
    // The first generation is still there until the third begins.
    assert!(!recent.insert(id(0)));
    assert!(recent.insert(id(2 * DEDUPE_WINDOW)));
    assert!(recent.insert(id(0)), "the oldest generation is forgotten");
    assert!(!recent.insert(id(DEDUPE_WINDOW)));
    assert_eq!(id_hash("  "), 0);
    assert_ne!(id_hash("a"), id_hash("b"));
    assert_ne!(id_hash("12345678a"), id_hash("12345678b"));
}
