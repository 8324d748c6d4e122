//! The page buffer and the fast path give the same items, lines and errors as the streaming
//! `serde_json` reader alone, whatever the page holds.

use super::{Count, read, slow};
use crate::formats::fastjson::mutate;
use crate::formats::{Item, Sink};
use crate::source::Input;
use proptest::prelude::*;

type Seen = (Vec<(u64, Item)>, Option<String>);

fn run(text: &[u8], fast: bool) -> Seen {
    run_in(text, fast, usize::MAX)
}

/// `read` through reads of at most `chunk` bytes (characters cut between reads).
fn run_in(text: &[u8], fast: bool, chunk: usize) -> Seen {
    let mut items = Vec::new();
    let mut sink = |line: u64, item: Item| {
        items.push((line, item));
        Ok(())
    };
    let sink: &mut Sink<'_> = &mut sink;
    let result = if fast {
        let input = Input {
            name: "t.json".into(),
            reader: Box::new(std::io::BufReader::with_capacity(
                chunk.min(text.len().max(1)),
                std::io::Cursor::new(text.to_vec()),
            )),
        };
        read(input, sink)
    } else {
        slow("t.json", text, (1, 0), Count::default(), sink)
    };
    (items, result.err().map(|e| e.to_string()))
}

fn agree(text: &[u8]) {
    assert_eq!(
        run(text, true),
        run(text, false),
        "{}",
        String::from_utf8_lossy(text)
    );
}

const ATTEMPT: &str = r#"{
      "sid": "VL00000000000000000000000000000001",
      "date_created": "2026-11-02T10:00:00Z",
      "date_updated": "2026-11-02T10:03:00Z",
      "conversion_status": "converted",
      "channel": "sms",
      "price": {"value": "0.0500", "currency": "usd"},
      "channel_data": {"to": "+14155550101", "mcc": "310", "mnc": 260, "segments": 1},
      "url": "https://verify.twilio.com/v2/Attempts/VL00000000000000000000000000000001"
    }"#;

fn page(attempts: &[&str]) -> String {
    format!(
        "{{\n  \"attempts\": [\n    {}\n  ],\n  \"meta\": {{\"page\": 0, \"key\": \"attempts\"}}\n}}\n",
        attempts.join(",\n    ")
    )
}

#[test]
fn pages_read_the_same_on_both_paths() {
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/import/twilio_verify_attempts.json"),
    )
    .unwrap();
    agree(&fixture);
    let mut two = fixture.clone();
    two.extend_from_slice(&fixture);
    agree(&two);
    agree(&fixture[..fixture.len() / 2]);
    let other = [
        r#"{"channel": "call", "date_created": "2026-11-02T10:00:00Z"}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123", "country": null, "country_code": "GB"}, "price": null}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123", "country_code": "gb"}, "price": "-0.04"}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+4477"}, "conversion_status": "maybe"}"#,
        r#"{"date_created": "yesterday", "channel_data": {"to": "+447700900123"}}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123"}, "channel_data": {"to": "+14155550101"}}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123", "segments": 1.0}}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123"}, "x": 1e999}"#,
        r#"{"date_created": "2026-11-02T10:00:00Z", "channel_data": {"to": "+447700900123"}, "x": "a\u00e9"}"#,
        r#""not an object""#,
    ];
    for a in other {
        agree(page(&[ATTEMPT, a, ATTEMPT]).as_bytes());
    }
    agree(page(&[ATTEMPT; 3]).as_bytes());
    agree(format!("{}{}", page(&[ATTEMPT]), page(&[other[1]])).as_bytes());
    for text in [
        "",
        "  \n",
        "{}",
        "{\"meta\": {}}",
        "[1]",
        "timestamp,phone\n",
        "{\"attempts\": []}",
    ] {
        agree(text.as_bytes());
    }
    agree(b"{\"attempts\": [{\"sid\": \"caf\xe9\"}]}");
    // An error in a later page: its message gives the line and column in the file.
    for bad in [
        "{\"attempts\": [{\"a\": tru}]}",
        " x",
        "\n\n  {\"attempts\": [\n{\"a\": 1,}]}",
    ] {
        let text = format!("{}{bad}", page(&[ATTEMPT]).trim_end());
        let (items, _) = run(text.as_bytes(), true);
        assert!(
            matches!(items.last(), Some((_, Item::Bad { .. }))),
            "{text}"
        );
        agree(text.as_bytes());
    }
}

#[test]
fn characters_cut_between_reads_are_put_back_together() {
    let other = "{\"date_created\": \"2026-11-02T10:00:00Z\", \"channel_data\": {\"to\": \"+447700900123\"}, \"x\": \"caf\u{e9} \u{1F600}\"}";
    let text = page(&[ATTEMPT, other, ATTEMPT]);
    for chunk in [1, 2, 3, 5, 7, 64] {
        assert_eq!(
            run_in(text.as_bytes(), true, chunk),
            run(text.as_bytes(), false),
            "{chunk}"
        );
    }
    let mut bad = text.into_bytes();
    let at = bad.len() / 2;
    bad.insert(at, 0xFF);
    for chunk in [1, 3, 64] {
        assert_eq!(run_in(&bad, true, chunk), run(&bad, false), "{chunk}");
    }
}

#[test]
fn a_page_longer_than_the_limit_is_refused_naming_the_file() {
    let mut text = b"{\"attempts\": [".to_vec();
    text.resize(super::MAX_PAGE_BYTES + 10, b' ');
    let (items, err) = run(&text, true);
    let err = err.unwrap();
    assert!(items.is_empty());
    assert!(
        err.starts_with("t.json:1: ") && err.contains("a page longer than"),
        "{err}"
    );
}

proptest! {
    /// Pages with a few bytes cut, repeated or replaced read the same on both paths.
    #[test]
    fn mutated_pages_agree(edits in prop::collection::vec((0usize..2000, 0usize..4, 0u8..128), 1..4)) {
        let text = mutate(page(&[ATTEMPT, ATTEMPT]).into_bytes(), &edits, b"\"\\{}[],:e-\n0 n");
        agree(&text);
    }
}
